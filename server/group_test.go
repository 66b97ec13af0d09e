package server_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/server"
)

// streamEntryFields are an entry's fields in a stream reply, in order.
var streamEntryFields = []string{"stream", "version", "type", "data", "meta", "id", "time"}

// appendEvents appends one event per type to stream and returns the
// position of the last.
func appendEvents(t testing.TB, rc *redis.Client, stream string, types ...string) int64 {
	t.Helper()
	args := []any{"EVENT.APPEND", stream}
	for i, typ := range types {
		args = append(args, typ, fmt.Sprintf(`{"n":%d}`, i))
	}
	_, pos := appendReply(t, do(t, rc, args...))
	return pos
}

// checkMessage checks an entry read through a group against the event.
func checkMessage(t testing.TB, m redis.XMessage, pos int64, stream string, version int64, typ string) {
	t.Helper()
	if m.ID != fmt.Sprintf("%d-0", pos) {
		t.Fatalf("entry ID %s, want %d-0", m.ID, pos)
	}
	want := map[string]any{"stream": stream, "version": fmt.Sprint(version), "type": typ, "meta": "{}", "id": ""}
	for k, v := range want {
		if m.Values[k] != v {
			t.Fatalf("entry %s: %s = %v, want %v (%v)", m.ID, k, m.Values[k], v, m.Values)
		}
	}
	if len(m.Values) != len(streamEntryFields) {
		t.Fatalf("entry %s has fields %v", m.ID, m.Values)
	}
}

// go-redis sends BLOCK 0 (wait for ever) for a zero Block: the reads
// below that must not wait say Block: -1.

// TestXGroup: XGROUP's subcommands and errors, RESP2 and RESP3.
func TestXGroup(t *testing.T) {
	ts := startServer(t)
	appendEvents(t, ts.R2, "acct:1", "Opened", "Paid")
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, proto int) {
		g := fmt.Sprint("g", proto)
		if err := rc.XGroupCreate(ctx, "acct:1", g, "0").Err(); err != nil {
			t.Fatal(err)
		}
		doErr(t, rc, "BUSYGROUP Consumer Group name already exists", "XGROUP", "CREATE", "acct:1", g, "$")
		// Every view key exists; a stream with no event yet too.
		for _, key := range []string{"$all", "$ce-acct", "$et-Paid", "acct:99"} {
			if err := rc.XGroupCreateMkStream(ctx, key, g, "$").Err(); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
		}
		doErr(t, rc, "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.", "XGROUP", "CREATE", "nostream", g, "0")
		doErrPrefix(t, rc, "ERR MKSTREAM cannot create a stream here", "XGROUP", "CREATE", "nostream", g, "0", "MKSTREAM")
		doErr(t, rc, "ERR Invalid stream ID specified as stream command argument", "XGROUP", "CREATE", "acct:1", "other", "x")
		doErr(t, rc, "ERR unknown subcommand or wrong number of arguments for 'create'. Try XGROUP HELP.", "XGROUP", "create", "acct:1", "other", "0", "NOPE")
		doErr(t, rc, "ERR wrong number of arguments for 'xgroup|create' command", "XGROUP", "CREATE", "acct:1")
		doErr(t, rc, "ERR unknown subcommand 'NOPE'. Try XGROUP HELP.", "XGROUP", "NOPE")

		if err := rc.XGroupSetID(ctx, "acct:1", g, "1-0").Err(); err != nil {
			t.Fatal(err)
		}
		doErr(t, rc, "NOGROUP No such consumer group 'nope' for key name 'acct:1'", "XGROUP", "SETID", "acct:1", "nope", "0")
		if n, err := rc.XGroupCreateConsumer(ctx, "acct:1", g, "alice").Result(); err != nil || n != 1 {
			t.Fatalf("CREATECONSUMER = %d, %v", n, err)
		}
		if n, err := rc.XGroupCreateConsumer(ctx, "acct:1", g, "alice").Result(); err != nil || n != 0 {
			t.Fatalf("CREATECONSUMER again = %d, %v", n, err)
		}
		if n, err := rc.XGroupDelConsumer(ctx, "acct:1", g, "alice").Result(); err != nil || n != 0 {
			t.Fatalf("DELCONSUMER = %d, %v", n, err)
		}
		if n, err := rc.XGroupDestroy(ctx, "acct:1", g).Result(); err != nil || n != 1 {
			t.Fatalf("DESTROY = %d, %v", n, err)
		}
		if n, err := rc.XGroupDestroy(ctx, "acct:1", g).Result(); err != nil || n != 0 {
			t.Fatalf("DESTROY again = %d, %v", n, err)
		}
		help, err := rc.Do(ctx, "XGROUP", "HELP").StringSlice()
		if err != nil || len(help) < 5 || !strings.HasPrefix(help[0], "XGROUP <subcommand>") || help[len(help)-2] != "HELP" {
			t.Fatalf("XGROUP HELP = %q, %v", help, err)
		}
	})
}

