package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers database/sql driver "sqlite"
)

// SQLiteTimeLayout is how a timestamp is stored in SQLite: UTC, with
// milliseconds, in the form SQLite's date and time functions read.
const SQLiteTimeLayout = "2006-01-02 15:04:05.000"

// sqliteMaxParams is SQLite's default SQLITE_MAX_VARIABLE_NUMBER (since
// 3.32).
const sqliteMaxParams = 32766

// sqliteMaxStmts is how many prepared statements a DB keeps.
const sqliteMaxStmts = 1024

// sqliteBusyTimeout is how long a statement waits for a lock held by
// another connection to the file (a reader such as PHP's PDO checkpointing
// the WAL, or a second writer) before it fails.
const sqliteBusyTimeout = 10 * time.Second

var sqliteDialect = dialect{
	maxParams:   sqliteMaxParams,
	placeholder: func(b *strings.Builder, _ int) { b.WriteByte('?') },
	columnType: func(t Type) string {
		switch t {
		case Integer, Boolean:
			return "INTEGER"
		case Real:
			return "REAL"
		}
		return "TEXT" // text, json, timestamp
	},
	pkeyName: func(*Table) string { return "" }, // SQLite's own sqlite_autoindex_ follows renames
}

// sqliteDB is a SQLite file, written through one connection.
type sqliteDB struct {
	db *sql.DB
	// write is held by a transaction from Begin to its end: SQLite has one
	// writer at a time, and transactions wait here, in order, rather than
	// in SQLite's busy handler, which polls.
	write sync.Mutex
	// stmts keeps the multi-row statements by stmtKey, prepared once for
	// the DB: a transaction takes them with Tx.StmtContext, which prepares
	// one on the transaction's connection the first time and keeps it.
	stmts *cache[*sql.Stmt]
	// cpReady is set once the checkpoint table is known to exist.
	cpReady atomic.Bool
	// ckptKick tells the checkpointer of a commit; ckptStop stops it and
	// ckptDone is closed when it has returned.
	ckptKick, ckptStop, ckptDone chan struct{}
	closeOnce                    sync.Once
}

// sqliteCheckpointEvery is the least time between two checkpoints of the
// WAL: each syncs the WAL and the database file, and the WAL holds at most
// what the projections wrote in that time.
const sqliteCheckpointEvery = time.Second

