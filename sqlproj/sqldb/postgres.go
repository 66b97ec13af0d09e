package sqldb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// postgresMaxParams is the most parameters one PostgreSQL statement may
// have: the protocol counts them in 16 bits.
const postgresMaxParams = 65535

// postgresMaxIdent is the longest identifier PostgreSQL keeps
// (NAMEDATALEN-1 bytes); a longer one is cut to it.
const postgresMaxIdent = 63

var postgresDialect = dialect{
	maxParams: postgresMaxParams,
	placeholder: func(b *strings.Builder, n int) {
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	},
	columnType: func(t Type) string {
		switch t {
		case Integer:
			return "BIGINT"
		case Real:
			return "DOUBLE PRECISION"
		case Boolean:
			return "BOOLEAN"
		case JSON:
			return "JSONB"
		case Timestamp:
			return "TIMESTAMPTZ"
		}
		return "TEXT"
	},
	// PostgreSQL names the constraint <table>_pkey and keeps that name
	// when the table is renamed: the table a rebuild fills beside the live
	// one, then renames over it, would keep foldb_new_<table>_pkey, and
	// the next rebuild's CREATE would collide with it. A name from the
	// IndexTag is another for each build.
	pkeyName: func(t *Table) string { return postgresIdent(t.IndexTag + "_pkey") },
}

// postgresIdent keeps a name PostgreSQL would cut unique: past 63 bytes,
// its start and a hash of the whole.
func postgresIdent(name string) string {
	if len(name) <= postgresMaxIdent {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	h := hex.EncodeToString(sum[:6])
	cut := postgresMaxIdent - len(h) - 1
	for cut > 0 && name[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
		cut--
	}
	return name[:cut] + "_" + h
}

// postgresDB is a PostgreSQL database, through a pool of connections.
type postgresDB struct {
	pool *pgxpool.Pool
	// text keeps the text of the multi-row statements by stmtKey; pgx
	// prepares each on a connection the first time it runs there, and
	// keeps it prepared.
	text *cache[string]
	// cpMu makes this process create the checkpoint table once at a time;
	// cpReady is set once it is known to exist.
	cpMu    sync.Mutex
	cpReady atomic.Bool
}

// OpenPostgres connects to the PostgreSQL database dsn names: a libpq
// connection string ("host=... dbname=... user=...") or a URL
// (postgres://user:password@host:port/db?sslmode=...), with the
// environment variables libpq reads (PGHOST, PGPASSWORD, ...) for what it
// leaves out. Tables are made in the connection's current schema (the
// first of its search_path that exists).
//
// Connections come from a pool: projections write at the same time, each
// in its own transaction. A commit returns once PostgreSQL has made it
// durable as its settings say (synchronous_commit).
func OpenPostgres(ctx context.Context, dsn string) (DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqldb: postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("sqldb: postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("sqldb: postgres: connect to %s: %w", where(cfg), err)
	}
	return &postgresDB{pool: pool, text: newCache[string](256, nil)}, nil
}

// where names a server and database for an error, without the password.
func where(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("host %s port %d database %s user %s", c.Host, c.Port, c.Database, c.User)
}

func (p *postgresDB) Driver() string { return "postgres" }

func (p *postgresDB) Ping(ctx context.Context) error {
	if err := p.pool.Ping(ctx); err != nil {
		return fmt.Errorf("sqldb: %w", err)
	}
	return nil
}

func (p *postgresDB) Close() error {
	p.pool.Close()
	return nil
}

func (p *postgresDB) Rows(ctx context.Context, table string) (int64, error) {
	if err := checkName("table", table); err != nil {
		return 0, err
	}
	var n int64
	if err := p.pool.QueryRow(ctx, "SELECT count(*) FROM "+quoteIdent(table)).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqldb: rows of %q: %w", table, err)
	}
	return n, nil
}

const postgresCheckpointDDL = `CREATE TABLE IF NOT EXISTS ` + CheckpointTable + ` (
	projection TEXT PRIMARY KEY NOT NULL,
	position BIGINT NOT NULL,
	table_name TEXT NOT NULL,
	definition TEXT NOT NULL,
	generation BIGINT NOT NULL,
	updated_at TIMESTAMPTZ
)`

// postgresExistsSQL looks for a table in the connection's current schema,
// the one an unqualified CREATE TABLE makes it in.
const postgresExistsSQL = `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = $1)`

// createCheckpoints creates the checkpoint table when missing. Two
// sessions that CREATE TABLE IF NOT EXISTS at once may both try, and one
// fails on the catalog's unique index: then the table exists.
func (p *postgresDB) createCheckpoints(ctx context.Context) error {
	if p.cpReady.Load() {
		return nil
	}
	p.cpMu.Lock()
	defer p.cpMu.Unlock()
	if p.cpReady.Load() {
		return nil
	}
	if _, err := p.pool.Exec(ctx, postgresCheckpointDDL); err != nil {
		var ok bool
		if qerr := p.pool.QueryRow(ctx, postgresExistsSQL, CheckpointTable).Scan(&ok); qerr != nil || !ok {
			return fmt.Errorf("sqldb: create %s: %w", CheckpointTable, err)
		}
	}
	p.cpReady.Store(true)
	return nil
}