// TestXReadGroup: new entries, a consumer's history, NOACK, several keys,
// errors; the reply is an array of [key, entries] in RESP2 and a map in
// RESP3, and a null when no key has entries.
func TestXReadGroup(t *testing.T) {
	ts := startServer(t)
	appendEvents(t, ts.R2, "acct:1", "Opened", "Paid", "Closed")
	appendEvents(t, ts.R2, "acct:2", "Opened")
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, proto int) {
		g := fmt.Sprint("g", proto)
		for _, key := range []string{"acct:1", "$ce-acct"} {
			if err := rc.XGroupCreate(ctx, key, g, "0").Err(); err != nil {
				t.Fatal(err)
			}
		}
		got, err := rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: g, Consumer: "c", Streams: []string{"acct:1", "$ce-acct", ">", ">"}, Count: 2, Block: -1}).Result()
		if err != nil || len(got) != 2 || got[0].Stream != "acct:1" || got[1].Stream != "$ce-acct" || len(got[0].Messages) != 2 || len(got[1].Messages) != 2 {
			t.Fatalf("XREADGROUP = %+v, %v", got, err)
		}
		checkMessage(t, got[0].Messages[0], 1, "acct:1", 1, "Opened")
		checkMessage(t, got[0].Messages[1], 2, "acct:1", 2, "Paid")
		if got[0].Messages[0].Values["data"] != `{"n":0}` {
			t.Fatalf("data %v", got[0].Messages[0].Values["data"])
		}
		// The rest, then nothing: a null.
		got, err = rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: g, Consumer: "c", Streams: []string{"acct:1", ">"}, Block: -1}).Result()
		if err != nil || len(got) != 1 || len(got[0].Messages) != 1 {
			t.Fatalf("the rest = %+v, %v", got, err)
		}
		checkMessage(t, got[0].Messages[0], 3, "acct:1", 3, "Closed")
		if err := rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: g, Consumer: "c", Streams: []string{"acct:1", ">"}, Block: -1}).Err(); !errors.Is(err, redis.Nil) {
			t.Fatalf("nothing new: %v, want a null", err)
		}
		// History: the consumer's pending entries after an ID, answered
		// even when empty.
		hist, err := rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: g, Consumer: "c", Streams: []string{"acct:1", "1"}, Block: -1}).Result()
		if err != nil || len(hist) != 1 || len(hist[0].Messages) != 2 || hist[0].Messages[0].ID != "2-0" {
			t.Fatalf("history = %+v, %v", hist, err)
		}
		hist, err = rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: g, Consumer: "nobody", Streams: []string{"acct:1", "0"}, Block: -1}).Result()
		if err != nil || len(hist) != 1 || hist[0].Stream != "acct:1" || len(hist[0].Messages) != 0 {
			t.Fatalf("empty history = %+v, %v", hist, err)
		}
		noack, err := rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: g, Consumer: "n", Streams: []string{"$ce-acct", ">"}, NoAck: true, Block: -1}).Result()
		if err != nil || len(noack) != 1 || len(noack[0].Messages) != 2 || noack[0].Messages[1].ID != "4-0" {
			t.Fatalf("NOACK = %+v, %v", noack, err)
		}
		if p, err := rc.XPending(ctx, "$ce-acct", g).Result(); err != nil || p.Count != 2 {
			t.Fatalf("NOACK left pending entries: %+v, %v", p, err)
		}
		doErr(t, rc, "NOGROUP No such key 'acct:2' or consumer group '"+g+"' in XREADGROUP with GROUP option", "XREADGROUP", "GROUP", g, "c", "STREAMS", "acct:1", "acct:2", ">", ">")
		doErr(t, rc, "ERR Missing GROUP option for XREADGROUP", "XREADGROUP", "COUNT", "1", "NOACK", "STREAMS", "acct:1", ">")
		doErrPrefix(t, rc, "ERR The $ ID is meaningless", "XREADGROUP", "GROUP", g, "c", "STREAMS", "acct:1", "$")
		doErr(t, rc, "ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be specified.", "XREADGROUP", "GROUP", g, "c", "STREAMS", "acct:1", "acct:2", ">")
	})
	// The exact reply types.
	appendEvents(t, ts.R2, "acct:1", "More")
	for _, proto := range testkit.Protocols {
		r := ts.Raw(t)
		if proto == 3 {
			r.Do("HELLO", "3")
		}
		g := fmt.Sprint("g", proto)
		got := r.Do("XREADGROUP", "GROUP", g, "raw", "COUNT", "1", "STREAMS", "acct:1", ">")
		entry := []any{testkit.Bulk("5-0"), []any{testkit.Bulk("stream"), testkit.Bulk("acct:1"), testkit.Bulk("version"), testkit.Bulk("4"), testkit.Bulk("type"), testkit.Bulk("More"), testkit.Bulk("data"), testkit.Bulk(`{"n":0}`),
			testkit.Bulk("meta"), testkit.Bulk("{}"), testkit.Bulk("id"), testkit.Bulk(""), testkit.Bulk("time")}}
		var key, entries any
		switch proto {
		case 2:
			top, ok := got.([]any)
			if !ok || len(top) != 1 {
				t.Fatalf("RESP2 reply %#v", got)
			}
			pair := top[0].([]any)
			key, entries = pair[0], pair[1]
		case 3:
			m, ok := got.(testkit.Map)
			if !ok || len(m) != 2 {
				t.Fatalf("RESP3 reply %#v, want a map of one key", got)
			}
			key, entries = m[0], m[1]
		}
		e := entries.([]any)[0].([]any)
		fields := e[1].([]any)
		if key != testkit.Bulk("acct:1") || e[0] != entry[0] || len(fields) != 14 || fmt.Sprint(fields[:13]) != fmt.Sprint(entry[1]) {
			t.Fatalf("RESP%d entry %#v", proto, got)
		}
		if _, ok := fields[13].(testkit.Bulk); !ok {
			t.Fatalf("time is %#v, want a bulk string", fields[13])
		}
		if got := r.Do("XREADGROUP", "GROUP", g, "raw", "STREAMS", "acct:1", ">"); got != nil {
			t.Fatalf("RESP%d: nothing new is %#v, want a null", proto, got)
		}
	}
}

