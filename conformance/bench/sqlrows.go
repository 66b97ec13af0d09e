package main

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // the driver foldb's SQLite projections use
)

// The SQL rows (10 and 11) measure the SQL projections of
// docs/projections.md against each database of -sql-db: the catch-up of a
// loaded log into fresh tables against a plain program writing the same
// rows, and the lag of the tables behind a steady stream of appends.

// sqlSection is the schema's sql: section the rows add to the bank schema:
// the accounts as entities, the balance events as a ledger.
const sqlSection = `
sql:
  accounts:
    database: bench
    from: account
    columns:
      id: id
      name: {expr: name, type: text}
      balance: {expr: balance, type: integer}
    indexes: [balance]
  ledger:
    database: bench
    events: [BalanceIncreased, BalanceDecreased]
    columns:
      position: position
      account: id
      type: type
      amount: {expr: event.amount, type: integer}
      at: time
`

// sqlTable is a table of the rows: its key column, and the columns that
// get an index.
type sqlTable struct {
	name, key string
	indexes   []string
}

var sqlTables = []sqlTable{
	{name: "ledger", key: "position"},
	{name: "accounts", key: "id", indexes: []string{"balance"}},
}

// plainBatch is the plain program's rows per transaction.
const plainBatch = 1000

// sqlBackend is a database the SQL rows write to, through foldb's
// databases setting (the database "bench") and through database/sql with
// the driver foldb uses for it.
type sqlBackend struct {
	name string
	// fresh makes an empty database for tag: foldb's environment that
	// names it, and a handle of it.
	fresh func(b *bench, tag string) (env []string, db *sql.DB, err error)
	// drop removes the database of tag, when it is not a file of the
	// work folder.
	drop func(b *bench, tag string)
	// param writes placeholder n, from 1.
	param func(n int) string
	// typeName is the column type to create for what ColumnTypes reports.
	typeName func(ct *sql.ColumnType) string
}

func (b *bench) sqlBackend(name string) (*sqlBackend, error) {
	switch name {
	case "sqlite":
		return sqliteBackend(), nil
	case "postgres":
		return b.postgresBackend()
	}
	return nil, fmt.Errorf("unknown -sql-db %q (sqlite, postgres)", name)
}

// sqlCopy is the tables the projector wrote, read back for the plain
// program: their columns, types and rows, by table.
type sqlCopy struct {
	cols  map[string][]string
	types map[string][]*sql.ColumnType
	rows  map[string][][]any
}

func (c *sqlCopy) count() int {
	n := 0
	for _, r := range c.rows {
		n += len(r)
	}
	return n
}

// Row 10: the catch-up of the SQL projections: -sql-events bank events
// over -sql-accounts accounts are appended to a foldb whose schema has no
// sql: section; then, each round, foldb starts on that log with the
// section added (a fresh database each round), and the time from INFO
// loading:0 until both projections are live at the log's end is foldb's
// figure. By turns, the plain program writes the same rows (read back from
// the first round's tables) into fresh tables of the same columns, types,
// keys and index, through the same driver, a transaction per 1,000 rows
// (one multi-row INSERT, prepared once). Rows/s, ratio foldb/plain.
func (b *bench) rowSQLCatchup() ([]result, error) {
	var results []result
	for _, name := range b.cfg.sqlDBs {
		be, err := b.sqlBackend(name)
		if err != nil {
			return nil, err
		}
		res, err := b.sqlCatchup(be)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, res)
	}
	return results, nil
}

func (b *bench) sqlSchemas() (bank, withSQL string, err error) {
	text, err := os.ReadFile(b.schema)
	if err != nil {
		return "", "", err
	}
	withSQL = b.path("bank-sql.yaml")
	return b.schema, withSQL, os.WriteFile(withSQL, append(text, sqlSection...), 0o644)
}

