package state

import (
	"fmt"
	"sort"
)

// Capture is a consistent, read-only copy of a store's entities as of one
// position, for a snapshot. Taking it costs O(number of types): the
// indexes are copy-on-write, and the writer copies the pages it changes
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
	idx   *index
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
		c.Types = append(c.Types, CapturedType{Name: name, Count: t.idx.Len(), idx: t.idx.freeze()})
	}
	return c
}

// Restorer fills a new store from a snapshot: types, each with its
// entities in any order, then the position.
type Restorer struct {
	s *Store
	t *table
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

// Done returns the store as of position, ready to replay the log after it.
func (r *Restorer) Done(position uint64) *Store {
	r.s.pos = position
	return r.s
}

// Get returns the entity with this id, if the type has it.
func (c *CapturedType) Get(id string) (Entity, bool) { return c.idx.Get(id) }
