//go:build linux

package server

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/foldb/foldb/commands"
	"github.com/foldb/foldb/eventlog"
)

// The network loop serves every connection as Redis does: one goroutine
// waits on epoll for all the sockets, reads what each ready one has, runs
// the fast commands on the spot and writes their replies. A goroutine per
// connection costs a scheduler hand-off and a wake-up on another CPU for
// each request, which is most of the time of a small read.
//
// Appends are gathered over a turn of the loop (every ready socket) and
// committed at its end as one round:
//   - When the log's writer is idle, the loop runs the round itself
//     (eventlog.Log.AppendNow) and answers it, as Redis's loop fsyncs
//     before it answers: other connections wait for that fsync, and their
//     appends make the next round larger.
//   - Otherwise the appends go to the writer with AppendAsync; the writer
//     hands the connections back when their round is durable, and the loop
//     writes the replies: no goroutine per append, one wake-up per round.
//
// Nothing else slow runs on the loop:
//   - Every other command that is not flagged fast (ENTITY.ALL, SAVE,
//     CONFIG, CLIENT, ...) runs on a goroutine of its own, after the appends
//     gathered before it.
//
// While its command runs elsewhere a connection is "busy": the loop neither
// reads from it nor touches its buffers, and takes it back from the ready
// queue. A connection whose replies the socket does not take at once waits
// for EPOLLOUT and is not read meanwhile, so a client that does not read
// cannot make the server buffer without bound.

// loopConn is a connection's state in the network loop. Only the loop
// touches it, except mu and closed (shutdown may come from any goroutine)
// and the fields a busy connection's worker owns until it hands it back.
type loopConn struct {
	lp   *loop
	fd   int
	wake func() // posts the connection to the loop; built once

	busy     bool // its command runs elsewhere
	async    bool // its gathered appends are with the log's writer
	disarmed bool // EPOLLIN was dropped while busy
	writing  bool // waiting for EPOLLOUT to write the rest of its replies
	done     bool // close once the replies are written
	added    bool // registered with epoll

	mu     sync.Mutex
	closed bool
}

// shutdown ends the connection's socket from any goroutine; the loop then
// reads EOF and closes it.
func (c *conn) shutdown() {
	c.mu.Lock()
	if !c.closed {
		unix.Shutdown(c.fd, unix.SHUT_RDWR)
	}
	c.mu.Unlock()
}

// loop is the network loop.
type loop struct {
	s      *Server
	epfd   int
	wakefd int // an eventfd in the epoll set: wakes a blocked epoll_wait
	conns  map[int]*conn
	events []unix.EpollEvent
	now    time.Time
	swept  time.Time

	mu    sync.Mutex
	ready []*conn // handed back by the writer, workers and accept
	spare []*conn
	woken bool // a wake-up is on its way since ready was taken
	// blocking: the loop waits in epoll_wait (wake it with wakefd), not on
	// the channels (wake it with kick).
	blocking bool
	inflight int // loop-owned: connections busy elsewhere
	// toCommit are the connections whose appends the loop runs at the end
	// of this turn (commit); all and answering are its scratch.
	toCommit  []*conn
	all       []*eventlog.Append
	answering []*conn
	// served: the loop ran other commands this turn or the one before, so
	// other clients are reading and a round goes to the writer rather than
	// hold them up for its fsync.
	served, servedBefore bool

	kick     chan struct{} // something was posted, or stop or interrupt
	sockets  chan struct{} // the watcher saw events
	rearm    chan struct{} // the watcher may wait for events again
	watching bool          // the watcher has a rearm it has not answered
	watched  chan struct{} // closed when the watcher has returned
	timer    *time.Timer

	stopping atomic.Bool // the server is shutting down: close idle connections
	quit     atomic.Bool // every connection is gone: return
	exited   chan struct{}
}

var errAgain = errors.New("resource temporarily unavailable")

// sweepEvery is how often the loop closes idle connections (Redis's
// clientsCron runs about as often).
const sweepEvery = 100 * time.Millisecond

