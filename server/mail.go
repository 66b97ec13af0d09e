package server

import (
	"time"

	"github.com/foldb/foldb/commands"
)

// A connection's mail is what other goroutines hand it: the end of its
// wait (a blocked command's Wait.Wake or Wait.Reply) and pushed messages
// (a subscriber's Pusher.Push). Senders never block and never touch the
// connection's buffers: they leave the mail in the mailbox under conn.mu
// and, on the first piece since the connection's server last looked,
// notify it (conn.notify): the network loop through its mail queue
// (loop.postMail), a goroutine-served connection by cutting its read short
// (serve). The server takes the mail (takeMail) only between commands, so
// a push never lands inside a reply.
//
// This is the API that blocking commands (XREAD BLOCK) and Pub/Sub
// (SUBSCRIBE, PUBLISH) build on; commands.Conn, Wait and Pusher document
// it from the command's side.

// defaultOutputLimit is the default of the setting pubsub-output-limit:
// the bytes a connection may have waiting to be written, pushed messages
// and replies the socket has not taken, before a Push closes it, as
// Redis's client-output-buffer-limit for Pub/Sub clients (a hard limit of
// 32mb).
const defaultOutputLimit = 32 << 20

// mailbox is guarded by conn.mu.
type mailbox struct {
	closed bool // the connection is gone (on the loop: its fd is closed)

	waitGen uint64 // the number of the connection's latest wait
	waiting bool   // that wait has not ended
	woken   bool   // it ended by Wake: the command runs again
	replied bool   // it ended by Reply, with reply
	reply   []byte

	subscribed bool   // Push is taken
	outbox     []byte // pushed, not yet moved into the reply writer
}

// waitEnd is how a wait ended, as takeMail found it.
type waitEnd uint8

const (
	waitGoesOn  waitEnd = iota // no end in the mail
	waitWoken                  // run the command again
	waitReplied                // write the reply handed over
)

// Block implements commands.Conn. It runs on the command's goroutine,
// which owns the connection until the command returns; the connection's
// server parks it afterwards (loop.block, conn.serveWait).
func (c *conn) Block(deadline time.Time, ended func()) commands.Wait {
	if !c.rerun || c.ctx.TimedOut {
		// A rerun keeps its first deadline, but one past it that blocks
		// again waits for the reply it hands over, with the deadline it
		// gives.
		c.waitDeadline = deadline
	}
	c.wantBlock, c.waitEnded = true, ended
	if !c.blockCounted {
		c.blockCounted = true
		c.s.blockedClients.Add(1)
	}
	c.mu.Lock()
	c.box.waitGen++
	gen := c.box.waitGen
	c.box.waiting, c.box.woken, c.box.replied, c.box.reply = !c.box.closed, false, false, nil
	c.mu.Unlock()
	return &waitHandle{c: c, gen: gen}
}

// waitHandle is one wait of a connection, for the goroutine that ends it.
type waitHandle struct {
	c   *conn
	gen uint64
}

func (w *waitHandle) Wake() bool              { return w.c.endWait(w.gen, false, nil) }
func (w *waitHandle) Reply(reply []byte) bool { return w.c.endWait(w.gen, true, reply) }

// endWait ends the wait gen from any goroutine, unless it has ended.
func (c *conn) endWait(gen uint64, replied bool, reply []byte) bool {
	c.mu.Lock()
	if !c.box.waiting || c.box.waitGen != gen {
		c.mu.Unlock()
		return false
	}
	c.box.waiting = false
	if replied {
		c.box.replied, c.box.reply = true, append([]byte(nil), reply...)
	} else {
		c.box.woken = true
	}
	c.mu.Unlock()
	c.notify()
	return true
}

// timeOut ends the connection's wait at its deadline, unless a Wake or a
// Reply ended it first (their mail is then on its way).
func (c *conn) timeOut() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.box.waiting {
		return false
	}
	c.box.waiting = false
	return true
}

// waitOver runs, on the connection's server, what follows the end of a wait
// whatever ended it: its ended callback, once.
func (c *conn) waitOver() {
	if c.blockCounted {
		c.blockCounted = false
		c.s.blockedClients.Add(-1)
	}
	if f := c.waitEnded; f != nil {
		c.waitEnded = nil
		f()
	}
}

// runAgain runs the command that blocked, after its wait ended by Wake or
// its deadline. It may block again (keeping its deadline: rerun).
func (c *conn) runAgain(timedOut bool) {
	c.rerun, c.ctx.Woken, c.ctx.TimedOut = true, !timedOut, timedOut
	c.dispatch(c.waitCmd, nil, c.waitArgs)
	c.rerun, c.ctx.Woken, c.ctx.TimedOut = false, false, false
	if !c.wantBlock {
		c.waitCmd, c.waitArgs = nil, nil
	}
}

