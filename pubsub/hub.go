// Package pubsub is foldb's Pub/Sub: channels and patterns that
// connections subscribe to, client PUBLISH, and the feed that publishes
// every durable event on its stream's channel and every entity change on
// __entity__:<type>:<id>.
//
// The hub never blocks a publisher: a message is encoded once per protocol
// and handed to each subscriber's Sink, which queues it or, past its
// output limit, drops the subscriber's connection (server package). The
// feed runs on a goroutine of its own and reads events from the log, so
// the commit path only stores a position and, when someone listens to
// entity channels, the round's entity changes.
package pubsub

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/foldb/foldb/eventlog"
)

// EntityPrefix starts every entity channel: __entity__:<type>:<id>.
const EntityPrefix = "__entity__:"

// Sink is one subscriber's connection.
type Sink interface {
	// Deliver queues an encoded message (a whole RESP reply, or a RESP3
	// push) for the connection. It must not block and must not call back
	// into the hub.
	Deliver(msg []byte)
	// Proto is the connection's protocol, 2 or 3.
	Proto() int
}

// Hub holds every subscription.
type Hub struct {
	mu       sync.RWMutex
	channels map[string]map[*Sub]struct{}
	patterns map[string]map[*Sub]struct{}
	// entityListeners counts subscriptions that can receive entity
	// changes: entity channels, and patterns that may match one.
	entityListeners atomic.Int64
	subs            atomic.Int64 // channel and pattern subscriptions, all connections
	conns           atomic.Int64 // connections with at least one subscription

	feed feed
}

// New returns an empty hub.
func New() *Hub {
	h := &Hub{
		channels: map[string]map[*Sub]struct{}{},
		patterns: map[string]map[*Sub]struct{}{},
	}
	h.feed.init(h)
	return h
}

// Sub is one connection's subscriptions. Its methods are called by the
// connection's commands, one at a time.
type Sub struct {
	hub      *Hub
	sink     Sink
	channels map[string]struct{}
	patterns map[string]struct{}
}

// NewSub returns a connection's empty set of subscriptions.
func (h *Hub) NewSub(sink Sink) *Sub {
	return &Sub{hub: h, sink: sink, channels: map[string]struct{}{}, patterns: map[string]struct{}{}}
}

// Count is how many channels and patterns the connection subscribes to:
// the number Redis replies with to each (P)(UN)SUBSCRIBE.
func (s *Sub) Count() int { return len(s.channels) + len(s.patterns) }

// Channels lists the connection's channels, sorted.
func (s *Sub) Channels() []string { return sortedKeys(s.channels) }

// Patterns lists the connection's patterns, sorted.
func (s *Sub) Patterns() []string { return sortedKeys(s.patterns) }

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Subscribe adds a channel and returns Count.
func (s *Sub) Subscribe(ch string) int {
	if _, ok := s.channels[ch]; !ok {
		s.counted(1)
		s.channels[ch] = struct{}{}
		s.hub.add(s.hub.channels, ch, s, strings.HasPrefix(ch, EntityPrefix))
	}
	return s.Count()
}

// Unsubscribe removes a channel and returns Count.
func (s *Sub) Unsubscribe(ch string) int {
	if _, ok := s.channels[ch]; ok {
		s.counted(-1)
		delete(s.channels, ch)
		s.hub.remove(s.hub.channels, ch, s, strings.HasPrefix(ch, EntityPrefix))
	}
	return s.Count()
}

// PSubscribe adds a pattern and returns Count.
func (s *Sub) PSubscribe(p string) int {
	if _, ok := s.patterns[p]; !ok {
		s.counted(1)
		s.patterns[p] = struct{}{}
		s.hub.add(s.hub.patterns, p, s, mayMatchEntity(p))
	}
	return s.Count()
}

// PUnsubscribe removes a pattern and returns Count.
func (s *Sub) PUnsubscribe(p string) int {
	if _, ok := s.patterns[p]; ok {
		s.counted(-1)
		delete(s.patterns, p)
		s.hub.remove(s.hub.patterns, p, s, mayMatchEntity(p))
	}
	return s.Count()
}

