package streams

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foldb/foldb/eventlog"
)

// blocked is a Block whose done closes a channel.
type blocked struct {
	r    *ReadGroup
	w    *Waiter
	done chan struct{}
	runs atomic.Int32
}

func (gl *groupLog) block(r *ReadGroup) *blocked {
	b := &blocked{r: r, done: make(chan struct{})}
	b.w = gl.gs.Block(r, func() {
		if b.runs.Add(1) == 1 {
			close(b.done)
		}
	})
	return b
}

// registered waits until the writer has registered the waiter.
func registered(t *testing.T, b *blocked) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.w.state.Load() == waitSubmitted {
		if time.Now().After(deadline) {
			t.Fatal("the waiter was not registered")
		}
		time.Sleep(time.Millisecond)
	}
	if s := b.w.state.Load(); s != waitRegistered {
		t.Fatalf("waiter in state %d, want registered", s)
	}
}

func (b *blocked) wait(t *testing.T) {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked read was not answered")
	}
	if n := b.runs.Load(); n != 1 {
		t.Fatalf("done ran %d times", n)
	}
}

func (b *blocked) notAnswered(t *testing.T) {
	t.Helper()
	select {
	case <-b.done:
		t.Fatalf("answered: %s, %v", positionsOf(b.r.Streams), b.r.Err)
	default:
	}
}

// TestBlockServedInTheAppendsRound: a blocked read is served by the
// round of the append that gives it entries, with no round of its own:
// its pending entries commit with the append.
func TestBlockServedInTheAppendsRound(t *testing.T) {
	gl := openGroupLog(t, "")
	gl.add("s:1", "A")
	gl.do(&GroupCreate{Key: "s:1", Group: "g", Dollar: true, EntriesRead: -1}, &GroupCreate{Key: "s:2", Group: "g", EntriesRead: -1})
	b := gl.block(read("g", "c", 0, "s:1", "s:2"))
	registered(t, b)
	b.notAnswered(t)
	gl.add("other:1", "X") // not its view
	b.notAnswered(t)
	rounds := gl.log.Stats().Rounds
	pos := gl.add("s:1", "B", "C")
	b.wait(t)
	if b.r.Err != nil || positionsOf(b.r.Streams) != fmt.Sprintf("s:1:%d,%d", pos-1, pos) {
		t.Fatalf("served %s, %v", positionsOf(b.r.Streams), b.r.Err)
	}
	if n := gl.log.Stats().Rounds - rounds; n != 1 {
		t.Fatalf("%d rounds for the append and the blocked read, want 1", n)
	}
	want(t, "pending", gl.pendingOf("s:1", "g"), "3-0 c 1", "4-0 c 1")
	want(t, "groups", gl.groupsOf("s:1"), "g c=1 p=2 last=4-0 read=3 lag=0")
	// The entries are copies: the append's memory is the client's.
	if string(b.r.Streams[0].Entries[0].Data) != "{}" || b.r.Streams[0].Entries[0].Type != "B" {
		t.Fatalf("entry %+v", b.r.Streams[0].Entries[0])
	}
}

// TestBlockAnsweredAtOnce: with entries there, or an error, Block answers
// at once; a read of pending entries never waits.
func TestBlockAnsweredAtOnce(t *testing.T) {
	gl := openGroupLog(t, "")
	gl.add("s:1", "A")
	gl.do(&GroupCreate{Key: "s:1", Group: "g", EntriesRead: -1})
	b := gl.block(read("g", "c", 0, "s:1"))
	b.wait(t)
	if positionsOf(b.r.Streams) != "s:1:1" {
		t.Fatalf("served %q", positionsOf(b.r.Streams))
	}
	hist := gl.block(&ReadGroup{Group: "g", Consumer: "c", Keys: []string{"s:1"}, From: []ReadFrom{{ID: id(1)}}})
	hist.wait(t)
	if len(hist.r.Streams) != 1 || len(hist.r.Streams[0].Entries) != 0 {
		t.Fatalf("history read: %+v", hist.r.Streams)
	}
	missing := gl.block(read("nope", "c", 0, "s:1"))
	missing.wait(t)
	var ng *NoGroupError
	if !errors.As(missing.r.Err, &ng) || ng.Gone {
		t.Fatalf("no group: %v", missing.r.Err)
	}
	if missing.w.Cancel() {
		t.Fatal("Cancel of an answered read returned true")
	}
}