func newLoop(s *Server) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, err
	}
	return &loop{
		s: s, epfd: epfd, wakefd: wakefd,
		watched: make(chan struct{}),
		kick:    make(chan struct{}, 1),
		sockets: make(chan struct{}, 1),
		rearm:   make(chan struct{}, 1),
		timer:   time.NewTimer(sweepEvery),
		conns:   make(map[int]*conn),
		events:  make([]unix.EpollEvent, 256),
		exited:  make(chan struct{}),
	}, nil
}

// adopt moves an accepted connection into the loop: the loop keeps a
// duplicate of its socket, outside Go's poller, and the net.Conn is closed.
func (l *loop) adopt(nc net.Conn) (*conn, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	cerr := raw.Control(func(s uintptr) {
		fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	})
	if cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	addr, laddr := nc.RemoteAddr().String(), nc.LocalAddr().String()
	nc.Close()
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	c := &conn{s: l.s}
	c.lp, c.fd = l, fd
	c.wake = func() { l.post(c) }
	c.init(fdReader(fd), fdWriter(fd), addr, laddr, c.shutdown)
	return c, nil
}

// fdReader reads a non-blocking socket; errAgain means nothing is there.
type fdReader int

func (fd fdReader) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(int(fd), p)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, errAgain
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// fdWriter writes a non-blocking socket: it returns a short count without
// an error once the socket takes no more.
type fdWriter int

func (fd fdWriter) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := unix.Write(int(fd), p[done:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return done, nil
		case err != nil:
			return done, err
		}
		done += n
	}
	return done, nil
}

// post hands a connection to the loop from any goroutine.
func (l *loop) post(c *conn) {
	l.mu.Lock()
	l.ready = append(l.ready, c)
	wake := !l.woken
	l.woken = true
	blocking := l.blocking
	l.mu.Unlock()
	if wake {
		l.wakeup(blocking)
	}
}

