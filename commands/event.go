package commands

import (
	"bytes"

	"github.com/foldb/foldb/eventlog"
)

// DefaultRangeCount is how many events EVENT.RANGE returns without COUNT.
const DefaultRangeCount = 1000

func eventCommands() []*Command {
	return []*Command{
		{
			Name: "EVENT.APPEND", Arity: -4, Flags: FlagWrite, Group: "event", Since: "0.1.0",
			FirstKey: 1, LastKey: 1, Step: 1,
			Syntax:  "EVENT.APPEND stream [EXPECT version|ANY|NEW|EXISTS] [ID event-id] [META json] type data [type data ...]",
			Summary: "Appends events to a stream atomically; replies [version, position] of the last one.",
			Prepare: prepareAppend,
		},
		{
			Name: "EVENT.READ", Arity: -2, Flags: FlagRead, Group: "event", Since: "0.1.0",
			FirstKey: 1, LastKey: 1, Step: 1,
			Syntax:  "EVENT.READ stream [FROM version] [COUNT n] [REV] [RAW]",
			Summary: "Returns a stream's events in version order (REV: newest first).",
			Run:     handle(parseRead, runRead),
		},
		{
			Name: "EVENT.RANGE", Arity: -2, Flags: FlagRead, Group: "event", Since: "0.1.0",
			Syntax:  "EVENT.RANGE from-position [COUNT n] [TYPES type[,type...]] [RAW]",
			Summary: "Returns events of the global log from a position on (COUNT defaults to 1000).",
			Run:     handle(parseRange, runRange),
		},
		{
			Name: "EVENT.VERSION", Arity: 2, Flags: FlagRead, Group: "event", Since: "0.1.0",
			FirstKey: 1, LastKey: 1, Step: 1,
			Syntax:  "EVENT.VERSION stream",
			Summary: "Returns a stream's current version, 0 when it does not exist.",
			Run:     handle(parseVersion, runVersion),
		},
	}
}

// parseAppend reads EVENT.APPEND's arguments. Options come before the first
// event; a keyword counts as an option only when its value and at least one
// event follow it, so an event type may be called Id or Meta.
// Data and Meta alias args.
func parseAppend(args [][]byte) (eventlog.Append, error) {
	var a eventlog.Append
	if len(args) < 4 {
		return a, ArityError("EVENT.APPEND")
	}
	a.Stream = string(args[1])
	i := 2
	var seenExpect, seenID, seenMeta bool
	for len(args)-i >= 4 {
		opt, val := args[i], args[i+1]
		switch {
		case isWord(opt, "EXPECT") && !seenExpect:
			e, err := parseExpect(val)
			if err != nil {
				return a, err
			}
			a.Expect, seenExpect = e, true
		case isWord(opt, "ID") && !seenID:
			if len(val) == 0 {
				return a, errorf("ERR ID must not be empty")
			}
			a.ID, seenID = string(val), true
		case isWord(opt, "META") && !seenMeta:
			a.Meta, seenMeta = val, true
		default:
			goto events
		}
		i += 2
	}
events:
	rest := args[i:]
	if len(rest) == 0 || len(rest)%2 != 0 {
		return a, errorf("ERR syntax error: EVENT.APPEND takes type and data pairs after its options")
	}
	a.Events = make([]eventlog.Proposed, len(rest)/2)
	for j := range a.Events {
		a.Events[j] = eventlog.Proposed{Type: string(rest[2*j]), Data: rest[2*j+1]}
	}
	return a, nil
}

func parseExpect(b []byte) (eventlog.Expect, error) {
	switch {
	case isWord(b, "ANY"):
		return eventlog.Expect{Kind: eventlog.ExpectAny}, nil
	case isWord(b, "NEW"):
		return eventlog.Expect{Kind: eventlog.ExpectNew}, nil
	case isWord(b, "EXISTS"):
		return eventlog.Expect{Kind: eventlog.ExpectExists}, nil
	}
	n, err := parseUint(b)
	if err != nil {
		return eventlog.Expect{}, errorf("ERR EXPECT takes a version (0 or more), ANY, NEW or EXISTS, not '%s'", b)
	}
	return eventlog.Expect{Kind: eventlog.ExpectVersion, Version: n}, nil
}

type appendPending struct {
	a   eventlog.Append
	err error
	one [1]*eventlog.Append
}

func prepareAppend(c *Ctx, args [][]byte) Pending {
	p := &appendPending{}
	p.a, p.err = parseAppend(args)
	return p
}

func (p *appendPending) Appends() []*eventlog.Append {
	if p.err != nil {
		return nil
	}
	p.one[0] = &p.a
	return p.one[:]
}

func (p *appendPending) Tx() *eventlog.Tx { return nil }

func (p *appendPending) Reply(c *Ctx) {
	if p.err != nil {
		c.Error(p.err)
		return
	}
	if r := p.a.Result; r.Err != nil {
		c.Error(r.Err)
		return
	}
	c.W.Array(2)
	c.W.Int(int64(p.a.Result.Version))
	c.W.Int(int64(p.a.Result.Position))
}