func (b *bench) sqlCatchup(be *sqlBackend) (result, error) {
	events, accounts := b.cfg.sqlEvents, b.cfg.sqlAccounts
	_, withSQL, err := b.sqlSchemas()
	if err != nil {
		return result{}, err
	}
	dir := b.path("sql-bank")
	if b.sqlBankEvents != events {
		os.RemoveAll(dir)
		f, _, err := b.startFoldbLoaded(dir, b.bankFlags()...)
		if err != nil {
			return result{}, err
		}
		if err := b.loadBank(f, accounts, events); err != nil {
			f.kill()
			return result{}, err
		}
		if err := checkPosition(b, f, max(events, 2*accounts)); err != nil {
			f.kill()
			return result{}, err
		}
		if err := f.shutdown(b.ctx, "SAVE"); err != nil {
			return result{}, err
		}
		b.sqlBankEvents = events
	}
	flags := []string{"--durability", "none", "--schema", withSQL, "--snapshot-every", "0", "--snapshot-interval", "0"}

	var cp *sqlCopy
	var builds []string
	what := fmt.Sprintf("%s: catch-up of %s events over %s accounts", be.name, count(int64(events)), count(int64(accounts)))
	show := func(v float64) string { return count(int64(v)) + " rows/s" }
	fs, ps, err := alternate(b, what, show,
		side[float64]{"foldb projections", func(round int) (float64, error) {
			tag := fmt.Sprintf("catchup-foldb-%d", round)
			env, db, err := be.fresh(b, tag)
			if err != nil {
				return 0, err
			}
			defer db.Close()
			defer be.drop(b, tag)
			f, _, err := b.startFoldbLoadedEnv(dir, env, flags...)
			if err != nil {
				return 0, err
			}
			defer f.kill()
			start := time.Now()
			if err := b.waitProjections(f, 10*time.Minute); err != nil {
				return 0, err
			}
			took := time.Since(start)
			var parts []string
			for _, t := range []string{"accounts", "ledger"} {
				if fields, ok := f.logFieldsWith("sql projection: table built and swapped in", "projection="+t); ok {
					parts = append(parts, fmt.Sprintf("%s %s rows in %ss", t, fields["rows"], fields["seconds"]))
				}
			}
			builds = append(builds, strings.Join(parts, ", "))
			if cp == nil {
				if cp, err = readCopy(b.ctx, db); err != nil {
					return 0, err
				}
				if len(cp.rows["accounts"]) != accounts || len(cp.rows["ledger"]) != max(events, 2*accounts)-accounts {
					return 0, fmt.Errorf("foldb's tables hold %d accounts and %d ledger rows, want %d and %d",
						len(cp.rows["accounts"]), len(cp.rows["ledger"]), accounts, max(events, 2*accounts)-accounts)
				}
			} else if err := sameCounts(b.ctx, db, cp); err != nil {
				return 0, err
			}
			rate := float64(cp.count()) / took.Seconds()
			return rate, f.shutdown(b.ctx, "NOSAVE")
		}},
		side[float64]{"plain program", func(round int) (float64, error) {
			tag := fmt.Sprintf("catchup-plain-%d", round)
			_, db, err := be.fresh(b, tag)
			if err != nil {
				return 0, err
			}
			defer db.Close()
			defer be.drop(b, tag)
			start := time.Now()
			if err := plainWrite(b.ctx, be, db, cp); err != nil {
				return 0, err
			}
			took := time.Since(start)
			if err := sameCounts(b.ctx, db, cp); err != nil {
				return 0, err
			}
			return float64(cp.count()) / took.Seconds(), nil
		}})
	if err != nil {
		return result{}, err
	}
	res := throughput(10, fmt.Sprintf("%s: catch-up of the SQL projections (%s rows from %s events) vs a plain program", be.name,
		count(int64(cp.count())), count(int64(max(events, 2*accounts)))), fs, ps, 0.8, 1.0)
	res.unit, res.peer = unitRowsPerSec, "plain"
	res.detail = fmt.Sprintf("plain: a transaction per %d rows, one multi-row INSERT prepared once; foldb's log lines: %s",
		plainBatch, strings.Join(builds, "; "))
	return res, nil
}

