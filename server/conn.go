package server

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
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
// set); dispatch, the gathering of appends, blocking and pushes (mail.go)
// are the same for both.
type conn struct {
	s      *Server
	nc     net.Conn
	rd     *resp.Reader
	w      *resp.Writer
	ctx    commands.Ctx
	client *commands.Client

	pending []commands.Pending
	appends []*eventlog.Append
	txs     []*eventlog.Tx // EXECs gathered with the appends

	interrupted atomic.Bool
	counted     countingReader

	// A blocked command's wait (mail.go), owned by whoever runs the
	// connection's commands: wantBlock is set by Block during the command
	// and taken by the connection's server after it.
	wantBlock    bool
	rerun        bool // the blocked command runs again: Block keeps waitDeadline
	waitDeadline time.Time
	waitEnded    func()
	blockCounted bool // blockedClients counts this connection's wait
	waitCmd      *commands.Command
	waitArgs     [][]byte
	// subscribed (Conn.Subscribe) and the callbacks for its end.
	subscribed bool
	subEnded   []func()

	// mail: the mailbox (guarded by mu) holds mail the server has not
	// taken. backlog is what the reply writer holds that the socket has not
	// taken, as the server last saw it, for Push's output limit.
	mail        atomic.Bool
	backlog     atomic.Int64
	outputLimit int
	mu          sync.Mutex
	box         mailbox

	serveConn // a goroutine's part; unused by the loop
	loopConn  // the network loop's part; unused by serve
}

// serveConn is the part of a connection that serve uses to be told of mail:
// a read it may cut short, or a channel while it waits without reading.
type serveConn struct {
	inRead  bool // under mu: serve is in a read that mail cuts short
	idle    bool // under mu: that read's deadline is the idle timeout
	mailbox chan struct{}
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
	c.mailbox = make(chan struct{}, 1)
	c.init(nc, nc, nc.RemoteAddr().String(), nc.LocalAddr().String(), func() { nc.Close(); c.nudge() })
	return c
}

func (c *conn) init(r io.Reader, w io.Writer, addr, laddr string, kill func()) {
	s := c.s
	c.client = commands.NewClient(s.nextID.Add(1), addr, laddr, kill)
	c.client.Authed = !s.AuthRequired()
	c.counted = countingReader{r: r, n: &s.netInput}
	c.rd = resp.NewReader(&c.counted, s.limits(c.client.Authed))
	c.w = resp.NewWriter(w)
	c.ctx = commands.Ctx{W: c.w, Client: c.client, Env: s.env, Conn: c}
	c.outputLimit = s.outputLimit
}

// interrupt makes a connection stop at its next blocking read: it finishes
// the commands it has read, writes their replies and closes.
func (c *conn) interrupt() {
	c.interrupted.Store(true)
	if c.lp != nil {
		c.lp.interrupt()
		return
	}
	c.nudge()
}

// close closes the connection from another goroutine; its server (the
// goroutine or the loop) then sees a failed read and lets it go.
func (c *conn) close() {
	if c.lp != nil {
		c.shutdown()
		return
	}
	c.nc.Close()
	c.nudge()
}

