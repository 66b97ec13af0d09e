package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// protocols are the RESP versions every reply-shape test runs under.
var protocols = []int{2, 3}

// testServer is an in-process server on a free port with a data directory
// of the test's own, and go-redis clients of it in RESP2 and RESP3.
type testServer struct {
	*Server
	Dir  string
	Addr string
	R2   *redis.Client // Protocol: 2
	R3   *redis.Client // Protocol: 3
}

// connGoroutines makes startServer serve each connection on a goroutine of
// its own instead of the network loop (TestGoroutinePerConnection).
var connGoroutines bool

// startServer starts a server with the default options, port 0 and a
// temporary directory, changed by opts. The test's cleanup closes it (and
// fails the test when the log did not close cleanly).
func startServer(t testing.TB, opts ...func(*Options)) *testServer {
	t.Helper()
	o := DefaultOptions()
	o.Port = 0
	o.Dir = t.TempDir()
	o.ConnGoroutines = connGoroutines
	for _, f := range opts {
		f(&o)
	}
	s, err := New(o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing the server: %v", err)
		}
	})
	waitFor(t, "the state to load", func() bool {
		select {
		case <-s.Done():
			t.Fatal("the server stopped while loading")
		default:
		}
		return !s.loading.Load()
	})
	ts := &testServer{Server: s, Dir: o.Dir, Addr: s.Addr().String()}
	ts.R2 = ts.client(t, 2)
	ts.R3 = ts.client(t, 3)
	return ts
}

// client returns a new go-redis client that the test's cleanup closes.
// Retries are off, so each call shows exactly what the server replied.
func (ts *testServer) client(t testing.TB, proto int, opts ...func(*redis.Options)) *redis.Client {
	t.Helper()
	o := &redis.Options{
		Addr:         ts.Addr,
		Protocol:     proto,
		MaxRetries:   -1,
		DialTimeout:  5 * time.Second,
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 10 * time.Second,
	}
	for _, f := range opts {
		f(o)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// clientFor is R2 or R3.
func (ts *testServer) clientFor(proto int) *redis.Client {
	if proto == 3 {
		return ts.R3
	}
	return ts.R2
}

// eachProto runs f as a subtest under RESP2 and under RESP3.
func (ts *testServer) eachProto(t *testing.T, f func(t *testing.T, rc *redis.Client, proto int)) {
	t.Helper()
	for _, p := range protocols {
		t.Run(fmt.Sprintf("RESP%d", p), func(t *testing.T) { f(t, ts.clientFor(p), p) })
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

var ctx = context.Background()

// quietLogger drops go-redis's own messages: the shutdown tests make it
// log every refused reconnection.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quietLogger{})
	os.Exit(m.Run())
}

// doer is a go-redis client, connection or pipeline.
type doer interface {
	Do(ctx context.Context, args ...any) *redis.Cmd
}

// do runs a command and fails the test on an error.
func do(t testing.TB, rc doer, args ...any) any {
	t.Helper()
	v, err := rc.Do(ctx, args...).Result()
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return v
}

// doErr runs a command that must fail with exactly want.
func doErr(t testing.TB, rc doer, want string, args ...any) {
	t.Helper()
	v, err := rc.Do(ctx, args...).Result()
	if err == nil {
		t.Fatalf("%v = %v, want error %q", args, v, want)
	}
	if err.Error() != want {
		t.Fatalf("%v: error\n  %q\nwant\n  %q", args, err.Error(), want)
	}
}

// doErrPrefix runs a command that must fail with an error starting with want.
func doErrPrefix(t testing.TB, rc doer, want string, args ...any) {
	t.Helper()
	v, err := rc.Do(ctx, args...).Result()
	if err == nil {
		t.Fatalf("%v = %v, want error %q...", args, v, want)
	}
	if !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("%v: error %q, want prefix %q", args, err.Error(), want)
	}
}

func toInt(t testing.TB, v any) int64 {
	t.Helper()
	n, ok := v.(int64)
	if !ok {
		t.Fatalf("%v (%T) is not an integer", v, v)
	}
	return n
}

// appendReply checks an EVENT.APPEND reply and returns version and position.
func appendReply(t testing.TB, v any) (version, position int64) {
	t.Helper()
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		t.Fatalf("EVENT.APPEND replied %#v, want [version, position]", v)
	}
	return toInt(t, a[0]), toInt(t, a[1])
}

// infoField returns one field of an INFO reply.
func infoField(t testing.TB, info, name string) string {
	t.Helper()
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return v
		}
	}
	t.Fatalf("INFO has no %s:\n%s", name, info)
	return ""
}

