package streams

import (
	"log/slog"
	"sync"

	"github.com/foldb/foldb/eventlog"
)

// Waiters are the readers blocked in XREAD ... BLOCK: each waits for an
// entry after a position in one of its views. The commit path only tells
// the waiters how far the log is durable (Committed); a goroutine of their
// own reads the new events back and wakes every waiter that one of them
// belongs to, once. A woken reader runs its read again: the entries it
// gets are read from the log, so a wake-up that finds nothing new (a
// waiter registered after the events it was woken for) simply waits again.
type Waiters struct {
	src Scanner
	log *slog.Logger

	mu        sync.Mutex
	byKey     map[string]map[*Waiter]struct{}
	count     int
	committed uint64
	wake      chan struct{}

	scanned uint64 // owned by the goroutine: events up to here were matched
	stop    chan struct{}
	done    chan struct{}
}

// Scanner is where the waiters read committed events; *eventlog.Log is one.
type Scanner interface {
	Scan(from, to uint64, fn func(e *eventlog.Event) error) error
}

// Waiter is one blocked reader.
type Waiter struct {
	views []View
	seen  uint64 // it read its views up to this position
	wake  func()
	woken bool // guarded by Waiters.mu
}

// NewWaiters returns the registry, reading events from src.
func NewWaiters(src Scanner, log *slog.Logger) *Waiters {
	return &Waiters{src: src, log: log, byKey: map[string]map[*Waiter]struct{}{}, wake: make(chan struct{}, 1)}
}

// Start runs the goroutine that wakes waiters, from the log's position
// last on.
func (ws *Waiters) Start(last uint64) {
	ws.committed, ws.scanned = last, last
	ws.stop, ws.done = make(chan struct{}), make(chan struct{})
	go ws.run()
}

// Stop ends the goroutine; waiters still registered are not woken.
func (ws *Waiters) Stop() {
	if ws.stop == nil {
		return
	}
	close(ws.stop)
	<-ws.done
}

// Len is how many readers wait (INFO's blocked_clients counts them).
func (ws *Waiters) Len() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.count
}

// Wait registers a reader that read its views up to position seen and
// found nothing; wake is called once, from another goroutine, when an
// event past seen in one of the views is committed. wake must not block.
// When events past seen were already matched without it, Wait registers
// nothing and returns false: the reader reads again now.
func (ws *Waiters) Wait(views []View, seen uint64, wake func()) (*Waiter, bool) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if seen < ws.scanned {
		return nil, false
	}
	w := &Waiter{views: views, seen: seen, wake: wake}
	for _, v := range views {
		set := ws.byKey[v.Key]
		if set == nil {
			set = map[*Waiter]struct{}{}
			ws.byKey[v.Key] = set
		}
		set[w] = struct{}{}
	}
	ws.count++
	return w, true
}

// Cancel removes a waiter (its timeout, or its connection closed). It
// reports whether the waiter was still waiting: false means wake was or
// is being called.
func (ws *Waiters) Cancel(w *Waiter) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if w.woken {
		return false
	}
	ws.removeLocked(w)
	return true
}

func (ws *Waiters) removeLocked(w *Waiter) {
	w.woken = true
	for _, v := range w.views {
		if set := ws.byKey[v.Key]; set != nil {
			delete(set, w)
			if len(set) == 0 {
				delete(ws.byKey, v.Key)
			}
		}
	}
	ws.count--
}

// Committed tells the waiters that the log is durable and published up to
// last. It is called on the commit path and only stores and signals.
func (ws *Waiters) Committed(last uint64) {
	ws.mu.Lock()
	ws.committed = last
	ws.mu.Unlock()
	select {
	case ws.wake <- struct{}{}:
	default:
	}
}

func (ws *Waiters) run() {
	defer close(ws.done)
	for {
		select {
		case <-ws.wake:
		case <-ws.stop:
			return
		}
		ws.match()
	}
}

// match wakes the waiters that an event committed since the last call
// belongs to. Whoever registers from here on with an older position reads
// again instead (Wait), so no event is missed.
func (ws *Waiters) match() {
	ws.mu.Lock()
	from, last := ws.scanned+1, ws.committed
	ws.scanned = max(ws.scanned, last)
	empty := ws.count == 0
	ws.mu.Unlock()
	if empty || from > last {
		return
	}
	keys := make([]string, 0, 4)
	var woken []func()
	err := ws.src.Scan(from, last, func(e *eventlog.Event) error {
		cat, _ := eventlog.SplitStream(e.Stream)
		keys = append(keys[:0], e.Stream, AllKey, CategoryPrefix+cat, TypePrefix+e.Type)
		woken = woken[:0]
		ws.mu.Lock()
		for _, k := range keys {
			for w := range ws.byKey[k] {
				if e.Position > w.seen {
					ws.removeLocked(w)
					woken = append(woken, w.wake)
				}
			}
		}
		ws.mu.Unlock()
		for _, wake := range woken {
			wake()
		}
		return nil
	})
	if err != nil {
		if ws.log != nil {
			ws.log.Error("streams: reading new events for blocked readers failed; they are woken to read again", "err", err)
		}
		ws.wakeAll()
	}
}

func (ws *Waiters) wakeAll() {
	ws.mu.Lock()
	var woken []func()
	for _, set := range ws.byKey {
		for w := range set {
			ws.removeLocked(w)
			woken = append(woken, w.wake)
		}
	}
	ws.mu.Unlock()
	for _, wake := range woken {
		wake()
	}
}