func (p *postgresDB) Checkpoint(ctx context.Context, projection string) (Checkpoint, bool, error) {
	if err := p.createCheckpoints(ctx); err != nil {
		return Checkpoint{}, false, err
	}
	c := Checkpoint{Projection: projection}
	var pos, gen int64
	var updated *time.Time
	err := p.pool.QueryRow(ctx, `SELECT position, table_name, definition, generation, updated_at FROM `+
		CheckpointTable+` WHERE projection = $1`, projection).Scan(&pos, &c.Table, &c.Definition, &gen, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("sqldb: checkpoint of %q: %w", projection, err)
	}
	c.Position, c.Generation = uint64(pos), uint64(gen)
	if updated != nil {
		c.Updated = updated.UTC()
	}
	return c, true, nil
}

func (p *postgresDB) Begin(ctx context.Context) (Tx, error) {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqldb: begin: %w", err)
	}
	return &postgresTx{db: p, ctx: ctx, tx: tx}, nil
}

// postgresTx is one transaction of a postgresDB, on one connection of its
// pool.
type postgresTx struct {
	db        *postgresDB
	ctx       context.Context
	tx        pgx.Tx
	done      bool
	cpCreated bool // this transaction created the checkpoint table
}

func (x *postgresTx) exec(query string, args ...any) error {
	if x.done {
		return ErrTxDone
	}
	_, err := x.tx.Exec(x.ctx, query, args...)
	return err
}

func (x *postgresTx) ddl() ddl { return ddl{postgresDialect, x.exec} }

func (x *postgresTx) CreateTable(t *Table) error { return x.ddl().createTable(t) }

func (x *postgresTx) DropTable(name string) error { return x.ddl().dropTable(name) }

func (x *postgresTx) RenameTable(from, to string) error { return x.ddl().renameTable(from, to) }

func (x *postgresTx) Exists(name string) (bool, error) {
	if x.done {
		return false, ErrTxDone
	}
	var ok bool
	if err := x.tx.QueryRow(x.ctx, postgresExistsSQL, name).Scan(&ok); err != nil {
		return false, fmt.Errorf("sqldb: exists %q: %w", name, err)
	}
	return ok, nil
}

func (x *postgresTx) Upsert(t *Table, rows [][]any) error {
	if t.Key < 0 {
		return fmt.Errorf("sqldb: upsert into %q, a table without a key", t.Name)
	}
	return x.writeRows(opUpsert, t, rows)
}

// Insert adds rows. Past the rows of one multi-row statement they go by
// COPY (pgx's CopyFrom), which measured faster for the batches a build or
// a catch-up writes; a few rows, as a live projection writes them, go in
// multi-row INSERT statements, which measured faster there: COPY first
// asks the server for the table's column types, a round trip of its own,
// where a prepared INSERT is sent in one message.
func (x *postgresTx) Insert(t *Table, rows [][]any) error {
	if len(rows) <= maxRowsPerStatement {
		return x.writeRows(opInsert, t, rows)
	}
	if x.done {
		return ErrTxDone
	}
	if err := checkRows(t, rows); err != nil {
		return err
	}
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = c.Name
	}
	src := &copyRows{rows: rows, vals: make([]any, len(t.Columns)), i: -1}
	if _, err := x.tx.CopyFrom(x.ctx, pgx.Identifier{t.Name}, cols, src); err != nil {
		return fmt.Errorf("sqldb: copy into %q: %w", t.Name, err)
	}
	return nil
}

// copyRows hands rows to CopyFrom, each value as postgresValue makes it.
type copyRows struct {
	rows [][]any
	vals []any
	i    int
}

func (c *copyRows) Next() bool { c.i++; return c.i < len(c.rows) }
func (c *copyRows) Err() error { return nil }
func (c *copyRows) Values() ([]any, error) {
	for j, v := range c.rows[c.i] {
		c.vals[j] = postgresValue(v)
	}
	return c.vals, nil
}

func (x *postgresTx) Delete(t *Table, keys []any) error {
	if t.Key < 0 {
		return fmt.Errorf("sqldb: delete from %q, a table without a key", t.Name)
	}
	if x.done {
		return ErrTxDone
	}
	for _, k := range keys {
		if err := checkValue(t, t.Key, k); err != nil {
			return err
		}
	}
	var b pgx.Batch
	per := rowsPerStatement(postgresDialect, 1)
	for _, n := range pieces(len(keys), per) {
		args := make([]any, 0, n)
		for _, k := range keys[:n] {
			args = append(args, postgresValue(k))
		}
		keys = keys[n:]
		b.Queue(x.statement(opDelete, t, n), args...)
	}
	if err := x.send(&b); err != nil {
		return fmt.Errorf("sqldb: delete from %q: %w", t.Name, err)
	}
	return nil
}

