package sqlproj

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/internal/testkit/pgtest"
	"github.com/foldb/foldb/sqlproj/sqldb"
	"github.com/foldb/foldb/state"
	"github.com/jackc/pgx/v5"
)

// pgTwin is a real PostgreSQL database seen as the fixture sees the twin
// in memory: faults on demand (every call of the database fails while
// set), and its tables read back.
type pgTwin struct {
	dsn  string
	mu   sync.Mutex
	fail error
}

func (p *pgTwin) SetFail(err error) {
	p.mu.Lock()
	p.fail = err
	p.mu.Unlock()
}

func (p *pgTwin) failing() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fail
}

// open is the manager's open: a new pool each time, as the manager
// closes the database when it stops.
func (p *pgTwin) open(ctx context.Context) (sqldb.DB, error) {
	if err := p.failing(); err != nil {
		return nil, err
	}
	db, err := sqldb.Open(ctx, sqldb.Config{Driver: "postgres", DSN: p.dsn})
	if err != nil {
		return nil, err
	}
	return &faultDB{DB: db, p: p}, nil
}

// Table reads a table by its first column; a value there twice is kept
// under a second key, so that a doubled row shows.
func (p *pgTwin) Table(name string) map[string][]any {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, p.dsn)
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	var ok bool
	if err := c.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", pgx.Identifier{name}.Sanitize()).Scan(&ok); err != nil {
		panic(err)
	}
	if !ok {
		return nil
	}
	rows, err := c.Query(ctx, "SELECT * FROM "+pgx.Identifier{name}.Sanitize())
	if err != nil {
		panic(err)
	}
	out := map[string][]any{}
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			panic(err)
		}
		k := fmt.Sprint(v[0])
		for n := 2; out[k] != nil; n++ {
			k = fmt.Sprintf("%v (%d)", v[0], n)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		panic(err)
	}
	return out
}

func (p *pgTwin) Checkpoint(ctx context.Context, projection string) (sqldb.Checkpoint, bool, error) {
	db, err := sqldb.OpenPostgres(ctx, p.dsn)
	if err != nil {
		return sqldb.Checkpoint{}, false, err
	}
	defer db.Close()
	return db.Checkpoint(ctx, projection)
}

// faultDB fails each call while its twin's fault is set.
type faultDB struct {
	sqldb.DB
	p *pgTwin
}

func (d *faultDB) Checkpoint(ctx context.Context, projection string) (sqldb.Checkpoint, bool, error) {
	if err := d.p.failing(); err != nil {
		return sqldb.Checkpoint{}, false, err
	}
	return d.DB.Checkpoint(ctx, projection)
}

func (d *faultDB) Begin(ctx context.Context) (sqldb.Tx, error) {
	if err := d.p.failing(); err != nil {
		return nil, err
	}
	tx, err := d.DB.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &faultTx{tx: tx, p: d.p}, nil
}

func (d *faultDB) Rows(ctx context.Context, table string) (int64, error) {
	if err := d.p.failing(); err != nil {
		return 0, err
	}
	return d.DB.Rows(ctx, table)
}

func (d *faultDB) Ping(ctx context.Context) error {
	if err := d.p.failing(); err != nil {
		return err
	}
	return d.DB.Ping(ctx)
}

type faultTx struct {
	tx sqldb.Tx
	p  *pgTwin
}

func (x *faultTx) do(f func() error) error {
	if err := x.p.failing(); err != nil {
		return err
	}
	return f()
}

