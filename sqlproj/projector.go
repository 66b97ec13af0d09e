package sqlproj

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/sqlproj/sqldb"
	"github.com/foldb/foldb/state"
)

// shadowPrefix names the table a build fills beside the live one. Tables
// of the schema may not start with foldb_, so it is never a user's.
const shadowPrefix = "foldb_new_"

// projector keeps one projection's table up to date. Its goroutine (run)
// does all the database work; the other methods are for the manager and
// the commands, and only touch what mu guards.
type projector struct {
	m    *Manager
	def  *state.SQLProjection
	cols []sqldb.Column
	// direct says, for each column of an event projection, which field of
	// the event it is when its expression names one alone.
	direct []eventField
	vals   *state.SQLValues // the goroutine's own, or its build's reader's (pipeline)
	// lastLog is when a build last logged its progress; the goroutine's own.
	lastLog time.Time

	kick chan struct{} // something to do: a round published, a command
	stop chan struct{} // closed to stop
	done chan struct{} // closed when run returns
	// after is the projector of the same name that this one replaces: it
	// may be in the middle of a batch of the same table, so this one
	// starts once it has returned.
	after *projector
	ctx   context.Context
	end   context.CancelFunc

	mu          sync.Mutex
	state       State
	position    uint64 // the checkpoint: every event up to it is in the table
	generation  uint64
	started     bool // the checkpoint was read
	paused      bool
	rebuild     bool // PROJECTION.REBUILD asked for a build
	lastErr     string
	lastErrAt   time.Time
	failures    int // database failures in a row, for the backoff
	valueErrs   uint64
	firstValErr string
	build       *BuildProgress
	waiters     map[*waiter]struct{}
	// counted is the table's last row count for Status, and the checkpoint
	// it was counted at: only a batch, which moves the checkpoint, or a
	// build, which moves the generation, changes the table.
	counted rowCount

	// The feed of an entity projection: the rounds published since
	// queueFrom, each with the changes of the projection's type. stale is
	// set when rounds were lost (too many queued, a schema change swapped
	// the state): the table is then brought up to date from a capture.
	queue     []round
	queued    int
	queueFrom uint64
	stale     bool
}

type round struct {
	last    uint64
	changes []state.Change
}

type waiter struct {
	position uint64
	wake     func() bool
}

// rowCount is a count of a projection's rows as of a checkpoint.
type rowCount struct {
	table                string
	position, generation uint64
	rows                 int64
}

// BuildProgress is how far a build of a fresh table has come.
type BuildProgress struct {
	Started time.Time
	Done    uint64 // entities or events written
	Total   uint64
}

// maxQueued bounds the changes an entity projection holds while its
// database is slow or down; past it the feed is dropped and the table is
// brought up to date from a capture of the state when the database is back.
const maxQueued = 1 << 18

func newProjector(m *Manager, def *state.SQLProjection, from uint64) *projector {
	p := &projector{
		m: m, def: def, vals: state.NewSQLValues(),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		waiters: map[*waiter]struct{}{}, queueFrom: from, counted: rowCount{rows: -1},
	}
	for _, c := range def.Columns {
		p.cols = append(p.cols, sqldb.Column{Name: c.Name, Type: sqldb.Type(c.Type)})
		p.direct = append(p.direct, eventFields[strings.TrimSpace(c.Expr)])
	}
	p.ctx, p.end = context.WithCancel(context.Background())
	return p
}

func (p *projector) entities() bool { return p.def.From != "" }

func (p *projector) poke() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// heard takes a published round's changes (sorted by type and id); on the
// commit path, so it only appends.
func (p *projector) heard(last uint64, changes []state.Change) {
	if !p.entities() {
		p.poke()
		return
	}
	typ := p.def.From
	i := sort.Search(len(changes), func(i int) bool { return changes[i].Type >= typ })
	j := i
	for j < len(changes) && changes[j].Type == typ {
		j++
	}
	p.mu.Lock()
	if !p.stale {
		if p.queued+(j-i) > maxQueued {
			p.dropFeed()
		} else {
			p.queue = append(p.queue, round{last: last, changes: changes[i:j]})
			p.queued += j - i
		}
	}
	p.mu.Unlock()
	p.poke()
}

