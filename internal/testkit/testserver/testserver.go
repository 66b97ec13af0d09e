// Package testserver runs a foldb server in the test's own process, on a
// free port of 127.0.0.1 and a data directory of the test's own, with
// go-redis clients of it. It imports package server, so the tests of that
// package that use it are an external test package (package server_test).
package testserver

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/server"
	"github.com/redis/go-redis/v9"
)

// Server is an in-process server and go-redis clients of it in RESP2 and
// RESP3.
type Server struct {
	*server.Server
	Dir  string
	Addr string
	R2   *redis.Client // Protocol: 2
	R3   *redis.Client // Protocol: 3
}

// Start starts a server with the default options, port 0 and a temporary
// directory, changed by opts in their order, and waits until its state is
// loaded. The test's cleanup closes it, and fails the test when the log did
// not close cleanly.
func Start(t testing.TB, opts ...func(*server.Options)) *Server {
	t.Helper()
	return StartLogging(t, io.Discard, opts...)
}

// StartLogging is Start with the server's log written to w as text.
func StartLogging(t testing.TB, w io.Writer, opts ...func(*server.Options)) *Server {
	t.Helper()
	o := server.DefaultOptions()
	o.Port = 0
	o.Dir = t.TempDir()
	for _, f := range opts {
		f(&o)
	}
	s, err := server.New(o, slog.New(slog.NewTextHandler(w, nil)))
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
	testkit.WaitFor(t, "the state to load", func() bool {
		select {
		case <-s.Done():
			t.Fatal("the server stopped while loading")
		default:
		}
		return !s.Loading()
	})
	ts := &Server{Server: s, Dir: o.Dir, Addr: s.Addr().String()}
	ts.R2 = ts.Client(t, 2)
	ts.R3 = ts.Client(t, 3)
	return ts
}

// Client returns a new go-redis client (testkit.ClientOptions changed by
// opts) that the test's cleanup closes.
func (ts *Server) Client(t testing.TB, proto int, opts ...func(*redis.Options)) *redis.Client {
	t.Helper()
	o := testkit.ClientOptions(ts.Addr, proto)
	for _, f := range opts {
		f(o)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// ClientFor is R2 or R3.
func (ts *Server) ClientFor(proto int) *redis.Client {
	if proto == 3 {
		return ts.R3
	}
	return ts.R2
}

// EachProto runs f as a subtest under each of testkit.Protocols, with R2 or R3.
func (ts *Server) EachProto(t *testing.T, f func(t *testing.T, rc *redis.Client, proto int)) {
	t.Helper()
	for _, p := range testkit.Protocols {
		t.Run(fmt.Sprintf("RESP%d", p), func(t *testing.T) { f(t, ts.ClientFor(p), p) })
	}
}

// Raw opens a raw connection to the server.
func (ts *Server) Raw(t testing.TB) *testkit.RawConn {
	t.Helper()
	return testkit.Dial(t, ts.Addr)
}