// TestXAckAndXPending: XACK counts what was pending; XPENDING's summary
// and extended forms, with IDLE and a consumer.
func TestXAckAndXPending(t *testing.T) {
	ts := startServer(t)
	appendEvents(t, ts.R2, "acct:1", "A", "B", "C", "D")
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, proto int) {
		g := fmt.Sprint("g", proto)
		rc.XGroupCreate(ctx, "acct:1", g, "0")
		rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: g, Consumer: "alice", Streams: []string{"acct:1", ">"}, Count: 3, Block: -1})
		rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: g, Consumer: "bob", Streams: []string{"acct:1", ">"}, Block: -1})
		sum, err := rc.XPending(ctx, "acct:1", g).Result()
		if err != nil || sum.Count != 4 || sum.Lower != "1-0" || sum.Higher != "4-0" || sum.Consumers["alice"] != 3 || sum.Consumers["bob"] != 1 {
			t.Fatalf("XPENDING = %+v, %v", sum, err)
		}
		if n, err := rc.XAck(ctx, "acct:1", g, "1-0", "1-0", "4-0", "9-0").Result(); err != nil || n != 2 {
			t.Fatalf("XACK = %d, %v", n, err)
		}
		if n, err := rc.XAck(ctx, "acct:1", "nogroup", "1-0").Result(); err != nil || n != 0 {
			t.Fatalf("XACK without the group = %d, %v", n, err)
		}
		if n, err := rc.Do(ctx, "XACK", "acct:1", "nogroup", "bad").Int(); err != nil || n != 0 {
			t.Fatalf("XACK with a bad ID without the group = %d, %v", n, err)
		}
		doErr(t, rc, "ERR Invalid stream ID specified as stream command argument", "XACK", "acct:1", g, "bad")
		ext, err := rc.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: "acct:1", Group: g, Start: "-", End: "+", Count: 10}).Result()
		if err != nil || len(ext) != 2 || ext[0].ID != "2-0" || ext[0].Consumer != "alice" || ext[0].RetryCount != 1 || ext[1].ID != "3-0" {
			t.Fatalf("XPENDING - + 10 = %+v, %v", ext, err)
		}
		ext, err = rc.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: "acct:1", Group: g, Idle: time.Hour, Start: "-", End: "+", Count: 10}).Result()
		if err != nil || len(ext) != 0 {
			t.Fatalf("XPENDING IDLE 1h = %+v, %v", ext, err)
		}
		ext, err = rc.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: "acct:1", Group: g, Start: "(2-0", End: "+", Count: 10, Consumer: "alice"}).Result()
		if err != nil || len(ext) != 1 || ext[0].ID != "3-0" {
			t.Fatalf("XPENDING (2-0 + 10 alice = %+v, %v", ext, err)
		}
		rc.XAck(ctx, "acct:1", g, "2-0", "3-0")
		if sum, err := rc.XPending(ctx, "acct:1", g).Result(); err != nil || sum.Count != 0 || len(sum.Consumers) != 0 {
			t.Fatalf("XPENDING when none = %+v, %v", sum, err)
		}
		doErr(t, rc, "NOGROUP No such key 'acct:1' or consumer group 'nope'", "XPENDING", "acct:1", "nope")
		doErr(t, rc, "ERR syntax error", "XPENDING", "acct:1", g, "-")
	})
	for _, proto := range testkit.Protocols {
		r := ts.Raw(t)
		if proto == 3 {
			r.Do("HELLO", "3")
		}
		g := fmt.Sprint("g", proto)
		if got := r.Do("XPENDING", "acct:1", g); fmt.Sprint(got) != "[0 <nil> <nil> <nil>]" {
			t.Fatalf("RESP%d empty summary %#v", proto, got)
		}
		r.Do("XREADGROUP", "GROUP", g, "z", "STREAMS", "acct:1", "0")
		r.Do("XCLAIM", "acct:1", g, "z", "0", "1-0", "FORCE")
		got := r.Do("XPENDING", "acct:1", g)
		want := []any{int64(1), testkit.Bulk("1-0"), testkit.Bulk("1-0"), []any{[]any{testkit.Bulk("z"), testkit.Bulk("1")}}}
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
			t.Fatalf("RESP%d summary %#v, want %#v", proto, got, want)
		}
	}
}

