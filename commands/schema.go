package commands

import (
	"errors"
	"time"

	"github.com/foldb/foldb/state"
)

func schemaCommands() []*Command {
	return []*Command{
		{
			Name: "SCHEMA.LOAD", Arity: -2, Flags: FlagWrite | FlagAdmin, Group: "schema", Since: "0.1.0",
			Syntax:  "SCHEMA.LOAD yaml-or-json [ASYNC]",
			Summary: "Validates a schema, rebuilds the state from the log with it and stores it; the old state serves reads and appends meanwhile. A schema that does not compile changes nothing. ASYNC returns once the schema is checked.",
			Run:     runSchemaLoad,
		},
		{
			Name: "SCHEMA.STATUS", Arity: 1, Flags: FlagRead | FlagFast | FlagLoading, Group: "schema", Since: "0.2.0",
			Syntax:  "SCHEMA.STATUS",
			Summary: "Reports the newest schema change: its state, its progress while under way, why it failed.",
			Run:     runSchemaStatus,
		},
		{
			Name: "SCHEMA.GET", Arity: 1, Flags: FlagRead | FlagFast, Group: "schema", Since: "0.1.0",
			Syntax:  "SCHEMA.GET",
			Summary: "Returns the schema text in force (empty when none is loaded).",
			Run:     runSchemaGet,
		},
	}
}

var errSchemaChanging = ReplyError("ERR a schema change is under way; SCHEMA.STATUS tells how far it is")

func runSchemaLoad(c *Ctx, args [][]byte) {
	async := false
	switch {
	case len(args) == 3 && isWord(args[2], "ASYNC"):
		async = true
	case len(args) != 2:
		c.Error(errSyntax)
		return
	}
	var err error
	started := false
	if async {
		started, err = c.Env.State.SetSchemaAsync(string(args[1]))
	} else {
		err = c.Env.State.SetSchema(string(args[1]))
	}
	switch {
	case errors.Is(err, state.ErrSchemaChanging):
		c.Error(errSchemaChanging)
	case err != nil:
		c.Error(err)
	case started:
		c.W.Simple("Schema change started")
	default:
		c.W.OK()
	}
}

// runSchemaStatus writes the newest schema change's status as a map (a
// flat array under RESP2).
func runSchemaStatus(c *Ctx, _ [][]byte) {
	st, p := c.Env.State.SchemaStatus()
	w := c.W
	unixMs := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	n := 11
	if p != nil {
		n += 4
	}
	w.Map(n)
	w.BulkString("state")
	w.BulkString(st.State)
	w.BulkString("hash")
	w.BulkString(short(st.Hash))
	w.BulkString("started_ms")
	w.Int(unixMs(st.Started))
	w.BulkString("finished_ms")
	w.Int(unixMs(st.Finished))
	w.BulkString("position")
	w.Int(int64(st.Position))
	w.BulkString("error")
	w.BulkString(st.Err)
	w.BulkString("schema_hash")
	w.BulkString(short(c.Env.State.Store().Schema().Hash))
	w.BulkString("seconds")
	end := st.Finished
	if end.IsZero() {
		end = time.Now()
	}
	secs := 0.0
	if !st.Started.IsZero() {
		secs = end.Sub(st.Started).Seconds()
	}
	w.Double(secs)
	w.BulkString("types_kept")
	w.Int(int64(st.TypesKept))
	w.BulkString("types_rebuilt")
	w.Int(int64(st.TypesRebuilt))
	w.BulkString("default_projection_kept")
	w.Int(int64(boolInt(st.DefaultKept)))
	if p != nil {
		w.BulkString("step")
		w.BulkString(p.What)
		w.BulkString("events_done")
		w.Int(int64(p.Done))
		w.BulkString("events_total")
		w.Int(int64(p.Total))
		w.BulkString("events_per_sec")
		w.Int(int64(p.PerSec()))
	}
}

func runSchemaGet(c *Ctx, _ [][]byte) {
	c.W.BulkString(c.Env.State.Store().Schema().Text)
}
