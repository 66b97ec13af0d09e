package server

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/foldb/foldb/commands"
	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/resp"
)

// maxPending bounds how many pipelined appends one connection gathers into
// one submission.
const maxPending = 1024

// conn is one client connection. It is served either by a goroutine of its
// own (serve, with nc set) or by the network loop (loop_linux.go, with lp
// set); dispatch and the gathering of appends are the same for both.
type conn struct {
	s      *Server
	nc     net.Conn
	rd     *resp.Reader
	w      *resp.Writer
	ctx    commands.Ctx
	client *commands.Client

	pending []commands.Pending
	appends []*eventlog.Append

	interrupted atomic.Bool
	counted     countingReader

	loopConn // the network loop's part; unused by serve
}

type countingReader struct {
	r io.Reader
	n *atomic.Uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(uint64(n))
	return n, err
}

// newConn returns a connection that a goroutine of its own serves.
func (s *Server) newConn(nc net.Conn) *conn {
	c := &conn{s: s, nc: nc}
	c.init(nc, nc, nc.RemoteAddr().String(), nc.LocalAddr().String(), func() { nc.Close() })
	return c
}

func (c *conn) init(r io.Reader, w io.Writer, addr, laddr string, kill func()) {
	s := c.s
	c.client = commands.NewClient(s.nextID.Add(1), addr, laddr, kill)
	c.client.Authed = !s.AuthRequired()
	c.counted = countingReader{r: r, n: &s.netInput}
	c.rd = resp.NewReader(&c.counted, s.limits(c.client.Authed))
	c.w = resp.NewWriter(w)
	c.ctx = commands.Ctx{W: c.w, Client: c.client, Env: s.env}
}

// interrupt makes a connection stop at its next blocking read: it finishes
// the commands it has read, writes their replies and closes.
func (c *conn) interrupt() {
	c.interrupted.Store(true)
	if c.lp != nil {
		c.lp.interrupt()
		return
	}
	c.nc.SetReadDeadline(time.Now())
}

// close closes the connection from another goroutine; its server (the
// goroutine or the loop) then sees a failed read and lets it go.
func (c *conn) close() {
	if c.lp != nil {
		c.shutdown()
		return
	}
	c.nc.Close()
}

// armIdleTimeout sets the read deadline for the idle timeout before a
// blocking read, clearing it when the timeout is 0. It reports false once
// the connection is interrupted: the deadline set here may have replaced the
// interrupt's. Reading the timeout again catches a CONFIG SET whose
// rearmIdleTimeouts ran between the first read and SetReadDeadline.
func (c *conn) armIdleTimeout() bool {
	t := c.s.idleTimeout()
	c.nc.SetReadDeadline(idleDeadline(t))
	if t2 := c.s.idleTimeout(); t2 != t {
		c.nc.SetReadDeadline(idleDeadline(t2))
	}
	return !c.interrupted.Load()
}

func idleDeadline(t time.Duration) time.Time {
	if t <= 0 {
		return time.Time{}
	}
	return time.Now().Add(t)
}

func (c *conn) serve() {
	defer c.s.forget(c)
	defer c.nc.Close()
	for {
		args, err := c.rd.Next(false)
		if args == nil && err == nil {
			c.runPending()
			if c.w.Flush() != nil || c.client.CloseAfter || !c.armIdleTimeout() {
				return
			}
			args, err = c.rd.Next(true)
			c.client.Active(time.Now())
		}
		if err != nil {
			c.runPending()
			c.readFailed(err)
			c.w.Flush()
			return
		}
		cmd, err := c.s.table.Resolve(args)
		c.dispatch(cmd, err, args)
		if len(c.pending) >= maxPending {
			c.runPending()
		}
		if c.client.CloseAfter {
			c.runPending()
			c.w.Flush()
			return
		}
	}
}

// readFailed answers a protocol error, after which the connection closes
// as Redis's does; any other error (EOF, a reset) has no reply.
func (c *conn) readFailed(err error) {
	var pe *resp.ProtocolError
	if errors.As(err, &pe) {
		c.s.protocolErrors.Add(1)
		c.ctx.Error(pe)
	}
}

// dispatch runs cmd, the entry that Table.Resolve found for args, or answers
// err, Resolve's reply for a command that cannot run. Auth and loading are
// checked against cmd's own flags (a subcommand's, not its container's).
// Appends are gathered (see runPending).
func (c *conn) dispatch(cmd *commands.Command, err error, args [][]byte) {
	if cmd == nil || cmd.Prepare == nil {
		c.runPending()
	}
	if err != nil {
		c.ctx.Error(err)
		return
	}
	if !c.client.Authed && cmd.Flags&commands.FlagNoAuth == 0 {
		c.runPending()
		c.ctx.Error(commands.ErrNoAuth)
		return
	}
	if cmd.Flags&commands.FlagLoading == 0 && c.s.loading.Load() {
		c.runPending()
		c.ctx.Error(commands.ErrLoading)
		return
	}
	c.client.Touch(&cmd.Name)
	if cmd.Prepare != nil {
		c.pending = append(c.pending, cmd.Prepare(&c.ctx, args))
		return
	}
	wasAuthed := c.client.Authed
	cmd.Run(&c.ctx, args)
	if c.client.Authed != wasAuthed {
		c.rd.SetLimits(c.s.limits(c.client.Authed))
	}
}

// runPending runs the gathered appends of consecutive pipelined commands
// as one submission to the log, then writes their replies in order.
func (c *conn) runPending() {
	if len(c.pending) == 0 {
		return
	}
	c.gatherAppends()
	if len(c.appends) > 0 {
		c.s.elog.Append(c.appends...)
	}
	c.replyPending()
}

func (c *conn) gatherAppends() {
	for _, p := range c.pending {
		c.appends = append(c.appends, p.Appends()...)
	}
}

// replyPending writes the replies of the gathered commands once their
// appends have results.
func (c *conn) replyPending() {
	for i, p := range c.pending {
		p.Reply(&c.ctx)
		c.pending[i] = nil
	}
	clear(c.appends)
	c.pending, c.appends = c.pending[:0], c.appends[:0]
}