// TestXClaimAndXAutoClaim: claims by idle time, FORCE, JUSTID, and
// XAUTOCLAIM's three-part reply with its cursor.
func TestXClaimAndXAutoClaim(t *testing.T) {
	ts := startServer(t)
	appendEvents(t, ts.R2, "acct:1", "A", "B", "C")
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, proto int) {
		g := fmt.Sprint("g", proto)
		rc.XGroupCreate(ctx, "acct:1", g, "0")
		rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: g, Consumer: "alice", Streams: []string{"acct:1", ">"}, Count: 2, Block: -1})
		msgs, err := rc.XClaim(ctx, &redis.XClaimArgs{Stream: "acct:1", Group: g, Consumer: "bob", MinIdle: time.Hour, Messages: []string{"1-0", "2-0"}}).Result()
		if err != nil || len(msgs) != 0 {
			t.Fatalf("XCLAIM of young entries = %+v, %v", msgs, err)
		}
		msgs, err = rc.XClaim(ctx, &redis.XClaimArgs{Stream: "acct:1", Group: g, Consumer: "bob", Messages: []string{"1-0"}}).Result()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("XCLAIM = %+v, %v", msgs, err)
		}
		checkMessage(t, msgs[0], 1, "acct:1", 1, "A")
		ids, err := rc.XClaimJustID(ctx, &redis.XClaimArgs{Stream: "acct:1", Group: g, Consumer: "carol", Messages: []string{"2-0", "3-0"}}).Result()
		if err != nil || !slices.Equal(ids, []string{"2-0"}) {
			t.Fatalf("XCLAIM JUSTID = %q, %v", ids, err)
		}
		ids, err = rc.Do(ctx, "XCLAIM", "acct:1", g, "carol", "0", "3-0", "FORCE", "JUSTID").StringSlice()
		if err != nil || !slices.Equal(ids, []string{"3-0"}) {
			t.Fatalf("XCLAIM FORCE JUSTID = %q, %v", ids, err)
		}
		doErr(t, rc, "NOGROUP No such key 'acct:1' or consumer group 'nope'", "XCLAIM", "acct:1", "nope", "c", "x", "1-0")
		doErr(t, rc, "ERR Invalid min-idle-time argument for XCLAIM", "XCLAIM", "acct:1", g, "c", "x", "1-0")
		doErr(t, rc, "ERR Unrecognized XCLAIM option 'NOPE'", "XCLAIM", "acct:1", g, "c", "0", "1-0", "NOPE")

		claimed, next, err := rc.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: "acct:1", Group: g, Consumer: "dave", Start: "0", Count: 2}).Result()
		if err != nil || len(claimed) != 2 || claimed[0].ID != "1-0" || next != "3-0" {
			t.Fatalf("XAUTOCLAIM = %+v %s, %v", claimed, next, err)
		}
		cids, next, err := rc.XAutoClaimJustID(ctx, &redis.XAutoClaimArgs{Stream: "acct:1", Group: g, Consumer: "dave", Start: next, Count: 2}).Result()
		if err != nil || !slices.Equal(cids, []string{"3-0"}) || next != "0-0" {
			t.Fatalf("XAUTOCLAIM JUSTID = %q %s, %v", cids, next, err)
		}
		all, err := rc.Do(ctx, "XAUTOCLAIM", "acct:1", g, "erin", "0", "0", "JUSTID").Slice()
		if err != nil || len(all) != 3 || all[0] != "0-0" || len(all[1].([]any)) != 3 || len(all[2].([]any)) != 0 {
			t.Fatalf("XAUTOCLAIM's three parts = %#v, %v", all, err)
		}
		doErr(t, rc, "NOGROUP No such key 'acct:1' or consumer group 'nope'", "XAUTOCLAIM", "acct:1", "nope", "c", "0", "0")
		doErr(t, rc, "ERR COUNT must be > 0", "XAUTOCLAIM", "acct:1", g, "c", "0", "0", "COUNT", "0")
	})
}

