package state

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/foldb/foldb/eventlog"
)

// propSchema is a type whose fields are set one at a time, so that an
// entity may miss any of them, with values of any JSON type.
const propSchema = `
entities:
  p:
    indexes: [price, category, name, [category, price], [name, category, price]]
    when:
      SetPrice: {set: {price: event.v}}
      SetCategory: {set: {category: event.v}}
      SetName: {set: {name: event.v}}
      SetX: {set: {x: event.v}}
      Gone: {delete: true}
`

var propValues = []string{
	"null", "true", "false", "-3", "-1", "0", "1", "2", "3", "2.0", "1.5", "-0.5", "-0",
	"9007199254740993", "1e3", `""`, `"a"`, `"ab"`, `"abc"`, `"b"`, `"B"`, `"a\u0000b"`, `"\u00e9"`,
	`{"k":1}`, `[1,2]`, `[]`,
}

var propLiterals = []string{
	"nil", "true", "false", "-3", "-1", "0", "1", "2", "3", "2.0", "1.5", "-0.5",
	"9007199254740992", `""`, `"a"`, `"ab"`, `"b"`, `"B"`, `"\u00e9"`,
}

type propStore struct {
	t   *testing.T
	s   *Store
	r   *rand.Rand
	pos uint64
	ids int
}

func newPropStore(t *testing.T, seed uint64, ids int) *propStore {
	schema, err := ParseSchema(propSchema)
	if err != nil {
		t.Fatal(err)
	}
	ps := &propStore{t: t, s: NewStore(schema), r: rand.New(rand.NewPCG(seed, 7)), ids: ids}
	return ps
}

// write folds n random events in; in direct mode (before Live) or staged
// and published.
func (ps *propStore) write(n int) {
	apply(ps.t, ps.s, ps.events(n))
}

// events returns n random events, after those returned before.
func (ps *propStore) events(n int) []eventlog.Event {
	types := []string{"SetPrice", "SetPrice", "SetCategory", "SetName", "SetX", "Gone"}
	evs := make([]eventlog.Event, 0, n)
	for range n {
		ps.pos++
		evs = append(evs, eventlog.Event{
			Position: ps.pos,
			Stream:   "p:" + strconv.Itoa(ps.r.IntN(ps.ids)),
			Type:     types[ps.r.IntN(len(types))],
			Data:     []byte(`{"v":` + propValues[ps.r.IntN(len(propValues))] + `}`),
			Version:  ps.pos,
		})
	}
	return evs
}

// apply folds events into s: in direct mode (before Live), or staged and
// published as one round.
func apply(t *testing.T, s *Store, evs []eventlog.Event) {
	t.Helper()
	if s.direct {
		for i := range evs {
			s.Apply(&evs[i])
		}
		return
	}
	if len(evs) > 0 {
		if err := s.Stage(evs); err != nil {
			t.Fatal(err)
		}
		s.Publish(evs[len(evs)-1].Position)
	}
}

// checkIndexes compares each field index with one built afresh.
func checkIndexes(t *testing.T, s *Store) {
	t.Helper()
	for _, tbl := range s.tables {
		for _, f := range tbl.fidx {
			fresh := newFieldIndex(f.def)
			fresh.build(tbl.idx)
			if !slices.Equal(f.tree.Items(), fresh.tree.Items()) || f.keyBytes != fresh.keyBytes {
				t.Fatalf("index %s: %d keys, want %d", f.def.Name(), f.tree.Len(), fresh.tree.Len())
			}
		}
	}
}

// restoreCapture restores a capture of a propSchema store, its indexes
// included, and makes it live.
func restoreCapture(t *testing.T, c *Capture) *Store {
	schema, _ := ParseSchema(propSchema)
	s := restore(t, schema, c)
	s.Live()
	return s
}

