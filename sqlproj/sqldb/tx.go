package sqldb

import (
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// conn is what a transaction does in its database's own way: run one
// statement, read one row, send the statements of a write, and end. The
// rest of a transaction (the checks, the statements' text, the pieces a
// write is cut into, the checkpoint) is the same in both databases but for
// the dialect, and lives in txn.
//
// What differs for real: SQLite sends a write's statements one at a time
// through statements prepared once for the DB (database/sql), and one
// transaction holds the file's one writer from Begin to its end;
// PostgreSQL sends them in one round trip (a pgx batch, which prepares
// each text once per connection) and writes many rows by COPY.
type conn interface {
	exec(query string, args ...any) error
	queryRow(query string, args []any, dest ...any) error
	// write runs the statements of one write, in order.
	write(stmts []rowsStmt) error
	// copyRows writes rows by the database's bulk path, when the dialect
	// has one (copyMin > 0).
	copyRows(t *Table, rows [][]any) error
	commit() error
	// rollback ends the transaction; an error that means it had already
	// ended, or that ending it closed the connection, is none.
	rollback() error
}

// rowsStmt is one statement of a write: rowsSQL(op, t, n) with args.
type rowsStmt struct {
	op   byte
	t    *Table
	n    int
	args []any
}

// key names the statement's text, for the caches of prepared statements.
func (s rowsStmt) key() string { return stmtKey(s.op, s.t, s.n) }

// txn is a transaction of either database, over its conn.
type txn struct {
	d    *dialect
	c    conn
	done bool
	// cpReady is the DB's: set once the checkpoint table is known to
	// exist. cpCreated: this transaction created it, which counts once it
	// commits.
	cpReady   *atomic.Bool
	cpCreated bool
}

func (x *txn) exec(query string, args ...any) error {
	if x.done {
		return ErrTxDone
	}
	return x.c.exec(query, args...)
}

func (x *txn) ddl() ddl { return ddl{*x.d, x.exec} }

func (x *txn) CreateTable(t *Table) error { return x.ddl().createTable(t) }

func (x *txn) DropTable(name string) error { return x.ddl().dropTable(name) }

func (x *txn) RenameTable(from, to string) error { return x.ddl().renameTable(from, to) }

func (x *txn) Clear(name string) error { return x.ddl().clear(name) }

func (x *txn) Exists(name string) (bool, error) {
	if x.done {
		return false, ErrTxDone
	}
	var n int64
	if err := x.c.queryRow(x.d.existsSQL, []any{name}, &n); err != nil {
		return false, fmt.Errorf("sqldb: exists %q: %w", name, err)
	}
	return n > 0, nil
}

func (x *txn) Upsert(t *Table, rows [][]any) error {
	if t.Key < 0 {
		return fmt.Errorf("sqldb: upsert into %q, a table without a key", t.Name)
	}
	return x.writeRows(opUpsert, t, rows)
}

// Insert adds rows: in multi-row statements, or past copyMin rows by the
// database's bulk path.
func (x *txn) Insert(t *Table, rows [][]any) error {
	if x.done {
		return ErrTxDone
	}
	b, err := prepare(x.d, t, rows)
	if err != nil {
		return err
	}
	return x.InsertBatch(b)
}

// prepare is DB.Prepare for a database of dialect d.
func prepare(d *dialect, t *Table, rows [][]any) (*Batch, error) {
	if err := checkRows(t, rows); err != nil {
		return nil, err
	}
	b := &Batch{t: t, rows: rows, d: d}
	if d.copyMin == 0 || len(rows) < d.copyMin {
		b.stmts = statements(d, opInsert, t, rows)
	}
	return b, nil
}

func (x *txn) InsertBatch(b *Batch) error {
	if x.done {
		return ErrTxDone
	}
	if b.d != x.d {
		return fmt.Errorf("sqldb: insert into %q: the batch was prepared for another database", b.t.Name)
	}
	if b.stmts == nil && len(b.rows) > 0 {
		if err := x.c.copyRows(b.t, b.rows); err != nil {
			return fmt.Errorf("sqldb: copy into %q: %w", b.t.Name, err)
		}
		return nil
	}
	if err := x.c.write(b.stmts); err != nil {
		return fmt.Errorf("sqldb: write %q: %w", b.t.Name, err)
	}
	return nil
}

func (x *txn) Delete(t *Table, keys []any) error {
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
	var stmts []rowsStmt
	for _, n := range pieces(len(keys), rowsPerStatement(*x.d, 1)) {
		args := make([]any, 0, n)
		for _, k := range keys[:n] {
			args = append(args, x.d.value(k))
		}
		keys = keys[n:]
		stmts = append(stmts, rowsStmt{op: opDelete, t: t, n: n, args: args})
	}
	if err := x.c.write(stmts); err != nil {
		return fmt.Errorf("sqldb: delete from %q: %w", t.Name, err)
	}
	return nil
}

func (x *txn) writeRows(op byte, t *Table, rows [][]any) error {
	if x.done {
		return ErrTxDone
	}
	if err := checkRows(t, rows); err != nil {
		return err
	}
	if op == opUpsert {
		rows = lastByKey(t, rows) // ON CONFLICT may not meet a key twice in one statement
	}
	if err := x.c.write(statements(x.d, op, t, rows)); err != nil {
		return fmt.Errorf("sqldb: write %q: %w", t.Name, err)
	}
	return nil
}

// statements cuts checked rows into the multi-row statements of op, with
// their values as d stores them.
func statements(d *dialect, op byte, t *Table, rows [][]any) []rowsStmt {
	var stmts []rowsStmt
	for _, n := range pieces(len(rows), rowsPerStatement(*d, len(t.Columns))) {
		args := make([]any, 0, n*len(t.Columns))
		for _, row := range rows[:n] {
			for _, v := range row {
				args = append(args, d.value(v))
			}
		}
		rows = rows[n:]
		stmts = append(stmts, rowsStmt{op: op, t: t, n: n, args: args})
	}
	return stmts
}

// The checkpoint table's statements, with ? for each parameter (bind
// writes the dialect's).
const (
	checkpointSelectSQL = `SELECT position, table_name, definition, generation, updated_at FROM ` +
		CheckpointTable + ` WHERE projection = ?`
	checkpointUpsertSQL = `INSERT INTO ` + CheckpointTable + ` (projection, position, table_name, definition, generation, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (projection) DO UPDATE SET position = excluded.position, table_name = excluded.table_name,
			definition = excluded.definition, generation = excluded.generation, updated_at = excluded.updated_at`
	checkpointMoveSQL = `UPDATE ` + CheckpointTable + ` SET position = ?, table_name = ?, definition = ?, updated_at = ?
		WHERE projection = ? AND position = ? AND generation = ? RETURNING position`
	checkpointDeleteSQL = `DELETE FROM ` + CheckpointTable + ` WHERE projection = ?`
)

// MoveCheckpoint costs no more round trips than SetCheckpoint: the
// update's condition is the check, and the row it returns says it held.
func (x *txn) MoveCheckpoint(c Checkpoint, from uint64) error {
	if err := checkCheckpoint(c); err != nil {
		return err
	}
	if c.Updated.IsZero() {
		c.Updated = time.Now()
	}
	if x.done {
		return ErrTxDone
	}
	var at int64
	err := x.c.queryRow(x.d.checkpointMove, []any{int64(c.Position), c.Table, c.Definition, x.d.value(c.Updated),
		c.Projection, int64(from), int64(c.Generation)}, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%w: %q is not at position %d of generation %d", ErrCheckpointMoved, c.Projection, from, c.Generation)
	case err != nil:
		return fmt.Errorf("sqldb: checkpoint of %q: %w", c.Projection, err)
	}
	return nil
}

func (x *txn) SetCheckpoint(c Checkpoint) error {
	if err := checkCheckpoint(c); err != nil {
		return err
	}
	if !x.cpReady.Load() && !x.cpCreated {
		if err := x.exec(x.d.checkpointDDL); err != nil {
			return fmt.Errorf("sqldb: create %s: %w", CheckpointTable, err)
		}
		x.cpCreated = true
	}
	if c.Updated.IsZero() {
		c.Updated = time.Now()
	}
	err := x.exec(x.d.checkpointUpsert, c.Projection, int64(c.Position), c.Table, c.Definition, int64(c.Generation), x.d.value(c.Updated))
	if err != nil {
		return fmt.Errorf("sqldb: checkpoint of %q: %w", c.Projection, err)
	}
	return nil
}

func (x *txn) DeleteCheckpoint(projection string) error {
	if !x.cpReady.Load() && !x.cpCreated {
		ok, err := x.Exists(CheckpointTable)
		if err != nil || !ok {
			return err
		}
	}
	if err := x.exec(x.d.checkpointDelete, projection); err != nil {
		return fmt.Errorf("sqldb: delete checkpoint of %q: %w", projection, err)
	}
	return nil
}

func (x *txn) Commit() error {
	if x.done {
		return ErrTxDone
	}
	x.done = true
	if err := x.c.commit(); err != nil {
		return fmt.Errorf("sqldb: commit: %w", err)
	}
	if x.cpCreated {
		x.cpReady.Store(true)
	}
	return nil
}

// Rollback ends the transaction without its writes; after Commit or
// Rollback it does nothing.
func (x *txn) Rollback() error {
	if x.done {
		return nil
	}
	x.done = true
	if err := x.c.rollback(); err != nil {
		return fmt.Errorf("sqldb: rollback: %w", err)
	}
	return nil
}

// rowCount counts the rows of a table through queryRow.
func rowCount(table string, queryRow func(query string, dest ...any) error) (int64, error) {
	if err := checkName("table", table); err != nil {
		return 0, err
	}
	var n int64
	if err := queryRow("SELECT count(*) FROM "+quoteIdent(table), &n); err != nil {
		return 0, fmt.Errorf("sqldb: rows of %q: %w", table, err)
	}
	return n, nil
}
