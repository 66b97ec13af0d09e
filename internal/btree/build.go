package btree

// Builder makes a tree of a number of items known in advance, given in
// ascending order (Add), without searching: the items are dealt into
// leaves as they come, each leaf allocated once at its final size, and
// the item after each leaf goes up to the level above, whose nodes Done
// lays out the same way. Every level's nodes hold as many items as the
// count allows, evenly spread (at least the tree's minimum, at most its
// maximum), so the tree is as shallow and its arrays as small as a B-tree
// of that degree can be. The tree is the one New would return, holding the
// items, and may be used as any other once Done returns.
type Builder[T any] struct {
	tr *BTreeG[T]
	n  int // items announced

	leaf   *node[T]   // the leaf being filled; nil between leaves
	sizes  layout     // sizes of the leaves
	leaves []*node[T] // leaves filled
	seps   []T        // the items between them
	added  int
}

// layout deals m items into k nodes as evenly as can be: the first r
// nodes hold q+1 items, the others q.
type layout struct{ k, q, r int }

// levelLayout is how m items of a level go into nodes of at most max
// items, one item between each two nodes going up a level: as few nodes as
// fit them.
func levelLayout(m, max int) layout {
	if m <= max {
		return layout{k: 1, q: m}
	}
	k := (m + max + 1) / (max + 1) // ceil((m+1)/(max+1))
	in := m - (k - 1)              // the items that stay in the nodes
	return layout{k: k, q: in / k, r: in % k}
}

func (l layout) size(i int) int {
	if i < l.r {
		return l.q + 1
	}
	return l.q
}

// NewBuilder starts a tree like NewBTreeGOptions's, to be made of n items.
func NewBuilder[T any](less func(a, b T) bool, opts Options, n int) *Builder[T] {
	tr := NewBTreeGOptions(less, opts)
	return &Builder[T]{tr: tr, n: n, sizes: levelLayout(n, tr.max),
		leaves: make([]*node[T], 0, levelLayout(n, tr.max).k)}
}

// Add appends the next item, which must be greater than the one before (it
// is not checked) and one of the n announced. It reports false past n.
func (b *Builder[T]) Add(item T) bool {
	if b.added == b.n {
		return false
	}
	b.added++
	if b.leaf == nil {
		if len(b.leaves) > 0 && len(b.seps) < len(b.leaves) {
			b.seps = append(b.seps, item)
			return true
		}
		size := b.sizes.size(len(b.leaves))
		b.leaf = b.tr.newNode(true)
		b.leaf.items = make([]T, 0, size)
	}
	b.leaf.items = append(b.leaf.items, item)
	if len(b.leaf.items) == cap(b.leaf.items) {
		b.leaf.count = len(b.leaf.items)
		b.leaves = append(b.leaves, b.leaf)
		b.leaf = nil
	}
	return true
}

// Done returns the tree; it reports false (and no tree) when fewer items
// were added than announced.
func (b *Builder[T]) Done() (*BTreeG[T], bool) {
	if b.added != b.n {
		return nil, false
	}
	tr := b.tr
	if b.n == 0 {
		return tr, true
	}
	nodes, items := b.leaves, b.seps
	for len(nodes) > 1 {
		l := levelLayout(len(items), tr.max)
		up := make([]*node[T], 0, l.k)
		var upItems []T
		if l.k > 1 {
			upItems = make([]T, 0, l.k-1)
		}
		at := 0 // the next item of the level; node at has its children from at
		for i := range l.k {
			size := l.size(i)
			n := tr.newNode(false)
			n.items = make([]T, size)
			copy(n.items, items[at:at+size])
			children := make([]*node[T], size+1, tr.max+1)
			copy(children, nodes[at:at+size+1])
			*n.children = children
			n.updateCount()
			up = append(up, n)
			at += size
			if i < l.k-1 {
				upItems = append(upItems, items[at])
				at++
			}
		}
		nodes, items = up, upItems
	}
	tr.root = nodes[0]
	tr.count = b.n
	b.tr, b.leaves, b.seps = nil, nil, nil
	return tr, true
}
