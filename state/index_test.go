package state

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// checkIndex compares an index with the map it should hold.
func checkIndex(t *testing.T, x *index, want map[string]Entity) {
	t.Helper()
	if x.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", x.Len(), len(want))
	}
	for id, e := range want {
		if got, ok := x.Get(id); !ok || got != e {
			t.Fatalf("Get(%q) = %q, %v; want %q", id, got, ok, e)
		}
	}
	// The same lookups a batch at a time (index.getBatch), with ids that are not there
	// among them.
	ids := slices.Sorted(maps.Keys(want))
	for i := range len(want) / 4 {
		ids = append(ids, fmt.Sprintf("absent-%d", i))
	}
	var b batch
	for len(ids) > 0 {
		n := min(len(ids), 1+len(ids)%lookupBatch)
		for _, id := range ids[:n] {
			b.add(id)
		}
		x.getBatch(&b)
		for i, id := range ids[:n] {
			if b.out[i] != want[id] {
				t.Fatalf("getBatch gave %q for %q, want %q", b.out[i], id, want[id])
			}
		}
		b.reset()
		ids = ids[n:]
	}
	seen := map[string]bool{}
	x.Scan(func(e Entity) bool {
		if seen[e.ID()] {
			t.Fatalf("Scan gave %q twice", e.ID())
		}
		seen[e.ID()] = true
		if want[e.ID()] != e {
			t.Fatalf("Scan gave %q, want %q", e, want[e.ID()])
		}
		return true
	})
	if len(seen) != len(want) {
		t.Fatalf("Scan gave %d entities, want %d", len(seen), len(want))
	}
}

func TestIndexAgainstMap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ids   int // distinct ids drawn from
		ops   int
		sized int // the index is laid out for this many (newIndexSized), 0: newIndex
	}{
		{"few", 5, 200, 0},
		{"one page", 500, 5000, 0},
		{"splits", 20000, 60000, 0},
		// Pages of a number of slots that is no power of two, full to
		// where they grow.
		{"sized, one page", 500, 5000, 300},
		{"sized, grows", 20000, 60000, 9000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(tc.ids)))
			x := newIndex()
			if tc.sized > 0 {
				x = newIndexSized(tc.sized)
			}
			want := map[string]Entity{}
			type frozen struct {
				view *index
				want map[string]Entity
			}
			var views []frozen
			for op := range tc.ops {
				id := fmt.Sprint(r.IntN(tc.ids))
				switch k := r.IntN(10); {
				case k < 7:
					e := packEntity(id, uint64(op), []byte(`{}`))
					x.Set(e)
					want[id] = e
				case k < 9:
					x.Delete(id)
					delete(want, id)
				default:
					if r.IntN(50) == 0 {
						views = append(views, frozen{x.freeze(), maps.Clone(want)})
					}
				}
			}
			checkIndex(t, x, want)
			for _, v := range views {
				checkIndex(t, v.view, v.want)
			}
		})
	}
}

func TestIndexDeleteAll(t *testing.T) {
	x := newIndex()
	for i := range 5000 {
		x.Set(packEntity(fmt.Sprint(i), 1, []byte(`{}`)))
	}
	v := x.freeze()
	for i := range 5000 {
		x.Delete(fmt.Sprint(i))
	}
	checkIndex(t, x, map[string]Entity{})
	if v.Len() != 5000 {
		t.Fatalf("the frozen view lost entities: %d", v.Len())
	}
	x.Delete("missing")
	if x.Len() != 0 {
		t.Fatalf("Len = %d after deleting a missing id", x.Len())
	}
}

// TestIndexSized: an index laid out for n entities takes them without a
// page doubling or splitting, and then behaves as any other (it grows past
// them, and a view of it stays as it was).
func TestIndexSized(t *testing.T) {
	for _, n := range []int{0, 1, 7, 600, 5000, 200_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			x := newIndexSized(n)
			pages := slices.Clone(x.dir)
			want := map[string]Entity{}
			for i := range n {
				e := packEntity(fmt.Sprint("id", i), 1, []byte(`{}`))
				x.Set(e)
				want[e.ID()] = e
			}
			if !slices.Equal(x.dir, pages) {
				t.Fatalf("%d entities into an index laid out for them: the pages changed", n)
			}
			slots := 0
			for i, p := range x.dir {
				if i == 0 || p != x.dir[i-1] {
					slots += len(p.slots)
				}
			}
			if n >= 5000 && float64(n)/float64(slots) < 0.6 {
				t.Fatalf("%d entities in %d slots: %.2f full, want 0.6 or more", n, slots, float64(n)/float64(slots))
			}
			checkIndex(t, x, want)
			v, before := x.freeze(), maps.Clone(want)
			for i := range n + 3000 {
				e := packEntity(fmt.Sprint("more", i), 2, []byte(`{}`))
				x.Set(e)
				want[e.ID()] = e
			}
			checkIndex(t, x, want)
			checkIndex(t, v, before)
		})
	}
}

// BenchmarkIndexGet gets ids of an index grown by inserts, and of one laid
// out for its entities as a restore lays it out (fuller pages).
func BenchmarkIndexGet(b *testing.B) {
	for _, sized := range []bool{false, true} {
		for _, n := range []int{10_000, 1_000_000} {
			name := fmt.Sprint(n)
			if sized {
				name = fmt.Sprint("sized/", n)
			}
			b.Run(name, func(b *testing.B) { benchmarkIndexGet(b, n, sized) })
		}
	}
}

func benchmarkIndexGet(b *testing.B, n int, sized bool) {
	x := newIndex()
	if sized {
		x = newIndexSized(n)
	}
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%012d", i)
		x.Set(packEntity(ids[i], 1, []byte(`{"balance":1}`)))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := x.Get(ids[i]); !ok {
			b.Fatal("missing")
		}
		i = (i + 7919) % n
	}
}
