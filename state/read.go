package state

import (
	"sort"
	"sync"
)

// Get returns an entity as published.
func (s *Store) Get(typ, id string) (Entity, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.tables[typ]
	if !ok {
		return "", false
	}
	return t.idx.Get(id)
}

// GetMany looks up several entities of a type: out[i] is the entity of
// ids[i], or "" when there is none. The lookups are made a batch at a
// time (index.getBatch), so that their cache misses overlap.
func (s *Store) GetMany(typ string, ids []string) []Entity {
	out := make([]Entity, len(ids))
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.tables[typ]
	if !ok {
		return out
	}
	var b batch
	for from := 0; from < len(ids); from += lookupBatch {
		part := ids[from:min(from+lookupBatch, len(ids))]
		for _, id := range part {
			b.add(id)
		}
		t.idx.getBatch(&b)
		copy(out[from:], b.out[:len(part)])
		b.reset()
	}
	return out
}

// TypeCount is an entity type, how many entities it has, and its indexes:
// how many, and an estimate of the memory they hold.
type TypeCount struct {
	Name       string
	Count      int
	Indexes    int
	IndexBytes int
}

// Types lists the entity types that have been written to, with counts,
// sorted by name.
func (s *Store) Types() []TypeCount {
	s.mu.RLock()
	out := make([]TypeCount, 0, len(s.tables))
	for name, t := range s.tables {
		tc := TypeCount{Name: name, Count: t.idx.Len(), Indexes: len(t.fidx)}
		for _, f := range t.fidx {
			tc.IndexBytes += f.Bytes()
		}
		out = append(out, tc)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ColumnBytes estimates the memory that aggregations' columns hold in the
// entity tables as published (columns.go).
func (s *Store) ColumnBytes() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, t := range s.tables {
		n += t.idx.ColumnBytes()
	}
	return n
}

// DropColumns lets go of every aggregation column of the entity tables as
// published: for a lower column memory. Views taken before keep theirs.
func (s *Store) DropColumns() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, t := range s.tables {
		t.idx.dropColumns()
	}
}

// Len counts a type's entities.
func (s *Store) Len(typ string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if t, ok := s.tables[typ]; ok {
		return t.idx.Len()
	}
	return 0
}

// view returns a read-only copy of a type's entities as published, for
// scans that must not hold the lock. The copy is O(1): the index is
// copy-on-write, so later writes copy the pages they change.
func (s *Store) view(typ string) *index {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[typ]
	if !ok {
		return nil
	}
	return t.idx.freeze()
}

// tableView is a read-only copy of a type's entities and its indexes as
// published, taken at one moment.
type tableView struct {
	idx  *index
	fidx []*indexView

	// of and gen are the index it was frozen from and that index's gen
	// right after: while the index keeps that gen and still shares its
	// directory, nothing has written it since (every write goes through
	// index.writable, which stops the sharing), and the view can be given
	// again.
	of  *index
	gen uint64

	mu    sync.Mutex
	plans map[planKey]plan // planOn
}

// current reports whether v is still the table's state.
func (v *tableView) current(t *table) bool {
	if v.of != t.idx || v.gen != t.idx.gen || !t.idx.dirShared || len(v.fidx) != len(t.fidx) {
		return false
	}
	for i, f := range t.fidx {
		if f.snap == nil || f.snap != v.fidx[i].tree {
			return false
		}
	}
	return true
}

// viewTable is view with the type's indexes; nil when the type has no
// table.
func (s *Store) viewTable(typ string) *tableView {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[typ]
	if !ok {
		return nil
	}
	// Queries between two writes share one view: freezing again would
	// cost allocations and change nothing.
	if v := t.view; v != nil && v.current(t) {
		return v
	}
	tv := &tableView{idx: t.idx.freeze(), fidx: make([]*indexView, len(t.fidx)), of: t.idx, gen: t.idx.gen}
	for i, f := range t.fidx {
		tv.fidx[i] = &indexView{def: f.def, tree: f.view()}
	}
	t.view = tv
	return tv
}

// TypeNames lists the declared entity types and the types that hold
// entities, sorted.
func (s *Store) TypeNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range s.schema.Types {
		seen[t.Name] = true
		out = append(out, t.Name)
	}
	for _, t := range s.Types() {
		if !seen[t.Name] && t.Count > 0 {
			out = append(out, t.Name)
		}
	}
	sort.Strings(out)
	return out
}
