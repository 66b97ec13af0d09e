package streams

import (
	"slices"
	"strings"
	"sync/atomic"

	"github.com/foldb/foldb/eventlog"
)

// Waiter is a blocked XREADGROUP (BLOCK with only ">" keys and nothing to
// read). The log's writer serves it in the round of the append that gives
// it entries: right after the round's appends are staged, its entries
// become pending in that round's batch, and its done is called once that
// round is durable, so waking a reader costs no fsync of its own (Redis
// serves blocked clients before its AOF fsync, in the same loop turn).
//
// Its state moves one way, each step taken with a compare-and-swap so that
// Cancel and the writer never both win:
//
//	submitted  --(its op finds entries or an error)-->  answered
//	submitted  --(its op finds nothing)------------->  registered
//	registered --(a round gives it entries, its group
//	              is destroyed, Groups.Close)-------->  served
//	registered --(its op's round failed)------------->  answered
//	submitted, registered --(Cancel)----------------->  cancelled
type Waiter struct {
	gs    *Groups
	r     *ReadGroup
	done  func()
	state atomic.Int32
	// Writer-owned: registration order, whether the index holds it, and
	// the last round that looked at it.
	seq     uint64
	indexed bool
	mark    uint64
}

// The states of a Waiter.
const (
	waitSubmitted int32 = iota
	waitRegistered
	waitAnswered
	waitServed
	waitCancelled
)

func (w *Waiter) to(from, to int32) bool { return w.state.CompareAndSwap(from, to) }

// Block runs r as XREADGROUP ... BLOCK does. When a key has entries for it
// (or r fails) it is answered at once, as by DoAsync; when none has, it
// waits, registered with the log's writer, until an append gives one of
// its ">" keys entries (its reply then holds that key only), its group is
// destroyed (r.Err is a NoGroupError with Gone) or the groups are closed
// (ErrClosed). done is called once, on the log's writer goroutine, once r
// is answered and what it changed is durable, unless Cancel returns true
// first. done must not block.
//
// Like Redis 7.2, it creates the consumer, and records it as seen, even
// when it finds nothing.
func (gs *Groups) Block(r *ReadGroup, done func()) *Waiter {
	w := &Waiter{gs: gs, r: r, done: done}
	if gs.closed.Load() {
		w.state.Store(waitAnswered)
		r.Err = ErrClosed
		done()
		return w
	}
	op := &eventlog.Op{Stage: func(b *eventlog.OpBatch) error {
		if w.state.Load() != waitSubmitted {
			return nil
		}
		if gs.closed.Load() {
			// Close has answered the waiters registered before it; this
			// one came after.
			if w.to(waitSubmitted, waitAnswered) {
				return ErrClosed
			}
			return nil
		}
		return r.run(&stager{gs: gs, b: b, now: b.Now()}, w)
	}}
	gs.log.DoAsync([]*eventlog.Op{op}, func() { w.opDone(op.Err) })
	return w
}

// opDone answers w when its own op did, or when the op's round failed
// after registering it (or the op never ran: the log is closed).
func (w *Waiter) opDone(err error) {
	switch w.state.Load() {
	case waitAnswered:
	case waitRegistered, waitSubmitted:
		if err == nil || !(w.to(waitRegistered, waitAnswered) || w.to(waitSubmitted, waitAnswered)) {
			return
		}
	default:
		return
	}
	if err != nil {
		w.r.Err, w.r.Streams = err, nil
	}
	w.done()
}

// Cancel withdraws the waiter, for a timeout or a client gone. It returns
// true when done will never be called; false when w was answered or is
// being answered (done is called, or was).
func (w *Waiter) Cancel() bool {
	if w.to(waitSubmitted, waitCancelled) || w.to(waitRegistered, waitCancelled) {
		w.gs.waiting.cancelled.Add(1)
		return true
	}
	return false
}

// viewID names a view in the waiters' index.
type viewID struct {
	kind Kind
	name string
}