// TestBlockCancel: a cancelled waiter is never answered and takes nothing;
// the next waiter of the group gets the entries.
func TestBlockCancel(t *testing.T) {
	gl := openGroupLog(t, "")
	gl.do(&GroupCreate{Key: "s:1", Group: "g", EntriesRead: -1})
	first := gl.block(read("g", "c1", 0, "s:1"))
	second := gl.block(read("g", "c2", 0, "s:1"))
	registered(t, first)
	registered(t, second)
	if !first.w.Cancel() || first.w.Cancel() {
		t.Fatal("Cancel: want true once")
	}
	gl.add("s:1", "A")
	second.wait(t)
	if positionsOf(second.r.Streams) != "s:1:1" {
		t.Fatalf("second served %q", positionsOf(second.r.Streams))
	}
	first.notAnswered(t)
	want(t, "pending", gl.pendingOf("s:1", "g"), "1-0 c2 1")
	if second.w.Cancel() {
		t.Fatal("Cancel after being served returned true")
	}
	// Cancelled before its op ran: nothing at all happens.
	early := &blocked{r: read("g", "c3", 0, "s:1"), done: make(chan struct{})}
	release := make(chan struct{})
	inside := make(chan struct{})
	go gl.log.Exclusive(func(uint64) error { close(inside); <-release; return nil })
	<-inside
	early.w = gl.gs.Block(early.r, func() { close(early.done) })
	if !early.w.Cancel() {
		t.Fatal("Cancel before the op ran returned false")
	}
	close(release)
	gl.add("s:1", "B")
	gl.do(&PendingSummary{Key: "s:1", Group: "g"}) // a round after the op's
	early.notAnswered(t)
	want(t, "consumers", gl.consumersOf("s:1", "g"), "c1 p=0 active=false", "c2 p=1 active=true")
}

// TestBlockOrderAndCount: waiters of one group are served in the order
// they blocked, each with at most its COUNT; one without entries left
// waits for the next append.
func TestBlockOrderAndCount(t *testing.T) {
	gl := openGroupLog(t, "")
	gl.do(&GroupCreate{Key: "$ce-s", Group: "g", EntriesRead: -1})
	var bs []*blocked
	for i := range 3 {
		b := gl.block(read("g", fmt.Sprint("c", i), 2, "$ce-s"))
		registered(t, b)
		bs = append(bs, b)
	}
	gl.add("s:1", "A", "B", "C")
	bs[0].wait(t)
	bs[1].wait(t)
	bs[2].notAnswered(t)
	if got := positionsOf(bs[0].r.Streams) + " " + positionsOf(bs[1].r.Streams); got != "$ce-s:1,2 $ce-s:3" {
		t.Fatalf("served %q", got)
	}
	gl.add("t:1", "D")
	bs[2].notAnswered(t)
	gl.add("s:2", "E")
	bs[2].wait(t)
	if got := positionsOf(bs[2].r.Streams); got != "$ce-s:5" {
		t.Fatalf("third served %q", got)
	}
}

// TestBlockNoAckAndViews: a NOACK waiter leaves no pending entry; waiters
// on $all and a type are served by any matching append; a waiter on two
// keys is served with the first that has entries.
func TestBlockNoAckAndViews(t *testing.T) {
	gl := openGroupLog(t, "")
	for _, k := range []string{"$all", "$et-Paid", "a:1"} {
		gl.do(&GroupCreate{Key: k, Group: "g", EntriesRead: -1})
	}
	noack := read("g", "n", 0, "$all")
	noack.NoAck = true
	all := gl.block(noack)
	typ := gl.block(read("g", "t", 0, "a:1", "$et-Paid"))
	registered(t, all)
	registered(t, typ)
	gl.add("b:1", "Paid")
	all.wait(t)
	typ.wait(t)
	if got := positionsOf(all.r.Streams) + " " + positionsOf(typ.r.Streams); got != "$all:1 $et-Paid:1" {
		t.Fatalf("served %q", got)
	}
	want(t, "NOACK", gl.pendingOf("$all", "g"))
	want(t, "type", gl.pendingOf("$et-Paid", "g"), "1-0 t 1")
}

// TestBlockGroupDestroyedAndClose: destroying the group answers its
// waiters with a NoGroupError (Gone); closing the groups answers the rest
// with ErrClosed, and a Block after that at once.
func TestBlockGroupDestroyedAndClose(t *testing.T) {
	gl := openGroupLog(t, "")
	gl.do(&GroupCreate{Key: "s:1", Group: "g", EntriesRead: -1}, &GroupCreate{Key: "s:1", Group: "h", EntriesRead: -1})
	onG := gl.block(read("g", "c", 0, "s:1"))
	onH := gl.block(read("h", "c", 0, "s:1"))
	registered(t, onG)
	registered(t, onH)
	gl.do(&GroupDestroy{Key: "s:1", Group: "g"})
	onG.wait(t)
	var ng *NoGroupError
	if !errors.As(onG.r.Err, &ng) || !ng.Gone {
		t.Fatalf("destroyed group: %v", onG.r.Err)
	}
	onH.notAnswered(t)
	gl.gs.Close()
	onH.wait(t)
	if !errors.Is(onH.r.Err, ErrClosed) {
		t.Fatalf("closed: %v", onH.r.Err)
	}
	late := gl.block(read("h", "c", 0, "s:1"))
	late.wait(t)
	if !errors.Is(late.r.Err, ErrClosed) {
		t.Fatalf("after Close: %v", late.r.Err)
	}
}

