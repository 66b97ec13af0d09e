// Package sqlproj keeps the schema's SQL projections up to date: tables in
// SQLite or PostgreSQL databases that mirror an entity type (a row per
// entity) or take a row per event of some types. A projection is never the
// source of truth: its table can be dropped and rebuilt from the log at any
// time.
//
// Each projection has a projector, a goroutine of its own, off the append
// path: appends never wait for SQL. It applies the log in batches, each in
// one transaction that also writes the projection's checkpoint (the
// foldb_checkpoints table of the target database), so that after a crash of
// foldb or of the database the table is exactly the fold of the events up
// to the checkpoint: no event applied twice, none skipped.
//
//   - An event projection reads the log from its checkpoint.
//   - An entity projection hears the entities each published round changed
//     (state.ChangeListener) and writes their rows as of that round; when
//     it has lost rounds (at start behind the log, after its database was
//     down for long, after a schema change) it takes a capture of the state
//     between two rounds and writes the entities the log's events since the
//     checkpoint fed, or all of them, as of the capture.
//
// A build (no table yet, another definition, PROJECTION.REBUILD) fills a
// fresh table beside the live one and swaps it in within the same
// transaction. The decisions a projector makes depend only on the log, the
// schema and the checkpoint it reads back from the database.
package sqlproj

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/sqlproj/sqldb"
	"github.com/foldb/foldb/state"
)

// DefaultDatabase is the database a schema can name with no settings: an
// SQLite file in the data folder.
const DefaultDatabase = "sqlite"

// Options are the projectors' settings.
type Options struct {
	// Databases are the databases projections may name, by name.
	Databases map[string]sqldb.Config
	// BatchRows bounds the rows of one transaction; BatchEvents the events
	// one batch reads from the log.
	BatchRows   int
	BatchEvents int
	// RetryMin and RetryMax bound the backoff after a database failure.
	RetryMin, RetryMax time.Duration
	// ProgressEvery is how often a long build logs its progress.
	ProgressEvery time.Duration
	Logger        *slog.Logger
	// Open opens a database of Databases (sqldb.Open; a test's twin).
	Open func(context.Context, sqldb.Config) (sqldb.DB, error)
}

// DefaultOptions are the defaults, with no database.
func DefaultOptions() Options {
	return Options{
		Databases:   map[string]sqldb.Config{},
		BatchRows:   5000,
		BatchEvents: 50000,
		RetryMin:    100 * time.Millisecond, RetryMax: 10 * time.Second,
		ProgressEvery: 5 * time.Second,
	}
}

// Errors the commands turn into replies.
var (
	ErrNoProjection = errors.New("sqlproj: no such projection")
	ErrPaused       = errors.New("sqlproj: the projection is paused")
)

// Manager runs the projectors of the schema in force.
type Manager struct {
	log    *eventlog.Log
	engine *state.Engine
	opts   Options
	logger *slog.Logger

	mu         sync.Mutex
	projectors map[string]*projector
	stopped    []*projector // left the schema; waited for at Close
	closed     bool
	started    bool
	// running is the projectors the commit path tells of rounds.
	running atomic.Pointer[[]*projector]

	dbMu sync.Mutex
	dbs  map[string]sqldb.DB
}

// New returns a manager of the projections of the engine's schema, which
// hears of every published round from now on. Call it before the first
// append, and Start once the state is loaded.
func New(log *eventlog.Log, engine *state.Engine, opts Options) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m := &Manager{log: log, engine: engine, opts: opts, logger: opts.Logger, projectors: map[string]*projector{}, dbs: map[string]sqldb.DB{}}
	engine.AddChangeListener(&state.ChangeListener{
		Wants:   func() bool { p := m.running.Load(); return p != nil && len(*p) > 0 },
		Changes: m.heard,
		Swapped: m.swapped,
	})
	engine.SetSchemaCheck(m.Check)
	return m
}

// Check refuses a schema whose projections name a database the settings
// do not have.
func (m *Manager) Check(s *state.Schema) error {
	for _, p := range s.SQL {
		if _, ok := m.opts.Databases[p.Database]; !ok {
			names := make([]string, 0, len(m.opts.Databases))
			for n := range m.opts.Databases {
				names = append(names, n)
			}
			sort.Strings(names)
			return &state.SchemaError{Line: p.DatabaseLine, Field: "sql " + p.Name + ", database",
				Reason: fmt.Sprintf("unknown database '%s' (the settings name: %s)", p.Database, strings.Join(names, ", "))}
		}
	}
	return nil
}

