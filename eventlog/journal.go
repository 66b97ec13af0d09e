package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/foldb/foldb/internal/dirsync"
)

// The journal is the log's write-ahead log; its files, records and
// recovery are in doc.go. Pebble runs with its own WAL disabled: a round's
// batch is first written (and under always fdatasynced) to the journal by
// the goroutine that commits the round, and only then applied to Pebble's
// memtable. This is what Redis does with its AOF: the write and the fsync
// happen on the committing thread, with no hand-off to a flusher goroutine
// and back, which on the bench machine was most of the time an append with
// one client spent before its fsync started (BENCHMARKS.md).
//
// A segment is fallocated to its full size when it is created, so that a
// round's fdatasync writes no new file length, and zeros are written ahead
// of the records (zeroAhead), so that it writes no block's change from
// unwritten to written either. When a segment is full, it is synced and
// closed and the next one is created; then, off the append path, the
// retirer has Pebble flush its memtables and deletes the segments before
// the new one.
//
// A round of ops only (Op: consumer groups) holds no event: its record has
// first = last+1, "after position last" (doc.go; readSegment says why
// replaying it is harmless).
type journal struct {
	dir        string
	durability Durability
	segSize    int64
	log        *slog.Logger

	// mu guards the open segment against the everysec syncer; the
	// writer (or AppendNow, under roundMu) is the only one that writes.
	mu  sync.Mutex
	f   *os.File
	num uint64 // the open segment's number
	off int64  // where the next record goes
	// zeroed is how far the segment has been written with zeros: records
	// go only where zeros were written first (zeroAhead).
	zeroed int64
	dirty  bool // written since the last fdatasync
	buf    []byte
	// syncing is set while sync fdatasyncs the open segment without mu; a
	// rotation then leaves closing it to sync, in closeAfterSync.
	syncing        bool
	closeAfterSync *os.File

	// watch sees the open segment or the folder deleted (folderWatch).
	watch *folderWatch

	// retire gets the number of a new segment: every older one may go
	// once Pebble has flushed.
	retire  chan uint64
	retired sync.WaitGroup
}

const (
	journalDir       = "journal"
	journalExt       = ".journal"
	journalHeader    = 8  // length, crc
	journalPositions = 16 // first, last
	minSegmentSize   = 1 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func segmentName(num uint64) string { return fmt.Sprintf("%016d%s", num, journalExt) }

// segments lists the journal's segment numbers in order.
func segments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var nums []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), journalExt)
		if !ok || e.IsDir() {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("eventlog: unexpected file %s in the journal", e.Name())
		}
		nums = append(nums, n)
	}
	slices.Sort(nums)
	return nums, nil
}

// recoverJournal applies to db every journal record after position last
// and returns the new last position. It then flushes Pebble (with flush),
// deletes the old segments, opens a new one and starts the retirer; close
// stops it.
func recoverJournal(dir string, db *pebble.DB, flush func() error, last uint64, opts Options, log *slog.Logger) (*journal, uint64, error) {
	jdir := filepath.Join(dir, journalDir)
	if _, err := os.Stat(jdir); errors.Is(err, fs.ErrNotExist) {
		// A new journal folder must survive a power loss like its files.
		if err := os.Mkdir(jdir, 0o755); err != nil {
			return nil, 0, fmt.Errorf("eventlog: journal: %w", err)
		}
		if err := dirsync.Sync(dir); err != nil {
			return nil, 0, fmt.Errorf("eventlog: journal: %w", err)
		}
	}
	nums, err := segments(jdir)
	if err != nil {
		return nil, 0, fmt.Errorf("eventlog: journal: %w", err)
	}
	from := last
	var next uint64 = 1
	for _, num := range nums {
		next = num + 1
		last, err = replaySegment(filepath.Join(jdir, segmentName(num)), db, last, log)
		if err != nil {
			return nil, 0, err
		}
	}
	if len(nums) > 0 {
		// What was replayed is only in memtables; the segments go once it
		// is in tables.
		if err := flush(); err != nil {
			return nil, 0, fmt.Errorf("eventlog: journal: flush after replay: %w", err)
		}
		for _, num := range nums {
			if err := os.Remove(filepath.Join(jdir, segmentName(num))); err != nil {
				return nil, 0, fmt.Errorf("eventlog: journal: %w", err)
			}
		}
		log.Info("journal replayed", "segments", len(nums), "events", last-from, "last_position", last)
	}
	j := &journal{
		dir:        jdir,
		durability: opts.Durability,
		segSize:    max(int64(opts.MemTableSize), minSegmentSize),
		log:        log,
		retire:     make(chan uint64, 16),
		watch:      watchFolder(jdir),
	}
	if err := j.create(next); err != nil {
		return nil, 0, err
	}
	j.retired.Add(1)
	go j.retirer(flush)
	return j, last, nil
}

