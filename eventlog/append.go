package eventlog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/tidwall/gjson"
)

// Applier folds appends into state inside the writer. The log calls it from
// one round at a time (on the writer goroutine, or on the goroutine of an
// AppendNow), in position order.
//
// Stage sees the events of one append (positions, versions and time
// assigned) before anything is committed. It checks guards against current
// state plus what earlier appends of the same round staged, and either stages
// the append's effect or returns an error that rejects the append; a rejected
// append must leave nothing staged. Stage must be deterministic and do no I/O.
// The events' Data and Meta are only valid during the call.
//
// Seal ends a round's staging; it is called after the round's last Stage
// when anything was staged. Under always the log may then stage the next
// round on top of this one (its guards see this round's effects) while
// this round's fsync runs (pipeline.go).
//
// Publish makes the oldest sealed round visible to readers; it is called
// after that round is durable and before any append of it is answered, so
// a reply implies visibility (read-your-writes). last is its newest
// position.
//
// Discard drops everything staged and not published, sealed or not; it is
// called when a commit failed, which fails every round staged after it too.
//
// BeginTx and EndTx bracket the appends of a transaction (AppendTx): its
// appends are staged one after another, each on top of the ones before,
// and EndTx(false) removes every one of them again, as a rejected append
// is removed; EndTx(true) keeps them, as if staged one by one.
type Applier interface {
	Stage(events []Event) error
	Seal()
	Publish(last uint64)
	Discard()
	BeginTx()
	EndTx(keep bool)
}

type submission struct {
	appends []*Append
	txs     []*Tx // staged before appends, each all or none
	oneTx   [1]*Tx
	ops     []*Op // run after the appends
	fn      func(last uint64) error
	err     error
	done    chan struct{}
	// notify, when set, is called by the writer in place of a send on done
	// (AppendAsync); the writer returns the submission to the pool first.
	notify func()
}

var submissionPool = sync.Pool{New: func() any { return &submission{done: make(chan struct{}, 1)} }}

type idemKeyT struct{ stream, id string }

// writerState is owned by the writer goroutine.
type writerState struct {
	versions map[string]uint64 // stream versions changed in this round
	// known caches the versions of streams written lately (committed to
	// Pebble, durable or in flight), so that an append to one needs no
	// Pebble read for its EXPECT check. It keeps two generations of at
	// most knownMax streams each: when known fills it becomes knownOld
	// and a new one starts, so the streams written within the last
	// knownMax or so stay found, where clearing a full cache would forget
	// them all at once.
	known    map[string]uint64
	knownOld map[string]uint64
	ids      map[idemKeyT]Result // idempotency IDs seen in this round
	events   []Event
	key      []byte
	val      []byte
	vkey     []byte // stagedVersion's
	// side holds the round's index and idempotency entries end to end, and
	// sideKVs where each is; endRound adds them to the batch sorted, after
	// the events (sideEntries).
	side    []byte
	sideKVs []sideKV
	// runs are the round's runs of the category and type indexes (view.go).
	runs viewRuns

	// tip is the newest position Pebble holds: the durable ones and those
	// of the rounds in flight (pipeline.go).
	tip uint64
	// now is AppendNow's submission, and nowRound the round of it alone.
	now      submission
	nowRound [1]*submission
	nowRun   flight
	rounds   atomic.Uint64
	appends  atomic.Uint64

	// The round's ops (op.go): roundEvents are its events, kept for the
	// watcher.
	ob          OpBatch
	roundEvents []Event
	// lazyUnsynced: under always, the journal's newest record is a round
	// of lazy op writes that no fsync has covered yet (OpBatch.Lazy).
	lazyUnsynced bool
}

// sideKV is one entry in writerState.side: key side[at:at+klen], value
// the vlen bytes after it.
type sideKV struct{ at, klen, vlen int }

// addSide records an index or idempotency entry of the round.
func (w *writerState) addSide(key, val []byte) {
	w.sideKVs = append(w.sideKVs, sideKV{len(w.side), len(key), len(val)})
	w.side = append(append(w.side, key...), val...)
}

