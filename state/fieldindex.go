package state

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strings"
	"sync"

	"github.com/tidwall/btree"
)

// fieldIndex is one declared index of an entity type: a B-tree of keys,
// each the encoded values of the index's fields (order.go) followed by the
// entity's id, so that the tree holds entities in the order SORTBY gives
// and an id is found again in the type's hash table (index.go).
//
// The tree is tidwall/btree's, whose nodes carry the count of the items
// below them (GetAt is O(log n), so a range is counted by two rank
// searches) and whose Copy is O(1) and copy-on-write: a query's view is a
// copy taken under the store's lock, and the writer copies the nodes it
// changes afterwards, as it does the hash table's pages.
//
// A key holds only what it orders by: an update that leaves the index's
// fields as they were does not touch the tree.
type fieldIndex struct {
	def  *IndexDef
	tree *btree.BTreeG[string]
	// snap is the last copy handed to a view; it stays valid for the next
	// view until the tree is written.
	snap     *btree.BTreeG[string]
	keyBytes int // sum of the keys' allocated sizes
	buf, old []byte
}

func lessString(a, b string) bool { return a < b }

func newFieldIndex(def *IndexDef) *fieldIndex {
	return &fieldIndex{def: def, tree: btree.NewBTreeGOptions(lessString, btree.Options{NoLocks: true})}
}

// appendKey appends e's key in this index.
func (f *fieldIndex) appendKey(dst []byte, e Entity) []byte {
	obj := stringBytes(e.JSON())
	for _, name := range f.def.Fields {
		dst = appendOrderKey(dst, member(obj, name))
	}
	return append(dst, e.ID()...)
}

// update moves an entity's key from old (had: there was one) to e (""
// for a deletion).
func (f *fieldIndex) update(old Entity, had bool, e Entity) {
	f.old = f.old[:0]
	if had {
		f.old = f.appendKey(f.old, old)
	}
	f.buf = f.buf[:0]
	if e != "" {
		f.buf = f.appendKey(f.buf, e)
	}
	if had && e != "" && string(f.old) == string(f.buf) {
		return
	}
	f.snap = nil
	if had {
		if _, ok := f.tree.Delete(string(f.old)); ok {
			f.keyBytes -= allocSize(len(f.old))
		}
	}
	if e != "" {
		f.tree.Set(string(f.buf))
		f.keyBytes += allocSize(len(f.buf))
	}
}

// build fills an empty index with the entities of a hash table: the keys
// sorted once and loaded in order, far cheaper than inserting them one by
// one. They are sorted by their first 8 bytes held beside them first, so
// that most comparisons do not follow a pointer.
func (f *fieldIndex) build(x *index) {
	type sortable struct {
		head uint64
		key  string
	}
	keys := make([]sortable, 0, x.Len())
	x.Scan(func(e Entity) bool {
		f.buf = f.appendKey(f.buf[:0], e)
		var head [8]byte
		copy(head[:], f.buf)
		keys = append(keys, sortable{binary.BigEndian.Uint64(head[:]), string(f.buf)})
		return true
	})
	slices.SortFunc(keys, func(a, b sortable) int {
		if c := cmp.Compare(a.head, b.head); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	for _, k := range keys {
		f.tree.Load(k.key)
		f.keyBytes += allocSize(len(k.key))
	}
	f.snap = nil
}

// view returns a read-only copy of the tree as it is now.
func (f *fieldIndex) view() *btree.BTreeG[string] {
	if f.snap == nil {
		f.snap = f.tree.Copy()
	}
	return f.snap
}

// btreeSlotBytes is what one entry costs in the tree besides its key's
// bytes: a 16-byte string header in a node's items slice, whose capacity
// is more than its length, and the nodes' headers and child pointers spread
// over their items. It is calibrated on BenchmarkIndexBuild's heap growth
// per entry (BENCHMARKS.md); a tree grown by inserts, with nodes less full
// than a bulk-loaded one, holds somewhat more.
const btreeSlotBytes = 35

// Bytes estimates the memory the index holds.
func (f *fieldIndex) Bytes() int { return f.keyBytes + f.tree.Len()*btreeSlotBytes }

// allocSize is the size Go's allocator gives a string of n bytes: its
// size classes up to 128 bytes step by 8 then 16; above, by 32 (an
// estimate past 256 bytes).
func allocSize(n int) int {
	switch {
	case n <= 8:
		return 8
	case n <= 16:
		return 16
	case n <= 128:
		return (n + 15) &^ 15
	}
	return (n + 31) &^ 31
}

// buildIndexes builds the declared indexes of every table, and makes the
// writes from now on keep them up to date (also in direct mode, for the
// events a schema change catches up with). Live calls it; SetSchema calls
// it before the pause in which it catches up, so that the pause does not
// build them.
func (s *Store) buildIndexes() {
	if s.indexesOn {
		return
	}
	s.indexesOn = true
	var wg sync.WaitGroup
	for _, et := range s.schema.Types {
		t, ok := s.tables[et.Name]
		if !ok || len(et.Indexes) == 0 {
			continue
		}
		t.fidx = make([]*fieldIndex, len(et.Indexes))
		for i, def := range et.Indexes {
			f := newFieldIndex(def)
			t.fidx[i] = f
			wg.Go(func() { f.build(t.idx) })
		}
	}
	wg.Wait()
}

// typeNamed returns the declared entity type of this name, or nil.
func (s *Schema) typeNamed(name string) *EntityType {
	for _, t := range s.Types {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// set stores e in the table and its indexes.
func (t *table) set(e Entity) {
	if t.fidx != nil {
		old, had := t.idx.Get(e.ID())
		t.updateIndexes(old, had, e)
	}
	t.idx.Set(e)
}

// setAt is set of an entity whose id lookup returned at.
func (t *table) setAt(at spot, e Entity) {
	if t.fidx != nil {
		old, had := t.idx.Get(e.ID())
		t.updateIndexes(old, had, e)
	}
	t.idx.setAt(at, e)
}

// delete removes the entity with an id from the table and its indexes.
func (t *table) delete(id string) {
	if t.fidx != nil {
		if old, had := t.idx.Get(id); had {
			t.updateIndexes(old, true, "")
		}
	}
	t.idx.Delete(id)
}

func (t *table) updateIndexes(old Entity, had bool, e Entity) {
	for _, f := range t.fidx {
		f.update(old, had, e)
	}
}
