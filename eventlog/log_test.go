package eventlog

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTest(t testing.TB, opts Options) *Log {
	t.Helper()
	l, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func ev(typ, data string) Proposed { return Proposed{Type: typ, Data: []byte(data)} }

func appendOne(l *Log, a Append) Result {
	l.Append(&a)
	return a.Result
}

func TestAppendExpect(t *testing.T) {
	l := openTest(t, DefaultOptions())
	steps := []struct {
		name    string
		a       Append
		wantVer uint64
		wantPos uint64
		wantErr string
	}{
		{"new stream with EXPECT 0", Append{Stream: "account:1", Expect: Expect{ExpectVersion, 0}, Events: []Proposed{ev("Opened", `{"name":"Alice"}`)}}, 1, 1, ""},
		{"EXPECT 0 again", Append{Stream: "account:1", Expect: Expect{ExpectVersion, 0}, Events: []Proposed{ev("Opened", `{}`)}}, 0, 0, "expected 0 but account:1 is at version 1"},
		{"EXPECT 1", Append{Stream: "account:1", Expect: Expect{ExpectVersion, 1}, Events: []Proposed{ev("Inc", `{"amount":1}`)}}, 2, 2, ""},
		{"NEW on existing", Append{Stream: "account:1", Expect: Expect{Kind: ExpectNew}, Events: []Proposed{ev("Inc", `{}`)}}, 0, 0, "expected a new stream but account:1 is at version 2"},
		{"EXISTS on missing", Append{Stream: "account:2", Expect: Expect{Kind: ExpectExists}, Events: []Proposed{ev("Inc", `{}`)}}, 0, 0, "expected an existing stream but account:2 does not exist"},
		{"NEW on missing", Append{Stream: "account:2", Expect: Expect{Kind: ExpectNew}, Events: []Proposed{ev("Opened", `{}`)}}, 1, 3, ""},
		{"EXISTS on existing", Append{Stream: "account:2", Expect: Expect{Kind: ExpectExists}, Events: []Proposed{ev("Inc", `{}`)}}, 2, 4, ""},
		{"ANY, three events", Append{Stream: "account:1", Events: []Proposed{ev("A", `{}`), ev("B", `{}`), ev("C", `{}`)}}, 5, 7, ""},
		{"EXPECT in the future", Append{Stream: "account:1", Expect: Expect{ExpectVersion, 9}, Events: []Proposed{ev("A", `{}`)}}, 0, 0, "expected 9 but account:1 is at version 5"},
	}
	for _, s := range steps {
		r := appendOne(l, s.a)
		if s.wantErr != "" {
			var wv *WrongVersionError
			if !errors.As(r.Err, &wv) || wv.Detail() != s.wantErr {
				t.Fatalf("%s: got %v, want %q", s.name, r.Err, s.wantErr)
			}
			continue
		}
		if r.Err != nil || r.Version != s.wantVer || r.Position != s.wantPos {
			t.Fatalf("%s: got %+v, want version %d position %d", s.name, r, s.wantVer, s.wantPos)
		}
	}
	if got := l.LastPosition(); got != 7 {
		t.Fatalf("last position %d, want 7", got)
	}
}

func TestAppendRefusesBadInput(t *testing.T) {
	opts := DefaultOptions()
	opts.MaxEventSize = 100
	opts.MaxEventsPerAppend = 3
	l := openTest(t, opts)
	big := `{"x":"` + strings.Repeat("a", 100) + `"}`
	cases := []struct {
		name string
		a    Append
		want string
	}{
		{"no colon", Append{Stream: "account", Events: []Proposed{ev("T", `{}`)}}, "invalid stream name 'account': expected <category>:<id>"},
		{"empty id", Append{Stream: "account:", Events: []Proposed{ev("T", `{}`)}}, "invalid stream name"},
		{"no events", Append{Stream: "a:1"}, "at least one event"},
		{"too many events", Append{Stream: "a:1", Events: []Proposed{ev("T", `{}`), ev("T", `{}`), ev("T", `{}`), ev("T", `{}`)}}, "too many events in one append: 4 (max-events-per-append is 3)"},
		{"bad JSON", Append{Stream: "a:1", Events: []Proposed{ev("T", `{"a":`)}}, "invalid JSON in event data"},
		{"array data", Append{Stream: "a:1", Events: []Proposed{ev("T", `[1]`)}}, "event data must be a JSON object"},
		{"string data", Append{Stream: "a:1", Events: []Proposed{ev("T", `"x"`)}}, "event data must be a JSON object"},
		{"bad meta", Append{Stream: "a:1", Meta: []byte(`nope`), Events: []Proposed{ev("T", `{}`)}}, "invalid JSON in meta"},
		{"empty type", Append{Stream: "a:1", Events: []Proposed{ev("", `{}`)}}, "empty event type"},
		{"too large", Append{Stream: "a:1", Events: []Proposed{ev("T", big)}}, "event too large"},
		{"second event bad: nothing written", Append{Stream: "a:1", Events: []Proposed{ev("T", `{}`), ev("T", `{`)}}, "invalid JSON"},
	}
	for _, c := range cases {
		r := appendOne(l, c.a)
		var inv *InvalidError
		if !errors.As(r.Err, &inv) || !strings.Contains(inv.Msg, c.want) {
			t.Errorf("%s: got %v, want %q", c.name, r.Err, c.want)
		}
	}
	if l.LastPosition() != 0 {
		t.Fatalf("refused appends wrote %d events", l.LastPosition())
	}
}

func TestAppendIdempotent(t *testing.T) {
	l := openTest(t, DefaultOptions())
	first := appendOne(l, Append{Stream: "order:1", ID: "req-1", Events: []Proposed{ev("Placed", `{}`), ev("Paid", `{}`)}})
	if first.Err != nil || first.Duplicate {
		t.Fatal(first)
	}
	again := appendOne(l, Append{Stream: "order:1", ID: "req-1", Expect: Expect{ExpectVersion, 0}, Events: []Proposed{ev("Placed", `{}`)}})
	if again.Err != nil || !again.Duplicate || again.Version != first.Version || again.Position != first.Position {
		t.Fatalf("retry: got %+v, want the first result %+v", again, first)
	}
	other := appendOne(l, Append{Stream: "order:2", ID: "req-1", Events: []Proposed{ev("Placed", `{}`)}})
	if other.Err != nil || other.Duplicate || other.Position != 3 {
		t.Fatalf("same ID in another stream: %+v", other)
	}
	// Two appends with one ID in one round: the second is the duplicate.
	a := &Append{Stream: "order:3", ID: "x", Events: []Proposed{ev("Placed", `{}`)}}
	b := &Append{Stream: "order:3", ID: "x", Events: []Proposed{ev("Placed", `{}`)}}
	l.Append(a, b)
	if a.Result.Err != nil || !b.Result.Duplicate || b.Result.Position != a.Result.Position {
		t.Fatalf("same round: %+v %+v", a.Result, b.Result)
	}
	if l.LastPosition() != 4 {
		t.Fatalf("last %d, want 4", l.LastPosition())
	}
}

func TestReadAndRange(t *testing.T) {
	l := openTest(t, DefaultOptions())
	for i := 1; i <= 5; i++ {
		appendOne(l, Append{Stream: "account:1", Events: []Proposed{ev("Inc", fmt.Sprintf(`{"n":%d}`, i))}})
		appendOne(l, Append{Stream: "account:10", Meta: []byte(`{"by":"t"}`), Events: []Proposed{ev("Other", `{}`)}})
	}
	evs, err := l.Read("account:1", 0, 0, false)
	if err != nil || len(evs) != 5 {
		t.Fatalf("read all: %d %v", len(evs), err)
	}
	for i, e := range evs {
		if e.Version != uint64(i+1) || e.Position != uint64(2*i+1) || string(e.Data) != fmt.Sprintf(`{"n":%d}`, i+1) || e.Time == 0 {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	cases := []struct {
		from  uint64
		count int
		rev   bool
		want  []uint64
	}{
		{2, 2, false, []uint64{2, 3}},
		{0, 2, true, []uint64{5, 4}},
		{3, 0, true, []uint64{3, 2, 1}},
		{6, 0, false, nil},
		{9, 0, true, []uint64{5, 4, 3, 2, 1}},
	}
	for _, c := range cases {
		evs, err := l.Read("account:1", c.from, c.count, c.rev)
		if err != nil {
			t.Fatal(err)
		}
		var got []uint64
		for _, e := range evs {
			got = append(got, e.Version)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("read from %d count %d rev %v: got %v want %v", c.from, c.count, c.rev, got, c.want)
		}
	}
	if evs, _ := l.Read("account:2", 0, 0, false); len(evs) != 0 {
		t.Fatalf("missing stream read %d events", len(evs))
	}
	rng, err := l.Range(4, 3, nil)
	if err != nil || len(rng) != 3 || rng[0].Position != 4 || rng[2].Position != 6 {
		t.Fatalf("range: %+v %v", rng, err)
	}
	rng, _ = l.Range(1, 0, []string{"Other"})
	if len(rng) != 5 || string(rng[0].Meta) != `{"by":"t"}` || rng[0].Stream != "account:10" {
		t.Fatalf("range by type: %+v", rng)
	}
	if v, _ := l.Version("account:10"); v != 5 {
		t.Fatalf("version %d", v)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []Durability{DurabilityAlways, DurabilityEverySec, DurabilityNone} {
		opts := DefaultOptions()
		opts.Durability = d
		l, err := Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		r := appendOne(l, Append{Stream: "s:1", ID: d.String(), Events: []Proposed{ev("T", `{}`)}})
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	l, err := Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.LastPosition() != 3 {
		t.Fatalf("last %d after reopen", l.LastPosition())
	}
	if r := appendOne(l, Append{Stream: "s:1", ID: "everysec", Events: []Proposed{ev("T", `{}`)}}); !r.Duplicate || r.Position != 2 {
		t.Fatalf("idempotency lost on reopen: %+v", r)
	}
	if r := appendOne(l, Append{Stream: "s:1", Expect: Expect{ExpectVersion, 3}, Events: []Proposed{ev("T", `{}`)}}); r.Err != nil || r.Position != 4 {
		t.Fatalf("append after reopen: %+v", r)
	}
}

func TestNewerFormatRefused(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	l.SetMeta("format", []byte("99"))
	l.Close()
	if _, err := Open(dir, DefaultOptions()); !errors.Is(err, ErrNewerFormat) {
		t.Fatalf("got %v, want ErrNewerFormat", err)
	}
}

// TestGroupCommit appends from many goroutines at once and checks that the
// positions are gap-free and that rounds were shared.
func TestGroupCommit(t *testing.T) {
	l := openTest(t, DefaultOptions())
	const writers, each = 32, 20
	var wg sync.WaitGroup
	seen := make(chan uint64, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r := appendOne(l, Append{Stream: fmt.Sprintf("c:%d", w), Expect: Expect{ExpectVersion, uint64(i)}, Events: []Proposed{ev("T", `{}`)}})
				if r.Err != nil {
					t.Error(r.Err)
					return
				}
				seen <- r.Position
			}
		}()
	}
	wg.Wait()
	close(seen)
	got := map[uint64]bool{}
	for p := range seen {
		if got[p] {
			t.Fatalf("position %d given twice", p)
		}
		got[p] = true
	}
	for p := uint64(1); p <= writers*each; p++ {
		if !got[p] {
			t.Fatalf("position %d missing", p)
		}
	}
	st := l.Stats()
	if st.Appends != writers*each {
		t.Fatalf("appends %d", st.Appends)
	}
	t.Logf("%d appends in %d rounds", st.Appends, st.Rounds)
}

// recorder is an Applier that rejects events of type "Reject" and records
// what it was asked.
type recorder struct {
	mu        sync.Mutex
	staged    []string
	sealed    [][]string
	published []string
	discards  int
	lastPub   uint64
	txFrom    int
}

func (r *recorder) Stage(evs []Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range evs {
		if e.Type == "Reject" {
			return errors.New("rejected")
		}
	}
	for _, e := range evs {
		r.staged = append(r.staged, fmt.Sprintf("%s@%d", e.Stream, e.Position))
	}
	return nil
}

func (r *recorder) Seal() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sealed = append(r.sealed, r.staged)
	r.staged = nil
}

func (r *recorder) Publish(last uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.published = append(r.published, r.sealed[0]...)
	r.sealed = r.sealed[1:]
	r.lastPub = last
}

func (r *recorder) BeginTx() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.txFrom = len(r.staged)
}

func (r *recorder) EndTx(keep bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !keep {
		r.staged = r.staged[:r.txFrom]
	}
}

func (r *recorder) Discard() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.staged, r.sealed = nil, nil
	r.discards++
}

