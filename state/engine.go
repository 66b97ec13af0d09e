package state

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foldb/foldb/eventlog"
)

// MetaSchema is the log metadata key that holds the schema in force.
const MetaSchema = "schema"

// Engine owns the state: the store readers see, the schema it folds by, and
// how it is loaded and rebuilt. It is the log's Applier, forwarding to the
// current store.
type Engine struct {
	log    *eventlog.Log
	logger *slog.Logger

	cur      atomic.Pointer[Store]
	schemaMu sync.Mutex // one schema change at a time

	progress atomic.Pointer[Progress]
	stopped  atomic.Bool

	listeners atomic.Pointer[[]*ChangeListener]
	check     func(*Schema) error // SetSchemaCheck's

	changing atomic.Bool // a schema change is under way
	statusMu sync.Mutex
	status   SchemaStatus // the newest schema change's
}

// SchemaStatus is how the newest schema change went (SCHEMA.STATUS).
type SchemaStatus struct {
	// State is "none" (no change since the start), "building",
	// "catching-up", "done" or "failed".
	State    string
	Hash     string // the new schema's
	Started  time.Time
	Finished time.Time // zero while under way
	Err      string    // why it failed: the old schema stays in force
	// Position is where the new state took over (done).
	Position uint64
	// TypesKept are the entity types the change did not rebuild from the
	// log (their fold is the same: reuse.go), TypesRebuilt the others;
	// DefaultKept says whether the default projection was kept. Set once
	// the build has started.
	TypesKept, TypesRebuilt int
	DefaultKept             bool
}

// SchemaStatus returns the newest schema change's status, with the
// progress of its build while under way.
func (e *Engine) SchemaStatus() (SchemaStatus, *Progress) {
	e.statusMu.Lock()
	st := e.status
	e.statusMu.Unlock()
	if st.State == "" {
		st.State = "none"
	}
	var p *Progress
	if e.changing.Load() {
		p = e.progress.Load()
	}
	return st, p
}

func (e *Engine) setStatus(f func(st *SchemaStatus)) {
	e.statusMu.Lock()
	f(&e.status)
	e.statusMu.Unlock()
}

// ErrSchemaChanging refuses a schema change while another is under way.
var ErrSchemaChanging = errors.New("state: a schema change is under way; SCHEMA.STATUS tells how far it is")

// Change is one entity's new state after a published round: JSON is ""
// and Entity is "" when the entity was deleted.
type Change struct {
	Type, ID, JSON string
	Entity         Entity
}

// ChangeListener hears of the entities each published round changed
// (Pub/Sub's entity channels, the SQL projections). Wants is asked on the
// commit path, once a round: only when it says yes are the round's changes
// listed, so a listener nobody subscribes to costs nothing. Changes is
// called on the commit path too, before the round is answered, and must
// not block; the changes are sorted by type and id, and shared by every
// listener: a listener must not change them.
type ChangeListener struct {
	Wants   func() bool
	Changes func(last uint64, changes []Change)
	// Swapped, when not nil, hears that a schema change put a new store
	// in place of the old one at position last: every entity may have
	// changed, and the rounds folded into the new store while it was
	// built were heard as changes of the old one. It is called between
	// two rounds, with no round in flight, and must not block.
	Swapped func(last uint64)
}

// AddChangeListener adds l to the listeners. Add them before the first
// append.
func (e *Engine) AddChangeListener(l *ChangeListener) {
	var next []*ChangeListener
	if cur := e.listeners.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, l)
	e.listeners.Store(&next)
}

// SetSchemaCheck makes SCHEMA.LOAD and a --schema file refuse a schema that
// check refuses, beside the schema's own validation: the SQL projections'
// databases are in the settings, which the state does not know.
func (e *Engine) SetSchemaCheck(check func(*Schema) error) {
	e.schemaMu.Lock()
	e.check = check
	e.schemaMu.Unlock()
}

// ErrStopped is returned by a load or rebuild that Stop cut short.
var ErrStopped = errors.New("state: stopped")

// Stop makes a load or rebuild under way, and any later one, return
// ErrStopped soon; for a shutdown.
func (e *Engine) Stop() { e.stopped.Store(true) }

// Progress is how far a load or rebuild has come.
type Progress struct {
	What    string // "loading" or "rebuilding"
	Started time.Time
	Done    uint64 // events folded in
	Total   uint64 // events to fold
}