// checkpointer copies the WAL into the database file, a PASSIVE
// checkpoint (it never waits for readers or the writer) after commits, at
// most once per sqliteCheckpointEvery. Once a checkpoint has taken every
// frame, the next transaction writes the WAL from its start again.
func (s *sqliteDB) checkpointer() {
	defer close(s.ckptDone)
	for {
		select {
		case <-s.ckptStop:
			return
		case <-s.ckptKick:
		}
		start := time.Now()
		// An error (the file is busy, the disk is full) leaves the frames
		// in the WAL, where readers and the next checkpoint find them.
		s.db.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		t := time.NewTimer(sqliteCheckpointEvery - time.Since(start))
		select {
		case <-s.ckptStop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// OpenSQLite opens (creating it if missing) the SQLite database in file
// path.
//
// The file is in WAL mode, so that readers (PHP's PDO, the sqlite3 shell)
// read while foldb writes, with synchronous=NORMAL: a commit appends its
// frames to the WAL and returns without syncing it; the WAL is synced when
// its frames are checkpointed into the database file. What that gives for
// "after a crash the table equals the fold up to the checkpoint": a
// batch's rows and its checkpoint row are one transaction, so they are in
// the WAL together or not at all. A crash of foldb loses nothing, the
// frames being in the OS's cache before the commit returns. An OS crash or
// a power loss may lose the last transactions, never part of one: a
// frame's checksum chains it to the frames before, recovery keeps the WAL
// up to the last whole commit, and the checkpoint rolls back with the rows
// it covers, so the projection applies those events again. FULL (a sync
// per commit) would only make the newest transactions survive a power
// loss, which the log already does; it costs a sync per batch per
// projection, each taken in turn on the one writer (BENCHMARKS.md, row 11).
//
// The WAL is checkpointed by a goroutine of the DB (wal_autocheckpoint is
// 0), not in the commit that crosses SQLite's threshold: that commit would
// otherwise copy the WAL into the file and sync both while every other
// projection of the file waits for the write lock.
//
// The DB has three connections: a transaction holds one; Rows, Checkpoint
// and the preparing of statements use another meanwhile, so that
// PROJECTION.STATUS does not wait for a batch; the checkpointer a third.
// Transactions take turns on a mutex.
func OpenSQLite(ctx context.Context, path string) (DB, error) {
	if path == "" {
		return nil, errors.New("sqldb: sqlite needs a file path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqldb: %w", err)
	}
	// A file: URI, so that a path with ? or # in it is a path; _txlock:
	// a transaction takes the write lock at BEGIN, and so waits (busy
	// timeout) rather than fails on its first write.
	dsn := "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(abs) +
		fmt.Sprintf("?_pragma=busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()) +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(0)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqldb: %w", err)
	}
	db.SetMaxOpenConns(3)
	db.SetMaxIdleConns(3)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqldb: open %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		db.Close()
		return nil, fmt.Errorf("sqldb: open %s: journal mode is %s, not WAL", path, mode)
	}
	s := &sqliteDB{db: db, ckptKick: make(chan struct{}, 1), ckptStop: make(chan struct{}), ckptDone: make(chan struct{})}
	go s.checkpointer()
	// Never emptied by get, which runs inside a transaction that may be
	// using its statements: Begin empties it when it has grown past
	// sqliteMaxStmts.
	s.stmts = newCache(math.MaxInt, func(st *sql.Stmt) { st.Close() })
	return s, nil
}

func (s *sqliteDB) Driver() string { return "sqlite" }

func (s *sqliteDB) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqldb: %w", err)
	}
	return nil
}

func (s *sqliteDB) Close() error {
	s.closeOnce.Do(func() { close(s.ckptStop) })
	<-s.ckptDone
	s.stmts.mu.Lock()
	s.stmts.clear()
	s.stmts.mu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("sqldb: %w", err)
	}
	return nil
}

func (s *sqliteDB) Rows(ctx context.Context, table string) (int64, error) {
	if err := checkName("table", table); err != nil {
		return 0, err
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(table)).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqldb: rows of %q: %w", table, err)
	}
	return n, nil
}

const sqliteCheckpointDDL = `CREATE TABLE IF NOT EXISTS ` + CheckpointTable + ` (
	projection TEXT PRIMARY KEY NOT NULL,
	position BIGINT NOT NULL,
	table_name TEXT NOT NULL,
	definition TEXT NOT NULL,
	generation BIGINT NOT NULL,
	updated_at TEXT
)`