func TestApplierRejectsWithoutGap(t *testing.T) {
	l := openTest(t, DefaultOptions())
	rec := &recorder{}
	l.SetApplier(rec)
	a := &Append{Stream: "x:1", Events: []Proposed{ev("Ok", `{}`)}}
	b := &Append{Stream: "x:1", Events: []Proposed{ev("Ok", `{}`), ev("Reject", `{}`)}}
	c := &Append{Stream: "x:1", Events: []Proposed{ev("Ok", `{}`)}}
	l.Append(a, b, c)
	if a.Result.Err != nil || b.Result.Err == nil || c.Result.Err != nil {
		t.Fatalf("results %+v %+v %+v", a.Result, b.Result, c.Result)
	}
	if c.Result.Position != 2 || c.Result.Version != 2 {
		t.Fatalf("rejected append left a gap: %+v", c.Result)
	}
	if fmt.Sprint(rec.published) != "[x:1@1 x:1@2]" || rec.lastPub != 2 {
		t.Fatalf("published %v last %d", rec.published, rec.lastPub)
	}
	evs, _ := l.Range(1, 0, nil)
	if len(evs) != 2 {
		t.Fatalf("log holds %d events, want 2", len(evs))
	}
}

func TestExclusiveSeesCommittedPosition(t *testing.T) {
	l := openTest(t, DefaultOptions())
	appendOne(l, Append{Stream: "x:1", Events: []Proposed{ev("A", `{}`), ev("B", `{}`)}})
	var seen uint64
	err := l.Exclusive(func(last uint64) error { seen = last; return errors.New("boom") })
	if seen != 2 || err == nil || err.Error() != "boom" {
		t.Fatalf("exclusive saw %d, err %v", seen, err)
	}
}

