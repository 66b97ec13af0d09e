package commands

import (
	"bytes"
	"errors"
	"math"
	"time"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/resp"
	"github.com/foldb/foldb/streams"
)

// Consumer groups: XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM
// and XINFO GROUPS/CONSUMERS, with Redis 7's arguments, replies and errors
// (t_stream.c), over package streams, which decides every one on the log's
// writer and stores the groups durably. Where Redis checks a group before
// it parses an argument, the parse error travels in the request (Invalid)
// and is answered in Redis's order.

func groupCommands() []*Command {
	xgroup := &Command{
		Name: "XGROUP", Arity: -2, Flags: FlagWrite, Group: "stream", Since: "0.2.0",
		Syntax:  "XGROUP CREATE | DESTROY | SETID | CREATECONSUMER | DELCONSUMER | HELP ...",
		Summary: "Creates, changes and destroys consumer groups and their consumers.",
	}
	xgroup.Subcommands = []*Command{
		{Name: "XGROUP CREATE", Arity: -5, Flags: FlagWrite, FirstKey: 2, LastKey: 2, Step: 1,
			Syntax: "XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD entries-read]", Summary: "Creates a consumer group on a stream key.",
			Run: handle(parseGroupCreate, runGroupCreate)},
		{Name: "XGROUP SETID", Arity: -5, Flags: FlagWrite, FirstKey: 2, LastKey: 2, Step: 1,
			Syntax: "XGROUP SETID key group id|$ [ENTRIESREAD entries-read]", Summary: "Sets a group's last-delivered ID.",
			Run: handle(parseGroupSetID, runGroupSetID)},
		{Name: "XGROUP DESTROY", Arity: 4, Flags: FlagWrite, FirstKey: 2, LastKey: 2, Step: 1,
			Syntax: "XGROUP DESTROY key group", Summary: "Destroys a group with its consumers and pending entries.",
			Run: handle(parseGroupDestroy, runGroupDestroy)},
		{Name: "XGROUP CREATECONSUMER", Arity: 5, Flags: FlagWrite, FirstKey: 2, LastKey: 2, Step: 1,
			Syntax: "XGROUP CREATECONSUMER key group consumer", Summary: "Creates a consumer in a group.",
			Run: handle(parseConsumerCreate, runConsumerCreate)},
		{Name: "XGROUP DELCONSUMER", Arity: 5, Flags: FlagWrite, FirstKey: 2, LastKey: 2, Step: 1,
			Syntax: "XGROUP DELCONSUMER key group consumer", Summary: "Deletes a consumer and its pending entries; replies how many it had.",
			Run: handle(parseConsumerDelete, runConsumerDelete)},
		{Name: "XGROUP HELP", Arity: 2, Flags: FlagRead | FlagFast, Syntax: "XGROUP HELP", Summary: "Prints this help.",
			Run: func(c *Ctx, _ [][]byte) { writeHelp(c, xgroup) }},
	}
	return []*Command{
		xgroup,
		{
			Name: "XREADGROUP", Arity: -7, Flags: FlagWrite, Group: "stream", Since: "0.2.0",
			Syntax:  "XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id|> [id|> ...]",
			Summary: "Reads a group's new entries (>) or a consumer's pending ones; BLOCK waits for new entries.",
			Run:     handle(parseReadGroup, runReadGroup),
		},
		{
			Name: "XACK", Arity: -4, Flags: FlagWrite, Group: "stream", Since: "0.2.0", FirstKey: 1, LastKey: 1, Step: 1,
			Syntax: "XACK key group id [id ...]", Summary: "Acknowledges pending entries; replies how many were pending.",
			Run: handle(parseAck, runAck), InTx: ackInTx,
		},
		{
			Name: "XPENDING", Arity: -3, Flags: FlagRead, Group: "stream", Since: "0.2.0", FirstKey: 1, LastKey: 1, Step: 1,
			Syntax: "XPENDING key group [[IDLE min-idle-time] start end count [consumer]]", Summary: "Summarizes or lists a group's pending entries.",
			Run: handle(parsePending, runPending),
		},
		{
			Name: "XCLAIM", Arity: -6, Flags: FlagWrite, Group: "stream", Since: "0.2.0", FirstKey: 1, LastKey: 1, Step: 1,
			Syntax:  "XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-ms] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID id]",
			Summary: "Gives pending entries idle for min-idle-time to a consumer.",
			Run:     handle(parseClaim, runClaim),
		},
		{
			Name: "XAUTOCLAIM", Arity: -6, Flags: FlagWrite, Group: "stream", Since: "0.2.0", FirstKey: 1, LastKey: 1, Step: 1,
			Syntax:  "XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]",
			Summary: "Claims idle pending entries from start on; replies a cursor, the entries and the deleted IDs (none).",
			Run:     handle(parseAutoClaim, runAutoClaim),
		},
	}
}