// restore restores a capture as a snapshot's reader does, feeding each
// captured index the schema declares to its loader; the store is left in
// direct mode, before Live.
func restore(t *testing.T, schema *Schema, c *Capture) *Store {
	t.Helper()
	r := NewRestorer(schema)
	for _, ct := range c.Types {
		if err := r.Type(ct.Name, ct.Count); err != nil {
			t.Fatal(err)
		}
		for _, ci := range ct.Indexes {
			l, err := r.Index(ci.Fields, ci.Len())
			if err != nil {
				t.Fatalf("index %v: %v", ci.Fields, err)
			}
			if l == nil {
				continue // not declared by schema
			}
			ci.Scan(func(k []byte) bool {
				if err := l.Key(k); err != nil {
					t.Fatal(err)
				}
				return true
			})
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
		ct.Scan(func(e Entity) bool {
			if err := r.Entity(e); err != nil {
				t.Fatal(err)
			}
			return true
		})
	}
	s, err := r.Done(c.Position)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFieldIndexesKeptUpToDate: the declared indexes, built after loading
// and kept by published rounds, hold what an index built afresh holds; so
// do those of a store restored from a capture.
func TestFieldIndexesKeptUpToDate(t *testing.T) {
	ps := newPropStore(t, 3, 200)
	ps.write(2000)
	if ps.s.tables["p"].fidx != nil {
		t.Fatal("indexes kept while loading")
	}
	ps.s.Live()
	if got := len(ps.s.tables["p"].fidx); got != 5 {
		t.Fatalf("%d indexes", got)
	}
	checkIndexes(t, ps.s)
	c := ps.s.Capture()
	want := map[string]Entity{}
	c.Types[0].Scan(func(e Entity) bool { want[e.ID()] = e; return true })
	for range 300 {
		ps.write(1 + ps.r.IntN(5))
	}
	checkIndexes(t, ps.s)
	r := restoreCapture(t, c)
	checkIndexes(t, r)
	if r.Len("p") != len(want) || ps.s.Types()[0].IndexBytes <= 0 {
		t.Fatalf("restored %d entities, want %d; index bytes %d", r.Len("p"), len(want), ps.s.Types()[0].IndexBytes)
	}
}

// TestOrderKeys: the encoding sorts values as order.go says.
func TestOrderKeys(t *testing.T) {
	sorted := []string{"", "null", "false", "true", "-1e300", "-3", "-0.5", "0", "0.5", "2", "2.5", "9007199254740993", "1e300",
		`""`, `"\u0000"`, `"\u0000a"`, `"A"`, `"a"`, `"a\u0000"`, `"ab"`, `"b"`, `"\u00e9"`, `[1]`, `{"a":1}`}
	var prev []byte
	for i, v := range sorted {
		var raw []byte
		if v != "" {
			raw = []byte(v)
		}
		k := appendOrderKey(nil, raw)
		if skipOrderKey(string(k)+"id") != len(k) {
			t.Fatalf("%s: skip %d of %d", v, skipOrderKey(string(k)+"id"), len(k))
		}
		if i > 1 && string(prev) >= string(k) {
			t.Fatalf("%s does not sort after %s", v, sorted[i-1])
		}
		prev = k
	}
	if string(appendOrderKey(nil, []byte("-0"))) != string(appendOrderKey(nil, []byte("0"))) ||
		string(appendOrderKey(nil, []byte("2.0"))) != string(appendOrderKey(nil, []byte("2"))) ||
		string(appendOrderKey(nil, nil)) != string(appendOrderKey(nil, []byte("null"))) {
		t.Fatal("equal values encode differently")
	}
}

// TestIkeyOrder: the tree's keys compare as their bytes, and give their
// bytes back, for keys around the inline length with zero bytes in them.
func TestIkeyOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	gen := func() []byte {
		k := make([]byte, r.IntN(2*inlineKey+3))
		for i := range k {
			k[i] = []byte{0, 1, 0xFF, 'a'}[r.IntN(4)]
		}
		return k
	}
	for range 20000 {
		a, b := gen(), gen()
		ka, kb := probeKey(a), probeKey(b)
		if got, want := lessKey(ka, kb), bytes.Compare(a, b) < 0; got != want {
			t.Fatalf("%x < %x: %v, want %v", a, b, got, want)
		}
		if got := ka.appendTo(nil); !bytes.Equal(got, a) {
			t.Fatalf("key %x gives back %x", a, got)
		}
	}
}

// TestOrderKeyFastPath: the unboxed cases of appendOrderKey encode what
// rawValue's value does.
func TestOrderKeyFastPath(t *testing.T) {
	for _, raw := range []string{
		``, `null`, `true`, `false`, `0`, `-0`, `7`, `-12`, `1.5`, `-1.5e3`, `1e400`, `123456789012345678901234`,
		`9007199254740993`, `0.1`, `""`, `"a"`, `"a\"b"`, `"\u0000"`, `"é"`, "\"a\x00b\"", `[1,2]`, `{"a":1}`,
	} {
		if got, want := appendOrderKey(nil, []byte(raw)), appendValueKey(nil, []byte(raw)); !bytes.Equal(got, want) {
			t.Errorf("%s: key %x, want %x", raw, got, want)
		}
	}
}
