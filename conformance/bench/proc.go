package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/foldb/foldb/internal/testkit/outbuf"
)

// proc is one server process started by the bench (foldb or redis-server).
// It runs in its own process group, so that a Ctrl-C in the terminal reaches
// the bench only and the bench decides how its servers stop.
type proc struct {
	name    string
	cmd     *exec.Cmd
	pid     int
	started time.Time // just before exec

	out    outbuf.Buffer // stdout and stderr, line by line
	lines  chan string   // each line, for whoever waits for one (dropped when full)
	exited chan struct{}
	err    error // from Wait, once exited is closed
}

// startProc starts path with args and copies its output into p.out.
func (b *bench) startProc(name, path string, args ...string) (*proc, error) {
	return b.startProcEnv(name, path, nil, args...)
}

// startProcEnv is startProc with env added to the bench's environment.
func (b *bench) startProcEnv(name, path string, env []string, args ...string) (*proc, error) {
	return b.startProcAttr(name, path, env, &syscall.SysProcAttr{Setpgid: true}, args...)
}

// startProcCred is startProc with attributes of its own (another user).
func (b *bench) startProcCred(name, path string, attr *syscall.SysProcAttr, args ...string) (*proc, error) {
	return b.startProcAttr(name, path, nil, attr, args...)
}

func (b *bench) startProcAttr(name, path string, env []string, attr *syscall.SysProcAttr, args ...string) (*proc, error) {
	if b.ctx.Err() != nil {
		return nil, errInterrupted
	}
	p := &proc{name: name, lines: make(chan string, 1024), exited: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.SysProcAttr = attr
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	p.pid = p.cmd.Process.Pid
	b.procs.add(p)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.out.WriteString(sc.Text() + "\n")
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		close(p.exited)
		b.procs.remove(p)
	}()
	return p, nil
}

// waitLine waits for a line of output holding substr.
func (p *proc) waitLine(substr string, timeout time.Duration) (string, error) {
	deadline := time.After(timeout)
	for {
		select {
		case line := <-p.lines:
			if strings.Contains(line, substr) {
				return line, nil
			}
		case <-p.exited:
			return "", fmt.Errorf("%s (pid %d) exited before logging %q: %v\n%s", p.name, p.pid, substr, p.err, p.out.Tail(20))
		case <-deadline:
			return "", fmt.Errorf("%s (pid %d) did not log %q within %v\n%s", p.name, p.pid, substr, timeout, p.out.Tail(20))
		}
	}
}

// wait waits up to timeout for the process to exit, then kills it.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.exited:
		return p.err
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("%s (pid %d) still running %v after being told to stop; killed", p.name, p.pid, timeout)
	}
}

// kill ends the process (SIGKILL) and waits for it.
func (p *proc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.exited
}

// rss is the process's resident set size in bytes (VmRSS of /proc/PID/status).
func (p *proc) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return 0, fmt.Errorf("reading the RSS of %s: %w (the memory row needs Linux's /proc)", p.name, err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("bad VmRSS line %q", line)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", p.pid)
}

// procs are the running processes, killed when the bench ends or is interrupted.
type procs struct {
	mu  sync.Mutex
	set map[*proc]bool
}

func (r *procs) add(p *proc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set == nil {
		r.set = make(map[*proc]bool)
	}
	r.set[p] = true
}

func (r *procs) remove(p *proc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.set, p)
}

func (r *procs) killAll() {
	r.mu.Lock()
	list := make([]*proc, 0, len(r.set))
	for p := range r.set {
		list = append(list, p)
	}
	r.mu.Unlock()
	for _, p := range list {
		p.kill()
	}
}

// freePort asks the kernel for a free TCP port on 127.0.0.1. Another process
// may take it before the server binds it: callers retry on a failed start.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

var errInterrupted = errors.New("interrupted")
