package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

const (
	startTimeout = 60 * time.Second
	loadTimeout  = 10 * time.Minute // replaying a 5M-event log on a slow machine
	stopTimeout  = 5 * time.Minute  // SHUTDOWN writes a snapshot of millions of entities
	logTimeout   = 5 * time.Second  // for a log line after INFO said loading:0
)

// server is what the rows need of foldb and redis-server alike.
type server struct {
	*proc
	addr string // 127.0.0.1:port
	port int
	dir  string
}

// foldbServer is one foldb process.
type foldbServer struct {
	server
	start string // the "foldb started" line
}

// buildFoldb builds ./cmd/foldb into the work folder, unless -foldb names a binary.
func (b *bench) buildFoldb() error {
	if b.cfg.foldbBin != "" {
		path, err := exec.LookPath(b.cfg.foldbBin)
		if err != nil {
			return fmt.Errorf("-foldb %s: %w", b.cfg.foldbBin, err)
		}
		b.foldbBin = path
		return nil
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("building foldb needs the go tool on PATH (or pass -foldb BINARY): %w", err)
	}
	b.foldbBin = b.path("foldb")
	b.progress("building foldb (go build -o %s github.com/foldb/foldb/cmd/foldb)", b.foldbBin)
	cmd := exec.CommandContext(b.ctx, goTool, "build", "-o", b.foldbBin, "github.com/foldb/foldb/cmd/foldb")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/foldb: %v\n%s", err, out)
	}
	return nil
}

var addrRE = regexp.MustCompile(` addr=(\S+)`)

// startFoldb starts foldb on a free port with data in dir and waits for its
// start line (it listens, and answers LOADING, while it folds its log).
func (b *bench) startFoldb(dir string, flags ...string) (*foldbServer, error) {
	return b.startFoldbEnv(dir, nil, flags...)
}

// startFoldbEnv is startFoldb with env added to foldb's environment (the
// databases of the SQL rows).
func (b *bench) startFoldbEnv(dir string, env []string, flags ...string) (*foldbServer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	args := append([]string{"--port", "0", "--dir", dir}, flags...)
	p, err := b.startProcEnv("foldb", b.foldbBin, env, args...)
	if err != nil {
		return nil, err
	}
	line, err := p.waitLine(`msg="foldb started"`, startTimeout)
	if err != nil {
		p.kill()
		return nil, err
	}
	m := addrRE.FindStringSubmatch(line)
	if m == nil {
		p.kill()
		return nil, fmt.Errorf("no addr= in foldb's start line %q", line)
	}
	f := &foldbServer{server: server{proc: p, addr: m[1], dir: dir}, start: line}
	i := strings.LastIndexByte(f.addr, ':')
	if f.port, err = strconv.Atoi(f.addr[i+1:]); err != nil || f.port == 0 {
		p.kill()
		return nil, fmt.Errorf("bad addr= in foldb's start line %q", line)
	}
	return f, nil
}

// startFoldbLoaded starts foldb and waits until it has loaded its state.
// It returns the time from exec to INFO loading:0.
func (b *bench) startFoldbLoaded(dir string, flags ...string) (*foldbServer, time.Duration, error) {
	return b.startFoldbLoadedEnv(dir, nil, flags...)
}

// startFoldbLoadedEnv is startFoldbLoaded with env added to foldb's
// environment.
func (b *bench) startFoldbLoadedEnv(dir string, env []string, flags ...string) (*foldbServer, time.Duration, error) {
	f, err := b.startFoldbEnv(dir, env, flags...)
	if err != nil {
		return nil, 0, err
	}
	d, err := f.waitLoaded(b.ctx)
	if err != nil {
		f.kill()
		return nil, 0, err
	}
	return f, d, nil
}

// waitLoaded polls INFO persistence every millisecond until loading:0 and
// returns the time since the process was started.
func (f *foldbServer) waitLoaded(ctx context.Context) (time.Duration, error) {
	c := f.client(1)
	defer c.Close()
	deadline := time.Now().Add(loadTimeout)
	for {
		info, err := c.Info(ctx, "persistence").Result()
		if err == nil && strings.Contains(info, "\nloading:0") {
			return time.Since(f.started), nil
		}
		if ctx.Err() != nil {
			return 0, errInterrupted
		}
		select {
		case <-f.exited:
			return 0, fmt.Errorf("foldb (pid %d) exited while loading: %v\n%s", f.pid, f.err, f.out.Tail(20))
		default:
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("foldb (pid %d) still loading after %v (last INFO error: %v)", f.pid, loadTimeout, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// shutdown sends SHUTDOWN SAVE or SHUTDOWN NOSAVE and waits for the exit.
func (f *foldbServer) shutdown(ctx context.Context, mode string) error {
	c := f.client(1)
	defer c.Close()
	// The server closes the connection instead of replying.
	err := c.Do(ctx, "SHUTDOWN", mode).Err()
	if err != nil && !isNetError(err) {
		f.kill()
		return fmt.Errorf("foldb SHUTDOWN %s: %w", mode, err)
	}
	if err := f.wait(stopTimeout); err != nil {
		return fmt.Errorf("foldb SHUTDOWN %s: %w\n%s", mode, err, f.out.Tail(20))
	}
	return nil
}

// logFields parses the key=value pairs of foldb's last log line with
// msg="<msg>"; ok is false when there is none.
func (f *foldbServer) logFields(msg string) (fields map[string]string, ok bool) {
	var line string
	for l := range strings.Lines(f.out.String()) {
		if strings.Contains(l, `msg="`+msg+`"`) {
			line = l
		}
	}
	if line == "" {
		return nil, false
	}
	return parseLogfmt(line), true
}

// waitLogFields waits up to logTimeout for a log line with msg="<msg>": the
// server may flip loading:0 before the line reaches the bench.
func (f *foldbServer) waitLogFields(msg string) (fields map[string]string, ok bool) {
	deadline := time.Now().Add(logTimeout)
	for {
		if fields, ok := f.logFields(msg); ok || time.Now().After(deadline) {
			return fields, ok
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var logfmtRE = regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S*)`)

func parseLogfmt(line string) map[string]string {
	fields := make(map[string]string)
	for _, m := range logfmtRE.FindAllStringSubmatch(line, -1) {
		v := m[2]
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
		fields[m[1]] = v
	}
	return fields
}

// client is a go-redis client of the server; the bench checks every error
// itself, so it does not retry.
func (s *server) client(pool int) *redis.Client { return s.clientWaiting(pool, time.Minute) }

// clientWaiting is client with read for a reply up to read, for commands
// that wait longer than a minute.
func (s *server) clientWaiting(pool int, read time.Duration) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:                     s.addr,
		Protocol:                 2,
		MaxRetries:               -1,
		PoolSize:                 pool,
		ReadTimeout:              read,
		WriteTimeout:             time.Minute,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
}

// infoInt reads one integer field of INFO.
func (s *server) infoInt(ctx context.Context, field string) (int64, error) {
	c := s.client(1)
	defer c.Close()
	info, err := c.Info(ctx, "everything").Result()
	if err != nil {
		return 0, fmt.Errorf("INFO of %s: %w", s.name, err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), field+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO of %s has no %s field", s.name, field)
}

// isNetError reports whether err is a broken connection rather than a reply.
func isNetError(err error) bool {
	var reply redis.Error
	return err != nil && !errors.As(err, &reply)
}