// TestXInfoGroupsAndConsumers: Redis 7's fields, entries-read and lag as
// Redis reports them (a null when unknown), maps in RESP3.
func TestXInfoGroupsAndConsumers(t *testing.T) {
	ts := startServer(t)
	appendEvents(t, ts.R2, "acct:1", "A", "B", "C")
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, proto int) {
		g := fmt.Sprint("g", proto)
		rc.XGroupCreate(ctx, "acct:1", g+"a", "0")
		rc.XGroupCreate(ctx, "acct:1", g+"b", "2-0")
		rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: g + "a", Consumer: "alice", Streams: []string{"acct:1", ">"}, Count: 1, Block: -1})
		rc.XGroupCreateConsumer(ctx, "acct:1", g+"a", "bob")
		groups, err := rc.XInfoGroups(ctx, "acct:1").Result()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, gr := range groups {
			if strings.HasPrefix(gr.Name, g) {
				got = append(got, fmt.Sprintf("%s %d %d %s %d %d", gr.Name, gr.Consumers, gr.Pending, gr.LastDeliveredID, gr.EntriesRead, gr.Lag))
			}
		}
		// go-redis reads a null entries-read as 0 and a null lag as -1;
		// the raw test below sees the nulls.
		want := []string{g + "a 2 1 1-0 1 2", g + "b 0 0 2-0 0 -1"}
		if !slices.Equal(got, want) {
			t.Fatalf("XINFO GROUPS = %q, want %q", got, want)
		}
		cs, err := rc.XInfoConsumers(ctx, "acct:1", g+"a").Result()
		if err != nil || len(cs) != 2 || cs[0].Name != "alice" || cs[0].Pending != 1 || cs[1].Name != "bob" || cs[1].Inactive != -time.Millisecond {
			t.Fatalf("XINFO CONSUMERS = %+v, %v", cs, err)
		}
		if cs[0].Idle < 0 || cs[0].Inactive < 0 || cs[0].Idle > time.Minute {
			t.Fatalf("times %+v", cs[0])
		}
		if got, err := rc.XInfoGroups(ctx, "acct:2").Result(); err != nil || len(got) != 0 {
			t.Fatalf("a stream without groups: %+v, %v", got, err)
		}
		doErr(t, rc, "ERR no such key", "XINFO", "GROUPS", "nostream")
		doErr(t, rc, "NOGROUP No such consumer group 'nope' for key name 'acct:1'", "XINFO", "CONSUMERS", "acct:1", "nope")
		doErr(t, rc, "ERR wrong number of arguments for 'xinfo|groups' command", "XINFO", "GROUPS")
		if help, err := rc.Do(ctx, "XINFO", "HELP").StringSlice(); err != nil || !strings.HasPrefix(help[0], "XINFO <subcommand>") {
			t.Fatalf("XINFO HELP = %q, %v", help, err)
		}
	})
	for _, proto := range testkit.Protocols {
		r := ts.Raw(t)
		if proto == 3 {
			r.Do("HELLO", "3")
		}
		g := fmt.Sprint("g", proto, "b")
		got := r.Do("XINFO", "GROUPS", "acct:1")
		var fields []any
		for _, gr := range got.([]any) {
			var f []any
			if proto == 3 {
				m, ok := gr.(testkit.Map)
				if !ok {
					t.Fatalf("RESP3 group %#v, want a map", gr)
				}
				f = m
			} else {
				f = gr.([]any)
			}
			if f[1] == testkit.Bulk(g) {
				fields = f
			}
		}
		want := []any{testkit.Bulk("name"), testkit.Bulk(g), testkit.Bulk("consumers"), int64(0), testkit.Bulk("pending"), int64(0), testkit.Bulk("last-delivered-id"), testkit.Bulk("2-0"),
			testkit.Bulk("entries-read"), nil, testkit.Bulk("lag"), nil}
		if fmt.Sprintf("%#v", fields) != fmt.Sprintf("%#v", want) {
			t.Fatalf("RESP%d XINFO GROUPS %#v, want %#v", proto, fields, want)
		}
	}
}