func (s *sqliteDB) Checkpoint(ctx context.Context, projection string) (Checkpoint, bool, error) {
	if !s.cpReady.Load() {
		// A write, so in turn with the transactions: otherwise it would
		// hold the second connection in SQLite's busy wait for the write
		// lock of a transaction that may need that connection to prepare.
		s.write.Lock()
		_, err := s.db.ExecContext(ctx, sqliteCheckpointDDL)
		s.write.Unlock()
		if err != nil {
			return Checkpoint{}, false, fmt.Errorf("sqldb: create %s: %w", CheckpointTable, err)
		}
		s.cpReady.Store(true)
	}
	c := Checkpoint{Projection: projection}
	var pos, gen int64
	var updated sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT position, table_name, definition, generation, updated_at FROM `+
		CheckpointTable+` WHERE projection = ?`, projection).Scan(&pos, &c.Table, &c.Definition, &gen, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("sqldb: checkpoint of %q: %w", projection, err)
	}
	c.Position, c.Generation = uint64(pos), uint64(gen)
	if updated.Valid {
		if c.Updated, err = time.ParseInLocation(SQLiteTimeLayout, updated.String, time.UTC); err != nil {
			return Checkpoint{}, false, fmt.Errorf("sqldb: checkpoint of %q: updated_at: %w", projection, err)
		}
	}
	return c, true, nil
}

func (s *sqliteDB) Begin(ctx context.Context) (Tx, error) {
	s.write.Lock()
	s.stmts.mu.Lock()
	if len(s.stmts.m) >= sqliteMaxStmts {
		s.stmts.clear() // a database sees few shapes; rebuilds leave old ones
	}
	s.stmts.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		s.write.Unlock()
		return nil, fmt.Errorf("sqldb: begin: %w", err)
	}
	return &sqliteTx{db: s, ctx: ctx, tx: tx}, nil
}

// sqliteTx is one transaction of a sqliteDB.
type sqliteTx struct {
	db        *sqliteDB
	ctx       context.Context
	tx        *sql.Tx
	done      bool
	cpCreated bool // this transaction created the checkpoint table
	args      []any
	// stmts are the DB's statements as this transaction runs them, by
	// stmtKey; Commit or Rollback closes them (not the DB's).
	stmts map[string]*sql.Stmt
}

func (x *sqliteTx) exec(query string, args ...any) error {
	if x.done {
		return ErrTxDone
	}
	_, err := x.tx.ExecContext(x.ctx, query, args...)
	return err
}

func (x *sqliteTx) ddl() ddl { return ddl{sqliteDialect, x.exec} }

func (x *sqliteTx) CreateTable(t *Table) error { return x.ddl().createTable(t) }

func (x *sqliteTx) DropTable(name string) error { return x.ddl().dropTable(name) }

func (x *sqliteTx) RenameTable(from, to string) error { return x.ddl().renameTable(from, to) }

func (x *sqliteTx) Exists(name string) (bool, error) {
	if x.done {
		return false, ErrTxDone
	}
	var n int
	// SQLite's names are case-insensitive (ASCII), as NOCASE compares.
	err := x.tx.QueryRowContext(x.ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE`, name).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("sqldb: exists %q: %w", name, err)
	}
	return n > 0, nil
}

func (x *sqliteTx) Upsert(t *Table, rows [][]any) error {
	if t.Key < 0 {
		return fmt.Errorf("sqldb: upsert into %q, a table without a key", t.Name)
	}
	return x.writeRows(opUpsert, t, rows)
}

func (x *sqliteTx) Insert(t *Table, rows [][]any) error {
	return x.writeRows(opInsert, t, rows)
}

func (x *sqliteTx) Delete(t *Table, keys []any) error {
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
	per := rowsPerStatement(sqliteDialect, 1)
	for _, n := range pieces(len(keys), per) {
		x.args = x.args[:0]
		for _, k := range keys[:n] {
			x.args = append(x.args, sqliteValue(k))
		}
		keys = keys[n:]
		if err := x.execStmt(opDelete, t, n); err != nil {
			return fmt.Errorf("sqldb: delete from %q: %w", t.Name, err)
		}
	}
	return nil
}

func (x *sqliteTx) writeRows(op byte, t *Table, rows [][]any) error {
	if x.done {
		return ErrTxDone
	}
	if err := checkRows(t, rows); err != nil {
		return err
	}
	if op == opUpsert {
		rows = lastByKey(t, rows)
	}
	per := rowsPerStatement(sqliteDialect, len(t.Columns))
	for _, n := range pieces(len(rows), per) {
		x.args = x.args[:0]
		for _, row := range rows[:n] {
			for _, v := range row {
				x.args = append(x.args, sqliteValue(v))
			}
		}
		rows = rows[n:]
		if err := x.execStmt(op, t, n); err != nil {
			return fmt.Errorf("sqldb: write %q: %w", t.Name, err)
		}
	}
	return nil
}

