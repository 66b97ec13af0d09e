package state

import (
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func (ps *propStore) query() (Query, bool) {
	r := ps.r
	fields := []string{"price", "category", "name", "x"}
	ops := []string{"==", "!=", "<", "<=", ">", ">=", "in", "startsWith", "=="}
	var parts []string
	for range 1 + r.IntN(3) {
		f := fields[r.IntN(len(fields))]
		if r.IntN(5) == 0 {
			f = "state." + f
		}
		lit := propLiterals[r.IntN(len(propLiterals))]
		switch op := ops[r.IntN(len(ops))]; op {
		case "in":
			var list []string
			for range 1 + r.IntN(3) {
				list = append(list, propLiterals[r.IntN(len(propLiterals))])
			}
			parts = append(parts, f+" in ["+strings.Join(list, ", ")+"]")
		case "startsWith":
			parts = append(parts, f+" startsWith "+[]string{`""`, `"a"`, `"ab"`, `"b"`, `"a\u0000"`}[r.IntN(5)])
		default:
			if r.IntN(4) == 0 {
				parts = append(parts, lit+" "+flipped[op]+" "+f)
			} else {
				parts = append(parts, f+" "+op+" "+lit)
			}
		}
	}
	q := Query{Type: "p", Limit: -1}
	if r.IntN(6) > 0 {
		q.Where = strings.Join(parts, " && ")
	}
	if r.IntN(3) > 0 {
		q.SortBy = fields[r.IntN(len(fields))]
		q.Desc = r.IntN(2) == 0
	}
	if r.IntN(2) == 0 {
		q.Offset, q.Limit = r.IntN(5), r.IntN(12)
	}
	return q, true
}

// scanned runs a query by scanning every entity, the oracle of the plans.
func scanned(t *testing.T, s *Store, q Query) []Entity {
	m, err := newMatcher(q.Where)
	if err != nil {
		t.Fatal(err)
	}
	tv := s.viewTable(q.Type)
	if tv == nil {
		return nil
	}
	if q.SortBy == "" {
		return firstMatches(tv.idx.Scan, m, q.Offset, q.Limit)
	}
	return scanSorted(tv.idx.Scan, m, q)
}

// whereErr is the error of a WHERE that does not parse or compile.
func whereErr(src string) error {
	m, err := newMatcher(src)
	if err != nil {
		return err
	}
	return m.ready()
}

func idList(es []Entity) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID()
	}
	return out
}

// check runs a query through the planner and through a scan and compares.
func (ps *propStore) check(s *Store, q Query, stats map[string]int) {
	t := ps.t
	t.Helper()
	read := 0
	got, err := s.all(q, &read)
	if cerr := whereErr(q.Where); cerr != nil {
		if err == nil {
			t.Fatalf("%+v: no error; the WHERE does not compile: %v", q, cerr)
		}
		return // an order comparison with a bool literal, say
	}
	if err != nil {
		t.Fatalf("%+v: %v", q, err)
	}
	want := scanned(t, s, q)
	stats["queries"]++
	ex, _ := s.Explain(q, false)
	if bound, err := s.Reads(q, false); err != nil || read > bound {
		t.Fatalf("%+v (plan %+v): read %d entities; Reads promised at most %d (%v)", q, ex, read, bound, err)
	} else if bound <= 20 {
		stats["bounded"]++
	}
	if ex.Index != "" {
		stats["index"]++
	} else {
		stats["scan"]++
	}
	if q.SortBy != "" {
		if !slices.Equal(idList(got), idList(want)) {
			t.Fatalf("%+v (plan %+v):\n got %v\nwant %v", q, ex, idList(got), idList(want))
		}
	} else {
		all := q
		all.Offset, all.Limit = 0, -1
		every := idList(scanned(t, s, all))
		n := len(every) - q.Offset
		if q.Limit >= 0 {
			n = min(n, q.Limit)
		}
		if len(got) != max(n, 0) {
			t.Fatalf("%+v (plan %+v): %d entities, want %d", q, ex, len(got), max(n, 0))
		}
		for _, id := range idList(got) {
			if !slices.Contains(every, id) {
				t.Fatalf("%+v (plan %+v): %s does not match", q, ex, id)
			}
		}
	}
	if q.Where != "" {
		read = 0
		n, err := s.count("p", q.Where, &read)
		if bound, berr := s.Reads(q, true); berr != nil || read > bound {
			t.Fatalf("COUNT %q: read %d entities; Reads promised at most %d (%v)", q.Where, read, bound, berr)
		}
		all := q
		all.Offset, all.Limit, all.SortBy = 0, -1, ""
		if want := len(scanned(t, s, all)); err != nil || n != want {
			cx, _ := s.Explain(q, true)
			t.Fatalf("COUNT %q (plan %+v) = %d, %v; want %d", q.Where, cx, n, err, want)
		}
		if cx, _ := s.Explain(q, true); cx.Index != "" && !cx.Filter {
			stats["exact count"]++
		}
	}
}