// replaySegment applies one segment's records after position last.
func replaySegment(path string, db *pebble.DB, last uint64, log *slog.Logger) (uint64, error) {
	seg, last, err := readSegment(path, last, func(_, _ uint64, repr []byte) error {
		b := db.NewBatch()
		defer b.Close()
		if err := b.SetRepr(slices.Clone(repr)); err != nil {
			return err
		}
		return db.Apply(b, pebble.NoSync)
	})
	if err == nil && seg.Torn >= 0 {
		log.Warn("journal: dropping a record that was being written when foldb stopped (never acknowledged)",
			"segment", seg.Name, "offset", seg.Torn)
	}
	return last, err
}

// SegmentRecords is what a journal segment holds.
type SegmentRecords struct {
	Name    string
	Records int // whole records
	// Behind counts the records whose events Pebble's tables already hold.
	Behind int
	// First and Last are the positions of the records after those, which
	// an open applies (0, 0: none).
	First, Last uint64
	// Torn is the offset of a record cut short or damaged by a crash in
	// the middle of its write, dropped with the rest of the segment; -1
	// when the segment ends cleanly.
	Torn int64
}

// readSegment reads a segment's records in order and hands each one after
// position last to apply, with its positions and its batch (valid during
// the call only); it returns the new last position. A record whose
// positions do not follow last is ErrCorruptRecord.
func readSegment(path string, last uint64, apply func(first, end uint64, repr []byte) error) (SegmentRecords, uint64, error) {
	seg := SegmentRecords{Name: filepath.Base(path), Torn: -1}
	data, err := os.ReadFile(path)
	if err != nil {
		return seg, 0, fmt.Errorf("eventlog: journal: %w", err)
	}
	off := 0
	for off+journalHeader <= len(data) {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		if n == 0 {
			break
		}
		body := data[off+journalHeader:]
		if n < journalPositions || n > len(body) || crc32.Checksum(body[:n], crcTable) != binary.LittleEndian.Uint32(data[off+4:]) {
			seg.Torn = int64(off)
			break
		}
		first := binary.LittleEndian.Uint64(body)
		end := binary.LittleEndian.Uint64(body[8:])
		off += journalHeader + n
		seg.Records++
		if first == end+1 {
			// A round of ops only, "after position end".
			switch {
			case end < last:
				seg.Behind++ // an event after it is in Pebble's tables, so it is too
				continue
			case end > last:
				return seg, 0, fmt.Errorf("%w: the journal's record after position %d follows position %d (segment %s)",
					ErrCorruptRecord, end, last, seg.Name)
			}
			// end == last: Pebble's tables may or may not hold it. Its
			// batch, like every round's, only sets keys to values decided
			// when it was staged and deletes keys or ranges of keys (no
			// read, no merge), so applying it again is harmless: replaying
			// rounds in order from any round at or before the first one the
			// tables lack leaves each key with the value of the last round
			// that wrote it, as the tables plus the missing rounds would.
			// Every round from this record on is applied, so the replay
			// starts at or before that first missing round.
			if err := apply(first, end, body[journalPositions:n]); err != nil {
				return seg, 0, fmt.Errorf("eventlog: journal: ops after position %d: %w", end, err)
			}
			continue
		}
		if end <= last {
			seg.Behind++ // already in Pebble's tables
			continue
		}
		if first != last+1 || end < first {
			return seg, 0, fmt.Errorf("%w: the journal's record for positions %d-%d follows position %d (segment %s)",
				ErrCorruptRecord, first, end, last, seg.Name)
		}
		if err := apply(first, end, body[journalPositions:n]); err != nil {
			return seg, 0, fmt.Errorf("eventlog: journal: positions %d-%d: %w", first, end, err)
		}
		if seg.First == 0 {
			seg.First = first
		}
		seg.Last, last = end, end
	}
	return seg, last, nil
}

