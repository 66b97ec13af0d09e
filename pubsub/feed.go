package pubsub

import (
	"log/slog"
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
	unheard   uint64 // committed while nobody listened: never to be published
	batches   []changeBatch
	wake      chan struct{}

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

// Committed tells the feed that the log is durable and published up to
// last. It is called on the commit path and only stores and signals.
//
// With no subscription and no entity changes waiting, it does not wake the
// feed: the next wake-up skips what nobody could have received (publish).
// A subscription counted before this call is woken for; one counted after
// it came after the round was durable, and Redis too delivers only what is
// published after SUBSCRIBE.
func (h *Hub) Committed(last uint64) {
	f := &h.feed
	f.mu.Lock()
	f.committed = max(f.committed, last) // rounds may report out of order
	idle := len(f.batches) == 0 && h.subs.Load() == 0
	if idle {
		f.unheard = f.committed
	}
	f.mu.Unlock()
	if idle {
		return
	}
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

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

// publish sends what was committed since the last call.
func (f *feed) publish(src Source) {
	f.mu.Lock()
	last, batches := f.committed, f.batches
	f.delivered = max(f.delivered, f.unheard)
	f.batches = nil
	f.mu.Unlock()
	if f.hub.subs.Load() == 0 {
		f.delivered = last // nobody listens: nothing to read
		return
	}
	from := f.delivered + 1
	for _, b := range batches {
		f.events(src, from, b.last)
		from = max(from, b.last+1)
		for _, c := range b.changes {
			ch := EntityPrefix + c.Type + ":" + c.ID
			f.hub.Publish(ch, []byte(c.JSON))
		}
	}
	f.events(src, from, last)
	f.delivered = max(f.delivered, last)
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