// groupInfoCommands are XINFO GROUPS and XINFO CONSUMERS, for the XINFO
// container of the stream commands.
func groupInfoCommands() []*Command {
	return []*Command{
		{Name: "XINFO GROUPS", Arity: 3, Flags: FlagRead, FirstKey: 2, LastKey: 2, Step: 1,
			Syntax: "XINFO GROUPS key", Summary: "Lists a stream key's consumer groups.",
			Run: func(c *Ctx, args [][]byte) { runInfoGroups(c, string(args[2])) }},
		{Name: "XINFO CONSUMERS", Arity: 4, Flags: FlagRead, FirstKey: 2, LastKey: 2, Step: 1,
			Syntax: "XINFO CONSUMERS key group", Summary: "Lists a group's consumers.",
			Run: func(c *Ctx, args [][]byte) { runInfoConsumers(c, string(args[2]), string(args[3])) }},
	}
}

// Errors with Redis's text.
var (
	errInvalidID = ReplyError("ERR Invalid stream ID specified as stream command argument")
	errNoKeyInfo = ReplyError("ERR no such key")
	errNeedKey   = ReplyError("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")
	errMkStream  = ReplyError("ERR MKSTREAM cannot create a stream here: a stream key is <category>:<id>, $all, $ce-<category> or $et-<type>, a view of the log")
	errBusyGroup = ReplyError("BUSYGROUP Consumer Group name already exists")
)

// noGroupForm is which of Redis's NOGROUP texts a command answers.
type noGroupForm int

const (
	noGroupKeyOrGroup noGroupForm = iota // XPENDING, XCLAIM, XAUTOCLAIM
	noGroupForKey                        // XGROUP, XINFO CONSUMERS
	noGroupRead                          // XREADGROUP
	noGroupInfo                          // XINFO: "no such key" for a key that names no stream
)

// groupError turns an error of package streams into Redis's reply.
func groupError(err error, form noGroupForm) error {
	var ng *streams.NoGroupError
	switch {
	case errors.As(err, &ng):
		switch {
		case ng.Gone:
			return ReplyError("NOGROUP the consumer group this client was blocked on no longer exists")
		case form == noGroupForKey || form == noGroupInfo:
			return errorf("NOGROUP No such consumer group '%s' for key name '%s'", ng.Group, ng.Key)
		case form == noGroupRead:
			return errorf("NOGROUP No such key '%s' or consumer group '%s' in XREADGROUP with GROUP option", ng.Key, ng.Group)
		}
		return errorf("NOGROUP No such key '%s' or consumer group '%s'", ng.Key, ng.Group)
	case errors.Is(err, streams.ErrNoKey):
		if form == noGroupForKey {
			return errNeedKey
		}
		return errNoKeyInfo
	case errors.Is(err, streams.ErrMkStream):
		return errMkStream
	case errors.Is(err, streams.ErrBusyGroup):
		return errBusyGroup
	case errors.Is(err, streams.ErrClosed):
		return errShutdown
	}
	return err
}

// doGroup runs a request; on an error it writes the reply and returns false.
func doGroup(c *Ctx, r streams.Request, form noGroupForm) bool {
	c.Env.Groups.Do(r)
	if err := r.Failed(); err != nil {
		c.Error(groupError(err, form))
		return false
	}
	return true
}

