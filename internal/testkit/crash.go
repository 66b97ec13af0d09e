package testkit

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// CrashImage copies a data folder as a crash would leave it: taken while
// the log is open, so that Pebble's memtables are not in it and only the
// journal has the newest rounds. Pebble's manifest is copied before its
// tables, so that every table it names was there to copy (a table made
// later is one the copy's manifest does not know, as after a crash). A
// copy during which Pebble deleted a file it had named (a compaction or a
// flush finishing) is taken again. The copy is in a folder of the test's
// own.
func CrashImage(t testing.TB, dir string) string {
	t.Helper()
	for {
		to := t.TempDir()
		before := manifestSizes(dir)
		err := copyTree(dir, to, isManifest)
		if err == nil {
			err = copyTree(dir, to, func(name string) bool { return !isManifest(name) })
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil && manifestSizes(dir) != before {
			continue // a flush or compaction ran meanwhile: the copied manifest may name files it removed
		}
		if err != nil {
			t.Fatal(err)
		}
		return to
	}
}

// manifestSizes lists the names and sizes of dir's manifest files.
func manifestSizes(dir string) string {
	entries, _ := os.ReadDir(dir)
	var b strings.Builder
	for _, e := range entries {
		if !isManifest(e.Name()) {
			continue
		}
		if fi, err := e.Info(); err == nil {
			fmt.Fprintf(&b, "%s %d\n", e.Name(), fi.Size())
		}
	}
	return b.String()
}

// isManifest: Pebble's files that name the others.
func isManifest(name string) bool {
	for _, p := range []string{"MANIFEST", "CURRENT", "OPTIONS", "marker."} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// copyTree copies the files of dir whose names pass keep into to.
func copyTree(dir, to string, keep func(name string) bool) error {
	return filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		if strings.HasPrefix(d.Name(), "LOCK") || !keep(d.Name()) {
			return nil
		}
		return CopyFile(path, filepath.Join(to, rel))
	})
}

// CopyFile copies one file.
func CopyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	return errors.Join(err, dst.Close())
}
