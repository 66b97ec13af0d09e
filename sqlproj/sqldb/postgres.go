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

var postgresDialect = bound(dialect{
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
	value:    postgresValue,
	// Past the rows of one multi-row statement, COPY (pgx's CopyFrom)
	// measured faster for the batches a build or a catch-up writes; a few
	// rows, as a live projection writes them, go faster in multi-row
	// INSERTs: COPY first asks the server for the table's column types, a
	// round trip of its own, where a prepared INSERT is one message.
	copyMin:       maxRowsPerStatement + 1,
	existsSQL:     postgresExistsSQL,
	checkpointDDL: postgresCheckpointDDL,
})

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

func (p *postgresDB) Prepare(t *Table, rows [][]any) (*Batch, error) {
	return prepare(&postgresDialect, t, rows)
}

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
	return rowCount(table, func(query string, dest ...any) error { return p.pool.QueryRow(ctx, query).Scan(dest...) })
}

const postgresCheckpointDDL = `CREATE TABLE IF NOT EXISTS ` + CheckpointTable + ` (
	projection TEXT PRIMARY KEY NOT NULL,
	position BIGINT NOT NULL,
	table_name TEXT NOT NULL,
	definition TEXT NOT NULL,
	generation BIGINT NOT NULL,
	updated_at TIMESTAMPTZ
)`

// postgresExistsSQL counts the tables of a name in the connection's
// current schema, the one an unqualified CREATE TABLE makes them in.
const postgresExistsSQL = `SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = ?`

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
		var n int64
		if qerr := p.pool.QueryRow(ctx, postgresDialect.existsSQL, CheckpointTable).Scan(&n); qerr != nil || n == 0 {
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
	err := p.pool.QueryRow(ctx, postgresDialect.checkpointSelect, projection).Scan(&pos, &c.Table, &c.Definition, &gen, &updated)
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
	pgTx, err := p.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqldb: begin: %w", err)
	}
	return &txn{d: &postgresDialect, c: &postgresConn{db: p, ctx: ctx, tx: pgTx}, cpReady: &p.cpReady}, nil
}

// postgresConn is one transaction of a postgresDB, on one connection of
// its pool.
type postgresConn struct {
	db  *postgresDB
	ctx context.Context
	tx  pgx.Tx
}

func (c *postgresConn) exec(query string, args ...any) error {
	_, err := c.tx.Exec(c.ctx, query, args...)
	return err
}

func (c *postgresConn) queryRow(query string, args []any, dest ...any) error {
	return c.tx.QueryRow(c.ctx, query, args...).Scan(dest...)
}

// write sends the statements in one round trip: a write's pieces (the
// full statements and the power-of-two rest) go out together.
func (c *postgresConn) write(stmts []rowsStmt) error {
	switch len(stmts) {
	case 0:
		return nil
	case 1:
		return c.exec(c.statement(stmts[0]), stmts[0].args...)
	}
	var b pgx.Batch
	for _, st := range stmts {
		b.Queue(c.statement(st), st.args...)
	}
	res := c.tx.SendBatch(c.ctx, &b)
	for range b.Len() {
		if _, err := res.Exec(); err != nil {
			res.Close()
			return err
		}
	}
	return res.Close()
}

// statement is the text of a statement of a write.
func (c *postgresConn) statement(s rowsStmt) string {
	text, _ := c.db.text.get(s.key(), func() (string, error) { return rowsSQL(postgresDialect, s.op, s.t, s.n), nil })
	return text
}

func (c *postgresConn) copyRows(t *Table, rows [][]any) error {
	cols := make([]string, len(t.Columns))
	for i, col := range t.Columns {
		cols[i] = col.Name
	}
	src := &copyRows{rows: rows, vals: make([]any, len(t.Columns)), i: -1}
	_, err := c.tx.CopyFrom(c.ctx, pgx.Identifier{t.Name}, cols, src)
	return err
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

func (c *postgresConn) commit() error { return c.tx.Commit(c.ctx) }

// rollback: a connection that cannot roll back (the server is gone, the
// context is done) is closed, which rolls back.
func (c *postgresConn) rollback() error {
	if err := c.tx.Rollback(c.ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) && c.ctx.Err() == nil {
		return err
	}
	return nil
}