// dropFeed forgets the queued rounds; the table will be brought up to date
// from a capture. Call with mu held.
func (p *projector) dropFeed() {
	p.queue, p.queued, p.stale = nil, 0, true
}

// swapped hears that a schema change replaced the state at position last.
func (p *projector) swapped() {
	if p.entities() {
		p.mu.Lock()
		p.dropFeed()
		p.mu.Unlock()
	}
	p.poke()
}

func (p *projector) setState(s State) {
	p.mu.Lock()
	p.state = s
	p.mu.Unlock()
}

// run is the projector's goroutine.
func (p *projector) run() {
	defer close(p.done)
	defer p.end()
	if p.after != nil {
		select {
		case <-p.after.done:
		case <-p.stop:
		}
		p.after = nil
	}
	for {
		select {
		case <-p.stop:
			p.setState(Stopped)
			return
		default:
		}
		p.mu.Lock()
		paused := p.paused
		if paused {
			p.state, p.started = Paused, false
		}
		p.mu.Unlock()
		if paused {
			select {
			case <-p.stop:
			case <-p.kick:
			}
			continue
		}
		more, err := p.step()
		if err != nil {
			if p.stopping() {
				continue
			}
			p.failed(err)
			if !p.backoff() {
				continue
			}
			continue
		}
		if more {
			continue
		}
		select {
		case <-p.stop:
		case <-p.kick:
		}
	}
}

func (p *projector) stopping() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

func (p *projector) failed(err error) {
	p.mu.Lock()
	p.state, p.started = Retrying, false
	p.lastErr, p.lastErrAt = err.Error(), time.Now()
	p.failures++
	n := p.failures
	p.mu.Unlock()
	if n == 1 || n%20 == 0 {
		p.m.logger.Warn("sql projection failed; retrying", "projection", p.def.Name, "database", p.def.Database, "failures", n, "err", err)
	}
}

// backoff waits before the next try: from RetryMin, doubling up to
// RetryMax. A command (RESUME, REBUILD) or a stop ends it early; it reports
// false on a stop.
func (p *projector) backoff() bool {
	p.mu.Lock()
	n := p.failures
	p.mu.Unlock()
	d := p.m.opts.RetryMin
	for i := 1; i < n && d < p.m.opts.RetryMax; i++ {
		d *= 2
	}
	d = min(d, p.m.opts.RetryMax)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.stop:
		return false
	case <-t.C:
	}
	return true
}

// step does one piece of work: start, a build, or one batch. more is true
// when there is more to do at once.
func (p *projector) step() (more bool, err error) {
	db, err := p.m.database(p.ctx, p.def.Database)
	if err != nil {
		return false, err
	}
	p.mu.Lock()
	started, rebuild := p.started, p.rebuild
	p.mu.Unlock()
	if !started {
		p.setState(Starting)
		build, err := p.start(db)
		if err != nil {
			return false, err
		}
		if !build && !rebuild {
			return true, nil
		}
		rebuild = true
	}
	if rebuild {
		if err := p.buildTable(db); err != nil {
			return false, err
		}
		return true, nil
	}
	if p.entities() {
		return p.applyChanges(db)
	}
	return p.applyEvents(db)
}

