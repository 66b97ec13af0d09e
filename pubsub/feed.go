package pubsub

import (
	"cmp"
	"log/slog"
	"slices"
	"sync"

	"github.com/foldb/foldb/eventlog"
)

// Source is where the feed reads committed events; *eventlog.Log is one.
type Source interface {
	Scan(from, to uint64, fn func(e *eventlog.Event) error) error
}

// EntityChange is one entity's new state after a round: JSON is "" when
// the entity was deleted.
type EntityChange struct {
	Type, ID string
	JSON     string
}

// changeBatch is one round's entity changes, after the events up to last.
type changeBatch struct {
	last    uint64
	changes []EntityChange
}

// feed publishes committed events and entity changes in position order.
// The commit path only records how far the log is durable (Committed) and
// the round's entity changes when someone may listen (EntityChanges); the
// feed's goroutine reads the events back from the log, so a slow feed
// never holds up an append and holds no event in memory.
type feed struct {
	hub *Hub
	log *slog.Logger

	mu        sync.Mutex
	committed uint64
	// heard are the committed rounds someone may receive an event of, as
	// position ranges; the rest of the log up to committed is never read.
	heard   []span
	batches []changeBatch
	wake    chan struct{}

	delivered uint64 // owned by the goroutine
	stop      chan struct{}
	done      chan struct{}
	buf       []byte
}

func (f *feed) init(h *Hub) {
	f.hub = h
	f.wake = make(chan struct{}, 1)
}

// Start runs the feed from the log's position last on: what was committed
// before is not published.
func (h *Hub) Start(src Source, last uint64, log *slog.Logger) {
	f := &h.feed
	f.log = log
	f.committed, f.delivered = last, last
	f.stop, f.done = make(chan struct{}), make(chan struct{})
	go f.run(src)
}

// Stop ends the feed once it has published what it was told of.
func (h *Hub) Stop() {
	f := &h.feed
	if f.stop == nil {
		return
	}
	close(f.stop)
	<-f.done
}

// Committed tells the feed that the round of the events at positions
// first..last is durable and published. It is called on the commit path
// and only stores and signals. streams are the streams the round appended
// to, each once; every says they were not collected, and the round counts
// as appending to every stream.
//
// A round no subscription can receive an event of (no channel or pattern
// takes one of its streams) is not read back from the log, and when no
// entity changes wait either, it does not wake the feed. A subscription
// counted before this call is judged by it; one counted after it came after
// the round was durable, and Redis too delivers only what is published
// after SUBSCRIBE.
func (h *Hub) Committed(first, last uint64, streams []string, every bool) {
	heard := h.subs.Load() > 0 && first <= last && (every || slices.ContainsFunc(streams, h.listened))
	f := &h.feed
	f.mu.Lock()
	f.committed = max(f.committed, last) // rounds may report out of order
	if heard {
		f.heard = append(f.heard, span{first, last})
	}
	wake := heard || len(f.batches) > 0
	f.mu.Unlock()
	if !wake {
		return
	}
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// span is a range of positions, first to last.
type span struct{ first, last uint64 }

// WantsEntityChanges reports whether any subscription may receive an
// entity change; the state collects changes for EntityChanges only then.
func (h *Hub) WantsEntityChanges() bool { return h.entityListeners.Load() > 0 }

// EntityChanges hands the feed a round's entity changes, published after
// the round's events (up to last). Call it before Committed(last).
func (h *Hub) EntityChanges(last uint64, changes []EntityChange) {
	f := &h.feed
	f.mu.Lock()
	f.batches = append(f.batches, changeBatch{last, changes})
	f.mu.Unlock()
}

func (f *feed) run(src Source) {
	defer close(f.done)
	for {
		select {
		case <-f.wake:
		case <-f.stop:
			f.publish(src) // what was committed before the stop
			return
		}
		f.publish(src)
	}
}

// publish sends what was committed since the last call: the events of
// the rounds someone may hear, each round's entity changes after the
// events up to it.
func (f *feed) publish(src Source) {
	f.mu.Lock()
	last, batches, heard := f.committed, f.batches, f.heard
	f.batches, f.heard = nil, nil
	f.mu.Unlock()
	if f.hub.subs.Load() == 0 {
		f.delivered = last // nobody listens: nothing to read
		return
	}
	slices.SortFunc(heard, func(a, b span) int { return cmp.Compare(a.first, b.first) })
	upTo := func(to uint64) { // the heard events up to to, then delivered is to
		for len(heard) > 0 && heard[0].first <= to {
			s := &heard[0]
			f.events(src, max(s.first, f.delivered+1), min(s.last, to))
			if s.last > to {
				s.first = to + 1
				break
			}
			heard = heard[1:]
		}
		f.delivered = max(f.delivered, to)
	}
	for _, b := range batches {
		upTo(b.last)
		for _, c := range b.changes {
			ch := EntityPrefix + c.Type + ":" + c.ID
			f.hub.Publish(ch, []byte(c.JSON))
		}
	}
	upTo(last)
}

// events publishes the events at positions from..to on their streams' channels.
func (f *feed) events(src Source, from, to uint64) {
	if from > to {
		return
	}
	err := src.Scan(from, to, func(e *eventlog.Event) error {
		if !f.hub.listened(e.Stream) {
			return nil
		}
		f.buf = AppendEventJSON(f.buf[:0], e)
		f.hub.Publish(e.Stream, f.buf)
		return nil
	})
	if err != nil && f.log != nil {
		f.log.Error("pubsub: reading events to publish failed; they are not published", "from", from, "to", to, "err", err)
	}
}