// parseStrictID parses <ms>-<seq> or <ms>, as Redis's
// streamParseStrictIDOrReply: "-" and "+" are not IDs here.
func parseStrictID(b []byte) (streams.ID, error) {
	if s := string(b); s == "-" || s == "+" {
		return streams.ID{}, errInvalidID
	}
	return parseID(b, 0)
}

// parseID also takes "-" (the smallest ID) and "+" (the greatest); a
// missing seq is missingSeq.
func parseID(b []byte, missingSeq uint64) (streams.ID, error) {
	switch string(b) {
	case "-":
		return streams.ID{}, nil
	case "+":
		return streams.MaxID, nil
	}
	id, err := streams.ParseID(string(b), missingSeq)
	if err != nil {
		return id, errInvalidID
	}
	return id, nil
}

// parseIntervalID is an ID that may be exclusive, "(id".
func parseIntervalID(b []byte, missingSeq uint64) (id streams.ID, exclusive bool, err error) {
	if len(b) > 1 && b[0] == '(' {
		b, exclusive = b[1:], true
	}
	id, err = parseID(b, missingSeq)
	return id, exclusive, err
}

func nextID(id streams.ID) (streams.ID, bool) {
	switch {
	case id.Seq < math.MaxUint64:
		return streams.ID{Ms: id.Ms, Seq: id.Seq + 1}, true
	case id.Ms < math.MaxUint64:
		return streams.ID{Ms: id.Ms + 1}, true
	}
	return id, false
}

func prevID(id streams.ID) (streams.ID, bool) {
	switch {
	case id.Seq > 0:
		return streams.ID{Ms: id.Ms, Seq: id.Seq - 1}, true
	case id.Ms > 0:
		return streams.ID{Ms: id.Ms - 1, Seq: math.MaxUint64}, true
	}
	return id, false
}

// subcommandSyntax is Redis's addReplySubcommandSyntaxError.
func subcommandSyntax(args [][]byte) error {
	return errorf("ERR unknown subcommand or wrong number of arguments for '%.128s'. Try XGROUP HELP.", args[1])
}

// groupOptions reads XGROUP CREATE's and SETID's options from args[5] on.
func groupOptions(args [][]byte, create bool) (mkstream bool, entriesRead int64, err error) {
	entriesRead = -1
	for i := 5; i < len(args); i++ {
		switch {
		case create && isWord(args[i], "MKSTREAM"):
			mkstream = true
		case isWord(args[i], "ENTRIESREAD") && i+1 < len(args):
			n, err := parseInt(args[i+1])
			if err != nil {
				return false, 0, err
			}
			if n < -1 {
				return false, 0, ReplyError("ERR value for ENTRIESREAD must be positive or -1")
			}
			entriesRead, i = n, i+1
		default:
			return false, 0, subcommandSyntax(args)
		}
	}
	return mkstream, entriesRead, nil
}

func parseGroupCreate(args [][]byte) (*streams.GroupCreate, error) {
	mk, er, err := groupOptions(args, true)
	if err != nil {
		return nil, err
	}
	if len(args) > 8 {
		return nil, subcommandSyntax(args)
	}
	r := &streams.GroupCreate{Key: string(args[2]), Group: string(args[3]), MkStream: mk, EntriesRead: er}
	if string(args[4]) == "$" {
		r.Dollar = true
	} else {
		r.ID, r.Invalid = parseStrictID(args[4])
	}
	return r, nil
}

func runGroupCreate(c *Ctx, r *streams.GroupCreate) {
	if doGroup(c, r, noGroupForKey) {
		c.W.OK()
	}
}

func parseGroupSetID(args [][]byte) (*streams.GroupSetID, error) {
	_, er, err := groupOptions(args, false)
	if err != nil {
		return nil, err
	}
	if len(args) != 5 && len(args) != 7 {
		return nil, subcommandSyntax(args)
	}
	r := &streams.GroupSetID{Key: string(args[2]), Group: string(args[3]), EntriesRead: er}
	if string(args[4]) == "$" {
		r.Dollar = true
	} else {
		r.ID, r.Invalid = parseID(args[4], 0)
	}
	return r, nil
}

