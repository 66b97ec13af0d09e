package commands

import (
	"errors"
	"fmt"
	"time"

	"github.com/foldb/foldb/eventlog"
)

// Transactions: MULTI queues a connection's commands until EXEC, which
// commits the queued appends as one transaction (eventlog.Tx: all of them
// or none, each checked against the state with the ones before it) and
// then answers every queued command in order. WATCH makes EXEC write
// nothing, and reply nil, when a watched stream moved after the WATCH.
//
// What a transaction holds: appends, and commands that only read (they
// run after the appends, so they see them). Other writes (group and
// server commands) and commands that keep the connection (SUBSCRIBE) are
// refused while queuing, which aborts the transaction as any error while
// queuing does, as in Redis. An append's arguments are parsed and checked
// (stream name, JSON, sizes) while queuing, so a malformed one aborts the
// transaction before EXEC.
func multiCommands() []*Command {
	return []*Command{
		{Name: "MULTI", Arity: 1, Flags: FlagFast | FlagLoading | FlagStale | FlagUnqueued, Group: "transactions", Since: "0.2.0",
			Syntax: "MULTI", Summary: "Begins a transaction: the connection's commands are queued until EXEC.", Run: runMulti},
		{Name: "EXEC", Arity: 1, Flags: FlagLoading | FlagStale | FlagUnqueued, Group: "transactions", Since: "0.2.0",
			Syntax: "EXEC", Summary: "Commits the transaction's appends, all or none, and replies with every queued command's reply.",
			Run: runExec, Prepare: prepareExec, Gather: execGathers},
		{Name: "DISCARD", Arity: 1, Flags: FlagFast | FlagLoading | FlagStale | FlagUnqueued, Group: "transactions", Since: "0.2.0",
			Syntax: "DISCARD", Summary: "Forgets the queued commands and the watched streams.", Run: runDiscard},
		{Name: "WATCH", Arity: -2, Flags: FlagLoading | FlagStale | FlagUnqueued | FlagNoMulti, Group: "transactions", Since: "0.2.0",
			FirstKey: 1, LastKey: -1, Step: 1,
			Syntax: "WATCH stream [stream ...]", Summary: "Makes the next EXEC write nothing, and reply nil, if one of the streams moved meanwhile.", Run: runWatch},
		{Name: "UNWATCH", Arity: 1, Flags: FlagFast | FlagLoading | FlagStale, Group: "transactions", Since: "0.2.0",
			Syntax: "UNWATCH", Summary: "Forgets the watched streams.", Run: runUnwatch},
	}
}

var (
	errMultiNested      = ReplyError("ERR MULTI calls can not be nested")
	errExecWithoutMulti = ReplyError("ERR EXEC without MULTI")
	errDiscardNoMulti   = ReplyError("ERR DISCARD without MULTI")
	errWatchInMulti     = ReplyError("ERR WATCH inside MULTI is not allowed")
	errNotInMulti       = ReplyError("ERR Command not allowed inside a transaction")
	// ErrExecAbort answers EXEC after a command was refused while queuing.
	ErrExecAbort = ReplyError("EXECABORT Transaction discarded because of previous errors.")
)

// Multi is a connection's transaction while it queues (between MULTI and
// EXEC or DISCARD).
type Multi struct {
	queued []queued
	// failed: a command was refused while queuing; EXEC aborts.
	failed bool
}

type queued struct {
	cmd  *Command
	args [][]byte // copies: the reader reuses its buffer
	// pending is an append's parsed request.
	pending Pending
	// part is a group command that commits with the appends (XACK).
	part TxPart
}

// maxQueued bounds the commands one transaction queues.
const maxQueued = 1 << 16

// FlagMultiFailed marks the connection's transaction, if it has one, as
// refused while queuing: dispatch calls it for every error it answers
// itself (unknown command, arity, NOAUTH, LOADING), as Redis does.
func (c *Client) FlagMultiFailed() {
	if c.Multi != nil {
		c.Multi.failed = true
	}
}