// TestPlansAgainstScan: random data of mixed types with missing fields,
// random conjunctions, SORTBY and LIMIT; every query's result through the
// planner is the scan's, with writes between queries and across a capture
// restored into a new store. FOLDB_PROP_ROUNDS runs more rounds,
// FOLDB_PROP_SEED shifts their seeds.
func TestPlansAgainstScan(t *testing.T) {
	rounds := 1
	if v, err := strconv.Atoi(os.Getenv("FOLDB_PROP_ROUNDS")); err == nil {
		rounds = v
	}
	for round := range rounds {
		seed := uint64(round + 1)
		if v, err := strconv.ParseUint(os.Getenv("FOLDB_PROP_SEED"), 10, 64); err == nil {
			seed += v
		}
		ps := newPropStore(t, seed, 300)
		ps.write(3000) // loading, then the indexes are built
		ps.s.Live()
		checkIndexes(t, ps.s)
		stats := map[string]int{}
		var restored *Store
		for i := range 400 {
			q, _ := ps.query()
			ps.check(ps.s, q, stats)
			ps.write(1 + ps.r.IntN(8))
			if i == 200 {
				restored = restoreCapture(t, ps.s.Capture())
			}
			if restored != nil && i%4 == 0 {
				q, _ := ps.query()
				ps.check(restored, q, stats)
			}
		}
		checkIndexes(t, ps.s)
		checkIndexes(t, restored)
		if stats["index"] < 100 || stats["exact count"] < 20 || stats["bounded"] < 20 {
			t.Fatalf("seed %d: too few plans used an index: %v", seed, stats)
		}
		t.Logf("seed %d: %v", seed, stats)
	}
}

func TestExplain(t *testing.T) {
	ps := newPropStore(t, 1, 100)
	ps.write(1000)
	ps.s.Live()
	cases := []struct {
		q      Query
		count  bool
		index  string
		ranges string
		order  string
		filter bool
	}{
		{Query{Type: "p", Where: "price > 1 && price <= 3", Limit: -1}, true, "price", "price > 1 && price <= 3", "none", false},
		{Query{Type: "p", Where: `category == "a"`, SortBy: "price", Desc: true, Limit: 10}, false, "category,price", `category == "a"`, "index", false},
		{Query{Type: "p", Where: `name startsWith "a" && x == 1`, Limit: -1}, true, "name", `name startsWith "a"`, "none", true},
		{Query{Type: "p", SortBy: "price", Limit: 10}, false, "price", "all", "index", false},
		{Query{Type: "p", Where: "x > 1", Limit: -1}, true, "", "", "none", true},
		{Query{Type: "p", Where: "price in [2, 1, 2]", Limit: -1}, true, "price", "price == 1|price == 2", "none", false},
	}
	for _, c := range cases {
		ex, err := ps.s.Explain(c.q, c.count)
		if err != nil {
			t.Fatal(err)
		}
		if ex.Index != c.index || strings.Join(ex.Ranges, "|") != c.ranges || ex.Order != c.order || ex.Filter != c.filter {
			t.Errorf("%+v: got %+v", c.q, ex)
		}
		if ex.Entities != ps.s.Len("p") {
			t.Errorf("%+v: entities %d", c.q, ex.Entities)
		}
	}
}

