package commands

import (
	"math"
	"strconv"

	"github.com/foldb/foldb/streams"
)

// XPENDING, XCLAIM, XAUTOCLAIM and XINFO GROUPS|CONSUMERS: the pending
// entries and the groups as they stand.

// pendingReq is XPENDING: the summary, or with a range the entries.
type pendingReq struct {
	summary *streams.PendingSummary
	rng     *streams.PendingRange
}

func parsePending(args [][]byte) (pendingReq, error) {
	key, group := string(args[1]), string(args[2])
	if len(args) == 3 {
		return pendingReq{summary: &streams.PendingSummary{Key: key, Group: group}}, nil
	}
	if len(args) < 6 || len(args) > 9 {
		return pendingReq{}, errSyntax
	}
	r := &streams.PendingRange{Key: key, Group: group}
	at := 3
	if isWord(args[3], "IDLE") {
		n, err := parseInt(args[4])
		if err != nil {
			return pendingReq{}, err
		}
		if len(args) < 8 {
			return pendingReq{}, errSyntax
		}
		r.MinIdle, at = n, 5
	}
	count, err := parseInt(args[at+2])
	if err != nil {
		return pendingReq{}, err
	}
	r.Count = max(count, 0)
	start, ex, err := parseIntervalID(args[at], 0)
	if err != nil {
		return pendingReq{}, err
	}
	if ex {
		if start, ex = nextID(start); !ex {
			return pendingReq{}, ReplyError("ERR invalid start ID for the interval")
		}
	}
	end, ex, err := parseIntervalID(args[at+1], math.MaxUint64)
	if err != nil {
		return pendingReq{}, err
	}
	if ex {
		if end, ex = prevID(end); !ex {
			return pendingReq{}, ReplyError("ERR invalid end ID for the interval")
		}
	}
	r.Start, r.End = start, end
	if at+3 < len(args) {
		r.Consumer, r.ByConsumer = string(args[at+3]), true
	}
	return pendingReq{rng: r}, nil
}

func runPending(c *Ctx, req pendingReq) {
	if s := req.summary; s != nil {
		if !doGroup(c, s, noGroupKeyOrGroup) {
			return
		}
		c.W.Array(4)
		c.W.Int(int64(s.Count))
		if s.Count == 0 {
			c.W.Null()
			c.W.Null()
			c.W.NullArray()
			return
		}
		c.W.BulkString(s.Min.String())
		c.W.BulkString(s.Max.String())
		c.W.Array(len(s.Consumers))
		for _, cp := range s.Consumers {
			c.W.Array(2)
			c.W.BulkString(cp.Name)
			c.W.BulkString(strconv.Itoa(cp.Count))
		}
		return
	}
	r := req.rng
	if !doGroup(c, r, noGroupKeyOrGroup) {
		return
	}
	c.W.Array(len(r.Entries))
	for _, p := range r.Entries {
		c.W.Array(4)
		c.W.BulkString(p.ID.String())
		c.W.BulkString(p.Consumer)
		c.W.Int(p.Idle)
		c.W.Int(int64(p.Deliveries))
	}
}

func parseClaim(args [][]byte) (*streams.Claim, error) {
	r := &streams.Claim{Key: string(args[1]), Group: string(args[2]), Consumer: string(args[3]), RetryCount: -1}
	minIdle, err := parseInt(args[4])
	if err != nil {
		r.Invalid = ReplyError("ERR Invalid min-idle-time argument for XCLAIM")
		return r, nil
	}
	r.MinIdle = minIdle
	j := 5
	for ; j < len(args); j++ {
		id, err := parseStrictID(args[j])
		if err != nil {
			break
		}
		r.IDs = append(r.IDs, id)
	}
	for ; j < len(args); j++ {
		more := len(args) - 1 - j
		opt := args[j]
		switch {
		case isWord(opt, "FORCE"):
			r.Force = true
		case isWord(opt, "JUSTID"):
			r.JustID = true
		case isWord(opt, "IDLE") && more > 0:
			j++
			n, err := parseInt(args[j])
			if err != nil {
				r.Invalid = ReplyError("ERR Invalid IDLE option argument for XCLAIM")
				return r, nil
			}
			r.Delivery, r.Idle = streams.DeliveryIdle, n
		case isWord(opt, "TIME") && more > 0:
			j++
			n, err := parseInt(args[j])
			if err != nil {
				r.Invalid = ReplyError("ERR Invalid TIME option argument for XCLAIM")
				return r, nil
			}
			r.Delivery, r.Time = streams.DeliveryAt, n
		case isWord(opt, "RETRYCOUNT") && more > 0:
			j++
			n, err := parseInt(args[j])
			if err != nil {
				r.Invalid = ReplyError("ERR Invalid RETRYCOUNT option argument for XCLAIM")
				return r, nil
			}
			r.RetryCount = n
		case isWord(opt, "LASTID") && more > 0:
			j++
			id, err := parseStrictID(args[j])
			if err != nil {
				r.Invalid = err
				return r, nil
			}
			r.LastID = id
		default:
			r.Invalid = errorf("ERR Unrecognized XCLAIM option '%s'", opt)
			return r, nil
		}
	}
	return r, nil
}