func (l *loop) wakeup(blocking bool) {
	if blocking {
		one := [8]byte{1}
		unix.Write(l.wakefd, one[:])
		return
	}
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// wakeupAll wakes the loop whichever way it waits.
func (l *loop) wakeupAll() {
	l.wakeup(true)
	l.wakeup(false)
}

// interrupt makes the loop close every connection once it has no command
// left to run and its replies are written.
func (l *loop) interrupt() {
	l.stopping.Store(true)
	l.wakeupAll()
}

// stop ends the loop once the server has no connection left.
func (l *loop) stop() {
	l.quit.Store(true)
	l.wakeupAll()
	<-l.exited
}

func (l *loop) run() {
	defer close(l.exited)
	defer unix.Close(l.wakefd)
	defer unix.Close(l.epfd)
	defer func() { close(l.rearm); <-l.watched }()
	go l.watch()
	for {
		l.mu.Lock()
		batch := l.ready
		l.ready, l.spare = l.spare[:0], nil
		l.woken = false
		l.mu.Unlock()
		l.now = time.Now()
		for i, c := range batch {
			l.resume(c)
			batch[i] = nil
		}
		l.commit()
		l.mu.Lock()
		if l.spare == nil {
			l.spare = batch
		}
		l.mu.Unlock()
		if l.now.Sub(l.swept) >= sweepEvery || l.stopping.Load() {
			l.sweep()
		}
		if l.quit.Load() {
			return
		}
		n, err := l.wait()
		if err != nil {
			l.s.log.Error("epoll_wait failed", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		l.now = time.Now()
		for _, ev := range l.events[:max(n, 0)] {
			fd := int(ev.Fd)
			if fd == l.wakefd {
				var b [8]byte
				unix.Read(l.wakefd, b[:])
				continue
			}
			c := l.conns[fd]
			switch {
			case c == nil:
			case c.busy:
				if !c.disarmed {
					c.disarmed = true
					l.ctl(c, 0)
				}
			case c.writing:
				l.flush(c)
			default:
				l.process(c, true)
			}
		}
		l.commit()
	}
}

// wait returns the ready events, or none after sweepEvery or a wake-up.
//
// With no connection busy elsewhere it blocks in epoll_wait, as Redis
// does: the cheapest wait when the loop alone serves (reads).
//
// With work out (appends with the log's writer, a command on a goroutine)
// it parks on channels instead. A thread blocked in a system call keeps its
// P (Go's scheduler slot) until sysmon takes it back, up to milliseconds
// later, so the writer the loop has just woken would wait that long; and
// parking in Go's poller would bring the writer's answer back through that
// poller, usually on the other CPU, which on a VM means waking an idle
// vCPU. On channels, the writer, the command goroutines and the watcher
// (which waits in epoll_wait for the sockets) hand over by a send, and the
// loop runs next on the sender's CPU. Measured with one client appending:
// 9-11 us from the append to the start of its round and 4-6 us from the
// round's end to the loop, against 150-290 us and 60-300 us when blocking
// in epoll_wait.
func (l *loop) wait() (int, error) {
	n, err := unix.EpollWait(l.epfd, l.events, 0)
	if n != 0 || (err != nil && err != unix.EINTR) {
		return n, err
	}
	l.mu.Lock()
	if len(l.ready) > 0 {
		l.mu.Unlock()
		return 0, nil
	}
	blocking := l.inflight == 0
	l.blocking = blocking
	l.mu.Unlock()
	if blocking {
		n, err = unix.EpollWait(l.epfd, l.events, int(sweepEvery/time.Millisecond))
		l.mu.Lock()
		l.blocking = false
		l.mu.Unlock()
		if err == unix.EINTR {
			err = nil
		}
		return n, err
	}
	// The watcher is needed only while some connection is idle: a busy
	// one's events wait for it to come back anyway. A single client's
	// append, or a round that holds every client, then costs no wake-up of
	// the watcher's thread.
	if !l.watching && len(l.conns) > l.inflight {
		l.watching = true
		l.rearm <- struct{}{}
	}
	l.timer.Reset(sweepEvery)
	select {
	case <-l.kick:
	case <-l.sockets:
		l.watching = false
	case <-l.timer.C:
	}
	l.timer.Stop()
	return unix.EpollWait(l.epfd, l.events, 0)
}

// watch waits in epoll_wait whenever the loop asks (rearm) and tells it
// when there are events (sockets). It ends when the loop does. It waits in
// a system call of its own rather than in Go's poller: with the epoll fd
// in Go's poller, every change of its readiness woke a thread of Go's
// poller, watched or not, which cost PING at 50 clients a fifth of its
// rate.
func (l *loop) watch() {
	defer close(l.watched)
	var ev [1]unix.EpollEvent
	for range l.rearm {
		for !l.quit.Load() {
			n, _ := unix.EpollWait(l.epfd, ev[:], int(sweepEvery/time.Millisecond))
			if n > 0 {
				break
			}
		}
		l.sockets <- struct{}{}
	}
}

// resume takes back a connection handed to the loop: a new one, or one
// whose command or appends are done.
func (l *loop) resume(c *conn) {
	if !c.added {
		c.added = true
		l.conns[c.fd] = c
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.fd)}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
			l.s.log.Warn("epoll_ctl failed", "err", err)
			l.close(c)
		}
		return
	}
	c.busy = false
	l.inflight--
	if c.async {
		c.async = false
		c.replyPending()
	}
	l.carryOn(c)
}

// carryOn goes on with a connection that is back from being busy.
func (l *loop) carryOn(c *conn) {
	if c.disarmed {
		c.disarmed = false
		l.ctl(c, unix.EPOLLIN)
	}
	if c.client.CloseAfter {
		l.flush(c)
		return
	}
	l.process(c, false)
}

// process runs the connection's buffered commands, reading once from the
// socket when it is readable, until it needs more input or a command must
// run elsewhere; then it writes the replies.
func (l *loop) process(c *conn, readable bool) {
	for {
		args, err := c.rd.Next(false)
		if args == nil && err == nil {
			if len(c.pending) > 0 {
				l.submit(c)
				return
			}
			if !readable {
				break
			}
			readable = false
			args, err = c.rd.Next(true)
			if err == errAgain {
				break
			}
			c.client.Active(l.now)
		}
		if err != nil {
			if len(c.pending) > 0 {
				l.submit(c) // their replies come first; the error is read again
				return
			}
			c.readFailed(err)
			c.done = true
			break
		}
		cmd, rerr := c.s.table.Resolve(args)
		if !c.runsInline(cmd) {
			l.offload(c, cmd, args)
			return
		}
		if cmd != nil && cmd.Prepare == nil {
			l.served = true
		}
		c.dispatch(cmd, rerr, args)
		if c.client.CloseAfter {
			break
		}
		if len(c.pending) >= maxPending {
			l.submit(c)
			return
		}
	}
	l.flush(c)
}