// TestXInfoStreamFullGroups: XINFO STREAM FULL gives each group with its
// pending entries and consumers, COUNT bounding each pending list, as
// go-redis reads them.
func TestXInfoStreamFullGroups(t *testing.T) {
	ts := startServer(t)
	appendEvents(t, ts.R2, "acct:1", "A", "B", "C")
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, proto int) {
		key := "acct:1"
		g := fmt.Sprint("full", proto)
		rc.XGroupCreate(ctx, key, g, "0")
		before := time.Now().Add(-time.Second)
		rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: g, Consumer: "alice", Streams: []string{key, ">"}, Count: 2, Block: -1})
		rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: g, Consumer: "bob", Streams: []string{key, ">"}, Count: 1, Block: -1})
		rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: g, Consumer: "alice", Streams: []string{key, "0"}, Block: -1}) // delivers 1-0 and 2-0 again
		rc.XGroupCreateConsumer(ctx, key, g, "carol")
		full, err := rc.XInfoStreamFull(ctx, key, 0).Result()
		if err != nil {
			t.Fatal(err)
		}
		var gr *redis.XInfoStreamGroup
		for i := range full.Groups {
			if full.Groups[i].Name == g {
				gr = &full.Groups[i]
			}
		}
		if gr == nil || gr.LastDeliveredID != "3-0" || gr.EntriesRead != 3 || gr.Lag != 0 || gr.PelCount != 3 || len(gr.Pending) != 3 || len(gr.Consumers) != 3 {
			t.Fatalf("XINFO STREAM FULL group = %+v", gr)
		}
		var pend []string
		for _, p := range gr.Pending {
			pend = append(pend, fmt.Sprintf("%s %s %d", p.ID, p.Consumer, p.DeliveryCount))
			if p.DeliveryTime.Before(before) {
				t.Fatalf("delivery time %v", p.DeliveryTime)
			}
		}
		if want := []string{"1-0 alice 2", "2-0 alice 2", "3-0 bob 1"}; !slices.Equal(pend, want) {
			t.Fatalf("pending %q, want %q", pend, want)
		}
		var cons []string
		for _, c := range gr.Consumers {
			line := fmt.Sprintf("%s %d", c.Name, c.PelCount)
			for _, p := range c.Pending {
				line += fmt.Sprintf(" %s:%d", p.ID, p.DeliveryCount)
			}
			cons = append(cons, line)
		}
		if want := []string{"alice 2 1-0:2 2-0:2", "bob 1 3-0:1", "carol 0"}; !slices.Equal(cons, want) {
			t.Fatalf("consumers %q, want %q", cons, want)
		}
		if c := gr.Consumers[0]; c.SeenTime.Before(before) || c.ActiveTime.Before(before) {
			t.Fatalf("alice's times %+v", c)
		}
		if c := gr.Consumers[2]; c.ActiveTime.UnixMilli() != -1 {
			t.Fatalf("carol was never given an entry: active-time %v", c.ActiveTime)
		}
		full, err = rc.XInfoStreamFull(ctx, key, 1).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, gr := range full.Groups {
			if gr.Name != g {
				continue
			}
			if gr.PelCount != 3 || len(gr.Pending) != 1 || gr.Pending[0].ID != "1-0" || len(gr.Consumers[0].Pending) != 1 || gr.Consumers[0].PelCount != 2 {
				t.Fatalf("COUNT 1: %+v", gr)
			}
		}
	})
}

