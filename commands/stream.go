package commands

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/streams"
)

// The log read as Redis streams (package streams): a key names a view (a
// stream, $all, $ce-<category>, $et-<type>), an entry's ID is
// <position>-0, and its fields are the event's. Replies have Redis 7's
// shapes; XADD is one EVENT.APPEND.

func streamCommands() []*Command {
	xinfo := &Command{
		Name: "XINFO", Arity: -2, Flags: FlagRead, Group: "stream", Since: "0.2.0",
		Syntax:  "XINFO STREAM key [FULL [COUNT count]] | XINFO HELP",
		Summary: "Describes a view of the log as Redis describes a stream.",
	}
	xinfo.Subcommands = append([]*Command{
		{
			Name: "XINFO STREAM", Arity: -3, Flags: FlagRead, Since: "0.2.0", FirstKey: 2, LastKey: 2, Step: 1,
			Syntax:  "XINFO STREAM key [FULL [COUNT count]]",
			Summary: "Returns the view's length, first and last entries (FULL: its first COUNT entries, 10 by default, 0 for all).",
			Run:     handle(parseXInfoStream, runXInfoStream),
		},
		{
			Name: "XINFO HELP", Arity: 2, Flags: FlagRead, Since: "0.2.0",
			Syntax: "XINFO HELP", Summary: "Prints this help.",
			Run: func(c *Ctx, _ [][]byte) { writeHelp(c, xinfo) },
		},
	}, xinfoGroupSubcommands()...)
	return []*Command{
		{
			Name: "XADD", Arity: -5, Flags: FlagWrite, Group: "stream", Since: "0.2.0",
			FirstKey: 1, LastKey: 1, Step: 1,
			Syntax:  "XADD stream [NOMKSTREAM] * type type data json [meta json] [id event-id]",
			Summary: "Appends one event to a stream, as EVENT.APPEND does; replies its entry ID <position>-0.",
			Prepare: prepareXAdd,
		},
		{
			Name: "XRANGE", Arity: -4, Flags: FlagRead, Group: "stream", Since: "0.2.0",
			FirstKey: 1, LastKey: 1, Step: 1,
			Syntax:  "XRANGE key start end [COUNT count] [RAW]",
			Summary: "Returns the entries of a view (a stream, $all, $ce-<category>, $et-<type>) with IDs from start to end.",
			Run:     handle(func(args [][]byte) (xrangeReq, error) { return parseXRange(args, false) }, runXRange),
		},
		{
			Name: "XREVRANGE", Arity: -4, Flags: FlagRead, Group: "stream", Since: "0.2.0",
			FirstKey: 1, LastKey: 1, Step: 1,
			Syntax:  "XREVRANGE key end start [COUNT count] [RAW]",
			Summary: "Returns the entries of a view with IDs from end down to start, newest first.",
			Run:     handle(func(args [][]byte) (xrangeReq, error) { return parseXRange(args, true) }, runXRange),
		},
		{
			Name: "XLEN", Arity: 2, Flags: FlagRead, Group: "stream", Since: "0.2.0",
			FirstKey: 1, LastKey: 1, Step: 1,
			Syntax:  "XLEN key",
			Summary: "Returns the number of entries of a view (0 when it has none).",
			Run:     handle(parseXLen, runXLen),
		},
		{
			Name: "XREAD", Arity: -4, Flags: FlagRead, Group: "stream", Since: "0.2.0",
			Syntax:  "XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]",
			Summary: "Returns the entries of each view after its ID ($: only new ones; +: the last one).",
			Run:     handle(parseXRead, runXRead),
		},
		xinfo,
		{
			Name: "XDEL", Arity: -3, Flags: FlagWrite, Group: "stream", Since: "0.2.0",
			FirstKey: 1, LastKey: 1, Step: 1,
			Syntax:  "XDEL key id [id ...]",
			Summary: "Refused: the log's events are never deleted.",
			Run:     func(c *Ctx, _ [][]byte) { c.Error(errNeverDeleted("XDEL")) },
		},
		{
			Name: "XTRIM", Arity: -4, Flags: FlagWrite, Group: "stream", Since: "0.2.0",
			FirstKey: 1, LastKey: 1, Step: 1,
			Syntax:  "XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]",
			Summary: "Refused: the log's events are never deleted.",
			Run:     func(c *Ctx, _ [][]byte) { c.Error(errNeverDeleted("XTRIM")) },
		},
	}
}

