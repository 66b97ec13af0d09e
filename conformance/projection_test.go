package conformance

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/internal/testkit/pgtest"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", to read the tables as another process would
)

// bankSQLSchemaPath is the bank example's schema with its SQL projections:
// the table accounts (a row per account: id, name, balance) and the table
// ledger (a row per BalanceIncreased or BalanceDecreased: position,
// account, type, amount, at), both in sqlite.db of the data folder.
func bankSQLSchemaPath(t testing.TB) string {
	t.Helper()
	return testkit.RepoPath(t, "examples", "php", "bank", "schema-sql.yaml")
}

// TestBankSQLSchemaFollowsSchema: schema-sql.yaml is schema.yaml with an
// sql: section, its entities the same line for line, so that the two
// cannot drift apart.
func TestBankSQLSchemaFollowsSchema(t *testing.T) {
	t.Parallel()
	plain, err := os.ReadFile(testkit.BankSchemaPath(t))
	if err != nil {
		t.Fatal(err)
	}
	withSQL, err := os.ReadFile(bankSQLSchemaPath(t))
	if err != nil {
		t.Fatal(err)
	}
	entities := func(text string) string {
		i := strings.Index(text, "\nentities:")
		if i < 0 {
			t.Fatalf("no entities: section in\n%s", text)
		}
		return text[i:]
	}
	if a, b := strings.TrimRight(entities(string(plain)), "\n")+"\n", entities(string(withSQL)); !strings.HasPrefix(b, a) {
		t.Errorf("the entities of schema-sql.yaml are not those of schema.yaml:\nschema.yaml:%s\nschema-sql.yaml:%s", a, b)
	}
	if !strings.Contains(string(withSQL), "\nsql:\n") {
		t.Errorf("schema-sql.yaml has no sql: section")
	}
}

// projectionRounds is how many times TestProjectionCrash kills the server:
// a few in CI, FOLDB_PROJECTION_SOAK=<rounds> for a soak.
func projectionRounds(t *testing.T) int {
	if v := os.Getenv("FOLDB_PROJECTION_SOAK"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("FOLDB_PROJECTION_SOAK=%q is not a number of rounds", v)
		}
		return n
	}
	return 4
}