// TestXReadGroupBlock: BLOCK times out with a null, is served by another
// connection's append in that append's round, and a blocked read does not
// hold up a shutdown.
func TestXReadGroupBlock(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, proto int) {
		stream := fmt.Sprint("wait:", proto)
		g := "g"
		if err := rc.XGroupCreate(ctx, stream, g, "$").Err(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: g, Consumer: "c", Streams: []string{stream, ">"}, Block: 50 * time.Millisecond}).Err(); !errors.Is(err, redis.Nil) {
			t.Fatalf("BLOCK 50 with nothing: %v, want a null", err)
		}
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Fatalf("BLOCK 50 answered after %v", d)
		}
		reader := ts.Client(t, proto)
		got := make(chan []redis.XStream, 1)
		go func() {
			s, err := reader.XReadGroup(ctx, &redis.XReadGroupArgs{Group: g, Consumer: "b", Streams: []string{stream, ">"}, Block: 0}).Result()
			if err != nil {
				t.Error(err)
			}
			got <- s
		}()
		// The blocking read makes its consumer in the step that registers it.
		testkit.WaitFor(t, "the reader to block", func() bool {
			cs, _ := rc.XInfoConsumers(ctx, stream, g).Result()
			return len(cs) == 2
		})
		rounds := testkit.InfoInt(t, rc, "persistence", "log_commit_rounds")
		pos := appendEvents(t, rc, stream, "Arrived")
		s := <-got
		if len(s) != 1 || len(s[0].Messages) != 1 || s[0].Messages[0].ID != fmt.Sprintf("%d-0", pos) {
			t.Fatalf("served %+v", s)
		}
		if n := testkit.InfoInt(t, rc, "persistence", "log_commit_rounds") - rounds; n != 1 {
			t.Errorf("the append and the blocked read took %d rounds, want 1", n)
		}
		if p, _ := rc.XPending(ctx, stream, g).Result(); p.Count != 1 || p.Consumers["b"] != 1 {
			t.Fatalf("pending after the blocked read: %+v", p)
		}
	})
	blocked := ts.Client(t, 2)
	errc := make(chan error, 1)
	go func() {
		errc <- blocked.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "x", Streams: []string{"wait:2", ">"}, Block: 0}).Err()
	}()
	testkit.WaitFor(t, "the reader to block", func() bool {
		cs, _ := ts.R2.XInfoConsumers(ctx, "wait:2", "g").Result()
		return len(cs) == 3
	})
	start := time.Now()
	if err := ts.Server.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown with a blocked XREADGROUP took %v", d)
	}
	if err := <-errc; err == nil {
		t.Error("the blocked read got entries at shutdown")
	}
}

