package state

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestRestoredIndexesPatched: a store restored from a capture with its
// indexes, then folded forward in direct mode as a replay of the log's tail
// does (entities created, changed in indexed fields and deleted), has at
// Live the indexes a cold build gives, the entities of a store that
// folded the same events live, and the answers of a scan to every query.
func TestRestoredIndexesPatched(t *testing.T) {
	for _, c := range []struct {
		tail     int  // events folded after the capture
		shards   int  // the tail folded as a parallel replay over this many shards (0: one store)
		patched  bool // the stored indexes are patched, not dropped for a build
		rounds   int
		liveMore int // events published after Live
	}{
		{tail: 0, patched: true, rounds: 3},
		{tail: 1, patched: true, rounds: 8},
		{tail: 30, patched: true, rounds: 8},
		{tail: 40, patched: true, rounds: 8, liveMore: 50},
		{tail: 40, shards: 2, patched: true, rounds: 8},
		{tail: 150, patched: false, rounds: 4},  // past patchFraction
		{tail: 3000, patched: false, rounds: 3}, // touches most ids: built afresh
		{tail: 3000, shards: 2, patched: false, rounds: 2},
	} {
		t.Run(fmt.Sprintf("tail=%d,shards=%d", c.tail, c.shards), func(t *testing.T) {
			for round := range c.rounds {
				ps := newPropStore(t, uint64(100+round), 300)
				ps.write(2000)
				ps.s.Live()
				for range 20 {
					ps.write(1 + ps.r.IntN(5))
				}
				restored := restore(t, ps.s.schema, ps.s.Capture())
				tail := ps.events(c.tail)
				if c.shards > 0 {
					shards := restored.split(c.shards)
					for _, sh := range shards {
						apply(t, sh, tail)
					}
					restored.merge(shards)
				} else {
					apply(t, restored, tail)
				}
				apply(t, ps.s, tail)
				if got := restored.tables["p"].stored != nil; got != c.patched {
					t.Fatalf("round %d: stored indexes kept %v, want %v (%d ids touched)", round, got, c.patched, len(restored.tables["p"].touched))
				}
				restored.Live()
				if n := len(restored.tables["p"].fidx); n != 5 {
					t.Fatalf("%d indexes after Live", n)
				}
				checkIndexes(t, restored)
				if d := Diff(restored, ps.s); d != "" {
					t.Fatalf("round %d: restored and live stores differ: %s", round, d)
				}
				stats := map[string]int{}
				for range 150 {
					q, _ := ps.query()
					ps.check(restored, q, stats)
				}
				if c.liveMore > 0 {
					more := ps.events(c.liveMore)
					apply(t, restored, more)
					apply(t, ps.s, more)
					checkIndexes(t, restored)
				}
			}
		})
	}
}

// TestRestoredIndexesOfOtherDeclarations: only the captured indexes that
// the schema declares on the type (the same fields in the same order) are
// loaded; the others it declares are built at Live.
func TestRestoredIndexesOfOtherDeclarations(t *testing.T) {
	ps := newPropStore(t, 5, 200)
	ps.write(1500)
	ps.s.Live()
	other := strings.Replace(propSchema, "indexes: [price, category, name, [category, price], [name, category, price]]",
		"indexes: [[price, category], name, x, [category, price]]", 1)
	schema, err := ParseSchema(other)
	if err != nil {
		t.Fatal(err)
	}
	s := restore(t, schema, ps.s.Capture())
	var loaded []string
	for i, f := range s.tables["p"].stored {
		if f != nil {
			loaded = append(loaded, schema.Types[0].Indexes[i].Name())
		}
	}
	if want := []string{"name", "category,price"}; !slices.Equal(loaded, want) {
		t.Fatalf("loaded %v, want %v", loaded, want)
	}
	apply(t, s, ps.events(20))
	s.Live()
	checkIndexes(t, s)
	var names []string
	for _, f := range s.tables["p"].fidx {
		names = append(names, f.def.Name())
	}
	if want := []string{"price,category", "name", "x", "category,price"}; !slices.Equal(names, want) {
		t.Fatalf("indexes %v, want %v", names, want)
	}
}

