//go:build linux

package server

import (
	"container/heap"
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
// committed at its end as one round (commit; commitsHere is the policy):
//   - When the log's writer is idle and no other client is reading, the
//     loop runs the round itself (eventlog.Log.AppendNow) and answers it,
//     as Redis's loop fsyncs before it answers: other connections wait for
//     that fsync, and their appends make the next round larger.
//   - Otherwise the appends go to the writer with AppendAsync; the writer
//     hands the connections back when their round is durable, and the loop
//     writes the replies: no goroutine per append, one wake-up per round.
//
// Nothing else slow runs on the loop:
//   - Every other command that is not flagged fast (ENTITY.ALL, SAVE,
//     CONFIG GET, CLIENT LIST, ...: the flags of the entry Table.Resolve
//     finds, a subcommand's own) runs on a goroutine of its own, after the
//     appends gathered before it.
//
// While its command or appends are elsewhere a connection is busy (queued,
// appending, offloaded): the loop neither reads from it nor touches its
// buffers, and takes it back from the ready queue. A connection whose
// replies the socket does not take at once waits for EPOLLOUT and is not
// read meanwhile, so a client that does not read cannot make the server
// buffer without bound.
//
// A command may block its connection (commands.Conn.Block, for XREAD
// BLOCK) or subscribe it (Conn.Subscribe, for SUBSCRIBE); see mail.go. A
// blocked connection is in epoll for EPOLLRDHUP only, its deadline in a
// heap that bounds the loop's wait, so thousands of them cost nothing
// while they wait. Other goroutines end a wait (Wait.Wake, Wait.Reply) or
// push messages (Pusher.Push) through the connection's mailbox and the
// loop's mail queue (postMail), never touching its buffers; the loop
// takes the mail between commands (deliver).

// loopConn is a connection's part in the network loop. Only the loop
// touches it, except that a command run inline may switch state between
// reading and subscribed (subscribedChanged).
type loopConn struct {
	lp   *loop
	fd   int
	wake func() // posts the connection back to the loop; built once

	state connState
	// events are the epoll events registered for the socket, kept apart
	// from state because they lag it on purpose: a busy connection keeps
	// EPOLLIN until an event comes while it is busy (then EPOLLONESHOT, so
	// that a hang-up reports once instead of on every wait), which saves
	// two epoll_ctl calls per offloaded command or async round.
	events uint32
	// hasMail: mail came while the connection was busy; it is taken when
	// the connection is back.
	hasMail bool
	// at is the connection's place in the loop's deadlines (-1: none).
	at int
}

// subscribedChanged follows a Subscribe or Unsubscribe of a command run
// inline; one run elsewhere finds its rest state when it comes back.
func (c *conn) subscribedChanged() {
	if c.lp != nil && (c.state == stateReading || c.state == stateSubscribed) {
		c.to(c.rest())
	}
}

// shutdown ends the connection's socket from any goroutine; the loop then
// reads EOF and closes it.
func (c *conn) shutdown() {
	c.mu.Lock()
	if !c.box.closed {
		unix.Shutdown(c.fd, unix.SHUT_RDWR)
	}
	c.mu.Unlock()
}

// loop is the network loop. Its flags (woken, blocking, watching, served,
// stopping, quit) are independent facts about its wake-ups, its hand-off
// policy and its end, not states of one machine, so they stay apart.
type loop struct {
	s      *Server
	log    appendLog
	epfd   int
	wakefd int // an eventfd in the epoll set: wakes a blocked epoll_wait
	conns  map[int]*conn
	events []unix.EpollEvent
	now    time.Time
	swept  time.Time
	// deadlines are the blocked connections that have one, as a heap.
	deadlines deadlineHeap

	mu    sync.Mutex
	ready []*conn // handed back by the writer, workers and accept
	spare []*conn
	// mail are the connections that were handed mail (postMail).
	mail      []*conn
	spareMail []*conn
	// spareHandoffs are handOff's submissions, reused.
	spareHandoffs []*handoff
	woken         bool // a wake-up is on its way since ready was taken
	// blocking: the loop waits in epoll_wait (wake it with wakefd), not on
	// the channels (wake it with kick).
	blocking bool
	inflight int // loop-owned: connections busy elsewhere
	// toCommit are the connections whose appends the loop runs at the end
	// of this turn (commit); all and answering are its scratch.
	toCommit  []*conn
	all       []*eventlog.Append
	allTxs    []*eventlog.Tx
	answering []*conn
	// served: the loop ran other commands this turn; servedBefore: the
	// turn before. commitsHere reads them.
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

	// trace, when set (by tests, before run), sees every state change.
	trace func(c *conn, from, to connState)
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
		s: s, log: s.appends, epfd: epfd, wakefd: wakefd,
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
	c.lp, c.fd, c.at = l, fd, -1
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
func (l *loop) post(c *conn) { l.enqueue(&l.ready, c) }

// postMail hands the loop a connection that was handed mail (conn.notify),
// from any goroutine.
func (l *loop) postMail(c *conn) { l.enqueue(&l.mail, c) }

// enqueue adds cs to one of the loop's queues under mu and wakes the
// loop, once until it takes its queues.
func (l *loop) enqueue(q *[]*conn, cs ...*conn) {
	l.mu.Lock()
	*q = append(*q, cs...)
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
		batch, mail := l.ready, l.mail
		l.ready, l.spare = l.spare[:0], nil
		l.mail, l.spareMail = l.spareMail[:0], nil
		l.woken = false
		l.mu.Unlock()
		l.now = time.Now()
		// Mail first: the readers a round of the writer served (a blocked
		// XREADGROUP) are answered before that round's appends, as when the
		// loop commits the round itself (commit).
		for i, c := range mail {
			l.deliver(c)
			mail[i] = nil
		}
		for i, c := range batch {
			l.resume(c)
			batch[i] = nil
		}
		l.mu.Lock()
		if l.spareMail == nil {
			l.spareMail = mail
		}
		l.mu.Unlock()
		if len(l.deadlines) > 0 {
			l.expire()
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
			if c == nil {
				continue
			}
			switch c.state {
			case stateReading, stateSubscribed:
				l.process(c, true)
			case stateQueued, stateAppending, stateOffloaded:
				l.arm(c, unix.EPOLLONESHOT)
			case stateWriting, stateClosing:
				l.flush(c, false)
			case stateBlocked:
				if ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
					l.close(c) // its client left: the wait ends with it
				} else {
					l.flush(c, false)
				}
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
	if len(l.ready) > 0 || len(l.mail) > 0 {
		l.mu.Unlock()
		return 0, nil
	}
	blocking := l.inflight == 0
	l.blocking = blocking
	l.mu.Unlock()
	if blocking {
		n, err = unix.EpollWait(l.epfd, l.events, l.waitMillis())
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
	l.timer.Reset(l.waitFor())
	select {
	case <-l.kick:
	case <-l.sockets:
		l.watching = false
	case <-l.timer.C:
	}
	l.timer.Stop()
	return unix.EpollWait(l.epfd, l.events, 0)
}

// waitFor is how long the loop may wait for events: until the next sweep,
// or the nearest deadline of a blocked connection.
func (l *loop) waitFor() time.Duration {
	d := sweepEvery
	if len(l.deadlines) > 0 {
		d = min(d, max(time.Until(l.deadlines[0].waitDeadline), 0))
	}
	return d
}

// waitMillis is waitFor for epoll_wait, rounded up so as not to wake
// before a deadline.
func (l *loop) waitMillis() int {
	return int((l.waitFor() + time.Millisecond - 1) / time.Millisecond)
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
	switch c.state {
	case stateNew:
		l.conns[c.fd] = c
		c.to(stateReading)
		c.events = unix.EPOLLIN
		ev := unix.EpollEvent{Events: c.events, Fd: int32(c.fd)}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
			l.s.log.Warn("epoll_ctl failed", "err", err)
			l.close(c)
		}
	case stateAppending:
		l.inflight--
		c.replyPending()
		l.carryOn(c)
	case stateOffloaded:
		l.inflight--
		if c.wantBlock {
			l.block(c)
			return
		}
		l.carryOn(c)
	default:
		panic("server: resume of a connection " + c.state.String())
	}
}

// carryOn goes on with a connection that is back from being busy or from
// a wait.
func (l *loop) carryOn(c *conn) {
	c.to(c.rest())
	l.arm(c, unix.EPOLLIN)
	if c.hasMail {
		c.hasMail = false
		c.takeMail() // pushes only: a wait would have made it blocked
	}
	if c.client.CloseAfter {
		l.flush(c, true)
		return
	}
	l.process(c, false)
}

// process runs the connection's buffered commands, reading once from the
// socket when it is readable, until it needs more input or a command must
// run elsewhere or blocks; then it writes the replies.
func (l *loop) process(c *conn, readable bool) {
	done := false
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
			done = true
			break
		}
		cmd, rerr := c.s.table.Resolve(args)
		if !c.runsInline(cmd, args) {
			l.offload(c, cmd, args)
			return
		}
		if cmd != nil && !cmd.Prepares(c.client) {
			l.served = true
		}
		c.dispatch(cmd, rerr, args)
		if c.wantBlock {
			l.block(c)
			return
		}
		if c.client.CloseAfter {
			break
		}
		if len(c.pending) >= maxPending {
			l.submit(c)
			return
		}
	}
	l.flush(c, done)
}

// runsInline reports whether the loop may run cmd itself: without pending
// appends, anything fast, failing, to be gathered, or a query whose
// arguments bound its work (Command.Bounded); with them, only another
// append that joins them (anything else needs them answered first).
func (c *conn) runsInline(cmd *commands.Command, args [][]byte) bool {
	if len(c.pending) > 0 {
		return cmd != nil && cmd.Prepares(c.client) && c.client.Authed && !c.s.loading.Load()
	}
	if cmd == nil || cmd.Prepares(c.client) || cmd.Flags&commands.FlagFast != 0 {
		return true
	}
	if c.client.Multi != nil && cmd.Flags&commands.FlagUnqueued == 0 {
		return true // queued
	}
	if cmd.Bounded == nil {
		return false
	}
	if !c.client.Authed || c.s.loading.Load() {
		return true // dispatch refuses it
	}
	return cmd.Bounded(c.ctx.Env, args)
}

// submit queues the connection's gathered appends for the loop's round
// (commit), which joins every connection's appends of this turn.
func (l *loop) submit(c *conn) {
	c.gatherAppends()
	c.to(stateQueued)
	l.toCommit = append(l.toCommit, c)
}

// commitsHere is the hand-off policy: whether the loop commits this turn's
// round itself (AppendNow, when the log's writer is idle) rather than hand
// it to the writer (AppendAsync) and go on serving. It does when it ran no
// other command this turn or the one before: then no other client is
// reading, and committing here, as Redis's loop fsyncs before it answers,
// saves the hand-off to the writer and back. When others are reading it
// would hold each of their reads up for the round's fsync (BENCHMARKS.md,
// the reading rule), so the round goes to the writer.
func (l *loop) commitsHere() bool {
	reading := l.served || l.servedBefore
	l.servedBefore, l.served = l.served, false
	return !reading
}

// commit runs the appends queued this turn, as one round on the loop or
// through the writer, as commitsHere says and AppendNow allows.
func (l *loop) commit() {
	here := l.commitsHere()
	for len(l.toCommit) > 0 {
		l.all, l.allTxs = l.all[:0], l.allTxs[:0]
		for _, c := range l.toCommit {
			l.all = append(l.all, c.appends...)
			l.allTxs = append(l.allTxs, c.txs...)
		}
		if !here || !l.log.AppendNowTx(l.all, l.allTxs) {
			l.handOff()
			clear(l.toCommit)
			l.toCommit = l.toCommit[:0]
			break
		}
		l.answering = append(l.answering[:0], l.toCommit...)
		clear(l.toCommit)
		l.toCommit = l.toCommit[:0]
		// Readers the round served (a blocked XREADGROUP gets its reply
		// from the round that gave it entries) are answered before the
		// appends, as Redis serves its blocked clients before it replies.
		l.deliverMail()
		for _, c := range l.answering {
			c.replyPending()
			l.carryOn(c) // may queue more appends of its pipeline
		}
		clear(l.answering)
	}
	clear(l.all)
	clear(l.allTxs)
}

// handOff gives the turn's appends to the log's writer as one submission,
// so that the writer is woken once a turn, not once a connection, and
// the connections are posted back together when the round is answered.
func (l *loop) handOff() {
	h := l.takeHandoff()
	for _, c := range l.toCommit {
		c.to(stateAppending)
		l.inflight++
		h.conns = append(h.conns, c)
		h.appends = append(h.appends, c.appends...)
		h.txs = append(h.txs, c.txs...)
	}
	l.log.AppendAsyncTx(h.appends, h.txs, h.done)
}

// handoff is one turn's appends in the writer's hands (handOff).
type handoff struct {
	l       *loop
	conns   []*conn
	appends []*eventlog.Append
	txs     []*eventlog.Tx
	done    func()
}

func (l *loop) takeHandoff() *handoff {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.spareHandoffs); n > 0 {
		h := l.spareHandoffs[n-1]
		l.spareHandoffs = l.spareHandoffs[:n-1]
		return h
	}
	h := &handoff{l: l}
	h.done = h.answered
	return h
}

