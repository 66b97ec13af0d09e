package eventlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// readOnlyCrash is a crash image of a log with n appends, all of them in
// its one journal segment, with the LOCK file a crash leaves.
func readOnlyCrash(t *testing.T, n int) (crash, segment string, data []byte) {
	t.Helper()
	crash, segment, data = crashedSegment(t, DefaultOptions(), n)
	if err := os.WriteFile(filepath.Join(crash, "LOCK"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return crash, segment, data
}

// segmentUnchanged fails the test when the journal no longer holds just
// that segment with those bytes.
func segmentUnchanged(t *testing.T, segment string, data []byte) {
	t.Helper()
	got, err := os.ReadFile(segment)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the segment changed: %v", err)
	}
	if nums := journalFiles(t, filepath.Dir(filepath.Dir(segment))); len(nums) != 1 {
		t.Fatalf("journal segments %v", nums)
	}
}

// TestOpenReadOnly: a crash image's events, in the journal only, are read
// and verified without being applied: the segment stays as it was and the
// next open applies it. The read-only log refuses writes.
func TestOpenReadOnly(t *testing.T) {
	crash, segment, data := readOnlyCrash(t, 50)
	l, rep, err := OpenReadOnly(crash, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Format != formatVersion || rep.Tables != 0 || len(rep.Segments) != 1 || rep.JournalEvents() != 50 || rep.JournalTorn() {
		t.Fatalf("report %+v", rep)
	}
	if s := rep.Segments[0]; s.Records != 50 || s.Behind != 0 || s.First != 1 || s.Last != 50 || s.Torn != -1 || s.Name != filepath.Base(segment) {
		t.Fatalf("segment %+v", s)
	}
	if got := l.LastPosition(); got != 50 {
		t.Fatalf("last position %d", got)
	}
	if vr, err := l.Verify(nil); err != nil || vr.Events != 50 || vr.Streams != 7 {
		t.Fatalf("verify %+v, %v", vr, err)
	}
	if evs, err := l.Read("acct:3", 0, 0, false); err != nil || len(evs) != 7 || evs[6].Position != 46 {
		t.Fatalf("read %v, %v", evs, err)
	}
	if v, err := l.Version("acct:1"); err != nil || v != 7 {
		t.Fatalf("version %d, %v", v, err)
	}
	if r := appendOne(l, Append{Stream: "acct:1", Events: []Proposed{ev("A", `{}`)}}); !errors.Is(r.Err, ErrClosed) {
		t.Fatalf("append to a read-only log: %+v", r)
	}
	if l.AppendNow([]*Append{{Stream: "acct:1", Events: []Proposed{ev("A", `{}`)}}}) == false {
		t.Fatal("AppendNow left the append to a writer that is not there")
	}
	if err := l.Exclusive(func(uint64) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Exclusive on a read-only log: %v", err)
	}
	if st := l.Stats(); st.LastPosition != 50 {
		t.Fatalf("stats %+v", st)
	}
	if err := l.SetMeta("x", []byte("y")); !errors.Is(err, pebble.ErrReadOnly) {
		t.Fatalf("SetMeta on a read-only log: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("a second close: %v", err)
	}
	segmentUnchanged(t, segment, data)
	checkLog(t, crash, DefaultOptions(), 50)
}

// TestOpenReadOnlyClean: a cleanly closed log has no journal to read,
// and one with no journal folder at all is read too.
func TestOpenReadOnlyClean(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 20, `{"n":1}`)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, remove := range []bool{false, true} {
		if remove {
			os.Remove(filepath.Join(dir, journalDir))
		}
		ro, rep, err := OpenReadOnly(dir, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if rep.Tables != 20 || len(rep.Segments) != 0 || ro.LastPosition() != 20 {
			t.Fatalf("report %+v, last %d", rep, ro.LastPosition())
		}
		if vr, err := ro.Verify(nil); err != nil || vr.Events != 20 {
			t.Fatalf("verify %+v, %v", vr, err)
		}
		ro.Close()
	}
	if _, err := os.Stat(filepath.Join(dir, journalDir)); !os.IsNotExist(err) {
		t.Fatalf("the read-only open made the journal folder: %v", err)
	}
	if _, _, err := OpenReadOnly(t.TempDir(), DefaultOptions()); err == nil || !strings.Contains(err.Error(), "holds no log") {
		t.Fatalf("a folder without a log: %v", err)
	}
}

// TestOpenReadOnlyTornRecord: a record a crash cut short is reported and
// left out, as the next open drops it.
func TestOpenReadOnlyTornRecord(t *testing.T) {
	crash, segment, data := readOnlyCrash(t, 20)
	off, lastOff := 0, 0
	for n := 0; ; off += journalHeader + n {
		if n = int(binary.LittleEndian.Uint32(data[off:])); n == 0 {
			break
		}
		lastOff = off
	}
	data[off-1] ^= 0xff
	if err := os.WriteFile(segment, data, 0o644); err != nil {
		t.Fatal(err)
	}
	l, rep, err := OpenReadOnly(crash, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if s := rep.Segments[0]; s.Torn != int64(lastOff) || s.Records != 19 || s.Last != 19 || !rep.JournalTorn() || l.LastPosition() != 19 {
		t.Fatalf("segment %+v, last %d", s, l.LastPosition())
	}
	if vr, err := l.Verify(nil); err != nil || vr.Events != 19 {
		t.Fatalf("verify %+v, %v", vr, err)
	}
	segmentUnchanged(t, segment, data)
}

// rewriteRecord changes the positions of a segment's first record and
// mends its checksum.
func rewriteRecord(t *testing.T, segment string, data []byte, first, last uint64) {
	t.Helper()
	binary.LittleEndian.PutUint64(data[journalHeader:], first)
	binary.LittleEndian.PutUint64(data[journalHeader+8:], last)
	n := binary.LittleEndian.Uint32(data)
	binary.LittleEndian.PutUint32(data[4:], crc32.Checksum(data[journalHeader:journalHeader+int(n)], crcTable))
	if err := os.WriteFile(segment, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOpenReadOnlyRefusesBadRecords: a record whose positions do not
// follow Pebble's, or whose batch lacks the events of its positions, is
// ErrCorruptRecord.
func TestOpenReadOnlyRefusesBadRecords(t *testing.T) {
	for _, tc := range []struct {
		name        string
		first, last uint64
		want        string
	}{
		{"gap", 2, 2, "follows position 0"},
		{"event missing", 1, 2, "no event at position 2 in the record for 1-2"},
		{"more positions than keys", 1, 1000, "keys for 1000 events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			crash, segment, data := readOnlyCrash(t, 5)
			rewriteRecord(t, segment, data, tc.first, tc.last)
			_, _, err := OpenReadOnly(crash, DefaultOptions())
			if !errors.Is(err, ErrCorruptRecord) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrCorruptRecord with %q", err, tc.want)
			}
			segmentUnchanged(t, segment, data)
		})
	}
}

// TestOpenReadOnlyFormat1: a folder of format 1, whose newest events are
// in Pebble's WAL, is read as it is: not upgraded, its WAL not flushed.
func TestOpenReadOnlyFormat1(t *testing.T) {
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
	files := func() map[string]string {
		out := map[string]string{}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			out[e.Name()] = string(b)
		}
		return out
	}
	before := files()
	l, rep, err := OpenReadOnly(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Format != 1 || rep.Tables != 3 || l.LastPosition() != 3 {
		t.Fatalf("report %+v, last %d", rep, l.LastPosition())
	}
	if vr, err := l.Verify(nil); err != nil || vr.Events != 3 {
		t.Fatalf("verify %+v, %v", vr, err)
	}
	l.Close()
	after := files()
	if len(after) != len(before) {
		t.Fatalf("files %d -> %d", len(before), len(after))
	}
	for name, b := range before {
		if after[name] != b {
			t.Fatalf("%s changed", name)
		}
	}
}
