package streams

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/foldb/foldb/eventlog"
)

// testLog is a log of n events over a few categories, streams and types.
func testLog(t testing.TB, n int) *eventlog.Log {
	t.Helper()
	opts := eventlog.DefaultOptions()
	opts.Durability = eventlog.DurabilityNone
	l, err := eventlog.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	rng := rand.New(rand.NewPCG(11, 12))
	cats := []string{"account", "order", "acc"}
	types := []string{"Opened", "Deposited", "Closed"}
	for l.LastPosition() < uint64(n) {
		a := eventlog.Append{Stream: fmt.Sprintf("%s:%d", cats[rng.IntN(len(cats))], rng.IntN(4))}
		if rng.IntN(3) == 0 {
			a.Meta = []byte(`{"by":"test"}`)
			a.ID = fmt.Sprint("id-", l.LastPosition())
		}
		for range 1 + rng.IntN(3) {
			a.Events = append(a.Events, eventlog.Proposed{Type: types[rng.IntN(len(types))], Data: fmt.Appendf(nil, `{"n":%d}`, rng.IntN(1000))})
		}
		l.Append(&a)
		if a.Result.Err != nil {
			t.Fatal(a.Result.Err)
		}
	}
	return l
}

// TestRangeMatchesScan: each view's Range, forward and reverse, with
// counts and bounds, is what filtering a scan of the whole log gives, and
// Len, FirstEntry, LastEntry and Exists agree with it.
func TestRangeMatchesScan(t *testing.T) {
	l := testLog(t, 400)
	r := NewReader(l)
	var all []eventlog.Event
	if err := l.Scan(1, 0, func(e *eventlog.Event) error {
		c := *e
		c.Stream, c.ID, c.Type = string([]byte(e.Stream)), string([]byte(e.ID)), string([]byte(e.Type))
		c.Data = slices.Clone(e.Data)
		c.Meta = slices.Clone(e.Meta)
		all = append(all, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	last := r.Last()
	keys := []string{"$all", "$ce-account", "$ce-acc", "$ce-order", "$ce-none", "$et-Opened", "$et-Closed", "$et-None",
		"account:0", "account:3", "acc:1", "order:2", "order:9", "nothing", ""}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, key := range keys {
		v := ParseKey(key)
		var want []eventlog.Event
		for _, e := range all {
			if v.Matches(&e) {
				want = append(want, e)
			}
		}
		type bounds struct{ from, to uint64 }
		bs := []bounds{{0, 0}, {1, last}, {1, 1}, {last, 0}, {200, 0}, {0, 150}, {last + 1, 0}, {9, 3}}
		for range 20 {
			a, b := 1+rng.Uint64N(last), 1+rng.Uint64N(last)
			bs = append(bs, bounds{min(a, b), max(a, b)})
		}
		for _, b := range bs {
			for _, count := range []int{0, 1, 3, 50} {
				for _, rev := range []bool{false, true} {
					var w []eventlog.Event
					for _, e := range want {
						if e.Position >= b.from && (b.to == 0 || e.Position <= b.to) {
							w = append(w, e)
						}
					}
					if rev {
						w = slices.Clone(w)
						slices.Reverse(w)
					}
					if count > 0 && len(w) > count {
						w = w[:count]
					}
					got, err := r.Range(v, b.from, b.to, count, rev)
					if err != nil {
						t.Fatal(err)
					}
					if len(got) == 0 && len(w) == 0 {
						continue
					}
					if !reflect.DeepEqual(got, w) {
						t.Fatalf("%s Range(%d, %d, %d, %v):\n got %v\nwant %v", key, b.from, b.to, count, rev, positionList(got), positionList(w))
					}
				}
			}
		}
		n, err := r.Len(v)
		if err != nil || n != uint64(len(want)) {
			t.Errorf("%s: Len %d, %v; want %d", key, n, err, len(want))
		}
		first, err1 := r.FirstEntry(v)
		lastEntry, err2 := r.LastEntry(v)
		exists, err3 := r.Exists(v)
		var wf, wl uint64
		if len(want) > 0 {
			wf, wl = want[0].Position, want[len(want)-1].Position
		}
		if first != wf || lastEntry != wl || exists != (len(want) > 0) || err1 != nil || err2 != nil || err3 != nil {
			t.Errorf("%s: first %d last %d exists %v (%v %v %v); want %d %d", key, first, lastEntry, exists, err1, err2, err3, wf, wl)
		}
	}
}

// TestRangeOwnsEvents: what Range returns stays as it was while the log
// goes on (its memory is not the log's).
func TestRangeOwnsEvents(t *testing.T) {
	l := testLog(t, 50)
	r := NewReader(l)
	got, err := r.Range(ParseKey("$all"), 1, 0, 0, false)
	if err != nil || uint64(len(got)) != l.LastPosition() {
		t.Fatal(len(got), err)
	}
	snapshot := fmt.Sprint(got)
	testLogMore(t, l, 2000)
	if s := fmt.Sprint(got); s != snapshot {
		t.Fatal("events changed after more appends")
	}
}

func testLogMore(t *testing.T, l *eventlog.Log, n int) {
	for i := range n {
		a := eventlog.Append{Stream: "more:1", Events: []eventlog.Proposed{{Type: "M", Data: fmt.Appendf(nil, `{"pad":"%0200d"}`, i)}}}
		l.Append(&a)
		if a.Result.Err != nil {
			t.Fatal(a.Result.Err)
		}
	}
}

func positionList(evs []eventlog.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Position
	}
	return out
}

// BenchmarkReader reads pages of 1,000 entries of each kind of view from
// a log of 100,000 events: Scan (what the commands use) and Range (owned
// copies).
func BenchmarkReader(b *testing.B) {
	opts := eventlog.DefaultOptions()
	opts.Durability = eventlog.DurabilityNone
	l, err := eventlog.Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	data := []byte(`{"amount":10,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)
	types := []string{"Opened", "Deposited", "Withdrawn", "Closed"}
	const n = 100_000
	var batch []*eventlog.Append
	for i := range n {
		cat := []string{"account", "order"}[i%2]
		batch = append(batch, &eventlog.Append{Stream: fmt.Sprintf("%s:%d", cat, i%100), Events: []eventlog.Proposed{{Type: types[i%4], Data: data}}})
		if len(batch) == 1000 {
			l.Append(batch...)
			batch = batch[:0]
		}
	}
	r := NewReader(l)
	for _, key := range []string{"$all", "$ce-account", "$et-Deposited", "account:42"} {
		v := ParseKey(key)
		for _, rev := range []bool{false, true} {
			dir := ""
			if rev {
				dir = "/rev"
			}
			b.Run("Scan/"+key+dir, func(b *testing.B) {
				b.ReportAllocs()
				events := 0
				for b.Loop() {
					err := r.Scan(v, 1, 0, 1000, rev, func(*eventlog.Event) error { events++; return nil })
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "entries/s")
			})
			b.Run("Range/"+key+dir, func(b *testing.B) {
				b.ReportAllocs()
				events := 0
				for b.Loop() {
					evs, err := r.Range(v, 1, 0, 1000, rev)
					if err != nil {
						b.Fatal(err)
					}
					events += len(evs)
				}
				b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "entries/s")
			})
		}
		b.Run("Len/"+key, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Len(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