// waitProjections waits until both projections have built their tables
// and applied the log up to its last position: a PROJECTION.WAIT each,
// which foldb answers as the batch that gets there commits, then
// PROJECTION.STATUS to check that they are live at the log's end with a
// built table. It polls only once the WAITs have returned (an empty log's
// WAIT returns before its projector has started): requests every few
// milliseconds, even PINGs, slowed a build on a two-vCPU machine by a
// fifth (BENCHMARKS.md), which the plain program, polled by no one, does
// not pay.
func (b *bench) waitProjections(f *foldbServer, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	end, err := f.infoInt(b.ctx, "log_last_position")
	if err != nil {
		return err
	}
	c := f.clientWaiting(1, timeout+time.Minute)
	defer c.Close()
	for _, t := range []string{"accounts", "ledger"} {
		if err := c.Do(b.ctx, "PROJECTION.WAIT", t, end, timeout.Milliseconds()).Err(); err != nil {
			if b.ctx.Err() != nil {
				return errInterrupted
			}
			st, _ := projectionStatus(b.ctx, c, t)
			return fmt.Errorf("PROJECTION.WAIT %s %d: %w (status %v)\n%s", t, end, err, st, f.out.Tail(20))
		}
	}
	for {
		done := 0
		var last map[string]any
		for _, t := range []string{"accounts", "ledger"} {
			st, err := projectionStatus(b.ctx, c, t)
			if err != nil {
				return err
			}
			last = st
			if st["state"] == "live" && st["lag_events"] == int64(0) && st["generation"] != int64(0) {
				done++
			}
		}
		if done == 2 {
			return nil
		}
		if b.ctx.Err() != nil {
			return errInterrupted
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the projections are not live with a built table after %v: %v\n%s", timeout, last, f.out.Tail(20))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// projectionStatus is PROJECTION.STATUS as a map (RESP2 pairs).
func projectionStatus(ctx context.Context, c *redis.Client, name string) (map[string]any, error) {
	r, err := c.Do(ctx, "PROJECTION.STATUS", name).Slice()
	if err != nil {
		return nil, fmt.Errorf("PROJECTION.STATUS %s: %w", name, err)
	}
	st := map[string]any{}
	for i := 0; i+1 < len(r); i += 2 {
		k, _ := r[i].(string)
		st[k] = r[i+1]
	}
	return st, nil
}

// logFieldsWith is logFields of the last line with msg that holds substr.
func (f *foldbServer) logFieldsWith(msg, substr string) (map[string]string, bool) {
	var line string
	for l := range strings.Lines(f.out.String()) {
		if strings.Contains(l, `msg="`+msg+`"`) && strings.Contains(l, substr) {
			line = l
		}
	}
	if line == "" {
		return nil, false
	}
	return parseLogfmt(line), true
}

// readCopy reads the projector's tables: their columns, types, and rows.
func readCopy(ctx context.Context, db *sql.DB) (*sqlCopy, error) {
	cp := &sqlCopy{cols: map[string][]string{}, types: map[string][]*sql.ColumnType{}, rows: map[string][][]any{}}
	for _, t := range sqlTables {
		rs, err := db.QueryContext(ctx, "SELECT * FROM "+quote(t.name)+" ORDER BY "+quote(t.key))
		if err != nil {
			return nil, fmt.Errorf("reading foldb's %s: %w", t.name, err)
		}
		cts, err := rs.ColumnTypes()
		if err != nil {
			rs.Close()
			return nil, err
		}
		var cols []string
		for _, ct := range cts {
			cols = append(cols, ct.Name())
		}
		var all [][]any
		for rs.Next() {
			row := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range row {
				ptrs[i] = &row[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				rs.Close()
				return nil, err
			}
			all = append(all, row)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return nil, err
		}
		cp.cols[t.name], cp.types[t.name], cp.rows[t.name] = cols, cts, all
	}
	return cp, nil
}

// sameCounts checks that db's tables hold as many rows as the copy.
func sameCounts(ctx context.Context, db *sql.DB, cp *sqlCopy) error {
	for _, t := range sqlTables {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+quote(t.name)).Scan(&n); err != nil {
			return fmt.Errorf("count of %s: %w", t.name, err)
		}
		if n != len(cp.rows[t.name]) {
			return fmt.Errorf("%s holds %d rows, want %d", t.name, n, len(cp.rows[t.name]))
		}
	}
	return nil
}

// createSQL is the plain program's statements that create table t with
// the columns and types of the projector's.
func createSQL(be *sqlBackend, t sqlTable, cp *sqlCopy) []string {
	var cols []string
	for i, c := range cp.cols[t.name] {
		def := quote(c) + " " + be.typeName(cp.types[t.name][i])
		if c == t.key {
			def += " NOT NULL"
		}
		cols = append(cols, def)
	}
	stmts := []string{"CREATE TABLE " + quote(t.name) + " (" + strings.Join(cols, ", ") + ", PRIMARY KEY (" + quote(t.key) + "))"}
	for _, ix := range t.indexes {
		stmts = append(stmts, "CREATE INDEX "+quote(t.name+"_"+ix)+" ON "+quote(t.name)+" ("+quote(ix)+")")
	}
	return stmts
}

// insertSQL is a multi-row INSERT of n rows of cols.
func insertSQL(be *sqlBackend, table string, cols []string, n int) string {
	var sb strings.Builder
	sb.WriteString("INSERT INTO " + quote(table) + " (")
	for i, c := range cols {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(quote(c))
	}
	sb.WriteString(") VALUES ")
	p := 0
	for r := range n {
		if r > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('(')
		for i := range cols {
			if i > 0 {
				sb.WriteByte(',')
			}
			p++
			sb.WriteString(be.param(p))
		}
		sb.WriteByte(')')
	}
	return sb.String()
}

// plainWrite is the plain program: it creates the tables, then writes the
// rows of each, a transaction per plainBatch rows, each batch one INSERT
// (prepared once per size).
func plainWrite(ctx context.Context, be *sqlBackend, db *sql.DB, cp *sqlCopy) error {
	for _, t := range sqlTables {
		for _, q := range createSQL(be, t, cp) {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("plain: %s: %w", q, err)
			}
		}
		cols, rows := cp.cols[t.name], cp.rows[t.name]
		stmts := map[int]*sql.Stmt{}
		args := make([]any, 0, plainBatch*len(cols))
		for len(rows) > 0 {
			n := min(plainBatch, len(rows))
			st := stmts[n]
			if st == nil {
				var err error
				if st, err = db.PrepareContext(ctx, insertSQL(be, t.name, cols, n)); err != nil {
					return fmt.Errorf("plain: prepare: %w", err)
				}
				defer st.Close()
				stmts[n] = st
			}
			args = args[:0]
			for _, row := range rows[:n] {
				args = append(args, row...)
			}
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return fmt.Errorf("plain: begin: %w", err)
			}
			if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
				tx.Rollback()
				return fmt.Errorf("plain: insert into %s: %w", t.name, err)
			}
			if err := tx.Commit(); err != nil {
				return fmt.Errorf("plain: commit: %w", err)
			}
			rows = rows[n:]
		}
	}
	return nil
}

