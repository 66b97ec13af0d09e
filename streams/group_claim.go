package streams

import (
	"math"

	"github.com/foldb/foldb/eventlog"
)

// PendingSummary is XPENDING key group.
type PendingSummary struct {
	Key, Group string
	Count      int
	Min, Max   ID // when Count > 0
	// Consumers are those with pending entries, by name.
	Consumers []ConsumerPending
	Result
}

// ConsumerPending is a consumer's count of pending entries.
type ConsumerPending struct {
	Name  string
	Count int
}

func (r *PendingSummary) stage(s *stager) error {
	g := s.gs.lookup(r.Key, r.Group)
	if g == nil {
		return &NoGroupError{Key: r.Key, Group: r.Group}
	}
	r.Count, r.Consumers = g.pel.Len(), nil
	if r.Count == 0 {
		return nil
	}
	lo, _, _ := g.pel.Min()
	hi, _, _ := g.pel.Max()
	r.Min, r.Max = EntryID(lo), EntryID(hi)
	for _, c := range g.sortedConsumers() {
		if n := c.pel.Len(); n > 0 {
			r.Consumers = append(r.Consumers, ConsumerPending{Name: c.name, Count: n})
		}
	}
	return nil
}

// PendingRange is XPENDING key group [IDLE ms] start end count [consumer].
type PendingRange struct {
	Key, Group string
	MinIdle    int64 // 0: any
	Start, End ID    // inclusive
	Count      int64
	Consumer   string
	ByConsumer bool // Consumer was given
	Entries    []PendingEntry
	Result
}

// PendingEntry is one line of XPENDING's extended form.
type PendingEntry struct {
	ID         ID
	Consumer   string
	Idle       int64 // ms since the last delivery
	Deliveries uint64
}

// positions are the positions whose entry IDs (<position>-0) lie in
// [start, end]; ok is false when none can.
func positions(start, end ID) (from, to uint64, ok bool) {
	from = start.Ms
	if start.Seq > 0 {
		if from == math.MaxUint64 {
			return 0, 0, false
		}
		from++
	}
	return from, end.Ms, from <= end.Ms
}

func (r *PendingRange) stage(s *stager) error {
	g := s.gs.lookup(r.Key, r.Group)
	if g == nil {
		return &NoGroupError{Key: r.Key, Group: r.Group}
	}
	r.Entries = nil
	pel := &g.pel
	if r.ByConsumer {
		c := g.consumers[r.Consumer]
		if c == nil {
			return nil
		}
		pel = &c.pel
	}
	from, to, ok := positions(r.Start, r.End)
	if !ok || r.Count <= 0 {
		return nil
	}
	left := r.Count
	pel.Ascend(from, func(pos uint64, p *pending) bool {
		if pos > to {
			return false
		}
		idle := s.now - p.delivered
		if r.MinIdle != 0 && idle < r.MinIdle {
			return true
		}
		r.Entries = append(r.Entries, PendingEntry{ID: EntryID(pos), Consumer: p.owner.name, Idle: max(idle, 0), Deliveries: p.count})
		left--
		return left > 0
	})
	return nil
}

// Claim is XCLAIM key group consumer min-idle-time id ... [IDLE ms] [TIME
// ms] [RETRYCOUNT n] [FORCE] [JUSTID] [LASTID id].
type Claim struct {
	Key, Group, Consumer string
	MinIdle              int64
	IDs                  []ID
	// Invalid is an argument's error; Redis answers NOGROUP before it
	// parses them, so it is answered only then.
	Invalid error
	// Delivery sets the claimed entries' delivery time: DeliveryNow, or
	// DeliveryIdle (Idle ms ago), or DeliveryAt (Time).
	Delivery   DeliveryKind
	Idle, Time int64
	RetryCount int64 // -1: not given
	Force      bool
	JustID     bool
	LastID     ID // zero: not given
	// Entries are the claimed entries; with JustID, Claimed are their IDs.
	Entries []eventlog.Event
	Claimed []ID
	Result
}

// DeliveryKind says how XCLAIM sets a delivery time.
type DeliveryKind uint8

const (
	DeliveryNow DeliveryKind = iota
	DeliveryIdle
	DeliveryAt
)

func (r *Claim) stage(s *stager) error {
	g := s.gs.lookup(r.Key, r.Group)
	if g == nil {
		return &NoGroupError{Key: r.Key, Group: r.Group}
	}
	if r.Invalid != nil {
		return r.Invalid
	}
	r.Entries, r.Claimed = nil, nil
	// Read first: the entries FORCE may make pending must be the view's,
	// and the reply needs the claimed entries.
	events := map[uint64]eventlog.Event{}
	for _, id := range r.IDs {
		pos := id.Ms
		if _, seen := events[pos]; seen || id.Seq != 0 {
			continue // not an entry's ID (<position>-0): never pending
		}
		_, pending := g.pel.Get(pos)
		if !pending && (!r.Force || pos == 0 || pos > s.b.Committed()) {
			continue
		}
		if pending && r.JustID {
			events[pos] = eventlog.Event{Position: pos} // pending entries are the view's
			continue
		}
		e, err := s.gs.log.Event(pos)
		if err != nil {
			return err
		}
		if pending || g.view.Matches(&e) {
			events[pos] = e
		}
	}
	minIdle := max(r.MinIdle, 0)
	delivered := s.now
	switch r.Delivery {
	case DeliveryIdle:
		delivered = s.now - r.Idle
	case DeliveryAt:
		delivered = r.Time
	}
	if r.Delivery != DeliveryNow && (delivered < 0 || delivered > s.now) {
		delivered = s.now
	}
	if g.last.Less(r.LastID) {
		g.last = r.LastID
		s.putGroup(g)
	}
	c, _ := g.consumer(s, r.Consumer)
	c.seen = s.now
	for _, id := range r.IDs {
		e, exists := events[id.Ms]
		if !exists || id.Seq != 0 {
			continue // not pending, and not an entry FORCE can make pending
		}
		p, ok := g.pel.Get(id.Ms)
		count := uint64(1) // a new pending entry's, as Redis's FORCE makes it
		if ok {
			if minIdle > 0 && s.now-p.delivered < minIdle {
				continue
			}
			count = p.count
		}
		switch {
		case r.RetryCount >= 0:
			count = uint64(r.RetryCount)
		case !r.JustID:
			count++
		}
		g.assign(s, c, id.Ms, delivered, count)
		c.active = s.now
		if r.JustID {
			r.Claimed = append(r.Claimed, id)
		} else {
			r.Entries = append(r.Entries, e)
		}
	}
	s.putConsumer(g, c)
	return nil
}