// answered posts the connections back to the loop, from the writer.
func (h *handoff) answered() {
	l := h.l
	l.enqueue(&l.ready, h.conns...)
	clear(h.conns)
	clear(h.appends)
	clear(h.txs)
	h.conns, h.appends, h.txs = h.conns[:0], h.appends[:0], h.txs[:0]
	l.mu.Lock()
	l.spareHandoffs = append(l.spareHandoffs, h)
	l.mu.Unlock()
}

// deliverMail delivers the mail posted since the turn began.
func (l *loop) deliverMail() {
	l.mu.Lock()
	mail := l.mail
	l.mail = nil
	l.mu.Unlock()
	for _, c := range mail {
		l.deliver(c)
	}
}

// offload runs one command, after the gathered appends, on a goroutine.
func (l *loop) offload(c *conn, cmd *commands.Command, args [][]byte) {
	c.to(stateOffloaded)
	l.inflight++
	go func() {
		c.runPending()
		c.dispatch(cmd, nil, args)
		c.wake()
	}()
}

// flush writes the connection's replies. When the socket takes only part
// of them it waits for EPOLLOUT: writing, or closing when it is done (a
// read failed, QUIT); a blocked one stays blocked. Once they are written it
// reads again, or closes when it is done or the server stops.
func (l *loop) flush(c *conn, done bool) {
	left, err := c.w.FlushSome()
	if err != nil {
		l.close(c)
		return
	}
	if c.state == stateBlocked {
		l.flushBlocked(c, left)
		return
	}
	done = done || c.state == stateClosing || c.client.CloseAfter
	if left > 0 {
		c.backlog.Store(int64(left))
		l.arm(c, unix.EPOLLOUT)
		if done {
			c.to(stateClosing)
		} else {
			c.to(stateWriting)
		}
		return
	}
	waited := c.state == stateWriting || c.state == stateClosing
	if waited {
		c.backlog.Store(0)
	}
	if done || l.stopping.Load() {
		l.close(c)
		return
	}
	if waited {
		l.arm(c, unix.EPOLLIN)
		c.to(c.rest())
	}
}

