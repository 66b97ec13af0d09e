package state

import (
	"container/heap"
	"fmt"
	"sync"
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
// an order that is unspecified, the same for every call while the type is
// not written to (the hash table's, or the order of the index the query
// walks), and the scan stops once Offset+Limit matched. With SortBy they
// come in the order of order.go.
func (s *Store) All(q Query) ([]Entity, error) { return s.all(q, nil) }

// all is All; reads, when not nil, counts the entities the plan reads.
func (s *Store) all(q Query, reads *int) ([]Entity, error) {
	m, err := newMatcher(q.Where)
	if err != nil {
		return nil, err
	}
	tv := s.viewTable(q.Type)
	if tv == nil {
		return nil, nil
	}
	p := choosePlan(tv, m.prog, q, false)
	if p.exact {
		m = &matcher{}
	}
	each := counted(p.source(tv, q.Desc), reads)
	if q.SortBy == "" || p.ordered {
		return firstMatches(each, m, q.Offset, q.Limit), nil
	}
	return scanSorted(each, m, q), nil
}

// counted is a source that counts what it gives in n (nil: the source).
func counted(each func(func(Entity) bool), n *int) func(func(Entity) bool) {
	if n == nil {
		return each
	}
	return func(fn func(Entity) bool) {
		each(func(e Entity) bool {
			*n++
			return fn(e)
		})
	}
}

// source is what a plan reads: the whole table, or its index's ranges.
func (p *plan) source(tv *tableView, desc bool) func(func(Entity) bool) {
	if p.fi == nil {
		return tv.idx.Scan
	}
	return func(fn func(Entity) bool) { p.walk(tv, desc, fn) }
}

// Count counts the entities a WHERE selects: the sizes of an index's
// ranges when they are exactly the WHERE, else the matches among what the
// plan reads.
func (s *Store) Count(typ, where string) (int, error) { return s.count(typ, where, nil) }

// count is Count; reads, when not nil, counts the entities the plan reads.
func (s *Store) count(typ, where string, reads *int) (int, error) {
	if where == "" {
		return s.Len(typ), nil
	}
	m, err := newMatcher(where)
	if err != nil {
		return 0, err
	}
	tv := s.viewTable(typ)
	if tv == nil {
		return 0, nil
	}
	p := choosePlan(tv, m.prog, Query{Type: typ, Where: where, Limit: -1}, true)
	if p.exact {
		return p.est, nil
	}
	n := 0
	counted(p.source(tv, false), reads)(func(e Entity) bool {
		if m.match(e) {
			n++
		}
		return true
	})
	return n, nil
}

// Explain is how a query runs.
type Explain struct {
	Index    string   // the index's fields, "" for a scan
	Ranges   []string // the index's ranges walked, as conditions
	Order    string   // "index": the walk gives the order; "sort": matches are sorted; "none": no SORTBY
	Filter   bool     // the WHERE runs on each entity read (false: the ranges are exactly its matches)
	Estimate int      // entities read at most (before LIMIT stops the walk)
	Entities int      // entities of the type
}

// Explain plans a query (count: as ENTITY.COUNT) without running it.
func (s *Store) Explain(q Query, count bool) (Explain, error) {
	m, err := newMatcher(q.Where)
	if err != nil {
		return Explain{}, err
	}
	ex := Explain{Order: "none", Filter: m.prog != nil}
	tv := s.viewTable(q.Type)
	if tv == nil {
		return ex, nil
	}
	p := choosePlan(tv, m.prog, q, count)
	ex.Entities, ex.Estimate = tv.idx.Len(), p.est
	if p.fi != nil {
		ex.Index, ex.Ranges = p.fi.def.Name(), p.descs
		ex.Filter = !p.exact && m.prog != nil
	}
	switch {
	case count || q.SortBy == "":
	case p.ordered:
		ex.Order = "index"
	default:
		ex.Order = "sort"
	}
	if count && p.exact {
		ex.Estimate = 0 // counted from the index's ranks
	}
	return ex, nil
}

// Reads is the most entities a query reads (count: as ENTITY.COUNT), from
// its plan and without running it: the index's keys in the ranges, or the
// table's size for a scan, unless the walk stops sooner for certain: a
// count of an index's exact ranges reads none, and an ordered walk of
// exact ranges, or a scan without WHERE and SORTBY, reads no more than
// Offset+Limit. The server runs a query whose bound is small on its
// network loop instead of handing it to a goroutine.
func (s *Store) Reads(q Query, count bool) (int, error) {
	if count && q.Where == "" {
		return 0, nil
	}
	m, err := newMatcher(q.Where)
	if err != nil {
		return 0, err
	}
	tv := s.viewTable(q.Type)
	if tv == nil {
		return 0, nil
	}
	p := choosePlan(tv, m.prog, q, count)
	keep := -1
	if q.Limit >= 0 && !count {
		keep = q.Offset + q.Limit
	}
	switch {
	case p.fi == nil && m.prog == nil && q.SortBy == "" && keep >= 0:
		return min(p.est, keep), nil
	case p.fi != nil && p.exact && count:
		return 0, nil
	case p.fi != nil && p.exact && p.ordered && keep >= 0:
		return min(p.est, keep), nil
	}
	return p.est, nil
}

// firstMatches reads entities in the source's order and stops once
// offset+limit matched: a first page costs what it returns, not what the
// type holds.
func firstMatches(each func(func(Entity) bool), m *matcher, offset, limit int) []Entity {
	var out []Entity
	if limit == 0 {
		return nil
	}
	skipped := 0
	each(func(e Entity) bool {
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

// sortKey is an entity's SORTBY field encoded in the one order of values
// (order.go), then its id.
type sortKey struct {
	key string
	e   Entity
}

func makeSortKey(e Entity, field string, buf []byte) (sortKey, []byte) {
	buf = appendOrderKey(buf[:0], member(stringBytes(e.JSON()), field))
	buf = append(buf, e.ID()...)
	return sortKey{key: string(buf), e: e}, buf
}

// before orders two keys; descending is the exact reverse.
func (a *sortKey) before(b *sortKey, desc bool) bool {
	if desc {
		return a.key > b.key
	}
	return a.key < b.key
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
func scanSorted(each func(func(Entity) bool), m *matcher, q Query) []Entity {
	keep := -1
	if q.Limit >= 0 {
		keep = q.Offset + q.Limit
	}
	h := &keyHeap{desc: q.Desc}
	var buf []byte
	each(func(e Entity) bool {
		if !m.match(e) {
			return true
		}
		switch {
		case keep < 0 || h.Len() < keep:
			var k sortKey
			k, buf = makeSortKey(e, q.SortBy, buf)
			heap.Push(h, k)
		case keep > 0:
			buf = appendOrderKey(buf[:0], member(stringBytes(e.JSON()), q.SortBy))
			buf = append(buf, e.ID()...)
			if root := h.keys[0].key; (q.Desc && string(buf) > root) || (!q.Desc && string(buf) < root) {
				h.keys[0] = sortKey{key: string(buf), e: e}
				heap.Fix(h, 0)
			}
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