// sqliteBackend writes SQLite files in the work folder, opened as foldb
// opens them: WAL, synchronous NORMAL, one connection.
func sqliteBackend() *sqlBackend {
	return &sqlBackend{
		name: "sqlite",
		fresh: func(b *bench, tag string) ([]string, *sql.DB, error) {
			path := b.path(tag + ".db")
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				os.Remove(p)
			}
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
			if err != nil {
				return nil, nil, err
			}
			db.SetMaxOpenConns(1)
			if err := db.PingContext(b.ctx); err != nil {
				db.Close()
				return nil, nil, err
			}
			return []string{"FOLDB_DATABASES_BENCH_PATH=" + path}, db, nil
		},
		drop: func(b *bench, tag string) {
			path := b.path(tag + ".db")
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				os.Remove(p)
			}
		},
		param:    func(int) string { return "?" },
		typeName: func(ct *sql.ColumnType) string { return ct.DatabaseTypeName() },
	}
}

// Row 11: the lag of the SQL projections behind appends at a steady
// -sql-rate per second: a fresh foldb (durability always) with the bank
// schema and its sql: section; sqlLagWorkers connections append
// BalanceIncreased events to random accounts on a fixed schedule (open
// loop: an append late on its time is sent at once, the next ones keep
// their times), for -sql-seconds. For one append in sqlLagSample, right
// after its reply, another connection sends PROJECTION.WAIT ledger
// <position> 5000 (and the same for accounts), and the time from the
// append's reply to the WAIT's reply is a sample. p50 and p99 of every
// round's samples pooled; floor p99 50 ms.
func (b *bench) rowSQLLag() ([]result, error) {
	var results []result
	for _, name := range b.cfg.sqlDBs {
		be, err := b.sqlBackend(name)
		if err != nil {
			return nil, err
		}
		res, err := b.sqlLag(be)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, res...)
	}
	return results, nil
}

