package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/batchrepr"
)

// ErrLocked is returned by Open and OpenReadOnly when another process
// holds the data folder's lock: a server is running on it.
var ErrLocked = errors.New("eventlog: the data folder is locked by another process")

// openError words a failed pebble.Open. Pebble locks <dir>/LOCK with
// fcntl(F_SETLK), which fails with EAGAIN (EACCES on some systems) when
// another process holds the lock; failing to open the file is a
// *fs.PathError instead, and not a lock held.
func openError(dir string, err error) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) && (errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES)) {
		return fmt.Errorf("%w: %s: %w", ErrLocked, dir, err)
	}
	return fmt.Errorf("eventlog: open %s: %w", dir, err)
}

// ReadOnlyReport is what OpenReadOnly found in a data folder.
type ReadOnlyReport struct {
	// Format is the folder's format: formatVersion, or an older one that
	// a server's next open upgrades; 0 when it has no marker yet.
	Format int
	// Tables is the last position Pebble holds without the journal (in
	// its tables, or in the WAL a folder of format 1 left).
	Tables uint64
	// Segments are the journal's, in order; the events past Tables that
	// their records hold are read from them.
	Segments []SegmentRecords
}

// readOnly is the state of a log opened read-only.
type readOnly struct {
	// batch holds the journal's records past Pebble's last position,
	// indexed so that reads see them over Pebble's; nil when there are
	// none.
	batch *pebble.Batch
	once  sync.Once
	err   error
	// format is the folder's, which a read-only open does not upgrade: one
	// before 3 has no category and type indexes.
	format int
}

func (r *readOnly) close(db *pebble.DB) error {
	r.once.Do(func() {
		if r.batch != nil {
			r.err = r.batch.Close()
		}
		r.err = errors.Join(r.err, db.Close())
	})
	return r.err
}

// OpenReadOnly opens the log in dir for reading only, as foldb verify
// does: nothing in the folder is written, created or deleted. Pebble is
// opened read-only (it takes its lock, on <dir>/LOCK, which holds no
// data); the journal's segments are read, their checksums and positions
// checked as an open checks them, and the events of their records past
// Pebble's last position are laid over Pebble in memory instead of being
// applied to it: the log reads as a server's next open would make it,
// and the segments stay. An older format is read as it is, not upgraded.
//
// The log serves reads (Scan, Read, Event, Range, Version, Meta, Verify);
// appends and Exclusive get ErrClosed, and SetMeta Pebble's read-only
// error.
func OpenReadOnly(dir string, opts Options) (*Log, ReadOnlyReport, error) {
	var rep ReadOnlyReport
	if err := opts.Validate(); err != nil {
		return nil, rep, err
	}
	l := &Log{dir: dir, opts: opts, log: opts.logger(), closed: true, ro: &readOnly{}}
	popts := &pebble.Options{
		ReadOnly:     true,
		Cache:        pebble.NewCache(opts.CacheSize),
		MemTableSize: opts.MemTableSize,
		Logger:       pebbleLogger{l},
		DisableWAL:   true, // as Open has it; a format 1 WAL is still replayed, in memory
	}
	defer popts.Cache.Unref()
	db, err := pebble.Open(dir, popts)
	if errors.Is(err, pebble.ErrDBDoesNotExist) {
		return nil, rep, fmt.Errorf("eventlog: %s holds no log", dir)
	}
	if err != nil {
		return nil, rep, openError(dir, err)
	}
	l.db = db
	if err := l.readOnlyOpen(dir, &rep); err != nil {
		l.Close()
		return nil, rep, err
	}
	return l, rep, nil
}

func (l *Log) readOnlyOpen(dir string, rep *ReadOnlyReport) error {
	v, err := l.Meta("format")
	if err != nil {
		return err
	}
	if v != nil {
		if rep.Format, err = strconv.Atoi(string(v)); err != nil {
			return fmt.Errorf("eventlog: unreadable format marker %q", v)
		}
	}
	if rep.Format > formatVersion {
		return fmt.Errorf("%w: format %d, this foldb reads up to %d", ErrNewerFormat, rep.Format, formatVersion)
	}
	l.ro.format = rep.Format
	last, err := l.findLast()
	if err != nil {
		return err
	}
	rep.Tables = last
	jdir := filepath.Join(dir, journalDir)
	nums, err := segments(jdir)
	if errors.Is(err, fs.ErrNotExist) {
		nums, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("eventlog: journal: %w", err)
	}
	for _, num := range nums {
		seg, end, err := readSegment(filepath.Join(jdir, segmentName(num)), last, l.overlay)
		rep.Segments = append(rep.Segments, seg)
		if err != nil {
			return err
		}
		last = end
	}
	l.last.Store(last)
	return nil
}

// overlay lays a journal record's batch over Pebble, once its events are
// checked to be the record's positions.
func (l *Log) overlay(first, last uint64, repr []byte) error {
	if err := checkRecordEvents(repr, first, last); err != nil {
		return err
	}
	if l.ro.batch == nil {
		l.ro.batch = l.db.NewIndexedBatch()
	}
	b := l.db.NewBatch()
	defer b.Close()
	// A closed batch's buffer is reused: it must not be the segment's.
	if err := b.SetRepr(slices.Clone(repr)); err != nil {
		return err
	}
	return l.ro.batch.Apply(b, nil)
}

// checkRecordEvents checks that a journal record's batch sets an event at
// each of its positions first..last and at no other.
func checkRecordEvents(repr []byte, first, last uint64) error {
	h, ok := batchrepr.ReadHeader(repr)
	if !ok {
		return fmt.Errorf("%w: a batch of %d bytes", ErrCorruptRecord, len(repr))
	}
	// A record of ops only has first = last+1: no event at all.
	if last+1-first > uint64(h.Count) { // more positions than the batch has keys
		return fmt.Errorf("%w: %d keys for %d events", ErrCorruptRecord, h.Count, last+1-first)
	}
	seen := make([]bool, last+1-first)
	r := batchrepr.Read(repr)
	for {
		kind, key, _, ok, err := r.Next()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCorruptRecord, err)
		}
		if !ok {
			break
		}
		if len(key) == 0 || key[0] != prefixEvent {
			continue
		}
		if len(key) != 9 || kind != pebble.InternalKeyKindSet {
			return fmt.Errorf("%w: malformed event key %x", ErrCorruptRecord, key)
		}
		pos := binary.BigEndian.Uint64(key[1:])
		if pos < first || pos > last || seen[pos-first] {
			return fmt.Errorf("%w: an event at position %d in the record for %d-%d", ErrCorruptRecord, pos, first, last)
		}
		seen[pos-first] = true
	}
	if i := slices.Index(seen, false); i >= 0 {
		return fmt.Errorf("%w: no event at position %d in the record for %d-%d", ErrCorruptRecord, first+uint64(i), first, last)
	}
	return nil
}

// JournalEvents is how many events the journal holds past Pebble's tables.
func (r ReadOnlyReport) JournalEvents() uint64 {
	var n uint64
	for _, s := range r.Segments {
		if s.Last > 0 {
			n += s.Last - s.First + 1
		}
	}
	return n
}

// JournalTorn reports whether a segment ends with a record that a crash cut
// short (never acknowledged; the next open drops it).
func (r ReadOnlyReport) JournalTorn() bool {
	return slices.ContainsFunc(r.Segments, func(s SegmentRecords) bool { return s.Torn >= 0 })
}

// FormatVersion is the data folder format this foldb writes.
const FormatVersion = formatVersion
