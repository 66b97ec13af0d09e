package commands

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Projections is what the PROJECTION commands need of the SQL projectors;
// the server hands its own in. Errors are ReplyErrors.
type Projections interface {
	// Names lists the projections of the schema in force, sorted.
	Names() []string
	// Status describes a projection; rows asks for its table's row count.
	Status(name string, rows bool) (ProjectionStatus, error)
	Pause(name string) error
	Resume(name string) error
	Rebuild(name string) error
	// Wait reports the projection's checkpoint and whether it has reached
	// position; when it has not, wake is called once it does, until cancel.
	Wait(name string, position uint64, wake func() bool) (reached uint64, ok bool, cancel func(), err error)
}

// ProjectionStatus is one projection, as PROJECTION.STATUS and INFO show it.
type ProjectionStatus struct {
	Name, Database, Driver, Table string
	From                          string   // the entity type mirrored
	Events                        []string // or the event types taken
	State                         string
	Position, LogPosition, Lag    uint64
	LagMillis                     int64
	Rows                          int64 // -1: not counted
	Generation                    uint64
	LastError                     string
	LastErrorAt                   time.Time
	ValueErrors                   uint64
	FirstValueError               string
	Building                      bool
	BuildDone, BuildTotal         uint64
	BuildPerSec                   float64
}

func projectionCommands() []*Command {
	one := func(name, summary string, run func(Projections, string) error) *Command {
		return &Command{
			Name: name, Arity: 2, Flags: FlagAdmin, Group: "projection", Since: "0.4.0",
			Syntax: name + " name", Summary: summary,
			Run: func(c *Ctx, args [][]byte) {
				if err := run(c.Env.Projections, string(args[1])); err != nil {
					c.Error(err)
					return
				}
				c.W.OK()
			},
		}
	}
	return []*Command{
		{
			Name: "PROJECTION.LIST", Arity: 1, Flags: FlagRead, Group: "projection", Since: "0.4.0",
			Syntax: "PROJECTION.LIST", Summary: "Lists the SQL projections of the schema in force, each with its state, position and lag.",
			Run: runProjectionList,
		},
		{
			Name: "PROJECTION.STATUS", Arity: 2, Flags: FlagRead, Group: "projection", Since: "0.4.0",
			Syntax:  "PROJECTION.STATUS name",
			Summary: "Describes an SQL projection: database, table, state, position, lag in events and ms, rows, build progress, last error.",
			Run:     runProjectionStatus,
		},
		one("PROJECTION.PAUSE", "Stops an SQL projection after the batch under way; its table stays as it is.", Projections.Pause),
		one("PROJECTION.RESUME", "Starts a paused SQL projection again from its checkpoint.", Projections.Resume),
		one("PROJECTION.REBUILD", "Builds a fresh table from the log beside the live one and swaps it in when it has caught up.", Projections.Rebuild),
		{
			Name: "PROJECTION.WAIT", Arity: 4, Flags: FlagRead, Group: "projection", Since: "0.4.0",
			Syntax:  "PROJECTION.WAIT name position timeout-ms",
			Summary: "Waits until an SQL projection has applied the log up to position (0 ms: for ever); replies its position, or -TIMEOUT.",
			Run:     handle(parseProjectionWait, runProjectionWait),
		},
	}
}

func runProjectionList(c *Ctx, _ [][]byte) {
	p := c.Env.Projections
	names := p.Names()
	c.W.Array(len(names))
	for _, n := range names {
		st, err := p.Status(n, false)
		if err != nil {
			c.W.Null()
			continue
		}
		c.W.Map(5)
		c.W.BulkString("name")
		c.W.BulkString(st.Name)
		c.W.BulkString("state")
		c.W.BulkString(st.State)
		c.W.BulkString("position")
		c.W.Int(int64(st.Position))
		c.W.BulkString("lag_events")
		c.W.Int(int64(st.Lag))
		c.W.BulkString("table")
		c.W.BulkString(st.Database + "." + st.Table)
	}
}

func runProjectionStatus(c *Ctx, args [][]byte) {
	st, err := c.Env.Projections.Status(string(args[1]), true)
	if err != nil {
		c.Error(err)
		return
	}
	w := c.W
	source, kind := st.From, "entities"
	if st.From == "" {
		source, kind = strings.Join(st.Events, ","), "events"
	}
	pairs := 17
	if st.Building {
		pairs += 3
	}
	w.Map(pairs)
	str := func(k, v string) { w.BulkString(k); w.BulkString(v) }
	num := func(k string, v int64) { w.BulkString(k); w.Int(v) }
	str("name", st.Name)
	str("database", st.Database)
	str("driver", st.Driver)
	str("table", st.Table)
	str("kind", kind)
	str("source", source)
	str("state", st.State)
	num("position", int64(st.Position))
	num("log_position", int64(st.LogPosition))
	num("lag_events", int64(st.Lag))
	num("lag_ms", st.LagMillis)
	num("rows", st.Rows)
	num("generation", int64(st.Generation))
	num("value_errors", int64(st.ValueErrors))
	str("first_value_error", st.FirstValueError)
	str("last_error", st.LastError)
	var at int64
	if !st.LastErrorAt.IsZero() {
		at = st.LastErrorAt.UnixMilli()
	}
	num("last_error_time", at)
	if st.Building {
		num("build_done", int64(st.BuildDone))
		num("build_total", int64(st.BuildTotal))
		num("build_per_sec", int64(st.BuildPerSec))
	}
}

type projectionWaitReq struct {
	name     string
	position uint64
	timeout  time.Duration // 0: for ever
}

func parseProjectionWait(args [][]byte) (projectionWaitReq, error) {
	r := projectionWaitReq{name: string(args[1])}
	pos, err := strconv.ParseUint(string(args[2]), 10, 64)
	if err != nil {
		return r, errorf("ERR position is not a non-negative integer")
	}
	ms, err := strconv.ParseInt(string(args[3]), 10, 64)
	if err != nil || ms < 0 {
		return r, errorf("ERR timeout is not an integer or out of range")
	}
	r.position = pos
	r.timeout = time.Duration(min(ms, math.MaxInt64/int64(time.Millisecond))) * time.Millisecond
	return r, nil
}

// runProjectionWait replies at once when the projection is there; otherwise
// the connection waits, without a goroutine, until the projector's commit
// that reaches the position wakes it, or the timeout.
func runProjectionWait(c *Ctx, r projectionWaitReq) {
	p := c.Env.Projections
	if c.TimedOut {
		reached, ok, _, err := p.Wait(r.name, r.position, nil)
		switch {
		case err != nil:
			c.Error(err)
		case ok:
			c.W.Int(int64(reached))
		default:
			c.Error(errorf("TIMEOUT projection %s is at position %d, not yet %d", r.name, reached, r.position))
		}
		return
	}
	reached, ok, _, err := p.Wait(r.name, r.position, nil)
	switch {
	case err != nil:
		c.Error(err)
		return
	case ok:
		c.W.Int(int64(reached))
		return
	}
	var deadline time.Time
	if r.timeout > 0 {
		deadline = time.Now().Add(r.timeout)
	}
	var cancel func()
	wait := c.Conn.Block(deadline, func() {
		if cancel != nil {
			cancel()
		}
	})
	_, ok, cancel, err = p.Wait(r.name, r.position, wait.Wake)
	if ok || err != nil {
		wait.Wake() // it got there meanwhile: run again and reply
	}
}
