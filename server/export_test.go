package server

import (
	"io"
	"net"
	"testing"
	"time"
)

// What the tests of package server_test reach inside the server for.

// UseLoop reports whether this system serves connections from the network
// loop (TestGoroutinePerConnection).
const UseLoop = useLoop

// MaxPending is how many pipelined commands one connection gathers into a
// submission (TestPipelineOverMaxPending).
const MaxPending = maxPending

// Releases is how many times the server returned memory after a burst
// (TestReadsDoNotRelease).
func (s *Server) Releases() int64 { return s.releases.Load() }

// ReleasedAt is the log's position at the last release
// (TestReadsDoNotRelease).
func (s *Server) ReleasedAt() uint64 { return s.releasedAt.Load() }

// IdleLooks is how many times the release's goroutine has found the log
// idle and weighed a release (TestReadsDoNotRelease).
func (s *Server) IdleLooks() int64 { return s.idleLooks.Load() }

// SetLoading makes the server answer as while loading, or as after
// (TestLoading).
func (s *Server) SetLoading(loading bool) { s.loading.Store(loading) }

// feedConn is a net.Conn that serves the same pipelined requests a number
// of times, then EOF, and throws replies away: the server's own cost per
// command, with no client and no network.
type feedConn struct {
	req   []byte
	left  int
	off   int
	wrote int
}

func (f *feedConn) Read(p []byte) (int, error) {
	if f.off == len(f.req) {
		if f.left == 0 {
			return 0, io.EOF
		}
		f.left--
		f.off = 0
	}
	n := copy(p, f.req[f.off:])
	f.off += n
	return n, nil
}

func (f *feedConn) Write(p []byte) (int, error)      { f.wrote += len(p); return len(p), nil }
func (f *feedConn) Close() error                     { return nil }
func (f *feedConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (f *feedConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (f *feedConn) SetDeadline(time.Time) error      { return nil }
func (f *feedConn) SetReadDeadline(time.Time) error  { return nil }
func (f *feedConn) SetWriteDeadline(time.Time) error { return nil }

// ServeFeed runs one connection of s over b.N commands cmd, pipelined depth
// at a time, on the benchmark's goroutine (BenchmarkDispatch*).
func ServeFeed(b *testing.B, s *Server, cmd []byte, depth int) {
	req := make([]byte, 0, len(cmd)*depth)
	for i := 0; i < depth; i++ {
		req = append(req, cmd...)
	}
	fc := &feedConn{req: req, left: max(b.N/depth, 1) - 1}
	c := s.newConn(fc)
	s.mu.Lock()
	s.clients[c.client.ID] = c
	s.connWG.Add(1)
	s.mu.Unlock()
	b.ReportAllocs()
	b.ResetTimer()
	c.serve()
}
