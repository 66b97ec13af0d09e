package commands

import (
	"time"

	"github.com/foldb/foldb/streams"
)

// Seams of the stream commands that other work fills in. Each is a
// function of its own so that the work that replaces it changes only this
// file.

// xinfoGroupSubcommands are XINFO's subcommands about consumer groups
// (GROUPS, CONSUMERS).
func xinfoGroupSubcommands() []*Command { return groupInfoCommands() }

// streamGroupCount is XINFO STREAM's "groups": the view's consumer
// groups.
func streamGroupCount(c *Ctx, v streams.View) int {
	r := &streams.InfoGroups{Key: v.Key}
	c.Env.Groups.Do(r)
	if r.Failed() != nil {
		return 0
	}
	return len(r.Groups)
}

// writeStreamGroupsFull writes XINFO STREAM FULL's "groups": an array
// with each consumer group's description. There are none yet.
func writeStreamGroupsFull(c *Ctx, _ streams.View) { c.W.Array(0) }

// waitForEntries is XREAD BLOCK when none of its keys has an entry to
// return: the connection waits, without a goroutine, until a durable round
// appends to one of its views (the command then reads again from the
// positions it resolved first, kept in Client.Blocked) or until r.timeout
// (0: for ever), when it replies a null. seen is how far the log was read.
func waitForEntries(c *Ctx, r xreadReq, from []xreadRange, seen uint64) {
	if c.TimedOut {
		c.W.NullArray()
		return
	}
	var deadline time.Time
	if r.timeout > 0 {
		deadline = time.Now().Add(r.timeout)
	}
	c.Client.Blocked = from
	var reading *streams.Reading
	readers := c.Env.Readers
	wait := c.Conn.Block(deadline, func() {
		if reading != nil {
			readers.Cancel(reading)
		}
	})
	var ok bool
	reading, ok = readers.Wait(r.keys, seen, func() { wait.Wake() })
	if !ok {
		wait.Wake() // a round came since it read: read again now
	}
}
