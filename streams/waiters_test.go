package streams

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foldb/foldb/eventlog"
)

type memLog struct {
	mu     sync.Mutex
	events []eventlog.Event
}

func (m *memLog) add(stream, typ string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := uint64(len(m.events) + 1)
	m.events = append(m.events, eventlog.Event{Position: p, Stream: stream, Type: typ})
	return p
}

func (m *memLog) Scan(from, to uint64, fn func(e *eventlog.Event) error) error {
	m.mu.Lock()
	evs := m.events
	m.mu.Unlock()
	for i := range evs {
		if p := evs[i].Position; p >= from && p <= to {
			if err := fn(&evs[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWaitersWakeByView(t *testing.T) {
	lg := &memLog{}
	ws := NewWaiters(lg, nil)
	ws.Start(0)
	defer ws.Stop()
	var woke [5]atomic.Int32
	keys := []string{"account:1", "$all", "$ce-account", "$et-Opened", "$ce-order"}
	for i, k := range keys {
		if _, ok := ws.Wait([]View{ParseKey(k)}, 0, func() { woke[i].Add(1) }); !ok {
			t.Fatalf("Wait(%s) refused", k)
		}
	}
	if ws.Len() != 5 {
		t.Fatalf("Len %d", ws.Len())
	}
	ws.Committed(lg.add("account:2", "Opened"))
	eventually(t, "three wake-ups", func() bool { return woke[1].Load()+woke[2].Load()+woke[3].Load() == 3 })
	if woke[0].Load() != 0 || woke[4].Load() != 0 {
		t.Fatalf("woke readers of other views: %d %d", woke[0].Load(), woke[4].Load())
	}
	ws.Committed(lg.add("account:1", "Deposited"))
	eventually(t, "account:1's wake-up", func() bool { return woke[0].Load() == 1 })
	for i := range woke[:4] {
		if n := woke[i].Load(); n != 1 {
			t.Fatalf("reader %d woken %d times", i, n)
		}
	}
	if ws.Len() != 1 {
		t.Fatalf("Len %d after wake-ups, want 1 ($ce-order)", ws.Len())
	}
}

// TestWaitersBehind: a reader that read before events the goroutine has
// matched already is told to read again rather than wait for them.
func TestWaitersBehind(t *testing.T) {
	lg := &memLog{}
	ws := NewWaiters(lg, nil)
	ws.Start(0)
	defer ws.Stop()
	var woke atomic.Int32
	// Someone must wait for the goroutine to scan at all.
	ws.Wait([]View{ParseKey("$ce-other")}, 0, func() { woke.Add(1) })
	p := lg.add("account:1", "Opened")
	ws.Committed(p)
	eventually(t, "the scan", func() bool {
		ws.mu.Lock()
		defer ws.mu.Unlock()
		return ws.scanned == p
	})
	if _, ok := ws.Wait([]View{ParseKey("account:1")}, 0, func() { t.Error("woken instead of refused") }); ok {
		t.Fatal("a reader behind the matched events was registered")
	}
	if _, ok := ws.Wait([]View{ParseKey("account:1")}, p, func() {}); !ok {
		t.Fatal("a reader up to date was refused")
	}
}

func TestWaitersCancel(t *testing.T) {
	lg := &memLog{}
	ws := NewWaiters(lg, nil)
	ws.Start(0)
	defer ws.Stop()
	var woke atomic.Int32
	w, _ := ws.Wait([]View{ParseKey("$all")}, 0, func() { woke.Add(1) })
	if !ws.Cancel(w) {
		t.Fatal("Cancel of a waiting reader said it was woken")
	}
	if ws.Cancel(w) {
		t.Fatal("a second Cancel said it was waiting")
	}
	w2, _ := ws.Wait([]View{ParseKey("$all")}, 0, func() { woke.Add(1) })
	ws.Committed(lg.add("a:1", "T"))
	eventually(t, "the wake-up", func() bool { return woke.Load() == 1 })
	if ws.Cancel(w2) {
		t.Fatal("Cancel after the wake-up said it was waiting")
	}
	if ws.Len() != 0 {
		t.Fatalf("Len %d", ws.Len())
	}
}
