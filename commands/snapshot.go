package commands

import (
	"errors"
	"time"

	"github.com/foldb/foldb/snapshot"
)

func snapshotCommands() []*Command {
	save := func(name, summary string) *Command {
		return &Command{
			Name: name, Arity: 1, Flags: FlagAdmin, Group: "snapshot", Since: "0.1.0",
			Syntax: name, Summary: summary, Run: runSave,
		}
	}
	return []*Command{
		save("SNAPSHOT.SAVE", "Takes a snapshot of the whole state; replies OK once it is durable."),
		save("SAVE", "Same as SNAPSHOT.SAVE."),
		{
			Name: "BGSAVE", Arity: -1, Flags: FlagAdmin, Group: "snapshot", Since: "0.1.0",
			Syntax: "BGSAVE", Summary: "Starts a snapshot in the background and replies at once.",
			Run: handle(parseBGSave, runBGSave),
		},
		{
			Name: "LASTSAVE", Arity: 1, Flags: FlagLoading | FlagFast, Group: "snapshot", Since: "0.1.0",
			Syntax: "LASTSAVE", Summary: "Returns the unix time of the newest snapshot, 0 when there is none.",
			Run: runLastSave,
		},
		{
			Name: "SNAPSHOT.INFO", Arity: 1, Flags: FlagLoading, Group: "snapshot", Since: "0.1.0",
			Syntax: "SNAPSHOT.INFO", Summary: "Describes the newest snapshot: position, time, size, path (nil when there is none).",
			Run: runSnapshotInfo,
		},
	}
}

func runSave(c *Ctx, _ [][]byte) {
	if _, err := c.Env.Snapshots.Save(); err != nil {
		if errors.Is(err, snapshot.ErrInProgress) {
			c.Error(errSaveInProgress)
			return
		}
		c.Error(err)
		return
	}
	c.W.OK()
}

// parseBGSave accepts BGSAVE and BGSAVE SCHEDULE, which is the same here:
// a snapshot does not wait for anything.
func parseBGSave(args [][]byte) (struct{}, error) {
	if len(args) > 2 || (len(args) == 2 && !isWord(args[1], "SCHEDULE")) {
		return struct{}{}, errSyntax
	}
	return struct{}{}, nil
}

func runBGSave(c *Ctx, _ struct{}) {
	if err := c.Env.Snapshots.BGSave(); err != nil {
		c.Error(errSaveInProgress)
		return
	}
	c.W.Simple("Background saving started")
}

func runLastSave(c *Ctx, _ [][]byte) {
	if l := c.Env.Snapshots.Latest(); l != nil {
		c.W.Int(l.Created.Unix())
		return
	}
	c.W.Int(0)
}

func runSnapshotInfo(c *Ctx, _ [][]byte) {
	l := c.Env.Snapshots.Latest()
	if l == nil {
		c.W.Null()
		return
	}
	w := c.W
	w.Map(7)
	w.BulkString("position")
	w.Int(int64(l.Position))
	w.BulkString("time")
	w.Int(l.Created.Unix())
	w.BulkString("size")
	w.Int(l.Size)
	w.BulkString("path")
	w.BulkString(l.Path)
	w.BulkString("entities")
	w.Int(int64(l.Entities))
	w.BulkString("duration_ms")
	w.Int(l.Duration.Milliseconds())
	w.BulkString("write_pause_us")
	w.Int(int64(l.Pause / time.Microsecond))
}
