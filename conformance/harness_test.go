package conformance

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/internal/testkit/outbuf"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// binary is the foldb binary under test, built once by TestMain.
var binary string

const (
	startTimeout = 60 * time.Second // a -race binary opening a big log is slow
	stopTimeout  = 30 * time.Second // the server gives busy connections 10s
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	testkit.QuietRedisLogs()
	if bin := os.Getenv("FOLDB_BIN"); bin != "" {
		binary = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "foldb-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "foldb")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/foldb/foldb/cmd/foldb")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	if out, err := exec.Command(goTool, args...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "conformance: go %s: %v\n%s", strings.Join(args, " "), err, out)
		return 1
	}
	return m.Run()
}

// Server is one foldb process.
type Server struct {
	t     testing.TB
	Dir   string
	Flags []string // beyond --port and --dir
	Addr  string   // host:port, from the start line
	Port  int
	PID   int
	// Start is the "foldb started" log line.
	Start string

	cmd    *exec.Cmd
	log    outbuf.Buffer
	exited chan struct{}
	err    error // from Wait, once exited is closed
}

// startServer starts foldb on a free port with data in dir (a new
// t.TempDir() when empty) and waits until it has loaded its state. The
// server is killed when the test ends, if still running.
func startServer(t testing.TB, dir string, flags ...string) *Server {
	t.Helper()
	s := startProcess(t, dir, flags...)
	s.waitLoaded()
	return s
}

// startProcess starts foldb and waits for its start line only.
func startProcess(t testing.TB, dir string, flags ...string) *Server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s := &Server{t: t, Dir: dir, Flags: flags, exited: make(chan struct{})}
	args := append([]string{"--port", "0", "--dir", dir}, flags...)
	s.cmd = exec.Command(binary, args...)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stdout = &s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", binary, err)
	}
	s.PID = s.cmd.Process.Pid
	started := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.log.WriteString(line + "\n")
			if strings.Contains(line, `msg="foldb started"`) {
				select {
				case started <- line:
				default:
				}
			}
		}
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		if !s.Exited() {
			s.cmd.Process.Kill()
			<-s.exited
		}
		s.checkLog()
		if t.Failed() {
			t.Logf("log of foldb %s (pid %d):\n%s", s.Addr, s.PID, s.log.String())
		}
	})
	select {
	case line := <-started:
		s.Start = line
	case <-s.exited:
		t.Fatalf("foldb %s exited before starting: %v\n%s", strings.Join(args, " "), s.err, s.log.String())
	case <-time.After(startTimeout):
		t.Fatalf("foldb did not log its start line within %v:\n%s", startTimeout, s.log.String())
	}
	m := regexp.MustCompile(` addr=(\S+)`).FindStringSubmatch(s.Start)
	if m == nil {
		t.Fatalf("no addr= in the start line %q", s.Start)
	}
	s.Addr = m[1]
	i := strings.LastIndexByte(s.Addr, ':')
	if s.Port, err = strconv.Atoi(s.Addr[i+1:]); err != nil || s.Port == 0 {
		t.Fatalf("bad addr= in the start line %q", s.Start)
	}
	return s
}

// waitLoaded waits until INFO says loading:0: the server listens (and
// answers LOADING) while it folds the log into its state.
func (s *Server) waitLoaded() {
	s.t.Helper()
	c := testkit.Dial(s.t, s.Addr)
	defer c.Conn.Close()
	if pass := s.flag("--requirepass"); pass != "" {
		if got := c.Do("AUTH", pass); got != testkit.Simple("OK") {
			s.t.Fatalf("AUTH = %#v", got)
		}
	}
	testkit.WaitForWithin(s.t, startTimeout, "the server to load its state", func() bool {
		info, ok := c.Do("INFO", "persistence").(testkit.Bulk)
		if !ok {
			s.t.Fatalf("INFO persistence = %#v", info)
		}
		return testkit.InfoField(s.t, string(info), "loading") == "0"
	})
}

// flag returns the value given to a flag of the server, or "".
func (s *Server) flag(name string) string {
	for i, f := range s.Flags {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v
		}
		if f == name && i+1 < len(s.Flags) {
			return s.Flags[i+1]
		}
	}
	return ""
}

// Restart starts a new server on the same data directory with the same flags.
func (s *Server) Restart() *Server {
	s.t.Helper()
	if !s.Exited() {
		s.t.Fatal("Restart of a running server")
	}
	return startServer(s.t, s.Dir, s.Flags...)
}