// sideEntries adds the round's index (stream, category and type runs) and
// idempotency entries to the batch in key order. Pebble inserts a batch into its memtable in batch order,
// reusing the previous key's place in the skiplist when the next key
// follows it: with each append's keys interleaved (event, index, event,
// index...) every insert searched from the top, while this way the event
// keys, whose positions ascend, are appended where the last one went.
// Measured together with the stream version key's removal, it cut foldb's
// CPU per append at 50 clients (BENCHMARKS.md, "Single measurements behind
// the changes": no stream-version key, index entries sorted after the
// events).
func (w *writerState) sideEntries(batch *pebble.Batch) {
	w.runs.flush(true, w.addSide)
	key := func(e sideKV) []byte { return w.side[e.at : e.at+e.klen] }
	slices.SortFunc(w.sideKVs, func(a, b sideKV) int { return bytes.Compare(key(a), key(b)) })
	for _, e := range w.sideKVs {
		batch.Set(key(e), w.side[e.at+e.klen:e.at+e.klen+e.vlen], nil)
	}
	w.side, w.sideKVs = w.side[:0], w.sideKVs[:0]
}

func (w *writerState) init() {
	w.versions = make(map[string]uint64)
	w.known = make(map[string]uint64)
	w.ids = make(map[idemKeyT]Result)
	w.nowRound[0] = &w.now
}

const knownMax = 1 << 16

// remember adds a committed round's stream versions to the cache.
func (w *writerState) remember() {
	if len(w.known)+len(w.versions) > knownMax {
		w.known, w.knownOld = w.knownOld, w.known
		if w.known == nil {
			w.known = make(map[string]uint64, knownMax)
		}
		clear(w.known)
	}
	for stream, v := range w.versions {
		w.known[stream] = v
	}
}

// SetApplier installs the applier. Call it before the first append, or from
// inside Exclusive.
func (l *Log) SetApplier(a Applier) { l.applier = a }

// Append appends each request atomically and fills in its Result. Requests
// given together are committed in the given order, typically in one round; a
// failed request does not affect the others. It returns after every request
// is answered: under DurabilityAlways, after their fsync.
func (l *Log) Append(appends ...*Append) {
	if !l.validateAll(appends) {
		return
	}
	s := submissionPool.Get().(*submission)
	s.appends = appends
	if err := l.submit(s); err != nil {
		failAll(appends, err)
	}
	s.appends = nil
	submissionPool.Put(s)
}

// AppendAsync is Append without the wait: it returns once the requests are
// queued, and done is called when every one of them is answered, on the
// writer's goroutine (or on the caller's, when none could be queued). done
// must not block; the appends must stay untouched until it is called.
func (l *Log) AppendAsync(appends []*Append, done func()) {
	l.AppendAsyncTx(appends, nil, done)
}

// AppendAsyncTx is AppendAsync of appends and transactions together (see
// AppendBatch).
func (l *Log) AppendAsyncTx(appends []*Append, txs []*Tx, done func()) {
	if !l.validateAll(appends) && len(txs) == 0 {
		done()
		return
	}
	s := submissionPool.Get().(*submission)
	s.appends, s.txs, s.notify = appends, txs, done
	if err := l.enqueue(s); err != nil {
		s.appends, s.txs, s.notify = nil, nil, nil
		submissionPool.Put(s)
		failAll(appends, err)
		failTxs(txs, err)
		done()
	}
}

// AppendNow runs the appends as one round on the caller's goroutine when
// the writer is idle, and reports whether it did; when it did not, nothing
// was done and the caller submits them. It saves the hand-off to the
// writer and back for a caller that would wait anyway.
//
// It declines while Pebble stalls writes and for stallMemory after a stall
// began, so that a caller serving others (the network loop) is held up by
// at most the stall it walked into.
func (l *Log) AppendNow(appends []*Append) bool {
	return l.AppendNowTx(appends, nil)
}

