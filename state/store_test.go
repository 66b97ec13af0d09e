package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/internal/testkit"
)

type fixture struct {
	t   testing.TB
	dir string
	log *eventlog.Log
	eng *Engine
}

func newFixture(t testing.TB, schema string) *fixture {
	f := &fixture{t: t, dir: t.TempDir()}
	f.open(&schema)
	return f
}

func (f *fixture) open(schema *string) {
	f.t.Helper()
	opts := eventlog.DefaultOptions()
	opts.Durability = eventlog.DurabilityNone
	l, err := eventlog.Open(f.dir, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.log = l
	f.eng = NewEngine(l, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := f.eng.Load(schema, nil); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { l.Close() })
}

func (f *fixture) reopen(schema *string) {
	f.t.Helper()
	f.log.Close()
	f.open(schema)
}

func (f *fixture) append(stream string, expect *uint64, events ...string) eventlog.Result {
	f.t.Helper()
	a := &eventlog.Append{Stream: stream}
	if expect != nil {
		a.Expect = eventlog.Expect{Kind: eventlog.ExpectVersion, Version: *expect}
	}
	for i := 0; i < len(events); i += 2 {
		a.Events = append(a.Events, eventlog.Proposed{Type: events[i], Data: []byte(events[i+1])})
	}
	f.log.Append(a)
	return a.Result
}

func (f *fixture) mustAppend(stream string, events ...string) {
	f.t.Helper()
	if r := f.append(stream, nil, events...); r.Err != nil {
		f.t.Fatalf("append %s %v: %v", stream, events, r.Err)
	}
}

func (f *fixture) get(typ, id string) string {
	e, ok := f.eng.Store().Get(typ, id)
	if !ok {
		return "<nil>"
	}
	return e.JSON()
}

func TestBankProjectionAndGuards(t *testing.T) {
	f := newFixture(t, testkit.BankSchema(t))
	f.mustAppend("account:1", "AccountOpened", `{"uuid":"u-1","name":"Alice"}`)
	f.mustAppend("account:1", "BalanceIncreased", `{"amount":100}`)
	f.mustAppend("account:2", "AccountOpened", `{"uuid":"u-2","name":"Bob"}`, "BalanceIncreased", `{"amount":5}`)
	if got := f.get("account", "1"); got != `{"balance":100,"uuid":"u-1","name":"Alice"}` {
		t.Fatalf("account 1: %s", got)
	}
	r := f.append("account:1", nil, "BalanceDecreased", `{"amount":500}`)
	var rej *RejectedError
	if !errors.As(r.Err, &rej) || rej.Message != "insufficient funds" {
		t.Fatalf("overdraft: %v", r.Err)
	}
	// A rejected event in a multi-event append rejects all of it.
	r = f.append("account:1", nil, "BalanceIncreased", `{"amount":1}`, "BalanceDecreased", `{"amount":1000}`)
	if !errors.As(r.Err, &rej) {
		t.Fatalf("multi-event overdraft: %v", r.Err)
	}
	// The guard sees the earlier events of the same append.
	f.mustAppend("account:1", "BalanceIncreased", `{"amount":50}`, "BalanceDecreased", `{"amount":150}`)
	if got := f.get("account", "1"); got != `{"balance":0,"uuid":"u-1","name":"Alice"}` {
		t.Fatalf("after exact withdrawal: %s", got)
	}
	if got := f.get("bank", "totals"); got != `{"deposits":155,"withdrawals":150}` {
		t.Fatalf("totals: %s", got)
	}
	// A guard that errors rejects with the expression's error.
	r = f.append("account:1", nil, "BalanceDecreased", `{"amt":1}`)
	if !errors.As(r.Err, &rej) || !strings.Contains(rej.Message, "require event.amount > 0 && balance >= event.amount") {
		t.Fatalf("guard on a missing field: %v", r.Err)
	}
	if f.log.LastPosition() != 6 {
		t.Fatalf("rejected appends were written: last position %d", f.log.LastPosition())
	}
	e, _ := f.eng.Store().Get("account", "1")
	if e.Version() != 4 {
		t.Fatalf("account 1 version %d, want 4", e.Version())
	}
	b, _ := f.eng.Store().Get("bank", "totals")
	if b.Version() != 4 {
		t.Fatalf("totals version %d, want 4 events folded", b.Version())
	}
	f.mustAppend("account:2", "AccountClosed", `{}`)
	if got := f.get("account", "2"); got != "<nil>" {
		t.Fatalf("closed account still there: %s", got)
	}
	// A restart replays to the same state.
	before := dump(f.eng.Store())
	f.reopen(nil)
	if after := dump(f.eng.Store()); after != before {
		t.Fatalf("replay differs:\n%s\n%s", before, after)
	}
}

func TestDefaultProjection(t *testing.T) {
	f := newFixture(t, testkit.BankSchema(t))
	f.mustAppend("order:7", "Placed", `{"total":10,"items":{"a":1,"b":2}}`)
	f.mustAppend("order:7", "Changed", `{"items":{"b":null,"c":3},"note":"x"}`)
	if got := f.get("order", "7"); got != `{"total":10,"items":{"a":1,"c":3},"note":"x"}` {
		t.Fatalf("order 7: %s", got)
	}
	e, _ := f.eng.Store().Get("order", "7")
	if e.Version() != 2 {
		t.Fatalf("version %d", e.Version())
	}
	types := f.eng.Store().Types()
	if fmt.Sprint(types) != "[{order 1}]" {
		t.Fatalf("types %v", types)
	}
}

func TestIDExpressionAndBoundNames(t *testing.T) {
	f := newFixture(t, `
entities:
  customer_orders:
    events: [OrderPlaced]
    id: event.customer
    initial: {count: 0}
    when:
      OrderPlaced: {set: {count: count + 1, last: stream, at: position, v: version, kind: type, by: 'meta?.user'}}
`)
	f.mustAppend("order:1", "OrderPlaced", `{"customer":"c1"}`)
	f.mustAppend("order:2", "OrderPlaced", `{"customer":"c1"}`)
	f.mustAppend("order:3", "OrderPlaced", `{"customer":42}`)
	if got := f.get("customer_orders", "c1"); got != `{"count":2,"last":"order:2","at":2,"v":1,"kind":"OrderPlaced","by":null}` {
		t.Fatalf("c1: %s", got)
	}
	if got := f.get("customer_orders", "42"); !strings.HasPrefix(got, `{"count":1`) {
		t.Fatalf("numeric id: %s", got)
	}
	r := f.append("order:4", nil, "OrderPlaced", `{}`)
	var rej *RejectedError
	if !errors.As(r.Err, &rej) || !strings.Contains(rej.Message, "id event.customer") {
		t.Fatalf("missing id: %v", r.Err)
	}
}

// TestConcurrentGuards: many writers withdraw from one account at once;
// the balance never goes below zero and every accepted withdrawal counts.
func TestConcurrentGuards(t *testing.T) {
	f := newFixture(t, testkit.BankSchema(t))
	f.mustAppend("account:1", "AccountOpened", `{"uuid":"u","name":"A"}`, "BalanceIncreased", `{"amount":1000}`)
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				r := f.append("account:1", nil, "BalanceDecreased", `{"amount":7}`)
				if r.Err == nil {
					mu.Lock()
					accepted++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if accepted != 1000/7 {
		t.Fatalf("accepted %d withdrawals of 7 from 1000", accepted)
	}
	if got := f.get("account", "1"); got != fmt.Sprintf(`{"balance":%d,"uuid":"u","name":"A"}`, 1000-7*accepted) {
		t.Fatalf("balance: %s", got)
	}
}

func TestSchemaChangeRebuildsAndSurvivesRestart(t *testing.T) {
	f := newFixture(t, "")
	f.mustAppend("account:1", "BalanceIncreased", `{"amount":3}`)
	f.mustAppend("account:1", "BalanceIncreased", `{"amount":4}`)
	if got := f.get("account", "1"); got != `{"amount":4}` {
		t.Fatalf("merge patch: %s", got)
	}
	// A broken schema changes nothing.
	if err := f.eng.SetSchema("entities:\n  account:\n    when:\n      BalanceIncreased: {set: {balance: balance +}}\n"); err == nil {
		t.Fatal("broken schema accepted")
	}
	if got := f.get("account", "1"); got != `{"amount":4}` {
		t.Fatalf("after refused schema: %s", got)
	}
	if err := f.eng.SetSchema(testkit.BankSchema(t)); err != nil {
		t.Fatal(err)
	}
	if got := f.get("account", "1"); got != `{"balance":7}` {
		t.Fatalf("after rebuild: %s", got)
	}
	f.reopen(nil)
	if got := f.get("account", "1"); got != `{"balance":7}` {
		t.Fatalf("after restart: %s", got)
	}
	if f.eng.Store().Schema().Hash == EmptySchema().Hash {
		t.Fatal("schema not stored")
	}
}

// TestSchemaChangeUnderLoad: appends go on while the state is rebuilt;
// the new state has every one of them.
func TestSchemaChangeUnderLoad(t *testing.T) {
	f := newFixture(t, "")
	for i := 0; i < 2000; i++ {
		f.mustAppend(fmt.Sprintf("account:%d", i%10), "BalanceIncreased", `{"amount":1}`)
	}
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			f.mustAppend(fmt.Sprintf("account:%d", n%10), "BalanceIncreased", `{"amount":1}`)
			n++
		}
	}()
	if err := f.eng.SetSchema(testkit.BankSchema(t)); err != nil {
		t.Fatal(err)
	}
	close(stop)
	n := <-done
	total := 0
	for i := 0; i < 10; i++ {
		e, ok := f.eng.Store().Get("account", fmt.Sprint(i))
		if !ok {
			t.Fatalf("account %d missing", i)
		}
		var bal int
		fmt.Sscanf(e.JSON(), `{"balance":%d}`, &bal)
		total += bal
	}
	if total != 2000+n {
		t.Fatalf("balances sum to %d, want %d", total, 2000+n)
	}
}