func runGroupSetID(c *Ctx, r *streams.GroupSetID) {
	if doGroup(c, r, noGroupForKey) {
		c.W.OK()
	}
}

func parseGroupDestroy(args [][]byte) (*streams.GroupDestroy, error) {
	return &streams.GroupDestroy{Key: string(args[2]), Group: string(args[3])}, nil
}

func runGroupDestroy(c *Ctx, r *streams.GroupDestroy) {
	if doGroup(c, r, noGroupForKey) {
		c.W.Int(int64(boolInt(r.Destroyed)))
	}
}

func parseConsumerCreate(args [][]byte) (*streams.ConsumerCreate, error) {
	return &streams.ConsumerCreate{Key: string(args[2]), Group: string(args[3]), Consumer: string(args[4])}, nil
}

func runConsumerCreate(c *Ctx, r *streams.ConsumerCreate) {
	if doGroup(c, r, noGroupForKey) {
		c.W.Int(int64(boolInt(r.Created)))
	}
}

func parseConsumerDelete(args [][]byte) (*streams.ConsumerDelete, error) {
	return &streams.ConsumerDelete{Key: string(args[2]), Group: string(args[3]), Consumer: string(args[4])}, nil
}

func runConsumerDelete(c *Ctx, r *streams.ConsumerDelete) {
	if doGroup(c, r, noGroupForKey) {
		c.W.Int(int64(r.Pending))
	}
}

// readGroupReq is XREADGROUP: the read, and BLOCK's milliseconds (-1: no
// BLOCK; 0: no timeout).
type readGroupReq struct {
	read  *streams.ReadGroup
	block int64
}

func parseReadGroup(args [][]byte) (readGroupReq, error) {
	req := readGroupReq{read: &streams.ReadGroup{}, block: -1}
	r := req.read
	streamsAt, group := 0, false
	for i := 1; i < len(args) && streamsAt == 0; i++ {
		more := len(args) - i - 1
		switch {
		case isWord(args[i], "BLOCK") && more > 0:
			i++
			ms, err := parseInt(args[i])
			if err != nil {
				return req, ReplyError("ERR timeout is not an integer or out of range")
			}
			if ms < 0 {
				return req, ReplyError("ERR timeout is negative")
			}
			req.block = ms
		case isWord(args[i], "COUNT") && more > 0:
			i++
			n, err := parseInt(args[i])
			if err != nil {
				return req, err
			}
			r.Count = int(min(max(n, 0), math.MaxInt32))
		case isWord(args[i], "STREAMS") && more > 0:
			streamsAt = i + 1
			if (len(args)-streamsAt)%2 != 0 {
				return req, ReplyError("ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be specified.")
			}
		case isWord(args[i], "GROUP") && more >= 2:
			r.Group, r.Consumer, group = string(args[i+1]), string(args[i+2]), true
			i += 2
		case isWord(args[i], "NOACK"):
			r.NoAck = true
		default:
			return req, errSyntax
		}
	}
	if streamsAt == 0 {
		return req, errSyntax
	}
	if !group {
		return req, ReplyError("ERR Missing GROUP option for XREADGROUP")
	}
	n := (len(args) - streamsAt) / 2
	for i := range n {
		r.Keys = append(r.Keys, string(args[streamsAt+i]))
		var from streams.ReadFrom
		switch arg := args[streamsAt+n+i]; string(arg) {
		case ">":
			from.New = true
		case "$":
			from.Err = ReplyError("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.")
		default:
			from.ID, from.Err = parseStrictID(arg)
		}
		r.From = append(r.From, from)
	}
	return req, nil
}