var (
	errInvalidStreamID = ReplyError("ERR Invalid stream ID specified as stream command argument")
	errNoSuchKey       = ReplyError("ERR no such key")
)

func errNeverDeleted(cmd string) error {
	return errorf("ERR %s is not supported: the log's events are never deleted", cmd)
}

// parseLongLong reads an integer as Redis's string2ll does: no sign but a
// minus, no leading zero, no space.
func parseLongLong(b []byte) (int64, bool) {
	if len(b) == 0 || b[0] == '+' || len(b) > 1 && b[0] == '0' || len(b) > 2 && b[0] == '-' && b[1] == '0' || string(b) == "-0" {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// --- XADD ---

type xaddReq struct {
	a eventlog.Append
}

// parseXAdd reads XADD's arguments as Redis does up to the ID, then the
// event's fields: type and data, and meta and id when given, in any order.
// Data and Meta alias args.
func parseXAdd(args [][]byte) (xaddReq, error) {
	var r xaddReq
	i := 2
	noMkStream := false
	for ; i < len(args); i++ {
		more := i < len(args)-1
		opt := args[i]
		switch {
		case string(opt) == "*":
		case (isWord(opt, "MAXLEN") || isWord(opt, "MINID") || isWord(opt, "LIMIT")) && more:
			return r, errorf("ERR XADD does not trim (%s): the log's events are never deleted", strings.ToUpper(string(opt)))
		case isWord(opt, "NOMKSTREAM"):
			noMkStream = true
			continue
		default:
			return r, errorf("ERR XADD takes * as the entry ID: foldb gives each entry the ID <position>-0")
		}
		break
	}
	fields := args[min(i+1, len(args)):]
	if i >= len(args) || len(fields) < 2 || len(fields)%2 == 1 {
		return r, ArityError("XADD")
	}
	v := streams.ParseKey(string(args[1]))
	if v.Derived() {
		return r, errorf("ERR %s is a view of the log and takes no appends: XADD to a stream <category>:<id>", args[1])
	}
	r.a.Stream = string(args[1])
	if err := eventlog.ValidateStream(r.a.Stream); err != nil {
		return r, err
	}
	if noMkStream {
		r.a.Expect = eventlog.Expect{Kind: eventlog.ExpectExists}
	}
	var p eventlog.Proposed
	var seen [4]bool
	for j := 0; j < len(fields); j += 2 {
		name, val := string(fields[j]), fields[j+1]
		k := slices.Index(xaddFields, name)
		if k < 0 {
			return r, errorf("ERR XADD takes the fields type, data, meta and id, not '%.128s'", name)
		}
		if seen[k] {
			return r, errorf("ERR XADD field '%s' given twice", name)
		}
		seen[k] = true
		switch k {
		case 0:
			p.Type = string(val)
		case 1:
			p.Data = val
		case 2:
			r.a.Meta = val
		case 3:
			if len(val) == 0 {
				return r, errorf("ERR XADD field id must not be empty")
			}
			r.a.ID = string(val)
		}
	}
	if !seen[0] || !seen[1] {
		return r, errorf("ERR XADD needs the fields type and data")
	}
	r.a.Events = []eventlog.Proposed{p}
	return r, nil
}

var xaddFields = []string{"type", "data", "meta", "id"}

type xaddPending struct {
	r   xaddReq
	err error
	one [1]*eventlog.Append
}

func prepareXAdd(_ *Ctx, args [][]byte) Pending {
	p := &xaddPending{}
	p.r, p.err = parseXAdd(args)
	return p
}

func (p *xaddPending) Tx() *eventlog.Tx { return nil }

func (p *xaddPending) Appends() []*eventlog.Append {
	if p.err != nil {
		return nil
	}
	p.one[0] = &p.r.a
	return p.one[:]
}

func (p *xaddPending) Reply(c *Ctx) {
	if p.err != nil {
		c.Error(p.err)
		return
	}
	res := p.r.a.Result
	var wv *eventlog.WrongVersionError
	switch {
	case errors.As(res.Err, &wv) && wv.Expected.Kind == eventlog.ExpectExists:
		c.Error(errorf("ERR NOMKSTREAM: the stream %s does not exist; nothing was written", wv.Stream))
	case res.Err != nil:
		c.Error(res.Err)
	default:
		var id [24]byte
		c.W.Bulk(streams.EntryID(res.Position).AppendTo(id[:0]))
	}
}

// --- XRANGE, XREVRANGE ---

type xrangeReq struct {
	view       streams.View
	start, end streams.ID // inclusive
	count      int64      // -1: no COUNT; 0: COUNT 0 (a null reply)
	rev        bool
	raw        bool // the events as stored, not upcast
}

// parseXRange reads XRANGE key start end or XREVRANGE key end start, and
// COUNT, in Redis's order: start, then end, then the options.
func parseXRange(args [][]byte, rev bool) (xrangeReq, error) {
	r := xrangeReq{view: streams.ParseKey(string(args[1])), count: -1, rev: rev}
	startArg, endArg := args[2], args[3]
	if rev {
		startArg, endArg = args[3], args[2]
	}
	var ex, ok bool
	var err error
	if r.start, ex, err = streams.ParseRangeID(string(startArg), 0); err != nil {
		return r, errInvalidStreamID
	}
	if ex {
		if r.start, ok = r.start.Next(); !ok {
			return r, errorf("ERR invalid start ID for the interval")
		}
	}
	if r.end, ex, err = streams.ParseRangeID(string(endArg), math.MaxUint64); err != nil {
		return r, errInvalidStreamID
	}
	if ex {
		if r.end, ok = r.end.Prev(); !ok {
			return r, errorf("ERR invalid end ID for the interval")
		}
	}
	for i := 4; i < len(args); i++ {
		if isWord(args[i], "RAW") {
			r.raw = true
			continue
		}
		if !isWord(args[i], "COUNT") || i+1 >= len(args) {
			return r, errSyntax
		}
		n, ok := parseLongLong(args[i+1])
		if !ok {
			return r, errNotInt
		}
		r.count, i = max(n, 0), i+1
	}
	return r, nil
}

func runXRange(c *Ctx, r xrangeReq) {
	rd := streams.NewReader(c.Env.Log)
	if r.count == 0 {
		// Redis answers COUNT 0 with a null, but a missing key with an
		// empty array.
		ok, err := rd.Exists(r.view)
		switch {
		case err != nil:
			c.Error(err)
		case ok:
			c.W.NullArray()
		default:
			c.W.Array(0)
		}
		return
	}
	from, to, ok := streams.Positions(r.start, r.end)
	if !ok {
		c.W.Array(0)
		return
	}
	eb := getEntries(c)
	if r.raw {
		eb = getRawEntries()
	}
	defer eb.release()
	if err := rd.Scan(r.view, from, to, limit(r.count), r.rev, eb.add); err != nil {
		c.Error(err)
		return
	}
	eb.write(c, 0, len(eb.b), eb.n)
}

// limit is a Redis COUNT as a scan's limit (<= 0: none).
func limit(count int64) int {
	if count < 0 || count > math.MaxInt32 {
		return 0
	}
	return int(count)
}

// --- XLEN ---

func parseXLen(args [][]byte) (streams.View, error) { return streams.ParseKey(string(args[1])), nil }

func runXLen(c *Ctx, v streams.View) {
	n, err := streams.NewReader(c.Env.Log).Len(v)
	if err != nil {
		c.Error(err)
		return
	}
	c.W.Int(int64(n))
}

// --- XREAD ---

// xreadFrom says where XREAD reads a key from.
type xreadFrom uint8

const (
	xreadAfter xreadFrom = iota // the entries after an ID
	xreadNew                    // $: the entries appended from now on
	xreadLast                   // +: the view's last entry (Redis 7.4)
)

type xreadStart struct {
	from xreadFrom
	id   streams.ID // for xreadAfter
}

// xreadReq is a parsed XREAD. XREADGROUP shares COUNT, BLOCK and STREAMS.
type xreadReq struct {
	count   int64 // 0: no limit
	block   bool
	timeout time.Duration // with block; 0 waits for ever
	keys    []streams.View
	starts  []xreadStart
}

// parseXRead reads XREAD's arguments in Redis's order: the options up to
// STREAMS, then every ID.
func parseXRead(args [][]byte) (xreadReq, error) {
	var r xreadReq
	streamsAt := 0
	for i := 1; i < len(args) && streamsAt == 0; i++ {
		more := i < len(args)-1
		switch opt := args[i]; {
		case isWord(opt, "BLOCK") && more:
			i++
			ms, ok := parseLongLong(args[i])
			switch {
			case !ok:
				return r, errorf("ERR timeout is not an integer or out of range")
			case ms < 0:
				return r, errorf("ERR timeout is negative")
			}
			// Redis 7.0 takes any timeout; one past what a Duration holds
			// waits for ever, as 0 does.
			r.block = true
			if ms <= math.MaxInt64/int64(time.Millisecond) {
				r.timeout = time.Duration(ms) * time.Millisecond
			}
		case isWord(opt, "COUNT") && more:
			i++
			n, ok := parseLongLong(args[i])
			if !ok {
				return r, errNotInt
			}
			r.count = max(n, 0)
		case isWord(opt, "STREAMS") && more:
			streamsAt = i + 1
			if (len(args)-streamsAt)%2 != 0 {
				return r, errorf("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.")
			}
		case isWord(opt, "GROUP") && len(args)-i > 2:
			return r, errorf("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.")
		case isWord(opt, "NOACK"):
			return r, errorf("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.")
		default:
			return r, errSyntax
		}
	}
	if streamsAt == 0 {
		return r, errSyntax
	}
	n := (len(args) - streamsAt) / 2
	r.keys, r.starts = make([]streams.View, n), make([]xreadStart, n)
	for k := range n {
		r.keys[k] = streams.ParseKey(string(args[streamsAt+k]))
		switch id := string(args[streamsAt+n+k]); id {
		case "$":
			r.starts[k].from = xreadNew
		case "+":
			r.starts[k].from = xreadLast
		case ">":
			return r, errorf("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")
		default:
			parsed, err := streams.ParseID(id, 0)
			if err != nil {
				return r, errInvalidStreamID
			}
			r.starts[k].id = parsed
		}
	}
	return r, nil
}

// xreadRange is the positions XREAD reads of one key: from..to (to == 0:
// the newest); none when nothing can come.
type xreadRange struct {
	from, to uint64
	none     bool
}

// resolve turns the keys' IDs into positions: "$" is the log's newest
// position then, "+" the view's last entry.
func (r *xreadReq) resolve(rd *streams.Reader) ([]xreadRange, error) {
	out := make([]xreadRange, len(r.keys))
	last := rd.Last()
	for k, s := range r.starts {
		switch s.from {
		case xreadNew:
			out[k].from = last + 1
		case xreadLast:
			pos, err := rd.LastEntry(r.keys[k])
			if err != nil {
				return nil, err
			}
			if pos > 0 {
				out[k].from, out[k].to = pos, pos
			} else {
				out[k].from = 1 // nothing yet: whatever comes
			}
		default:
			from, ok := streams.After(s.id)
			out[k] = xreadRange{from: from, none: !ok}
		}
	}
	return out, nil
}

func runXRead(c *Ctx, r xreadReq) {
	rd := streams.NewReader(c.Env.Log)
	// Everything up to seen is read below: a blocked read waits for what
	// comes after it.
	seen := rd.Last()
	ranges, ok := c.Client.Blocked.([]xreadRange)
	if !ok || !c.Woken {
		// A read woken from BLOCK keeps the positions it resolved first:
		// "$" is the log's end when the command came, not when it woke.
		var err error
		if ranges, err = r.resolve(rd); err != nil {
			c.Error(err)
			return
		}
	}
	c.Client.Blocked = nil
	eb := getEntries(c)
	defer eb.release()
	type part struct{ start, end, n int }
	parts := make([]part, len(r.keys))
	found := 0
	for k, v := range r.keys {
		rg := ranges[k]
		start, n := len(eb.b), eb.n
		if !rg.none {
			if err := rd.Scan(v, rg.from, rg.to, limit(r.count), false, eb.add); err != nil {
				c.Error(err)
				return
			}
		}
		parts[k] = part{start, len(eb.b), eb.n - n}
		if eb.n > n {
			found++
		}
	}
	if found == 0 {
		if r.block {
			waitForEntries(c, r, ranges, seen)
			return
		}
		c.W.NullArray()
		return
	}
	if c.W.Proto() == 3 {
		c.W.Map(found)
	} else {
		c.W.Array(found)
	}
	for k, p := range parts {
		if p.n == 0 {
			continue
		}
		if c.W.Proto() != 3 {
			c.W.Array(2)
		}
		c.W.BulkString(r.keys[k].Key)
		eb.write(c, p.start, p.end, p.n)
	}
}