// Start starts the projectors of the schema in force, between two rounds.
func (m *Manager) Start() error {
	return m.log.Exclusive(func(last uint64) error {
		m.reconcile(m.engine.Store().Schema(), last)
		return nil
	})
}

// reconcile makes the projectors those of schema: it keeps the ones whose
// definition is unchanged, stops the others and starts the new ones, whose
// feeds begin at position at. Call it with no round in flight.
func (m *Manager) reconcile(schema *state.Schema, at uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.started = true
	next := map[string]*projector{}
	for _, def := range schema.SQL {
		if old, ok := m.projectors[def.Name]; ok && old.def.Definition == def.Definition && old.def.Database == def.Database {
			next[def.Name] = old
			old.swapped()
			continue
		}
		p := newProjector(m, def, at)
		p.after = m.projectors[def.Name] // nil for a new name
		next[def.Name] = p
		go p.run()
	}
	for name, old := range m.projectors {
		if next[name] != old {
			old.end()
			close(old.stop)
			m.stopped = append(m.stopped, old)
		}
	}
	m.projectors = next
	list := make([]*projector, 0, len(next))
	for _, p := range next {
		list = append(list, p)
	}
	m.running.Store(&list)
}

func (m *Manager) heard(last uint64, changes []state.Change) {
	if list := m.running.Load(); list != nil {
		for _, p := range *list {
			p.heard(last, changes)
		}
	}
}

// swapped hears of a schema change, between two rounds.
func (m *Manager) swapped(last uint64) {
	m.mu.Lock()
	started := m.started
	m.mu.Unlock()
	if started {
		m.reconcile(m.engine.Store().Schema(), last)
	}
}

// category is the category of the streams whose events feed an entity type
// one entity per stream, the entity's id being the stream's; ok is false
// for a type fed otherwise (an id expression, events from any stream).
func (m *Manager) category(typ string) (string, bool) {
	schema := m.engine.Store().Schema()
	for _, t := range schema.Types {
		if t.Name == typ {
			return t.Streams, t.Streams != "" && t.ID == nil
		}
	}
	stream, ok := schema.StreamOf(typ, "x")
	return strings.TrimSuffix(stream, ":x"), ok
}

// database opens a database of the settings once, for every projection
// that names it.
func (m *Manager) database(ctx context.Context, name string) (sqldb.DB, error) {
	m.dbMu.Lock()
	defer m.dbMu.Unlock()
	if db, ok := m.dbs[name]; ok {
		return db, nil
	}
	cfg, ok := m.opts.Databases[name]
	if !ok {
		return nil, fmt.Errorf("sqlproj: unknown database '%s' (not in the settings)", name)
	}
	db, err := m.opts.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	m.dbs[name] = db
	return db, nil
}

// Close stops every projector, waiting for the batches under way to end
// (they roll back), and closes the databases.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	all := append([]*projector(nil), m.stopped...)
	for _, p := range m.projectors {
		all = append(all, p)
	}
	m.projectors = map[string]*projector{}
	m.running.Store(nil)
	m.mu.Unlock()
	for _, p := range all {
		select {
		case <-p.stop:
		default:
			close(p.stop)
		}
		p.end()
	}
	for _, p := range all {
		<-p.done
	}
	m.dbMu.Lock()
	for name, db := range m.dbs {
		if err := db.Close(); err != nil {
			m.logger.Warn("sql projection: closing a database", "database", name, "err", err)
		}
	}
	m.dbs = map[string]sqldb.DB{}
	m.dbMu.Unlock()
}

func (m *Manager) get(name string) (*projector, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.projectors[name]
	if !ok {
		return nil, fmt.Errorf("%w '%s'", ErrNoProjection, name)
	}
	return p, nil
}