// AppendNowTx is AppendNow of appends and transactions together (see
// AppendBatch).
func (l *Log) AppendNowTx(appends []*Append, txs []*Tx) bool {
	if len(l.subs) != 0 || l.flying.Load() || l.stalling.Load() || time.Now().UnixNano()-l.stalled.Load() < int64(stallMemory) {
		return false
	}
	if !l.roundMu.TryLock() {
		return false
	}
	ran := l.appendNow(appends, txs)
	after, err := l.w.nowRun.after, l.w.nowRun.afterErr
	l.w.nowRun = flight{}
	l.roundMu.Unlock()
	runAfter(after, err)
	return ran
}

// appendNow is AppendNow's round, with roundMu held.
func (l *Log) appendNow(appends []*Append, txs []*Tx) bool {
	if len(l.subs) != 0 || l.flying.Load() {
		return false // queued submissions and rounds in flight go first
	}
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if !l.validateAll(appends) && len(txs) == 0 {
		return true
	}
	if l.closed {
		failAll(appends, ErrClosed)
		failTxs(txs, ErrClosed)
		return true
	}
	w := &l.w
	w.now.appends, w.now.txs = appends, txs
	f := &w.nowRun
	l.stageRound(w.nowRound[:], f, true)
	l.land(f, nil)
	w.now.appends, w.now.txs = nil, nil
	return true
}

// Tx is a transaction: appends committed in one round, all of them or
// none. Each append's EXPECT, idempotency ID and the applier's guards see
// the transaction's earlier appends; when one is refused, nothing of the
// transaction is written and the others fail with ErrAborted.
type Tx struct {
	Appends []*Append
	// Watch are streams with the versions a client saw: when one's
	// version differs as the transaction is staged, nothing is written
	// and Moved is set.
	Watch []Watched
	// Moved says that a watched stream had moved; the appends have no
	// result.
	Moved bool
	// Refused is the index of the append whose refusal aborted the
	// transaction, -1 when none was refused.
	Refused int
	// Ops commit with the appends, in the same round and journal record:
	// they are staged after every append has passed, in order, and not at
	// all (ErrAborted) when the transaction is aborted or a watched stream
	// moved. An op's refusal is its own answer and does not abort the
	// transaction, so a transaction holds only ops that cannot be refused
	// once the appends have passed (acknowledgements of consumer groups).
	Ops []*Op
}

// Watched is a stream and the version it had when a client began to watch it.
type Watched struct {
	Stream  string
	Version uint64
}

// ErrAborted is the result of a transaction's append that was not written
// because another append of the transaction was refused.
var ErrAborted = errors.New("eventlog: transaction aborted")

// AppendTx commits a transaction and returns once it is answered: under
// DurabilityAlways, after its fsync. A log failure fails every append.
func (l *Log) AppendTx(tx *Tx) {
	s := submissionPool.Get().(*submission)
	s.oneTx[0] = tx
	s.txs = s.oneTx[:]
	if err := l.submit(s); err != nil {
		failTxs(s.txs, err)
	}
	s.txs, s.oneTx[0] = nil, nil
	submissionPool.Put(s)
}

// AppendBatch is Append of appends and transactions together: the
// transactions are staged first, each all or none, then the appends.
func (l *Log) AppendBatch(appends []*Append, txs []*Tx) {
	if len(txs) == 0 {
		l.Append(appends...)
		return
	}
	l.validateAll(appends)
	s := submissionPool.Get().(*submission)
	s.appends, s.txs = appends, txs
	if err := l.submit(s); err != nil {
		failAll(appends, err)
		failTxs(txs, err)
	}
	s.appends, s.txs = nil, nil
	submissionPool.Put(s)
}

func failTxs(txs []*Tx, err error) {
	for _, tx := range txs {
		failAll(tx.Appends, err)
		failOps(tx.Ops, err)
	}
}

// abort marks the transaction refused by its append i: every other
// append fails with ErrAborted.
func (tx *Tx) abort(i int) {
	tx.Refused = i
	for j, a := range tx.Appends {
		if j != i {
			a.Result = Result{Err: ErrAborted}
		}
	}
	failOps(tx.Ops, ErrAborted)
}

// stallMemory is how long AppendNow declines after a write stall began.
const stallMemory = 10 * time.Second

