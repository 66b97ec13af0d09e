package eventlog

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// failSyncs makes every journal fdatasync of a file under dir fail with
// EIO while the returned flag is set.
func failSyncs(t *testing.T, dir string) *atomic.Bool {
	t.Helper()
	on := &atomic.Bool{}
	fn := func(f *os.File) error {
		if on.Load() && strings.HasPrefix(f.Name(), dir) {
			return syscall.EIO
		}
		return nil
	}
	syncFault.Store(&fn)
	t.Cleanup(func() { syncFault.Store(nil) })
	return on
}

// TestFailedFsync: a failed fdatasync fails every append of its round with
// ErrFailed, and every later one; nothing of the round is readable; Close
// reports the failure; the log opens again with what was acknowledged.
func TestFailedFsync(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if r := appendOne(l, Append{Stream: "acct:1", Events: []Proposed{ev("Opened", `{}`)}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	fault := failSyncs(t, dir)
	fault.Store(true)
	a := &Append{Stream: "acct:1", Events: []Proposed{ev("Deposited", `{"n":1}`)}}
	b := &Append{Stream: "acct:2", Events: []Proposed{ev("Opened", `{}`), ev("Deposited", `{"n":2}`)}}
	release := holdWriter(t, l) // a and b go into one round
	var wg sync.WaitGroup
	wg.Add(2)
	l.AppendAsync([]*Append{a}, wg.Done)
	l.AppendAsync([]*Append{b}, wg.Done)
	release()
	wg.Wait()
	for _, x := range []*Append{a, b} {
		if !errors.Is(x.Result.Err, ErrFailed) || !strings.Contains(x.Result.Err.Error(), "input/output error") {
			t.Fatalf("append of the failed round: %v", x.Result.Err)
		}
	}
	fault.Store(false) // the disk is back: the log stays failed until it is reopened
	if r := appendOne(l, Append{Stream: "acct:3", Events: []Proposed{ev("Opened", `{}`)}}); !errors.Is(r.Err, ErrFailed) {
		t.Fatalf("append after the failure: %v", r.Err)
	}
	if !errors.Is(l.Err(), ErrFailed) {
		t.Fatalf("Err: %v", l.Err())
	}
	if got := l.LastPosition(); got != 1 {
		t.Fatalf("last position %d, want 1", got)
	}
	for _, s := range []string{"acct:1", "acct:2"} {
		evs, err := l.Read(s, 1, 10, false)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"acct:1": 1, "acct:2": 0}[s]; len(evs) != want {
			t.Fatalf("%s: %d events readable, want %d", s, len(evs), want)
		}
	}
	if _, err := l.Event(2); err == nil {
		t.Fatal("position 2, of the failed round, is readable")
	}
	if err := l.Close(); !errors.Is(err, ErrFailed) {
		t.Fatalf("Close: %v", err)
	}

	l, err = Open(dir, DefaultOptions())
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer l.Close()
	evs, err := l.Read("acct:1", 1, 10, false)
	if err != nil || len(evs) == 0 || evs[0].Type != "Opened" {
		t.Fatalf("acknowledged event after reopen: %v %v", evs, err)
	}
	// The failed round's record reached the OS before its fdatasync
	// failed: it may or may not be back, but only whole (its outcome was
	// unknown, as the error said).
	last := l.LastPosition()
	if last != 1 && last != 4 {
		t.Fatalf("last position after reopen %d, want 1 or 4", last)
	}
	t.Logf("last position after reopen: %d", last)
	if r := appendOne(l, Append{Stream: "acct:3", Events: []Proposed{ev("Opened", `{}`)}}); r.Err != nil {
		t.Fatalf("append after reopen: %v", r.Err)
	}
}

// TestPebbleErrorsFailTheLog: an error Pebble logs that the OS caused fails
// the log once; a burst of them is logged once; a Fatalf on such an error
// does not panic; Close of the failed log returns the failure.
func TestPebbleErrorsFailTheLog(t *testing.T) {
	var records atomic.Int64
	opts := DefaultOptions()
	opts.Logger = slog.New(countHandler{&records})
	l := openTest(t, opts)
	enospc := &fs.PathError{Op: "write", Path: "000008.sst", Err: syscall.ENOSPC}
	for range 1000 {
		pebbleLogger{l}.Errorf("background error: %v", enospc)
	}
	if !errors.Is(l.Err(), ErrFailed) || !strings.Contains(l.Err().Error(), "no space left on device") {
		t.Fatalf("Err after Pebble's errors: %v", l.Err())
	}
	// One for the first of Pebble's errors, one for the failure.
	if n := records.Load(); n != 2 {
		t.Fatalf("%d records logged for 1000 errors, want 2", n)
	}
	l.pebbleErrors.last = time.Now().Add(-errorLogEvery)
	pebbleLogger{l}.Errorf("background error: %v", enospc)
	if n := records.Load(); n != 3 {
		t.Fatalf("%d records after %s, want 3", n, errorLogEvery)
	}

	// A Fatalf that an OS error caused fails the log and returns; any
	// other panics.
	l2 := openTest(t, DefaultOptions())
	pebbleLogger{l2}.Fatalf("%s", &fs.PathError{Op: "sync", Path: "MANIFEST-000001", Err: syscall.EIO})
	if !errors.Is(l2.Err(), ErrFailed) {
		t.Fatalf("Err after a Fatalf on EIO: %v", l2.Err())
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("a Fatalf on a broken invariant did not panic")
			}
		}()
		pebbleLogger{l2}.Fatalf("mergingIter: lower bound violation: %s < %s", "b", "a")
	}()

	done := make(chan error, 1)
	go func() { done <- l.Close() }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrFailed) {
			t.Fatalf("Close of a failed log: %v", err)
		}
	case <-time.After(failedCloseGrace + 5*time.Second):
		t.Fatal("Close of a failed log hangs")
	}
}

// countHandler counts the records at Error level.
type countHandler struct{ n *atomic.Int64 }

func (h countHandler) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelError }
func (h countHandler) Handle(context.Context, slog.Record) error     { h.n.Add(1); return nil }
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler            { return h }
func (h countHandler) WithGroup(string) slog.Handler                 { return h }
