package state

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Aggregate groups the entities a WHERE selects by a field and reduces
// each group (ENTITY.AGGREGATE). It reads what the query planner gives for
// the WHERE: an index's ranges or every entity.
type Aggregate struct {
	Type     string
	Where    string
	GroupBy  string // a top-level field; "": one group of all
	Reducers []Reducer
	// ColumnMemory bounds the memory the type's pages may hold in columns
	// after the aggregation (columns.go): a page whose columns would go
	// past it is read by its entities. 0: no columns are built.
	ColumnMemory int64
}

// Reducer is one figure of a group: COUNT, or SUM, MIN, MAX, AVG of a
// top-level field.
type Reducer struct {
	Op    string // "COUNT", "SUM", "MIN", "MAX", "AVG"
	Field string // "" for COUNT
}

// Name is how a reply names the figure: count, sum(price), ...
func (r Reducer) Name() string {
	if r.Op == "COUNT" {
		return "count"
	}
	return fmt.Sprintf("%s(%s)", lowerASCII(r.Op), r.Field)
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// AggRow is one group: its field's value as JSON ("" when missing; the
// row of all when there is no GROUPBY), and one value per reducer, in the
// reducers' order: an int64 for COUNT; for SUM and AVG a float64 (nil
// when no entity of the group has a number there); for MIN and MAX the JSON
// of the least or greatest value in the order of values (order.go), ""
// when none has the field (of equal values, 2 and 2.0, the least JSON
// text).
type AggRow struct {
	Group  string
	Values []any
}

type aggAcc struct {
	group  string
	key    string // the group's order key
	count  int64
	sums   []float64
	nums   []int64 // numbers summed, per reducer
	minmax []string
	mmKeys []string
}

// aggregator folds entities into groups. Each goroutine of a parallel
// scan has its own; merge joins them.
type aggregator struct {
	a       *Aggregate
	m       *matcher
	names   []string // the fields read: the GROUPBY field (first, when set) and the reducers'
	field   []int    // per reducer, its field's place in names (-1: COUNT)
	group   int      // the GROUPBY field's place in names (-1: none)
	vals    [][]byte
	buf     []byte
	cols    []*column // addPage's
	accs    []*aggAcc // addPage's: the group of each GROUPBY code
	zeros   []uint16  // addPage's codes when there is no GROUPBY
	scratch colScratch
	groups  map[string]*aggAcc
	// byRaw finds a group by its value as written, without the order key
	// (values written apart, as 2 and 2.0, are one group: each finds it).
	byRaw map[string]*aggAcc
	// byHash is byRaw for addPage, by the hash its columns keep: a cache
	// of the groups found last, one per slot.
	byHash [1024]hashedGroup
}

func newAggregator(a *Aggregate, m *matcher) *aggregator {
	ag := &aggregator{a: a, m: m, group: -1, field: make([]int, len(a.Reducers)), groups: map[string]*aggAcc{}, byRaw: map[string]*aggAcc{}}
	if a.GroupBy != "" {
		ag.group, ag.names = 0, append(ag.names, a.GroupBy)
	}
	for i, r := range a.Reducers {
		ag.field[i] = -1
		if r.Op == "COUNT" {
			continue
		}
		at := slices.Index(ag.names, r.Field)
		if at < 0 {
			at, ag.names = len(ag.names), append(ag.names, r.Field)
		}
		ag.field[i] = at
	}
	ag.vals = make([][]byte, len(ag.names))
	return ag
}

func (ag *aggregator) newAcc(group, key string) *aggAcc {
	n := len(ag.a.Reducers)
	return &aggAcc{group: group, key: key, sums: make([]float64, n), nums: make([]int64, n), minmax: make([]string, n), mmKeys: make([]string, n)}
}

// maxRawGroups bounds an aggregator's byRaw: past it (a GROUPBY of a
// field with many values) groups are found by their order key alone.
const maxRawGroups = 4096

// add folds one entity, when it matches.
func (ag *aggregator) add(e Entity) bool {
	if !ag.m.match(e) {
		return true
	}
	membersOf(stringBytes(e.JSON()), ag.names, ag.vals)
	var raw []byte
	if ag.group >= 0 {
		raw = ag.vals[ag.group]
	}
	g := ag.groupOf(raw)
	g.count++
	for i, r := range ag.a.Reducers {
		if ag.field[i] < 0 {
			continue
		}
		v := ag.vals[ag.field[i]]
		switch r.Op {
		case "SUM", "AVG":
			if f, ok := numberOf(v); ok {
				g.sums[i] += f
				g.nums[i]++
			}
		case "MIN", "MAX":
			if v == nil {
				continue
			}
			ag.buf = appendOrderKey(ag.buf[:0], v)
			if g.better(r.Op, i, bytesView(ag.buf), bytesView(v)) {
				g.mmKeys[i], g.minmax[i] = string(ag.buf), string(v)
			}
		}
	}
	return true
}

// groupOf returns the group of a GROUPBY value as written (nil: missing).
func (ag *aggregator) groupOf(raw []byte) *aggAcc {
	g := ag.byRaw[string(raw)]
	if g == nil {
		ag.buf = appendOrderKey(ag.buf[:0], raw)
		if g = ag.groups[string(ag.buf)]; g == nil {
			g = ag.newAcc(string(raw), string(ag.buf))
			ag.groups[g.key] = g
		}
		if len(ag.byRaw) < maxRawGroups {
			ag.byRaw[string(raw)] = g
		}
	}
	return g
}

// groupOfCode is groupOf the value of a GROUPBY column's code, found by
// the value's hash when an earlier page had it.
func (ag *aggregator) groupOfCode(c *column, code uint16) *aggAcc {
	if code == 0 || c == nil {
		return ag.groupOf(nil)
	}
	v, h := c.dict[code-1], c.hashes[code-1]
	slot := &ag.byHash[h%uint64(len(ag.byHash))]
	if slot.g != nil && slot.h == h && slot.raw == v {
		return slot.g
	}
	g := ag.groupOf(stringBytes(v))
	*slot = hashedGroup{h, v, g}
	return g
}

type hashedGroup struct {
	h   uint64
	raw string
	g   *aggAcc
}

// byColumns reports whether the aggregation can read pages' columns
// (columns.go) instead of the entities: every entity counts (no WHERE).
func (ag *aggregator) byColumns() bool {
	return ag.m.w == nil
}

// colKeys are the columns an aggregation by columns reads: the GROUPBY
// field's values first, when there is one, then one per reducer but a
// COUNT: the numbers of a SUM's or AVG's field, the values of a MIN's or
// MAX's.
func (ag *aggregator) colKeys() []colKey {
	var keys []colKey
	if ag.group >= 0 {
		keys = append(keys, colKey{ag.a.GroupBy, colValues})
	}
	for _, r := range ag.a.Reducers {
		switch r.Op {
		case "SUM", "AVG":
			keys = append(keys, colKey{r.Field, colNumbers})
		case "MIN", "MAX":
			keys = append(keys, colKey{r.Field, colValues})
		}
	}
	return keys
}

// addPage folds a page's entities by its columns, a column at a time, or
// by the entities when the budget cannot pay for the columns it lacks.
func (ag *aggregator) addPage(p *page, keys []colKey, budget *atomic.Int64) bool {
	var ok bool
	if ag.cols, ok = p.columnsOf(keys, ag.cols, &ag.scratch, budget); !ok {
		return p.scan(ag.add)
	}
	nums := ag.cols
	var codes []uint16
	var dict []string
	var gc *column
	if ag.group >= 0 {
		gc = ag.cols[0]
		codes, dict, nums = gc.codes, gc.dict, ag.cols[1:]
	} else {
		if len(ag.zeros) < p.n {
			ag.zeros = make([]uint16, p.n)
		}
		codes = ag.zeros[:p.n]
	}
	if n := 1 + len(dict); cap(ag.accs) < n {
		ag.accs = make([]*aggAcc, n)
	} else {
		ag.accs = ag.accs[:n]
		clear(ag.accs)
	}
	// Each code finds its group when an entity first has it, as add
	// finds them: the group of values written apart (null and a missing
	// field, 2 and 2.0) is named by the first one read.
	accs := ag.accs
	for _, code := range codes {
		g := accs[code]
		if g == nil {
			g = ag.groupOfCode(gc, code)
			accs[code] = g
		}
		g.count++
	}
	c := 0
	for i, r := range ag.a.Reducers {
		switch r.Op {
		case "SUM", "AVG":
			for j, f := range nums[c].nums[:len(codes)] {
				if f == f { // NaN: not a number
					g := accs[codes[j]]
					g.sums[i] += f
					g.nums[i]++
				}
			}
		case "MIN", "MAX":
			vc := nums[c]
			for j, v := range vc.codes[:len(codes)] {
				if v == 0 { // missing
					continue
				}
				if g := accs[codes[j]]; g.better(r.Op, i, vc.keys[v-1], vc.dict[v-1]) {
					g.mmKeys[i], g.minmax[i] = vc.keys[v-1], vc.dict[v-1]
				}
			}
		default:
			continue
		}
		c++
	}
	return true
}

// better reports whether a value (its order key and JSON) replaces the
// group's MIN or MAX of reducer i: of equal values (2, 2.0) the shorter
// text wins, whatever the order they were read in.
func (g *aggAcc) better(op string, i int, key, text string) bool {
	return g.mmKeys[i] == "" || (op == "MIN" && key < g.mmKeys[i]) || (op == "MAX" && key > g.mmKeys[i]) ||
		(key == g.mmKeys[i] && text < g.minmax[i])
}

// merge joins another aggregator's groups into ag's.
func (ag *aggregator) merge(o *aggregator) {
	for k, og := range o.groups {
		g := ag.groups[k]
		if g == nil {
			ag.groups[k] = og
			continue
		}
		g.count += og.count
		for i, r := range ag.a.Reducers {
			switch r.Op {
			case "SUM", "AVG":
				g.sums[i] += og.sums[i]
				g.nums[i] += og.nums[i]
			case "MIN", "MAX":
				if og.mmKeys[i] != "" && g.better(r.Op, i, og.mmKeys[i], og.minmax[i]) {
					g.mmKeys[i], g.minmax[i] = og.mmKeys[i], og.minmax[i]
				}
			}
		}
	}
}

// parallelAggregate is the fewest entities a scan must read for an
// aggregation to be split over the machine's cores.
const parallelAggregate = 64 << 10

// Aggregate runs an aggregation. Groups come in the order of their values
// (order.go). A scan of a large type runs on every core, each over a part
// of the table.
func (s *Store) Aggregate(a Aggregate) ([]AggRow, error) {
	workers := 1
	if tv := s.viewTable(a.Type); tv != nil && tv.idx.Len() >= parallelAggregate {
		workers = runtime.GOMAXPROCS(0)
	}
	return s.aggregate(a, workers, true)
}

// aggregate is Aggregate with a scan split over this many goroutines,
// reading the pages' columns when it can and columns is set.
func (s *Store) aggregate(a Aggregate, workers int, columns bool) ([]AggRow, error) {
	m, err := newMatcher(a.Where)
	if err != nil {
		return nil, err
	}
	ag := newAggregator(&a, m)
	if tv := s.viewTable(a.Type); tv == nil {
		if err := m.ready(); err != nil { // no entities, but the WHERE is checked
			return nil, err
		}
	} else {
		p := choosePlan(tv, m.w, Query{Type: a.Type, Limit: -1}, false)
		if ag.m, err = m.exactly(p.exact); err != nil {
			return nil, err
		}
		columns := columns && p.fi == nil && ag.byColumns()
		var budget atomic.Int64 // what the columns built now may take
		if columns {
			budget.Store(a.ColumnMemory - int64(tv.idx.ColumnBytes()))
		}
		if p.fi != nil || (workers < 2 && !columns) {
			p.source(tv, false)(ag.add)
		} else {
			parts := tv.idx.pageParts(workers)
			ags := make([]*aggregator, len(parts))
			var wg sync.WaitGroup
			for w, part := range parts {
				ags[w] = ag
				if w > 0 {
					wm, _ := newMatcher(a.Where) // compiled above: from the cache
					if wm, err = wm.exactly(p.exact); err != nil {
						return nil, err
					}
					ags[w] = newAggregator(&a, wm)
				}
				fold := func(pg *page) bool { return pg.scan(ags[w].add) }
				if columns {
					keys := ag.colKeys()
					fold = func(pg *page) bool { return ags[w].addPage(pg, keys, &budget) }
				}
				wg.Go(func() { part(fold) })
			}
			wg.Wait()
			for _, o := range ags[1:] {
				ag.merge(o)
			}
		}
	}
	groups := ag.groups
	if a.GroupBy == "" && len(groups) == 0 {
		groups[""] = ag.newAcc("", "")
	}
	accs := make([]*aggAcc, 0, len(groups))
	for _, g := range groups {
		accs = append(accs, g)
	}
	slices.SortFunc(accs, func(x, y *aggAcc) int { return strings.Compare(x.key, y.key) })
	rows := make([]AggRow, len(accs))
	for j, g := range accs {
		row := AggRow{Group: g.group, Values: make([]any, len(a.Reducers))}
		for i, r := range a.Reducers {
			switch r.Op {
			case "COUNT":
				row.Values[i] = g.count
			case "SUM", "AVG":
				if g.nums[i] == 0 {
					row.Values[i] = nil
					continue
				}
				v := g.sums[i]
				if r.Op == "AVG" {
					v /= float64(g.nums[i])
				}
				row.Values[i] = v
			default:
				row.Values[i] = g.minmax[i]
			}
		}
		rows[j] = row
	}
	return rows, nil
}

// FormatNumber writes a SUM or AVG as ENTITY.AGGREGATE replies it: whole
// numbers without a fraction, others in the shortest form that reads back.
func FormatNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
