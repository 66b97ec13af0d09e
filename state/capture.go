package state

import (
	"fmt"
	"slices"
	"sort"

	"github.com/foldb/foldb/internal/btree"
)

// Capture is a consistent, read-only copy of a store's entities and
// indexes as of one position, for a snapshot. Taking it costs O(number of
// types and indexes): the hash tables and the index trees are
// copy-on-write, and the writer copies the pages and nodes it changes
// afterwards.
type Capture struct {
	Position   uint64
	SchemaHash string
	Types      []CapturedType
}

// CapturedType is one entity type of a Capture.
type CapturedType struct {
	Name  string
	Count int
	// Indexes are the type's declared indexes, in the schema's order;
	// none when the store's indexes are not built (before Live).
	Indexes []CapturedIndex
	idx     *index
}

// CapturedIndex is one declared index of a captured type, holding Count
// keys: one per entity.
type CapturedIndex struct {
	Fields []string
	tree   *btree.BTreeG[ikey]
}

// Len is the number of keys, the type's Count.
func (c *CapturedIndex) Len() int { return c.tree.Len() }

// Scan calls fn with each key in ascending order until it returns false. A
// key is the values of the index's fields in order.go's encoding followed
// by the entity's id; its bytes are valid only during the call.
func (c *CapturedIndex) Scan(fn func(key []byte) bool) {
	var buf []byte
	c.tree.Scan(func(k ikey) bool {
		buf = k.appendTo(buf[:0])
		return fn(buf)
	})
}

// Scan calls fn for each entity, in no particular order, until it returns
// false.
func (c *CapturedType) Scan(fn func(e Entity) bool) { c.idx.Scan(fn) }

// Capture copies the published state. Call it where no round is staged
// (inside eventlog.Log.Exclusive), so that the position is exact.
func (s *Store) Capture() *Capture {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &Capture{Position: s.pos, SchemaHash: s.schema.Hash}
	names := make([]string, 0, len(s.tables))
	for name := range s.tables {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := s.tables[name]
		ct := CapturedType{Name: name, Count: t.idx.Len(), idx: t.idx.freeze()}
		for _, f := range t.fidx {
			ct.Indexes = append(ct.Indexes, CapturedIndex{Fields: f.def.Fields, tree: f.view()})
		}
		c.Types = append(c.Types, ct)
	}
	return c
}

// Restorer fills a new store from a snapshot: types, each with its
// entities in any order and the stored order of its indexes, then the
// position.
type Restorer struct {
	s       *Store
	t       *table
	et      *EntityType // t's declared type; nil when undeclared
	loaders []*IndexLoader
}

// NewRestorer starts a store for a schema from snapshot contents.
func NewRestorer(schema *Schema) *Restorer { return &Restorer{s: NewStore(schema)} }

// Type starts the entities of a type; each type at most once. n is how
// many entities the type is expected to have (0: unknown); the table is
// laid out for them.
func (r *Restorer) Type(name string, n int) error {
	if _, dup := r.s.tables[name]; dup {
		return fmt.Errorf("state: entity type %q restored twice", name)
	}
	r.t = &table{name: name, idx: newIndexSized(n)}
	r.et = r.s.schema.typeNamed(name)
	r.s.tables[name] = r.t
	return nil
}

// Entity adds the next entity of the current type; each id at most once.
func (r *Restorer) Entity(e Entity) error {
	if r.t == nil {
		return fmt.Errorf("state: entity before its type")
	}
	if err := e.check(); err != nil {
		return err
	}
	n := r.t.idx.Len()
	r.t.idx.Set(e)
	if r.t.idx.Len() == n {
		return fmt.Errorf("state: entity %q restored twice in %q", e.ID(), r.t.name)
	}
	return nil
}

// Index starts the stored order of one index of the current type, of n
// keys, and returns the loader to feed them to. It returns nil when the
// schema does not declare an index of these fields on the type: the keys
// are to be skipped, and the indexes the schema declares that the snapshot
// did not hold are built at Live, as for a snapshot without any. Loaders
// share nothing: each may be fed on a goroutine of its own, while the
// entities are restored.
func (r *Restorer) Index(fields []string, n int) (*IndexLoader, error) {
	if r.t == nil {
		return nil, fmt.Errorf("state: index before its type")
	}
	if r.et == nil {
		return nil, nil
	}
	i := slices.IndexFunc(r.et.Indexes, func(d *IndexDef) bool { return slices.Equal(d.Fields, fields) })
	if i < 0 {
		return nil, nil
	}
	if r.t.stored == nil {
		r.t.stored = make([]*fieldIndex, len(r.et.Indexes))
	}
	if r.t.stored[i] != nil {
		return nil, fmt.Errorf("state: index %s of %q restored twice", r.et.Indexes[i].Name(), r.t.name)
	}
	f := newFieldIndex(r.et.Indexes[i])
	r.t.stored[i] = f
	l := newIndexLoader(f, r.t, n)
	r.loaders = append(r.loaders, l)
	return l, nil
}

