package streams

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// crashImage copies dir as a crash would leave it: taken while the log is
// open, so that Pebble's memtables are not in it and only the journal has
// the newest rounds (as eventlog's tests take one).
func crashImage(t *testing.T, dir string) string {
	t.Helper()
	for {
		to := t.TempDir()
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			if d.IsDir() {
				return os.MkdirAll(filepath.Join(to, rel), 0o755)
			}
			if strings.HasPrefix(d.Name(), "LOCK") {
				return nil
			}
			return copyFile(path, filepath.Join(to, rel))
		})
		if errors.Is(err, fs.ErrNotExist) {
			continue // Pebble deleted a file it had listed
		}
		if err != nil {
			t.Fatal(err)
		}
		return to
	}
}

func copyFile(from, to string) error {
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