// create makes segment num the open one. The directory is synced so that
// the new file survives a power loss.
func (j *journal) create(num uint64) error {
	path := filepath.Join(j.dir, segmentName(num))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err == nil {
		err = preallocate(f, j.segSize)
	}
	if err == nil {
		err = dirsync.Sync(j.dir)
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		return fmt.Errorf("eventlog: journal: %w", err)
	}
	j.f, j.num, j.off, j.zeroed, j.dirty = f, num, 0, 0, false
	return nil
}

// write adds a round's batch, holding positions first to last, and with
// syncNow fdatasyncs it; otherwise a later sync does. An error leaves the
// journal unusable: the log fails.
func (j *journal) write(first, last uint64, batch []byte, syncNow bool) error {
	n := journalPositions + len(batch)
	if n > math.MaxUint32 {
		return fmt.Errorf("eventlog: a round of %d bytes is more than the journal's records hold", len(batch))
	}
	size := int64(journalHeader + n)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("eventlog: journal closed")
	}
	if j.off > 0 && j.off+size > j.segSize {
		if err := j.rotate(); err != nil {
			return err
		}
	}
	buf := slices.Grow(j.buf[:0], int(size))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(n))
	buf = binary.LittleEndian.AppendUint32(buf, 0)
	buf = binary.LittleEndian.AppendUint64(buf, first)
	buf = binary.LittleEndian.AppendUint64(buf, last)
	buf = append(buf, batch...)
	binary.LittleEndian.PutUint32(buf[4:], crc32.Checksum(buf[journalHeader:], crcTable))
	j.buf = buf
	if err := j.zeroFor(size); err != nil {
		return err
	}
	if _, err := j.f.WriteAt(buf, j.off); err != nil {
		return fmt.Errorf("eventlog: journal write: %w", err)
	}
	j.off += size
	if syncNow {
		if err := fdatasync(j.f); err != nil {
			return fmt.Errorf("eventlog: journal fdatasync: %w", err)
		}
		return j.linked(j.num)
	}
	j.dirty = true
	return nil
}

// linked reports an error when segment num, just fdatasynced, or the
// journal's folder was deleted: what it holds is lost when it is closed.
// Called by one goroutine at a time (the writer's syncs are one at a time;
// the everysec syncer's exclude the writer's).
func (j *journal) linked(num uint64) error {
	if j.watch.removed(segmentName(num)) {
		return fmt.Errorf("eventlog: journal fdatasync: %s: %w (was the data folder removed?)", filepath.Join(j.dir, segmentName(num)), fs.ErrNotExist)
	}
	return nil
}

// zeroAhead is how much of a segment is written with zeros at a time,
// ahead of the records. fallocate leaves a segment's blocks allocated but
// marked unwritten, and the first write into a block makes ext4 record the
// block as written, a metadata change that the round's fdatasync must
// write too: for rounds of 8 KiB (50 clients), a pwrite and fdatasync took
// clearly longer on a fallocated file than with zeros written first, on the
// bench machine (BENCHMARKS.md, "Zeros ahead of the journal's records").
// Zeros written 64 KiB at a time move
// that cost to one round in eight of that size, and keep the round that
// writes them short (1 MiB at a time did as well at 50 clients, with
// longer stalls for the round that paid).
const zeroAhead = 64 << 10

var zeros = make([]byte, zeroAhead)