func TestClosedLogRefusesAppends(t *testing.T) {
	l, err := Open(t.TempDir(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if r := appendOne(l, Append{Stream: "x:1", Events: []Proposed{ev("A", `{}`)}}); !errors.Is(r.Err, ErrClosed) {
		t.Fatalf("got %v", r.Err)
	}
}

// appendDeposit appends the i-th single-event deposit of a benchmark.
func appendDeposit(b *testing.B, l *Log, i int) {
	a := Append{Stream: "account:" + fmt.Sprint(i%1000), Events: []Proposed{{Type: "BalanceIncreased", Data: []byte(`{"amount":10}`)}}}
	l.Append(&a)
	if a.Result.Err != nil {
		b.Fatal(a.Result.Err)
	}
}

// BenchmarkAppend is one client's appends, one at a time: under always,
// the latency of a round with its fsync.
func BenchmarkAppend(b *testing.B) {
	for _, d := range []Durability{DurabilityNone, DurabilityAlways} {
		b.Run(d.String(), func(b *testing.B) {
			opts := DefaultOptions()
			opts.Durability = d
			l := openTest(b, opts)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				appendDeposit(b, l, i)
			}
		})
	}
}

// BenchmarkAppendParallelAlways is 16 clients per CPU appending at once,
// durably: what the group commit shares.
func BenchmarkAppendParallelAlways(b *testing.B) {
	l := openTest(b, DefaultOptions())
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			appendDeposit(b, l, i)
		}
	})
}