// IndexLoader loads the stored keys of one index (Restorer.Index).
type IndexLoader struct {
	f      *fieldIndex
	t      *table
	b      *btree.Builder[ikey]
	want   int
	n      int // keys added
	last   ikey
	slab   []byte
	closed bool
}

func newIndexLoader(f *fieldIndex, t *table, n int) *IndexLoader {
	return &IndexLoader{f: f, t: t, want: n, b: btree.NewBuilder(lessKey, treeOptions, n)}
}

// Key adds the next key, which must be greater than the one before: the
// tree is made from the keys in their order (btree.Builder), without a
// sort or a search. k is not kept.
func (l *IndexLoader) Key(k []byte) error {
	if l.n >= l.want {
		return fmt.Errorf("state: index %s of %q has more than the %d keys it said", l.f.def.Name(), l.t.name, l.want)
	}
	key := probeKey(k)
	if l.n > 0 && !lessKey(l.last, key) {
		return fmt.Errorf("state: index %s of %q: keys out of order", l.f.def.Name(), l.t.name)
	}
	if n := len(key.rest); n > 0 {
		if cap(l.slab)-len(l.slab) < n {
			l.slab = make([]byte, 0, max(keySlabBytes, n))
		}
		at := len(l.slab)
		l.slab = append(l.slab, key.rest...)
		key.rest = bytesView(l.slab[at:len(l.slab):len(l.slab)])
	}
	l.b.Add(key)
	l.n++
	l.f.keyBytes += restBytes(key)
	l.last = key
	return nil
}

// Close ends the keys: there must be as many as Index said.
func (l *IndexLoader) Close() error {
	if l.closed {
		return fmt.Errorf("state: index %s of %q closed twice", l.f.def.Name(), l.t.name)
	}
	tree, ok := l.b.Done()
	if !ok {
		return fmt.Errorf("state: index %s of %q has %d keys, not the %d it said", l.f.def.Name(), l.t.name, l.n, l.want)
	}
	l.f.tree, l.f.snap = tree, nil
	l.b, l.slab, l.closed = nil, nil, true
	return nil
}

// checkSample is how many entities of its type Done looks up in each
// loaded index.
const checkSample = 64

// check looks up the keys of the first checkSample entities of the table
// (in its hash order, so from all over the index) in the loaded tree. The
// stored keys are not rebuilt from the entities, which is the point of
// storing them; this catches keys that encode the values otherwise than
// appendKey now does (an order encoding changed without a new snapshot
// format, or keys of another index) before they answer a query wrongly.
func (l *IndexLoader) check() error {
	var err error
	var buf []byte
	n := 0
	l.t.idx.Scan(func(e Entity) bool {
		buf = l.f.appendKey(buf[:0], e)
		if _, ok := l.f.tree.Get(probeKey(buf)); !ok {
			err = fmt.Errorf("state: index %s of %q does not hold the key of entity %q", l.f.def.Name(), l.t.name, e.ID())
			return false
		}
		n++
		return n < checkSample
	})
	return err
}

// Done returns the store as of position, ready to replay the log after it;
// every loader must be closed. An index must hold a key per entity of its
// type, and those of a sample of the entities (check).
func (r *Restorer) Done(position uint64) (*Store, error) {
	for _, l := range r.loaders {
		if !l.closed {
			return nil, fmt.Errorf("state: index %s of %q not closed", l.f.def.Name(), l.t.name)
		}
		if n := l.t.idx.Len(); l.f.tree.Len() != n {
			return nil, fmt.Errorf("state: index %s of %q has %d keys for %d entities", l.f.def.Name(), l.t.name, l.f.tree.Len(), n)
		}
		if err := l.check(); err != nil {
			return nil, err
		}
		l.t.touched = map[string]Entity{}
	}
	r.s.pos = position
	return r.s, nil
}

// Get returns the entity with this id, if the type has it.
func (c *CapturedType) Get(id string) (Entity, bool) { return c.idx.Get(id) }

// DiffIndexes describes the first difference between the declared indexes
// of two live stores of one schema (their keys, in order), or returns "";
// for foldb verify, whose snapshot's indexes were made from stored keys
// and whose replay's were built.
func DiffIndexes(a, b *Store) string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, et := range a.schema.Types {
		ta, tb := a.tables[et.Name], b.tables[et.Name]
		if ta == nil || tb == nil {
			continue // no entities on one side: Diff says whether on both
		}
		if len(ta.fidx) != len(tb.fidx) {
			return fmt.Sprintf("entity type %s has %d indexes on one side and %d on the other", et.Name, len(ta.fidx), len(tb.fidx))
		}
		for i, f := range ta.fidx {
			ka, kb := f.tree.Items(), tb.fidx[i].tree.Items()
			if len(ka) != len(kb) {
				return fmt.Sprintf("index %s of %s has %d keys on one side and %d on the other", f.def.Name(), et.Name, len(ka), len(kb))
			}
			for j := range ka {
				if ka[j] != kb[j] {
					return fmt.Sprintf("index %s of %s differs at key %d: %q against %q", f.def.Name(), et.Name, j, ka[j].appendTo(nil), kb[j].appendTo(nil))
				}
			}
		}
	}
	return ""
}