// zeroFor writes zeros ahead of the next record of size bytes where none
// were written yet; the round's fdatasync then takes them too. Zeros read
// as the end of the segment, as its unwritten tail does.
func (j *journal) zeroFor(size int64) error {
	end := max(j.segSize, j.off+size) // not past the segment's length, unless the record is
	for j.zeroed < j.off+size {
		n := min(zeroAhead, end-j.zeroed)
		if _, err := j.f.WriteAt(zeros[:n], j.zeroed); err != nil {
			return fmt.Errorf("eventlog: journal write: %w", err)
		}
		j.zeroed += n
	}
	return nil
}

// rotate syncs and closes the full segment and opens the next; the old one
// is deleted once Pebble has flushed. Called with mu held.
func (j *journal) rotate() error {
	if err := fdatasync(j.f); err != nil {
		return fmt.Errorf("eventlog: journal fdatasync: %w", err)
	}
	if j.syncing {
		j.closeAfterSync = j.f
	} else if err := j.f.Close(); err != nil {
		return fmt.Errorf("eventlog: journal: %w", err)
	}
	j.f = nil
	if err := j.create(j.num + 1); err != nil {
		return err
	}
	select {
	case j.retire <- j.num:
	default: // a retirement is pending; it will take this segment too
	}
	return nil
}

// sync fdatasyncs what was written since the last sync (everysec). It does
// not hold mu during the fdatasync, so rounds go on meanwhile.
func (j *journal) sync() error {
	j.mu.Lock()
	f := j.f
	if f == nil || !j.dirty {
		j.mu.Unlock()
		return nil
	}
	j.dirty, j.syncing = false, true
	num := j.num
	j.mu.Unlock()
	err := fdatasync(f)
	if err == nil {
		err = j.linked(num)
	}
	j.mu.Lock()
	j.syncing = false
	if j.closeAfterSync != nil {
		err = errors.Join(err, j.closeAfterSync.Close())
		j.closeAfterSync = nil
	}
	j.mu.Unlock()
	if err != nil {
		return fmt.Errorf("eventlog: journal fdatasync: %w", err)
	}
	return nil
}

// retirer deletes full segments once Pebble has flushed what they hold.
// The round that filled a segment was applied to a memtable before the
// next segment was created, so a flush that starts after that covers it.
func (j *journal) retirer(flush func() error) {
	defer j.retired.Done()
	for range j.retire {
		j.mu.Lock()
		current := j.num
		j.mu.Unlock()
		if err := flush(); err != nil {
			j.log.Warn("journal: flush failed; full segments are kept", "err", err)
			continue
		}
		if err := j.removeBefore(current); err != nil {
			j.log.Warn("journal: removing full segments", "err", err)
		}
	}
}

// removeBefore deletes the segments numbered below num.
func (j *journal) removeBefore(num uint64) error {
	nums, err := segments(j.dir)
	if err != nil {
		return err
	}
	for _, n := range nums {
		if n >= num {
			break
		}
		if err := os.Remove(filepath.Join(j.dir, segmentName(n))); err != nil {
			return err
		}
	}
	return nil
}

// close stops the retirer and closes the open segment. When flushed is
// true (Pebble holds everything), every segment is deleted; otherwise the
// open one is synced and all are kept for the next open to replay.
func (j *journal) close(flushed bool) error {
	close(j.retire)
	j.retired.Wait()
	j.mu.Lock()
	defer j.mu.Unlock()
	defer j.watch.close()
	if j.f == nil {
		return nil
	}
	var err error
	if !flushed {
		err = fdatasync(j.f)
	}
	err = errors.Join(err, j.f.Close())
	j.f = nil
	if flushed && err == nil {
		err = j.removeBefore(j.num + 1)
	}
	if err != nil {
		return fmt.Errorf("eventlog: journal: %w", err)
	}
	return nil
}

// diskBytes is the space the segments take, allocated or written; none
// for a log opened read-only, which has no journal of its own.
func (j *journal) diskBytes() uint64 {
	if j == nil {
		return 0
	}
	nums, err := segments(j.dir)
	if err != nil {
		return 0
	}
	var total uint64
	for _, n := range nums {
		if fi, err := os.Stat(filepath.Join(j.dir, segmentName(n))); err == nil {
			total += uint64(fi.Size())
		}
	}
	return total
}