// waiters are the registered Waiters, by the views of their ">" keys.
// They are the writer's; a cancelled waiter stays in the index until the
// writer next looks at it or sweeps.
type waiters struct {
	byView map[viewID][]*Waiter
	live   int // registered waiters in byView
	seq    uint64
	rounds uint64
	// cancelled counts Cancels since the last sweep (any goroutine).
	cancelled atomic.Int64
	found     []*Waiter // scratch of Staged
}

func (ws *waiters) init() { ws.byView = map[viewID][]*Waiter{} }

// views are the views w waits on: its ">" keys'.
func (w *Waiter) views() []viewID {
	var out []viewID
	for i, key := range w.r.Keys {
		if !w.r.From[i].New {
			continue
		}
		v := ParseKey(key)
		id := viewID{v.Kind, v.Name}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func (ws *waiters) add(w *Waiter) {
	if n := ws.cancelled.Load(); n > int64(ws.live/2)+16 {
		ws.sweep()
	}
	ws.seq++
	w.seq, w.indexed = ws.seq, true
	for _, id := range w.views() {
		ws.byView[id] = append(ws.byView[id], w)
	}
	ws.live++
}

// remove takes w, which is no longer registered, out of the index.
func (ws *waiters) remove(w *Waiter) {
	if !w.indexed {
		return
	}
	w.indexed = false
	for _, id := range w.views() {
		list := ws.byView[id]
		if i := slices.Index(list, w); i >= 0 {
			list = slices.Delete(list, i, i+1)
			if len(list) == 0 {
				delete(ws.byView, id)
			} else {
				ws.byView[id] = list
			}
		}
	}
	ws.live--
}

// sweep drops the cancelled waiters from the index.
func (ws *waiters) sweep() {
	ws.cancelled.Store(0)
	gone := map[*Waiter]bool{}
	for id, list := range ws.byView {
		kept := list[:0]
		for _, w := range list {
			if w.state.Load() == waitRegistered {
				kept = append(kept, w)
			} else {
				gone[w] = true
				w.indexed = false
			}
		}
		clear(list[len(kept):])
		if len(kept) == 0 {
			delete(ws.byView, id)
		} else {
			ws.byView[id] = kept
		}
	}
	ws.live -= len(gone)
}

// serve answers w, whose state the caller moved to served, after the
// round: with its entries, or with err.
func (ws *waiters) serve(s *stager, w *Waiter, err error) {
	ws.remove(w)
	if err != nil {
		w.r.Err, w.r.Streams = err, nil
	}
	s.b.AfterCommit(func(err error) {
		if err != nil {
			w.r.Err, w.r.Streams = err, nil
		}
		w.done()
	})
}

// groupGone answers the readers blocked on a destroyed group.
func (ws *waiters) groupGone(s *stager, key, name string) {
	v := ParseKey(key)
	for _, w := range slices.Clone(ws.byView[viewID{v.Kind, v.Name}]) {
		if w.r.Group != name || !slices.Contains(w.r.Keys, key) {
			continue
		}
		if w.to(waitRegistered, waitServed) {
			ws.serve(s, w, &NoGroupError{Key: key, Group: name, Gone: true})
		} else if w.state.Load() != waitRegistered {
			ws.remove(w)
		}
	}
}

// closeAll answers every registered waiter with ErrClosed; it runs on the
// writer between rounds.
func (ws *waiters) closeAll() {
	for _, list := range ws.byView {
		for _, w := range list {
			w.indexed = false
			if w.to(waitRegistered, waitServed) {
				w.r.Err, w.r.Streams = ErrClosed, nil
				w.done()
			}
		}
	}
	clear(ws.byView)
	ws.live = 0
}

// Waiting implements eventlog.Watcher: some XREADGROUP waits. It runs on
// the log's writer, which owns the waiters.
func (gs *Groups) Waiting() bool { return gs.waiting.live > 0 }

// Staged implements eventlog.Watcher: it serves, in the order they
// blocked, the waiters that the round's events may give entries.
func (gs *Groups) Staged(b *eventlog.OpBatch, events []eventlog.Event) {
	if gs.publish != nil {
		gs.stagePublish(b, events)
	}
	ws := &gs.waiting
	if ws.live == 0 {
		return
	}
	ws.rounds++
	found := ws.found[:0]
	look := func(id viewID) {
		for _, w := range ws.byView[id] {
			if w.mark != ws.rounds {
				w.mark = ws.rounds
				found = append(found, w)
			}
		}
	}
	for i := range events {
		e := &events[i]
		cat, _ := eventlog.SplitStream(e.Stream)
		look(viewID{KindStream, e.Stream})
		look(viewID{KindAll, ""})
		look(viewID{KindCategory, cat})
		look(viewID{KindType, e.Type})
	}
	slices.SortFunc(found, func(a, b *Waiter) int { return compareUint64(a.seq, b.seq) })
	s := &stager{gs: gs, b: b, now: b.Now()}
	for _, w := range found {
		if w.state.Load() != waitRegistered {
			ws.remove(w)
			continue
		}
		gs.serveWaiter(s, w, events)
	}
	clear(found)
	ws.found = found[:0]
}

func compareUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// serveWaiter gives w the entries of its first ">" key that has some:
// those committed after its group's last-delivered ID, then the round's.
func (gs *Groups) serveWaiter(s *stager, w *Waiter, events []eventlog.Event) {
	r := w.r
	for i, key := range r.Keys {
		if !r.From[i].New {
			continue
		}
		g := gs.lookup(key, r.Group)
		if g == nil {
			if w.to(waitRegistered, waitServed) {
				gs.waiting.serve(s, w, &NoGroupError{Key: key, Group: r.Group, Gone: true})
			}
			return
		}
		count := r.count()
		evs, err := gs.newEntries(g.view, g.last, s.b.Committed(), count)
		if err != nil {
			if w.to(waitRegistered, waitServed) {
				gs.waiting.serve(s, w, err)
			}
			return
		}
		after := max(g.last.Ms, s.b.Committed())
		for j := range events {
			if len(evs) >= count {
				break
			}
			if e := &events[j]; e.Position > after && g.view.Matches(e) {
				evs = append(evs, clone(e))
			}
		}
		if len(evs) == 0 {
			continue
		}
		var facts *viewFacts
		if g.entriesRead < 0 {
			facts = gs.roundFacts(g.view, s.b.Committed(), events)
		}
		if !w.to(waitRegistered, waitServed) {
			gs.waiting.remove(w)
			return
		}
		c, _ := g.consumer(s, r.Consumer)
		c.seen = s.now
		g.deliver(s, c, evs, r.NoAck, facts)
		s.putConsumer(g, c)
		r.Streams = []StreamEntries{{Key: key, Entries: evs}}
		gs.waiting.serve(s, w, nil)
		return
	}
}

// roundFacts are a view's facts with the round's events counted in; on a
// read error they count nothing known (every estimate is unknown).
func (gs *Groups) roundFacts(v View, committed uint64, events []eventlog.Event) *viewFacts {
	f, err := gs.facts(v, committed)
	if err != nil {
		return &viewFacts{added: 1, committed: committed}
	}
	for i := range events {
		if e := &events[i]; v.Matches(e) {
			f.added++
			if f.first == 0 {
				f.first = e.Position
			}
			f.last = e.Position
		}
	}
	f.committed = events[len(events)-1].Position
	return f
}

// clone copies an event out of the round's memory, which is valid only
// while the round is staged.
func clone(e *eventlog.Event) eventlog.Event {
	c := *e
	c.Stream = strings.Clone(e.Stream)
	c.Type = strings.Clone(e.Type)
	c.ID = strings.Clone(e.ID)
	c.Data = slices.Clone(e.Data)
	if e.Meta != nil {
		c.Meta = slices.Clone(e.Meta)
	}
	return c
}
