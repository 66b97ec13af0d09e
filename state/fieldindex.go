package state

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strings"
	"sync"

	"github.com/foldb/foldb/internal/btree"
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
	tree *btree.BTreeG[ikey]
	// snap is the last copy handed to a view; it stays valid for the next
	// view until the tree is written.
	snap     *btree.BTreeG[ikey]
	keyBytes int // sum of the allocated sizes of the keys' rests
	buf, old []byte
}

// ikey is a key as the tree holds it: its first inlineKey bytes
// zero-padded in hi and lo, big-endian, with the key's length up to
// inlineKey in lo's last byte, and the bytes after them in rest. Keys
// compare as their bytes do: a key shorter than inlineKey whose padded
// head equals another's is a prefix of it, and has the smaller length
// byte. Most comparisons are decided by hi and lo without following a
// pointer, and a short key (one number and a short id) takes no
// allocation of its own.
type ikey struct {
	hi, lo uint64
	rest   string
}

const inlineKey = 15

func lessKey(a, b ikey) bool {
	if a.hi != b.hi {
		return a.hi < b.hi
	}
	if a.lo != b.lo {
		return a.lo < b.lo
	}
	return a.rest < b.rest
}

// probeKey is the ikey of k whose rest shares k's bytes: for a search,
// not for the tree to keep.
func probeKey(k []byte) ikey {
	var head [16]byte
	n := copy(head[:inlineKey], k)
	head[15] = byte(n)
	key := ikey{hi: binary.BigEndian.Uint64(head[:8]), lo: binary.BigEndian.Uint64(head[8:])}
	if len(k) > inlineKey {
		key.rest = bytesView(k[inlineKey:])
	}
	return key
}

// appendTo appends the key's bytes.
func (k ikey) appendTo(dst []byte) []byte {
	var head [16]byte
	binary.BigEndian.PutUint64(head[:8], k.hi)
	binary.BigEndian.PutUint64(head[8:], k.lo)
	dst = append(dst, head[:head[15]]...)
	return append(dst, k.rest...)
}

// restBytes is what a key's rest holds in memory.
func restBytes(k ikey) int {
	if k.rest == "" {
		return 0
	}
	return allocSize(len(k.rest))
}

func newFieldIndex(def *IndexDef) *fieldIndex {
	return &fieldIndex{def: def, tree: btree.NewBTreeGOptions(lessKey, treeOptions)}
}

// treeOptions: one writer (the store's), and a degree that sets the nodes'
// size (up to 2×degree-1 keys): small enough that the copy-on-write copy
// of a node after a view is cheap, large enough to keep the tree shallow.
var treeOptions = btree.Options{NoLocks: true, Degree: 16}

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
		if k, ok := f.tree.Delete(probeKey(f.old)); ok {
			f.keyBytes -= restBytes(k)
		}
	}
	if e != "" {
		k := probeKey(f.buf)
		if k.rest != "" {
			k.rest = strings.Clone(k.rest) // the tree keeps it: not f.buf's bytes
		}
		f.tree.Set(k)
		f.keyBytes += restBytes(k)
	}
}

// keySlabBytes is the size of the blocks a build copies the keys' rests
// into: one allocation for many keys. A block stays in memory while any
// of its keys is in the tree.
const keySlabBytes = 16 << 10

// build fills an empty index with the entities of a hash table: the keys
// sorted once and the tree made from them bottom up (btree.Builder), far
// cheaper than inserting them one by one.
func (f *fieldIndex) build(x *index) {
	keys := make([]ikey, 0, x.Len())
	var slab []byte
	x.Scan(func(e Entity) bool {
		f.buf = f.appendKey(f.buf[:0], e)
		k := probeKey(f.buf)
		if n := len(k.rest); n > 0 {
			if cap(slab)-len(slab) < n {
				slab = make([]byte, 0, max(keySlabBytes, n))
			}
			at := len(slab)
			slab = append(slab, k.rest...)
			k.rest = bytesView(slab[at:len(slab):len(slab)])
		}
		keys = append(keys, k)
		return true
	})
	slices.SortFunc(keys, func(a, b ikey) int {
		if c := cmp.Compare(a.hi, b.hi); c != 0 {
			return c
		}
		if c := cmp.Compare(a.lo, b.lo); c != 0 {
			return c
		}
		return strings.Compare(a.rest, b.rest)
	})
	b := btree.NewBuilder(lessKey, treeOptions, len(keys))
	for _, k := range keys {
		b.Add(k)
		f.keyBytes += restBytes(k)
	}
	f.tree, _ = b.Done()
	f.snap = nil
}