// PerSec is the load's speed so far.
func (p *Progress) PerSec() float64 {
	if d := time.Since(p.Started).Seconds(); d > 0 {
		return float64(p.Done) / d
	}
	return 0
}

// NewEngine returns an engine with empty state over a log. Load fills it.
func NewEngine(log *eventlog.Log, logger *slog.Logger) *Engine {
	if logger == nil {
		logger = slog.Default()
	}
	e := &Engine{log: log, logger: logger}
	s := NewStore(EmptySchema())
	s.Live()
	e.cur.Store(s)
	return e
}

// Store is the store readers use now.
func (e *Engine) Store() *Store { return e.cur.Load() }

// Upcaster is the schema in force's upcaster (Schema.Upcaster): nil while
// no state is loaded, or when no event type declares upcast steps.
func (e *Engine) Upcaster() *Upcaster {
	if e == nil {
		return nil
	}
	if s := e.cur.Load(); s != nil {
		return s.schema.upcaster
	}
	return nil
}

// Progress returns the load or rebuild under way, or nil.
func (e *Engine) Progress() *Progress { return e.progress.Load() }

// Stage implements eventlog.Applier.
func (e *Engine) Stage(events []eventlog.Event) error { return e.cur.Load().Stage(events) }

// Seal implements eventlog.Applier.
func (e *Engine) Seal() { e.cur.Load().Seal() }

// Publish implements eventlog.Applier.
func (e *Engine) Publish(last uint64) {
	st := e.cur.Load()
	if ls := e.listeners.Load(); ls != nil {
		var changes []Change
		listed := false
		for _, l := range *ls {
			if !l.Wants() {
				continue
			}
			if !listed {
				changes, listed = st.staged(), true
			}
			l.Changes(last, changes)
		}
	}
	st.Publish(last)
}

// Discard implements eventlog.Applier.
func (e *Engine) Discard() { e.cur.Load().Discard() }

// BeginTx implements eventlog.Applier.
func (e *Engine) BeginTx() { e.cur.Load().BeginTx() }

// EndTx implements eventlog.Applier.
func (e *Engine) EndTx(keep bool) { e.cur.Load().EndTx(keep) }

// Starter offers a store to start from instead of folding the whole log:
// the newest valid snapshot for the schema, holding no position past last.
// It returns nil when there is none.
type Starter func(schema *Schema, last uint64) *Store

// Load builds the state from the log at start, before any append: with the
// schema stored in the log, or with override when it is not nil (the
// --schema file), which is then stored. With start, it begins from the
// store start offers and folds only the events after it. It installs the
// engine as the log's applier.
func (e *Engine) Load(override *string, start Starter) error {
	e.schemaMu.Lock()
	defer e.schemaMu.Unlock()
	stored, err := e.log.Meta(MetaSchema)
	if err != nil {
		return err
	}
	text := string(stored)
	if override != nil {
		text = *override
	}
	schema, err := ParseSchema(text)
	if err != nil {
		if override == nil {
			return fmt.Errorf("state: the schema stored in the log does not compile: %w", err)
		}
		return err
	}
	if override != nil && e.check != nil {
		if err := e.check(schema); err != nil {
			return err
		}
	}
	last := e.log.LastPosition()
	var s *Store
	if start != nil {
		s = start(schema, last)
	}
	if s != nil {
		p := Progress{What: "loading", Started: time.Now(), Total: last - s.pos}
		done, err := e.replay(s, s.pos+1, last, p)
		e.progress.Store(nil)
		if err != nil {
			return err
		}
		e.logger.Info("loading done", "from_snapshot_position", last-done, "events_replayed", done, "seconds", fmt.Sprintf("%.2f", time.Since(p.Started).Seconds()))
	} else if s, err = e.build(schema, "loading", last); err != nil {
		return err
	}
	if override != nil && text != string(stored) {
		if err := e.log.SetMeta(MetaSchema, []byte(text)); err != nil {
			return err
		}
		e.logger.Info("schema stored", "hash", schema.Hash[:12], "types", len(schema.Types))
	}
	s.Live()
	e.cur.Store(s)
	e.log.SetApplier(e)
	return nil
}

