//go:build linux

package server

// connState is where a connection is in the network loop. Only the loop
// changes it, by conn.to, which checks each move against transitions; a
// command run inline may also switch it between reading and subscribed
// (Subscribe, Unsubscribe). The moves:
//
//	from        to                                   when
//	new         reading                              the loop takes it in (resume)
//	            closed                               epoll refused it
//	reading,    subscribed / reading                 a command subscribed / unsubscribed it
//	subscribed  queued                               its pipeline of appends is gathered (submit)
//	            offloaded                            a command that is not fast, or one behind appends
//	            blocked                              its command blocked (Conn.Block)
//	            writing                              the socket took part of its replies
//	            closing                              the same, and it is done (a read failed, QUIT)
//	            closed                               it is done, idle too long, or the server stops
//	queued      rest                                 the loop committed the round (AppendNow)
//	            appending                            the round went to the writer (AppendAsync)
//	appending   rest                                 the writer handed it back
//	offloaded   rest                                 the command's goroutine handed it back
//	            blocked                              ... and the command blocked
//	blocked     rest                                 Wake or the deadline (the command runs again
//	                                                 there or elsewhere), or Reply
//	            closed                               its client left, or the server stops
//	writing     rest                                 its replies are written
//	            writing                              still not all of them
//	            closed                               a write failed, or the server stops
//	closing     closing, closed                      its last replies are written
//
// "rest" is reading, or subscribed once a command subscribed it
// (conn.rest). A move not in the table is a bug in the loop and panics.
type connState uint8

const (
	// stateNew: accepted and posted to the loop, not yet in the epoll set.
	stateNew connState = iota
	// stateReading: in the epoll set for EPOLLIN; the loop reads it and runs
	// its commands.
	stateReading
	// stateSubscribed: as reading, and it takes pushed messages (Push),
	// which the loop writes between its replies; no idle timeout.
	stateSubscribed
	// stateQueued: its gathered appends wait for this turn's round
	// (loop.commit), which answers them or hands them to the log's writer.
	stateQueued
	// stateAppending: its appends are with the log's writer (AppendAsync),
	// which hands it back (resume) when they are durable.
	stateAppending
	// stateOffloaded: a command runs on a goroutine of its own, which owns
	// the connection's buffers and hands it back (resume).
	stateOffloaded
	// stateBlocked: its command waits for a Wake, a Reply or its deadline
	// (commands.Conn.Block). The loop reads nothing from it and watches
	// only for its client leaving (EPOLLRDHUP) and, while replies wait,
	// EPOLLOUT. It costs nothing while it waits.
	stateBlocked
	// stateWriting: the socket did not take all its replies; it waits for
	// EPOLLOUT and is not read meanwhile, so a client that does not read
	// cannot make the server buffer without bound. Then it reads again.
	stateWriting
	// stateClosing: as writing, and it closes once its replies are
	// written (a read failed, QUIT, a kill).
	stateClosing
	// stateClosed: its socket is closed and it is out of the loop.
	stateClosed
)

var stateNames = [...]string{"new", "reading", "subscribed", "queued", "appending", "offloaded", "blocked", "writing", "closing", "closed"}

func (s connState) String() string { return stateNames[s] }

const (
	toRest  = 1<<stateReading | 1<<stateSubscribed
	toLeave = 1<<stateQueued | 1<<stateOffloaded | 1<<stateBlocked | 1<<stateWriting | 1<<stateClosing | 1<<stateClosed
)

// transitions[from] has bit 1<<to set for each allowed move.
var transitions = [...]uint16{
	stateNew:        1<<stateReading | 1<<stateClosed,
	stateReading:    toRest | toLeave,
	stateSubscribed: toRest | toLeave,
	stateQueued:     toRest | 1<<stateAppending,
	stateAppending:  toRest,
	stateOffloaded:  toRest | 1<<stateBlocked,
	stateBlocked:    toRest | 1<<stateClosed,
	stateWriting:    toRest | 1<<stateWriting | 1<<stateClosed,
	stateClosing:    1<<stateClosing | 1<<stateClosed,
	stateClosed:     0,
}

// to moves the connection to state next.
func (c *conn) to(next connState) {
	if transitions[c.state]&(1<<next) == 0 {
		panic("server: connection " + c.state.String() + " -> " + next.String())
	}
	if t := c.lp.trace; t != nil {
		t(c, c.state, next)
	}
	c.state = next
}

// rest is the state the connection returns to between commands.
func (c *conn) rest() connState {
	if c.subscribed {
		return stateSubscribed
	}
	return stateReading
}