// validateAll resets each request's result and validates it, reporting
// whether any is left to submit.
func (l *Log) validateAll(appends []*Append) bool {
	valid := false
	for _, a := range appends {
		a.Result = Result{}
		if err := l.validate(a); err != nil {
			a.Result.Err = err
			continue
		}
		valid = true
	}
	return valid
}

func failAll(appends []*Append, err error) {
	for _, a := range appends {
		if a.Result.Err == nil {
			a.Result.Err = err
		}
	}
}

// Exclusive runs fn on the writer goroutine between rounds, with the newest
// committed position: no append is staged or committed while it runs.
func (l *Log) Exclusive(fn func(last uint64) error) error {
	s := submissionPool.Get().(*submission)
	s.fn = fn
	err := l.submit(s)
	if err == nil {
		err = s.err
	}
	s.fn, s.err = nil, nil
	submissionPool.Put(s)
	return err
}

// submit queues s for the writer and waits for its answer.
func (l *Log) submit(s *submission) error {
	if err := l.enqueue(s); err != nil {
		return err
	}
	<-s.done
	return nil
}

// enqueue hands s to the writer, unless the log is closed.
func (l *Log) enqueue(s *submission) error {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	l.subs <- s
	return nil
}

// Validate checks an append as the log does before staging it: the
// stream's name, the events' types, sizes and JSON. An append it refuses
// is refused by Append with the same error.
func (l *Log) Validate(a *Append) error { return l.validate(a) }

func (l *Log) validate(a *Append) error {
	if err := ValidateStream(a.Stream); err != nil {
		return err
	}
	if len(a.Events) == 0 {
		return invalid("an append needs at least one event")
	}
	if len(a.Events) > l.opts.MaxEventsPerAppend {
		return invalid("too many events in one append: %d (max-events-per-append is %d)", len(a.Events), l.opts.MaxEventsPerAppend)
	}
	if len(a.ID) > maxIDLen {
		return invalid("event ID too long: %d bytes (at most %d)", len(a.ID), maxIDLen)
	}
	if a.Meta != nil {
		if err := validObject(a.Meta, "meta"); err != nil {
			return err
		}
	}
	for i := range a.Events {
		e := &a.Events[i]
		if e.Type == "" {
			return invalid("empty event type")
		}
		if len(e.Type) > maxTypeLen {
			return invalid("event type too long: %d bytes (at most %d)", len(e.Type), maxTypeLen)
		}
		if size := len(e.Type) + len(e.Data) + len(a.Meta); size > l.opts.MaxEventSize {
			return invalid("event too large: %d bytes (max-event-size is %d)", size, l.opts.MaxEventSize)
		}
		if err := validObject(e.Data, "event data"); err != nil {
			return err
		}
	}
	return nil
}

const (
	maxStreamLen = 1024
	maxTypeLen   = 256
	maxIDLen     = 256
)

// ValidateStream checks a stream name: "<category>:<id>", both parts non-empty.
func ValidateStream(stream string) error {
	if len(stream) > maxStreamLen {
		return invalid("stream name too long: %d bytes (at most %d)", len(stream), maxStreamLen)
	}
	cat, id := SplitStream(stream)
	if cat == "" || id == "" {
		return invalid("invalid stream name '%s': expected <category>:<id>", stream)
	}
	return nil
}

// validObject checks that b is one JSON object.
func validObject(b []byte, what string) error {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	if gjson.ValidBytes(b) {
		if i < len(b) && b[i] == '{' {
			return nil
		}
		return invalid("%s must be a JSON object", what)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return invalid("invalid JSON in %s: %v", what, err)
	}
	return invalid("invalid JSON in %s", what)
}

// stageRound stages one group of submissions as a round, writes it to the
// journal and commits it to Pebble's memtable, filling f. With syncNow the
// journal's record is fsynced here under always; without, f.sync says
// that the round waits for one (pipeline.go). Nothing of the round is
// visible to readers or answered until land.
//
// A round that appends no event but whose ops wrote op keys is committed
// too: its journal record holds no event and the positions first = last+1,
// end = last, "after position last" (see replaySegment).
func (l *Log) stageRound(subs []*submission, f *flight, syncNow bool) {
	l.beginRound(f)
	for _, s := range subs {
		l.stageSub(f, s)
	}
	l.endRound(f, syncNow)
}

