package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit"

	"github.com/cockroachdb/pebble/v2"
)

func appendN(t *testing.T, l *Log, n int, data string) {
	t.Helper()
	for i := range n {
		r := appendOne(l, Append{Stream: "acct:" + strconv.Itoa(i%7), ID: fmt.Sprint("id", l.LastPosition()), Events: []Proposed{ev("A", data)}})
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
}

// checkLog reopens dir and checks that it holds want events that verify,
// then closes it.
func checkLog(t *testing.T, dir string, opts Options, want uint64) {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := l.LastPosition(); got != want {
		t.Fatalf("last position %d, want %d", got, want)
	}
	if rep, err := l.Verify(nil); err != nil || rep.Events != want {
		t.Fatalf("verify %+v, %v", rep, err)
	}
}

func journalFiles(t *testing.T, dir string) []uint64 {
	t.Helper()
	nums, err := segments(filepath.Join(dir, journalDir))
	if err != nil {
		t.Fatal(err)
	}
	return nums
}

// TestJournalAfterCrash: under every durability, a crash image of an open
// log has every answered append (the process died, the OS kept its
// writes); it takes new appends and reopens again. A clean close leaves an
// empty journal.
func TestJournalAfterCrash(t *testing.T) {
	for _, d := range []Durability{DurabilityAlways, DurabilityEverySec, DurabilityNone} {
		t.Run(d.String(), func(t *testing.T) {
			opts := DefaultOptions()
			opts.Durability = d
			dir := t.TempDir()
			l, err := Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, l, 200, `{"n":1}`)
			if j := l.journal; j.zeroed < j.off || j.zeroed > j.segSize {
				t.Fatalf("zeros written to %d with records to %d in a segment of %d", j.zeroed, j.off, j.segSize)
			}
			nums := journalFiles(t, dir)
			if len(nums) != 1 {
				t.Fatalf("journal segments %v, want one", nums)
			}
			if runtime.GOOS == "linux" {
				fi, err := os.Stat(filepath.Join(dir, journalDir, segmentName(nums[0])))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Size() < int64(opts.MemTableSize) {
					t.Logf("segment not preallocated (%d bytes): file system without fallocate?", fi.Size())
				}
			}
			crash := testkit.CrashImage(t, dir)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if nums := journalFiles(t, dir); len(nums) != 0 {
				t.Fatalf("journal segments %v after a clean close", nums)
			}
			checkLog(t, dir, opts, 200)

			l, err = Open(crash, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := l.LastPosition(); got != 200 {
				t.Fatalf("last position %d after the crash, want 200", got)
			}
			if r := appendOne(l, Append{Stream: "acct:4", ID: "id4", Events: []Proposed{ev("A", `{}`)}}); !r.Duplicate || r.Position != 5 {
				t.Fatalf("idempotency lost in the crash: %+v", r)
			}
			if r := appendOne(l, Append{Stream: "acct:z", Events: []Proposed{ev("A", `{}`)}}); r.Err != nil || r.Position != 201 {
				t.Fatalf("append after the crash: %+v", r)
			}
			again := testkit.CrashImage(t, crash)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			checkLog(t, crash, opts, 201)
			checkLog(t, again, opts, 201)
		})
	}
}

// crashedSegment appends n events to a new log, takes a crash image of it
// and returns the image's folder, its journal segment and what that holds.
func crashedSegment(t *testing.T, opts Options, n int) (crash, path string, data []byte) {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, n, `{"n":1}`)
	crash = testkit.CrashImage(t, dir)
	path = filepath.Join(crash, journalDir, segmentName(journalFiles(t, crash)[0]))
	data, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return crash, path, data
}