// keepBlocked records what a command that just blocked needs to run again:
// its entry and a copy of its arguments, which alias the reader's buffer.
func (c *conn) keepBlocked(cmd *commands.Command, args [][]byte) {
	if c.rerun {
		return // the same command and arguments
	}
	c.waitCmd = cmd
	c.waitArgs = make([][]byte, len(args))
	for i, a := range args {
		c.waitArgs[i] = append([]byte(nil), a...)
	}
}

// pushTarget is a connection seen as a commands.Pusher.
type pushTarget conn

// Subscribe implements commands.Conn.
func (c *conn) Subscribe(ended func()) commands.Pusher {
	if ended != nil {
		c.subEnded = append(c.subEnded, ended)
	}
	if !c.subscribed {
		c.subscribed = true
		c.mu.Lock()
		c.box.subscribed = !c.box.closed
		c.mu.Unlock()
		c.subscribedChanged()
	}
	return (*pushTarget)(c)
}

// Unsubscribe implements commands.Conn. The command owns the reply writer,
// so the pushes queued so far go into it now, ahead of the command's reply.
func (c *conn) Unsubscribe() {
	if !c.subscribed {
		return
	}
	c.subscribed = false
	c.mu.Lock()
	c.box.subscribed = false
	out := c.box.outbox
	c.box.outbox = nil
	c.mu.Unlock()
	c.w.Raw(out)
	c.subscriptionOver()
	c.subscribedChanged()
}

// TakePushes implements commands.Conn. The command owns the reply writer.
func (c *conn) TakePushes() {
	if !c.subscribed {
		return
	}
	c.mu.Lock()
	out := c.box.outbox
	c.box.outbox = nil
	c.mu.Unlock()
	c.w.Raw(out)
}

// subscriptionOver calls the subscription's ended callbacks, once.
func (c *conn) subscriptionOver() {
	ended := c.subEnded
	c.subEnded = nil
	for _, f := range ended {
		f()
	}
}

// Push implements commands.Pusher.
func (p *pushTarget) Push(msg []byte) bool {
	c := (*conn)(p)
	c.mu.Lock()
	if !c.box.subscribed || c.box.closed {
		c.mu.Unlock()
		return false
	}
	if int64(len(c.box.outbox)+len(msg))+c.backlog.Load() > int64(c.outputLimit) {
		// As Redis does past client-output-buffer-limit: drop what waits
		// and close the connection.
		c.box.subscribed, c.box.outbox = false, nil
		c.mu.Unlock()
		c.client.Kill()
		return false
	}
	c.box.outbox = append(c.box.outbox, msg...)
	c.mu.Unlock()
	c.notify()
	return true
}

// notify tells the connection's server that mail waits, once until it
// takes it.
func (c *conn) notify() {
	if c.mail.CompareAndSwap(false, true) {
		if c.lp != nil {
			c.lp.postMail(c)
		} else {
			c.nudge()
		}
	}
}

// takeMail moves the pushed messages into the reply writer and reports
// whether the connection's wait ended, with the reply handed over. Only the
// connection's server calls it, between commands.
func (c *conn) takeMail() (waitEnd, []byte) {
	c.mail.Store(false)
	c.mu.Lock()
	out := c.box.outbox
	c.box.outbox = nil
	end := waitGoesOn
	var reply []byte
	switch {
	case c.box.woken:
		end = waitWoken
	case c.box.replied:
		end, reply = waitReplied, c.box.reply
	}
	c.box.woken, c.box.replied, c.box.reply = false, false, nil
	c.mu.Unlock()
	if len(out) > 0 {
		c.w.Raw(out)
		if cap(out) <= keepOutbox {
			c.mu.Lock()
			if c.box.outbox == nil && c.box.subscribed {
				c.box.outbox = out[:0]
			}
			c.mu.Unlock()
		}
	}
	return end, reply
}

// keepOutbox is the largest outbox kept for the next pushes.
const keepOutbox = 64 << 10

// closeMail shuts the mailbox as the connection closes, from its server:
// later mail is refused, and the wait and the subscription end.
func (c *conn) closeMail(closeFD func()) {
	c.mu.Lock()
	c.box.closed, c.box.waiting, c.box.subscribed, c.box.outbox = true, false, false, nil
	if closeFD != nil {
		closeFD()
	}
	c.mu.Unlock()
	c.waitOver()
	c.subscriptionOver()
}