// view returns a read-only copy of the tree as it is now.
func (f *fieldIndex) view() *btree.BTreeG[ikey] {
	if f.snap == nil {
		f.snap = f.tree.Copy()
	}
	return f.snap
}

// btreeSlotBytes is what one entry costs in the tree besides its key's
// rest: its 32-byte ikey in a node's items array, and the nodes' headers
// and child pointers spread over their items. It is calibrated on
// BenchmarkIndexBuild's heap growth per entry (BENCHMARKS.md); a tree
// grown by inserts, with nodes less full than a bulk-loaded one, holds
// somewhat more.
const btreeSlotBytes = 36

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
// events a schema change catches up with). An index a snapshot held is not
// built but patched: only the entities written since the snapshot move in
// it. Live calls it; SetSchema calls it before the pause in which it
// catches up, so that the pause does not build them.
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
		kept := t.fidx // a schema change's copies of the old state's (forkIndexes)
		t.fidx = make([]*fieldIndex, len(et.Indexes))
		for i, def := range et.Indexes {
			if f := indexNamed(kept, def.Name()); f != nil {
				t.fidx[i] = f
				continue
			}
			if i < len(t.stored) && t.stored[i] != nil {
				f := t.stored[i]
				t.fidx[i] = f
				wg.Go(func() { f.patch(t.idx, t.touched) })
				continue
			}
			f := newFieldIndex(def)
			t.fidx[i] = f
			wg.Go(func() { f.build(t.idx) })
		}
	}
	wg.Wait()
	for _, t := range s.tables {
		t.stored, t.touched = nil, nil
	}
}

// indexNamed returns the index of fs whose fields are name, or nil.
func indexNamed(fs []*fieldIndex, name string) *fieldIndex {
	for _, f := range fs {
		if f.def.Name() == name {
			return f
		}
	}
	return nil
}

// patch brings an index restored as of a snapshot up to date with the
// table: touched holds every id written since, with the entity it had
// then ("" for none).
func (f *fieldIndex) patch(x *index, touched map[string]Entity) {
	for id, old := range touched {
		e, _ := x.Get(id)
		f.update(old, old != "", e)
	}
}

// touch notes, before the first write of an id since the snapshot the
// table's stored indexes are of, the entity the id has. Once a fifth as
// many ids as the table holds are noted, the stored indexes are dropped and
// built afresh at Live, and the notes stop growing: moving a key in a tree
// made from sorted keys costs more than a build pays per key (its nodes are
// full, so the first writes split them), and a build sorts every key once
// (BENCHMARKS.md, "The bank with three indexes: restart with stored
// indexes", BenchmarkRestore's tails).
func (t *table) touch(id string) {
	if _, ok := t.touched[id]; ok {
		return
	}
	if len(t.touched) >= t.idx.Len()/patchFraction {
		t.stored, t.touched = nil, nil
		return
	}
	old, had := t.idx.Get(id)
	if had {
		id = old.ID() // a replayed event's strings are valid only while it is folded
	} else {
		id = strings.Clone(id)
	}
	t.touched[id] = old
}

// patchFraction: a table's stored indexes are patched at Live while fewer
// than 1/patchFraction of its ids were written since the snapshot (touch).
const patchFraction = 5

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
	if t.touched != nil {
		t.touch(e.ID())
	}
	if t.fidx != nil {
		old, had := t.idx.Get(e.ID())
		t.updateIndexes(old, had, e)
	}
	t.idx.Set(e)
}

// setAt is set of an entity whose id lookup returned at.
func (t *table) setAt(at spot, e Entity) {
	if t.touched != nil {
		t.touch(e.ID())
	}
	if t.fidx != nil {
		old, had := t.idx.Get(e.ID())
		t.updateIndexes(old, had, e)
	}
	t.idx.setAt(at, e)
}

// delete removes the entity with an id from the table and its indexes.
func (t *table) delete(id string) {
	if t.touched != nil {
		t.touch(id)
	}
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