func infoInt(t testing.TB, rc *redis.Client, section, name string) int64 {
	t.Helper()
	info, err := rc.Info(ctx, section).Result()
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(infoField(t, info, name), 10, 64)
	if err != nil {
		t.Fatalf("INFO %s: %v", name, err)
	}
	return n
}

// rawConn is a bare connection for what go-redis hides: exact reply types
// (simple string or bulk, RESP3 map or flat array), connections that the
// server closes, and commands sent before any handshake.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func (ts *testServer) raw(t testing.TB) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", ts.Addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// Reply types of rawConn beside int64, nil, bool, float64 and []any.
type (
	simple   string // +...
	respErr  string // -...
	bulk     string // $...
	verbatim string // =txt:... without its format
	respMap  []any  // %...: key, value, key, value
	respSet  []any  // ~...
)

// send writes one command as a multibulk.
func (r *rawConn) send(args ...string) {
	r.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	r.write(b.String())
}

func (r *rawConn) write(s string) {
	r.t.Helper()
	r.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(r.nc, s); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// writeBehind writes s from a goroutine of its own, for a test that reads
// the replies while the requests are still going out; a failed write fails
// the test without stopping it there.
func (r *rawConn) writeBehind(s string) {
	go func() {
		r.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(r.nc, s); err != nil {
			r.t.Errorf("write: %v", err)
		}
	}()
}

// do sends a command and reads its reply.
func (r *rawConn) do(args ...string) any {
	r.t.Helper()
	r.send(args...)
	return r.read()
}

// read reads one reply; a closed connection fails the test.
func (r *rawConn) read() any {
	r.t.Helper()
	r.nc.SetReadDeadline(deadlineIn10s())
	v, err := r.readValue()
	if err != nil {
		r.t.Fatalf("reading a reply: %v", err)
	}
	return v
}

// waitClosed waits until the server closes the connection, reading and
// dropping whatever comes before.
func (r *rawConn) waitClosed() {
	r.t.Helper()
	r.nc.SetReadDeadline(deadlineIn10s())
	_, err := io.Copy(io.Discard, r.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.t.Fatal("the server did not close the connection")
	}
}

func (r *rawConn) readValue() (any, error) {
	line, err := r.br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("malformed reply line %q", line)
	}
	kind, rest := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return simple(rest), nil
	case '-':
		return respErr(rest), nil
	case ':':
		return strconv.ParseInt(rest, 10, 64)
	case '_':
		return nil, nil
	case '#':
		return rest == "t", nil
	case ',':
		return strconv.ParseFloat(rest, 64)
	case '$', '=':
		n, err := strconv.Atoi(rest)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r.br, b); err != nil {
			return nil, err
		}
		if kind == '=' {
			return verbatim(b[4:n]), nil
		}
		return bulk(b[:n]), nil
	case '*', '%', '~', '>':
		n, err := strconv.Atoi(rest)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		if kind == '%' {
			n *= 2
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = r.readValue(); err != nil {
				return nil, err
			}
		}
		switch kind {
		case '%':
			return respMap(out), nil
		case '~':
			return respSet(out), nil
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown reply type %q", line)
}

func deadlineIn10s() time.Time { return time.Now().Add(10 * time.Second) }

func deadlineIn(ms int) time.Time { return time.Now().Add(time.Duration(ms) * time.Millisecond) }