// Status is what PROJECTION.STATUS and INFO tell of a projection.
type Status struct {
	Name, Database, Driver, Table string
	// From is the entity type mirrored; Events the event types taken.
	From   string
	Events []string
	State  State
	// Position is the checkpoint; LogPosition the log's newest event.
	Position, LogPosition uint64
	// Lag is LogPosition - Position; LagMillis how old the oldest event
	// not yet applied is.
	Lag       uint64
	LagMillis int64
	// Rows is the table's row count, -1 when it was not counted.
	Rows        int64
	Generation  uint64
	LastError   string
	LastErrorAt time.Time
	// ValueErrors counts values that did not fit their column (stored
	// NULL); FirstValueError describes the first.
	ValueErrors     uint64
	FirstValueError string
	Build           *BuildProgress
}

// Names lists the projections, sorted.
func (m *Manager) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.projectors))
	for n := range m.projectors {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Status describes a projection; with rows, its table's rows are counted
// (a query to its database).
func (m *Manager) Status(name string, rows bool) (Status, error) {
	p, err := m.get(name)
	if err != nil {
		return Status{}, err
	}
	p.mu.Lock()
	st := Status{
		Name: p.def.Name, Database: p.def.Database, Table: p.def.Table, From: p.def.From, Events: p.def.Events,
		State: p.state, Position: p.position, Generation: p.generation, Rows: -1,
		LastError: p.lastErr, LastErrorAt: p.lastErrAt, ValueErrors: p.valueErrs, FirstValueError: p.firstValErr,
	}
	if p.build != nil {
		b := *p.build
		st.Build = &b
	}
	p.mu.Unlock()
	st.Driver = m.opts.Databases[st.Database].Driver
	st.LogPosition = m.log.LastPosition()
	if st.Position < st.LogPosition {
		st.Lag = st.LogPosition - st.Position
		if ev, err := m.log.Event(st.Position + 1); err == nil {
			st.LagMillis = max(0, time.Now().UnixMilli()-ev.Time)
		}
	}
	if rows && st.State != Retrying {
		st.Rows = m.countRows(p, st)
	}
	return st, nil
}

// countRows is the row count of st's table, counted again only once the
// projection's checkpoint or generation has moved since the last count:
// a count reads the whole table (or its smallest index), and a client that
// polls PROJECTION.STATUS through a build would otherwise make foldb read
// the live table many times a second. -1 when the database does not
// answer.
func (m *Manager) countRows(p *projector, st Status) int64 {
	key := rowCount{table: st.Table, position: st.Position, generation: st.Generation}
	p.mu.Lock()
	last := p.counted
	p.mu.Unlock()
	if last.rows >= 0 && last.table == key.table && last.position == key.position && last.generation == key.generation {
		return last.rows
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	db, err := m.database(ctx, st.Database)
	if err != nil {
		return -1
	}
	n, err := db.Rows(ctx, st.Table)
	if err != nil {
		return -1
	}
	// Counted after st was read: a batch that committed meanwhile may be
	// in n, and then the checkpoint has moved past key and the next call
	// counts again.
	key.rows = n
	p.mu.Lock()
	p.counted = key
	p.mu.Unlock()
	return n
}

// Pause stops a projection after its batch under way; Resume starts it
// again from its checkpoint.
func (m *Manager) Pause(name string) error  { return m.setPaused(name, true) }
func (m *Manager) Resume(name string) error { return m.setPaused(name, false) }

func (m *Manager) setPaused(name string, paused bool) error {
	p, err := m.get(name)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.paused = paused
	p.mu.Unlock()
	p.poke()
	return nil
}

// Rebuild asks for a fresh table built beside the live one and swapped in
// when it has caught up.
func (m *Manager) Rebuild(name string) error {
	p, err := m.get(name)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		return fmt.Errorf("%w: PROJECTION.RESUME it first", ErrPaused)
	}
	p.rebuild = true
	p.poke()
	return nil
}

// Wait reports whether a projection's checkpoint has reached position;
// when it has not and wake is not nil, wake is called once it does, until
// cancel.
func (m *Manager) Wait(name string, position uint64, wake func() bool) (reached uint64, ok bool, cancel func(), err error) {
	p, err := m.get(name)
	if err != nil {
		return 0, false, nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.position >= position || wake == nil {
		return p.position, p.position >= position, func() {}, nil
	}
	w := &waiter{position: position, wake: wake}
	p.waiters[w] = struct{}{}
	return p.position, false, func() {
		p.mu.Lock()
		delete(p.waiters, w)
		p.mu.Unlock()
	}, nil
}
