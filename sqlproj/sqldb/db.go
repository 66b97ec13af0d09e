// Package sqldb is what an SQL projection writes to: an embedded SQLite
// file or a PostgreSQL server, behind one small interface, with the
// checkpoint table that records how far each projection has applied the
// log.
//
// A projection's batch is one transaction (DB.Begin): its rows and its
// checkpoint commit together or not at all, so that after a crash of foldb
// or of the database the table is exactly the fold of the events up to the
// checkpoint.
package sqldb

import (
	"context"
	"time"
)

// Type is a column's type, as a projection declares it. Each database
// stores it in its own type:
//
//	type       SQLite             PostgreSQL
//	text       TEXT               text
//	integer    INTEGER            bigint
//	real       REAL               double precision
//	boolean    INTEGER (0 or 1)   boolean
//	json       TEXT (the JSON)    jsonb
//	timestamp  TEXT (ISO 8601,    timestamptz
//	           UTC, milliseconds)
type Type string

// The column types.
const (
	Text      Type = "text"
	Integer   Type = "integer"
	Real      Type = "real"
	Boolean   Type = "boolean"
	JSON      Type = "json"
	Timestamp Type = "timestamp"
)

// Types lists every column type, in the order the docs give them.
var Types = []Type{Text, Integer, Real, Boolean, JSON, Timestamp}

// Column is one column of a table.
type Column struct {
	Name string
	Type Type
}

// Table is a table a projection writes.
//
// Row values are given in the order of Columns, each of the Go type of its
// column's Type, or nil for NULL: string (text), int64 (integer), float64
// (real), bool (boolean), []byte holding one JSON value (json), time.Time
// (timestamp).
type Table struct {
	// Name is the table written: the live table, or the one a rebuild
	// fills beside it.
	Name    string
	Columns []Column
	// Key is the index in Columns of the primary key, -1 for none.
	Key int
	// Indexes are the columns that get an index each.
	Indexes []string
	// IndexTag makes the names of the table's indexes unique in the
	// database, where index names are per database and survive a table's
	// rename: index "<IndexTag>_<column>".
	IndexTag string
}

// Checkpoint is one row of the checkpoint table (foldb_checkpoints in the
// target database).
type Checkpoint struct {
	Projection string // the projection's name, the row's key
	Position   uint64 // the last log position applied
	Table      string // the live table's name
	Definition string // the projection's definition hash: another one means rebuild
	Generation uint64 // counts the projection's builds; part of its IndexTag
	Updated    time.Time
}

// Config names one database, from the settings.
type Config struct {
	Driver string // "sqlite" or "postgres"
	Path   string // sqlite: the file
	DSN    string // postgres: a libpq connection string or URL
}

// DB is one open database.
type DB interface {
	// Driver is "sqlite" or "postgres".
	Driver() string
	// Checkpoint reads a projection's checkpoint; ok is false when it has
	// none. The checkpoint table is created when missing.
	Checkpoint(ctx context.Context, projection string) (c Checkpoint, ok bool, err error)
	// Begin starts a transaction.
	Begin(ctx context.Context) (Tx, error)
	// Rows counts the rows of a table.
	Rows(ctx context.Context, table string) (int64, error)
	// Prepare makes rows of t ready for Tx.InsertBatch, outside any
	// transaction (it only checks and converts).
	Prepare(t *Table, rows [][]any) (*Batch, error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// Tx is one transaction. Its methods are called from one goroutine.
type Tx interface {
	// CreateTable creates the table and its indexes; the table must not
	// exist.
	CreateTable(t *Table) error
	// DropTable drops a table and its indexes, if it exists.
	DropTable(name string) error
	// RenameTable renames a table; its indexes keep their names.
	RenameTable(from, to string) error
	// Exists reports whether a table exists.
	Exists(name string) (bool, error)
	// Upsert writes rows by their key (Key >= 0): a row whose key exists
	// replaces it. Rows are sent in multi-row statements.
	Upsert(t *Table, rows [][]any) error
	// Delete removes the rows with these keys.
	Delete(t *Table, keys []any) error
	// Insert adds rows, in multi-row statements.
	Insert(t *Table, rows [][]any) error
	// InsertBatch adds the rows of a batch that the transaction's DB
	// prepared: Insert, with its checks and conversions done before.
	InsertBatch(b *Batch) error
	// Clear removes every row of a table.
	Clear(name string) error
	// SetCheckpoint writes a projection's checkpoint row.
	SetCheckpoint(c Checkpoint) error
	// MoveCheckpoint writes a projection's checkpoint row over the one at
	// position from in c's generation, and fails with ErrCheckpointMoved
	// when the row is not that one: the database lost commits the
	// projector saw confirmed, or another writer moved it.
	MoveCheckpoint(c Checkpoint, from uint64) error
	// DeleteCheckpoint removes a projection's checkpoint row.
	DeleteCheckpoint(projection string) error
	Commit() error
	Rollback() error
}

// Batch is rows made ready ahead of the transaction that inserts them:
// checked against their table and turned into the values its database
// stores, cut into the statements they go in. A build prepares a batch on
// one goroutine while the database writes the one before on another, so
// that the writing goroutine, the build's bottleneck, only sends.
type Batch struct {
	t    *Table
	rows [][]any // as given: for Mem, and for a bulk path (COPY)
	// d is the dialect of the DB that prepared it, nil for Mem; stmts the
	// multi-row INSERTs with their arguments, when it uses no bulk path.
	d     *dialect
	stmts []rowsStmt
}

// Len is the batch's rows.
func (b *Batch) Len() int { return len(b.rows) }