// build folds the log up to last into a new store, reporting progress.
func (e *Engine) build(schema *Schema, what string, last uint64) (*Store, error) {
	s := NewStore(schema)
	p := Progress{What: what, Started: time.Now(), Total: last}
	defer e.progress.Store(nil)
	if _, err := e.replay(s, 1, last, p); err != nil {
		return nil, err
	}
	el := time.Since(p.Started)
	rate := 0.0
	if el > 0 {
		rate = float64(last) / el.Seconds()
	}
	e.logger.Info(what+" done", "events", last, "seconds", fmt.Sprintf("%.2f", el.Seconds()), "events_per_sec", int64(rate), "entity_types", len(s.tables))
	if n, first := s.ProjectionErrors(); n > 0 {
		e.logger.Warn("projections failed on some events; those events were skipped for their entities", "count", n, "first", first)
	}
	return s, nil
}

// ErrSameSchema is returned by SetSchema when the schema is already in force.
var ErrSameSchema = errors.New("state: schema unchanged")

// SetSchema validates a new schema, rebuilds the state from the whole log
// with it while the old state goes on serving reads and appends, folds in
// the appends made meanwhile (in passes, while the old state still serves),
// then, between two commit rounds, folds the last few, stores the schema in
// the log and swaps the new state in. A schema that does not compile, or a
// build that fails, changes nothing: the old schema stays in force.
func (e *Engine) SetSchema(text string) error {
	schema, err := e.prepareSchema(text)
	if err != nil || schema == nil {
		return err
	}
	defer e.changing.Store(false)
	return e.change(schema, text)
}

// SetSchemaAsync is SetSchema that returns once the schema is checked: the
// build goes on in the background, and SchemaStatus reports on it. started
// is false when the schema is already in force.
func (e *Engine) SetSchemaAsync(text string) (started bool, err error) {
	schema, err := e.prepareSchema(text)
	if err != nil || schema == nil {
		return false, err
	}
	go func() {
		defer e.changing.Store(false)
		e.change(schema, text)
	}()
	return true, nil
}

// prepareSchema compiles and checks a new schema and marks a change under
// way; it returns nil for the schema in force.
func (e *Engine) prepareSchema(text string) (*Schema, error) {
	schema, err := ParseSchema(text)
	if err != nil {
		return nil, err
	}
	if schema.Hash == e.cur.Load().schema.Hash {
		return nil, nil
	}
	if e.check != nil {
		if err := e.check(schema); err != nil {
			return nil, err
		}
	}
	if !e.changing.CompareAndSwap(false, true) {
		return nil, ErrSchemaChanging
	}
	e.setStatus(func(st *SchemaStatus) {
		*st = SchemaStatus{State: "building", Hash: schema.Hash, Started: time.Now()}
	})
	return schema, nil
}

// changeHook, when set, runs as a schema change starts its build (tests).
var changeHook func()

// catchUpPasses bounds the passes that fold appends made during a build
// while the old state serves; catchUpPause is the most left for the pause
// between two rounds.
const (
	catchUpPasses = 8
	catchUpPause  = 10_000
)

// change builds the state for schema and swaps it in (SetSchema).
func (e *Engine) change(schema *Schema, text string) (err error) {
	e.schemaMu.Lock()
	defer e.schemaMu.Unlock()
	defer func() {
		e.setStatus(func(st *SchemaStatus) {
			st.Finished = time.Now()
			if err != nil {
				st.State, st.Err = "failed", err.Error()
			} else {
				st.State = "done"
			}
		})
		if err != nil {
			e.logger.Warn("schema change failed; the old schema stays in force", "hash", schema.Hash[:12], "error", err)
		}
	}()
	if changeHook != nil {
		changeHook()
	}
	s, last, err := e.buildChanged(schema)
	if err != nil {
		return err
	}
	s.buildIndexes() // before the pause: catching up then keeps them
	e.setStatus(func(st *SchemaStatus) { st.State = "catching-up" })
	for range catchUpPasses {
		now := e.log.LastPosition()
		if now-last <= catchUpPause {
			break
		}
		p := Progress{What: "catching up", Started: time.Now(), Total: now - last}
		_, err := e.replay(s, last+1, now, p)
		e.progress.Store(nil)
		if err != nil {
			return err
		}
		last = now
	}
	return e.log.Exclusive(func(now uint64) error {
		p := Progress{What: "catching up", Started: time.Now(), Total: now - last}
		_, err := e.replay(s, last+1, now, p)
		e.progress.Store(nil)
		if err != nil {
			return err
		}
		if err := e.log.SetMeta(MetaSchema, []byte(text)); err != nil {
			return err
		}
		s.Live()
		e.cur.Store(s)
		if ls := e.listeners.Load(); ls != nil {
			for _, l := range *ls {
				if l.Swapped != nil {
					l.Swapped(now)
				}
			}
		}
		e.setStatus(func(st *SchemaStatus) { st.Position = now })
		e.logger.Info("schema changed", "hash", schema.Hash[:12], "types", len(schema.Types), "position", now)
		return nil
	})
}