// TestAggregateAgainstScan: ENTITY.AGGREGATE's groups and figures, worked
// out again from the entities a scan selects.
func TestAggregateAgainstScan(t *testing.T) {
	ps := newPropStore(t, 9, 200)
	ps.write(2000)
	ps.s.Live()
	reducers := []Reducer{{Op: "COUNT"}, {Op: "SUM", Field: "price"}, {Op: "AVG", Field: "price"}, {Op: "MIN", Field: "name"}, {Op: "MAX", Field: "price"}}
	for i := range 60 {
		q, _ := ps.query()
		if err := whereErr(q.Where); err != nil {
			continue
		}
		group := []string{"", "category", "x"}[i%3]
		agg := Aggregate{Type: "p", Where: q.Where, GroupBy: group, Reducers: reducers, ColumnMemory: int64(i%2) << 40}
		rows, err := ps.s.Aggregate(agg)
		if err != nil {
			t.Fatal(err)
		}
		// Split over goroutines, as a large type is: the same rows.
		if split, err := ps.s.aggregate(agg, 1+i%4, true); err != nil || !reflect.DeepEqual(split, rows) {
			t.Fatalf("%+v over %d goroutines: %v, %v; want %v", agg, 1+i%4, split, err, rows)
		}
		all := q
		all.Offset, all.Limit, all.SortBy = 0, -1, ""
		type acc struct {
			count      int64
			sum        float64
			nums       int
			minK, maxK string
			min, max   string
		}
		want := map[string]*acc{}
		var keys []string
		for _, e := range scanned(t, ps.s, all) {
			obj := stringBytes(e.JSON())
			var g []byte
			if group != "" {
				g = member(obj, group)
			}
			k := string(appendOrderKey(nil, g))
			a := want[k]
			if a == nil {
				a = &acc{}
				want[k] = a
				keys = append(keys, k)
			}
			a.count++
			switch v := rawValue(member(obj, "price")).(type) {
			case int:
				a.sum, a.nums = a.sum+float64(v), a.nums+1
			case float64:
				a.sum, a.nums = a.sum+v, a.nums+1
			}
			if v := member(obj, "name"); v != nil {
				if k := string(appendOrderKey(nil, v)); a.minK == "" || k < a.minK || (k == a.minK && string(v) < a.min) {
					a.minK, a.min = k, string(v)
				}
			}
			if v := member(obj, "price"); v != nil {
				if k := string(appendOrderKey(nil, v)); a.maxK == "" || k > a.maxK || (k == a.maxK && string(v) < a.max) {
					a.maxK, a.max = k, string(v)
				}
			}
		}
		slices.Sort(keys)
		if group == "" && len(keys) == 0 {
			keys, want[""] = []string{""}, &acc{}
		}
		if len(rows) != len(keys) {
			t.Fatalf("%q GROUPBY %q: %d groups, want %d", q.Where, group, len(rows), len(keys))
		}
		for j, k := range keys {
			a := want[k]
			var sum, avg any
			if a.nums > 0 {
				sum, avg = a.sum, a.sum/float64(a.nums)
			}
			w := []any{a.count, sum, avg, a.min, a.max}
			got := slices.Clone(rows[j].Values)
			for _, i := range []int{1, 2} { // sums in another order round otherwise
				if g, ok := got[i].(float64); ok && w[i] != nil && math.Abs(g-w[i].(float64)) <= 1e-9*math.Abs(g) {
					got[i] = w[i]
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(w) {
				t.Fatalf("%q GROUPBY %q group %d (%s): %v, want %v", q.Where, group, j, rows[j].Group, rows[j].Values, w)
			}
		}
	}
}

// TestAggregateByColumns: an aggregation that reads the pages' columns
// gives what one that reads the entities gives, while writes between
// aggregations change, add and delete entities, and pages split, over
// views taken before and after the writes.
func TestAggregateByColumns(t *testing.T) {
	ps := newPropStore(t, 11, 3000)
	ps.write(3000)
	ps.s.Live()
	reducers := [][]Reducer{
		{{Op: "COUNT"}},
		{{Op: "COUNT"}, {Op: "SUM", Field: "price"}, {Op: "AVG", Field: "price"}},
		{{Op: "SUM", Field: "x"}, {Op: "AVG", Field: "category"}, {Op: "SUM", Field: "price"}},
		{{Op: "MIN", Field: "name"}, {Op: "MAX", Field: "price"}, {Op: "COUNT"}, {Op: "MIN", Field: "x"}, {Op: "MAX", Field: "category"}, {Op: "MIN", Field: "price"}},
	}
	groups := []string{"", "category", "x", "price", "name", "missing"}
	for i := range 120 {
		agg := Aggregate{Type: "p", GroupBy: groups[i%len(groups)], Reducers: reducers[i%len(reducers)], ColumnMemory: 1 << 40}
		if i%4 == 3 { // columns for some pages, the entities for the rest
			agg.ColumnMemory = int64(ps.s.viewTable("p").idx.ColumnBytes()) + 3000
		}
		workers := 1 + i%3
		got, err := ps.s.aggregate(agg, workers, true)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ps.s.aggregate(agg, workers, false)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%+v over %d goroutines, by columns:\n%v\nby entities:\n%v", agg, workers, got, want)
		}
		if i%7 == 0 { // aggregations at once store their columns in the same pages
			other := Aggregate{Type: "p", GroupBy: groups[(i+1)%len(groups)], Reducers: reducers[(i+1)%len(reducers)], ColumnMemory: 1 << 40}
			var wg sync.WaitGroup
			var a, b []AggRow
			wg.Go(func() { a, _ = ps.s.aggregate(agg, workers, true) })
			wg.Go(func() { b, _ = ps.s.aggregate(other, 2, true) })
			wg.Wait()
			wantB, _ := ps.s.aggregate(other, 2, false)
			if !reflect.DeepEqual(a, want) || !reflect.DeepEqual(b, wantB) {
				t.Fatalf("aggregations at once: %v, %v; want %v, %v", a, b, want, wantB)
			}
		}
		if i%5 == 4 {
			ps.write(1 + ps.r.IntN(400))
		}
	}
	// With no write between them, the second aggregation reads the
	// columns the first stored, and builds none.
	agg := Aggregate{Type: "p", GroupBy: "category", Reducers: reducers[1], ColumnMemory: 1 << 40}
	if _, err := ps.s.aggregate(agg, 2, true); err != nil {
		t.Fatal(err)
	}
	tv := ps.s.viewTable("p")
	if tv.idx.ColumnBytes() == 0 {
		t.Fatal("no page kept its columns")
	}
	var before []*pageCols
	tv.idx.eachPage(func(p *page) bool {
		pc := p.cols.Load()
		before = append(before, pc)
		for i, k := range pc.keys {
			if slices.Index(pc.keys, k) != i {
				t.Fatalf("a page keeps column %+v twice", k)
			}
		}
		return true
	})
	if _, err := ps.s.aggregate(agg, 2, true); err != nil {
		t.Fatal(err)
	}
	var after []*pageCols
	tv.idx.eachPage(func(p *page) bool { after = append(after, p.cols.Load()); return true })
	if !slices.Equal(before, after) {
		t.Fatal("the second aggregation built its columns again")
	}

	// A budget bounds what the pages hold; none builds nothing, and
	// DropColumns lets go of them all.
	ps.s.DropColumns()
	agg.Reducers = reducers[2]
	for _, limit := range []int64{0, 5000, 20000} {
		agg.ColumnMemory = limit
		got, err := ps.s.aggregate(agg, 2, true)
		want, _ := ps.s.aggregate(agg, 2, false)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("with %d bytes for columns: %v, %v; want %v", limit, got, err, want)
		}
		if n := ps.s.ColumnBytes(); n > int(limit) || (limit == 20000 && n == 0) {
			t.Fatalf("with %d bytes for columns, the pages hold %d", limit, n)
		}
	}
}

// TestIndexParts: the parts of a table's index give every entity once,
// whatever the directory's shape.
func TestIndexParts(t *testing.T) {
	for _, n := range []int{0, 1, 100, 5000} {
		ps := newPropStore(t, uint64(n)+3, max(n, 1))
		ps.write(n)
		tv := ps.s.viewTable("p")
		if tv == nil {
			continue
		}
		for _, k := range []int{1, 2, 3, 7, 64} {
			seen := map[string]int{}
			for _, part := range tv.idx.Parts(k) {
				part(func(e Entity) bool { seen[e.ID()]++; return true })
			}
			if len(seen) != tv.idx.Len() {
				t.Fatalf("%d entities, %d parts: %d seen", tv.idx.Len(), k, len(seen))
			}
			for id, c := range seen {
				if c != 1 {
					t.Fatalf("%d parts: %s seen %d times", k, id, c)
				}
			}
		}
	}
}