// counted keeps the hub's count of subscribed connections as the
// connection's own count is about to change by d.
func (s *Sub) counted(d int) {
	switch n := s.Count(); {
	case d > 0 && n == 0:
		s.hub.conns.Add(1)
	case d < 0 && n == 1:
		s.hub.conns.Add(-1)
	}
}

// Close drops every subscription (the connection closed, or RESET).
func (s *Sub) Close() {
	for ch := range s.channels {
		s.Unsubscribe(ch)
	}
	for p := range s.patterns {
		s.PUnsubscribe(p)
	}
}

// mayMatchEntity reports whether a pattern could match an entity channel:
// it does unless its literal start rules that out.
func mayMatchEntity(p string) bool {
	i := strings.IndexAny(p, `*?[\`)
	if i < 0 {
		return strings.HasPrefix(p, EntityPrefix)
	}
	lit := p[:i]
	return strings.HasPrefix(EntityPrefix, lit) || strings.HasPrefix(lit, EntityPrefix)
}

func (h *Hub) add(m map[string]map[*Sub]struct{}, name string, s *Sub, entity bool) {
	h.mu.Lock()
	set := m[name]
	if set == nil {
		set = map[*Sub]struct{}{}
		m[name] = set
	}
	set[s] = struct{}{}
	h.mu.Unlock()
	h.subs.Add(1)
	if entity {
		h.entityListeners.Add(1)
	}
}

func (h *Hub) remove(m map[string]map[*Sub]struct{}, name string, s *Sub, entity bool) {
	h.mu.Lock()
	if set := m[name]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(m, name)
		}
	}
	h.mu.Unlock()
	h.subs.Add(-1)
	if entity {
		h.entityListeners.Add(-1)
	}
}

// Publish sends payload to every subscriber of the channel and of the
// patterns it matches, and returns how many received it (a connection
// subscribed both ways counts twice, as in Redis).
func (h *Hub) Publish(ch string, payload []byte) int {
	if h.subs.Load() == 0 {
		return 0
	}
	var m message
	n := 0
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.channels[ch] {
		s.sink.Deliver(m.encode(s.sink.Proto(), "", ch, payload))
		n++
	}
	for p, set := range h.patterns {
		if !Match(p, ch) {
			continue
		}
		var enc [2][]byte // one encoding per protocol for the pattern's subscribers
		for s := range set {
			proto := s.sink.Proto()
			i := 0
			if proto == 3 {
				i = 1
			}
			if enc[i] == nil {
				enc[i] = encodeP(proto, p, ch, payload)
			}
			s.sink.Deliver(enc[i])
			n++
		}
	}
	return n
}

// Subscribed reports whether any connection holds a subscription.
func (h *Hub) Subscribed() bool { return h.subs.Load() > 0 }

// listened reports whether anyone would receive a message on ch.
func (h *Hub) listened(ch string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if len(h.channels[ch]) > 0 {
		return true
	}
	for p := range h.patterns {
		if Match(p, ch) {
			return true
		}
	}
	return false
}

// ActiveChannels lists the channels with at least one subscriber that
// match pattern ("" for all), sorted: PUBSUB CHANNELS.
func (h *Hub) ActiveChannels(pattern string) []string {
	h.mu.RLock()
	var out []string
	for ch := range h.channels {
		if pattern == "" || Match(pattern, ch) {
			out = append(out, ch)
		}
	}
	h.mu.RUnlock()
	slices.Sort(out)
	return out
}

// NumSub is how many connections subscribe to a channel: PUBSUB NUMSUB.
func (h *Hub) NumSub(ch string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.channels[ch])
}

// NumPat is how many patterns are subscribed to, over all connections:
// PUBSUB NUMPAT (Redis counts distinct patterns).
func (h *Hub) NumPat() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.patterns)
}

// Subscribers is how many connections subscribe to a channel or a
// pattern: INFO's pubsub_clients.
func (h *Hub) Subscribers() int { return int(h.conns.Load()) }

// NumChannels is how many channels have a subscriber: INFO's
// pubsub_channels.
func (h *Hub) NumChannels() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.channels)
}

// Reserved reports why a client may not PUBLISH on a channel: event
// channels (a stream's name) and entity channels carry only what the log
// commits, so that a subscriber can trust every message on them.
func Reserved(ch string) bool {
	return strings.HasPrefix(ch, EntityPrefix) || eventlog.ValidateStream(ch) == nil
}
