//go:build !linux

package server

import (
	"errors"
	"net"
)

// Without epoll each connection has a goroutine of its own (conn.serve).
const useLoop = false

type loopConn struct{ lp *loop }

type loop struct{}

func newLoop(*Server) (*loop, error) { return nil, errors.ErrUnsupported }

func (*loop) adopt(net.Conn) (*conn, error) { return nil, errors.ErrUnsupported }
func (*loop) post(*conn)                    {}
func (*loop) postMail(*conn)                {}
func (*conn) subscribedChanged()            {}
func (*loop) run()                          {}
func (*loop) interrupt()                    {}
func (*loop) stop()                         {}
func (*conn) shutdown()                     {}
