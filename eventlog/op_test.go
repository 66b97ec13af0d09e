package eventlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/foldb/foldb/internal/testkit"
)

// setOp is an op that sets each key to its value, or deletes it when the
// value is empty; a key ending in '*' deletes that prefix.
func setOp(kvs ...string) *Op {
	return &Op{Stage: func(b *OpBatch) error {
		for i := 0; i < len(kvs); i += 2 {
			k, v := kvs[i], kvs[i+1]
			switch {
			case strings.HasSuffix(k, "*"):
				b.DeletePrefix([]byte(strings.TrimSuffix(k, "*")))
			case v == "":
				b.Delete([]byte(k))
			default:
				b.Set([]byte(k), []byte(v))
			}
		}
		return nil
	}}
}

// opKeys are the op keys Pebble holds, as "key=value" in key order.
func opKeys(t testing.TB, l *Log) []string {
	t.Helper()
	var out []string
	err := l.ScanOpKeys(func(k, v []byte) error {
		out = append(out, string(k)+"="+string(v))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wantKeys(t testing.TB, l *Log, want ...string) {
	t.Helper()
	got := opKeys(t, l)
	if slices.Equal(got, want) {
		return
	}
	if len(got)+len(want) <= 10 {
		t.Fatalf("op keys %q, want %q", got, want)
	}
	i := 0
	for i < min(len(got), len(want)) && got[i] == want[i] {
		i++
	}
	short := func(s []string) string {
		if i >= len(s) {
			return "(none)"
		}
		return fmt.Sprintf("%.40q", s[i])
	}
	t.Fatalf("%d op keys, want %d; key %d is %s, want %s", len(got), len(want), i, short(got), short(want))
}

// holdWriter keeps the writer busy in an Exclusive until the returned
// function is called, so that what is submitted meanwhile makes one round.
func holdWriter(t *testing.T, l *Log) (release func()) {
	t.Helper()
	inside, done := make(chan struct{}), make(chan struct{})
	go l.Exclusive(func(uint64) error { close(inside); <-done; return nil })
	<-inside
	return func() { close(done) }
}

// TestOpsRunInSubmissionOrder: a round's ops run after the appends and ops
// submitted before them, all with the round's clock; an op sees the
// committed position from before the round and writes only op keys.
func TestOpsRunInSubmissionOrder(t *testing.T) {
	l := openTest(t, DefaultOptions())
	rec := &recorder{}
	l.SetApplier(rec)
	appendOne(l, Append{Stream: "x:1", Events: []Proposed{ev("A", `{}`)}})

	var mu sync.Mutex
	var order []string
	var times []int64
	op := func(name string) *Op {
		return &Op{Stage: func(b *OpBatch) error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, fmt.Sprintf("%s staged %v, committed %d", name, rec.staged, b.Committed()))
			times = append(times, b.Now())
			b.Set([]byte(name), []byte("v"))
			return nil
		}}
	}
	release := holdWriter(t, l)
	var wg sync.WaitGroup
	a := &Append{Stream: "x:2", Events: []Proposed{ev("A", `{}`)}}
	wg.Add(2)
	l.AppendAsync([]*Append{a}, wg.Done)
	o1, o2 := op("o1"), op("o2")
	l.DoAsync([]*Op{o1, o2}, wg.Done)
	rounds := l.Stats().Rounds
	release()
	wg.Wait()
	if o1.Err != nil || o2.Err != nil || a.Result.Err != nil {
		t.Fatalf("results %v %v %+v", o1.Err, o2.Err, a.Result)
	}
	want := []string{"o1 staged [x:2@2], committed 1", "o2 staged [x:2@2], committed 1"}
	if !slices.Equal(order, want) {
		t.Fatalf("order %q, want %q", order, want)
	}
	if got := l.Stats().Rounds - rounds; got != 1 {
		t.Errorf("%d rounds, want one", got)
	}
	ev2, err := l.Event(2)
	if err != nil {
		t.Fatal(err)
	}
	if times[0] != ev2.Time || times[1] != ev2.Time {
		t.Errorf("ops' clock %v, the round's append has time %d", times, ev2.Time)
	}
	wantKeys(t, l, "o1=v", "o2=v")
}

// TestOpRefused: a refused op's writes and callbacks are dropped; the ops
// around it in the round keep theirs.
func TestOpRefused(t *testing.T) {
	l := openTest(t, DefaultOptions())
	called := 0
	bad := &Op{Stage: func(b *OpBatch) error {
		b.Set([]byte("bad"), []byte("1"))
		b.AfterCommit(func(error) { called++ })
		return errors.New("refused")
	}}
	good1, good2 := setOp("a", "1"), setOp("b", "2")
	l.Do(good1, bad, good2)
	if good1.Err != nil || good2.Err != nil || bad.Err == nil || bad.Err.Error() != "refused" {
		t.Fatalf("results %v %v %v", good1.Err, bad.Err, good2.Err)
	}
	if called != 0 {
		t.Errorf("a refused op's AfterCommit ran %d times", called)
	}
	wantKeys(t, l, "a=1", "b=2")
}

// TestOpOnlyRounds: a round of ops alone that writes commits (one journal
// record, no position); one that writes nothing commits nothing. Deletes
// and prefix deletes apply in order.
func TestOpOnlyRounds(t *testing.T) {
	l := openTest(t, DefaultOptions())
	appendOne(l, Append{Stream: "x:1", Events: []Proposed{ev("A", `{}`)}})
	l.Do(setOp("g1a", "1", "g1b", "2", "g2a", "3"))
	off := l.journal.off
	rounds := l.Stats().Rounds
	read := &Op{Stage: func(*OpBatch) error { return nil }}
	l.Do(read)
	if read.Err != nil || l.journal.off != off || l.Stats().Rounds != rounds {
		t.Fatalf("a round that writes nothing: %v, journal %d -> %d, rounds %d -> %d", read.Err, off, l.journal.off, rounds, l.Stats().Rounds)
	}
	l.Do(setOp("g1*", "", "g1c", "4", "g2a", ""))
	if l.journal.off == off || l.Stats().Rounds != rounds+1 || l.LastPosition() != 1 {
		t.Fatalf("an op-only round: journal %d -> %d, rounds %d -> %d, last %d", off, l.journal.off, rounds, l.Stats().Rounds, l.LastPosition())
	}
	wantKeys(t, l, "g1c=4")
}

// TestOpsAfterAFailedCommit: once a commit fails, ops are refused with
// ErrFailed without being staged, and the ops of the failed round are
// answered with its error.
func TestOpsAfterAFailedCommit(t *testing.T) {
	l := openTest(t, DefaultOptions())
	l.Do(setOp("k", "1"))
	var after error
	o := setOp("k", "2")
	watched := &Op{Stage: func(b *OpBatch) error {
		b.AfterCommit(func(err error) { after = err })
		return nil
	}}
	l.journal.f.Close() // the next write fails
	a := &Append{Stream: "x:1", Events: []Proposed{ev("A", `{}`)}}
	release := holdWriter(t, l)
	var wg sync.WaitGroup
	wg.Add(2)
	l.AppendAsync([]*Append{a}, wg.Done)
	l.DoAsync([]*Op{o, watched}, wg.Done)
	release()
	wg.Wait()
	if !errors.Is(a.Result.Err, ErrFailed) || !errors.Is(o.Err, ErrFailed) || !errors.Is(watched.Err, ErrFailed) || !errors.Is(after, ErrFailed) {
		t.Fatalf("failed round: append %v, ops %v %v, AfterCommit %v", a.Result.Err, o.Err, watched.Err, after)
	}
	staged := false
	later := &Op{Stage: func(*OpBatch) error { staged = true; return nil }}
	l.Do(later)
	if !errors.Is(later.Err, ErrFailed) || staged {
		t.Fatalf("op after the failure: %v, staged %v", later.Err, staged)
	}
	wantKeys(t, l, "k=1")
}

func TestOpsOnAClosedLog(t *testing.T) {
	l, err := Open(t.TempDir(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	o := setOp("k", "1")
	l.Do(o)
	if !errors.Is(o.Err, ErrClosed) {
		t.Fatalf("Do: %v", o.Err)
	}
	o.Err = nil
	called := false
	l.DoAsync([]*Op{o}, func() { called = true })
	if !called || !errors.Is(o.Err, ErrClosed) {
		t.Fatalf("DoAsync: called %v, %v", called, o.Err)
	}
}

// watcher writes a key per event it is shown and records its callbacks.
type watcher struct {
	mu     sync.Mutex
	seen   []string
	after  []string
	notify chan struct{}
}

func (w *watcher) Waiting() bool { return false }

func (w *watcher) Staged(b *OpBatch, events []Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var names []string
	for _, e := range events {
		name := fmt.Sprintf("%s@%d", e.Type, e.Position)
		names = append(names, name)
		b.Set([]byte("w"+name), nil)
	}
	w.seen = append(w.seen, strings.Join(names, ","))
	b.AfterCommit(func(err error) {
		w.mu.Lock()
		w.after = append(w.after, fmt.Sprintf("%s %v", strings.Join(names, ","), err))
		w.mu.Unlock()
		if w.notify != nil {
			w.notify <- struct{}{}
		}
	})
}

// TestWatcher: the watcher sees each round's events, with the writer and
// with AppendNow; what it writes commits with them, and its callbacks run
// once the round is durable. A round without events does not call it.
func TestWatcher(t *testing.T) {
	l := openTest(t, DefaultOptions())
	w := &watcher{}
	l.SetWatcher(w)
	release := holdWriter(t, l)
	var wg sync.WaitGroup
	wg.Add(3)
	l.AppendAsync([]*Append{{Stream: "x:1", Events: []Proposed{ev("A", `{}`), ev("B", `{}`)}}}, wg.Done)
	l.DoAsync([]*Op{setOp("k", "1")}, wg.Done)
	l.AppendAsync([]*Append{{Stream: "x:2", Events: []Proposed{ev("C", `{}`)}}, {Stream: "bad", Events: []Proposed{ev("D", `{}`)}}}, wg.Done)
	release()
	wg.Wait()
	l.Do(setOp("k", "2"))
	if !l.AppendNow([]*Append{{Stream: "x:3", Events: []Proposed{ev("E", `{}`)}}}) {
		t.Fatal("AppendNow did not run")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if want := []string{"A@1,B@2,C@3", "E@4"}; !slices.Equal(w.seen, want) {
		t.Errorf("watcher saw %q, want %q", w.seen, want)
	}
	if want := []string{"A@1,B@2,C@3 <nil>", "E@4 <nil>"}; !slices.Equal(w.after, want) {
		t.Errorf("callbacks %q, want %q", w.after, want)
	}
	wantKeys(t, l, "k=2", "wA@1=", "wB@2=", "wC@3=", "wE@4=")
}

// TestOpsAfterImport: after an Import, an op's round is journaled after
// the imported events and an append gets the next position, so a crash
// image keeps both, and a read-only open of the image sees the op keys
// the journal holds, as the next open applies them.
func TestOpsAfterImport(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	evs := []Event{
		{Stream: "account:1", Type: "Opened", Data: []byte(`{}`), Time: 5},
		{Stream: "account:2", Type: "Opened", Data: []byte(`{}`), Time: 6},
	}
	if err := l.Import(evs, false); err != nil {
		t.Fatal(err)
	}
	op := setOp("k", "v")
	l.Do(op)
	if op.Err != nil {
		t.Fatal(op.Err)
	}
	if r := appendOne(l, Append{Stream: "account:1", Events: []Proposed{ev("A", `{}`)}}); r.Err != nil || r.Position != 3 {
		t.Fatalf("append after the import: %+v", r)
	}
	crash := testkit.CrashImage(t, dir)
	if err := os.WriteFile(filepath.Join(crash, "LOCK"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ro, _, err := OpenReadOnly(crash, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if ro.LastPosition() != 3 {
		t.Fatalf("read-only: last position %d", ro.LastPosition())
	}
	wantKeys(t, ro, "k=v")
	ro.Close()
	re, err := Open(crash, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	if re.LastPosition() != 3 {
		t.Fatalf("after the crash: last position %d", re.LastPosition())
	}
	wantKeys(t, re, "k=v")
}

// lazyOp is setOp whose writes answer nothing yet (OpBatch.Lazy).
func lazyOp(kvs ...string) *Op {
	op := setOp(kvs...)
	stage := op.Stage
	op.Stage = func(b *OpBatch) error {
		b.Lazy()
		return stage(b)
	}
	return op
}

// TestLazyOpRounds: under always, a round of lazy op writes only is
// written and answered without an fsync (here every fsync fails, and it
// still succeeds), and the ops after it see its writes; but the next round
// that answers anything waits for an fsync, even a read that writes
// nothing, and a round with one op that is not lazy is fsynced whatever
// else it holds.
func TestLazyOpRounds(t *testing.T) {
	open := func(t *testing.T) (*Log, *atomic.Bool) {
		l := openTest(t, DefaultOptions())
		fault := failSyncs(t, l.dir)
		fault.Store(true)
		return l, fault
	}
	read := func() *Op { return &Op{Stage: func(*OpBatch) error { return nil }} }
	t.Run("lazy, then lazy, then a read", func(t *testing.T) {
		l, _ := open(t)
		for _, kv := range [][2]string{{"a", "1"}, {"b", "2"}} {
			lazy := lazyOp(kv[0], kv[1])
			l.Do(lazy)
			if lazy.Err != nil || l.Err() != nil {
				t.Fatalf("a lazy round: %v, the log: %v", lazy.Err, l.Err())
			}
		}
		wantKeys(t, l, "a=1", "b=2")
		r := read()
		l.Do(r)
		if !errors.Is(r.Err, ErrFailed) {
			t.Fatalf("a read after lazy rounds: %v, want ErrFailed from their fsync", r.Err)
		}
	})
	t.Run("a read with nothing lazy before it", func(t *testing.T) {
		l, _ := open(t)
		r := read()
		l.Do(r)
		if r.Err != nil {
			t.Fatalf("a read: %v", r.Err)
		}
	})
	t.Run("lazy and durable in one round", func(t *testing.T) {
		l, _ := open(t)
		lazy, durable := lazyOp("b", "2"), setOp("c", "3")
		release := holdWriter(t, l) // one round
		var wg sync.WaitGroup
		wg.Add(1)
		l.DoAsync([]*Op{lazy, durable}, wg.Done)
		release()
		wg.Wait()
		if !errors.Is(lazy.Err, ErrFailed) || !errors.Is(durable.Err, ErrFailed) {
			t.Fatalf("lazy %v, durable %v, want ErrFailed from the fsync", lazy.Err, durable.Err)
		}
	})
	t.Run("lazy, then an append", func(t *testing.T) {
		l, _ := open(t)
		l.Do(lazyOp("a", "1"))
		if r := appendOne(l, Append{Stream: "x:1", Events: []Proposed{ev("A", `{}`)}}); !errors.Is(r.Err, ErrFailed) {
			t.Fatalf("an append: %v, want ErrFailed", r.Err)
		}
	})
}

// TestLazyWritesLastWithTheNextRound: a lazy round is in the journal
// ahead of the round after it, whose fsync keeps both: a crash image of the
// open log (its journal not emptied into Pebble's tables) opens with both.
func TestLazyWritesLastWithTheNextRound(t *testing.T) {
	l := openTest(t, DefaultOptions())
	l.Do(lazyOp("a", "1"))
	if r := appendOne(l, Append{Stream: "x:1", Events: []Proposed{ev("A", `{}`)}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	crash := testkit.CrashImage(t, l.dir)
	again, err := Open(crash, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := again.LastPosition(); got != 1 {
		t.Fatalf("last position %d after the crash, want 1", got)
	}
	wantKeys(t, again, "a=1")
}
