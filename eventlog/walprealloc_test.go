package eventlog

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestPreallocatedWALAfterCrash: under always the WAL is preallocated into
// the file (its tail reads as zeros). A copy of the data dir taken while the
// log is open, as a crash would leave it (no EOF trailer, zeroed tail), must
// open with every answered append, take new appends, and reopen again.
func TestPreallocatedWALAfterCrash(t *testing.T) {
	opts := DefaultOptions()
	opts.MemTableSize = 4 << 20
	dir := t.TempDir()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if r := appendOne(l, Append{Stream: "acct:" + string(rune('a'+i%7)), Events: []Proposed{ev("A", `{"n":1}`)}}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var walSize int64
	for _, e := range ents {
		if isWAL(e.Name()) {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			walSize = max(walSize, fi.Size())
		}
	}
	t.Logf("largest WAL file: %d bytes", walSize)
	if runtime.GOOS == "linux" && walSize < 1<<20 {
		t.Logf("WAL not extended by preallocation (size %d): file system without fallocate?", walSize)
	}
	crash := t.TempDir()
	for _, e := range ents {
		if e.IsDir() || strings.HasPrefix(e.Name(), "LOCK") {
			continue
		}
		copyFile(t, filepath.Join(dir, e.Name()), filepath.Join(crash, e.Name()))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for round, want := range []uint64{200, 201} {
		l, err := Open(crash, opts)
		if err != nil {
			t.Fatalf("open %d: %v", round, err)
		}
		if got := l.LastPosition(); got != want {
			t.Fatalf("open %d: last position %d, want %d", round, got, want)
		}
		if rep, err := l.Verify(nil); err != nil || rep.Events != want {
			t.Fatalf("open %d: verify %+v, %v", round, rep, err)
		}
		if round == 0 {
			if r := appendOne(l, Append{Stream: "acct:z", Events: []Proposed{ev("A", `{}`)}}); r.Err != nil || r.Position != 201 {
				t.Fatalf("append after crash: %+v", r)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