// execStmt runs the statement of op for n rows with x.args, prepared once
// per connection: batches send many statements of the same few sizes.
func (x *sqliteTx) execStmt(op byte, t *Table, n int) error {
	key := stmtKey(op, t, n)
	st, ok := x.stmts[key]
	if !ok {
		// The DB's other connection cannot prepare it when the table is
		// this transaction's own, not yet committed: then it is prepared
		// for this transaction alone.
		text := rowsSQL(sqliteDialect, op, t, n)
		parent, err := x.db.stmts.get(key, func() (*sql.Stmt, error) {
			return x.db.db.PrepareContext(x.ctx, text)
		})
		if err == nil {
			st = x.tx.StmtContext(x.ctx, parent)
		} else if st, err = x.tx.PrepareContext(x.ctx, text); err != nil {
			return err
		}
		if x.stmts == nil {
			x.stmts = make(map[string]*sql.Stmt)
		}
		x.stmts[key] = st
	}
	_, err := st.ExecContext(x.ctx, x.args...)
	return err
}

// sqliteValue is v as SQLite stores it.
func sqliteValue(v any) any {
	switch x := v.(type) {
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case []byte:
		if x == nil {
			return nil
		}
		return string(x) // TEXT, which SQLite's JSON functions read
	case json.RawMessage:
		if x == nil {
			return nil
		}
		return string(x)
	case time.Time:
		return x.UTC().Format(SQLiteTimeLayout)
	}
	return v
}

func (x *sqliteTx) Clear(name string) error { return x.ddl().clear(name) }

func (x *sqliteTx) SetCheckpoint(c Checkpoint) error {
	if err := checkCheckpoint(c); err != nil {
		return err
	}
	if !x.db.cpReady.Load() && !x.cpCreated {
		if err := x.exec(sqliteCheckpointDDL); err != nil {
			return fmt.Errorf("sqldb: create %s: %w", CheckpointTable, err)
		}
		x.cpCreated = true
	}
	if c.Updated.IsZero() {
		c.Updated = time.Now()
	}
	err := x.exec(`INSERT INTO `+CheckpointTable+` (projection, position, table_name, definition, generation, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (projection) DO UPDATE SET position = excluded.position, table_name = excluded.table_name,
			definition = excluded.definition, generation = excluded.generation, updated_at = excluded.updated_at`,
		c.Projection, int64(c.Position), c.Table, c.Definition, int64(c.Generation), c.Updated.UTC().Format(SQLiteTimeLayout))
	if err != nil {
		return fmt.Errorf("sqldb: checkpoint of %q: %w", c.Projection, err)
	}
	return nil
}

func (x *sqliteTx) DeleteCheckpoint(projection string) error {
	if !x.db.cpReady.Load() && !x.cpCreated {
		ok, err := x.Exists(CheckpointTable)
		if err != nil || !ok {
			return err
		}
	}
	if err := x.exec(`DELETE FROM `+CheckpointTable+` WHERE projection = ?`, projection); err != nil {
		return fmt.Errorf("sqldb: delete checkpoint of %q: %w", projection, err)
	}
	return nil
}

func (x *sqliteTx) Commit() error {
	if x.done {
		return ErrTxDone
	}
	x.done = true
	err := x.tx.Commit()
	x.db.write.Unlock()
	if err != nil {
		return fmt.Errorf("sqldb: commit: %w", err)
	}
	select {
	case x.db.ckptKick <- struct{}{}:
	default:
	}
	if x.cpCreated {
		x.db.cpReady.Store(true)
	}
	return nil
}

// Rollback ends the transaction without its writes; after Commit or
// Rollback it does nothing.
func (x *sqliteTx) Rollback() error {
	if x.done {
		return nil
	}
	x.done = true
	err := x.tx.Rollback()
	x.db.write.Unlock()
	if err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("sqldb: rollback: %w", err)
	}
	return nil
}