func runClaim(c *Ctx, r *streams.Claim) {
	if !doGroup(c, r, noGroupKeyOrGroup) {
		return
	}
	if r.JustID {
		writeIDs(c, r.Claimed)
		return
	}
	writeGroupEntries(c, r.Entries)
}

func parseAutoClaim(args [][]byte) (*streams.AutoClaim, error) {
	r := &streams.AutoClaim{Key: string(args[1]), Group: string(args[2]), Consumer: string(args[3]), Count: 100}
	minIdle, err := parseInt(args[4])
	if err != nil {
		return nil, ReplyError("ERR Invalid min-idle-time argument for XAUTOCLAIM")
	}
	r.MinIdle = max(minIdle, 0)
	start, ex, err := parseIntervalID(args[5], 0)
	if err != nil {
		return nil, err
	}
	if ex {
		if start, ex = nextID(start); !ex {
			return nil, ReplyError("ERR invalid start ID for the interval")
		}
	}
	r.Start = start
	for j := 6; j < len(args); j++ {
		switch {
		case isWord(args[j], "COUNT") && j+1 < len(args):
			n, err := parseInt(args[j+1])
			if err != nil || n < 1 || n > math.MaxInt64/10 {
				return nil, ReplyError("ERR COUNT must be > 0")
			}
			r.Count = int(min(n, math.MaxInt32))
			j++
		case isWord(args[j], "JUSTID"):
			r.JustID = true
		default:
			return nil, errSyntax
		}
	}
	return r, nil
}

func runAutoClaim(c *Ctx, r *streams.AutoClaim) {
	if !doGroup(c, r, noGroupKeyOrGroup) {
		return
	}
	c.W.Array(3)
	c.W.BulkString(r.Next.String())
	if r.JustID {
		writeIDs(c, r.Claimed)
	} else {
		writeGroupEntries(c, r.Entries)
	}
	c.W.Array(0) // deleted entries: the log deletes none
}

func writeIDs(c *Ctx, ids []streams.ID) {
	c.W.Array(len(ids))
	for _, id := range ids {
		c.W.BulkString(id.String())
	}
}

func runInfoGroups(c *Ctx, key string) {
	r := &streams.InfoGroups{Key: key}
	if !doGroup(c, r, noGroupInfo) {
		return
	}
	c.W.Array(len(r.Groups))
	for _, g := range r.Groups {
		c.W.Map(6)
		c.W.BulkString("name")
		c.W.BulkString(g.Name)
		c.W.BulkString("consumers")
		c.W.Int(int64(g.Consumers))
		c.W.BulkString("pending")
		c.W.Int(int64(g.Pending))
		c.W.BulkString("last-delivered-id")
		c.W.BulkString(g.LastDelivered.String())
		c.W.BulkString("entries-read")
		writeKnown(c, g.EntriesRead)
		c.W.BulkString("lag")
		writeKnown(c, g.Lag)
	}
}

// writeKnown writes n, or a null when it is -1 (unknown).
func writeKnown(c *Ctx, n int64) {
	if n < 0 {
		c.W.Null()
		return
	}
	c.W.Int(n)
}

func runInfoConsumers(c *Ctx, key, group string) {
	r := &streams.InfoConsumers{Key: key, Group: group}
	if !doGroup(c, r, noGroupInfo) {
		return
	}
	c.W.Array(len(r.Consumers))
	for _, cs := range r.Consumers {
		c.W.Map(4)
		c.W.BulkString("name")
		c.W.BulkString(cs.Name)
		c.W.BulkString("pending")
		c.W.Int(int64(cs.Pending))
		c.W.BulkString("idle")
		c.W.Int(cs.Idle)
		c.W.BulkString("inactive")
		c.W.Int(cs.Inactive)
	}
}