// flushBlocked follows a blocked connection's write: EPOLLOUT while
// replies wait, and always EPOLLRDHUP, to see its client leave.
func (l *loop) flushBlocked(c *conn, left int) {
	c.backlog.Store(int64(left))
	if left > 0 {
		l.arm(c, unix.EPOLLOUT|unix.EPOLLRDHUP)
		return
	}
	if l.stopping.Load() {
		l.close(c)
		return
	}
	l.arm(c, unix.EPOLLRDHUP)
}

// arm registers events for the connection's socket, unless they are the
// ones registered.
func (l *loop) arm(c *conn, events uint32) {
	if c.events == events {
		return
	}
	c.events = events
	ev := unix.EpollEvent{Events: events, Fd: int32(c.fd)}
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, c.fd, &ev)
}

// sweep closes the connections idle past the timeout (not subscribed or
// blocked ones, as Redis exempts them), and once the server is stopping
// every connection at rest or blocked.
func (l *loop) sweep() {
	l.swept = l.now
	stopping := l.stopping.Load()
	timeout := l.s.idleTimeout()
	if !stopping && timeout <= 0 {
		return
	}
	for _, c := range l.conns {
		switch {
		case stopping && (c.state == stateReading || c.state == stateSubscribed ||
			c.state == stateBlocked && c.events&unix.EPOLLOUT == 0):
			l.close(c)
		case !stopping && c.state == stateReading && l.now.Sub(c.client.LastActive()) > timeout:
			l.close(c)
		}
	}
}

// close closes a connection that is not busy: its wait and its
// subscription end, and later mail is refused.
func (l *loop) close(c *conn) {
	if c.state == stateBlocked && c.at >= 0 {
		heap.Remove(&l.deadlines, c.at)
	}
	c.to(stateClosed)
	delete(l.conns, c.fd)
	c.closeMail(func() { unix.Close(c.fd) })
	l.s.forget(c)
}

// useLoop: Linux serves connections from the network loop.
const useLoop = true
