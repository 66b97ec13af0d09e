package eventlog

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit"
)

// syncGate holds the syncer's fdatasyncs until the test lets each one go,
// with the error it gives.
type syncGate struct {
	entered chan struct{}
	release chan error
}

func gateSyncs(t *testing.T) (*Log, *syncGate) {
	t.Helper()
	opts := DefaultOptions()
	opts.Durability = DurabilityAlways
	dir := t.TempDir()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	g := &syncGate{entered: make(chan struct{}, 16), release: make(chan error)}
	l.beforeSync = func() error {
		g.entered <- struct{}{}
		return <-g.release
	}
	t.Cleanup(func() {
		close(g.release) // lets any later fsync through
		l.Close()
	})
	return l, g
}

func (g *syncGate) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no fdatasync started")
	}
}

// appendAsync submits one append to the writer and returns a channel
// that is closed once it is answered.
func appendAsync(l *Log, a *Append) chan struct{} {
	done := make(chan struct{})
	l.AppendAsync([]*Append{a}, func() { close(done) })
	return done
}

func waitDone(t *testing.T, done chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not answered", what)
	}
}

// TestPipelineStagesOnTopOfSyncing: while round N's fdatasync runs, round
// N+1 is staged on top of it (its EXPECT sees N's event), nothing of
// either is readable or answered, and both are answered in order once
// their own fsyncs end.
func TestPipelineStagesOnTopOfSyncing(t *testing.T) {
	l, g := gateSyncs(t)
	rec := &recorder{}
	l.SetApplier(rec)
	a := &Append{Stream: "x:1", Expect: Expect{ExpectVersion, 0}, Events: []Proposed{ev("A", `{}`)}}
	aDone := appendAsync(l, a)
	g.waitEntered(t) // N's fsync runs
	b := &Append{Stream: "x:1", Expect: Expect{ExpectVersion, 1}, Events: []Proposed{ev("B", `{}`)}}
	bDone := appendAsync(l, b)
	testkit.WaitFor(t, "N+1 staged", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.sealed) == 1 && len(rec.staged) == 1
	})
	select {
	case <-aDone:
		t.Fatal("N answered before its fsync ended")
	default:
	}
	if v, err := l.Version("x:1"); err != nil || v != 0 {
		t.Fatalf("Version while N syncs = %d, %v; want 0", v, err)
	}
	if evs, err := l.Read("x:1", 0, 0, false); err != nil || len(evs) != 0 {
		t.Fatalf("Read while N syncs: %d events, %v", len(evs), err)
	}
	if evs, err := l.Read("x:1", 0, 0, true); err != nil || len(evs) != 0 {
		t.Fatalf("Read backwards while N syncs: %d events, %v", len(evs), err)
	}
	if evs, err := l.Range(1, 0, nil); err != nil || len(evs) != 0 {
		t.Fatalf("Range while N syncs: %d events, %v", len(evs), err)
	}
	if n, err := l.CountSubset(Subset{Kind: SubsetStream, Name: "x:1"}); err != nil || n != 0 {
		t.Fatalf("CountSubset while N syncs = %d, %v", n, err)
	}
	g.release <- nil // N durable
	waitDone(t, aDone, "N")
	if a.Result.Err != nil || a.Result.Position != 1 {
		t.Fatalf("N: %+v", a.Result)
	}
	if l.LastPosition() != 1 {
		t.Fatalf("last %d after N landed, want 1", l.LastPosition())
	}
	select {
	case <-bDone:
		t.Fatal("N+1 answered before its own fsync")
	default:
	}
	g.waitEntered(t) // N+1's fsync
	g.release <- nil
	waitDone(t, bDone, "N+1")
	if b.Result.Err != nil || b.Result.Version != 2 || b.Result.Position != 2 {
		t.Fatalf("N+1: %+v (its EXPECT 1 must see N)", b.Result)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if fmt.Sprint(rec.published) != "[x:1@1 x:1@2]" || rec.lastPub != 2 {
		t.Fatalf("published %v up to %d", rec.published, rec.lastPub)
	}
}

// TestPipelineFailedSync: a failed fdatasync fails its round and the round
// staged on top of it, shows neither to readers or to the state, and
// refuses every later append.
func TestPipelineFailedSync(t *testing.T) {
	l, g := gateSyncs(t)
	rec := &recorder{}
	l.SetApplier(rec)
	a := &Append{Stream: "x:1", Events: []Proposed{ev("A", `{}`)}}
	aDone := appendAsync(l, a)
	g.waitEntered(t)
	b := &Append{Stream: "y:1", Events: []Proposed{ev("B", `{}`)}}
	bDone := appendAsync(l, b)
	testkit.WaitFor(t, "N+1 staged", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.sealed) == 1 && len(rec.staged) == 1
	})
	g.release <- errors.New("injected fdatasync failure")
	waitDone(t, aDone, "N")
	waitDone(t, bDone, "N+1")
	for name, r := range map[string]Result{"N": a.Result, "N+1": b.Result} {
		if !errors.Is(r.Err, ErrFailed) {
			t.Errorf("%s: %+v, want ErrFailed", name, r)
		}
	}
	if l.LastPosition() != 0 {
		t.Fatalf("last %d after a failed fsync", l.LastPosition())
	}
	for _, s := range []string{"x:1", "y:1"} {
		if v, err := l.Version(s); err != nil || v != 0 {
			t.Fatalf("Version(%s) = %d, %v", s, v, err)
		}
		if evs, err := l.Read(s, 0, 0, false); err != nil || len(evs) != 0 {
			t.Fatalf("Read(%s): %d events, %v", s, len(evs), err)
		}
	}
	if evs, err := l.Range(1, 0, nil); err != nil || len(evs) != 0 {
		t.Fatalf("Range: %d events, %v", len(evs), err)
	}
	for pos := uint64(1); pos <= 2; pos++ {
		if _, err := l.Event(pos); err == nil {
			t.Fatalf("position %d of a failed round is readable", pos)
		}
	}
	rec.mu.Lock()
	if len(rec.published) != 0 || rec.discards == 0 || len(rec.sealed) != 0 {
		t.Fatalf("state: published %v, discards %d, sealed %v", rec.published, rec.discards, rec.sealed)
	}
	rec.mu.Unlock()
	if r := appendOne(l, Append{Stream: "z:1", Events: []Proposed{ev("C", `{}`)}}); !errors.Is(r.Err, ErrFailed) {
		t.Fatalf("an append after the failure: %+v", r)
	}
}