func BenchmarkScan(b *testing.B) {
	opts := DefaultOptions()
	opts.Durability = DurabilityNone
	l := openTest(b, opts)
	data := []byte(`{"amount":10}`)
	for i := 0; i < 10000; i++ {
		appendOne(l, Append{Stream: fmt.Sprintf("account:%d", i%100), Events: []Proposed{{Type: "BalanceIncreased", Data: data}}})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		l.Scan(1, 0, func(e *Event) error { n++; return nil })
		if n != 10000 {
			b.Fatal(n)
		}
	}
}

// TestVerifyLargerThanCache: Scan hands out streams that alias Pebble's
// blocks; Verify must keep nothing of them once the block cache reuses its
// memory (a small cache and memtable make that happen at once).
func TestVerifyLargerThanCache(t *testing.T) {
	opts := DefaultOptions()
	opts.Durability = DurabilityNone
	opts.CacheSize = 1 << 20
	opts.MemTableSize = 1 << 20
	l := openTest(t, opts)
	pad := strings.Repeat("x", 500)
	for round := range 40 {
		a := &Append{Stream: fmt.Sprintf("shelf:%d", round%7)}
		for i := range 500 {
			a.Events = append(a.Events, Proposed{Type: "Stocked", Data: fmt.Appendf(nil, `{"i":%d,"pad":%q}`, i, pad)})
		}
		if l.Append(a); a.Result.Err != nil {
			t.Fatal(a.Result.Err)
		}
	}
	rep, err := l.Verify(nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != 20000 || rep.Streams != 7 {
		t.Fatalf("verify saw %d events in %d streams, want 20000 in 7", rep.Events, rep.Streams)
	}
}

// threeAppends are a good append, one whose EXPECT fails after it, and one
// refused by validation.
func threeAppends(stream string) []*Append {
	return []*Append{
		{Stream: stream, Events: []Proposed{ev("A", `{}`)}},
		{Stream: stream, Expect: Expect{Kind: ExpectVersion, Version: 0}, Events: []Proposed{ev("A", `{}`)}},
		{Stream: stream, Events: []Proposed{ev("A", `[]`)}},
	}
}

// checkThree checks the results of threeAppends run first in a new log.
func checkThree(t *testing.T, as []*Append) {
	t.Helper()
	if r := as[0].Result; r.Err != nil || r.Position != 1 || r.Version != 1 {
		t.Errorf("first: %+v", r)
	}
	var wv *WrongVersionError
	if !errors.As(as[1].Result.Err, &wv) {
		t.Errorf("EXPECT 0 on a stream at 1: %+v", as[1].Result)
	}
	if as[2].Result.Err == nil {
		t.Errorf("a JSON array accepted: %+v", as[2].Result)
	}
}

func TestAppendAsync(t *testing.T) {
	l := openTest(t, DefaultOptions())
	as := append(threeAppends("x:1"), &Append{Stream: "x:2", Events: []Proposed{ev("A", `{}`)}})
	done := make(chan struct{})
	l.AppendAsync(as, func() { close(done) })
	<-done
	checkThree(t, as)
	if r := as[3].Result; r.Err != nil || r.Position != 2 {
		t.Errorf("last: %+v", r)
	}

	// Nothing valid: done is called at once, on the caller's goroutine.
	called := false
	l.AppendAsync(as[2:3], func() { called = true })
	if !called {
		t.Error("done not called for an append refused by validation")
	}
	l.Close()
	called = false
	l.AppendAsync(as[:1], func() { called = true })
	if !called || !errors.Is(as[0].Result.Err, ErrClosed) {
		t.Errorf("closed log: called %v, %v", called, as[0].Result.Err)
	}
}

func TestAppendNow(t *testing.T) {
	l := openTest(t, DefaultOptions())
	as := threeAppends("n:1")
	if !l.AppendNow(as) {
		t.Fatal("AppendNow with the writer idle did not run")
	}
	checkThree(t, as)
	if l.LastPosition() != 1 {
		t.Errorf("last position %d, want 1", l.LastPosition())
	}

	// During a write stall, and for a while after one began, it declines.
	l.stalling.Store(true)
	if l.AppendNow(as[:1]) {
		t.Error("AppendNow ran during a write stall")
	}
	l.stalling.Store(false)
	l.stalled.Store(time.Now().UnixNano())
	if l.AppendNow(as[:1]) {
		t.Error("AppendNow ran right after a write stall")
	}
	l.stalled.Store(0)

	// While the writer runs an Exclusive, AppendNow leaves the appends alone.
	inside, release := make(chan struct{}), make(chan struct{})
	go l.Exclusive(func(uint64) error { close(inside); <-release; return nil })
	<-inside
	b := &Append{Stream: "n:3", Events: []Proposed{ev("A", `{}`)}}
	if l.AppendNow([]*Append{b}) {
		t.Error("AppendNow ran while the writer was busy")
	}
	close(release)
	l.Append(b)
	if b.Result.Err != nil || b.Result.Position != 2 {
		t.Errorf("after the Exclusive: %+v", b.Result)
	}

	l.Close()
	c := &Append{Stream: "n:4", Events: []Proposed{ev("A", `{}`)}}
	if !l.AppendNow([]*Append{c}) || !errors.Is(c.Result.Err, ErrClosed) {
		t.Errorf("closed log: %+v", c.Result)
	}
}
