package sqldb

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"
)

// Mem is a database in memory, the twin of the real ones for tests: tables
// of rows by key, transactions that commit whole or not at all, and faults
// on demand.
type Mem struct {
	mu     sync.Mutex
	txMu   sync.Mutex // one transaction at a time, as SQLite has it
	tables map[string]*memTable
	checks map[string]Checkpoint
	fail   error // every call fails with it while set
}

type memTable struct {
	def  Table
	rows map[string][]any // by key, or by insertion number without one
	n    int
}

func (t *memTable) clone() *memTable {
	c := *t
	c.rows = maps.Clone(t.rows)
	return &c
}

// NewMem returns an empty database in memory.
func NewMem() *Mem { return &Mem{tables: map[string]*memTable{}, checks: map[string]Checkpoint{}} }

// SetFail makes every call fail with err until SetFail(nil): the database
// is down.
func (m *Mem) SetFail(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

// Save returns a function that takes the database back to what it holds
// now, as a server that lost the commits it had confirmed since (a crash
// with fsync or synchronous_commit off).
func (m *Mem) Save() (restore func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tables, checks := map[string]*memTable{}, maps.Clone(m.checks)
	for n, t := range m.tables {
		tables[n] = t.clone()
	}
	return func() {
		m.txMu.Lock()
		defer m.txMu.Unlock()
		m.mu.Lock()
		defer m.mu.Unlock()
		m.tables, m.checks = tables, checks
	}
}

func (m *Mem) failing() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fail
}

// Table returns a copy of a table's rows by key (fmt.Sprint of the key
// column, or the insertion number), nil when it does not exist.
func (m *Mem) Table(name string) map[string][]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tables[name]
	if !ok {
		return nil
	}
	return maps.Clone(t.rows)
}

func (m *Mem) Driver() string { return "mem" }

