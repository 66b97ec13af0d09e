package sqlproj

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/sqlproj/sqldb"
	"github.com/foldb/foldb/state"
	"github.com/tidwall/gjson"
)

const bankSQL = `
sql:
  accounts:
    database: reports
    from: account
    columns: {id: id, name: {expr: name, type: text}, balance: balance, v: version}
    indexes: [balance]
  ledger:
    database: reports
    events: [BalanceIncreased, BalanceDecreased]
    columns: {position: position, account: id, type: type, amount: {expr: event.amount, type: integer}, at: time}
`

type fixture struct {
	t   testing.TB
	dir string
	log *eventlog.Log
	eng *state.Engine
	m   *Manager
	db  testDB
	// openDB opens the database for the manager: the twin itself, or a
	// real database again for each manager.
	openDB func(context.Context) (sqldb.DB, error)
	// opens counts the manager's opens of the database, which a test may
	// make fail.
	openErr error
}

// testDB is the database a fixture's projections write to, as the test
// sees it: sqldb.Mem, or a real database with faults on demand.
type testDB interface {
	// SetFail makes every call fail with err until SetFail(nil).
	SetFail(err error)
	// Table returns a table's rows by their first column, nil when it
	// does not exist.
	Table(name string) map[string][]any
	Checkpoint(ctx context.Context, projection string) (sqldb.Checkpoint, bool, error)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newFixture(t testing.TB, schema string) *fixture {
	mem := sqldb.NewMem()
	return newFixtureOn(t, schema, mem, func(context.Context) (sqldb.DB, error) { return mem, nil })
}

// newFixtureOn is a fixture whose projections write to db, which the
// manager opens with open.
func newFixtureOn(t testing.TB, schema string, db testDB, open func(context.Context) (sqldb.DB, error)) *fixture {
	f := &fixture{t: t, dir: t.TempDir(), db: db, openDB: open}
	f.open(schema)
	return f
}

func (f *fixture) open(schema string) { f.openWith(schema, nil) }

// openWith opens the fixture's log and manager, with tweak changing the
// manager's options.
func (f *fixture) openWith(schema string, tweak func(*Options)) {
	f.t.Helper()
	opts := eventlog.DefaultOptions()
	opts.Durability = eventlog.DurabilityNone
	l, err := eventlog.Open(f.dir, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.log = l
	f.eng = state.NewEngine(l, quiet())
	po := DefaultOptions()
	po.Logger = quiet()
	po.Databases = map[string]sqldb.Config{"reports": {Driver: "mem"}}
	po.BatchRows, po.BatchEvents = 7, 13 // many small batches
	po.RetryMin, po.RetryMax = time.Millisecond, 5*time.Millisecond
	po.Open = func(ctx context.Context, _ sqldb.Config) (sqldb.DB, error) {
		if f.openErr != nil {
			return nil, f.openErr
		}
		return f.openDB(ctx)
	}
	if tweak != nil {
		tweak(&po)
	}
	f.m = New(l, f.eng, po)
	if schema != "" {
		if err := f.eng.Load(&schema, nil); err != nil {
			f.t.Fatal(err)
		}
	} else if err := f.eng.Load(nil, nil); err != nil {
		f.t.Fatal(err)
	}
	if err := f.m.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(f.close)
}

func (f *fixture) close() {
	if f.m != nil {
		f.m.Close()
		f.m = nil
	}
	if f.log != nil {
		f.log.Close()
		f.log = nil
	}
}

func (f *fixture) append(stream string, events ...string) {
	f.t.Helper()
	a := &eventlog.Append{Stream: stream}
	for i := 0; i < len(events); i += 2 {
		a.Events = append(a.Events, eventlog.Proposed{Type: events[i], Data: []byte(events[i+1])})
	}
	f.log.Append(a)
	var rejected *state.RejectedError
	if a.Result.Err != nil && !errors.As(a.Result.Err, &rejected) {
		f.t.Fatalf("append %s: %v", stream, a.Result.Err)
	}
}

// caughtUp waits until every projection's checkpoint is the log's end.
func (f *fixture) caughtUp() {
	f.t.Helper()
	var last []string
	defer func() {
		if f.t.Failed() {
			f.t.Logf("the log at %d; the projections: %q", f.log.LastPosition(), last)
		}
	}()
	testkit.WaitFor(f.t, "the projections catch up", func() bool {
		last = last[:0]
		ok := true
		for _, n := range f.m.Names() {
			st, err := f.m.Status(n, false)
			last = append(last, fmt.Sprintf("%+v %v", st, err))
			if err != nil || st.Position != f.log.LastPosition() || (st.State != Live && st.State != CatchingUp) {
				ok = false
			}
		}
		return ok
	})
}

// wantAccounts checks that the accounts table is the account entities.
func (f *fixture) wantAccounts(store *state.Store) {
	f.t.Helper()
	rows := f.db.Table("accounts")
	want := map[string]string{}
	for _, tc := range store.Types() {
		if tc.Name != "account" {
			continue
		}
		all, err := store.All(state.Query{Type: "account", Limit: -1})
		if err != nil {
			f.t.Fatal(err)
		}
		for _, e := range all {
			want[e.ID()] = e.JSON()
		}
	}
	if len(rows) != len(want) {
		f.t.Fatalf("accounts has %d rows, the state %d entities", len(rows), len(want))
	}
	vals := state.NewSQLValues()
	def := store.Schema().SQL[0]
	for id := range want {
		e, _ := store.Get("account", id)
		row, ok := rows[id]
		if !ok {
			f.t.Fatalf("account %s has no row", id)
		}
		for i, c := range def.Columns {
			v, _ := vals.Entity(c, e)
			v, _ = column(v, sqldb.Type(c.Type))
			if fmt.Sprint(v) != fmt.Sprint(row[i]) {
				f.t.Fatalf("account %s column %s: row %v, entity %v (%s)", id, c.Name, row[i], v, e.JSON())
			}
		}
	}
}

// wantLedger checks that the ledger has a row per balance event up to its
// checkpoint, and no other, each of the event's values.
func (f *fixture) wantLedger(upTo uint64) {
	f.t.Helper()
	rows := f.db.Table("ledger")
	var want, got []string
	f.log.Scan(1, upTo, func(ev *eventlog.Event) error {
		if ev.Type == "BalanceIncreased" || ev.Type == "BalanceDecreased" {
			_, id := eventlog.SplitStream(ev.Stream)
			want = append(want, fmt.Sprintf("%d %s %s %s %d", ev.Position, id, ev.Type, gjson.GetBytes(ev.Data, "amount").Raw, ev.Time))
		}
		return nil
	})
	for _, r := range rows {
		at, ok := r[4].(time.Time)
		if !ok {
			f.t.Fatalf("ledger row %v: at is a %T", r, r[4])
		}
		got = append(got, fmt.Sprintf("%v %v %v %v %d", r[0], r[1], r[2], r[3], at.UnixMilli()))
	}
	byPosition := func(s []string) {
		sort.Slice(s, func(i, j int) bool {
			var a, b uint64
			fmt.Sscan(s[i], &a)
			fmt.Sscan(s[j], &b)
			return a < b
		})
	}
	byPosition(got)
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			f.t.Fatalf("ledger row %q, want %q (%d rows, want %d)", got[i], want[i], len(got), len(want))
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		f.t.Fatalf("ledger rows:\n%s\nwant (%d):\n%s", strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
	}
}

func bankSchema(t testing.TB) string { return testkit.BankSchema(t) + bankSQL }

func TestProjectorsFollowTheLog(t *testing.T) {
	f := newFixture(t, bankSchema(t))
	for i := range 30 {
		f.append(fmt.Sprintf("account:%d", i%7), "AccountOpened", fmt.Sprintf(`{"uuid":"u%d","name":"n%d"}`, i, i))
		f.append(fmt.Sprintf("account:%d", i%7), "BalanceIncreased", `{"amount":10}`)
	}
	f.append("account:3", "AccountClosed", `{}`)
	f.caughtUp()
	f.wantAccounts(f.eng.Store())
	f.wantLedger(f.log.LastPosition())
	if _, ok := f.db.Table("accounts")["3"]; ok {
		t.Fatal("a closed account keeps its row")
	}
	ck, ok, _ := f.db.Checkpoint(context.Background(), "ledger")
	if !ok || ck.Position != f.log.LastPosition() || ck.Table != "ledger" || ck.Generation != 1 {
		t.Fatalf("checkpoint %+v", ck)
	}
}

func TestProjectorCatchesUpAfterARestart(t *testing.T) {
	f := newFixture(t, bankSchema(t))
	for i := range 20 {
		f.append(fmt.Sprintf("account:%d", i), "BalanceIncreased", `{"amount":5}`)
	}
	f.caughtUp()
	// Down while appends go on; then foldb restarts behind the log.
	f.db.SetFail(errors.New("connection refused"))
	for i := range 20 {
		f.append(fmt.Sprintf("account:%d", i%3), "BalanceIncreased", `{"amount":1}`)
	}
	testkit.WaitFor(t, "the failure is reported", func() bool {
		st, _ := f.m.Status("accounts", false)
		return st.State == Retrying && strings.Contains(st.LastError, "connection refused") && st.Lag > 0
	})
	f.close()
	f.db.SetFail(nil)
	f.open("")
	f.caughtUp()
	f.wantAccounts(f.eng.Store())
	f.wantLedger(f.log.LastPosition())
}

func TestRebuildSwapsAFreshTable(t *testing.T) {
	f := newFixture(t, bankSchema(t))
	for i := range 25 {
		f.append(fmt.Sprintf("account:%d", i%9), "BalanceIncreased", `{"amount":3}`)
	}
	f.caughtUp()
	for _, n := range []string{"accounts", "ledger"} {
		if err := f.m.Rebuild(n); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, "the rebuilds swap in", func() bool {
		a, _ := f.m.Status("accounts", false)
		l, _ := f.m.Status("ledger", false)
		return a.Generation == 2 && l.Generation == 2
	})
	f.caughtUp()
	f.wantAccounts(f.eng.Store())
	f.wantLedger(f.log.LastPosition())
	if f.db.Table(shadowPrefix+"accounts") != nil {
		t.Fatal("the build's table is left behind")
	}
}

func TestSchemaChangeRebuildsWhatChanged(t *testing.T) {
	f := newFixture(t, bankSchema(t))
	for i := range 10 {
		f.append(fmt.Sprintf("account:%d", i), "BalanceIncreased", `{"amount":3}`)
	}
	f.caughtUp()
	// The fold changes: accounts' rows depend on it, the ledger's do not.
	changed := strings.Replace(bankSchema(t), "balance + event.amount", "balance + 2 * event.amount", 1)
	if err := f.eng.SetSchema(changed); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "accounts is rebuilt", func() bool {
		a, _ := f.m.Status("accounts", false)
		return a.Generation == 2
	})
	f.append("account:1", "BalanceIncreased", `{"amount":1}`)
	f.caughtUp()
	f.wantAccounts(f.eng.Store())
	if l, _ := f.m.Status("ledger", false); l.Generation != 1 {
		t.Fatalf("the ledger was rebuilt: %+v", l)
	}
	if row := f.db.Table("accounts")["1"]; row[2] != int64(8) {
		t.Fatalf("account 1's row %v after the change", row)
	}
}

func TestUnknownDatabaseIsRefused(t *testing.T) {
	f := newFixture(t, "")
	err := f.eng.SetSchema(strings.Replace(bankSchema(t), "database: reports\n    events", "database: nowhere\n    events", 1))
	var se *state.SchemaError
	if !errors.As(err, &se) || !strings.Contains(se.Error(), "unknown database 'nowhere' (the settings name: reports)") || se.Line == 0 {
		t.Fatalf("err %v", err)
	}
}

func TestWait(t *testing.T) {
	f := newFixture(t, bankSchema(t))
	f.db.SetFail(errors.New("down"))
	f.append("account:1", "BalanceIncreased", `{"amount":1}`)
	woken := make(chan struct{})
	_, ok, cancel, err := f.m.Wait("ledger", f.log.LastPosition(), func() bool { close(woken); return true })
	if err != nil || ok {
		t.Fatalf("wait: %v %v", ok, err)
	}
	defer cancel()
	f.db.SetFail(nil)
	<-woken
	if _, _, _, err := f.m.Wait("nope", 1, nil); !errors.Is(err, ErrNoProjection) {
		t.Fatalf("err %v", err)
	}
}

// TestWaitBeforeStart waits on an entity projection that its restarted
// projector has not started yet, whose checkpoint is already the log's
// end: reading the checkpoint reaches the position, with no batch to
// commit after it.
func TestWaitBeforeStart(t *testing.T) {
	f := newFixture(t, bankSchema(t))
	for i := range 5 {
		f.append(fmt.Sprintf("account:%d", i), "BalanceIncreased", `{"amount":2}`)
	}
	f.caughtUp()
	f.close()
	f.db.SetFail(errors.New("down")) // the checkpoint cannot be read yet
	f.open("")
	woken := map[string]chan struct{}{}
	for _, name := range []string{"accounts", "ledger"} {
		ch := make(chan struct{})
		woken[name] = ch
		_, ok, cancel, err := f.m.Wait(name, f.log.LastPosition(), func() bool { close(ch); return true })
		if err != nil || ok {
			t.Fatalf("wait %s before the start: %v %v", name, ok, err)
		}
		defer cancel()
	}
	f.db.SetFail(nil)
	for name, ch := range woken {
		testkit.WaitFor(t, name+" wakes its waiter", func() bool {
			select {
			case <-ch:
				return true
			default:
				return false
			}
		})
	}
}

// TestProjectorsSurviveFaults appends random events while the database
// fails now and then and foldb stops at random points, and checks after
// each stop that the tables are exactly the fold up to their checkpoints.
func TestProjectorsSurviveFaults(t *testing.T) {
	testProjectorsSurviveFaults(t, newFixture(t, bankSchema(t)), nil)
}

// testProjectorsSurviveFaults runs the test on f's database. crash, when
// not nil, is called between some rounds, with the projectors running,
// and must bring the database down and up again (a real server killed).
func testProjectorsSurviveFaults(t *testing.T, f *fixture, crash func()) {
	rng := rand.New(rand.NewPCG(1, 2))
	types := []string{"AccountOpened", "BalanceIncreased", "BalanceDecreased", "AccountClosed"}
	for round := range 8 {
		for range 20 + rng.IntN(60) {
			typ := types[rng.IntN(len(types))]
			data := fmt.Sprintf(`{"amount":%d}`, 1+rng.IntN(9))
			if typ == "AccountOpened" {
				data = fmt.Sprintf(`{"uuid":"u%d","name":"n%d"}`, rng.IntN(99), rng.IntN(99))
			}
			f.append(fmt.Sprintf("account:%d", rng.IntN(12)), typ, data)
			if rng.IntN(40) == 0 {
				f.db.SetFail(errors.New("disk I/O error"))
			} else if rng.IntN(10) == 0 {
				f.db.SetFail(nil)
			}
		}
		f.db.SetFail(nil)
		if crash != nil && round%3 == 1 {
			crash()
		}
		f.close() // a stop at whatever point the projectors were
		// The tables are the fold up to each checkpoint.
		ctx := context.Background()
		ck, ok, _ := f.db.Checkpoint(ctx, "accounts")
		l, _ := eventlog.Open(f.dir, eventlog.DefaultOptions())
		if ok {
			st, err := state.Build(l, mustSchema(t, bankSchema(t)), ck.Position, quiet())
			if err != nil {
				t.Fatal(err)
			}
			f.log = l
			f.wantAccounts(st)
		}
		if ck, ok, _ := f.db.Checkpoint(ctx, "ledger"); ok {
			f.log = l
			f.wantLedger(ck.Position)
		}
		l.Close()
		f.log = nil
		f.open("")
		if round%3 == 0 {
			f.caughtUp()
		}
	}
	f.caughtUp()
	f.wantAccounts(f.eng.Store())
	f.wantLedger(f.log.LastPosition())
}

// TestProjectorsSurviveALostCommit: a database that comes back without
// commits it confirmed (fsync off, a crash) is found out by the next
// batch, whose checkpoint is not where the projector left it, and the
// projectors write again what it lost.
func TestProjectorsSurviveALostCommit(t *testing.T) {
	mem := sqldb.NewMem()
	f := newFixtureOn(t, bankSchema(t), mem, func(context.Context) (sqldb.DB, error) { return mem, nil })
	rng := rand.New(rand.NewPCG(3, 4))
	appendSome := func(n int) {
		for range n {
			f.append(fmt.Sprintf("account:%d", rng.IntN(12)), "BalanceIncreased", fmt.Sprintf(`{"amount":%d}`, 1+rng.IntN(9)))
		}
	}
	for i := range 12 {
		f.append(fmt.Sprintf("account:%d", i), "AccountOpened", fmt.Sprintf(`{"uuid":"u%d","name":"n%d"}`, i, i))
	}
	appendSome(30)
	f.caughtUp()
	restore := mem.Save()
	appendSome(40)
	f.caughtUp()
	before, _, _ := mem.Checkpoint(context.Background(), "ledger")
	restore()
	if ck, _, _ := mem.Checkpoint(context.Background(), "ledger"); ck.Position >= before.Position {
		t.Fatalf("the lost commits: checkpoint %d, before %d", ck.Position, before.Position)
	}
	appendSome(5)
	f.caughtUp()
	f.wantAccounts(f.eng.Store())
	f.wantLedger(f.log.LastPosition())
}

func mustSchema(t testing.TB, text string) *state.Schema {
	s, err := state.ParseSchema(text)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEventRowsSeeDefaults: an event projection's row sees a declared
// default in place of an absent field, as the entities fold it, and a
// changed default rebuilds the table.
func TestEventRowsSeeDefaults(t *testing.T) {
	schema := testkit.BankSchema(t) + `
sql:
  deposits:
    database: reports
    events: [BalanceIncreased]
    columns: {position: position, amount: {expr: event.amount, type: integer}, currency: {expr: event.currency, type: text}, tag: {expr: 'event.currency + "/" + id', type: text}}
events:
  BalanceIncreased:
    data:
      amount: {type: integer}
      currency: {type: string, default: EUR}
`
	f := newFixture(t, schema)
	f.append("account:1", "BalanceIncreased", `{"amount":1}`, "BalanceIncreased", `{"amount":2,"currency":"USD"}`, "BalanceIncreased", `{"amount":3,"currency":null}`)
	f.caughtUp()
	rows := func() string {
		var out []string
		for _, r := range f.db.Table("deposits") {
			out = append(out, fmt.Sprint(r))
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	if got := rows(); got != "[1 1 EUR EUR/1] [2 2 USD USD/1] [3 3 EUR EUR/1]" {
		t.Fatalf("rows %s", got)
	}
	if err := f.eng.SetSchema(strings.Replace(schema, "default: EUR", "default: CHF", 1)); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "deposits is rebuilt", func() bool {
		st, _ := f.m.Status("deposits", false)
		return st.Generation == 2
	})
	f.caughtUp()
	if got := rows(); got != "[1 1 CHF CHF/1] [2 2 USD USD/1] [3 3 CHF CHF/1]" {
		t.Fatalf("rows after the default changed: %s", got)
	}
}

// TestStatusCountsRowsOnce shows that STATUS counts a table's rows again
// only once a batch has moved the projection's checkpoint: a row written
// by hand shows after the next batch, not before.
func TestStatusCountsRowsOnce(t *testing.T) {
	mem := sqldb.NewMem()
	f := newFixtureOn(t, bankSchema(t), mem, func(context.Context) (sqldb.DB, error) { return mem, nil })
	for i := range 3 {
		f.append(fmt.Sprintf("account:%d", i), "AccountOpened", fmt.Sprintf(`{"uuid":"u%d","name":"n%d"}`, i, i))
	}
	f.caughtUp()
	rows := func() int64 {
		t.Helper()
		st, err := f.m.Status("accounts", true)
		if err != nil {
			t.Fatal(err)
		}
		return st.Rows
	}
	if n := rows(); n != 3 {
		t.Fatalf("rows %d, want 3", n)
	}
	ctx := context.Background()
	tx, err := mem.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ck, _, _ := mem.Checkpoint(ctx, "accounts")
	p, err := f.m.get("accounts")
	if err != nil {
		t.Fatal(err)
	}
	table := p.table(ck.Table, ck.Generation)
	if err := tx.Insert(table, [][]any{{"by-hand", "x", int64(0), int64(1)}}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := rows(); n != 3 {
		t.Fatalf("rows %d before the checkpoint moved, want the count of before (3)", n)
	}
	f.append("account:9", "AccountOpened", `{"uuid":"u9","name":"n9"}`)
	f.caughtUp()
	if n := rows(); n != 5 {
		t.Fatalf("rows %d after a batch, want 5", n)
	}
}