// buildChanged builds the state for a new schema up to a position: the
// types whose fold the change keeps (reuse.go) start from forks of the
// old state's tables at that position, and only the others are folded
// from the log. It returns the store and the position it holds.
func (e *Engine) buildChanged(schema *Schema) (*Store, uint64, error) {
	old := e.cur.Load()
	keep, dflt := reusable(old.schema, schema)
	e.setStatus(func(st *SchemaStatus) {
		st.TypesKept, st.TypesRebuilt, st.DefaultKept = len(keep), len(schema.Types)-len(keep), dflt
	})
	if len(keep) == 0 && !dflt {
		last := e.log.LastPosition()
		s, err := e.build(schema, "rebuilding", last)
		return s, last, err
	}
	var forks map[string]*table
	var last uint64
	if err := e.log.Exclusive(func(uint64) error {
		forks, last = old.forkTables(schema, keep, dflt)
		return nil
	}); err != nil {
		return nil, 0, err
	}
	rebuilt := len(schema.Types) - len(keep)
	e.logger.Info("schema change keeps entity types", "kept", len(keep), "rebuilt", rebuilt, "default_projection_kept", dflt, "position", last)
	s := NewStore(schema)
	if rebuilt > 0 || !dflt {
		sub := schema.subSchema(keep)
		part := NewStore(sub)
		part.noDefault = dflt
		p := Progress{What: "rebuilding", Started: time.Now(), Total: last}
		_, err := e.replay(part, 1, last, p)
		e.progress.Store(nil)
		if err != nil {
			return nil, 0, err
		}
		for name, t := range part.tables {
			s.tables[name] = t
		}
		if n, first := part.ProjectionErrors(); n > 0 {
			s.projectionErrors.Add(n)
			s.firstProjErr.Store(&first)
			e.logger.Warn("projections failed on some events; those events were skipped for their entities", "count", n, "first", first)
		}
	}
	for name, t := range forks {
		s.tables[name] = t
	}
	s.pos = last
	return s, last, nil
}

// Build folds the log's events 1..to into a new store, for tools (foldb
// verify) that need the state as of a position.
func Build(l *eventlog.Log, schema *Schema, to uint64, logger *slog.Logger) (*Store, error) {
	e := &Engine{log: l, logger: logger}
	return e.build(schema, "replaying", to)
}

// Diff describes the first difference between two stores' entities, or
// returns "" when they hold the same entities, versions and JSON.
func Diff(a, b *Store) string {
	names := func(ts []TypeCount) map[string]int {
		m := map[string]int{}
		for _, t := range ts {
			if t.Count > 0 {
				m[t.Name] = t.Count
			}
		}
		return m
	}
	ma, mb := names(a.Types()), names(b.Types())
	for name, n := range ma {
		if mb[name] != n {
			return fmt.Sprintf("entity type %s has %d entities on one side and %d on the other", name, n, mb[name])
		}
	}
	for name, n := range mb {
		if ma[name] != n {
			return fmt.Sprintf("entity type %s has %d entities on one side and %d on the other", name, ma[name], n)
		}
	}
	for name := range ma {
		va, vb := a.view(name), b.view(name)
		diff := ""
		va.Scan(func(x Entity) bool {
			y, ok := vb.Get(x.ID())
			switch {
			case !ok:
				diff = fmt.Sprintf("%s %s: version %d %s, against none", name, x.ID(), x.Version(), x.JSON())
			case x != y:
				diff = fmt.Sprintf("%s %s: version %d %s, against version %d %s", name, x.ID(), x.Version(), x.JSON(), y.Version(), y.JSON())
			}
			return diff == ""
		})
		if diff != "" {
			return diff
		}
	}
	return ""
}