const (
	// sqlLagWorkers is the appending connections, each with one append in
	// flight: the schedule holds while an append takes less than
	// sqlLagWorkers/-sql-rate seconds. Fewer made the client, not foldb,
	// set the rate on a busy host: the appends came late and the rate fell
	// short of -sql-rate (BENCHMARKS.md, row 11).
	sqlLagWorkers  = 256
	sqlLagSample   = 50 // one append in this many is a sample
	sqlLagTimeout  = 5000
	sqlLagAccounts = 100_000
)

// lagRound is what one round of row 11 measured.
type lagRound struct {
	ledger, accounts []time.Duration
	sent             int
	rate             float64 // appends/s achieved
	appendP99        time.Duration
}

func (b *bench) sqlLag(be *sqlBackend) ([]result, error) {
	_, withSQL, err := b.sqlSchemas()
	if err != nil {
		return nil, err
	}
	var rounds []lagRound
	what := fmt.Sprintf("%s: lag at %s appends/s", be.name, count(int64(b.cfg.sqlRate)))
	_, err = repeat(b, what, func(round int) (struct{}, error) {
		tag := fmt.Sprintf("lag-%d", round)
		env, db, err := be.fresh(b, tag)
		if err != nil {
			return struct{}{}, err
		}
		defer db.Close()
		defer be.drop(b, tag)
		dir := b.path("sql-" + tag)
		defer os.RemoveAll(dir)
		f, _, err := b.startFoldbLoadedEnv(dir, env, "--durability", b.cfg.sqlDurability, "--schema", withSQL)
		if err != nil {
			return struct{}{}, err
		}
		defer f.kill()
		if err := b.waitProjections(f, time.Minute); err != nil {
			return struct{}{}, err
		}
		r, err := b.lagRun(f)
		if err != nil {
			return struct{}{}, err
		}
		b.progress("  %s: %s appends at %s/s (append p99 %s); PROJECTION.WAIT ledger %s, accounts %s",
			what, count(int64(r.sent)), count(int64(r.rate)), shortDuration(r.appendP99), showLag(r.ledger), showLag(r.accounts))
		rounds = append(rounds, r)
		return struct{}{}, f.shutdown(b.ctx, "NOSAVE")
	})
	if err != nil {
		return nil, err
	}
	var out []result
	for _, proj := range []string{"ledger", "accounts"} {
		var all []time.Duration
		var each []string
		for _, r := range rounds {
			s := r.ledger
			if proj == "accounts" {
				s = r.accounts
			}
			all = append(all, s...)
			each = append(each, fmt.Sprintf("%s (%s appends at %s/s, append p99 %s)", showLag(s), count(int64(r.sent)), count(int64(r.rate)), shortDuration(r.appendP99)))
		}
		l := wakeLatency(all)
		out = append(out, result{row: 11, work: fmt.Sprintf("%s: lag of the %s projection at %s appends/s, PROJECTION.WAIT after the append's reply, p99",
			be.name, proj, count(int64(b.cfg.sqlRate))),
			foldb: float64(l.p99), redis: math.NaN(), unit: unitDuration, lowerBetter: true,
			floor: float64(50 * time.Millisecond), goal: math.NaN(),
			cells:  [2]string{fmt.Sprintf("p50 %s, p99 %s (%s)", shortDuration(l.p50), shortDuration(l.p99), count(int64(len(all)))), "—"},
			detail: "every round's samples pooled; rounds " + strings.Join(each, "; ")})
	}
	return out, nil
}

