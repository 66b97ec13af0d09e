package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit"
)

// What foldb does when the disk fails under it: appends are refused with
// -MISCONF naming the cause, reads of what is durable go on, INFO says so,
// the log is not flooded, SHUTDOWN and SIGTERM end the process within
// seconds with a non-zero status, and a restart on a working disk has
// every acknowledged append.

const (
	// failedStopTimeout bounds the exit after SHUTDOWN or SIGTERM of a
	// server whose log failed: the log gives up closing after 5s.
	failedStopTimeout = 10 * time.Second
	// failedLogBytes bounds what a failed server may log while a test
	// runs: the errors Pebble repeats are logged once every 10s.
	failedLogBytes = 64 << 10
)

// TestDataFolderRemoved: the data folder is removed under a running
// server. Under always the next append's fsync finds its journal file gone
// and fails the log; under none, nothing is fsynced and the failure comes
// from Pebble at the shutdown's flush, which must not loop.
func TestDataFolderRemoved(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		durability string
		stop       string // SHUTDOWN or SIGTERM
	}{{"always", "SHUTDOWN"}, {"always", "SIGTERM"}, {"none", "SHUTDOWN"}, {"none", "SIGTERM"}} {
		t.Run(tc.durability+"-"+tc.stop, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			s := startServer(t, dir, "--durability", tc.durability, "--snapshot-every", "0")
			c := testkit.Dial(t, s.Addr)
			for i := range 3 {
				if got := c.Do("EVENT.APPEND", "acct:1", "Deposited", fmt.Sprintf(`{"n":%d}`, i)); !isInts(got, int64(i+1), int64(i+1)) {
					t.Fatalf("EVENT.APPEND before the removal = %#v", got)
				}
			}
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if tc.durability == "always" {
				for i := range 20 {
					got := c.Do("EVENT.APPEND", "acct:1", "Deposited", `{}`)
					e, ok := got.(testkit.Err)
					if !ok || !strings.HasPrefix(string(e), "MISCONF ") || !strings.Contains(string(e), "removed") {
						t.Fatalf("EVENT.APPEND %d after the removal = %#v, want -MISCONF naming the removed file", i, got)
					}
				}
				info := string(c.Do("INFO", "persistence").(testkit.Bulk))
				if got := testkit.InfoField(t, info, "aof_last_write_status"); got != "err" {
					t.Errorf("aof_last_write_status:%s, want err", got)
				}
				if got := testkit.InfoField(t, info, "log_write_error"); !strings.Contains(got, "fdatasync") {
					t.Errorf("log_write_error:%s, want the fdatasync's error", got)
				}
			}
			// What was acknowledged is still served.
			evs, err := readEvents(s, "acct:1", "COUNT", "3")
			if err != nil || len(evs) != 3 {
				t.Fatalf("EVENT.READ after the removal: %d events, %v", len(evs), err)
			}
			stop := tc.stop
			if tc.durability == "none" && stop == "SHUTDOWN" {
				// Nothing has failed the log yet; the snapshot SHUTDOWN
				// takes fails, and SHUTDOWN refuses, as Redis's does.
				if got := c.Do("SHUTDOWN"); !strings.HasPrefix(fmt.Sprint(got), "ERR Errors trying to SHUTDOWN") {
					t.Fatalf("SHUTDOWN with the data folder gone = %#v", got)
				}
				stop = "SHUTDOWN NOSAVE"
			}
			stopFailed(t, s, c, stop)
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the removed data folder was made again: %v", err)
			}
		})
	}
}