// start reads the checkpoint and says whether the table must be built.
func (p *projector) start(db sqldb.DB) (build bool, err error) {
	ck, ok, err := db.Checkpoint(p.ctx, p.def.Name)
	if err != nil {
		return false, err
	}
	tx, err := db.Begin(p.ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if err := tx.DropTable(shadowPrefix + p.def.Table); err != nil { // a build that did not finish
		return false, err
	}
	exists, err := tx.Exists(p.def.Table)
	if err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	last := p.m.log.LastPosition()
	why := ""
	switch {
	case !ok:
		why = "no checkpoint"
	case ck.Definition != p.def.Definition:
		why = "the projection's definition changed"
	case ck.Table != p.def.Table:
		why = "the table's name changed"
	case !exists:
		why = "the table is missing"
	case ck.Position > last:
		why = fmt.Sprintf("the checkpoint (position %d) is past the log's end (%d): another log's", ck.Position, last)
	}
	p.mu.Lock()
	p.started, p.failures = true, 0
	p.generation = ck.Generation
	if ok {
		p.position = ck.Position
	}
	// A waiter may have come before the checkpoint was read; when the
	// checkpoint already reaches its position, no commit may follow to
	// wake it (an entity projection with nothing to write).
	if why == "" {
		p.wakeWaiters()
	}
	if why == "" && p.position < last {
		p.state = CatchingUp
	} else if why == "" {
		p.state = Live
	}
	p.mu.Unlock()
	if why != "" {
		p.m.logger.Info("sql projection: building its table", "projection", p.def.Name, "table", p.def.Table, "database", p.def.Database, "why", why)
		return true, nil
	}
	return false, nil
}

// table describes the live table, or the one a build fills.
func (p *projector) table(name string, generation uint64) *sqldb.Table {
	return &sqldb.Table{
		Name: name, Columns: p.cols, Key: p.def.Key, Indexes: p.def.Indexes,
		IndexTag: fmt.Sprintf("%s_g%d", p.def.Table, generation),
	}
}

func (p *projector) checkpoint(position, generation uint64) sqldb.Checkpoint {
	return sqldb.Checkpoint{
		Projection: p.def.Name, Position: position, Table: p.def.Table,
		Definition: p.def.Definition, Generation: generation, Updated: time.Now(),
	}
}

// committed moves the checkpoint on after a commit and wakes the waiters
// it satisfies.
func (p *projector) committed(position uint64, lagging bool) {
	p.mu.Lock()
	p.position = position
	p.failures = 0
	if p.state != Paused {
		p.state = Live
		if lagging {
			p.state = CatchingUp
		}
	}
	p.wakeWaiters()
	p.mu.Unlock()
}

// wakeWaiters wakes the waiters the checkpoint satisfies. Call with mu
// held.
func (p *projector) wakeWaiters() {
	for w := range p.waiters {
		if w.position <= p.position {
			w.wake()
			delete(p.waiters, w)
		}
	}
}

// rowBuilder turns entities or events into rows, counting the values that
// do not fit their column.
type rowBuilder struct {
	p    *projector
	rows [][]any
}

func (b *rowBuilder) valueError(what string, c *state.SQLColumn, err error) {
	b.p.mu.Lock()
	b.p.valueErrs++
	if b.p.firstValErr == "" {
		b.p.firstValErr = fmt.Sprintf("%s, column %s (%s): %v; stored NULL", what, c.Name, c.Expr, err)
		b.p.m.logger.Warn("sql projection: a value does not fit its column; stored NULL", "projection", b.p.def.Name, "where", what, "column", c.Name, "err", err)
	}
	b.p.mu.Unlock()
}

func (b *rowBuilder) entity(e state.Entity) {
	row := make([]any, len(b.p.def.Columns))
	for i, c := range b.p.def.Columns {
		v, err := b.p.vals.Entity(c, e)
		if err == nil {
			v, err = column(v, b.p.cols[i].Type)
		}
		if err != nil {
			b.valueError(b.p.def.From+" "+e.ID(), c, err)
			v = nil
		}
		row[i] = v
	}
	if row[b.p.def.Key] == nil {
		row[b.p.def.Key] = e.ID()
	}
	b.rows = append(b.rows, row)
}

func (b *rowBuilder) event(ev *eventlog.Event) {
	// The schema in force upcasts every stored event (a schema change
	// replays them all), so a failure here means a bug; the row is then
	// made from the event as written, and the error reported.
	ev, err := b.p.vals.AsFolded(b.p.def, ev)
	if err != nil {
		b.p.mu.Lock()
		b.p.valueErrs++
		if b.p.firstValErr == "" {
			b.p.firstValErr = err.Error() + "; the row holds the event as written"
		}
		b.p.mu.Unlock()
	}
	row := make([]any, len(b.p.def.Columns))
	for i, c := range b.p.def.Columns {
		var v any
		var err error
		if f := b.p.direct[i]; f != fieldNone {
			v = f.of(ev)
		} else {
			v, err = b.p.vals.Event(c, ev)
		}
		if err == nil {
			v, err = column(v, b.p.cols[i].Type)
		}
		if err != nil {
			b.valueError(fmt.Sprintf("position %d (%s %s)", ev.Position, ev.Stream, ev.Type), c, err)
			v = nil
		}
		row[i] = v
	}
	b.rows = append(b.rows, row)
}

// eventField is a field of an event that a column's expression names
// alone (position, id, ...): the row takes it straight from the event, as
// the expression would give it, without the evaluator, which costs more
// than the rest of the row.
type eventField int

const (
	fieldNone eventField = iota
	fieldPosition
	fieldVersion
	fieldTime
	fieldType
	fieldStream
	fieldID
)

var eventFields = map[string]eventField{
	"position": fieldPosition, "version": fieldVersion, "time": fieldTime,
	"type": fieldType, "stream": fieldStream, "id": fieldID,
}

// of is the field of ev as the expression gives it. The stream and its id
// are copied: they alias the log's memory only valid while it is read.
func (f eventField) of(ev *eventlog.Event) any {
	switch f {
	case fieldPosition:
		return int(ev.Position)
	case fieldVersion:
		return int(ev.Version)
	case fieldTime:
		return int(ev.Time)
	case fieldType:
		return ev.Type
	case fieldStream:
		return strings.Clone(ev.Stream)
	case fieldID:
		_, id := eventlog.SplitStream(ev.Stream)
		return strings.Clone(id)
	}
	return nil
}

// takes reports whether an event projection has a row for ev.
func (p *projector) takes(ev *eventlog.Event) bool {
	if p.def.Streams != "" {
		if cat, _ := eventlog.SplitStream(ev.Stream); cat != p.def.Streams {
			return false
		}
	}
	for _, t := range p.def.Events {
		if t == ev.Type {
			return true
		}
	}
	return false
}

var errStopped = errors.New("sqlproj: stopped")

// applyEvents writes the rows of the next events of the log, and the
// checkpoint, in one transaction.
//
// The transaction begins before the batch is read: on SQLite it waits for
// the file's one writer (another projection's batch), and the batch then
// takes the events appended meanwhile rather than leaving them for the
// next transaction.
func (p *projector) applyEvents(db sqldb.DB) (more bool, err error) {
	p.mu.Lock()
	from := p.position + 1
	p.mu.Unlock()
	if from > p.m.log.LastPosition() {
		p.committed(from-1, false)
		return false, nil
	}
	tx, err := db.Begin(p.ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	last := p.m.log.LastPosition()
	to := min(last, from+uint64(p.m.opts.BatchEvents)-1)
	b := &rowBuilder{p: p}
	scanned := from - 1
	err = p.m.log.Scan(from, to, func(ev *eventlog.Event) error {
		if p.takes(ev) {
			b.event(ev)
		}
		scanned = ev.Position
		if len(b.rows) >= p.m.opts.BatchRows {
			return errBatchFull
		}
		return nil
	})
	if err != nil && !errors.Is(err, errBatchFull) {
		return false, err
	}
	t := p.table(p.def.Table, p.generationNow())
	if len(b.rows) > 0 {
		if err := tx.Insert(t, b.rows); err != nil {
			return false, err
		}
	}
	if err := tx.MoveCheckpoint(p.checkpoint(scanned, p.generationNow()), from-1); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	lagging := scanned < p.m.log.LastPosition()
	p.committed(scanned, lagging)
	return lagging, nil
}

var errBatchFull = errors.New("sqlproj: batch full")

func (p *projector) generationNow() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.generation
}

// applyChanges writes the entities the next published rounds changed, and
// the checkpoint, in one transaction; or, when the feed lost rounds, brings
// the table up to date from a capture of the state. As applyEvents does,
// it begins the transaction before it takes the rounds.
func (p *projector) applyChanges(db sqldb.DB) (more bool, err error) {
	if p.needsResync() {
		return true, p.resync(db)
	}
	p.mu.Lock()
	for len(p.queue) > 0 && p.queue[0].last <= p.position {
		p.queued -= len(p.queue[0].changes)
		p.queueFrom = p.queue[0].last // a checkpoint read again before it needs a resync
		p.queue = p.queue[1:]
	}
	empty := len(p.queue) == 0
	p.mu.Unlock()
	if empty {
		return false, nil
	}
	tx, err := db.Begin(p.ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	p.mu.Lock()
	if p.stale || p.position < p.queueFrom || len(p.queue) == 0 { // the feed lost rounds meanwhile
		p.mu.Unlock()
		return true, nil
	}
	// The newest change of each entity in the rounds taken.
	latest := map[string]state.Change{}
	var to uint64
	n := 0
	taken := 0
	for _, r := range p.queue {
		if n > 0 && n+len(r.changes) > p.m.opts.BatchRows {
			break
		}
		for _, c := range r.changes {
			latest[c.ID] = c
		}
		n += len(r.changes)
		to = r.last
		taken++
	}
	lagging := taken < len(p.queue)
	p.mu.Unlock()

	b := &rowBuilder{p: p}
	var deleted []any
	ids := make([]string, 0, len(latest))
	for id := range latest {
		ids = append(ids, id)
	}
	sort.Strings(ids) // one order of row locks for every batch
	for _, id := range ids {
		if c := latest[id]; c.Entity == "" {
			deleted = append(deleted, id)
		} else {
			b.entity(c.Entity)
		}
	}
	if err := p.writeIn(tx, b.rows, deleted, to); err != nil {
		return false, err
	}
	p.mu.Lock()
	for len(p.queue) > 0 && p.queue[0].last <= to {
		p.queued -= len(p.queue[0].changes)
		p.queueFrom = p.queue[0].last // a checkpoint read again before it needs a resync
		p.queue = p.queue[1:]
	}
	if len(p.queue) == 0 {
		p.queue = nil // let the backing array go
	}
	p.mu.Unlock()
	p.committed(to, lagging)
	return lagging, nil
}

// needsResync reports whether the feed lost rounds, or starts past the
// checkpoint: the table is then brought up to date from a capture.
func (p *projector) needsResync() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stale || p.position < p.queueFrom
}

// write upserts rows, deletes keys and moves the checkpoint, in one
// transaction.
func (p *projector) write(db sqldb.DB, rows [][]any, deleted []any, to uint64) error {
	tx, err := db.Begin(p.ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return p.writeIn(tx, rows, deleted, to)
}

// writeIn is write in tx, which it commits. The checkpoint moves from the
// projector's position: a database that lost commits the projector saw
// confirmed (or one another writer moves) fails the write, and the
// projector reads its checkpoint again before the next.
func (p *projector) writeIn(tx sqldb.Tx, rows [][]any, deleted []any, to uint64) error {
	t := p.table(p.def.Table, p.generationNow())
	if len(rows) > 0 {
		if err := tx.Upsert(t, rows); err != nil {
			return err
		}
	}
	if len(deleted) > 0 {
		if err := tx.Delete(t, deleted); err != nil {
			return err
		}
	}
	p.mu.Lock()
	from := p.position
	p.mu.Unlock()
	if err := tx.MoveCheckpoint(p.checkpoint(to, p.generationNow()), from); err != nil {
		return err
	}
	return tx.Commit()
}

// capture takes the state as of the log's newest position and restarts the
// feed from there, between two rounds.
func (p *projector) capture() (*state.CapturedType, uint64, error) {
	var ct *state.CapturedType
	var at uint64
	err := p.m.log.Exclusive(func(uint64) error {
		c := p.m.engine.Store().Capture()
		at = c.Position
		for i := range c.Types {
			if c.Types[i].Name == p.def.From {
				ct = &c.Types[i]
			}
		}
		p.mu.Lock()
		p.queue, p.queued, p.stale, p.queueFrom = nil, 0, false, at
		p.mu.Unlock()
		return nil
	})
	return ct, at, err
}

// resync brings an entity projection's table up to date with a capture of
// the state: the entities that the log's events since the checkpoint fed,
// when the type's entities each follow one stream and those events are few;
// otherwise every entity, in one transaction that clears the table first.
func (p *projector) resync(db sqldb.DB) error {
	p.setState(CatchingUp)
	ct, at, err := p.capture()
	if err != nil {
		return err
	}
	p.mu.Lock()
	from := p.position
	p.mu.Unlock()
	if from == at {
		p.committed(at, false)
		return nil
	}
	b := &rowBuilder{p: p}
	var deleted []any
	category, incremental := p.m.category(p.def.From)
	if incremental && from < at && at-from <= uint64(p.m.opts.BatchEvents) {
		touched := map[string]bool{}
		err := p.m.log.Scan(from+1, at, func(ev *eventlog.Event) error {
			if cat, id := eventlog.SplitStream(ev.Stream); cat == category && !touched[id] {
				touched[strings.Clone(id)] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		ids := make([]string, 0, len(touched))
		for id := range touched {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			var e state.Entity
			var ok bool
			if ct != nil {
				e, ok = ct.Get(id)
			}
			if ok {
				b.entity(e)
			} else {
				deleted = append(deleted, id)
			}
		}
		if err := p.write(db, b.rows, deleted, at); err != nil {
			return err
		}
		p.committed(at, false)
		return nil
	}
	tx, err := db.Begin(p.ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	t := p.table(p.def.Table, p.generationNow())
	if err := tx.Clear(t.Name); err != nil {
		return err
	}
	if err := p.fillEntities(db, tx, t, ct, nil); err != nil {
		return err
	}
	if err := tx.SetCheckpoint(p.checkpoint(at, p.generationNow())); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	p.committed(at, false)
	return nil
}

// fillEntities inserts every entity of a capture, a batch at a time, in
// tx of db.
func (p *projector) fillEntities(db sqldb.DB, tx sqldb.Tx, t *sqldb.Table, ct *state.CapturedType, progress *BuildProgress) error {
	if ct == nil {
		return nil
	}
	return pipeline(db, t, func(send func(rowBatch) bool) error {
		// The rows go in in the order of their ids, the table's key: in the
		// state's order (its hash table's) each insert would land at a
		// random place of the key's B-tree, which costs SQLite several
		// times as much per row once the tree outgrows its cache.
		ents := make([]state.Entity, 0, ct.Count)
		ct.Scan(func(e state.Entity) bool {
			ents = append(ents, e)
			return true
		})
		slices.SortFunc(ents, func(a, b state.Entity) int { return strings.Compare(a.ID(), b.ID()) })
		b := &rowBuilder{p: p}
		for _, e := range ents {
			b.entity(e)
			if len(b.rows) >= p.m.opts.BatchRows {
				if !send(rowBatch{rows: b.rows}) {
					return nil
				}
				b.rows = nil
			}
		}
		if len(b.rows) > 0 {
			send(rowBatch{rows: b.rows})
		}
		return nil
	}, func(batch rowBatch) error {
		if err := tx.InsertBatch(batch.ready); err != nil {
			return err
		}
		return p.built(progress, batch.ready.Len())
	})
}

// rowBatch is rows of a build on their way to the database: rows as
// produced, ready as prepared for the database to insert; upTo is the log
// position an event build has read up to.
type rowBatch struct {
	rows  [][]any
	ready *sqldb.Batch
	upTo  uint64
}

// pipeline runs produce on a goroutine of its own, which hands batches of
// rows of t to consume on this one, one batch ahead at most: a build reads
// the log or the capture, evaluates the columns of a batch and prepares it
// for db (checks and converts its values) while the database writes the
// one before, on another CPU. send reports false once consume has failed
// or the batch could not be prepared; produce should then return. An error
// of consume comes first, then one of preparing, then one of produce.
func pipeline(db sqldb.DB, t *sqldb.Table, produce func(send func(rowBatch) bool) error, consume func(rowBatch) error) error {
	ch := make(chan rowBatch, 1)
	quit := make(chan struct{})
	done := make(chan struct{})
	var perr, prepErr error
	go func() {
		defer close(done)
		defer close(ch)
		perr = produce(func(b rowBatch) bool {
			if prepErr != nil {
				return false
			}
			if b.ready, prepErr = db.Prepare(t, b.rows); prepErr != nil {
				return false
			}
			select {
			case ch <- b:
				return true
			case <-quit:
				return false
			}
		})
	}()
	var cerr error
	for b := range ch {
		if cerr = consume(b); cerr != nil {
			break
		}
	}
	close(quit)
	for range ch { // what was sent before quit
	}
	<-done
	if cerr != nil {
		return cerr
	}
	if prepErr != nil {
		return prepErr
	}
	return perr
}

// built counts rows written by a build, logs its progress now and then,
// and stops a build that shutdown or a stop interrupts.
func (p *projector) built(progress *BuildProgress, n int) error {
	if p.stopping() {
		return errStopped
	}
	if progress == nil {
		return nil
	}
	p.mu.Lock()
	progress.Done += uint64(n)
	done, total := progress.Done, progress.Total
	p.mu.Unlock()
	if time.Since(p.lastLog) >= p.m.opts.ProgressEvery {
		p.lastLog = time.Now()
		p.m.logger.Info("sql projection: building", "projection", p.def.Name, "done", done, "total", total,
			"per_sec", int64(float64(done)/time.Since(progress.Started).Seconds()))
	}
	return nil
}

// buildTable fills a fresh table beside the live one, from the state for
// an entity projection or from the whole log for an event projection, and
// swaps it in: all in one transaction, so readers of the table see the old
// rows until it commits and the new ones after, never a half-built table.
func (p *projector) buildTable(db sqldb.DB) error {
	p.mu.Lock()
	p.state = Building
	gen := p.generation + 1
	progress := &BuildProgress{Started: time.Now()}
	p.build = progress
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.build = nil
		p.mu.Unlock()
	}()
	old, _, err := db.Checkpoint(p.ctx, p.def.Name)
	if err != nil {
		return err
	}
	tx, err := db.Begin(p.ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	shadow := p.table(shadowPrefix+p.def.Table, gen)
	if err := tx.DropTable(shadow.Name); err != nil {
		return err
	}
	if err := tx.CreateTable(shadow); err != nil {
		return err
	}
	var at uint64
	if p.entities() {
		ct, pos, err := p.capture()
		if err != nil {
			return err
		}
		at = pos
		if ct != nil {
			p.mu.Lock()
			progress.Total = uint64(ct.Count)
			p.mu.Unlock()
		}
		if err := p.fillEntities(db, tx, shadow, ct, progress); err != nil {
			return err
		}
	} else {
		at = p.m.log.LastPosition()
		p.mu.Lock()
		progress.Total = at
		p.mu.Unlock()
		var done uint64
		err := pipeline(db, shadow, func(send func(rowBatch) bool) error {
			if at == 0 {
				return nil // an empty log: Scan's to of 0 would mean "to the end"
			}
			b := &rowBuilder{p: p}
			err := p.m.log.Scan(1, at, func(ev *eventlog.Event) error {
				if p.takes(ev) {
					b.event(ev)
				}
				if len(b.rows) >= p.m.opts.BatchRows {
					if !send(rowBatch{rows: b.rows, upTo: ev.Position}) {
						return errStopped
					}
					b.rows = nil
				}
				return nil
			})
			if err == nil && len(b.rows) > 0 {
				send(rowBatch{rows: b.rows, upTo: at})
			}
			return err
		}, func(batch rowBatch) error {
			if err := tx.InsertBatch(batch.ready); err != nil {
				return err
			}
			if err := p.built(progress, int(batch.upTo-done)); err != nil {
				return err
			}
			done = batch.upTo
			return nil
		})
		if err != nil {
			return err
		}
	}
	if old.Table != "" && old.Table != p.def.Table {
		if err := tx.DropTable(old.Table); err != nil {
			return err
		}
	}
	if err := tx.DropTable(p.def.Table); err != nil {
		return err
	}
	if err := tx.RenameTable(shadow.Name, p.def.Table); err != nil {
		return err
	}
	if err := tx.SetCheckpoint(p.checkpoint(at, gen)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	p.mu.Lock()
	p.generation, p.rebuild = gen, false
	p.mu.Unlock()
	p.m.logger.Info("sql projection: table built and swapped in", "projection", p.def.Name, "table", p.def.Table,
		"position", at, "rows", progress.Done, "seconds", fmt.Sprintf("%.2f", time.Since(progress.Started).Seconds()))
	p.committed(at, at < p.m.log.LastPosition())
	return nil
}

// PerSec is the build's speed so far.
func (b *BuildProgress) PerSec() float64 {
	if d := time.Since(b.Started).Seconds(); d > 0 {
		return float64(b.Done) / d
	}
	return 0
}