func (x *postgresTx) writeRows(op byte, t *Table, rows [][]any) error {
	if x.done {
		return ErrTxDone
	}
	if err := checkRows(t, rows); err != nil {
		return err
	}
	if op == opUpsert {
		rows = lastByKey(t, rows) // ON CONFLICT may not meet a key twice in one statement
	}
	var b pgx.Batch
	per := rowsPerStatement(postgresDialect, len(t.Columns))
	for _, n := range pieces(len(rows), per) {
		args := make([]any, 0, n*len(t.Columns))
		for _, row := range rows[:n] {
			for _, v := range row {
				args = append(args, postgresValue(v))
			}
		}
		rows = rows[n:]
		b.Queue(x.statement(op, t, n), args...)
	}
	if err := x.send(&b); err != nil {
		return fmt.Errorf("sqldb: write %q: %w", t.Name, err)
	}
	return nil
}

// statement is the text of the statement of op for n rows of t.
func (x *postgresTx) statement(op byte, t *Table, n int) string {
	text, _ := x.db.text.get(stmtKey(op, t, n), func() (string, error) { return rowsSQL(postgresDialect, op, t, n), nil })
	return text
}

// send runs the statements of b in one round trip: a batch's pieces (the
// full statements and the power-of-two rest) go out together.
func (x *postgresTx) send(b *pgx.Batch) error {
	switch b.Len() {
	case 0:
		return nil
	case 1:
		q := b.QueuedQueries[0]
		_, err := x.tx.Exec(x.ctx, q.SQL, q.Arguments...)
		return err
	}
	res := x.tx.SendBatch(x.ctx, b)
	for range b.Len() {
		if _, err := res.Exec(); err != nil {
			res.Close()
			return err
		}
	}
	return res.Close()
}

// postgresValue is v as pgx sends it: JSON as its text, which the jsonb
// parameter reads, NULL for a nil one.
func postgresValue(v any) any {
	switch x := v.(type) {
	case []byte:
		if x == nil {
			return nil
		}
		return string(x)
	case json.RawMessage:
		if x == nil {
			return nil
		}
		return string(x)
	}
	return v
}

func (x *postgresTx) Clear(name string) error { return x.ddl().clear(name) }

func (x *postgresTx) SetCheckpoint(c Checkpoint) error {
	if err := checkCheckpoint(c); err != nil {
		return err
	}
	if !x.db.cpReady.Load() && !x.cpCreated {
		if err := x.exec(postgresCheckpointDDL); err != nil {
			return fmt.Errorf("sqldb: create %s: %w", CheckpointTable, err)
		}
		x.cpCreated = true
	}
	if c.Updated.IsZero() {
		c.Updated = time.Now()
	}
	err := x.exec(`INSERT INTO `+CheckpointTable+` (projection, position, table_name, definition, generation, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (projection) DO UPDATE SET position = excluded.position, table_name = excluded.table_name,
			definition = excluded.definition, generation = excluded.generation, updated_at = excluded.updated_at`,
		c.Projection, int64(c.Position), c.Table, c.Definition, int64(c.Generation), c.Updated)
	if err != nil {
		return fmt.Errorf("sqldb: checkpoint of %q: %w", c.Projection, err)
	}
	return nil
}

func (x *postgresTx) DeleteCheckpoint(projection string) error {
	if !x.db.cpReady.Load() && !x.cpCreated {
		ok, err := x.Exists(CheckpointTable)
		if err != nil || !ok {
			return err
		}
	}
	if err := x.exec(`DELETE FROM `+CheckpointTable+` WHERE projection = $1`, projection); err != nil {
		return fmt.Errorf("sqldb: delete checkpoint of %q: %w", projection, err)
	}
	return nil
}

func (x *postgresTx) Commit() error {
	if x.done {
		return ErrTxDone
	}
	x.done = true
	if err := x.tx.Commit(x.ctx); err != nil {
		return fmt.Errorf("sqldb: commit: %w", err)
	}
	if x.cpCreated {
		x.db.cpReady.Store(true)
	}
	return nil
}

// Rollback ends the transaction without its writes; after Commit or
// Rollback it does nothing. A connection that cannot roll back (the
// server is gone, the context is done) is closed, which rolls back.
func (x *postgresTx) Rollback() error {
	if x.done {
		return nil
	}
	x.done = true
	if err := x.tx.Rollback(x.ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) && x.ctx.Err() == nil {
		return fmt.Errorf("sqldb: rollback: %w", err)
	}
	return nil
}