// nudge wakes serve for mail, an interrupt or a kill: it cuts short the
// read serve is in, or ends its wait on the mailbox channel. A nudge that
// comes late, after serve took the mail it was for and began a new read,
// leaves that read alone: serve would take its cut for an idle timeout.
// (A kill closes the connection first, which ends the read anyway.)
func (c *conn) nudge() {
	c.mu.Lock()
	if c.inRead && (c.mail.Load() || c.interrupted.Load()) {
		c.nc.SetReadDeadline(aLongTimeAgo)
	}
	c.mu.Unlock()
	select {
	case c.mailbox <- struct{}{}:
	default:
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// beginRead sets the deadline of serve's next blocking read: the idle
// timeout (none while subscribed, as Redis exempts Pub/Sub clients), or a
// blocked command's deadline. It reports false, and serve must not read,
// when mail or an interrupt came first. Under mu, it and nudge cannot miss
// each other, and rearmIdle changes only an idle read's deadline.
func (c *conn) beginRead(idle bool, deadline time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mail.Load() || c.interrupted.Load() {
		return false
	}
	if idle {
		deadline = time.Time{}
		if !c.box.subscribed {
			deadline = idleDeadline(c.s.idleTimeout())
		}
	}
	c.inRead, c.idle = true, idle
	c.nc.SetReadDeadline(deadline)
	return true
}

func (c *conn) endRead() {
	c.mu.Lock()
	c.inRead = false
	c.mu.Unlock()
}

// rearmIdle applies a changed idle timeout to a goroutine-served connection
// that waits for a command, as Redis's clientsCron does.
func (c *conn) rearmIdle(d time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lp == nil && c.inRead && c.idle && !c.box.subscribed && !c.interrupted.Load() && !c.mail.Load() {
		c.nc.SetReadDeadline(d)
	}
}

func idleDeadline(t time.Duration) time.Time {
	if t <= 0 {
		return time.Time{}
	}
	return time.Now().Add(t)
}

// cutShort reports whether a failed read was cut short by mail (nudge)
// rather than ended by the idle timeout, an interrupt or the client.
func (c *conn) cutShort(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) && c.mail.Load() && !c.interrupted.Load()
}

func (c *conn) serve() {
	defer c.s.forget(c)
	defer c.closeMail(func() { c.nc.Close() })
	for {
		args, err := c.rd.Next(false)
		if args == nil && err == nil {
			c.runPending()
			if c.mail.Load() {
				c.takeMail()
			}
			if c.flushServed() != nil || c.client.CloseAfter {
				return
			}
			if !c.beginRead(true, time.Time{}) {
				if c.mail.Load() && !c.interrupted.Load() {
					continue
				}
				return
			}
			args, err = c.rd.Next(true)
			c.endRead()
			if err != nil && c.cutShort(err) {
				continue
			}
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
		if c.wantBlock && !c.serveWait() {
			return
		}
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

// flushServed is Flush with the backlog kept for a subscriber's output
// limit: a blocking write to a slow client may take long, and pushes
// meanwhile count what it holds.
func (c *conn) flushServed() error {
	if !c.subscribed {
		return c.w.Flush()
	}
	c.backlog.Store(int64(c.w.Buffered()))
	err := c.w.Flush()
	c.backlog.Store(0)
	return err
}

// serveWait parks a goroutine-served connection whose command blocked
// until the wait ends, runs what follows (the command again, or the reply
// handed over), and waits again while the command blocks again. Meanwhile
// it reads, to notice a client that leaves, as the loop does; a command
// pipelined behind the blocked one is kept, unrun, for after the wait (its
// arguments stay valid: nothing reads again before it runs), and so is a
// protocol error. It reports false when the connection is done.
func (c *conn) serveWait() bool {
	var held [][]byte
	var heldErr error
	for c.wantBlock {
		if !c.waitOnce(&held, &heldErr) {
			return false
		}
		if !c.wantBlock && held != nil {
			args := held
			held = nil
			c.client.Active(time.Now())
			cmd, err := c.s.table.Resolve(args)
			c.dispatch(cmd, err, args)
		}
	}
	if heldErr != nil {
		c.runPending()
		c.readFailed(heldErr)
		c.w.Flush()
		return false
	}
	return true
}

// waitOnce waits for the end of one wait and runs what follows it. The
// wait's ended callback runs before that, or at the connection's close.
func (c *conn) waitOnce(held *[][]byte, heldErr *error) bool {
	c.wantBlock = false
	if c.flushServed() != nil {
		return false
	}
	var timer <-chan time.Time
	if !c.waitDeadline.IsZero() {
		t := time.NewTimer(time.Until(c.waitDeadline))
		defer t.Stop()
		timer = t.C
	}
	for {
		if c.mail.Load() {
			switch end, reply := c.takeMail(); end {
			case waitWoken:
				c.waitOver()
				c.runAgain(false)
				return true
			case waitReplied:
				c.waitOver()
				c.w.Raw(reply)
				return true
			}
			if c.flushServed() != nil {
				return false
			}
		}
		if c.interrupted.Load() || c.client.Killed() {
			return false
		}
		if !c.waitDeadline.IsZero() && !time.Now().Before(c.waitDeadline) && c.timeOut() {
			c.waitOver()
			c.runAgain(true)
			return true
		}
		if *held != nil || *heldErr != nil {
			select {
			case <-c.mailbox:
			case <-timer:
			}
			continue
		}
		if !c.beginRead(false, c.waitDeadline) {
			continue
		}
		args, err := c.rd.Next(true)
		c.endRead()
		var pe *resp.ProtocolError
		switch {
		case err == nil:
			*held = args
		case errors.As(err, &pe):
			*heldErr = err
		case errors.Is(err, os.ErrDeadlineExceeded):
			// Mail, an interrupt or the deadline: the loop looks again.
		default:
			return false // the client left
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
// Appends are gathered (see runPending). In MULTI, commands are queued
// (commands.Queue) and an error answered here aborts the transaction.
func (c *conn) dispatch(cmd *commands.Command, err error, args [][]byte) {
	if cmd == nil || !cmd.Prepares(c.client) {
		c.runPending()
	}
	if err == nil {
		err = c.refusal(cmd)
	}
	if err != nil {
		c.runPending()
		c.client.FlagMultiFailed()
		c.ctx.Error(err)
		return
	}
	c.client.Touch(&cmd.Name)
	if c.client.Multi != nil && cmd.Flags&commands.FlagUnqueued == 0 {
		commands.Queue(&c.ctx, cmd, args)
		return
	}
	if cmd.Prepares(c.client) {
		c.pending = append(c.pending, cmd.Prepare(&c.ctx, args))
		return
	}
	wasAuthed := c.client.Authed
	if cmd.Flags&commands.FlagFast != 0 {
		cmd.Run(&c.ctx, args)
	} else {
		c.runTimed(cmd, args)
	}
	if c.client.Authed != wasAuthed {
		c.rd.SetLimits(c.s.limits(c.client.Authed))
	}
	if c.wantBlock {
		c.keepBlocked(cmd, args)
	}
}

// refusal is the error that dispatch answers cmd with before running it:
// NOAUTH, LOADING or, in subscribed mode, a command not allowed there.
func (c *conn) refusal(cmd *commands.Command) error {
	switch {
	case !c.client.Authed && cmd.Flags&commands.FlagNoAuth == 0:
		return commands.ErrNoAuth
	case cmd.Flags&commands.FlagLoading == 0 && c.s.loading.Load():
		return commands.ErrLoading
	case cmd.Flags&commands.FlagSubscribed == 0 && c.client.Subscribed() && c.w.Proto() == 2:
		return commands.SubscribedOnlyError(cmd.Name)
	}
	return nil
}

// runTimed runs a command that is not fast and keeps it in SLOWLOG, and
// says so in the log with the query's plan, when it ran too long.
func (c *conn) runTimed(cmd *commands.Command, args [][]byte) {
	start := time.Now()
	cmd.Run(&c.ctx, args)
	d := time.Since(start)
	sl := c.s.env.SlowLog
	if !sl.Slow(d) {
		return
	}
	e := sl.Record(c.client, args, start, d)
	attrs := []any{"command", e.Line(), "duration", d, "client", c.client.Addr}
	if cmd.Plan != nil {
		attrs = append(attrs, "plan", cmd.Plan(c.s.env, args))
	}
	c.s.log.Warn("slow command", attrs...)
}

// runPending runs the gathered appends of consecutive pipelined commands
// as one submission to the log, then writes their replies in order.
func (c *conn) runPending() {
	if len(c.pending) == 0 {
		return
	}
	c.gatherAppends()
	if len(c.appends) > 0 || len(c.txs) > 0 {
		c.s.appends.AppendBatch(c.appends, c.txs)
	}
	c.replyPending()
}

func (c *conn) gatherAppends() {
	for _, p := range c.pending {
		if tx := p.Tx(); tx != nil {
			c.txs = append(c.txs, tx)
			continue
		}
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
	clear(c.txs)
	c.pending, c.appends, c.txs = c.pending[:0], c.appends[:0], c.txs[:0]
}