// Queue queues a command of a connection in MULTI, or refuses it (which
// aborts the transaction).
func Queue(c *Ctx, cmd *Command, args [][]byte) {
	m := c.Client.Multi
	refuse := func(err error) {
		m.failed = true
		c.Error(err)
	}
	switch {
	case cmd.Flags&FlagNoMulti != 0:
		refuse(errNotInMulti)
		return
	case cmd.InTx != nil:
		if len(m.queued) >= maxQueued {
			refuse(errorf("ERR a transaction queues at most %d commands", maxQueued))
			return
		}
		part, err := cmd.InTx(c, args)
		if err != nil {
			refuse(err)
			return
		}
		m.queued = append(m.queued, queued{cmd: cmd, part: part})
		c.W.Simple("QUEUED")
		return
	case cmd.Prepare == nil && cmd.Flags&(FlagWrite|FlagAdmin) != 0:
		refuse(errorf("ERR %s is not allowed inside a transaction: a transaction holds appends and reads", cmd.Name))
		return
	case len(m.queued) >= maxQueued:
		refuse(errorf("ERR a transaction queues at most %d commands", maxQueued))
		return
	}
	q := queued{cmd: cmd, args: make([][]byte, len(args))}
	for i, a := range args {
		q.args[i] = append([]byte(nil), a...)
	}
	if cmd.Prepare != nil {
		q.pending = cmd.Prepare(c, q.args)
		appends := q.pending.Appends()
		if appends == nil {
			m.failed = true
			q.pending.Reply(c) // the parse error
			return
		}
		for _, a := range appends {
			if err := c.Env.Log.Validate(a); err != nil {
				refuse(err)
				return
			}
		}
	}
	m.queued = append(m.queued, q)
	c.W.Simple("QUEUED")
}

func runMulti(c *Ctx, _ [][]byte) {
	if c.Client.Multi != nil {
		c.Error(errMultiNested)
		return
	}
	c.Client.Multi = &Multi{}
	c.W.OK()
}

func runDiscard(c *Ctx, _ [][]byte) {
	if c.Client.Multi == nil {
		c.Error(errDiscardNoMulti)
		return
	}
	c.Client.Multi, c.Client.Watched = nil, nil
	c.W.OK()
}

func runWatch(c *Ctx, args [][]byte) {
	if c.Client.Multi != nil {
		c.Error(errWatchInMulti)
		return
	}
	for _, a := range args[1:] {
		if err := eventlog.ValidateStream(string(a)); err != nil {
			c.Error(err)
			return
		}
	}
	for _, a := range args[1:] {
		stream := string(a)
		if c.Client.watches(stream) {
			continue
		}
		v, err := c.Env.Log.Version(stream)
		if err != nil {
			c.Error(err)
			return
		}
		c.Client.Watched = append(c.Client.Watched, eventlog.Watched{Stream: stream, Version: v})
	}
	c.W.OK()
}

// watches reports whether the connection watches stream.
func (c *Client) watches(stream string) bool {
	for _, w := range c.Watched {
		if w.Stream == stream {
			return true
		}
	}
	return false
}

func runUnwatch(c *Ctx, _ [][]byte) {
	c.Client.Watched = nil
	c.W.OK()
}

// runExec commits the queued appends as one transaction, then writes
// every queued command's reply: an append's result, or, when one append
// was refused, its error and EXECABORT for every other append, naming the
// refused one and quoting its error (a client library that turns EXEC's
// first error into the whole reply's still tells why); a read's reply,
// from the state after the transaction.
func runExec(c *Ctx, _ [][]byte) {
	p, err := takeExec(c)
	if err != nil {
		c.Error(err)
		return
	}
	if len(p.tx.Appends) > 0 || len(p.tx.Watch) > 0 || len(p.tx.Ops) > 0 {
		c.Env.Log.AppendTx(p.tx)
	}
	p.Reply(c)
}

// execGathers: an EXEC whose transaction holds only appends joins the
// pipelined appends of the connection's turn, as an append does, where
// one that runs reads after its commit runs on its own.
func execGathers(cl *Client) bool {
	m := cl.Multi
	if m == nil || m.failed || len(m.queued) == 0 {
		return false
	}
	for _, q := range m.queued {
		if q.pending == nil && q.part == nil {
			return false
		}
	}
	return true
}