// StartEvents is the events= figure of the start line: the log's last position.
func (s *Server) StartEvents() int64 {
	s.t.Helper()
	m := regexp.MustCompile(` events=(\d+)`).FindStringSubmatch(s.Start)
	if m == nil {
		s.t.Fatalf("no events= in the start line %q", s.Start)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// Exited reports whether the process has ended.
func (s *Server) Exited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits for a clean exit (status 0).
func (s *Server) Stop() {
	s.t.Helper()
	s.Signal(syscall.SIGTERM)
	if err := s.Wait(stopTimeout); err != nil {
		s.t.Fatalf("foldb did not stop cleanly after SIGTERM: %v", err)
	}
}

// Kill sends SIGKILL and waits for the process to end.
func (s *Server) Kill() {
	s.t.Helper()
	s.Signal(syscall.SIGKILL)
	<-s.exited
}

// Signal sends sig to the process.
func (s *Server) Signal(sig os.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil && !s.Exited() {
		s.t.Fatalf("signal %v: %v", sig, err)
	}
}

// Wait waits up to d for the process to exit and returns its exit error
// (nil for status 0). It kills the process and fails the test after d.
func (s *Server) Wait(d time.Duration) error {
	s.t.Helper()
	select {
	case <-s.exited:
		return s.err
	case <-time.After(d):
		s.cmd.Process.Kill()
		<-s.exited
		s.t.Fatalf("foldb (pid %d) still running %v after being told to stop", s.PID, d)
		return nil
	}
}

// Log is what the server wrote so far.
func (s *Server) Log() string { return s.log.String() }

// checkLog fails the test if the server reported a data race or a panic.
func (s *Server) checkLog() {
	log := s.log.String()
	for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
		if strings.Contains(log, bad) {
			s.t.Errorf("foldb (pid %d) logged %q", s.PID, bad)
		}
	}
}

// Client returns a go-redis client of the server, RESP3 unless proto is 2,
// closed when the test ends.
func (s *Server) Client(proto int) *redis.Client {
	c := redis.NewClient(clientOptions(s.Addr, proto))
	s.t.Cleanup(func() { c.Close() })
	return c
}

// clientOptions are testkit's go-redis options (no retries, so that a test
// sees every failure) with one connection, and without go-redis's
// maintenance notifications.
func clientOptions(addr string, proto int) *redis.Options {
	o := testkit.ClientOptions(addr, proto)
	o.PoolSize = 1
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return o
}

// Info returns one field of INFO everything.
func (s *Server) Info(field string) string {
	s.t.Helper()
	return testkit.InfoField(s.t, testkit.Info(s.t, s.Client(2), "everything"), field)
}

// RSS is the process's resident set size in bytes (VmRSS of /proc/PID/status).
func (s *Server) RSS() int64 {
	s.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.PID))
	if err != nil {
		s.t.Skipf("no /proc here: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				s.t.Fatalf("bad VmRSS line %q", line)
			}
			return kb << 10
		}
	}
	s.t.Fatalf("no VmRSS in /proc/%d/status", s.PID)
	return 0
}

// needTool returns the path of an external tool, or skips the test when it
// is missing: fails it instead when FOLDB_REQUIRE_TOOLS=1 (as CI sets).
// Tools: redis-cli, redis-benchmark, redis-server, php, php-redis (returns php's path),
// predis (returns the path of Predis's autoload.php).
func needTool(t testing.TB, name string) string {
	t.Helper()
	path, err := findTool(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s is missing: %v (DEVELOPERS.md lists the apt packages CI installs)", name, err)
	if os.Getenv("FOLDB_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s; FOLDB_REQUIRE_TOOLS=1 makes a missing tool fail the test", msg)
	}
	t.Skip(msg)
	return ""
}

// toolEnv names the variable that overrides where a tool is.
var toolEnv = map[string]string{
	"redis-cli":       "FOLDB_REDIS_CLI",
	"redis-benchmark": "FOLDB_REDIS_BENCHMARK",
	"redis-server":    "FOLDB_REDIS_SERVER",
	"php":             "FOLDB_PHP",
	"predis":          "FOLDB_PREDIS_AUTOLOAD",
}

func findTool(name string) (string, error) {
	switch name {
	case "php-redis":
		php, err := findTool("php")
		if err != nil {
			return "", err
		}
		out, err := exec.Command(php, "-r", `echo extension_loaded("redis") ? "yes" : "no";`).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("%s -r: %v: %s", php, err, out)
		}
		if string(out) != "yes" {
			return "", fmt.Errorf("%s has no redis extension (php-redis)", php)
		}
		return php, nil
	case "predis":
		if _, err := findTool("php"); err != nil {
			return "", err
		}
		path := "/usr/share/php/Predis/autoload.php"
		if p := os.Getenv(toolEnv[name]); p != "" {
			path = p
		}
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("no Predis autoload (php-nrk-predis): %w", err)
		}
		return path, nil
	}
	env, ok := toolEnv[name]
	if !ok {
		return "", fmt.Errorf("unknown tool %q", name)
	}
	if p := os.Getenv(env); p != "" {
		return exec.LookPath(p) // checks that it exists and is executable
	}
	return exec.LookPath(name)
}

// runTool runs a tool and returns its stdout and stderr, failing the test
// when it does not exit 0 within two minutes.
func runTool(t testing.TB, path string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var o, e bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", path, strings.Join(args, " "), err, o.String(), e.String())
	}
	return o.String(), e.String()
}

// isNetError reports whether err is a broken connection rather than a reply.
func isNetError(err error) bool {
	var re redis.Error
	return err != nil && !errors.As(err, &re)
}
