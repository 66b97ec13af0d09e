package state

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/foldb/foldb/eventlog"
)

const benchSchema = `
entities:
  product:
    indexes: [price, sku, [category, price]]
    when:
      Repriced: {set: {price: event.price}}
`

// benchN is the number of products the query benchmarks hold
// (FOLDB_BENCH_N, default a million).
func benchN() int {
	if n, err := strconv.Atoi(os.Getenv("FOLDB_BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

var benchStores struct {
	sync.Once
	indexed, plain *Store
}

// productStores returns two stores of the same products, one with the
// schema's indexes and one without.
func productStores(b *testing.B) (indexed, plain *Store) {
	benchStores.Do(func() {
		n := benchN()
		withIdx, _ := ParseSchema(benchSchema)
		without, _ := ParseSchema("entities:\n  product:\n    when: {}\n")
		benchStores.indexed, benchStores.plain = NewStore(withIdx), NewStore(without)
		r := rand.New(rand.NewPCG(1, 2))
		ti, tp := benchStores.indexed.tableFor("product"), benchStores.plain.tableFor("product")
		for i := range n {
			e := packEntity(strconv.Itoa(i), 1, fmt.Appendf(nil, `{"sku":"SKU-%08d","name":"Product %d","category":"c%d","price":%d.%02d,"stock":%d}`,
				i, i, r.IntN(50), r.IntN(10000), r.IntN(100), r.IntN(1000)))
			ti.idx.Set(e)
			tp.idx.Set(e)
		}
		benchStores.indexed.Live()
		benchStores.plain.Live()
	})
	return benchStores.indexed, benchStores.plain
}

func benchQuery(b *testing.B, q Query, want int) {
	indexed, plain := productStores(b)
	for _, c := range []struct {
		name string
		s    *Store
	}{{"index", indexed}, {"scan", plain}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := c.s.All(q)
				if err != nil || (want >= 0 && len(got) != want) {
					b.Fatalf("%d entities, %v", len(got), err)
				}
			}
		})
	}
}

// BenchmarkSortByLimit: ENTITY.ALL product SORTBY price DESC LIMIT 0 10.
func BenchmarkSortByLimit(b *testing.B) {
	benchQuery(b, Query{Type: "product", SortBy: "price", Desc: true, Limit: 10}, 10)
}

// BenchmarkWhereSortByLimit: a compound index's equality prefix, then its
// order: WHERE category == "c7" && price < 5000 SORTBY price LIMIT 0 10.
func BenchmarkWhereSortByLimit(b *testing.B) {
	benchQuery(b, Query{Type: "product", Where: `category == "c7" && price < 5000`, SortBy: "price", Limit: 10}, 10)
}

// BenchmarkPointLookup: WHERE sku == "SKU-00123456".
func BenchmarkPointLookup(b *testing.B) {
	benchQuery(b, Query{Type: "product", Where: fmt.Sprintf(`sku == "SKU-%08d"`, benchN()/2), Limit: -1}, 1)
}

// BenchmarkCountRange: ENTITY.COUNT product WHERE price >= 1000 && price
// < 2000, exact ranges (counted from ranks), and with a residual conjunct.
func BenchmarkCountRange(b *testing.B) {
	indexed, plain := productStores(b)
	for _, c := range []struct {
		name, where string
		s           *Store
	}{
		{"index", "price >= 1000 && price < 2000", indexed},
		{"index+filter", "price >= 1000 && price < 2000 && stock > 500", indexed},
		{"scan", "price >= 1000 && price < 2000", plain},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.s.Count("product", c.where); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIndexBuild builds the price index of the products (the time
// of the build alone) and reports the heap it takes per entry, beside the
// estimate INFO shows.
func BenchmarkIndexBuild(b *testing.B) {
	_, plain := productStores(b)
	t := plain.tables["product"]
	def := &IndexDef{Fields: []string{"price"}}
	var perEntry, estimate float64
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		b.StartTimer()
		f := newFieldIndex(def)
		f.build(t.idx)
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.StartTimer()
		perEntry = float64(m1.HeapAlloc-m0.HeapAlloc) / float64(f.tree.Len())
		estimate = float64(f.Bytes()) / float64(f.tree.Len())
		runtime.KeepAlive(f)
	}
	b.ReportMetric(perEntry, "heap-bytes/entry")
	b.ReportMetric(estimate, "info-bytes/entry")
}

// BenchmarkPublishRepriced: one round of one event that changes an
// indexed field, published into a store with and without indexes.
func BenchmarkPublishRepriced(b *testing.B) {
	indexed, plain := productStores(b)
	for _, c := range []struct {
		name string
		s    *Store
	}{{"index", indexed}, {"no-index", plain}} {
		b.Run(c.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(3, 4))
			n := benchN()
			ev := []eventlog.Event{{Type: "Repriced"}}
			b.ReportAllocs()
			for b.Loop() {
				ev[0].Stream = "product:" + strconv.Itoa(r.IntN(n))
				ev[0].Data = fmt.Appendf(ev[0].Data[:0], `{"price":%d}`, r.IntN(10000))
				if err := c.s.Stage(ev); err != nil {
					b.Fatal(err)
				}
				c.s.Publish(0)
			}
		})
	}
}