func runReadGroup(c *Ctx, req readGroupReq) {
	r := req.read
	if c.TimedOut {
		// The BLOCK timeout passed (ended cancelled the wait first). The
		// wait's registration was written lazily; its nil goes out once
		// that is durable, as every reply of the groups does.
		hand := handOver(c, c.Conn.Block(time.Time{}, nil))
		c.Env.Groups.Settle(func(err error) {
			hand(func(rc *Ctx) {
				if err != nil {
					rc.Error(groupError(err, noGroupRead))
				} else {
					rc.W.NullArray()
				}
			})
		})
		return
	}
	if req.block < 0 {
		if doGroup(c, r, noGroupRead) {
			writeReadGroup(c, r)
		}
		return
	}
	// The connection waits without a goroutine; the log's writer serves
	// the reader in the round that gives it entries and hands the reply
	// over. A reply that crosses the timeout or a closed connection leaves
	// its entries pending for the consumer, as a lost reply always does.
	var deadline time.Time
	if req.block > 0 {
		deadline = time.Now().Add(time.Duration(min(req.block, math.MaxInt64/int64(time.Millisecond))) * time.Millisecond)
	}
	var w *streams.Waiter
	hand := handOver(c, c.Conn.Block(deadline, func() { w.Cancel() }))
	w = c.Env.Groups.Block(r, func() {
		hand(func(rc *Ctx) {
			if r.Err != nil {
				rc.Error(groupError(r.Err, noGroupRead))
			} else {
				writeReadGroup(rc, r)
			}
		})
	})
}

// handOver returns how another goroutine writes the reply of c's command,
// which blocked in wait: write fills a Ctx of c's protocol, whose bytes end
// the wait.
func handOver(c *Ctx, wait Wait) func(write func(rc *Ctx)) {
	proto := c.W.Proto()
	return func(write func(rc *Ctx)) {
		var buf bytes.Buffer
		rc := &Ctx{W: resp.NewWriter(&buf), Client: c.Client, Env: c.Env}
		rc.W.SetProto(proto)
		write(rc)
		rc.W.Flush()
		wait.Reply(buf.Bytes())
	}
}

// writeReadGroup writes XREADGROUP's reply: per key with entries, the key
// and its entries (a map in RESP3), or a null when no key had any.
func writeReadGroup(c *Ctx, r *streams.ReadGroup) {
	if r.Streams == nil {
		c.W.NullArray()
		return
	}
	if c.W.Proto() == 3 {
		c.W.Map(len(r.Streams))
	} else {
		c.W.Array(len(r.Streams))
	}
	for _, s := range r.Streams {
		if c.W.Proto() != 3 {
			c.W.Array(2)
		}
		c.W.BulkString(s.Key)
		writeGroupEntries(c, s.Entries)
	}
}

func parseAck(args [][]byte) (*streams.Ack, error) {
	r := &streams.Ack{Key: string(args[1]), Group: string(args[2])}
	for _, a := range args[3:] {
		id, err := parseStrictID(a)
		if err != nil {
			r.Invalid = err
			break
		}
		r.IDs = append(r.IDs, id)
	}
	return r, nil
}

func runAck(c *Ctx, r *streams.Ack) {
	if doGroup(c, r, noGroupKeyOrGroup) {
		c.W.Int(int64(r.Acked))
	}
}

// ackInTx queues XACK in a transaction. Its op writes nothing when it is
// refused (a malformed ID of an existing group, answered in its place in
// EXEC's reply as Redis does), so it never leaves the transaction half
// done.
func ackInTx(c *Ctx, args [][]byte) (TxPart, error) {
	r, _ := parseAck(args)
	return &ackPart{r: r, ops: c.Env.Groups.TxOps(r)}, nil
}

// ackPart is an XACK that commits with a transaction.
type ackPart struct {
	r   *streams.Ack
	ops []*eventlog.Op
}

func (p *ackPart) Ops() []*eventlog.Op { return p.ops }

func (p *ackPart) Reply(c *Ctx) {
	streams.Answer([]streams.Request{p.r}, p.ops)
	if err := p.r.Failed(); err != nil {
		c.Error(groupError(err, noGroupKeyOrGroup))
		return
	}
	c.W.Int(int64(p.r.Acked))
}

// writeGroupEntries writes entries as the stream commands do (appendEntry),
// upcast. The events are upcast before anything is written, so that an
// error is the whole reply.
func writeGroupEntries(c *Ctx, evs []eventlog.Event) {
	if !upcastAll(c, evs) {
		return
	}
	c.W.Array(len(evs))
	var b []byte
	for i := range evs {
		b = appendEntry(b[:0], &evs[i], false)
		c.W.Raw(b)
	}
}