type readReq struct {
	stream string
	from   uint64
	count  int
	rev    bool
	raw    bool // the events as stored, not upcast
}

func parseRead(args [][]byte) (readReq, error) {
	r := readReq{stream: string(args[1])}
	for i := 2; i < len(args); i++ {
		switch {
		case isWord(args[i], "REV"):
			r.rev = true
		case isWord(args[i], "RAW"):
			r.raw = true
		case isWord(args[i], "FROM") && i+1 < len(args):
			n, err := parseUint(args[i+1])
			if err != nil {
				return r, err
			}
			r.from, i = n, i+1
		case isWord(args[i], "COUNT") && i+1 < len(args):
			n, err := parseCount(args[i+1])
			if err != nil {
				return r, err
			}
			r.count, i = n, i+1
		default:
			return r, errSyntax
		}
	}
	return r, eventlog.ValidateStream(r.stream)
}

func parseCount(b []byte) (int, error) {
	n, err := parseInt(b)
	if err != nil || n < 1 || n > 1<<31 {
		return 0, errorf("ERR COUNT must be a positive integer")
	}
	return int(n), nil
}

func runRead(c *Ctx, r readReq) {
	evs, err := c.Env.Log.Read(r.stream, r.from, r.count, r.rev)
	if err != nil {
		c.Error(err)
		return
	}
	writeEvents(c, evs, r.raw)
}

type rangeReq struct {
	from  uint64
	count int
	types []string
	raw   bool // the events as stored, not upcast
}

func parseRange(args [][]byte) (rangeReq, error) {
	r := rangeReq{count: DefaultRangeCount}
	from, err := parseUint(args[1])
	if err != nil {
		return r, errorf("ERR EVENT.RANGE takes a position (0 or more) first")
	}
	r.from = from
	for i := 2; i < len(args); i++ {
		switch {
		case isWord(args[i], "COUNT") && i+1 < len(args):
			n, err := parseCount(args[i+1])
			if err != nil {
				return r, err
			}
			r.count, i = n, i+1
		case isWord(args[i], "TYPES") && i+1 < len(args):
			for _, t := range bytes.Split(args[i+1], []byte{','}) {
				if len(t) == 0 {
					return r, errorf("ERR TYPES takes a comma-separated list of event types")
				}
				r.types = append(r.types, string(t))
			}
			i++
		case isWord(args[i], "RAW"):
			r.raw = true
		default:
			return r, errSyntax
		}
	}
	return r, nil
}

func runRange(c *Ctx, r rangeReq) {
	evs, err := c.Env.Log.Range(r.from, r.count, r.types)
	if err != nil {
		c.Error(err)
		return
	}
	writeEvents(c, evs, r.raw)
}

func parseVersion(args [][]byte) (string, error) {
	s := string(args[1])
	return s, eventlog.ValidateStream(s)
}

func runVersion(c *Ctx, stream string) {
	v, err := c.Env.Log.Version(stream)
	if err != nil {
		c.Error(err)
		return
	}
	c.W.Int(int64(v))
}

// writeEvents writes events as the schema in force declares them (upcast),
// or as stored when raw, with the version of their type's shape they were
// written under. The events are upcast before anything is written, so that
// an error is the whole reply.
func writeEvents(c *Ctx, evs []eventlog.Event, raw bool) {
	if !raw && !upcastAll(c, evs) {
		return
	}
	c.W.Array(len(evs))
	for i := range evs {
		writeEvent(c, &evs[i], raw)
	}
}

// upcastAll upcasts events in place to the form the schema in force
// declares; on an error it writes the error reply and reports false.
func upcastAll(c *Ctx, evs []eventlog.Event) bool {
	up := c.Env.State.Upcaster()
	if up == nil {
		return true
	}
	for i := range evs {
		e, err := up.Upcast(&evs[i])
		if err != nil {
			c.Error(err)
			return false
		}
		evs[i] = *e
	}
	return true
}

var emptyObject = []byte("{}")

// writeEvent writes an event as a flat field/value array, or a map under
// RESP3; raw adds "typeversion".
func writeEvent(c *Ctx, e *eventlog.Event, raw bool) {
	w := c.W
	if raw {
		w.Map(9)
	} else {
		w.Map(8)
	}
	w.BulkString("position")
	w.Int(int64(e.Position))
	w.BulkString("stream")
	w.BulkString(e.Stream)
	w.BulkString("version")
	w.Int(int64(e.Version))
	w.BulkString("type")
	w.BulkString(e.Type)
	w.BulkString("data")
	w.Bulk(e.Data)
	w.BulkString("meta")
	if e.Meta == nil {
		w.Bulk(emptyObject)
	} else {
		w.Bulk(e.Meta)
	}
	w.BulkString("id")
	w.BulkString(e.ID)
	w.BulkString("time")
	w.Int(e.Time)
	if raw {
		w.BulkString("typeversion")
		w.Int(int64(e.ShapeVersion()))
	}
}