// BenchmarkAggregate: ENTITY.AGGREGATE product GROUPBY category REDUCE
// COUNT SUM stock over every entity: /entities reads the entities' JSON,
// /columns the pages' columns an earlier aggregation stored, /cold builds
// them first (the first aggregation after a restart, or after writes to
// every page).
func BenchmarkAggregate(b *testing.B) {
	_, plain := productStores(b)
	agg := Aggregate{Type: "product", GroupBy: "category", Reducers: []Reducer{{Op: "COUNT"}, {Op: "SUM", Field: "stock"}}, ColumnMemory: 1 << 40}
	for _, c := range []struct {
		name    string
		columns bool
		cold    bool
	}{{"entities", false, false}, {"columns", true, false}, {"cold", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			workers := runtime.GOMAXPROCS(0)
			if c.columns && !c.cold {
				if _, err := plain.aggregate(agg, workers, true); err != nil { // stores the columns
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if c.cold {
					b.StopTimer()
					plain.viewTable("product").idx.eachPage(func(p *page) bool { p.cols.Store(nil); return true })
					b.StartTimer()
				}
				rows, err := plain.aggregate(agg, workers, c.columns)
				if err != nil || len(rows) != 50 {
					b.Fatalf("%d rows, %v", len(rows), err)
				}
			}
		})
	}
}

// BenchmarkAggregateCatalog: the catalogue row's query 5 (GROUPBY category
// REDUCE SUM stock, 200 categories) by the columns an earlier aggregation
// stored, over the bench's products with the catalogue's categories.
func BenchmarkAggregateCatalog(b *testing.B) {
	schema, _ := ParseSchema("entities:\n  product:\n    when: {}\n")
	s := NewStore(schema)
	r := rand.New(rand.NewPCG(1, 2))
	t := s.tableFor("product")
	for i := range benchN() {
		t.idx.Set(packEntity(strconv.Itoa(i), 1, fmt.Appendf(nil, `{"sku":"SKU-%08d","name":"product %d","category":"c%d","price":%d,"stock":%d,"tags":["t%d","t%d"]}`,
			i, i, r.IntN(200), r.IntN(100000), r.IntN(1000), r.IntN(50), r.IntN(50))))
	}
	s.Live()
	agg := Aggregate{Type: "product", GroupBy: "category", Reducers: []Reducer{{Op: "SUM", Field: "stock"}}, ColumnMemory: 1 << 40}
	loopAggregate(b, s, agg, true, 200)
}

// loopAggregate runs agg once (storing its columns when columns is set),
// then in the benchmark's loop, checking that each gives groups rows.
func loopAggregate(b *testing.B, s *Store, agg Aggregate, columns bool, groups int) {
	workers := runtime.GOMAXPROCS(0)
	if _, err := s.aggregate(agg, workers, columns); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if rows, err := s.aggregate(agg, workers, columns); err != nil || len(rows) != groups {
			b.Fatalf("%d rows, %v", len(rows), err)
		}
	}
}

// BenchmarkAggregateMinMax: GROUPBY category REDUCE MIN price MAX price
// over every product, by the entities and by stored columns.
func BenchmarkAggregateMinMax(b *testing.B) {
	_, plain := productStores(b)
	agg := Aggregate{Type: "product", GroupBy: "category", Reducers: []Reducer{{Op: "MIN", Field: "price"}, {Op: "MAX", Field: "price"}}, ColumnMemory: 1 << 40}
	for _, columns := range []bool{false, true} {
		b.Run(map[bool]string{false: "entities", true: "columns"}[columns], func(b *testing.B) {
			loopAggregate(b, plain, agg, columns, 50)
			b.ReportMetric(float64(plain.ColumnBytes())/float64(plain.Len("product")), "column-B/entity")
		})
	}
}

// BenchmarkCompileWhere: compiling a WHERE with new literals, the cost an
// exact plan no longer pays.
func BenchmarkCompileWhere(b *testing.B) {
	i := 0
	for b.Loop() {
		i++
		if _, err := compile(fmt.Sprintf("price >= %d && price < %d", i, i+1000), true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCategoryTop10: the catalogue's query 1 with a category drawn
// for each query, as the bench's client sends it (WHERE category == 'cN'
// SORTBY price LIMIT 0 10, a text new for each category); /reads is the
// network loop's check that its plan is bounded (Store.Reads).
func BenchmarkCategoryTop10(b *testing.B) {
	indexed, _ := productStores(b)
	query := func(r *rand.Rand) Query {
		return Query{Type: "product", Where: fmt.Sprintf("category == 'c%d'", r.IntN(50)), SortBy: "price", Limit: 10}
	}
	b.Run("all", func(b *testing.B) {
		r := rand.New(rand.NewPCG(3, 4))
		b.ReportAllocs()
		for b.Loop() {
			if got, err := indexed.All(query(r)); err != nil || len(got) != 10 {
				b.Fatalf("%d entities, %v", len(got), err)
			}
		}
	})
	b.Run("reads", func(b *testing.B) {
		r := rand.New(rand.NewPCG(3, 4))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := indexed.Reads(query(r), false); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPrefixPage: the catalogue's query 3 in the shape the bench's
// client sends it, a prefix new for each query (WHERE sku startsWith
// 'SKU-00nnn' SORTBY sku LIMIT 0 20): a page of an index whose entities
// are anywhere in memory.
func BenchmarkPrefixPage(b *testing.B) {
	indexed, _ := productStores(b)
	r := rand.New(rand.NewPCG(5, 6))
	b.ReportAllocs()
	for b.Loop() {
		q := Query{Type: "product", Where: fmt.Sprintf("sku startsWith 'SKU-00%03d'", r.IntN(benchN()/1000)), SortBy: "sku", Limit: 20}
		if got, err := indexed.All(q); err != nil || len(got) != 20 {
			b.Fatalf("%d entities, %v", len(got), err)
		}
	}
}