// beginRound opens round f: its batch, its clock, its first position.
func (l *Log) beginRound(f *flight) {
	w := &l.w
	clear(w.versions)
	clear(w.ids)
	f.subs = f.subs[:0]
	f.failed = l.Err()
	f.batch = l.db.NewBatch()
	f.start, f.last = w.tip, w.tip
	f.now = time.Now().UnixMilli()
	w.ob.begin(f.batch, f.now, l.last.Load())
	w.roundEvents = w.roundEvents[:0]
	f.staged, f.events = 0, 0
}

// stageSub stages one submission into the open round f.
func (l *Log) stageSub(f *flight, s *submission) {
	w := &l.w
	f.subs = append(f.subs, s)
	f.events += len(s.appends) + len(s.ops) + len(s.txs)
	watch := l.watcher != nil
	for _, tx := range s.txs {
		l.stageTx(f, tx)
	}
	for _, a := range s.appends {
		if a.Result.Err != nil {
			continue // refused by validate
		}
		if f.failed != nil {
			a.Result.Err = f.failed
			continue
		}
		if l.stage(f.batch, a, &f.last, f.now) {
			f.staged++
			if watch {
				w.roundEvents = append(w.roundEvents, w.events...)
			}
		}
	}
	for _, op := range s.ops {
		if f.failed != nil {
			op.Err = f.failed
			continue
		}
		op.Err = w.ob.run(op)
	}
}

// endRound closes the open round f: the watcher's part, the index entries,
// the journal record (fsynced here with syncNow under always) and the
// commit to the memtable.
func (l *Log) endRound(f *flight, syncNow bool) {
	w := &l.w
	ob := &w.ob
	batch := f.batch
	f.batch = nil
	defer batch.Close()
	if err := l.Err(); err != nil && f.failed == nil {
		// A round it was staged on failed meanwhile: nothing of it is
		// written, and land fails it.
		clear(w.roundEvents)
		w.roundEvents = w.roundEvents[:0]
		f.after, f.afterErr = ob.takeAfter(), nil
		f.err = err
		return
	}
	if l.watcher != nil && len(w.roundEvents) > 0 {
		l.watcher.Staged(ob, w.roundEvents)
		ob.flush()
		clear(w.roundEvents) // they alias the appends
	}
	w.sideEntries(batch)
	f.after, f.afterErr = ob.takeAfter(), nil
	if f.staged > 0 && l.applier != nil {
		l.applier.Seal()
	}
	always := l.opts.Durability == DurabilityAlways
	if f.staged == 0 && !ob.wrote {
		// Nothing to write. An answer that may show lazy writes still
		// waits for their fsync (OpBatch.Lazy).
		if always && w.lazyUnsynced && ob.durable {
			w.lazyUnsynced = false
			if !syncNow {
				f.sync = true // the syncer's journal.sync
			} else if err := l.journal.sync(); err != nil {
				f.err = l.fail(err)
			}
		}
		return
	}
	// The journal has the round before Pebble's memtable does; under
	// always, its fsync ends before any reply (here, or in the pipeline),
	// except for a round of lazy op writes only, which answers nothing
	// that needs them durable.
	durable := always && (f.staged > 0 || ob.durable)
	f.sync = !syncNow && durable
	err := l.journal.write(f.start+1, f.last, batch.Repr(), syncNow && durable)
	if err == nil {
		err = batch.Commit(pebble.NoSync)
	}
	if err != nil {
		f.err, f.sync = l.fail(err), false
		return
	}
	w.lazyUnsynced = always && !durable
	f.committed = true
	w.tip = f.last
	w.remember()
}

// land ends a round that stageRound or endRound closed: when it and its fsync (err)
// succeeded and the log has not failed since, it is published, else every
// append and op of it fails. Then f.after is left to run, with f.afterErr.
func (l *Log) land(f *flight, err error) {
	if err == nil {
		err = f.err
	}
	if err == nil && f.last > l.last.Load() {
		err = l.Err() // a round before this one failed after this one was staged
	}
	if err != nil {
		err = l.fail(err)
		if l.applier != nil {
			l.applier.Discard()
		}
		fail := func(appends []*Append) {
			for _, a := range appends {
				if a.Result.Err == nil && (!a.Result.Duplicate || a.Result.Position > l.last.Load()) {
					a.Result = Result{Err: err}
				}
			}
		}
		for _, s := range f.subs {
			fail(s.appends)
			for _, tx := range s.txs {
				fail(tx.Appends)
				failOps(tx.Ops, err)
			}
			failOps(s.ops, err)
		}
		f.afterErr = err
		return
	}
	if !f.committed {
		return
	}
	if f.last > l.last.Load() {
		l.last.Store(f.last)
	}
	if l.applier != nil && f.staged > 0 {
		l.applier.Publish(f.last)
	}
	l.w.rounds.Add(1)
	l.w.appends.Add(uint64(f.staged))
}

// stage checks one append and adds it to the batch. It reports whether
// anything was added.
func (l *Log) stage(batch *pebble.Batch, a *Append, pos *uint64, now int64) bool {
	w := &l.w
	if a.ID != "" {
		if r, ok, err := l.idempotent(a.Stream, a.ID); err != nil {
			a.Result.Err = err
			return false
		} else if ok {
			r.Duplicate = true
			a.Result = r
			return false
		}
	}
	cur, err := l.current(a.Stream)
	if err != nil {
		a.Result.Err = err
		return false
	}
	w.events, err = l.decide(w.events[:0], a, cur, *pos, now)
	if err != nil {
		a.Result.Err = err
		return false
	}
	l.write(batch, a, w.events)
	*pos = a.Result.Position
	return true
}

// current is a stream's version as the writer sees it: changed in this
// round, cached, or read.
func (l *Log) current(stream string) (uint64, error) {
	w := &l.w
	if v, ok := w.versions[stream]; ok {
		return v, nil
	}
	if v, ok := w.known[stream]; ok {
		return v, nil
	}
	if v, ok := w.knownOld[stream]; ok {
		return v, nil
	}
	return l.stagedVersion(stream)
}

// decide checks an append against its stream's version cur and the
// applier's guards, the events taking the positions after pos; it returns
// them appended to evs, staged in the applier, or the refusal.
func (l *Log) decide(evs []Event, a *Append, cur, pos uint64, now int64) ([]Event, error) {
	if !a.Expect.allows(cur) {
		return evs, &WrongVersionError{Stream: a.Stream, Expected: a.Expect, Actual: cur}
	}
	from := len(evs)
	for i, p := range a.Events {
		evs = append(evs, Event{
			Position: pos + uint64(i) + 1,
			Stream:   a.Stream,
			Version:  cur + uint64(i) + 1,
			Type:     p.Type,
			Data:     p.Data,
			Meta:     a.Meta,
			ID:       a.ID,
			Time:     now,
		})
	}
	if l.applier != nil {
		if err := l.applier.Stage(evs[from:]); err != nil {
			return evs[:from], err
		}
	}
	return evs, nil
}

// write adds a decided append's events (decide) to the batch and records
// its result.
func (l *Log) write(batch *pebble.Batch, a *Append, events []Event) {
	w := &l.w
	for i := range events {
		e := &events[i]
		w.key = eventKey(w.key[:0], e.Position)
		w.val = AppendRecord(w.val[:0], e)
		batch.Set(w.key, w.val, nil)
		w.key = indexKey(w.key[:0], e.Stream, e.Version)
		w.val = binary.BigEndian.AppendUint64(w.val[:0], e.Position)
		w.addSide(w.key, w.val)
		w.runs.add(e)
	}
	last := &events[len(events)-1]
	a.Result = Result{Version: last.Version, Position: last.Position}
	if a.ID != "" {
		w.key = idemKey(w.key[:0], a.Stream, a.ID)
		w.val = binary.BigEndian.AppendUint64(w.val[:0], last.Version)
		w.val = binary.BigEndian.AppendUint64(w.val, last.Position)
		w.addSide(w.key, w.val)
		w.ids[idemKeyT{a.Stream, a.ID}] = a.Result
	}
	w.versions[a.Stream] = last.Version
}

// stageTx stages a transaction into the open round f: the watched
// versions are checked, then every append is decided on top of the ones
// before it, and only when all of them pass are they written.
func (l *Log) stageTx(f *flight, tx *Tx) {
	tx.Moved, tx.Refused = false, -1
	for i, a := range tx.Appends {
		a.Result = Result{}
		if err := l.validate(a); err != nil {
			a.Result.Err = err
			tx.abort(i)
			return
		}
	}
	if f.failed != nil {
		failAll(tx.Appends, f.failed)
		failOps(tx.Ops, f.failed)
		return
	}
	for _, wv := range tx.Watch {
		cur, err := l.current(wv.Stream)
		if err != nil {
			failAll(tx.Appends, err)
			failOps(tx.Ops, err)
			return
		}
		if cur != wv.Version {
			tx.Moved = true
			failOps(tx.Ops, ErrAborted)
			return
		}
	}
	if len(tx.Appends) == 0 {
		l.stageTxOps(tx)
		return
	}
	w := &l.w
	versions := make(map[string]uint64, len(tx.Appends))
	var ids map[idemKeyT]Result
	decided := make([][]Event, len(tx.Appends))
	pos := f.last
	if l.applier != nil {
		l.applier.BeginTx()
	}
	refuse := func(i int, err error) {
		if l.applier != nil {
			l.applier.EndTx(false)
		}
		tx.Appends[i].Result = Result{Err: err}
		tx.abort(i)
	}
	for i, a := range tx.Appends {
		if a.ID != "" {
			r, ok := ids[idemKeyT{a.Stream, a.ID}]
			if !ok {
				var err error
				if r, ok, err = l.idempotent(a.Stream, a.ID); err != nil {
					refuse(i, err)
					return
				}
			}
			if ok {
				r.Duplicate = true
				a.Result = r
				continue
			}
		}
		cur, ok := versions[a.Stream]
		if !ok {
			var err error
			if cur, err = l.current(a.Stream); err != nil {
				refuse(i, err)
				return
			}
		}
		evs, err := l.decide(nil, a, cur, pos, f.now)
		if err != nil {
			refuse(i, err)
			return
		}
		decided[i] = evs
		last := &evs[len(evs)-1]
		pos, versions[a.Stream] = last.Position, last.Version
		if a.ID != "" {
			if ids == nil {
				ids = map[idemKeyT]Result{}
			}
			ids[idemKeyT{a.Stream, a.ID}] = Result{Version: last.Version, Position: last.Position}
		}
	}
	if l.applier != nil {
		l.applier.EndTx(true)
	}
	for i, a := range tx.Appends {
		if decided[i] == nil {
			continue // a duplicate
		}
		l.write(f.batch, a, decided[i])
		f.staged++
		if l.watcher != nil {
			w.roundEvents = append(w.roundEvents, decided[i]...)
		}
	}
	f.last = pos
	l.stageTxOps(tx)
}

// stageTxOps stages a transaction's ops once its appends have passed.
func (l *Log) stageTxOps(tx *Tx) {
	for _, op := range tx.Ops {
		op.Err = l.w.ob.run(op)
	}
}

// idempotent looks up an earlier append with the same stream and ID, first in
// this round, then in the log.
func (l *Log) idempotent(stream, id string) (Result, bool, error) {
	if r, ok := l.w.ids[idemKeyT{stream, id}]; ok {
		return r, true, nil
	}
	v, closer, err := l.db.Get(idemKey(nil, stream, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, err
	}
	defer closer.Close()
	if len(v) != 16 {
		return Result{}, false, fmt.Errorf("%w: idempotency value of %d bytes", ErrCorruptRecord, len(v))
	}
	return Result{Version: binary.BigEndian.Uint64(v), Position: binary.BigEndian.Uint64(v[8:])}, true, nil
}