func prepareExec(c *Ctx, _ [][]byte) Pending {
	p, err := takeExec(c)
	if err != nil { // execGathers saw a transaction to commit
		panic(err)
	}
	return p
}

// execPending is an EXEC's transaction and what its reply needs.
type execPending struct {
	m     *Multi
	tx    *eventlog.Tx
	owner []int // the queued command of each append
}

// takeExec ends the connection's transaction and returns its commit, or
// the error EXEC answers at once.
func takeExec(c *Ctx) (*execPending, error) {
	m := c.Client.Multi
	if m == nil {
		return nil, errExecWithoutMulti
	}
	watched := c.Client.Watched
	c.Client.Multi, c.Client.Watched = nil, nil
	if m.failed {
		return nil, ErrExecAbort
	}
	p := &execPending{m: m, tx: &eventlog.Tx{Watch: watched, Refused: -1}, owner: make([]int, 0, len(m.queued))}
	for i, q := range m.queued {
		if q.pending != nil {
			for _, a := range q.pending.Appends() {
				p.tx.Appends = append(p.tx.Appends, a)
				p.owner = append(p.owner, i)
			}
		}
		if q.part != nil {
			p.tx.Ops = append(p.tx.Ops, q.part.Ops()...)
		}
	}
	return p, nil
}

func (p *execPending) Appends() []*eventlog.Append { return nil }
func (p *execPending) Tx() *eventlog.Tx            { return p.tx }

// Reply writes EXEC's reply once the transaction has its results.
func (p *execPending) Reply(c *Ctx) {
	m, tx := p.m, p.tx
	if tx.Moved {
		c.W.NullArray()
		return
	}
	var abort error
	if tx.Refused >= 0 {
		i := p.owner[tx.Refused]
		refused := tx.Appends[tx.Refused]
		abort = errorf("EXECABORT Transaction discarded because command %d (%s %s) was refused: %s", i+1, m.queued[i].cmd.Name, refused.Stream, Reply(refused.Result.Err))
	}
	c.W.Array(len(m.queued))
	for _, q := range m.queued {
		switch {
		case q.part != nil:
			if abort != nil {
				c.Error(abort)
				continue
			}
			q.part.Reply(c)
		case q.pending != nil:
			if abort != nil && aborted(q.pending) {
				c.Error(abort)
				continue
			}
			q.pending.Reply(c)
		default:
			runQueued(c, q)
		}
	}
}

// aborted reports whether an append's result is only the transaction's
// abort.
func aborted(p Pending) bool {
	for _, a := range p.Appends() {
		if !errors.Is(a.Result.Err, eventlog.ErrAborted) {
			return false
		}
	}
	return true
}

// runQueued runs a queued command that does not append, without letting it
// block: one that would wait (XREAD BLOCK) runs again as if its deadline
// had passed, as Redis runs a blocking command inside EXEC.
func runQueued(c *Ctx, q queued) {
	sub := *c
	tc := &execConn{Conn: c.Conn}
	sub.Conn = tc
	q.cmd.Run(&sub, q.args)
	if tc.blocked {
		if tc.ended != nil {
			tc.ended()
		}
		sub.TimedOut = true
		tc.blocked = false
		q.cmd.Run(&sub, q.args)
		if tc.blocked {
			panic(fmt.Sprintf("%s blocked again after its deadline", q.cmd.Name))
		}
	}
}

// execConn is the connection a queued command runs on inside EXEC: Block
// ends the wait at once.
type execConn struct {
	Conn
	blocked bool
	ended   func()
}

func (e *execConn) Block(_ time.Time, ended func()) Wait {
	e.blocked, e.ended = true, ended
	return endedWait{}
}

// endedWait is a wait that has already ended.
type endedWait struct{}

func (endedWait) Wake() bool          { return false }
func (endedWait) Reply(_ []byte) bool { return false }
