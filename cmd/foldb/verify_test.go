package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foldb/foldb/eventlog"
)

// holdDirEnv makes TestHelperHoldLog, run as a process of its own, hold a
// populated log open in that folder, as a running server holds its data
// folder, until its stdin closes.
const holdDirEnv = "FOLDB_TEST_HOLD_DIR"

func TestHelperHoldLog(t *testing.T) {
	dir := os.Getenv(holdDirEnv)
	if dir == "" {
		t.Skip("run by holdLog as a process of its own")
	}
	closeLog := populate(t, dir)
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin)
	if err := closeLog(); err != nil {
		t.Fatal(err)
	}
}

// holdLog starts a process that populates dir and keeps its log open; it
// returns once the log is populated. release closes the process's stdin
// and waits for its clean exit; crash kills it (kill -9) and waits.
func holdLog(t *testing.T, dir string) (release, crash func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLog$", "-test.count=1")
	cmd.Env = append(os.Environ(), holdDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("the log holder said %q, %v", line, err)
	}
	release = func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("the log holder: %v", err)
		}
	}
	crash = func() {
		cmd.Process.Kill()
		cmd.Wait()
	}
	return release, crash
}

// hashFolder maps every file and folder under dir to its content's SHA-256
// (folders to "dir").
func hashFolder(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			out[rel] = "dir"
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameFolder(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for name, h := range before {
		switch a, ok := after[name]; {
		case !ok:
			t.Errorf("%s removed %s", what, name)
		case a != h:
			t.Errorf("%s changed %s", what, name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s created %s", what, name)
		}
	}
}

// TestVerifyIsReadOnly: verify leaves every file of a data folder byte for
// byte as it was, after a crash (the events in journal segments only, a
// snapshot at a position only the journal holds) and after a clean close;
// after the crash it checks the journal's events and says what it holds,
// and the next open still finds them there.
func TestVerifyIsReadOnly(t *testing.T) {
	t.Run("crash", func(t *testing.T) {
		dir := t.TempDir()
		_, crash := holdLog(t, dir)
		crash()
		segs, _ := filepath.Glob(filepath.Join(dir, "journal", "*.journal"))
		if len(segs) == 0 {
			t.Fatal("the crash left no journal segment")
		}
		before := hashFolder(t, dir)
		for range 2 {
			out, err := run(t, "", "verify", "--dir", dir)
			if err != nil {
				t.Fatalf("verify after a crash: %v\n%s", err, out)
			}
			for _, want := range []string{
				"read-only: " + dir + " is read as it is; nothing in it is changed",
				"journal: 1 segment(s), 60 events at positions 1-60 past Pebble's tables (which end at 0)",
				"log: 60 events in 7 streams",
				"(position 50, 7 entities) equals a replay",
				"OK",
			} {
				if !strings.Contains(out, want) {
					t.Fatalf("verify after a crash does not say %q:\n%s", want, out)
				}
			}
			sameFolder(t, "verify", before, hashFolder(t, dir))
		}
		exp, err := run(t, "", "export", "--dir", dir)
		if err != nil || strings.Count(exp, "\n") != 60 {
			t.Fatalf("export after a crash: %v, %d lines", err, strings.Count(exp, "\n"))
		}
		sameFolder(t, "export", before, hashFolder(t, dir))
		// The journal is still there for the next open to apply.
		l, err := eventlog.Open(dir, eventlog.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if got := l.LastPosition(); got != 60 {
			t.Fatalf("the open after verify has %d events, want 60", got)
		}
	})
	t.Run("clean", func(t *testing.T) {
		dir := fill(t)
		before := hashFolder(t, dir)
		out, err := run(t, "", "verify", "--dir", dir)
		if err != nil || !strings.Contains(out, "journal: empty (closed cleanly)") || !strings.Contains(out, "60 events in 7 streams") {
			t.Fatalf("verify after a clean close: %v\n%s", err, out)
		}
		sameFolder(t, "verify", before, hashFolder(t, dir))
	})
}

// TestVerifyLockedFolder: a folder that a running process holds is told
// by its lock, not by the words of Pebble's error.
func TestVerifyLockedFolder(t *testing.T) {
	dir := t.TempDir()
	release, _ := holdLog(t, dir)
	before := hashFolder(t, dir)
	for _, tool := range []string{"verify", "export"} {
		_, err := run(t, "", tool, "--dir", dir)
		if !errors.Is(err, eventlog.ErrLocked) || !strings.Contains(err.Error(), "is a foldb server running on "+dir+"?") {
			t.Fatalf("%s of a held folder: %v", tool, err)
		}
	}
	if _, err := run(t, "", "import", "--dir", dir, "--append"); !errors.Is(err, eventlog.ErrLocked) {
		t.Fatalf("import into a held folder: %v", err)
	}
	sameFolder(t, "verify of a held folder", before, hashFolder(t, dir))
	release()
	if out, err := run(t, "", "verify", "--dir", dir); err != nil {
		t.Fatalf("verify once the folder is released: %v\n%s", err, out)
	}
	// A folder that is not there, or holds no log, is no lock.
	for _, d := range []string{filepath.Join(dir, "nosuch"), t.TempDir()} {
		if _, err := run(t, "", "verify", "--dir", d); err == nil || errors.Is(err, eventlog.ErrLocked) {
			t.Fatalf("verify of %s: %v", d, err)
		}
	}
}

func TestJournalSummary(t *testing.T) {
	for _, tc := range []struct {
		ro   eventlog.ReadOnlyReport
		want string
	}{
		{eventlog.ReadOnlyReport{Tables: 9}, "journal: empty (closed cleanly)"},
		{eventlog.ReadOnlyReport{Tables: 9, Segments: []eventlog.SegmentRecords{{Name: "a", Records: 3, Behind: 3, Torn: -1}}},
			"journal: 1 segment(s), no events past Pebble's tables (which end at 9)"},
		{eventlog.ReadOnlyReport{Tables: 9, Segments: []eventlog.SegmentRecords{
			{Name: "a", Records: 3, Behind: 1, First: 10, Last: 12, Torn: -1},
			{Name: "b", Records: 1, First: 13, Last: 20, Torn: 4096}}},
			"journal: 2 segment(s), 11 events at positions 10-20 past Pebble's tables (which end at 9); they are checked here and a server's next open applies them; b ends with a record cut short at offset 4096, never acknowledged, which the next open drops"},
	} {
		if got := journalSummary(tc.ro); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}
