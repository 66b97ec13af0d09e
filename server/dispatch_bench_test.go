package server

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/foldb/foldb/eventlog"
)

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

// serveFeed runs one connection over b.N commands, pipelined depth at a time.
func serveFeed(b *testing.B, s *Server, cmd []byte, depth int) {
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

func respCmd(args ...string) []byte {
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

const value100 = `{"v":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`

func BenchmarkDispatchEntityGet(b *testing.B) {
	s := startServer(b, func(o *Options) { o.Durability = eventlog.DurabilityNone })
	for i := 0; i < 1000; i++ {
		a := &eventlog.Append{Stream: fmt.Sprintf("k:%012d", i), Events: []eventlog.Proposed{{Type: "Set", Data: []byte(value100)}}}
		s.elog.Append(a)
	}
	for _, depth := range []int{1, 16} {
		b.Run(fmt.Sprintf("P%d", depth), func(b *testing.B) {
			serveFeed(b, s.Server, respCmd("ENTITY.GET", "k", "000000000500"), depth)
		})
	}
}

func BenchmarkDispatchPing(b *testing.B) {
	s := startServer(b)
	serveFeed(b, s.Server, respCmd("PING"), 16)
}

func BenchmarkDispatchAppendNone(b *testing.B) {
	s := startServer(b, func(o *Options) { o.Durability = eventlog.DurabilityNone })
	for _, depth := range []int{1, 16} {
		b.Run(fmt.Sprintf("P%d", depth), func(b *testing.B) {
			serveFeed(b, s.Server, respCmd("EVENT.APPEND", "account:1", "BalanceIncreased", `{"amount":1}`), depth)
		})
	}
}
