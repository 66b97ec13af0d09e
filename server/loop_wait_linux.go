//go:build linux

package server

import "container/heap"

// The loop's side of blocked connections: parking one, taking its mail,
// its deadline, and running its command again (mail.go has the rest).

// block parks a connection whose command blocked (commands.Conn.Block),
// run here or elsewhere: it writes the replies before it and waits, its
// deadline in the heap, reading nothing.
func (l *loop) block(c *conn) {
	c.wantBlock = false
	c.to(stateBlocked)
	if !c.waitDeadline.IsZero() {
		heap.Push(&l.deadlines, c)
	}
	l.flush(c, false)
	if c.state == stateBlocked && c.hasMail {
		c.hasMail = false
		l.deliver(c)
	}
}

// deliver takes the mail of a connection (postMail): pushes are written,
// and a wait that ended goes on with the command again or the reply handed
// over. A busy connection takes it when it is back.
func (l *loop) deliver(c *conn) {
	switch c.state {
	case stateNew, stateClosed:
		return
	case stateQueued, stateAppending, stateOffloaded:
		c.hasMail = true
		return
	case stateClosing:
		c.takeMail() // too late for it
		return
	}
	end, reply := c.takeMail()
	if end == waitGoesOn {
		l.flush(c, false)
		return
	}
	if c.state != stateBlocked {
		panic("server: a wait ended for a connection " + c.state.String())
	}
	l.unblock(c)
	if end == waitReplied {
		c.w.Raw(reply)
		l.carryOn(c)
		return
	}
	l.runAgain(c, false)
}

// expire ends the waits whose deadline has passed: their commands run
// again, with Ctx.TimedOut.
func (l *loop) expire() {
	for len(l.deadlines) > 0 && !l.deadlines[0].waitDeadline.After(l.now) {
		c := l.deadlines[0]
		if !c.timeOut() {
			// A Wake or a Reply came first; its mail ends the wait.
			heap.Pop(&l.deadlines)
			continue
		}
		l.unblock(c)
		l.runAgain(c, true)
	}
}

// unblock takes a connection whose wait ended out of its deadline and
// calls its ended callback; it is still blocked until it goes on.
func (l *loop) unblock(c *conn) {
	if c.at >= 0 {
		heap.Remove(&l.deadlines, c.at)
	}
	c.waitOver()
}

// runAgain runs a blocked command again, here when it is fast, else on a
// goroutine, after its wait ended.
func (l *loop) runAgain(c *conn, timedOut bool) {
	c.to(c.rest())
	if c.runsInline(c.waitCmd, c.waitArgs) {
		c.runAgain(timedOut)
		if c.wantBlock {
			l.block(c)
			return
		}
		l.carryOn(c)
		return
	}
	c.to(stateOffloaded)
	l.inflight++
	go func() {
		c.runAgain(timedOut)
		c.wake()
	}()
}

// deadlineHeap orders blocked connections by their deadline; each knows
// its place (conn.at), so that a wait that ends early leaves at once.
type deadlineHeap []*conn

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].waitDeadline.Before(h[j].waitDeadline) }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].at, h[j].at = i, j
}
func (h *deadlineHeap) Push(x any) {
	c := x.(*conn)
	c.at = len(*h)
	*h = append(*h, c)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.at = -1
	return c
}
