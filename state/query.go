package state

import (
	"container/heap"
	"fmt"
	"sync"

	"github.com/tidwall/gjson"
)

// Query selects entities of one type.
type Query struct {
	Type   string
	Where  string // an expression over the entity's fields, id and version; "" matches all
	SortBy string // a top-level field; "": the index's order (see All)
	Desc   bool
	Offset int
	Limit  int // < 0: no limit
}

// QueryError is a query refused before it ran (its WHERE does not compile).
type QueryError struct{ Msg string }

func (e *QueryError) Error() string { return "state: " + e.Msg }

// whereCache keeps compiled WHERE expressions: compiling costs far more
// than most queries.
var whereCache struct {
	sync.Mutex
	m map[string]*program
}

func compileWhere(src string) (*program, error) {
	whereCache.Lock()
	p, ok := whereCache.m[src]
	whereCache.Unlock()
	if ok {
		return p, nil
	}
	p, err := compile(src, true)
	if err != nil {
		return nil, &QueryError{Msg: fmt.Sprintf("invalid WHERE %q: %v", src, err)}
	}
	whereCache.Lock()
	if whereCache.m == nil || len(whereCache.m) >= 1024 {
		whereCache.m = map[string]*program{}
	}
	whereCache.m[src] = p
	whereCache.Unlock()
	return p, nil
}

// matcher evaluates a WHERE program against entities. An entity for which
// the expression fails (a missing field compared with a number, say) does
// not match, as a NULL does not in SQL.
type matcher struct {
	prog *program
	ev   *evaluator
	in   input
}

func newMatcher(where string) (*matcher, error) {
	if where == "" {
		return &matcher{}, nil
	}
	p, err := compileWhere(where)
	if err != nil {
		return nil, err
	}
	return &matcher{prog: p, ev: newEvaluator()}, nil
}

func (m *matcher) match(e Entity) bool {
	if m.prog == nil {
		return true
	}
	m.in = input{entity: stringBytes(e.JSON()), entityID: e.ID(), version: e.Version()}
	out, err := m.ev.eval(m.prog, &m.in)
	ok, _ := out.(bool)
	return err == nil && ok
}

// All returns the entities a query selects. Without SortBy they come in
// the index's order: unspecified, the same for every call while the type is
// not written to, and the scan stops once Offset+Limit matched.
func (s *Store) All(q Query) ([]Entity, error) {
	m, err := newMatcher(q.Where)
	if err != nil {
		return nil, err
	}
	idx := s.view(q.Type)
	if idx == nil {
		return nil, nil
	}
	if q.SortBy == "" {
		return scanUnsorted(idx, m, q.Offset, q.Limit), nil
	}
	return scanSorted(idx, m, q), nil
}

// Count counts the entities a WHERE selects.
func (s *Store) Count(typ, where string) (int, error) {
	if where == "" {
		return s.Len(typ), nil
	}
	m, err := newMatcher(where)
	if err != nil {
		return 0, err
	}
	idx := s.view(typ)
	if idx == nil {
		return 0, nil
	}
	n := 0
	idx.Scan(func(e Entity) bool {
		if m.match(e) {
			n++
		}
		return true
	})
	return n, nil
}

// scanUnsorted walks the index in its own order and stops once
// offset+limit entities matched: a first page costs what it returns, not
// what the type holds.
func scanUnsorted(idx *index, m *matcher, offset, limit int) []Entity {
	var out []Entity
	skipped := 0
	idx.Scan(func(e Entity) bool {
		if !m.match(e) {
			return true
		}
		if skipped < offset {
			skipped++
			return true
		}
		out = append(out, e)
		return limit < 0 || len(out) < limit
	})
	return out
}

// sortKey is a field's value ordered as: numbers, then strings, then
// booleans, then anything else; missing and null last (ascending).
type sortKey struct {
	rank int
	num  float64
	str  string
	e    Entity
}

func makeSortKey(e Entity, field string) sortKey {
	k := sortKey{e: e}
	r := gjson.Get(e.JSON(), gjson.Escape(field))
	switch r.Type {
	case gjson.Number:
		k.rank, k.num = 0, r.Num
	case gjson.String:
		k.rank, k.str = 1, r.Str
	case gjson.False, gjson.True:
		k.rank = 2
		if r.Type == gjson.True {
			k.num = 1
		}
	case gjson.JSON:
		k.rank, k.str = 3, r.Raw
	default:
		k.rank = 4
	}
	return k
}

// before orders two keys, ties by id, so that results are stable.
func (a *sortKey) before(b *sortKey, desc bool) bool {
	if a.rank != b.rank {
		return a.rank < b.rank // missing stays last either way
	}
	less, greater := false, false
	switch a.rank {
	case 0, 2:
		less, greater = a.num < b.num, a.num > b.num
	case 1, 3:
		less, greater = a.str < b.str, a.str > b.str
	}
	if desc {
		less, greater = greater, less
	}
	if less || greater {
		return less
	}
	return a.e.ID() < b.e.ID()
}

// keyHeap keeps the best offset+limit keys: its root is the worst of them.
type keyHeap struct {
	keys []sortKey
	desc bool
}

func (h *keyHeap) Len() int           { return len(h.keys) }
func (h *keyHeap) Less(i, j int) bool { return h.keys[j].before(&h.keys[i], h.desc) }
func (h *keyHeap) Swap(i, j int)      { h.keys[i], h.keys[j] = h.keys[j], h.keys[i] }
func (h *keyHeap) Push(x any)         { h.keys = append(h.keys, x.(sortKey)) }
func (h *keyHeap) Pop() any {
	k := h.keys[len(h.keys)-1]
	h.keys = h.keys[:len(h.keys)-1]
	return k
}

// scanSorted selects by WHERE and sorts by a field; with a limit it keeps
// only the best offset+limit in a heap instead of sorting everything.
func scanSorted(idx *index, m *matcher, q Query) []Entity {
	keep := -1
	if q.Limit >= 0 {
		keep = q.Offset + q.Limit
	}
	h := &keyHeap{desc: q.Desc}
	idx.Scan(func(e Entity) bool {
		if !m.match(e) {
			return true
		}
		k := makeSortKey(e, q.SortBy)
		switch {
		case keep < 0 || h.Len() < keep:
			heap.Push(h, k)
		case keep > 0 && k.before(&h.keys[0], q.Desc):
			h.keys[0] = k
			heap.Fix(h, 0)
		}
		return true
	})
	// Pop gives worst first; fill from the back.
	sorted := make([]sortKey, h.Len())
	for i := len(sorted) - 1; i >= 0; i-- {
		sorted[i] = heap.Pop(h).(sortKey)
	}
	if q.Offset >= len(sorted) {
		return nil
	}
	sorted = sorted[q.Offset:]
	if q.Limit >= 0 && len(sorted) > q.Limit {
		sorted = sorted[:q.Limit]
	}
	out := make([]Entity, len(sorted))
	for i := range sorted {
		out[i] = sorted[i].e
	}
	return out
}
