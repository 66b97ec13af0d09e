// Package pgtest runs a real PostgreSQL server for tests: initdb in a
// temporary folder, postgres on a free loopback port (its unix socket in
// the folder), fsync on as by default, and gone when the test ends or its
// process dies.
//
// PostgreSQL refuses to run as root: as root the server runs as the
// unprivileged user postgres, which owns the folder.
//
// Without the binaries (PATH or /usr/lib/postgresql/*/bin) a test skips,
// or fails under FOLDB_REQUIRE_TOOLS=1, as CI sets.
//
// A package whose tests share one server calls Shared from its tests and
// Main from its TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		dsn := pgtest.Shared(t).NewDatabase(t)
//		...
//	}
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ReadyTimeout is how long Start waits for the server to accept a
// connection.
const ReadyTimeout = 60 * time.Second

// User is the database superuser initdb makes.
const User = "postgres"

// Server is one PostgreSQL server over a data folder of its own.
type Server struct {
	dir  string // the folder: data/, the socket, the log
	bin  string // the folder of postgres and initdb
	cred *syscall.Credential
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd is reaped
	dbs    atomic.Int64  // names NewDatabase's databases
}

// missing skips t for a missing tool, or fails it under
// FOLDB_REQUIRE_TOOLS=1.
func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("FOLDB_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s; FOLDB_REQUIRE_TOOLS=1 makes a missing tool fail the test", msg)
	}
	t.Skip(msg)
}

// findBin is the folder of postgres and initdb: the newest
// /usr/lib/postgresql/<version>/bin, else PATH's.
func findBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if isFile(filepath.Join(d, "postgres")) && isFile(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	p, err := exec.LookPath("postgres")
	if err == nil && isFile(filepath.Join(filepath.Dir(p), "initdb")) {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL's postgres and initdb are not installed (/usr/lib/postgresql/*/bin or PATH)")
}

func version(bin string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return n
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// Start runs a new server for t, stopped when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := start()
	if errors.Is(err, errMissing) {
		missing(t, err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Remove)
	return s
}

var errMissing = errors.New("pgtest")

// start makes a folder, initdb's it and runs the server.
func start() (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errMissing, err)
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup(User)
		if err != nil {
			return nil, fmt.Errorf("%w: running as root, PostgreSQL needs the user %s to run as: %v", errMissing, User, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not t.TempDir: its parent folders are root's, closed to the user
	// postgres.
	if s.dir, err = os.MkdirTemp("", "pgtest-"); err != nil {
		return nil, err
	}
	if s.cred != nil {
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			s.Remove()
			return nil, err
		}
	}
	// --no-sync: initdb's own files need not reach the disk for a test;
	// the server runs with fsync on.
	init := exec.Command(filepath.Join(bin, "initdb"), "-D", s.data(), "-U", User, "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	init.SysProcAttr = s.attrs()
	if out, err := init.CombinedOutput(); err != nil {
		s.Remove()
		return nil, fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	if err := s.Start(); err != nil {
		s.Remove()
		return nil, err
	}
	return s, nil
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// attrs runs a child as the user postgres when root, and kills it when
// the test's process dies.
func (s *Server) attrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// freePort is a loopback port nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs the server over its data folder, on the port it had (a new
// one the first time), and waits until it accepts connections: after
// Stop or Kill it starts the same databases again.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("pgtest: the server runs already")
	}
	first := s.port == 0
	deadline := time.Now().Add(ReadyTimeout)
	for {
		if first {
			p, err := freePort()
			if err != nil {
				return err
			}
			s.port = p
		}
		err := s.run(deadline)
		if err == nil {
			return nil
		}
		// The port taken meanwhile (first start), or, after Kill, the old
		// server's processes not yet gone: try again.
		if time.Now().After(deadline) || !errors.Is(err, errExited) {
			return err
		}
		time.Sleep(50 * time.Millisecond) // a retry's pace, not a wait for a condition
	}
}

var errExited = errors.New("pgtest: postgres exited")

// run starts postgres once and waits for it to answer.
func (s *Server) run(deadline time.Time) error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", s.data(),
		"-p", strconv.Itoa(s.port), "-k", s.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=60",
		"-c", "shared_buffers=16MB",
		"-c", "dynamic_shared_memory_type=posix",
		"-c", "log_min_messages=warning",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = s.attrs()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }() // reaps it
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := pgx.Connect(ctx, s.DSN("postgres"))
		cancel()
		if err == nil {
			c.Close(context.Background())
			s.cmd, s.exited = cmd, exited
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%w: %v\n%s", errExited, cmd.ProcessState, s.logTail())
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("pgtest: postgres did not accept connections in %v: %v\n%s", ReadyTimeout, err, s.logTail())
		}
		select {
		case <-exited:
		case <-time.After(20 * time.Millisecond): // polling the connection
		}
	}
}

// logTail is the end of the server's log, for an error.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Dir is the server's folder (its data in data/, its log postgres.log).
func (s *Server) Dir() string { return s.dir }

// DSN is the connection string of database db, over TCP on loopback.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable connect_timeout=5", s.port, User, db)
}

// CreateDatabase creates database name and returns its DSN.
func (s *Server) CreateDatabase(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return s.DSN(name), nil
}

// NewDatabase creates a database of its own for t and returns its DSN.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%s", s.dbs.Add(1), strings.ToLower(t.Name()))
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, name)
	if len(name) > 63 {
		name = name[:63]
	}
	dsn, err := s.CreateDatabase(name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// Stop shuts the server down (fast shutdown: sessions are ended, their
// transactions roll back) and waits for it to exit.
func (s *Server) Stop() { s.signal(syscall.SIGINT) }

// Kill kills the server (SIGKILL, as a crash) and waits for it to exit;
// its backends exit as they see it gone.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	if sig == syscall.SIGKILL {
		// The backends are in the server's process group.
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	}
	s.cmd, s.exited = nil, nil
}

// Remove stops the server and removes its folder.
func (s *Server) Remove() {
	s.Stop()
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

var shared struct {
	once sync.Once
	s    *Server
	err  error
}

// Shared is the server the package's tests share, started by the first
// call; Main stops it.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.once.Do(func() { shared.s, shared.err = start() })
	if errors.Is(shared.err, errMissing) {
		missing(t, shared.err.Error())
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.s
}

// Main runs the package's tests, then stops the shared server, if one was
// started, and exits.
func Main(m *testing.M) {
	code := m.Run()
	if shared.s != nil {
		shared.s.Remove()
	}
	os.Exit(code)
}