// TestJournalTornRecord: a record cut short or damaged by a crash in the
// middle of its write is dropped with the rest of its segment; every record
// before it is kept.
func TestJournalTornRecord(t *testing.T) {
	for _, damage := range []string{"checksum", "cut"} {
		t.Run(damage, func(t *testing.T) {
			opts := DefaultOptions()
			crash, path, data := crashedSegment(t, opts, 50)
			// Find the last record.
			off, lastOff := 0, 0
			for {
				n := int(binary.LittleEndian.Uint32(data[off:]))
				if n == 0 {
					break
				}
				lastOff = off
				off += journalHeader + n
			}
			switch damage {
			case "checksum":
				data[off-1] ^= 0xff
			case "cut":
				clear(data[off-3 : off])
				data = data[:off-3]
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if lastOff == 0 {
				t.Fatal("one record in the segment")
			}
			checkLog(t, crash, opts, 49)
		})
	}
}

// TestJournalGapRefused: a journal that skips positions Pebble lacks is
// refused, not opened with a hole.
func TestJournalGapRefused(t *testing.T) {
	opts := DefaultOptions()
	crash, path, data := crashedSegment(t, opts, 10)
	// Move the first record's positions forward by one.
	binary.LittleEndian.PutUint64(data[journalHeader:], 2)
	binary.LittleEndian.PutUint64(data[journalHeader+8:], 2)
	n := binary.LittleEndian.Uint32(data)
	binary.LittleEndian.PutUint32(data[4:], crc32.Checksum(data[journalHeader:journalHeader+int(n)], crcTable))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(crash, opts); !errors.Is(err, ErrCorruptRecord) {
		t.Fatalf("got %v, want ErrCorruptRecord", err)
	}
}

// TestJournalSegments: full segments are synced, replaced and, once Pebble
// has flushed, deleted; a crash image taken across segments has every
// event. Under everysec the once-a-second sync runs beside the rotations.
func TestJournalSegments(t *testing.T) {
	for _, d := range []Durability{DurabilityAlways, DurabilityEverySec, DurabilityNone} {
		t.Run(d.String(), func(t *testing.T) {
			opts := DefaultOptions()
			opts.Durability = d
			opts.MemTableSize = minSegmentSize
			dir := t.TempDir()
			l, err := Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			big := `{"pad":"` + strings.Repeat("x", 4000) + `"}`
			appendN(t, l, 1000, big) // about 4 MB: four segments or more
			nums := journalFiles(t, dir)
			if nums[len(nums)-1] < 4 {
				t.Fatalf("segments %v after 4 MB of appends of 1 MiB segments", nums)
			}
			deadline := time.Now().Add(30 * time.Second)
			for len(journalFiles(t, dir)) > 2 {
				if time.Now().After(deadline) {
					t.Fatalf("full segments not deleted: %v", journalFiles(t, dir))
				}
				runtime.Gosched()
			}
			crash := testkit.CrashImage(t, dir)
			appendN(t, l, 10, big)
			checkLog(t, crash, opts, 1000)
		})
	}
}

// TestOpensFormat1: a directory of format 1, whose newest events are in
// Pebble's WAL, opens with all of them and is upgraded to the current format.
func TestOpensFormat1(t *testing.T) {
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(metaKey("format"), []byte("1"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	for i := uint64(1); i <= 3; i++ {
		e := Event{Position: i, Stream: "s:1", Version: i, Type: "T", Data: []byte(`{}`), Time: 1}
		b.Set(eventKey(nil, i), AppendRecord(nil, &e), nil)
		b.Set(indexKey(nil, e.Stream, i), binary.BigEndian.AppendUint64(nil, i), nil)
		b.Set(append([]byte{prefixVersion1}, e.Stream...), binary.BigEndian.AppendUint64(nil, i), nil)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil { // not flushed: the events are in the WAL only
		t.Fatal(err)
	}
	checkLog(t, dir, DefaultOptions(), 3)
	l, err := Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if v, err := l.Meta("format"); err != nil || string(v) != strconv.Itoa(formatVersion) {
		t.Fatalf("format %q, %v", v, err)
	}
	if r := appendOne(l, Append{Stream: "s:1", Expect: Expect{ExpectVersion, 3}, Events: []Proposed{ev("T", `{}`)}}); r.Err != nil || r.Position != 4 {
		t.Fatalf("append after the upgrade: %+v", r)
	}
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixVersion1}, UpperBound: []byte{prefixVersion1 + 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if it.First() {
		t.Fatalf("format 1's version key %q is left after the upgrade", it.Key())
	}
}

// reopen opens dir, checks its last position and op keys, and closes it.
func reopen(t *testing.T, dir string, opts Options, last uint64, keys ...string) {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := l.LastPosition(); got != last {
		t.Fatalf("last position %d, want %d", got, last)
	}
	wantKeys(t, l, keys...)
}

// TestJournalOpRecords: rounds of ops alone (journal records with no
// event) survive a crash under every durability, before and after
// events, with their sets, deletes and prefix deletes applied in order.
func TestJournalOpRecords(t *testing.T) {
	for _, d := range []Durability{DurabilityAlways, DurabilityEverySec, DurabilityNone} {
		t.Run(d.String(), func(t *testing.T) {
			opts := DefaultOptions()
			opts.Durability = d
			dir := t.TempDir()
			l, err := Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			l.Do(setOp("a1", "1", "a2", "2", "b", "1")) // after position 0
			appendN(t, l, 3, `{}`)
			l.Do(setOp("a*", "", "b", "2"))  // after position 3
			l.Do(setOp("c", "1", "a3", "3")) // after position 3 again
			crash := testkit.CrashImage(t, dir)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			reopen(t, dir, opts, 3, "a3=3", "b=2", "c=1")
			reopen(t, crash, opts, 3, "a3=3", "b=2", "c=1")
		})
	}
}

// TestJournalOpRecordsAppliedAgain: records of ops alone "after" Pebble's
// newest position may already be in its tables; applying them again
// leaves what the tables plus the rest of the journal would. Those before
// an event the tables hold are skipped.
func TestJournalOpRecordsAppliedAgain(t *testing.T) {
	opts := DefaultOptions()
	dir := t.TempDir()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Do(setOp("k", "1", "gone", "1")) // after 0, skipped: event 1 is in the tables
	appendN(t, l, 1, `{}`)
	l.Do(setOp("k", "2"))   // after 1, in the tables
	l.Do(setOp("gone", "")) // after 1, in the tables
	if err := l.db.Flush(); err != nil {
		t.Fatal(err)
	}
	l.Do(setOp("k", "3", "new", "1")) // after 1, only in the journal
	crash := testkit.CrashImage(t, dir)
	if n := len(journalFiles(t, crash)); n != 1 {
		t.Fatalf("%d segments in the crash image, want the one with every record", n)
	}
	reopen(t, crash, opts, 1, "k=3", "new=1")
}

// TestJournalTornOpRecord: a torn record of ops alone is dropped like any
// other; the records before it are kept.
func TestJournalTornOpRecord(t *testing.T) {
	opts := DefaultOptions()
	dir := t.TempDir()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 2, `{}`)
	l.Do(setOp("kept", "1"))
	l.Do(setOp("torn", "1"))
	crash := testkit.CrashImage(t, dir)
	l.Close()
	path := filepath.Join(crash, journalDir, segmentName(journalFiles(t, crash)[0]))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off, last := 0, 0
	for n := int(binary.LittleEndian.Uint32(data)); n != 0; n = int(binary.LittleEndian.Uint32(data[off:])) {
		last = off
		off += journalHeader + n
	}
	if first, end := binary.LittleEndian.Uint64(data[last+journalHeader:]), binary.LittleEndian.Uint64(data[last+journalHeader+8:]); first != 3 || end != 2 {
		t.Fatalf("the last record holds positions %d-%d, want 3-2 (after 2)", first, end)
	}
	data[off-1] ^= 0xff
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	reopen(t, crash, opts, 2, "kept=1")
}

// TestJournalOpRecordGapRefused: a record of ops alone after a position
// Pebble does not have is a hole, refused like one.
func TestJournalOpRecordGapRefused(t *testing.T) {
	opts := DefaultOptions()
	dir := t.TempDir()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	l.Do(setOp("k", "1"))
	crash := testkit.CrashImage(t, dir)
	l.Close()
	path := filepath.Join(crash, journalDir, segmentName(journalFiles(t, crash)[0]))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint64(data[journalHeader:], 6) // after position 5
	binary.LittleEndian.PutUint64(data[journalHeader+8:], 5)
	n := binary.LittleEndian.Uint32(data)
	binary.LittleEndian.PutUint32(data[4:], crc32.Checksum(data[journalHeader:journalHeader+int(n)], crcTable))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(crash, opts); !errors.Is(err, ErrCorruptRecord) {
		t.Fatalf("got %v, want ErrCorruptRecord", err)
	}
}

// TestJournalOpRecordsAcrossSegments: records of ops alone fill segments
// that rotate and retire like others; a crash image taken across segments
// has every op.
func TestJournalOpRecordsAcrossSegments(t *testing.T) {
	opts := DefaultOptions()
	opts.MemTableSize = minSegmentSize
	dir := t.TempDir()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	big := strings.Repeat("x", 4000)
	var want []string
	for i := range 1000 { // about 4 MB: four segments or more
		k := fmt.Sprintf("k%04d", i)
		l.Do(setOp(k, big))
		want = append(want, k+"="+big)
		if i%100 == 0 {
			appendN(t, l, 1, `{}`)
		}
	}
	if nums := journalFiles(t, dir); nums[len(nums)-1] < 4 {
		t.Fatalf("segments %v after 4 MB of ops in 1 MiB segments", nums)
	}
	crash := testkit.CrashImage(t, dir)
	reopen(t, crash, opts, 10, want...)
}
