package eventlog

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// viewLog is a log of n events over a few categories, streams and types,
// appended in appends of one to three events, submitted together by up to
// a dozen: rounds whose runs of a category or type are of every length.
func viewLog(t testing.TB, n int, seed uint64) *Log {
	t.Helper()
	opts := DefaultOptions()
	opts.Durability = DurabilityNone
	l := openTest(t, opts)
	rng := rand.New(rand.NewPCG(seed, 1))
	cats := []string{"account", "order", "a", "accounts"} // "a" and "accounts" share a prefix with "account"
	types := []string{"Opened", "Deposited", "Withdrawn", "Closed", "O"}
	for l.LastPosition() < uint64(n) {
		group := make([]*Append, 1+rng.IntN(12))
		for i := range group {
			// Streams and types of the first few repeat, so that runs grow.
			a := &Append{Stream: fmt.Sprintf("%s:%d", cats[rng.IntN(len(cats))], rng.IntN(5))}
			for range 1 + rng.IntN(3) {
				a.Events = append(a.Events, ev(types[rng.IntN(len(types))], fmt.Sprintf(`{"n":%d}`, rng.IntN(100))))
			}
			if i > 0 && rng.IntN(2) == 0 {
				a.Stream, a.Events[0].Type = group[i-1].Stream, group[i-1].Events[0].Type
			}
			group[i] = a
		}
		l.Append(group...)
		for _, a := range group {
			if a.Result.Err != nil {
				t.Fatal(a.Result.Err)
			}
		}
	}
	return l
}

// positions are the positions ScanSubset hands out.
func subsetPositions(t *testing.T, l *Log, s Subset, from, to uint64, limit int, rev bool) []uint64 {
	t.Helper()
	var got []uint64
	err := l.ScanSubset(s, from, to, limit, rev, func(e *Event) error {
		if !inSubset(s, e) {
			t.Fatalf("%+v: event at %d (%s %s) is not in it", s, e.Position, e.Stream, e.Type)
		}
		got = append(got, e.Position)
		return nil
	})
	if err != nil {
		t.Fatalf("ScanSubset(%+v, %d, %d, %d, %v): %v", s, from, to, limit, rev, err)
	}
	return got
}

func inSubset(s Subset, e *Event) bool {
	switch s.Kind {
	case SubsetStream:
		return e.Stream == s.Name
	case SubsetCategory:
		return e.Category() == s.Name
	case SubsetType:
		return e.Type == s.Name
	}
	return true
}

// TestScanSubsetMatchesScan: every subset, forward and reverse, with
// bounds and limits, reads what filtering a scan of the whole log reads.
func TestScanSubsetMatchesScan(t *testing.T) {
	l := viewLog(t, 600, 7)
	subsets := []Subset{{Kind: SubsetAll}, {SubsetType, "Missing"}, {SubsetCategory, "nothing"}, {SubsetStream, "account:99"},
		{SubsetCategory, "account"}, {SubsetCategory, "a"}, {SubsetCategory, "accounts"}, {SubsetCategory, "order"},
		{SubsetType, "O"}, {SubsetType, "Opened"}, {SubsetType, "Closed"}}
	for i := range 5 {
		subsets = append(subsets, Subset{SubsetStream, "account:" + strconv.Itoa(i)}, Subset{SubsetStream, "a:" + strconv.Itoa(i)})
	}
	checkSubsets(t, l, subsets)
	if _, err := l.Verify(nil); err != nil {
		t.Fatal(err)
	}
}