// runsInline reports whether the loop may run cmd itself: without pending
// appends, anything fast, failing or to be gathered; with them, only
// another append that joins them (anything else needs them answered first).
func (c *conn) runsInline(cmd *commands.Command) bool {
	if len(c.pending) > 0 {
		return cmd != nil && cmd.Prepare != nil && c.client.Authed && !c.s.loading.Load()
	}
	return cmd == nil || cmd.Prepare != nil || cmd.Flags&commands.FlagFast != 0
}

// submit queues the connection's gathered appends for the loop's round
// (commit), which joins every connection's appends of this turn.
func (l *loop) submit(c *conn) {
	c.gatherAppends()
	c.busy = true
	l.toCommit = append(l.toCommit, c)
}

// commit runs the appends queued this turn. When the log's writer is idle
// and no other client is reading, the loop runs them as one round itself
// and answers them, as Redis's loop fsyncs before it answers: no hand-off
// to the writer and back. Otherwise each connection's appends go to the
// writer, which hands them back, and reads go on meanwhile.
func (l *loop) commit() {
	reading := l.served || l.servedBefore
	l.servedBefore, l.served = l.served, false
	for len(l.toCommit) > 0 {
		l.all = l.all[:0]
		for _, c := range l.toCommit {
			l.all = append(l.all, c.appends...)
		}
		if reading || !l.s.elog.AppendNow(l.all) {
			for _, c := range l.toCommit {
				c.async = true
				l.inflight++
				l.s.elog.AppendAsync(c.appends, c.wake)
			}
			clear(l.toCommit)
			l.toCommit = l.toCommit[:0]
			break
		}
		l.answering = append(l.answering[:0], l.toCommit...)
		clear(l.toCommit)
		l.toCommit = l.toCommit[:0]
		for _, c := range l.answering {
			c.busy = false
			c.replyPending()
			l.carryOn(c) // may queue more appends of its pipeline
		}
		clear(l.answering)
	}
	clear(l.all)
}

// offload runs one command, after the gathered appends, on a goroutine.
func (l *loop) offload(c *conn, cmd *commands.Command, args [][]byte) {
	c.busy = true
	l.inflight++
	go func() {
		c.runPending()
		c.dispatch(cmd, nil, args)
		c.wake()
	}()
}

// flush writes the connection's replies, waiting for EPOLLOUT when the
// socket takes only part of them, and closes it when it is done.
func (l *loop) flush(c *conn) {
	left, err := c.w.FlushSome()
	if err != nil {
		l.close(c)
		return
	}
	if left > 0 {
		if !c.writing {
			c.writing = true
			l.ctl(c, unix.EPOLLOUT)
		}
		return
	}
	if c.writing {
		c.writing = false
		l.ctl(c, unix.EPOLLIN)
	}
	if c.done || c.client.CloseAfter || l.stopping.Load() {
		l.close(c)
	}
}

func (l *loop) ctl(c *conn, events uint32) {
	ev := unix.EpollEvent{Events: events, Fd: int32(c.fd)}
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, c.fd, &ev)
}

// sweep closes the connections idle past the timeout, and every idle one
// once the server is stopping.
func (l *loop) sweep() {
	l.swept = l.now
	stopping := l.stopping.Load()
	timeout := l.s.idleTimeout()
	if !stopping && timeout <= 0 {
		return
	}
	for _, c := range l.conns {
		if c.busy || c.writing {
			continue
		}
		if stopping || l.now.Sub(c.client.LastActive()) > timeout {
			l.close(c)
		}
	}
}

// close closes a connection that is not busy.
func (l *loop) close(c *conn) {
	delete(l.conns, c.fd)
	c.mu.Lock()
	c.closed = true
	unix.Close(c.fd)
	c.mu.Unlock()
	l.s.forget(c)
}

// useLoop: Linux serves connections from the network loop.
const useLoop = true
