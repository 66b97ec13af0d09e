package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
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

var sqliteDialect = bound(dialect{
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
	value:    sqliteValue,
	// SQLite's names are case-insensitive (ASCII), as NOCASE compares.
	existsSQL:     `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE`,
	checkpointDDL: sqliteCheckpointDDL,
})

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
	// wb starts the writeback of the files' dirty pages; the checkpointer's
	// own. dirty is set by a commit since its last round.
	wb    writeback
	dirty atomic.Bool
}

// sqliteCheckpointEvery is the least time between two checkpoints of the
// WAL: each syncs the WAL and the database file, and the WAL holds at most
// what the projections wrote in that time.
const sqliteCheckpointEvery = time.Second

// sqliteWritebackEvery is how often, while commits come, the checkpointer
// starts the writeback of the WAL's and the database file's dirty pages.
const sqliteWritebackEvery = 50 * time.Millisecond

// checkpointer copies the WAL into the database file, a PASSIVE
// checkpoint (it never waits for readers or the writer) after commits, at
// most once per sqliteCheckpointEvery. Once a checkpoint has taken every
// frame, the next transaction writes the WAL from its start again.
//
// Between two checkpoints, every sqliteWritebackEvery while commits come,
// it asks the kernel to start writing the files' dirty pages (Linux's
// sync_file_range, as Pebble does for its own files with BytesPerSync), so
// that a checkpoint's syncs find little left to write. A sync that writes
// a second's worth of WAL and pages holds the file system's journal for as
// long, and on one file system (ext4) every fsync of the event log waits
// behind it (BENCHMARKS.md, the lag row's appends).
func (s *sqliteDB) checkpointer() {
	defer close(s.ckptDone)
	defer s.wb.close()
	tick := time.NewTicker(sqliteWritebackEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.ckptStop:
			return
		case <-s.ckptKick:
		}
		start := time.Now()
		s.dirty.Store(false)
		// An error (the file is busy, the disk is full) leaves the frames
		// in the WAL, where readers and the next checkpoint find them.
		s.db.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		t := time.NewTimer(sqliteCheckpointEvery - time.Since(start))
		tick.Reset(sqliteWritebackEvery)
	wait:
		for {
			select {
			case <-s.ckptStop:
				t.Stop()
				return
			case <-tick.C:
				if s.dirty.Swap(false) {
					s.wb.start()
				}
			case <-t.C:
				break wait
			}
		}
	}
}

// writeback starts the writeback of a database's files (the database file
// and its WAL), each opened read-only the first time it is found and again
// when the path names another file (SQLite deletes the WAL when the last
// connection closes, and makes a new one).
type writeback struct {
	paths []string
	files []*os.File
	// started counts, by path, the writebacks started, for tests.
	started []atomic.Int64
}

func newWriteback(paths ...string) writeback {
	return writeback{paths: paths, files: make([]*os.File, len(paths)), started: make([]atomic.Int64, len(paths))}
}

func (w *writeback) start() {
	if !writebackSupported {
		return
	}
	for i, path := range w.paths {
		st, err := os.Stat(path)
		if err != nil {
			continue // not there yet (the WAL before the first write)
		}
		if f := w.files[i]; f != nil {
			if fst, err := f.Stat(); err != nil || !os.SameFile(st, fst) {
				f.Close()
				w.files[i] = nil
			}
		}
		if w.files[i] == nil {
			f, err := os.Open(path)
			if err != nil {
				continue
			}
			w.files[i] = f
		}
		// A hint: an error (the disk is failing) shows in SQLite's own
		// syncs, which fail the checkpoint or the commit.
		if startWriteback(w.files[i]) == nil {
			w.started[i].Add(1)
		}
	}
}

func (w *writeback) close() {
	for i, f := range w.files {
		if f != nil {
			f.Close()
			w.files[i] = nil
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
	s := &sqliteDB{db: db, ckptKick: make(chan struct{}, 1), ckptStop: make(chan struct{}), ckptDone: make(chan struct{}),
		wb: newWriteback(abs, abs+"-wal")}
	go s.checkpointer()
	// Never emptied by get, which runs inside a transaction that may be
	// using its statements: Begin empties it when it has grown past
	// sqliteMaxStmts.
	s.stmts = newCache(math.MaxInt, func(st *sql.Stmt) { st.Close() })
	return s, nil
}

func (s *sqliteDB) Driver() string { return "sqlite" }

func (s *sqliteDB) Prepare(t *Table, rows [][]any) (*Batch, error) {
	return prepare(&sqliteDialect, t, rows)
}

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
	return rowCount(table, func(query string, dest ...any) error { return s.db.QueryRowContext(ctx, query).Scan(dest...) })
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
	err := s.db.QueryRowContext(ctx, sqliteDialect.checkpointSelect, projection).Scan(&pos, &c.Table, &c.Definition, &gen, &updated)
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
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		s.write.Unlock()
		return nil, fmt.Errorf("sqldb: begin: %w", err)
	}
	return &txn{d: &sqliteDialect, c: &sqliteConn{db: s, ctx: ctx, tx: sqlTx}, cpReady: &s.cpReady}, nil
}

// sqliteConn is the connection of one transaction of a sqliteDB, which
// holds the DB's write lock until it ends.
type sqliteConn struct {
	db  *sqliteDB
	ctx context.Context
	tx  *sql.Tx
	// stmts are the DB's statements as this transaction runs them, by
	// stmtKey; its end closes them (not the DB's).
	stmts map[string]*sql.Stmt
}

func (c *sqliteConn) exec(query string, args ...any) error {
	_, err := c.tx.ExecContext(c.ctx, query, args...)
	return err
}

func (c *sqliteConn) queryRow(query string, args []any, dest ...any) error {
	return c.tx.QueryRowContext(c.ctx, query, args...).Scan(dest...)
}

func (c *sqliteConn) write(stmts []rowsStmt) error {
	for _, st := range stmts {
		if err := c.execStmt(st); err != nil {
			return err
		}
	}
	return nil
}

// execStmt runs a statement prepared once per connection: batches send
// many statements of the same few sizes.
func (c *sqliteConn) execStmt(s rowsStmt) error {
	key := s.key()
	st, ok := c.stmts[key]
	if !ok {
		// The DB's other connection cannot prepare it when the table is
		// this transaction's own, not yet committed: then it is prepared
		// for this transaction alone.
		text := rowsSQL(sqliteDialect, s.op, s.t, s.n)
		parent, err := c.db.stmts.get(key, func() (*sql.Stmt, error) {
			return c.db.db.PrepareContext(c.ctx, text)
		})
		if err == nil {
			st = c.tx.StmtContext(c.ctx, parent)
		} else if st, err = c.tx.PrepareContext(c.ctx, text); err != nil {
			return err
		}
		if c.stmts == nil {
			c.stmts = make(map[string]*sql.Stmt)
		}
		c.stmts[key] = st
	}
	_, err := st.ExecContext(c.ctx, s.args...)
	return err
}

func (c *sqliteConn) copyRows(*Table, [][]any) error {
	return errors.New("sqldb: sqlite has no bulk path") // copyMin is 0
}

func (c *sqliteConn) commit() error {
	err := c.tx.Commit()
	c.db.write.Unlock()
	if err == nil {
		c.db.dirty.Store(true)
		select {
		case c.db.ckptKick <- struct{}{}:
		default:
		}
	}
	return err
}

func (c *sqliteConn) rollback() error {
	err := c.tx.Rollback()
	c.db.write.Unlock()
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
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
