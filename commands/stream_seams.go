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

// writeStreamGroupsFull writes XINFO STREAM FULL's "groups": each
// consumer group with its pending entries and consumers, as Redis 7.2
// does; count bounds each list of pending entries (0: all).
func writeStreamGroupsFull(c *Ctx, v streams.View, count int) {
	r := &streams.InfoStreamFull{Key: v.Key, Count: count}
	c.Env.Groups.Do(r)
	if err := r.Failed(); err != nil {
		// The reply has begun: an error in place of the groups keeps its
		// shape for the client's parser.
		c.W.Error(Reply(err))
		return
	}
	w := c.W
	var id [48]byte
	w.Array(len(r.Groups))
	for _, g := range r.Groups {
		w.Map(7)
		w.BulkString("name")
		w.BulkString(g.Name)
		w.BulkString("last-delivered-id")
		w.Bulk(g.LastDelivered.AppendTo(id[:0]))
		w.BulkString("entries-read")
		writeKnown(c, g.EntriesRead)
		w.BulkString("lag")
		writeKnown(c, g.Lag)
		w.BulkString("pel-count")
		w.Int(int64(g.PELCount))
		w.BulkString("pending")
		w.Array(len(g.Pending))
		for _, p := range g.Pending {
			w.Array(4)
			w.Bulk(p.ID.AppendTo(id[:0]))
			w.BulkString(p.Consumer)
			w.Int(p.Delivered)
			w.Int(int64(p.Count))
		}
		w.BulkString("consumers")
		w.Array(len(g.Consumers))
		for _, cs := range g.Consumers {
			w.Map(5)
			w.BulkString("name")
			w.BulkString(cs.Name)
			w.BulkString("seen-time")
			w.Int(cs.Seen)
			w.BulkString("active-time")
			w.Int(cs.Active)
			w.BulkString("pel-count")
			w.Int(int64(cs.PELCount))
			w.BulkString("pending")
			w.Array(len(cs.Pending))
			for _, p := range cs.Pending {
				w.Array(3)
				w.Bulk(p.ID.AppendTo(id[:0]))
				w.Int(p.Delivered)
				w.Int(int64(p.Count))
			}
		}
	}
}

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
