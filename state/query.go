package state

import (
	"container/heap"
	"fmt"
	"strings"
	"sync"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
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

// where is a query's WHERE: parsed when first seen, which is all the
// planner needs, and compiled only when a plan runs it on entities. A plan
// whose index ranges are exactly the WHERE never runs it, so a query with
// new literals each time (a price range, a name prefix) costs no compile.
type where struct {
	src  string
	tree ast.Node // as written (names not rewritten)
	lets bool     // it declares variables: the planner leaves it alone
	once sync.Once
	prog *program
	err  error
}

// compiled compiles the WHERE, once.
func (w *where) compiled() (*program, error) {
	w.once.Do(func() {
		p, err := compile(w.src, true)
		if err != nil {
			w.err = &QueryError{Msg: fmt.Sprintf("invalid WHERE %q: %v", w.src, err)}
			return
		}
		w.prog = p
	})
	return w.prog, w.err
}

// whereCache keeps parsed (and, once run, compiled) WHERE expressions:
// compiling costs far more than most queries.
var whereCache struct {
	sync.Mutex
	m map[string]*where
}

func parseWhere(src string) (*where, error) {
	whereCache.Lock()
	w, ok := whereCache.m[src]
	whereCache.Unlock()
	if ok {
		return w, nil
	}
	if strings.TrimSpace(src) == "" {
		return nil, &QueryError{Msg: fmt.Sprintf("invalid WHERE %q: empty expression", src)}
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, &QueryError{Msg: fmt.Sprintf("invalid WHERE %q: %v", src, firstLine(err))}
	}
	declared := map[string]bool{}
	ast.Walk(&tree.Node, declaredNames(declared))
	w = &where{src: src, tree: tree.Node, lets: len(declared) > 0}
	whereCache.Lock()
	if whereCache.m == nil || len(whereCache.m) >= 1024 {
		whereCache.m = map[string]*where{}
	}
	whereCache.m[src] = w
	whereCache.Unlock()
	return w, nil
}

// matcher evaluates a WHERE against entities. An entity for which the
// expression fails (a missing field compared with a number, say) does not
// match, as a NULL does not in SQL.
type matcher struct {
	w    *where // nil: every entity matches
	prog *program
	ev   *evaluator
	in   input
}

func newMatcher(src string) (*matcher, error) {
	if src == "" {
		return &matcher{}, nil
	}
	w, err := parseWhere(src)
	if err != nil {
		return nil, err
	}
	return &matcher{w: w}, nil
}

// ready compiles the WHERE before a plan runs it on entities, and returns
// the error of one that does not compile.
func (m *matcher) ready() error {
	if m.w == nil || m.prog != nil {
		return nil
	}
	p, err := m.w.compiled()
	if err != nil {
		return err
	}
	m.prog, m.ev = p, newEvaluator()
	return nil
}

// exactly is the matcher of a plan whose ranges are exactly the WHERE:
// it matches whatever they give. Otherwise it is m, compiled.
func (m *matcher) exactly(exact bool) (*matcher, error) {
	if exact {
		return &matcher{}, nil
	}
	return m, m.ready()
}

func (m *matcher) match(e Entity) bool {
	if m.w == nil {
		return true
	}
	if m.prog == nil && m.ready() != nil {
		return false
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
		return nil, m.ready()
	}
	p := planOn(tv, m.w, q, false)
	if m, err = m.exactly(p.exact); err != nil {
		return nil, err
	}
	if p.exact && q.Limit >= 0 && (q.SortBy == "" || p.ordered) {
		p.want = q.Offset + q.Limit // every entity the walk gives is kept
	}
	each := counted(p.source(tv, q.Desc), reads)
	if q.SortBy == "" || p.ordered {
		return firstMatches(each, m, q.Offset, q.Limit), nil
	}
	return scanSorted(each, m, q), nil
}

// planKey is what a plan is made for, on a view.
type planKey struct {
	q     Query
	count bool
}

// maxPlans bounds the plans a view keeps.
const maxPlans = 256

// planOn is choosePlan, kept with the view: a plan depends on nothing but
// the query and the view, and a view is given to every query until the
// table is written (viewTable), so that the query the network loop checks
// with Reads and then runs, and a query an application sends again and
// again between writes, are planned once.
func planOn(tv *tableView, w *where, q Query, count bool) plan {
	k := planKey{q, count}
	tv.mu.Lock()
	p, ok := tv.plans[k]
	tv.mu.Unlock()
	if ok {
		return p
	}
	p = choosePlan(tv, w, q, count)
	tv.mu.Lock()
	if tv.plans == nil || len(tv.plans) >= maxPlans {
		tv.plans = map[planKey]plan{} // a full memo starts again
	}
	tv.plans[k] = p
	tv.mu.Unlock()
	return p
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
		return 0, m.ready()
	}
	p := planOn(tv, m.w, Query{Type: typ, Where: where, Limit: -1}, true)
	if p.exact {
		return p.est, nil
	}
	if err := m.ready(); err != nil {
		return 0, err
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
	if err := m.ready(); err != nil {
		return Explain{}, err
	}
	ex := Explain{Order: "none", Filter: m.w != nil}
	tv := s.viewTable(q.Type)
	if tv == nil {
		return ex, nil
	}
	p := choosePlan(tv, m.w, q, count)
	if p.uncounted {
		p.countRanges()
	}
	ex.Entities, ex.Estimate = tv.idx.Len(), p.est
	if p.fi != nil {
		ex.Index, ex.Ranges = p.fi.def.Name(), p.descs
		ex.Filter = !p.exact && m.w != nil
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
	p := planOn(tv, m.w, q, count)
	keep := -1
	if q.Limit >= 0 && !count {
		keep = q.Offset + q.Limit
	}
	switch {
	case p.fi == nil && m.w == nil && q.SortBy == "" && keep >= 0:
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
	if limit == 0 {
		return nil
	}
	var out []Entity
	if limit > 0 {
		out = make([]Entity, 0, min(limit, 256)) // a first page, at once
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