// TestLiveEqualsReplay: random histories folded live (with guards) and
// replayed from the log give the same state.
func TestLiveEqualsReplay(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		f := newFixture(t, testkit.BankSchema(t))
		rng := rand.New(rand.NewPCG(seed, 0))
		for i := 0; i < 300; i++ {
			acc := fmt.Sprintf("account:%d", rng.IntN(8))
			switch rng.IntN(6) {
			case 0:
				f.append(acc, nil, "AccountOpened", fmt.Sprintf(`{"uuid":"u%d","name":"n%d"}`, i, i))
			case 1:
				f.append(acc, nil, "AccountClosed", `{}`)
			case 2:
				f.append(fmt.Sprintf("note:%d", rng.IntN(3)), nil, "Noted", fmt.Sprintf(`{"k%d":%d}`, rng.IntN(3), i))
			default:
				typ := "BalanceIncreased"
				if rng.IntN(2) == 0 {
					typ = "BalanceDecreased"
				}
				f.append(acc, nil, typ, fmt.Sprintf(`{"amount":%d}`, rng.IntN(50)))
			}
		}
		live := dump(f.eng.Store())
		// A sequential replay, then one split over 3 shards (the bank's two
		// types and the default projection of note:).
		for _, parallel := range []bool{false, true} {
			setParallelReplay(t, parallel, 3)
			f.reopen(nil)
			if replayed := dump(f.eng.Store()); replayed != live {
				t.Fatalf("seed %d, parallel %v: live and replayed state differ:\n%s\n---\n%s", seed, parallel, live, replayed)
			}
		}
	}
}

