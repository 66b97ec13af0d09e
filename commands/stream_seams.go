package commands

import "github.com/foldb/foldb/streams"

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
// return: it is to wait until one has, or until r.timeout (0: for ever),
// and then reply as XREAD does. from are the positions each key reads
// from ("$" and "+" resolved), as runXRead read them.
//
// NOT DONE: waiting belongs to the network loop. Until it does, the reply
// is at once the one of an XREAD BLOCK that timed out: a null.
func waitForEntries(c *Ctx, r xreadReq, from []xreadRange) { c.W.NullArray() }