// AutoClaim is XAUTOCLAIM key group consumer min-idle-time start [COUNT n]
// [JUSTID].
type AutoClaim struct {
	Key, Group, Consumer string
	MinIdle              int64
	Start                ID
	Count                int // 100 when not given
	JustID               bool
	// Next is the cursor for the next call (0-0: the end); Entries or,
	// with JustID, Claimed are what was claimed. Redis's third element,
	// the pending entries whose entry was deleted, is always empty here:
	// the log deletes no entry.
	Next    ID
	Entries []eventlog.Event
	Claimed []ID
	Result
}

func (r *AutoClaim) stage(s *stager) error {
	g := s.gs.lookup(r.Key, r.Group)
	if g == nil {
		return &NoGroupError{Key: r.Key, Group: r.Group}
	}
	r.Next, r.Entries, r.Claimed = ID{}, nil, nil
	from, _, ok := positions(r.Start, MaxID)
	minIdle := max(r.MinIdle, 0)
	count := max(r.Count, 1)
	attempts := count * 10
	var claim []*pending
	if ok {
		stopped := false
		g.pel.Ascend(from, func(pos uint64, p *pending) bool {
			if stopped {
				r.Next = EntryID(pos)
				return false
			}
			attempts--
			if minIdle == 0 || s.now-p.delivered >= minIdle {
				claim = append(claim, p)
				count--
			}
			stopped = attempts == 0 || count == 0
			return true
		})
	}
	if !r.JustID {
		for _, p := range claim {
			e, err := s.gs.log.Event(p.pos)
			if err != nil {
				return err
			}
			r.Entries = append(r.Entries, e)
		}
	}
	c, _ := g.consumer(s, r.Consumer)
	c.seen = s.now
	for _, p := range claim {
		n := p.count
		if !r.JustID {
			n++
		}
		g.assign(s, c, p.pos, s.now, n)
		c.active = s.now
		if r.JustID {
			r.Claimed = append(r.Claimed, EntryID(p.pos))
		}
	}
	s.putConsumer(g, c)
	return nil
}

// InfoGroups is XINFO GROUPS key.
type InfoGroups struct {
	Key    string
	Groups []GroupInfo
	Result
}

// GroupInfo is one group in XINFO GROUPS.
type GroupInfo struct {
	Name          string
	Consumers     int
	Pending       int
	LastDelivered ID
	EntriesRead   int64 // -1: unknown (nil in the reply)
	Lag           int64 // -1: unknown (nil in the reply)
}

func (r *InfoGroups) stage(s *stager) error {
	r.Groups = nil
	gs, f, err := s.keyGroups(r.Key)
	if err != nil || len(gs) == 0 {
		return err
	}
	for _, g := range gs {
		r.Groups = append(r.Groups, GroupInfo{Name: g.name, Consumers: len(g.consumers), Pending: g.pel.Len(),
			LastDelivered: g.last, EntriesRead: g.entriesRead, Lag: g.lag(f)})
	}
	return nil
}

// lag is how many of the view's entries the group has not read, -1 when
// it is not known: Redis's streamReplyWithCGLag, for a stream without
// deletions.
func (g *group) lag(f *viewFacts) int64 {
	read := g.entriesRead
	if read < 0 {
		read = f.readCount(g.last)
	}
	switch {
	case f.added == 0:
		return 0
	case read >= 0:
		return int64(f.added) - read
	}
	return -1
}

// InfoConsumers is XINFO CONSUMERS key group.
type InfoConsumers struct {
	Key, Group string
	Consumers  []ConsumerInfo
	Result
}

// ConsumerInfo is one consumer in XINFO CONSUMERS (Redis 7.2's fields).
type ConsumerInfo struct {
	Name    string
	Pending int
	// Idle is the ms since it last read or claimed; Inactive since it was
	// last given an entry, -1 when never.
	Idle, Inactive int64
}

func (r *InfoConsumers) stage(s *stager) error {
	g, err := s.gs.existing(r.Key, r.Group)
	if err != nil {
		return err
	}
	r.Consumers = nil
	for _, c := range g.sortedConsumers() {
		info := ConsumerInfo{Name: c.name, Pending: c.pel.Len(), Idle: max(s.now-c.seen, 0), Inactive: -1}
		if c.active >= 0 {
			info.Inactive = s.now - c.active
		}
		r.Consumers = append(r.Consumers, info)
	}
	return nil
}