// TestBlockCancelRace: waiters cancelled while appends serve them: each
// is either answered once with entries it then owns, or cancelled and
// never answered; no entry is pending for a cancelled one, and every
// entry is delivered once.
func TestBlockCancelRace(t *testing.T) {
	gl := openGroupLog(t, "")
	gl.do(&GroupCreate{Key: "$ce-r", Group: "g", EntriesRead: -1})
	const readers, rounds = 8, 40
	var mu sync.Mutex
	owned := map[uint64]string{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range readers {
		wg.Go(func() {
			name := fmt.Sprint("c", i)
			for {
				select {
				case <-stop:
					return
				default:
				}
				b := gl.block(read("g", name, 1, "$ce-r"))
				// Readers cancel after different delays, so that cancels
				// meet their ops before, during and after rounds.
				time.Sleep(time.Duration(i) * 50 * time.Microsecond)
				if b.w.Cancel() {
					continue
				}
				b.wait(t)
				if b.r.Err != nil {
					t.Error(b.r.Err)
					return
				}
				mu.Lock()
				for _, s := range b.r.Streams {
					for _, e := range s.Entries {
						if prev, ok := owned[e.Position]; ok {
							t.Errorf("entry %d delivered to %s and %s", e.Position, prev, name)
						}
						owned[e.Position] = name
					}
				}
				mu.Unlock()
			}
		})
	}
	for i := range rounds {
		gl.add(fmt.Sprint("r:", i%3), "E")
	}
	close(stop)
	wg.Wait()
	p := &PendingRange{Key: "$ce-r", Group: "g", End: MaxID, Count: 1 << 30}
	gl.do(p)
	if len(p.Entries) != len(owned) {
		t.Errorf("%d pending entries, %d delivered", len(p.Entries), len(owned))
	}
	for _, e := range p.Entries {
		if owned[e.ID.Ms] != e.Consumer {
			t.Errorf("%s is pending for %s, was delivered to %q", e.ID, e.Consumer, owned[e.ID.Ms])
		}
	}
	t.Logf("%d of %d entries delivered to waiters that were not cancelled", len(owned), rounds)
}

// Groups serve blocked reads as the log's watcher.
var _ eventlog.Watcher = (*Groups)(nil)

// TestBlockQueuedAtClose: a blocked read whose op runs after Close began
// is answered with ErrClosed, not left waiting.
func TestBlockQueuedAtClose(t *testing.T) {
	gl := openGroupLog(t, "")
	gl.do(&GroupCreate{Key: "s:1", Group: "g", EntriesRead: -1})
	inside, release := make(chan struct{}), make(chan struct{})
	go gl.log.Exclusive(func(uint64) error { close(inside); <-release; return nil })
	<-inside
	b := gl.block(read("g", "c", 0, "s:1"))
	closed := make(chan struct{})
	go func() { gl.gs.Close(); close(closed) }()
	for !gl.gs.closed.Load() {
		time.Sleep(time.Millisecond)
	}
	close(release)
	b.wait(t)
	if !errors.Is(b.r.Err, ErrClosed) {
		t.Fatalf("a read queued at Close: %v", b.r.Err)
	}
	<-closed
}

// TestOnPublish: every durable round that appends is told, with its
// positions and views; a round of ops alone is not.
func TestOnPublish(t *testing.T) {
	gl := openGroupLog(t, "")
	got := make(chan *Published, 10)
	gl.gs.OnPublish(func(p *Published) { got <- p }, nil)
	gl.add("a:1", "T1", "T2")
	gl.do(&GroupCreate{Key: "a:1", Group: "g", EntriesRead: -1})
	gl.add("b:2", "T1")
	var seen []string
	for range 2 {
		select {
		case p := <-got:
			seen = append(seen, fmt.Sprintf("%d-%d %v %v %v", p.First, p.Last, p.Streams, p.Categories, p.Types))
		case <-time.After(10 * time.Second):
			t.Fatal("no notification")
		}
	}
	want(t, "published", seen, "1-2 [a:1] [a] [T1 T2]", "3-3 [b:2] [b] [T1]")
	select {
	case p := <-got:
		t.Fatalf("an extra notification %+v", p)
	default:
	}
	p := &Published{Streams: []string{"a:1"}, Categories: []string{"a"}, Types: []string{"T1"}}
	for key, touches := range map[string]bool{"a:1": true, "a:2": false, "$all": true, "$ce-a": true, "$ce-b": false, "$et-T1": true, "$et-T2": false, "nope": false} {
		if p.Touches(ParseKey(key)) != touches {
			t.Errorf("Touches(%s) = %v", key, !touches)
		}
	}
	gl.gs.OnPublish(nil, nil)
	gl.add("c:1", "T1")
	gl.do(&PendingSummary{Key: "a:1", Group: "g"})
	select {
	case p := <-got:
		t.Fatalf("told after OnPublish(nil): %+v", p)
	default:
	}
}