// groupState is what a client sees of a key's groups, without the times.
func groupState(t *testing.T, rc *redis.Client, key string) string {
	t.Helper()
	var b strings.Builder
	groups, err := rc.XInfoGroups(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		fmt.Fprintf(&b, "%+v\n", g)
		cs, err := rc.XInfoConsumers(ctx, key, g.Name).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			fmt.Fprintf(&b, "  %s pending %d active %v\n", c.Name, c.Pending, c.Inactive >= 0)
		}
		ext, err := rc.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: key, Group: g.Name, Start: "-", End: "+", Count: 1000}).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ext {
			fmt.Fprintf(&b, "  %s %s %d\n", p.ID, p.Consumer, p.RetryCount)
		}
	}
	return b.String()
}

// TestGroupsAfterCrash: under always, a copy of the data folder taken
// while the server runs (what a kill -9 leaves) holds every group change
// that was answered; so does a clean restart.
func TestGroupsAfterCrash(t *testing.T) {
	ts := startServer(t)
	rc := ts.R3
	appendEvents(t, rc, "acct:1", "A", "B", "C", "D", "E")
	rc.XGroupCreate(ctx, "acct:1", "g", "0")
	rc.XGroupCreate(ctx, "$all", "all", "$")
	rc.XGroupCreate(ctx, "acct:1", "gone", "0")
	rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "alice", Streams: []string{"acct:1", ">"}, Count: 3, Block: -1})
	rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "bob", Streams: []string{"acct:1", ">"}, Count: 1, Block: -1})
	rc.XAck(ctx, "acct:1", "g", "2-0")
	rc.XClaim(ctx, &redis.XClaimArgs{Stream: "acct:1", Group: "g", Consumer: "carol", Messages: []string{"3-0"}})
	rc.XGroupCreateConsumer(ctx, "acct:1", "g", "dave")
	rc.XGroupDestroy(ctx, "acct:1", "gone")
	appendEvents(t, rc, "acct:2", "F")
	rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "all", Consumer: "x", Streams: []string{"$all", ">"}, Block: -1})
	want := groupState(t, rc, "acct:1") + groupState(t, rc, "$all")

	crash := testkit.CrashImage(t, ts.Dir)
	restarted := startServer(t, func(o *server.Options) { o.Dir = crash })
	if got := groupState(t, restarted.R2, "acct:1") + groupState(t, restarted.R2, "$all"); got != want {
		t.Fatalf("after a crash:\n%s\nwant\n%s", got, want)
	}
	if err := ts.Server.Close(); err != nil {
		t.Fatal(err)
	}
	again := startServer(t, func(o *server.Options) { o.Dir = ts.Dir })
	if got := groupState(t, again.R2, "acct:1") + groupState(t, again.R2, "$all"); got != want {
		t.Fatalf("after a restart:\n%s\nwant\n%s", got, want)
	}
}

// TestGroupsGoroutinePerConnection runs the blocking and shutdown test
// again with a goroutine per connection instead of the network loop.
func TestGroupsGoroutinePerConnection(t *testing.T) {
	if !server.UseLoop {
		t.Skip("this system always serves with a goroutine per connection")
	}
	connGoroutines = true
	defer func() { connGoroutines = false }()
	t.Run("XReadGroupBlock", TestXReadGroupBlock)
	t.Run("XReadGroup", TestXReadGroup)
}