// TestDiskFull: a tmpfs fills to ENOSPC under the appends. Every append
// from the first refusal on is -MISCONF, what was acknowledged is read
// back, and after the disk grows a restart has every acknowledged append.
//
// A server on a disk too small for its first journal segment (8 MiB,
// made its full size at once) refuses to start, with the cause.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	mnt := mountTmpfs(t, "4m")
	out, err := exec.Command(binary, "--port", "0", "--dir", filepath.Join(mnt, "data")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no space left on device") {
		t.Errorf("foldb on a 4 MiB disk: %v\n%s", err, out)
	}

	mnt = mountTmpfs(t, "96m")
	dir := filepath.Join(mnt, "data")
	s := startServer(t, dir, "--snapshot-every", "0")
	c := testkit.Dial(t, s.Addr)
	for i := range 3 {
		if got := c.Do("EVENT.APPEND", "acct:1", "Deposited", `{}`); !isInts(got, int64(i+1), int64(i+1)) {
			t.Fatalf("EVENT.APPEND = %#v", got)
		}
	}
	pad := make([]byte, 400<<10)
	rand.Read(pad) // incompressible: Pebble's tables compress
	big := fmt.Sprintf(`{"pad":%q}`, hex.EncodeToString(pad))
	acked := 0
	var refusal string
	for refusal == "" {
		switch got := c.Do("EVENT.APPEND", "fill:1", "Filled", big).(type) {
		case []any:
			acked++
			if acked > 200 {
				t.Fatalf("%d appends of 800 KiB acknowledged on a 96 MiB disk", acked)
			}
		case testkit.Err:
			refusal = string(got)
		default:
			t.Fatalf("EVENT.APPEND = %#v", got)
		}
	}
	if !strings.HasPrefix(refusal, "MISCONF ") || !strings.Contains(refusal, "no space left on device") {
		t.Fatalf("the refusal is %q, want -MISCONF naming ENOSPC", refusal)
	}
	if got := c.Do("EVENT.APPEND", "acct:1", "Deposited", `{}`); !strings.HasPrefix(fmt.Sprint(got), "MISCONF ") {
		t.Fatalf("a small append after the refusal = %#v", got)
	}
	t.Logf("%d appends of 800 KiB acknowledged before: %s", acked, refusal)
	if evs, err := readEvents(s, "acct:1"); err != nil || len(evs) != 3 {
		t.Fatalf("EVENT.READ acct:1 on a full disk: %d events, %v", len(evs), err)
	}
	if evs, err := readEvents(s, "fill:1", "FROM", fmt.Sprint(acked), "COUNT", "1"); err != nil || len(evs) != 1 {
		t.Fatalf("EVENT.READ of the last acknowledged append on a full disk: %d events, %v", len(evs), err)
	}
	if got := testkit.InfoField(t, string(c.Do("INFO", "persistence").(testkit.Bulk)), "aof_last_write_status"); got != "err" {
		t.Errorf("aof_last_write_status:%s, want err", got)
	}
	stopFailed(t, s, c, "SHUTDOWN")

	if err := syscall.Mount("tmpfs", mnt, "tmpfs", syscall.MS_REMOUNT, "size=256m"); err != nil {
		t.Fatalf("growing the tmpfs: %v", err)
	}
	s = s.Restart()
	c = testkit.Dial(t, s.Addr)
	if evs, err := readEvents(s, "acct:1"); err != nil || len(evs) != 3 {
		t.Fatalf("EVENT.READ acct:1 after the restart: %d events, %v", len(evs), err)
	}
	// The append refused for the disk may be there too: it was written
	// before the write that failed (an error means its outcome is unknown).
	evs, err := readEvents(s, "fill:1", "FROM", fmt.Sprint(acked), "COUNT", "2")
	if err != nil || len(evs) < 1 || evs[0].Version != int64(acked) {
		t.Fatalf("the last acknowledged append after the restart: %v, %v", evs, err)
	}
	if got, ok := c.Do("EVENT.APPEND", "acct:1", "Deposited", `{}`).([]any); !ok || got[0] != int64(4) {
		t.Fatalf("EVENT.APPEND after the restart = %#v", got)
	}
	s.Stop()
}

// stopFailed stops a server whose log failed (or fails as it closes), with
// SHUTDOWN [NOSAVE] or SIGTERM,
// and checks that it exits within failedStopTimeout with a non-zero
// status, without flooding its log.
func stopFailed(t *testing.T, s *Server, c *testkit.RawConn, how string) {
	t.Helper()
	start := time.Now()
	if strings.HasPrefix(how, "SHUTDOWN") {
		c.Send(strings.Fields(how)...)
	} else {
		s.Signal(syscall.SIGTERM)
	}
	err := s.Wait(failedStopTimeout)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Errorf("after %s foldb exited with %v, want a non-zero status", how, err)
	}
	t.Logf("%s: exited in %v with %v; %d bytes of log", how, time.Since(start).Round(time.Millisecond), err, len(s.Log()))
	if n := len(s.Log()); n > failedLogBytes {
		t.Errorf("foldb logged %d bytes, more than %d", n, failedLogBytes)
	}
}

// mountTmpfs mounts a tmpfs of the given size on a new folder, unmounted
// when the test ends. It skips the test when not root; when root and the
// mount fails (a container without CAP_SYS_ADMIN), it skips too, or fails
// under FOLDB_REQUIRE_TOOLS=1, as CI runs as root.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs to fill needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		msg := fmt.Sprintf("mounting a tmpfs on %s: %v", dir, err)
		if os.Getenv("FOLDB_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s; FOLDB_REQUIRE_TOOLS=1 makes this fail as root", msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// readEvents runs EVENT.READ with args through go-redis.
func readEvents(s *Server, args ...any) ([]event, error) {
	v, err := s.Client(2).Do(context.Background(), append([]any{"EVENT.READ"}, args...)...).Result()
	if err != nil {
		return nil, err
	}
	return parseEvents(v)
}

// isInts reports whether v is the array reply of want.
func isInts(v any, want ...int64) bool {
	a, ok := v.([]any)
	if !ok || len(a) != len(want) {
		return false
	}
	for i := range a {
		if a[i] != want[i] {
			return false
		}
	}
	return true
}