func (m *Mem) Checkpoint(ctx context.Context, projection string) (Checkpoint, bool, error) {
	if err := m.failing(); err != nil {
		return Checkpoint{}, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.checks[projection]
	return c, ok, nil
}

func (m *Mem) Begin(ctx context.Context) (Tx, error) {
	if err := m.failing(); err != nil {
		return nil, err
	}
	m.txMu.Lock()
	m.mu.Lock()
	defer m.mu.Unlock()
	tx := &memTx{m: m, ctx: ctx, tables: map[string]*memTable{}, checks: maps.Clone(m.checks)}
	for n, t := range m.tables {
		tx.tables[n] = t.clone()
	}
	return tx, nil
}

func (m *Mem) Rows(ctx context.Context, table string) (int64, error) {
	if err := m.failing(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tables[table]
	if !ok {
		return 0, fmt.Errorf("sqldb: no table %s", table)
	}
	return int64(len(t.rows)), nil
}

func (m *Mem) Ping(ctx context.Context) error { return m.failing() }
func (m *Mem) Close() error                   { return nil }

type memTx struct {
	m      *Mem
	ctx    context.Context
	tables map[string]*memTable
	checks map[string]Checkpoint
	done   bool
}

var errMemDone = errors.New("sqldb: transaction already ended")

func (tx *memTx) check() error {
	if tx.done {
		return errMemDone
	}
	if err := tx.ctx.Err(); err != nil {
		return err
	}
	return tx.m.failing()
}

func (tx *memTx) CreateTable(t *Table) error {
	if err := tx.check(); err != nil {
		return err
	}
	if _, ok := tx.tables[t.Name]; ok {
		return fmt.Errorf("sqldb: table %s exists", t.Name)
	}
	tx.tables[t.Name] = &memTable{def: *t, rows: map[string][]any{}}
	return nil
}

func (tx *memTx) DropTable(name string) error {
	if err := tx.check(); err != nil {
		return err
	}
	delete(tx.tables, name)
	return nil
}

func (tx *memTx) RenameTable(from, to string) error {
	if err := tx.check(); err != nil {
		return err
	}
	t, ok := tx.tables[from]
	if !ok {
		return fmt.Errorf("sqldb: no table %s", from)
	}
	if _, ok := tx.tables[to]; ok {
		return fmt.Errorf("sqldb: table %s exists", to)
	}
	delete(tx.tables, from)
	t.def.Name = to
	tx.tables[to] = t
	return nil
}

func (tx *memTx) Exists(name string) (bool, error) {
	if err := tx.check(); err != nil {
		return false, err
	}
	_, ok := tx.tables[name]
	return ok, nil
}

func (tx *memTx) table(t *Table) (*memTable, error) {
	mt, ok := tx.tables[t.Name]
	if !ok {
		return nil, fmt.Errorf("sqldb: no table %s", t.Name)
	}
	return mt, nil
}

func (tx *memTx) Upsert(t *Table, rows [][]any) error {
	if err := tx.check(); err != nil {
		return err
	}
	mt, err := tx.table(t)
	if err != nil {
		return err
	}
	for _, r := range rows {
		mt.rows[fmt.Sprint(r[t.Key])] = append([]any(nil), r...)
	}
	return nil
}

func (tx *memTx) Delete(t *Table, keys []any) error {
	if err := tx.check(); err != nil {
		return err
	}
	mt, err := tx.table(t)
	if err != nil {
		return err
	}
	for _, k := range keys {
		delete(mt.rows, fmt.Sprint(k))
	}
	return nil
}

// Prepare checks the rows; Mem stores them as they are.
func (m *Mem) Prepare(t *Table, rows [][]any) (*Batch, error) {
	if err := checkRows(t, rows); err != nil {
		return nil, err
	}
	return &Batch{t: t, rows: rows}, nil
}

func (tx *memTx) InsertBatch(b *Batch) error {
	if b.d != nil {
		return fmt.Errorf("sqldb: insert into %q: the batch was prepared for another database", b.t.Name)
	}
	return tx.Insert(b.t, b.rows)
}

func (tx *memTx) Insert(t *Table, rows [][]any) error {
	if err := tx.check(); err != nil {
		return err
	}
	mt, err := tx.table(t)
	if err != nil {
		return err
	}
	for _, r := range rows {
		key := fmt.Sprint(mt.n)
		if t.Key >= 0 {
			key = fmt.Sprint(r[t.Key])
			if _, dup := mt.rows[key]; dup {
				return fmt.Errorf("sqldb: duplicate key %s in %s", key, t.Name)
			}
		}
		mt.n++
		mt.rows[key] = append([]any(nil), r...)
	}
	return nil
}

func (tx *memTx) Clear(name string) error {
	if err := tx.check(); err != nil {
		return err
	}
	if t, ok := tx.tables[name]; ok {
		t.rows = map[string][]any{}
	}
	return nil
}

func (tx *memTx) SetCheckpoint(c Checkpoint) error {
	if err := tx.check(); err != nil {
		return err
	}
	if c.Updated.IsZero() {
		c.Updated = time.Now()
	}
	tx.checks[c.Projection] = c
	return nil
}

func (tx *memTx) MoveCheckpoint(c Checkpoint, from uint64) error {
	if err := tx.check(); err != nil {
		return err
	}
	if have, ok := tx.checks[c.Projection]; !ok || have.Position != from || have.Generation != c.Generation {
		return fmt.Errorf("%w: %q is not at position %d of generation %d", ErrCheckpointMoved, c.Projection, from, c.Generation)
	}
	return tx.SetCheckpoint(c)
}

func (tx *memTx) DeleteCheckpoint(projection string) error {
	if err := tx.check(); err != nil {
		return err
	}
	delete(tx.checks, projection)
	return nil
}

func (tx *memTx) Commit() error {
	if err := tx.check(); err != nil {
		tx.Rollback()
		return err
	}
	tx.m.mu.Lock()
	tx.m.tables, tx.m.checks = tx.tables, tx.checks
	tx.m.mu.Unlock()
	tx.done = true
	tx.m.txMu.Unlock()
	return nil
}

func (tx *memTx) Rollback() error {
	if tx.done {
		return nil
	}
	tx.done = true
	tx.m.txMu.Unlock()
	return nil
}
