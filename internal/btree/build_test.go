package btree

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// checkShape checks a tree's invariants: every node but the root holds
// min..max items, an internal node one child more than items, the counts
// are right, the leaves are at one depth and the items ascend; built, the
// nodes are all the tree's own (none shared with a copy).
func checkShape[T any](t *testing.T, tr *BTreeG[T], built bool) {
	t.Helper()
	depth := -1
	var last *T
	var walk func(n *node[T], d int, root bool) int
	walk = func(n *node[T], d int, root bool) int {
		if !root && (len(n.items) < tr.min || len(n.items) > tr.max) {
			t.Fatalf("a node of %d items at depth %d (min %d, max %d)", len(n.items), d, tr.min, tr.max)
		}
		if built && n.isoid != tr.isoid {
			t.Fatal("a node of another tree")
		}
		if n.leaf() {
			if depth < 0 {
				depth = d
			} else if depth != d {
				t.Fatalf("leaves at depths %d and %d", depth, d)
			}
			for i := range n.items {
				if last != nil && !tr.less(*last, n.items[i]) {
					t.Fatal("items out of order")
				}
				last = &n.items[i]
			}
			if n.count != len(n.items) {
				t.Fatalf("a leaf of %d items counts %d", len(n.items), n.count)
			}
			return n.count
		}
		if len(*n.children) != len(n.items)+1 {
			t.Fatalf("%d children for %d items", len(*n.children), len(n.items))
		}
		count := len(n.items)
		for i, c := range *n.children {
			count += walk(c, d+1, false)
			if i < len(n.items) {
				if !tr.less(*last, n.items[i]) {
					t.Fatal("items out of order")
				}
				last = &n.items[i]
			}
		}
		if n.count != count {
			t.Fatalf("a node of %d items below counts %d", count, n.count)
		}
		return count
	}
	if tr.root != nil {
		if got := walk(tr.root, 0, true); got != tr.count {
			t.Fatalf("%d items, the tree counts %d", got, tr.count)
		}
	}
}

func lessInt(a, b int) bool { return a < b }

// TestBuilder: trees built of 0 to a few thousand items (and one of
// 200,000), of several degrees, hold the items in order with the shape of a
// B-tree, answer GetAt, and then take random sets and deletes and copies
// as a tree grown by Set does.
func TestBuilder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 2, 3, 30, 31, 32, 33, 62, 63, 64, 65, 500, 1023, 1024, 1025, 200_000}
	for range 30 {
		sizes = append(sizes, r.IntN(5000))
	}
	for _, degree := range []int{2, 3, 16, 32} {
		for _, n := range sizes {
			items := make([]int, n)
			for i := range items {
				items[i] = 2 * i
			}
			b := NewBuilder(lessInt, Options{NoLocks: true, Degree: degree}, n)
			for _, it := range items {
				if !b.Add(it) {
					t.Fatalf("degree %d, n %d: Add refused", degree, n)
				}
			}
			if b.Add(-1) {
				t.Fatal("an item past n accepted")
			}
			tr, ok := b.Done()
			if !ok {
				t.Fatal("Done refused")
			}
			checkShape(t, tr, true)
			if tr.Len() != n || !slices.Equal(tr.Items(), items) {
				t.Fatalf("degree %d, n %d: %d items, not the ones added", degree, n, tr.Len())
			}
			if n > 5000 {
				continue
			}
			for i := range items {
				if v, ok := tr.GetAt(i); !ok || v != items[i] {
					t.Fatalf("GetAt(%d) = %d, %v", i, v, ok)
				}
			}
			view := tr.Copy()
			want := map[int]bool{}
			for _, it := range items {
				want[it] = true
			}
			for range 2 * n {
				k := r.IntN(2*n + 2)
				if r.IntN(2) == 0 {
					tr.Set(k)
					want[k] = true
				} else {
					tr.Delete(k)
					delete(want, k)
				}
			}
			checkShape(t, tr, false)
			keys := make([]int, 0, len(want))
			for k := range want {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(tr.Items(), keys) {
				t.Fatalf("degree %d, n %d: after writes the tree differs from the map", degree, n)
			}
			if !slices.Equal(view.Items(), items) {
				t.Fatalf("degree %d, n %d: a copy taken before the writes changed", degree, n)
			}
		}
	}
	b := NewBuilder(lessInt, Options{}, 3)
	b.Add(1)
	if _, ok := b.Done(); ok {
		t.Fatal("a tree of fewer items than announced")
	}
}

// BenchmarkLoad makes a tree of a million sorted ints with tidwall's Load
// and with Builder, at the degree state's indexes use.
func BenchmarkLoad(b *testing.B) {
	const n = 1_000_000
	opts := Options{NoLocks: true, Degree: 16}
	b.Run("Load", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tr := NewBTreeGOptions(lessInt, opts)
			for i := range n {
				tr.Load(i)
			}
		}
	})
	b.Run("Builder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			bl := NewBuilder(lessInt, opts, n)
			for i := range n {
				bl.Add(i)
			}
			bl.Done()
		}
	})
}
