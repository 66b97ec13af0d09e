package streams

import (
	"fmt"
	"slices"
	"testing"
)

func TestReadersWakeByView(t *testing.T) {
	rs := NewReaders(0)
	var woke [5]int
	keys := []string{"account:1", "$all", "$ce-account", "$et-Opened", "$ce-order"}
	for i, k := range keys {
		if _, ok := rs.Wait([]View{ParseKey(k)}, 0, func() { woke[i]++ }); !ok {
			t.Fatalf("Wait(%s) refused", k)
		}
	}
	if rs.Len() != 5 {
		t.Fatalf("Len %d", rs.Len())
	}
	rs.Published(&Published{First: 1, Last: 1, Streams: []string{"account:2"}, Categories: []string{"account"}, Types: []string{"Opened"}})
	if woke != [5]int{0, 1, 1, 1, 0} {
		t.Fatalf("woken %v after an Opened in account:2", woke)
	}
	rs.Published(&Published{First: 2, Last: 2, Streams: []string{"account:1"}, Categories: []string{"account"}, Types: []string{"Deposited"}})
	if woke != [5]int{1, 1, 1, 1, 0} {
		t.Fatalf("woken %v: each reader once", woke)
	}
	if rs.Len() != 1 {
		t.Fatalf("Len %d after the wake-ups, want 1 ($ce-order)", rs.Len())
	}
}

// TestReadersBehind: a reader that read before a round that was published
// already is told to read again rather than wait for it.
func TestReadersBehind(t *testing.T) {
	rs := NewReaders(0)
	rs.Published(&Published{First: 1, Last: 3, Streams: []string{"a:1"}, Categories: []string{"a"}, Types: []string{"T"}})
	if _, ok := rs.Wait([]View{ParseKey("a:1")}, 2, func() { t.Error("woken instead of refused") }); ok {
		t.Fatal("a reader behind a published round was registered")
	}
	woke := 0
	if _, ok := rs.Wait([]View{ParseKey("a:1")}, 3, func() { woke++ }); !ok {
		t.Fatal("a reader up to date was refused")
	}
	rs.Published(&Published{First: 4, Last: 4, Streams: []string{"a:2"}, Categories: []string{"a"}, Types: []string{"T"}})
	if woke != 0 {
		t.Fatal("woken by another stream's round")
	}
}

func TestReadersCancel(t *testing.T) {
	rs := NewReaders(0)
	woke := 0
	r, _ := rs.Wait([]View{ParseKey("$all"), ParseKey("$ce-x")}, 0, func() { woke++ })
	if !rs.Cancel(r) {
		t.Fatal("Cancel of a waiting reader said it was woken")
	}
	if rs.Cancel(r) {
		t.Fatal("a second Cancel said it was waiting")
	}
	r2, _ := rs.Wait([]View{ParseKey("$all"), ParseKey("$ce-x")}, 0, func() { woke++ })
	rs.Published(&Published{First: 1, Last: 1, Streams: []string{"x:1"}, Categories: []string{"x"}, Types: []string{"T"}})
	if woke != 1 {
		t.Fatalf("woken %d times, want once though two of its views were touched", woke)
	}
	if rs.Cancel(r2) || rs.Len() != 0 || len(rs.byKey) != 0 {
		t.Fatalf("after the wake-up: Len %d, keys %d", rs.Len(), len(rs.byKey))
	}
}

// TestReadersWakeOnEvery: a round published without its views (no reader
// waited when it was staged) wakes every reader that read before it, once,
// and only those.
func TestReadersWakeOnEvery(t *testing.T) {
	rs := NewReaders(0)
	var before, after int
	if _, ok := rs.Wait([]View{ParseKey("$ce-order"), ParseKey("account:1")}, 0, func() { before++ }); !ok {
		t.Fatal("Wait refused")
	}
	rs.Published(&Published{First: 1, Last: 1, Every: true})
	if _, ok := rs.Wait([]View{ParseKey("account:1")}, 1, func() { after++ }); !ok {
		t.Fatal("Wait after the round refused")
	}
	rs.Published(&Published{First: 1, Last: 1, Every: true}) // the same round told again
	if before != 1 || after != 0 || rs.Len() != 1 {
		t.Fatalf("woken %d and %d, %d waiting; want 1, 0, 1", before, after, rs.Len())
	}
	if !rs.Waiting() {
		t.Fatal("Waiting is false with a reader waiting")
	}
}

// TestNamesInFirstOrder: names keeps each name once, in the order of its
// first sight, across the switch from its list to its set.
func TestNamesInFirstOrder(t *testing.T) {
	var n names
	var want []string
	for i := range 100 {
		s := fmt.Sprintf("s%d", (i*7)%40)
		n.add(s)
		if !slices.Contains(want, s) {
			want = append(want, s)
		}
	}
	if !slices.Equal(n.list, want) {
		t.Fatalf("names %v, want %v", n.list, want)
	}
}