// checkSubsets checks ScanSubset and CountSubset of each subset against a
// scan of the whole log.
func checkSubsets(t *testing.T, l *Log, subsets []Subset) {
	t.Helper()
	var all []Event
	if err := l.Scan(1, 0, func(e *Event) error { own(e); all = append(all, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	last := l.LastPosition()
	bounds := [][2]uint64{{0, 0}, {1, last}, {1, 1}, {last, last}, {last + 1, 0}, {0, last + 5}, {300, 0}, {7, 9}, {9, 7}, {299, 301}}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 40 {
		a, b := 1+rng.Uint64N(last), 1+rng.Uint64N(last)
		bounds = append(bounds, [2]uint64{min(a, b), max(a, b)})
	}
	for _, s := range subsets {
		for _, bd := range bounds {
			from, to := bd[0], bd[1]
			var want []uint64
			for _, e := range all {
				top := to
				if top == 0 {
					top = last
				}
				if e.Position >= max(from, 1) && e.Position <= top && inSubset(s, &e) {
					want = append(want, e.Position)
				}
			}
			for _, limit := range []int{0, 1, 2, 5, 1000} {
				for _, rev := range []bool{false, true} {
					w := slices.Clone(want)
					if rev {
						slices.Reverse(w)
					}
					if limit > 0 && len(w) > limit {
						w = w[:limit]
					}
					got := subsetPositions(t, l, s, from, to, limit, rev)
					if !slices.Equal(got, w) {
						t.Fatalf("ScanSubset(%+v, %d, %d, limit %d, rev %v) = %v, want %v", s, from, to, limit, rev, got, w)
					}
				}
			}
		}
		n, err := l.CountSubset(s)
		if err != nil {
			t.Fatal(err)
		}
		if want := len(subsetPositions(t, l, s, 0, 0, 0, false)); n != uint64(want) {
			t.Errorf("CountSubset(%+v) = %d, want %d", s, n, want)
		}
	}
}

// TestScanSubsetEvents: the events handed out are whole, and an error from
// fn stops the scan and comes back.
func TestScanSubsetEvents(t *testing.T) {
	l := openTest(t, DefaultOptions())
	r := appendOne(l, Append{Stream: "account:1", ID: "x", Meta: []byte(`{"by":"me"}`), Events: []Proposed{ev("Opened", `{"a":1}`), ev("Deposited", `{"b":2}`)}})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	for _, s := range []Subset{{Kind: SubsetAll}, {SubsetStream, "account:1"}, {SubsetCategory, "account"}, {SubsetType, "Deposited"}} {
		var got *Event
		err := l.ScanSubset(s, 0, 0, 1, true, func(e *Event) error { own(e); got = e; return nil })
		if err != nil || got == nil {
			t.Fatalf("%+v: %v, %v", s, got, err)
		}
		if got.Position != 2 || got.Version != 2 || got.Stream != "account:1" || got.Type != "Deposited" || string(got.Data) != `{"b":2}` ||
			string(got.Meta) != `{"by":"me"}` || got.ID != "x" || got.Time == 0 {
			t.Errorf("%+v: %+v", s, got)
		}
		stop := fmt.Errorf("stop")
		n := 0
		if err := l.ScanSubset(s, 0, 0, 0, false, func(*Event) error { n++; return stop }); err != stop || n != 1 {
			t.Errorf("%+v: fn's error: %v after %d", s, err, n)
		}
	}
}

// format2 turns dir, a closed log, into a format 2 directory: no category
// or type index keys, and the format marker 2.
func format2(t *testing.T, dir string) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{DisableWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []byte{prefixCategory, prefixType} {
		if err := db.DeleteRange([]byte{p}, []byte{p + 1}, pebble.NoSync); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Set(metaKey("format"), []byte("2"), pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeFormat2: a format 2 directory, with its newest rounds in the
// journal as format 2 wrote them, opens with every event in the category
// and type indexes, as format 3, and verifies.
func TestUpgradeFormat2(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 20, `{}`)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	format2(t, dir)

	// Two more rounds, in the journal only, without index keys of the views.
	db, err := pebble.Open(dir, &pebble.Options{DisableWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	j, _, err := recoverJournal(dir, db, db.Flush, 20, DefaultOptions(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for pos := uint64(21); pos <= 22; pos++ {
		b := db.NewBatch()
		e := Event{Position: pos, Stream: "late:1", Version: pos - 20, Type: "Late", Data: []byte(`{}`), Time: 1}
		b.Set(eventKey(nil, pos), AppendRecord(nil, &e), nil)
		b.Set(indexKey(nil, e.Stream, e.Version), binary.BigEndian.AppendUint64(nil, pos), nil)
		if err := j.write(pos, pos, b.Repr(), true); err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
	if err := j.close(false); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil { // not flushed: what the journal has is only there
		t.Fatal(err)
	}

	l, err = Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if v, err := l.Meta("format"); err != nil || string(v) != strconv.Itoa(formatVersion) {
		t.Fatalf("format %q, %v", v, err)
	}
	if rep, err := l.Verify(nil); err != nil || rep.Events != 22 {
		t.Fatalf("verify after the upgrade: %+v, %v", rep, err)
	}
	checkSubsets(t, l, []Subset{{SubsetCategory, "acct"}, {SubsetCategory, "late"}, {SubsetType, "A"}, {SubsetType, "Late"}})
	if n, err := l.CountSubset(Subset{SubsetCategory, "late"}); err != nil || n != 2 {
		t.Errorf("category late: %d, %v", n, err)
	}
	if n, err := l.CountSubset(Subset{SubsetType, "A"}); err != nil || n != 20 {
		t.Errorf("type A: %d, %v", n, err)
	}
	if r := appendOne(l, Append{Stream: "late:2", Events: []Proposed{ev("Late", `{}`)}}); r.Err != nil || r.Position != 23 {
		t.Fatalf("append after the upgrade: %+v", r)
	}
	if n, err := l.CountSubset(Subset{SubsetType, "Late"}); err != nil || n != 3 {
		t.Errorf("type Late after an append: %d, %v", n, err)
	}
}

// TestFormatMarker: a new directory says format 4, which a foldb that
// reads up to format 3 refuses (TestNewerFormatRefused).
func TestFormatMarker(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if v, err := l.Meta("format"); err != nil || string(v) != "4" {
		t.Fatalf("a new directory's format %q, %v", v, err)
	}
	l.Close()
}

// TestUpgradeFormat3: a format 3 directory opens as format 4, its events
// as they were, and takes events with a type version.
func TestUpgradeFormat3(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 5, `{}`)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(dir, &pebble.Options{DisableWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(metaKey("format"), []byte("3"), pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if v, err := l.Meta("format"); err != nil || string(v) != "4" {
		t.Fatalf("format %q, %v", v, err)
	}
	if rep, err := l.Verify(nil); err != nil || rep.Events != 5 {
		t.Fatalf("verify after the upgrade: %+v, %v", rep, err)
	}
}

// TestVerifyChecksViewIndexes: a missing or extra category or type key
// fails Verify.
func TestVerifyChecksViewIndexes(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(db *pebble.DB) error
	}{
		{"missing category key", func(db *pebble.DB) error {
			return db.Delete(viewKey(nil, prefixCategory, "acct", 3), pebble.NoSync)
		}},
		{"missing type key", func(db *pebble.DB) error { return db.Delete(viewKey(nil, prefixType, "A", 5), pebble.NoSync) }},
		{"extra type key", func(db *pebble.DB) error {
			return db.Set(viewKey(nil, prefixType, "B", 99), binary.AppendUvarint(nil, 1), pebble.NoSync)
		}},
		{"type run too long", func(db *pebble.DB) error {
			return db.Set(viewKey(nil, prefixType, "A", 10), binary.AppendUvarint(nil, 2), pebble.NoSync)
		}},
		{"malformed run", func(db *pebble.DB) error { return db.Set(viewKey(nil, prefixType, "A", 10), nil, pebble.NoSync) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, err := Open(dir, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, l, 10, `{}`)
			if _, err := l.Verify(nil); err != nil {
				t.Fatalf("verify before: %v", err)
			}
			if err := tc.edit(l.db); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Verify(nil); err == nil {
				t.Error("verify passed")
			}
			l.Close()
		})
	}
}

// TestImportWritesViewIndexes: imported events are in the views.
func TestImportWritesViewIndexes(t *testing.T) {
	l := openTest(t, DefaultOptions())
	evs := []Event{
		{Stream: "account:1", Type: "Opened", Data: []byte(`{}`), Time: 5},
		{Stream: "order:1", Type: "Placed", Data: []byte(`{}`), Time: 6},
	}
	if err := l.Import(evs, false); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Verify(nil); err != nil {
		t.Fatal(err)
	}
	if n, err := l.CountSubset(Subset{SubsetCategory, "order"}); err != nil || n != 1 {
		t.Errorf("category order: %d, %v", n, err)
	}
}

// BenchmarkScanSubset reads pages of 1,000 events of each subset of a log
// of 100,000 (a category holds half of them, a type a quarter, a stream
// 1%).
func BenchmarkScanSubset(b *testing.B) {
	opts := DefaultOptions()
	opts.Durability = DurabilityNone
	l := openTest(b, opts)
	data := []byte(`{"amount":10,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)
	types := []string{"Opened", "Deposited", "Withdrawn", "Closed"}
	const n = 100_000
	batch := make([]*Append, 0, 1000)
	for i := range n {
		cat := "account"
		if i%2 == 1 {
			cat = "order"
		}
		batch = append(batch, &Append{Stream: fmt.Sprintf("%s:%d", cat, i%100), Events: []Proposed{{Type: types[i%4], Data: data}}})
		if len(batch) == cap(batch) {
			l.Append(batch...)
			batch = batch[:0]
		}
	}
	for _, s := range []Subset{{Kind: SubsetAll}, {SubsetCategory, "account"}, {SubsetType, "Deposited"}, {SubsetStream, "account:42"}} {
		for _, rev := range []bool{false, true} {
			name := map[SubsetKind]string{SubsetAll: "all", SubsetStream: "stream", SubsetCategory: "category", SubsetType: "type"}[s.Kind]
			if rev {
				name += "/rev"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				var from uint64 = 1
				events := 0
				for b.Loop() {
					got := 0
					var lastPos uint64
					err := l.ScanSubset(s, from, 0, 1000, rev, func(e *Event) error { got++; lastPos = e.Position; return nil })
					if err != nil || got == 0 {
						b.Fatal(err, got)
					}
					events += got
					if from = lastPos + 1; rev || from > n-1000 {
						from = 1
					}
				}
				b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// TestViewRuns: runs gathered over many positions, handed over part by
// part (as the upgrade does between its batches), are the maximal runs of
// each category and type.
func TestViewRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	var evs []Event
	for pos := uint64(1); pos <= 2000; pos++ {
		evs = append(evs, Event{Position: pos, Stream: []string{"a:1", "b:1", "a:2"}[rng.IntN(3)], Type: []string{"X", "Y"}[rng.IntN(2)]})
	}
	type run struct {
		key   string
		count uint64
	}
	var want []run
	for _, ix := range []struct {
		prefix byte
		name   func(e *Event) string
	}{{prefixCategory, func(e *Event) string { return e.Category() }}, {prefixType, func(e *Event) string { return e.Type }}} {
		for i := 0; i < len(evs); {
			j := i + 1
			for j < len(evs) && ix.name(&evs[j]) == ix.name(&evs[i]) {
				j++
			}
			want = append(want, run{string(viewKey(nil, ix.prefix, ix.name(&evs[i]), evs[i].Position)), uint64(j - i)})
			i = j
		}
	}
	var got []run
	set := func(k, v []byte) {
		n, _ := binary.Uvarint(v)
		got = append(got, run{string(k), n})
	}
	r := viewRuns{own: true}
	for i := range evs {
		r.add(&evs[i])
		if rng.IntN(50) == 0 {
			r.flush(false, set)
		}
	}
	r.flush(true, set)
	key := func(a run) string { return a.key }
	slices.SortFunc(want, func(a, b run) int { return strings.Compare(key(a), key(b)) })
	slices.SortFunc(got, func(a, b run) int { return strings.Compare(key(a), key(b)) })
	if !slices.Equal(got, want) {
		t.Fatalf("%d runs, want %d", len(got), len(want))
	}
}

// BenchmarkAppendRounds50 is rounds of 50 single-event appends of one
// category and type, as 50 clients make them, without fsync: the CPU a
// round's keys cost, Pebble's flushes and compactions included.
func BenchmarkAppendRounds50(b *testing.B) {
	for _, streams := range []int{1000, 100_000, 10_000_000} {
		b.Run("streams="+strconv.Itoa(streams), func(b *testing.B) {
			opts := DefaultOptions()
			opts.Durability = DurabilityNone
			l := openTest(b, opts)
			as := make([]Append, 50)
			ptrs := make([]*Append, 50)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				for k := range as {
					as[k] = Append{Stream: "account:" + strconv.Itoa(i%streams), Events: []Proposed{{Type: "BalanceIncreased", Data: []byte(`{"amount":10}`)}}}
					ptrs[k] = &as[k]
					i++
				}
				l.Append(ptrs...)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/append")
		})
	}
}