func (x *faultTx) CreateTable(t *sqldb.Table) error {
	return x.do(func() error { return x.tx.CreateTable(t) })
}
func (x *faultTx) DropTable(name string) error {
	return x.do(func() error { return x.tx.DropTable(name) })
}
func (x *faultTx) RenameTable(from, to string) error {
	return x.do(func() error { return x.tx.RenameTable(from, to) })
}
func (x *faultTx) Exists(name string) (ok bool, err error) {
	err = x.do(func() error { ok, err = x.tx.Exists(name); return err })
	return ok, err
}
func (x *faultTx) Upsert(t *sqldb.Table, rows [][]any) error {
	return x.do(func() error { return x.tx.Upsert(t, rows) })
}
func (x *faultTx) Delete(t *sqldb.Table, keys []any) error {
	return x.do(func() error { return x.tx.Delete(t, keys) })
}
func (x *faultTx) Insert(t *sqldb.Table, rows [][]any) error {
	return x.do(func() error { return x.tx.Insert(t, rows) })
}
func (x *faultTx) InsertBatch(b *sqldb.Batch) error {
	return x.do(func() error { return x.tx.InsertBatch(b) })
}
func (x *faultTx) Clear(name string) error { return x.do(func() error { return x.tx.Clear(name) }) }
func (x *faultTx) SetCheckpoint(c sqldb.Checkpoint) error {
	return x.do(func() error { return x.tx.SetCheckpoint(c) })
}
func (x *faultTx) MoveCheckpoint(c sqldb.Checkpoint, from uint64) error {
	return x.do(func() error { return x.tx.MoveCheckpoint(c, from) })
}
func (x *faultTx) DeleteCheckpoint(projection string) error {
	return x.do(func() error { return x.tx.DeleteCheckpoint(projection) })
}
func (x *faultTx) Commit() error {
	if err := x.p.failing(); err != nil {
		x.tx.Rollback()
		return err
	}
	return x.tx.Commit()
}
func (x *faultTx) Rollback() error { return x.tx.Rollback() }

// pgFixture is a fixture over a database of a server of its own.
func pgFixture(t *testing.T) (*fixture, *pgtest.Server) {
	srv := pgtest.Start(t)
	dsn, err := srv.CreateDatabase("reports")
	if err != nil {
		t.Fatal(err)
	}
	twin := &pgTwin{dsn: dsn}
	return newFixtureOn(t, bankSchema(t), twin, twin.open), srv
}

// TestPostgresProjectorsSurviveFaults is TestProjectorsSurviveFaults
// against PostgreSQL, with the server also killed and started again
// under the running projectors now and then.
func TestPostgresProjectorsSurviveFaults(t *testing.T) {
	f, srv := pgFixture(t)
	testProjectorsSurviveFaults(t, f, func() {
		srv.Kill()
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPostgresDownUnderLoad stops PostgreSQL for a while as events keep
// coming: appends go on, the projections report that they retry, and
// after the server is back they catch up with every event once.
func TestPostgresDownUnderLoad(t *testing.T) {
	f, srv := pgFixture(t)
	for i := range 30 {
		f.append(fmt.Sprintf("account:%d", i%5), "AccountOpened", fmt.Sprintf(`{"uuid":"u%d","name":"n%d"}`, i, i))
	}
	f.caughtUp()

	// The load: appends from another goroutine, all along.
	stop := make(chan struct{})
	var appended atomic.Int64
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			typ, data := "BalanceIncreased", fmt.Sprintf(`{"amount":%d}`, 1+i%9)
			if i%4 == 3 {
				typ, data = "BalanceDecreased", `{"amount":1}`
			}
			a := &eventlog.Append{Stream: fmt.Sprintf("account:%d", i%7), Events: []eventlog.Proposed{{Type: typ, Data: []byte(data)}}}
			f.log.Append(a)
			if a.Result.Err != nil && !isRejected(a.Result.Err) {
				errs <- a.Result.Err
				return
			}
			appended.Add(1)
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	testkit.WaitFor(t, "appends under way", func() bool { return appended.Load() > 50 })

	srv.Stop()
	before := appended.Load()
	testkit.WaitFor(t, "the projections report the database down", func() bool {
		for _, n := range []string{"accounts", "ledger"} {
			st, err := f.m.Status(n, false)
			if err != nil || st.State != Retrying || st.LastError == "" || st.Lag == 0 {
				return false
			}
		}
		return true
	})
	testkit.WaitFor(t, "appends go on while the database is down", func() bool { return appended.Load() > before+200 })
	st, _ := f.m.Status("ledger", false)
	t.Logf("while down: state %s, lag %d, last error %q", st.State, st.Lag, st.LastError)

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "appends after the restart", func() bool { return appended.Load() > before+400 })
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	f.caughtUp()
	f.wantAccounts(f.eng.Store())
	f.wantLedger(f.log.LastPosition())
}

func isRejected(err error) bool {
	var r *state.RejectedError
	return errors.As(err, &r)
}