// projectionSeed is FOLDB_PROJECTION_SEED, or a new seed; the test logs it
// so that a failure's kill points, amounts and accounts can be replayed.
func projectionSeed(t *testing.T) uint64 {
	if v := os.Getenv("FOLDB_PROJECTION_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("FOLDB_PROJECTION_SEED=%q is not a number", v)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// The bank of TestProjectionCrash: bankHot accounts that most of the load
// hits (so that withdrawals race and the guard refuses some), bankAccounts
// in all (so that a build of the accounts table takes long enough to be
// killed in the middle), and bankChurn accounts that are closed and opened
// again, so that rows are deleted and inserted anew.
const (
	bankAccounts = 400
	bankHot      = 10
	bankChurn    = 4
	bankWorkers  = 6
)

// TestProjectionCrash kills foldb with SIGKILL, round after round, while
// clients move money between accounts of the bank example's schema with
// its SQL projections, and after each restart checks, once PROJECTION.WAIT
// says both projections have reached the log's head, that:
//   - the accounts table holds exactly ENTITY.ALL account: the same ids,
//     names and balances, no other row;
//   - the ledger holds a row per BalanceIncreased and BalanceDecreased of
//     the log, with its position, account, type, amount and time: none
//     missing, none twice, no other row;
//   - every answered append is in the log as answered, no refused one is,
//     and an unanswered one is there whole or not at all;
//   - no table a build filled is left behind.
//
// Some rounds send PROJECTION.REBUILD of one of the tables and kill the
// server while the build runs. Each round kills after a random number of
// answered appends; FOLDB_PROJECTION_SEED replays a run's choices.
func TestProjectionCrash(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--schema", bankSQLSchemaPath(t))
	testProjectionCrash(t, s, sqliteTarget)
}

// TestProjectionCrashPostgres is TestProjectionCrash with the tables in a
// real PostgreSQL, which FOLDB_DATABASES_REPORTS_DSN gives the server: a
// kill -9 of foldb in the middle of a batch, or of a build, leaves the
// tables at a checkpoint the restarted server goes on from. (Not
// parallel: t.Setenv.)
func TestProjectionCrashPostgres(t *testing.T) {
	dsn := pgtest.Start(t).NewDatabase(t)
	text, err := os.ReadFile(bankSQLSchemaPath(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "schema.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(text), "database: sqlite", "database: reports")), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FOLDB_DATABASES_REPORTS_DSN", dsn) // the server inherits the environment
	s := startServer(t, "", "--schema", path)
	if st := projectionStatus(t, s.Client(3), "accounts"); st["driver"] != "postgres" {
		t.Fatalf("PROJECTION.STATUS accounts = %v; want the driver postgres", st)
	}
	testProjectionCrash(t, s, sqlTarget{
		open: func(t *testing.T, _ *Server) *sql.DB {
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				t.Fatal(err)
			}
			return db
		},
		at:      `to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')`,
		shadows: `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name LIKE 'foldb\_new\_%'`,
	})
}

// sqlTarget is where the projections' tables are and how to read them.
type sqlTarget struct {
	open func(t *testing.T, s *Server) *sql.DB
	// at is the ledger's at column as text, as SQLite stores it.
	at string
	// shadows lists the tables of builds (foldb_new_*).
	shadows string
}

var sqliteTarget = sqlTarget{
	open:    func(t *testing.T, s *Server) *sql.DB { return openSQLiteReadOnly(t, filepath.Join(s.Dir, "sqlite.db")) },
	at:      "at",
	shadows: `SELECT name FROM sqlite_master WHERE name LIKE 'foldb\_new\_%' ESCAPE '\'`,
}

func testProjectionCrash(t *testing.T, s *Server, target sqlTarget) {
	seed := projectionSeed(t)
	t.Logf("seed %d (FOLDB_PROJECTION_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	b := &bankLoad{seed: seed, target: target}
	b.open(t, s)
	b.check(t, s, "after opening the accounts")

	rounds := projectionRounds(t)
	for round := range rounds {
		kind := "appends"
		switch {
		case round%4 == 2:
			kind = "rebuild ledger"
		case round%4 == 3:
			kind = "rebuild accounts"
		}
		if rounds > 4 && round >= 4 {
			kind = []string{"appends", "appends", "rebuild ledger", "rebuild accounts"}[rng.IntN(4)]
		}
		killAfter := 1 + rng.IntN(400)
		if raceEnabled {
			killAfter = 1 + rng.IntN(150)
		}
		b.round = round
		w := b.start(s.Addr)
		what := ""
		switch kind {
		case "appends":
			b.waitAcks(t, w, killAfter)
			what = fmt.Sprintf("after %d answered appends", killAfter)
			s.Kill()
		default:
			b.waitAcks(t, w, killAfter)
			what = b.killDuringBuild(t, s, strings.TrimPrefix(kind, "rebuild "))
		}
		counts := w.stop(t)
		t.Logf("round %d (%s): killed %s; %d answered, %d refused, %d unanswered", round, kind, what, counts[answered], counts[refused], counts[unanswered])
		s = s.Restart()
		b.check(t, s, fmt.Sprintf("round %d (%s), seed %d", round, kind, seed))
		if t.Failed() {
			return
		}
	}
	s.Stop()
}

// bankLoad is the bank TestProjectionCrash moves money in, and every
// append sent to it over the rounds.
type bankLoad struct {
	seed   uint64
	target sqlTarget
	round  int
	mu     sync.Mutex
	recs   []*appendRec
}

// open opens the accounts, bankChurn of them closed at the start.
func (b *bankLoad) open(t *testing.T, s *Server) {
	t.Helper()
	ctx := context.Background()
	c := s.Client(3)
	pipe := c.Pipeline()
	var cmds []*redis.Cmd
	for i := range bankAccounts + bankChurn {
		r := &appendRec{id: fmt.Sprintf("open-%d", i), stream: "account:" + bankAccountID(i)}
		r.add("AccountOpened", fmt.Sprintf(`{"uuid":"u-%d","name":"n%d"`, i, i))
		if i >= bankAccounts {
			r.add("AccountClosed", `{`)
		}
		cmds = append(cmds, pipe.Do(ctx, r.args("EXPECT", "NEW")...))
		b.recs = append(b.recs, r)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("opening the accounts: %v", err)
	}
	for i, cmd := range cmds {
		b.recs[i].answer(cmd)
	}
}

func bankAccountID(i int) string {
	if i >= bankAccounts {
		return fmt.Sprintf("churn-%d", i-bankAccounts)
	}
	return strconv.Itoa(i)
}

// add appends an event to the append; data is a JSON object's text
// without its closing brace, to which add adds the event's token.
func (r *appendRec) add(typ, data string) {
	tok := fmt.Sprintf("%s.%d", r.id, len(r.tokens))
	if !strings.HasSuffix(data, "{") {
		data += ","
	}
	r.types = append(r.types, typ)
	r.tokens = append(r.tokens, tok)
	r.data = append(r.data, fmt.Sprintf(`%s"token":%q}`, data, tok))
}

// args is the EVENT.APPEND of the append, with options before its events.
func (r *appendRec) args(opts ...any) []any {
	args := append([]any{"EVENT.APPEND", r.stream}, opts...)
	for j := range r.types {
		args = append(args, r.types[j], r.data[j])
	}
	return args
}

// answer records the reply to the append; it reports false when the
// connection broke before one came.
func (r *appendRec) answer(cmd *redis.Cmd) bool {
	v, err := cmd.Result()
	switch {
	case v != nil:
		vp, _ := v.([]any)
		if len(vp) == 2 {
			r.version, _ = vp[0].(int64)
			r.position, _ = vp[1].(int64)
		}
		r.outcome = answered
	case isNetError(err):
		return false
	default:
		r.outcome, r.reply = refused, err.Error()
	}
	return true
}

// bankWorkersRun is one round's clients.
type bankWorkersRun struct {
	b        *bankLoad
	acks     atomic.Int64
	stopping atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	failures []string
}

// start starts bankWorkers clients that move money until the server dies:
// deposits, withdrawals the guard refuses when they would overdraw, a
// deposit and a withdrawal in one append, and now and then the close or
// the opening of a churn account; some pipeline.
func (b *bankLoad) start(addr string) *bankWorkersRun {
	w := &bankWorkersRun{b: b}
	for i := range bankWorkers {
		w.wg.Go(func() {
			recs, err := w.work(addr, i)
			b.mu.Lock()
			b.recs = append(b.recs, recs...)
			b.mu.Unlock()
			if err != nil {
				w.mu.Lock()
				w.failures = append(w.failures, fmt.Sprintf("worker %d: %v", i, err))
				w.mu.Unlock()
			}
		})
	}
	return w
}

func (w *bankWorkersRun) work(addr string, worker int) ([]*appendRec, error) {
	ctx := context.Background()
	c := redis.NewClient(clientOptions(addr, 3))
	defer c.Close()
	rng := rand.New(rand.NewPCG(w.b.seed, uint64(w.b.round*100+worker+1)))
	var recs []*appendRec
	for seq := 0; ; {
		batch := 1
		if worker%2 == 1 {
			batch = 1 + rng.IntN(4)
		}
		pipe := c.Pipeline()
		cmds := make([]*redis.Cmd, batch)
		sent := make([]*appendRec, batch)
		for i := range cmds {
			r := &appendRec{id: fmt.Sprintf("r%d-w%d-%06d", w.b.round, worker, seq)}
			seq++
			acct := rng.IntN(bankHot)
			if rng.IntN(5) == 0 {
				acct = rng.IntN(bankAccounts)
			}
			switch n := rng.IntN(100); {
			case n < 3:
				acct = bankAccounts + rng.IntN(bankChurn)
				if rng.IntN(2) == 0 {
					r.add("AccountClosed", "{")
				} else {
					r.add("AccountOpened", fmt.Sprintf(`{"uuid":%q,"name":"c%d"`, r.id, seq))
				}
			case n < 55:
				r.add("BalanceIncreased", fmt.Sprintf(`{"amount":%d`, 1+rng.IntN(100)))
			case n < 90:
				r.add("BalanceDecreased", fmt.Sprintf(`{"amount":%d`, 1+rng.IntN(150)))
			default: // all or nothing: the guard of the second decides for both
				r.add("BalanceIncreased", fmt.Sprintf(`{"amount":%d`, 1+rng.IntN(100)))
				r.add("BalanceDecreased", fmt.Sprintf(`{"amount":%d`, 1+rng.IntN(200)))
			}
			r.stream = "account:" + bankAccountID(acct)
			cmds[i] = pipe.Do(ctx, r.args("ID", r.id)...)
			sent[i] = r
		}
		recs = append(recs, sent...)
		pipe.Exec(ctx)
		broken := false
		for i, cmd := range cmds {
			r := sent[i]
			if !r.answer(cmd) {
				broken = true
				continue
			}
			switch {
			case r.outcome == answered:
				w.acks.Add(1)
			case !w.stopping.Load() && !strings.HasPrefix(r.reply, "REJECTED "):
				return recs, fmt.Errorf("EVENT.APPEND %s: %s", r.stream, r.reply)
			}
		}
		if broken {
			if !w.stopping.Load() {
				return recs, fmt.Errorf("the connection broke before the kill: %v", cmds[len(cmds)-1].Err())
			}
			return recs, nil
		}
	}
}

// waitAcks waits until the round's clients have had n appends answered.
func (b *bankLoad) waitAcks(t *testing.T, w *bankWorkersRun, n int) {
	t.Helper()
	testkit.WaitForWithin(t, time.Minute, fmt.Sprintf("%d answered appends", n), func() bool {
		w.mu.Lock()
		failed := len(w.failures) > 0
		w.mu.Unlock()
		if failed {
			w.stopping.Store(true)
			w.wg.Wait()
			t.Fatalf("a client failed before the kill: %v", w.failures)
		}
		return w.acks.Load() >= int64(n)
	})
	w.stopping.Store(true) // from now on the server may die at any time
}

// stop waits for the clients, whose connections the kill broke, and
// fails the test for each that broke otherwise.
func (w *bankWorkersRun) stop(t *testing.T) map[outcome]int {
	t.Helper()
	w.stopping.Store(true)
	w.wg.Wait()
	for _, f := range w.failures {
		t.Error(f)
	}
	counts := map[outcome]int{}
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	for _, r := range w.b.recs {
		if strings.HasPrefix(r.id, fmt.Sprintf("r%d-", w.b.round)) {
			counts[r.outcome]++
		}
	}
	return counts
}

// killDuringBuild sends PROJECTION.REBUILD name and kills the server once
// INFO says the build runs, trying again when a build ends before INFO
// sees it. (INFO, not PROJECTION.STATUS, whose count of rows waits for the
// build's transaction.) It says when it killed.
func (b *bankLoad) killDuringBuild(t *testing.T, s *Server, name string) string {
	t.Helper()
	ctx := context.Background()
	c := s.Client(3)
	for try := 1; ; try++ {
		before := projectionInfo(t, c, name)
		if err := c.Do(ctx, "PROJECTION.REBUILD", name).Err(); err != nil {
			t.Fatalf("PROJECTION.REBUILD %s: %v", name, err)
		}
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			st := projectionInfo(t, c, name)
			if st["state"] == "building" {
				s.Kill()
				return fmt.Sprintf("while it rebuilt %s (try %d, generation %s)", name, try, st["generation"])
			}
			if st["generation"] != before["generation"] {
				break // built before INFO saw it: again
			}
		}
		if try == 50 {
			s.Kill()
			return fmt.Sprintf("after %d rebuilds of %s, none seen running", try, name)
		}
	}
}

// projectionInfo is the fields of the projection's line of INFO projections.
func projectionInfo(t *testing.T, c *redis.Client, name string) map[string]string {
	t.Helper()
	line := testkit.InfoField(t, testkit.Info(t, c, "projections"), "projection_"+name)
	fields := map[string]string{}
	for _, kv := range strings.Split(line, ",") {
		k, v, _ := strings.Cut(kv, "=")
		fields[k] = v
	}
	return fields
}

// projectionStatus is PROJECTION.STATUS name.
func projectionStatus(t *testing.T, c *redis.Client, name string) map[any]any {
	t.Helper()
	v, err := c.Do(context.Background(), "PROJECTION.STATUS", name).Result()
	st, ok := v.(map[any]any)
	if err != nil || !ok {
		t.Fatalf("PROJECTION.STATUS %s = %v, %v", name, v, err)
	}
	return st
}

// check waits for both projections to reach the log's head, then checks
// the log against the appends sent, and the tables against the log and
// the state.
func (b *bankLoad) check(t *testing.T, s *Server, when string) {
	t.Helper()
	ctx := context.Background()
	c := s.Client(3)
	head := testkit.InfoInt(t, c, "everything", "log_last_position")
	for _, name := range []string{"accounts", "ledger"} {
		v, err := c.Do(ctx, "PROJECTION.WAIT", name, head, 60000).Result()
		if err != nil || v != head {
			t.Fatalf("%s: PROJECTION.WAIT %s %d = %v, %v", when, name, head, v, err)
		}
	}
	evs := readLog(t, c, 1, 1000)
	if int64(len(evs)) != head {
		t.Fatalf("%s: log_last_position %d, EVENT.RANGE read %d events", when, head, len(evs))
	}
	b.mu.Lock()
	b.checkLog(t, evs, when)
	b.mu.Unlock()

	db := b.target.open(t, s)
	defer db.Close()
	checkAccountsTable(t, s.Client(2), db, when)
	checkLedgerTable(t, db, b.target.at, evs, when)
	var shadows []string
	rows, err := db.Query(b.target.shadows)
	if err != nil {
		t.Fatalf("listing the tables: %v", err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		shadows = append(shadows, n)
	}
	rows.Close()
	if len(shadows) > 0 {
		t.Errorf("%s: tables of a build left behind: %v", when, shadows)
	}
	for _, name := range []string{"accounts", "ledger"} {
		st := projectionStatus(t, c, name)
		if st["state"] != "live" || st["position"] != head || st["log_position"] != head || st["lag_events"] != int64(0) || st["value_errors"] != int64(0) {
			t.Errorf("%s: PROJECTION.STATUS %s = %v; want live at %d, no value error", when, name, st, head)
		}
	}
}

// checkLog checks the log against every append sent so far: an answered
// one is there as answered, a refused one is not, an unanswered one is
// there whole or not at all, and the log holds nothing else. Call with
// b.mu held.
func (b *bankLoad) checkLog(t *testing.T, evs []event, when string) {
	t.Helper()
	byToken := make(map[string]event, len(evs))
	for _, e := range evs {
		var data struct{ Token string }
		if err := json.Unmarshal([]byte(e.Data), &data); err != nil || data.Token == "" {
			t.Fatalf("%s: the event at %d has no token: %s", when, e.Position, e.Data)
		}
		if prev, dup := byToken[data.Token]; dup {
			t.Fatalf("%s: token %s at positions %d and %d", when, data.Token, prev.Position, e.Position)
		}
		byToken[data.Token] = e
	}
	claimed := 0
	for _, r := range b.recs {
		present := 0
		for _, tok := range r.tokens {
			if _, ok := byToken[tok]; ok {
				present++
			}
		}
		claimed += present
		k := len(r.tokens)
		switch {
		case r.outcome == refused && present > 0:
			t.Errorf("%s: append %s was refused (%s), but %d of its events are in the log", when, r.id, r.reply, present)
		case r.outcome == answered && present < k:
			t.Errorf("%s: append %s to %s was answered [%d %d], but %d of its %d events are missing", when, r.id, r.stream, r.version, r.position, k-present, k)
		case present != 0 && present != k:
			t.Errorf("%s: unanswered append %s is torn: %d of its %d events are in the log", when, r.id, present, k)
		case present == k:
			first := byToken[r.tokens[0]]
			for j, tok := range r.tokens {
				e := byToken[tok]
				if e.Stream != r.stream || e.Type != r.types[j] || e.Data != r.data[j] || e.Position != first.Position+int64(j) {
					t.Errorf("%s: append %s event %d is %+v; sent %s %s %s", when, r.id, j, e, r.stream, r.types[j], r.data[j])
				}
			}
			if last := byToken[r.tokens[k-1]]; r.outcome == answered && (last.Position != r.position || last.Version != r.version) {
				t.Errorf("%s: append %s was answered [%d %d]; its last event is at version %d, position %d", when, r.id, r.version, r.position, last.Version, last.Position)
			}
		}
	}
	if claimed != len(evs) {
		t.Errorf("%s: the log holds %d events, the clients sent %d of them", when, len(evs), claimed)
	}
}

// openSQLiteReadOnly opens an SQLite file as a reader beside foldb.
func openSQLiteReadOnly(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err != nil {
		t.Fatalf("opening %s read-only: %v", path, err)
	}
	return db
}

// accountRow is a row of the accounts table, or an account entity as one.
type accountRow struct {
	name    sql.NullString
	balance int64
}

func (a accountRow) String() string {
	if !a.name.Valid {
		return fmt.Sprintf("{name NULL, balance %d}", a.balance)
	}
	return fmt.Sprintf("{name %q, balance %d}", a.name.String, a.balance)
}

// entityAccounts is ENTITY.ALL account (c speaks RESP2) as rows of the
// accounts table.
func entityAccounts(t *testing.T, c *redis.Client) map[string]accountRow {
	t.Helper()
	v, err := c.Do(context.Background(), "ENTITY.ALL", "account").Slice()
	if err != nil || len(v)%2 != 0 {
		t.Fatalf("ENTITY.ALL account = %v, %v", v, err)
	}
	want := map[string]accountRow{}
	for i := 0; i < len(v); i += 2 {
		id, _ := v[i].(string)
		js, _ := v[i+1].(string)
		var e struct{ Name *string }
		if err := json.Unmarshal([]byte(js), &e); err != nil {
			t.Fatalf("account %s: %q: %v", id, js, err)
		}
		r := accountRow{balance: entityInt(t, "account "+id, js, "balance")}
		if e.Name != nil {
			r.name = sql.NullString{String: *e.Name, Valid: true}
		}
		want[id] = r
	}
	return want
}

// checkAccountsTable compares the accounts table with ENTITY.ALL account.
func checkAccountsTable(t *testing.T, c *redis.Client, db *sql.DB, when string) {
	t.Helper()
	want := entityAccounts(t, c)
	rows, err := db.Query(`SELECT id, name, balance FROM accounts`)
	if err != nil {
		t.Fatalf("%s: reading accounts: %v", when, err)
	}
	defer rows.Close()
	got := map[string]accountRow{}
	for rows.Next() {
		var id string
		var r accountRow
		if err := rows.Scan(&id, &r.name, &r.balance); err != nil {
			t.Fatalf("%s: a row of accounts: %v", when, err)
		}
		if _, dup := got[id]; dup {
			t.Errorf("%s: accounts has id %s twice", when, id)
		}
		got[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: reading accounts: %v", when, err)
	}
	bad := 0
	for _, id := range unionKeys(want, got) {
		w, inState := want[id]
		g, inTable := got[id]
		switch {
		case !inTable:
			t.Errorf("%s: account %s %v is not in the accounts table", when, id, w)
		case !inState:
			t.Errorf("%s: the accounts table has %s %v, which ENTITY.ALL account lacks", when, id, g)
		case g != w:
			t.Errorf("%s: account %s: the table has %v, the state %v", when, id, g, w)
		default:
			continue
		}
		if bad++; bad == 20 {
			t.Fatalf("%s: more accounts differ", when)
		}
	}
}

func unionKeys[V any](a, b map[string]V) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// ledgerRow is a row of the ledger table.
type ledgerRow struct {
	position int64
	account  string
	typ      string
	amount   int64
	at       string
}

// checkLedgerTable compares the ledger with the balance events of the log,
// one for one by position.
func checkLedgerTable(t *testing.T, db *sql.DB, at string, evs []event, when string) {
	t.Helper()
	var want []ledgerRow
	for _, e := range evs {
		if e.Type != "BalanceIncreased" && e.Type != "BalanceDecreased" {
			continue
		}
		id, _ := strings.CutPrefix(e.Stream, "account:")
		want = append(want, ledgerRow{e.Position, id, e.Type, wholeAmount(t, e), time.UnixMilli(e.Time).UTC().Format("2006-01-02 15:04:05.000")})
	}
	rows, err := db.Query(`SELECT position, account, type, amount, ` + at + ` FROM ledger ORDER BY position`)
	if err != nil {
		t.Fatalf("%s: reading ledger: %v", when, err)
	}
	defer rows.Close()
	var got []ledgerRow
	for rows.Next() {
		var r ledgerRow
		if err := rows.Scan(&r.position, &r.account, &r.typ, &r.amount, &r.at); err != nil {
			t.Fatalf("%s: a row of ledger: %v", when, err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: reading ledger: %v", when, err)
	}
	bad := 0
	for i, j := 0, 0; i < len(want) || j < len(got); {
		switch {
		case j < len(got) && i < len(want) && got[j] == want[i]:
			i, j = i+1, j+1
			continue
		case j >= len(got) || (i < len(want) && want[i].position < got[j].position):
			t.Errorf("%s: the ledger lacks position %d: %+v", when, want[i].position, want[i])
			i++
		case i >= len(want) || got[j].position < want[i].position:
			t.Errorf("%s: the ledger has a row at %d, which is no balance event of the log: %+v", when, got[j].position, got[j])
			j++
		default:
			t.Errorf("%s: the ledger's row at %d is %+v; the log's event %+v", when, got[j].position, got[j], want[i])
			i, j = i+1, j+1
		}
		if bad++; bad == 20 {
			t.Fatalf("%s: more ledger rows differ", when)
		}
	}
}

// noteSchema is an event projection with text columns taken from the
// event: its stream, the stream's id, a field of its data, its meta.
const noteSchema = `
sql:
  notes:
    database: sqlite
    events: [Noted]
    columns:
      position: position
      stream: stream
      account: id
      note: {expr: event.note, type: text}
      meta: meta
`

// TestProjectionEventText: the text an event row takes from the event
// (stream, id, a field of data, meta) is the event's, also when the
// projector reads the events back from the log after a restart (the
// projection was paused while they were appended, then the server was
// killed). eventlog.Scan lends an event's bytes for the time of its
// callback only; under -race Pebble overwrites memory it takes back, so a
// row that kept them shows it.
func TestProjectionEventText(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	ctx := context.Background()
	c := s.Client(3)
	if err := c.Do(ctx, "SCHEMA.LOAD", noteSchema).Err(); err != nil {
		t.Fatalf("SCHEMA.LOAD: %v", err)
	}
	if err := c.Do(ctx, "PROJECTION.PAUSE", "notes").Err(); err != nil {
		t.Fatalf("PROJECTION.PAUSE notes: %v", err)
	}
	const streams, events = 300, 3000
	pipe := c.Pipeline()
	for i := range events {
		pipe.Do(ctx, "EVENT.APPEND", fmt.Sprintf("note:account-%04d", i%streams), "META", fmt.Sprintf(`{"by":"user-%d"}`, i),
			"Noted", fmt.Sprintf(`{"note":"note number %d %s"}`, i, strings.Repeat("x", i%500)))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("appending: %v", err)
	}
	s.Kill()
	s = s.Restart()
	c = s.Client(3)
	if v, err := c.Do(ctx, "PROJECTION.WAIT", "notes", events, 60000).Result(); err != nil || v != int64(events) {
		t.Fatalf("PROJECTION.WAIT notes %d = %v, %v", events, v, err)
	}
	evs := readLog(t, c, 1, 1000)
	db := openSQLiteReadOnly(t, filepath.Join(s.Dir, "sqlite.db"))
	defer db.Close()
	rows, err := db.Query(`SELECT position, stream, account, note, meta FROM notes ORDER BY position`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n, bad := 0, 0
	for rows.Next() {
		var pos int64
		var stream, account, note, meta string
		if err := rows.Scan(&pos, &stream, &account, &note, &meta); err != nil {
			t.Fatal(err)
		}
		if pos < 1 || pos > int64(len(evs)) {
			t.Fatalf("a row at position %d, the log has %d events", pos, len(evs))
		}
		e := evs[pos-1]
		var data struct{ Note string }
		json.Unmarshal([]byte(e.Data), &data)
		_, id, _ := strings.Cut(e.Stream, ":")
		if stream != e.Stream || account != id || note != data.Note || !sameJSON(meta, e.Meta) {
			t.Errorf("row %d is (%q, %q, %.20q, %q); the event's (%q, %q, %.20q, %q)", pos, stream, account, note, meta, e.Stream, id, data.Note, e.Meta)
			if bad++; bad == 10 {
				t.Fatal("more rows differ")
			}
		}
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != events {
		t.Errorf("notes has %d rows, the log %d events", n, events)
	}
}

// sameJSON reports whether two texts are the same JSON value.
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}

// TestSchemaKeyTwice: a schema with a top-level key twice (two sql:
// sections, as concatenating a schema and a projection file gives) is
// refused: YAML keys are unique, and taking the last would drop the first
// section's projections or entity types without a word.
func TestSchemaKeyTwice(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := s.Client(3)
	entities := "entities:\n  account:\n    streams: account\n    initial: {balance: 0}\n"
	for _, text := range []string{
		entities + noteSchema + strings.ReplaceAll(noteSchema, "notes", "notes2"),
		entities + entities,
	} {
		err := c.Do(context.Background(), "SCHEMA.LOAD", text).Err()
		if err == nil || !strings.Contains(err.Error(), "schema line") {
			t.Errorf("SCHEMA.LOAD of a schema with a key twice: %v; want an error naming the line\n%s", err, text)
		}
	}
}