// TestIndexLoaderRefuses: keys out of order, too many or too few, an index
// restored twice or before its type, an index whose keys do not match
// its type's count of entities, and one whose keys are another index's.
func TestIndexLoaderRefuses(t *testing.T) {
	ps := newPropStore(t, 9, 50)
	ps.write(400)
	ps.s.Live()
	c := ps.s.Capture()
	ct := c.Types[0]
	var keys [][]byte
	ct.Indexes[0].Scan(func(k []byte) bool { keys = append(keys, slices.Clone(k)); return true })
	start := func(n int) (*Restorer, *IndexLoader) {
		r := NewRestorer(ps.s.schema)
		if err := r.Type(ct.Name, ct.Count); err != nil {
			t.Fatal(err)
		}
		l, err := r.Index(ct.Indexes[0].Fields, n)
		if err != nil || l == nil {
			t.Fatalf("%v %v", l, err)
		}
		return r, l
	}
	feed := func(l *IndexLoader, ks [][]byte) error {
		for _, k := range ks {
			if err := l.Key(k); err != nil {
				return err
			}
		}
		return l.Close()
	}
	entities := func(r *Restorer) {
		ct.Scan(func(e Entity) bool { r.Entity(e); return true })
	}

	_, l := start(len(keys))
	swapped := slices.Clone(keys)
	swapped[3], swapped[4] = swapped[4], swapped[3]
	if err := feed(l, swapped); err == nil || !strings.Contains(err.Error(), "out of order") {
		t.Fatalf("keys out of order: %v", err)
	}
	_, l = start(len(keys))
	dup := slices.Insert(slices.Clone(keys), 5, keys[5])
	if err := feed(l, dup); err == nil {
		t.Fatal("a key twice accepted")
	}
	_, l = start(len(keys) - 1)
	if err := feed(l, keys); err == nil {
		t.Fatal("more keys than said accepted")
	}
	_, l = start(len(keys) + 1)
	if err := feed(l, keys); err == nil {
		t.Fatal("fewer keys than said accepted")
	}
	r, l := start(len(keys))
	if _, err := r.Index(ct.Indexes[0].Fields, len(keys)); err == nil {
		t.Fatal("an index restored twice accepted")
	}
	if err := feed(l, keys); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Done(1); err == nil {
		t.Fatal("an index of more keys than entities accepted")
	}
	r, l = start(len(keys))
	entities(r)
	if _, err := r.Done(1); err == nil {
		t.Fatal("an index not closed accepted")
	}
	if err := feed(l, keys); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Done(1); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err == nil {
		t.Fatal("a loader closed twice")
	}
	var other [][]byte
	ct.Indexes[1].Scan(func(k []byte) bool { other = append(other, slices.Clone(k)); return true })
	r, l = start(len(other))
	entities(r)
	if err := feed(l, other); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Done(1); err == nil || !strings.Contains(err.Error(), "does not hold the key") {
		t.Fatalf("the keys of index %v loaded as %v's: %v", ct.Indexes[1].Fields, ct.Indexes[0].Fields, err)
	}
	if _, err := NewRestorer(ps.s.schema).Index([]string{"price"}, 0); err == nil {
		t.Fatal("an index before its type accepted")
	}
}

// BenchmarkIndexLoad loads the price index of the products from its keys
// in order, as a restart from a snapshot does (IndexLoader), beside
// BenchmarkIndexBuild's build of the same index from the entities.
func BenchmarkIndexLoad(b *testing.B) {
	_, plain := productStores(b)
	t := plain.tables["product"]
	def := &IndexDef{Fields: []string{"price"}}
	f := newFieldIndex(def)
	f.build(t.idx)
	var keys [][]byte
	f.tree.Scan(func(k ikey) bool { keys = append(keys, k.appendTo(nil)); return true })
	f = nil
	b.ReportAllocs()
	for b.Loop() {
		l := newIndexLoader(newFieldIndex(def), t, len(keys))
		for _, k := range keys {
			if err := l.Key(k); err != nil {
				b.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRestoredIndexesProperty: over random histories, a capture read while
// the live store goes on writing (its trees are copy-on-write), restored
// with its indexes and folded forward by a random tail (on one store or
// over shards, as a replay does) has at Live the indexes a cold build
// gives and the entities of the live store, whether the tail was short
// enough for the stored indexes to be patched or not; and writes after
// Live keep them so.
func TestRestoredIndexesProperty(t *testing.T) {
	seeds := uint64(60)
	if testing.Short() {
		seeds = 10
	}
	patched, built := 0, 0
	for seed := range seeds {
		r := rand.New(rand.NewPCG(seed, 99))
		ids := 10 + r.IntN(400)
		ps := newPropStore(t, seed, ids)
		ps.write(ids * (1 + r.IntN(5)))
		ps.s.Live()
		ps.write(r.IntN(50))
		c := ps.s.Capture()
		during := ps.events(r.IntN(ids/20 + 1))
		errc := make(chan error, 1)
		go func() {
			for i := range during {
				if err := ps.s.Stage(during[i : i+1]); err != nil {
					errc <- err
					return
				}
				ps.s.Publish(during[i].Position)
			}
			errc <- nil
		}()
		restored := restore(t, ps.s.schema, c)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		n := r.IntN(ids/10 + 1)
		if r.IntN(4) == 0 {
			n = r.IntN(3 * ids)
		}
		tail := ps.events(n)
		replayed := append(slices.Clone(during), tail...)
		if k := r.IntN(3); k > 0 {
			shards := restored.split(k + 1)
			for _, sh := range shards {
				apply(t, sh, replayed)
			}
			restored.merge(shards)
		} else {
			apply(t, restored, replayed)
		}
		apply(t, ps.s, tail)
		if restored.tables["p"].stored != nil {
			patched++
		} else {
			built++
		}
		restored.Live()
		checkIndexes(t, restored)
		if d := Diff(restored, ps.s); d != "" {
			t.Fatalf("seed %d: restored and live stores differ: %s", seed, d)
		}
		if d := DiffIndexes(restored, ps.s); d != "" {
			t.Fatalf("seed %d: restored and live indexes differ: %s", seed, d)
		}
		if seed == 0 {
			f := restored.tables["p"].fidx[0]
			k, _ := f.tree.Min()
			f.tree.Delete(k)
			if d := DiffIndexes(restored, ps.s); !strings.Contains(d, "keys on one side") {
				t.Fatalf("an index missing a key: DiffIndexes said %q", d)
			}
			f.tree.Set(k)
		}
		more := ps.events(30)
		apply(t, restored, more)
		apply(t, ps.s, more)
		checkIndexes(t, restored)
		checkIndexes(t, ps.s)
	}
	if patched == 0 || built == 0 {
		t.Fatalf("%d stores patched, %d built: both ways must be taken", patched, built)
	}
	t.Logf("%d stores patched, %d built", patched, built)
}