func showLag(s []time.Duration) string {
	l := wakeLatency(s)
	return fmt.Sprintf("p50 %s, p99 %s", shortDuration(l.p50), shortDuration(l.p99))
}

// lagRun appends at -sql-rate for -sql-seconds and samples the waits.
func (b *bench) lagRun(f *foldbServer) (lagRound, error) {
	total := b.cfg.sqlRate * b.cfg.sqlSeconds
	ac := f.client(sqlLagWorkers)
	defer ac.Close()
	wc := f.client(512)
	defer wc.Close()
	if err := ac.Ping(b.ctx).Err(); err != nil {
		return lagRound{}, err
	}
	var mu sync.Mutex
	var r lagRound
	var firstErr atomic.Value
	fail := func(err error) { firstErr.CompareAndSwap(nil, err) }
	var waits sync.WaitGroup
	wait := func(proj string, pos int64, from time.Time) {
		defer waits.Done()
		err := wc.Do(b.ctx, "PROJECTION.WAIT", proj, pos, sqlLagTimeout).Err()
		took := time.Since(from)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "TIMEOUT") {
				fail(fmt.Errorf("PROJECTION.WAIT %s %d: %w", proj, pos, err))
				return
			}
			took = sqlLagTimeout * time.Millisecond
		}
		mu.Lock()
		if proj == "ledger" {
			r.ledger = append(r.ledger, took)
		} else {
			r.accounts = append(r.accounts, took)
		}
		mu.Unlock()
	}
	interval := time.Duration(float64(time.Second) / float64(b.cfg.sqlRate))
	start := time.Now().Add(10 * time.Millisecond)
	var workers sync.WaitGroup
	appendTimes := make([][]time.Duration, sqlLagWorkers)
	for w := range sqlLagWorkers {
		workers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for k := w; k < total; k += sqlLagWorkers {
				if firstErr.Load() != nil || b.ctx.Err() != nil {
					return
				}
				if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
					time.Sleep(d)
				}
				sent := time.Now()
				reply, err := ac.Do(b.ctx, "EVENT.APPEND", "account:"+strconv.Itoa(1+rng.IntN(sqlLagAccounts)),
					"BalanceIncreased", `{"amount":`+strconv.Itoa(1+rng.IntN(1000))+`}`).Slice()
				at := time.Now()
				appendTimes[w] = append(appendTimes[w], at.Sub(sent))
				if err != nil || len(reply) != 2 {
					fail(fmt.Errorf("EVENT.APPEND: %v %v", reply, err))
					return
				}
				if k%sqlLagSample == 0 {
					pos, _ := reply[1].(int64)
					waits.Add(2)
					go wait("ledger", pos, at)
					go wait("accounts", pos, at)
				}
			}
		})
	}
	workers.Wait()
	took := time.Since(start)
	waits.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return lagRound{}, err
	}
	if b.ctx.Err() != nil {
		return lagRound{}, errInterrupted
	}
	var all []time.Duration
	for _, a := range appendTimes {
		all = append(all, a...)
	}
	slices.Sort(all)
	r.sent, r.rate, r.appendP99 = len(all), float64(len(all))/took.Seconds(), percentile(all, 99)
	return r, nil
}

// quote quotes an SQL identifier.
func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }
