package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// Log is the event log. Reads may run from any goroutine; appends are
// serialised by the log's one writer goroutine.
type Log struct {
	dir  string
	opts Options
	db   *pebble.DB
	ro   *readOnly // nil unless opened read-only
	log  *slog.Logger

	last    atomic.Uint64 // position of the newest committed event
	applier Applier
	watcher Watcher

	subs     chan *submission
	closeMu  sync.RWMutex // held for reading while submitting; Close takes it for writing
	roundMu  sync.Mutex   // held while a round or an Exclusive runs: by the writer, or by AppendNow
	closed   bool
	writerWG sync.WaitGroup
	stopSync chan struct{}

	failMu   sync.Mutex
	failed   error
	failedCh chan struct{} // closed when failed is set

	// pebbleErrors rate-limits the errors Pebble reports (faults.go).
	pebbleErrors errorLimiter
	// flushMu orders the flushes flushOrFail starts before Close closes
	// Pebble (dbClosing).
	flushMu   sync.Mutex
	dbClosing bool

	w writerState // touched by the writer goroutine only
	// pipe is the writer's rounds in flight (pipeline.go), and flying is
	// set while there are any, for AppendNow. Under always, the writer
	// asks the syncer for an fdatasync on syncReq and hears on synced.
	pipe    pipeline
	flying  atomic.Bool
	syncReq chan struct{}
	synced  chan error
	// beforeSync, set by tests only, runs before each of the syncer's
	// fdatasyncs; an error from it stands for the fdatasync's.
	beforeSync func() error

	// journal is the write-ahead log (journal.go).
	journal *journal

	// stalling is set while Pebble holds writes back (a memtable flush or
	// compactions behind); stalled is when the last such stall began.
	stalling atomic.Bool
	stalled  atomic.Int64
}

// Open opens or creates the log in dir.
func Open(dir string, opts Options) (*Log, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	l := &Log{
		dir:      dir,
		opts:     opts,
		log:      opts.logger(),
		subs:     make(chan *submission, 1024),
		stopSync: make(chan struct{}),
		failedCh: make(chan struct{}),
	}
	popts := &pebble.Options{
		Cache:        pebble.NewCache(opts.CacheSize),
		MemTableSize: opts.MemTableSize,
		Logger:       pebbleLogger{l},
	}
	popts.EventListener = &pebble.EventListener{
		WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
			l.stalled.Store(time.Now().UnixNano())
			l.stalling.Store(true)
			l.log.Warn("the log's writes are stalled", "reason", info.Reason)
		},
		WriteStallEnd: func() {
			l.stalling.Store(false)
			l.log.Info("the log's writes go on")
		},
	}
	l.listen(popts.EventListener)
	// The journal is the write-ahead log. Pebble still replays a WAL that
	// a format 1 directory left, and flushes it, when it opens.
	popts.DisableWAL = true
	for i := range popts.Levels {
		popts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	defer popts.Cache.Unref()
	db, err := pebble.Open(dir, popts)
	if err != nil {
		return nil, openError(dir, err)
	}
	l.db = db
	format, err := l.checkFormat()
	if err != nil {
		db.Close()
		return nil, err
	}
	last, err := l.findLast()
	if err != nil {
		db.Close()
		return nil, err
	}
	l.journal, last, err = recoverJournal(dir, db, l.flushOrFail, last, opts, l.log)
	if err != nil {
		db.Close()
		return nil, err
	}
	l.last.Store(last)
	// After the journal's replay: the rounds it held were written by the
	// older format too.
	if format < formatVersion {
		if err := l.upgrade(format); err != nil {
			err = errors.Join(err, l.journal.close(false))
			db.Close()
			return nil, err
		}
	}
	l.w.init()
	l.w.tip = last
	if opts.Durability == DurabilityAlways {
		l.syncReq, l.synced = make(chan struct{}, 1), make(chan error, 1)
		l.writerWG.Add(1)
		go l.syncer()
	}
	l.writerWG.Add(1)
	go l.writer()
	if opts.Durability == DurabilityEverySec {
		l.writerWG.Add(1)
		go l.syncEverySecond()
	}
	return l, nil
}

// checkFormat returns the data directory's format, refusing a newer one.
// A new directory gets the current format.
func (l *Log) checkFormat() (int, error) {
	v, err := l.Meta("format")
	if err != nil {
		return 0, err
	}
	if v == nil {
		return formatVersion, l.SetMeta("format", []byte(strconv.Itoa(formatVersion)))
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return 0, fmt.Errorf("eventlog: unreadable format marker %q", v)
	}
	if n > formatVersion {
		return 0, fmt.Errorf("%w: format %d, this foldb reads up to %d", ErrNewerFormat, n, formatVersion)
	}
	return n, nil
}

// upgrade brings a directory of an older format to the current one. Each
// step can be run again: when it is cut short, the format marker is still
// the old one and the next open starts over.
func (l *Log) upgrade(from int) error {
	l.log.Info("upgrading the data directory's format", "from", from, "to", formatVersion)
	if from < 2 {
		// Format 1 also kept each stream's version under its own key;
		// format 2 reads it from the index.
		if err := l.db.DeleteRange([]byte{prefixVersion1}, []byte{prefixVersion1 + 1}, pebble.NoSync); err != nil {
			return err
		}
	}
	if from < 3 {
		if err := l.buildViewIndexes(); err != nil {
			return err
		}
	}
	return l.SetMeta("format", []byte(strconv.Itoa(formatVersion)))
}

// buildViewIndexes writes the category and type indexes of every event
// (format 3), then flushes them: the marker that says they are there is
// written after. What an upgrade cut short left is deleted first.
func (l *Log) buildViewIndexes() error {
	for _, p := range []byte{prefixCategory, prefixType} {
		if err := l.db.DeleteRange([]byte{p}, []byte{p + 1}, pebble.NoSync); err != nil {
			return err
		}
	}
	last := l.LastPosition()
	started := time.Now()
	report := started
	batch := l.db.NewBatch()
	runs := viewRuns{own: true}
	set := func(k, v []byte) { batch.Set(k, v, nil) }
	var done uint64
	commit := func() error {
		err := batch.Commit(pebble.NoSync)
		batch.Close()
		batch = l.db.NewBatch()
		return err
	}
	err := l.Scan(1, last, func(e *Event) error {
		runs.add(e)
		if done++; done%upgradeBatch == 0 {
			runs.flush(false, set)
			if err := commit(); err != nil {
				return err
			}
			if now := time.Now(); now.Sub(report) >= 5*time.Second {
				report = now
				l.log.Info("building the category and type indexes", "events", done, "of", last)
			}
		}
		return nil
	})
	if err == nil {
		runs.flush(true, set)
		err = commit()
	}
	batch.Close()
	if err == nil {
		err = l.flushOrFail()
	}
	if err != nil {
		return fmt.Errorf("eventlog: building the category and type indexes: %w", err)
	}
	l.log.Info("built the category and type indexes", "events", done, "seconds", time.Since(started).Seconds())
	return nil
}

// upgradeBatch is how many events' index keys the upgrade commits at once.
const upgradeBatch = 1 << 16

func (l *Log) findLast() (uint64, error) {
	return l.lastNumber([]byte{prefixEvent}, []byte{prefixEvent + 1})
}

// lastNumber is the big-endian number that ends the last key starting with
// prefix (every such key is the prefix and 8 bytes); upper bounds those
// keys. It is 0 when there is none.
func (l *Log) lastNumber(prefix, upper []byte) (uint64, error) {
	it, err := l.newIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.Last() {
		return 0, it.Error()
	}
	k := it.Key()
	if len(k) != len(prefix)+8 {
		return 0, fmt.Errorf("%w: malformed key %x", ErrCorruptRecord, k)
	}
	return binary.BigEndian.Uint64(k[len(prefix):]), nil
}

// newIter and lookup read db, or for a log opened read-only db with the
// journal's newer records laid over it (readonly.go). They call each one
// as itself, not through pebble.Reader, which would put every iterator's
// options on the heap.
func (l *Log) newIter(o *pebble.IterOptions) (*pebble.Iterator, error) {
	if l.ro != nil && l.ro.batch != nil {
		return l.ro.batch.NewIter(o)
	}
	return l.db.NewIter(o)
}

func (l *Log) lookup(key []byte) ([]byte, io.Closer, error) {
	if l.ro != nil && l.ro.batch != nil {
		return l.ro.batch.Get(key)
	}
	return l.db.Get(key)
}

// Close stops the writer after the appends already submitted, flushes Pebble
// (which empties the journal) and closes it. It is safe to call more than
// once. After the log failed it flushes nothing and returns the error that
// failed it, so that a process stopping then says so; and it gives up after
// failedCloseGrace on what is still stuck behind a disk that is gone (a
// round held in a write stall), leaving the journal as it is for the next
// open.
func (l *Log) Close() error {
	if l.ro != nil {
		return l.ro.close(l.db)
	}
	l.closeMu.Lock()
	if l.closed {
		l.closeMu.Unlock()
		return nil
	}
	l.closed = true
	close(l.subs)
	close(l.stopSync)
	l.closeMu.Unlock()
	done := make(chan error, 1)
	go func() { done <- l.close() }()
	select {
	case err := <-done:
		return err
	case <-l.failedCh:
	}
	select {
	case err := <-done:
		return err
	case <-time.After(failedCloseGrace):
		return fmt.Errorf("%w (closing gave up after %s)", l.Err(), failedCloseGrace)
	}
}

// failedCloseGrace is how long Close waits, once the log has failed, for
// the writer and Pebble to stop.
const failedCloseGrace = 5 * time.Second

func (l *Log) close() error {
	l.writerWG.Wait()
	// After a failed write the memtables may hold what the journal lacks;
	// they are not flushed, and the journal is kept for the next open.
	flushed := false
	err := l.flushOrFail()
	if err == nil {
		flushed = true
	}
	err = errors.Join(err, l.journal.close(flushed))
	l.flushMu.Lock()
	l.dbClosing = true
	l.flushMu.Unlock()
	err = errors.Join(err, l.db.Close())
	if failed := l.Err(); failed != nil && !errors.Is(err, ErrFailed) {
		err = errors.Join(failed, err) // it failed while closing
	}
	return err
}

// LastPosition is the position of the newest committed event (0 when empty).
func (l *Log) LastPosition() uint64 { return l.last.Load() }

// Durability is the log's durability setting.
func (l *Log) Durability() Durability { return l.opts.Durability }

// Options returns the options the log was opened with.
func (l *Log) Options() Options { return l.opts }

// Err is the error that stopped writes, or nil.
func (l *Log) Err() error {
	l.failMu.Lock()
	defer l.failMu.Unlock()
	return l.failed
}

func (l *Log) fail(err error) error {
	l.failMu.Lock()
	defer l.failMu.Unlock()
	if l.failed == nil {
		l.failed = fmt.Errorf("%w: %v", ErrFailed, err)
		l.log.Error("log write failed; refusing writes until restart", "err", err)
		if l.failedCh != nil {
			close(l.failedCh)
		}
	}
	return l.failed
}

// Version is the stream's current version, 0 when it does not exist: the
// version of its newest index entry.
//
// Only durable, published events count: under always the writer may have
// staged a round whose fsync has not ended yet (append.go), whose index
// entries Pebble already holds; they are stepped over.
func (l *Log) Version(stream string) (uint64, error) {
	prefix := indexPrefix(nil, stream)
	it, err := l.newIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	last := l.last.Load()
	for ok := it.Last(); ok; ok = it.Prev() {
		k, v := it.Key(), it.Value()
		if len(k) != len(prefix)+8 || len(v) != 8 {
			return 0, fmt.Errorf("%w: malformed index entry %x", ErrCorruptRecord, k)
		}
		if binary.BigEndian.Uint64(v) <= last {
			return binary.BigEndian.Uint64(k[len(prefix):]), nil
		}
	}
	return 0, it.Error()
}

// stagedVersion is the writer's view of a stream's version: its newest
// index entry, durable or in a round still being fsynced.
//
// A stream's versions start at 1 and its index entries are never deleted,
// so a stream with no entry for version 1 is new: a point lookup, which
// Pebble answers from its bloom filters for a key it does not hold, says
// so at a fraction of an iterator's cost (creating it, seeking, closing).
func (l *Log) stagedVersion(stream string) (uint64, error) {
	l.w.vkey = indexKey(l.w.vkey[:0], stream, 1)
	_, closer, err := l.lookup(l.w.vkey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	closer.Close()
	prefix := indexPrefix(nil, stream)
	return l.lastNumber(prefix, prefixEnd(prefix))
}

func (l *Log) getUint64(key []byte) (uint64, error) {
	v, closer, err := l.lookup(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(v) < 8 {
		return 0, fmt.Errorf("%w: short value under %q", ErrCorruptRecord, key)
	}
	return binary.BigEndian.Uint64(v), nil
}

// Meta returns a metadata value, or nil when it is not set.
func (l *Log) Meta(name string) ([]byte, error) {
	v, closer, err := l.lookup(metaKey(name))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return append([]byte{}, v...), nil
}

// SetMeta stores a metadata value durably (flushed to Pebble's tables,
// whatever the durability): metadata does not go through the journal.
func (l *Log) SetMeta(name string, value []byte) error {
	if err := l.db.Set(metaKey(name), value, pebble.NoSync); err != nil {
		return err
	}
	return l.flushOrFail()
}

// syncEverySecond is the everysec durability: one journal fsync a second.
// A failed fsync stops writes, as under always.
func (l *Log) syncEverySecond() {
	defer l.writerWG.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-l.stopSync:
			return
		case <-t.C:
			if l.Err() != nil {
				continue
			}
			if err := l.journal.sync(); err != nil {
				l.fail(err)
			}
		}
	}
}

// Stats are figures for INFO.
type Stats struct {
	LastPosition uint64
	DiskBytes    uint64
	Rounds       uint64 // commit rounds (each fsynced under always, but a round of lazy op writes)
	Appends      uint64 // appends committed
	Flushes      uint64 // Pebble memtable flushes since the log opened
}

// Stats returns the log's figures.
func (l *Log) Stats() Stats {
	m := l.db.Metrics()
	return Stats{
		LastPosition: l.LastPosition(),
		DiskBytes:    m.DiskSpaceUsage() + l.journal.diskBytes(),
		Rounds:       l.w.rounds.Load(),
		Appends:      l.w.appends.Load(),
		Flushes:      uint64(m.Flush.Count),
	}
}

// pebbleLogger is Pebble's logger. Its errors are rate-limited; one that
// an operating-system error caused fails the log. A Fatalf that such an
// error caused fails the log instead of the process: Pebble returns the
// error after it (a MANIFEST that cannot be written). Any other Fatalf is a
// broken invariant, and panics.
type pebbleLogger struct{ l *Log }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.log.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.pebbleError(fmt.Sprintf(format, args...), osError(args))
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if err := osError(args); err != nil {
		p.l.pebbleError(msg, err)
		return
	}
	p.l.log.Error(msg, "component", "pebble")
	panic(msg)
}

// Flush writes Pebble's memtables to its tables and frees them, so that
// the memory an idle log holds is its caches', not the last appends'.
// Rounds keep being appended meanwhile. After Close it returns ErrClosed;
// once the log has failed, its error.
func (l *Log) Flush() error {
	if l.ro != nil {
		return nil
	}
	return l.flushOrFail()
}