// setParallelReplay makes replays of any length parallel over procs CPUs,
// or never parallel, for the rest of the test.
func setParallelReplay(t *testing.T, parallel bool, procs int) {
	oldMin, oldProcs := parallelReplayMin, runtime.GOMAXPROCS(0)
	t.Cleanup(func() { parallelReplayMin = oldMin; runtime.GOMAXPROCS(oldProcs) })
	if parallel {
		parallelReplayMin = 0
		runtime.GOMAXPROCS(procs)
	} else {
		parallelReplayMin = math.MaxUint64
	}
}

// dump lists every entity with its version, for comparisons.
func dump(s *Store) string {
	var lines []string
	for _, tc := range s.Types() {
		all, _ := s.All(Query{Type: tc.Name, Limit: -1})
		for _, e := range all {
			lines = append(lines, fmt.Sprintf("%s/%s@%d %s\n", tc.Name, e.ID(), e.Version(), e.JSON()))
		}
	}
	sort.Strings(lines) // ENTITY.ALL without SORTBY has no set order
	return strings.Join(lines, "")
}

func TestQueries(t *testing.T) {
	f := newFixture(t, testkit.BankSchema(t))
	for i := 1; i <= 20; i++ {
		f.mustAppend(fmt.Sprintf("account:%02d", i), "AccountOpened", fmt.Sprintf(`{"uuid":"u%d","name":"%c%d"}`, i, 'A'+i%3, i), "BalanceIncreased", fmt.Sprintf(`{"amount":%d}`, i*10))
	}
	f.mustAppend("account:99", "AccountOpened", `{"uuid":"x","name":"NoBalanceYet"}`)
	s := f.eng.Store()
	ids := func(es []Entity) string {
		var out []string
		for _, e := range es {
			out = append(out, e.ID())
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		q    Query
		want string
	}{
		{Query{Type: "account", Where: "balance > 150", Limit: -1}, "16,17,18,19,20"},
		{Query{Type: "account", Where: "balance > 100", SortBy: "balance", Desc: true, Limit: 3}, "20,19,18"},
		{Query{Type: "account", Where: "balance > 100", SortBy: "balance", Offset: 2, Limit: 2}, "13,14"},
		{Query{Type: "account", Where: "name startsWith 'B'", Limit: -1}, "01,04,07,10,13,16,19"},
		{Query{Type: "account", SortBy: "balance", Limit: 2}, "99,01"},
		{Query{Type: "account", Where: "id == '05'", Limit: -1}, "05"},
		{Query{Type: "account", Where: "version == 1", Limit: -1}, "99"},
		{Query{Type: "nothing", Limit: -1}, ""},
		{Query{Type: "account", Where: "missing > 1", Limit: -1}, ""},
	}
	for _, c := range cases {
		got, err := s.All(c.q)
		if err != nil {
			t.Fatalf("%+v: %v", c.q, err)
		}
		gotIDs := ids(got)
		if c.q.SortBy == "" { // unspecified order: compare the sets
			sort.Slice(got, func(i, j int) bool { return got[i].ID() < got[j].ID() })
			gotIDs = ids(got)
		}
		if gotIDs != c.want {
			t.Errorf("%+v: got %s, want %s", c.q, gotIDs, c.want)
		}
	}
	// Without SORTBY, LIMIT pages follow the one order of an unchanged
	// type: they are the unlimited result cut in pieces.
	all, _ := s.All(Query{Type: "account", Where: "balance > 100", Limit: -1})
	var paged []Entity
	for off := 0; off < len(all)+3; off += 3 {
		page, _ := s.All(Query{Type: "account", Where: "balance > 100", Offset: off, Limit: 3})
		paged = append(paged, page...)
	}
	if ids(paged) != ids(all) || len(all) != 10 {
		t.Errorf("pages %s, all %s", ids(paged), ids(all))
	}
	if n, _ := s.Count("account", "balance >= 100"); n != 11 {
		t.Fatalf("count %d", n)
	}
	if n, _ := s.Count("account", ""); n != 21 {
		t.Fatalf("count all %d", n)
	}
	var qe *QueryError
	if _, err := s.All(Query{Type: "account", Where: "balance >"}); !errors.As(err, &qe) {
		t.Fatalf("bad WHERE: %v", err)
	}
	// A WHERE whose result is not a boolean matches nothing.
	if got, err := s.All(Query{Type: "account", Where: "balance + 1", Limit: -1}); err != nil || len(got) != 0 {
		t.Fatalf("non-boolean WHERE: %d entities, %v", len(got), err)
	}
}

func TestEntityPacking(t *testing.T) {
	for _, id := range []string{"1", "", strings.Repeat("x", 200), "ü"} {
		for _, v := range []uint64{0, 1, 127, 128, 1 << 33, math.MaxUint64} {
			e := packEntity(id, v, []byte(`{"a":1}`))
			if e.ID() != id || e.Version() != v || e.JSON() != `{"a":1}` {
				t.Fatalf("pack %q %d: %q %d %q", id, v, e.ID(), e.Version(), e.JSON())
			}
			if n := len(binary.AppendUvarint(nil, uint64(len(id)))) + len(id) + len(binary.AppendUvarint(nil, v)) + len(`{"a":1}`); len(e) != n {
				t.Fatalf("pack %q %d: %d bytes, want %d", id, v, len(e), n)
			}
		}
	}
}

func BenchmarkReplayBank(b *testing.B) {
	bankSchema := testkit.BankSchema(b)
	f := newFixture(b, bankSchema)
	const n = 20000
	for i := 0; i < n/4; i++ {
		a := &eventlog.Append{Stream: fmt.Sprintf("account:%d", i), Events: []eventlog.Proposed{
			{Type: "AccountOpened", Data: []byte(fmt.Sprintf(`{"uuid":"%08d-aaaa-bbbb-cccc-dddddddddddd","name":"name %d"}`, i, i))},
			{Type: "BalanceIncreased", Data: []byte(`{"amount":100}`)},
			{Type: "BalanceDecreased", Data: []byte(`{"amount":10}`)},
			{Type: "BalanceIncreased", Data: []byte(`{"amount":5}`)},
		}}
		f.log.Append(a)
	}
	schema, _ := ParseSchema(bankSchema)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s := NewStore(schema)
		if _, err := f.eng.replay(s, 1, n, Progress{Total: n}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkApplyBank folds bank events already read into one store on one
// goroutine: the fold of a replay without the log and the shards.
func BenchmarkApplyBank(b *testing.B) {
	schema, _ := ParseSchema(testkit.BankSchema(b))
	const accounts = 5000
	var events []eventlog.Event
	add := func(i int, typ, data string) {
		events = append(events, eventlog.Event{Position: uint64(len(events) + 1), Stream: fmt.Sprintf("account:%d", i), Type: typ, Data: []byte(data)})
	}
	for i := range accounts {
		add(i, "AccountOpened", fmt.Sprintf(`{"uuid":"%08d-aaaa-bbbb-cccc-dddddddddddd","name":"Customer %d"}`, i, i))
		add(i, "BalanceIncreased", `{"amount":1000}`)
	}
	for round := range 3 {
		for i := range accounts {
			if round%2 == 0 {
				add(i, "BalanceIncreased", `{"amount":100}`)
			} else {
				add(i, "BalanceDecreased", `{"amount":30}`)
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		s := NewStore(schema)
		for i := range events {
			s.Apply(&events[i])
		}
	}
	b.ReportMetric(float64(len(events))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkGet(b *testing.B) {
	f := newFixture(b, testkit.BankSchema(b))
	for i := 0; i < 1000; i++ {
		f.mustAppend(fmt.Sprintf("account:%d", i), "AccountOpened", `{"uuid":"u","name":"n"}`)
	}
	s := f.eng.Store()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.Get("account", "500"); !ok {
			b.Fatal("missing")
		}
	}
}

// TestSetCopiesMembers: a set expression that only reads one member copies
// its JSON as written (no float rounding, escapes kept), null when missing;
// the others still run.
func TestSetCopiesMembers(t *testing.T) {
	f := newFixture(t, `
entities:
  item:
    streams: item
    when:
      Put: {set: {name: event.name, tags: event.tags, price: event.price, gone: event.nope, again: name, big: event.big, n: 'len(event.tags)'}}
      Check:
        require: event.amount > 0
        message: must be positive
`)
	f.mustAppend("item:1", "Put", `{"name":"a\"b","tags":[1, 2],"price":1.50,"big":12345678901234567890}`)
	want := `{"name":"a\"b","tags":[1, 2],"price":1.50,"gone":null,"again":null,"big":12345678901234567890,"n":2}`
	if got := f.get("item", "1"); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	f.mustAppend("item:1", "Put", `{"name":"c","tags":[]}`)
	if got := f.get("item", "1"); !strings.Contains(got, `"again":"a\"b"`) {
		t.Fatalf("a copy of an entity field reads the state before the event: %s", got)
	}
	r := f.append("item:1", nil, "Check", `{"amount":"x"}`)
	var rej *RejectedError
	if !errors.As(r.Err, &rej) || strings.Contains(rej.Message, "\n") || !strings.Contains(rej.Message, "require event.amount > 0") {
		t.Fatalf("a guard that fails to run: %q", r.Err)
	}
}

func BenchmarkCountWhere(b *testing.B) {
	schema, _ := ParseSchema(testkit.BankSchema(b))
	s := NewStore(schema)
	const n = 100_000
	for i := range n {
		s.tableFor("account").idx.Set(packEntity(fmt.Sprint(i), 2, fmt.Appendf(nil, `{"balance":%d,"uuid":"%08d-aaaa-bbbb-cccc-dddddddddddd","name":"Account %d"}`, i%500, i, i)))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Count("account", "balance > 100"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entities/s")
}

// TestReplayStopsEarly: a parallel replay that its progress stops returns
// the error and leaves no goroutine blocked (the test would hang).
func TestReplayStopsEarly(t *testing.T) {
	bankSchema := testkit.BankSchema(t)
	f := newFixture(t, bankSchema)
	for i := range 30 {
		a := &eventlog.Append{Stream: fmt.Sprintf("account:%d", i)}
		for range 100 {
			a.Events = append(a.Events, eventlog.Proposed{Type: "BalanceIncreased", Data: []byte(`{"amount":1}`)})
		}
		f.log.Append(a)
	}
	schema, _ := ParseSchema(bankSchema)
	s := NewStore(schema)
	shards := s.split(3)
	calls := 0
	err := f.eng.scanAhead(1, 3000, shards, func(uint64) error { calls++; return ErrStopped })
	s.merge(shards)
	if !errors.Is(err, ErrStopped) || calls != 1 {
		t.Fatalf("scanAhead = %v after %d progress calls; want ErrStopped after 1", err, calls)
	}
	f.eng.Stop()
	if _, err := f.eng.replay(NewStore(schema), 1, 3000, Progress{}); !errors.Is(err, ErrStopped) {
		t.Fatalf("replay after Stop = %v", err)
	}
}
