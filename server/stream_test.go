package server_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/internal/testkit/testserver"
)

// The log as Redis streams, driven by go-redis's own stream API in RESP2
// and RESP3: what a Redis client gets from XADD, XRANGE, XREVRANGE, XLEN,
// XREAD and XINFO STREAM.

// streamFields are an entry's fields, in order.
var streamFields = []string{"stream", "version", "type", "data", "meta", "id", "time"}

// streamLog appends the events the stream tests read:
//
//	1 account:1 Opened    {"n":1}
//	2 account:1 Deposited {"n":2}  meta {"by":"atm"} id dep-1
//	3 order:7   Placed    {"n":3}
//	4 account:2 Opened    {"n":4}
//	5 account:1 Deposited {"n":5}
func streamLog(t *testing.T, ts *testserver.Server) {
	t.Helper()
	rc := ts.R2
	for _, args := range [][]any{
		{"EVENT.APPEND", "account:1", "Opened", `{"n":1}`},
		{"EVENT.APPEND", "account:1", "ID", "dep-1", "META", `{"by":"atm"}`, "Deposited", `{"n":2}`},
		{"EVENT.APPEND", "order:7", "Placed", `{"n":3}`},
		{"EVENT.APPEND", "account:2", "Opened", `{"n":4}`},
		{"EVENT.APPEND", "account:1", "Deposited", `{"n":5}`},
	} {
		do(t, rc, args...)
	}
}

// checkEntry checks a go-redis XMessage against the streamLog event at pos.
func checkEntry(t *testing.T, m redis.XMessage, pos int) {
	t.Helper()
	want := map[int][4]string{
		1: {"account:1", "1", "Opened", `{"n":1}`},
		2: {"account:1", "2", "Deposited", `{"n":2}`},
		3: {"order:7", "1", "Placed", `{"n":3}`},
		4: {"account:2", "1", "Opened", `{"n":4}`},
		5: {"account:1", "3", "Deposited", `{"n":5}`},
	}[pos]
	if m.ID != strconv.Itoa(pos)+"-0" {
		t.Fatalf("entry ID %s, want %d-0", m.ID, pos)
	}
	if len(m.Values) != len(streamFields) {
		t.Fatalf("entry %s has fields %v", m.ID, m.Values)
	}
	for i, f := range []string{"stream", "version", "type", "data"} {
		if m.Values[f] != want[i] {
			t.Fatalf("entry %s: %s is %v, want %s", m.ID, f, m.Values[f], want[i])
		}
	}
	meta, id := "{}", ""
	if pos == 2 {
		meta, id = `{"by":"atm"}`, "dep-1"
	}
	if m.Values["meta"] != meta || m.Values["id"] != id {
		t.Fatalf("entry %s: meta %v id %v", m.ID, m.Values["meta"], m.Values["id"])
	}
	if tm, err := strconv.ParseInt(fmt.Sprint(m.Values["time"]), 10, 64); err != nil || tm <= 0 {
		t.Fatalf("entry %s: time %v", m.ID, m.Values["time"])
	}
}

func entryIDs(ms []redis.XMessage) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

func checkIDs(t *testing.T, what string, ms []redis.XMessage, err error, want ...int) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(ms) != len(want) {
		t.Fatalf("%s: entries %v, want positions %v", what, entryIDs(ms), want)
	}
	for i, m := range ms {
		checkEntry(t, m, want[i])
	}
}

func TestXRangeViews(t *testing.T) {
	ts := startServer(t)
	streamLog(t, ts)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, proto int) {
		for _, tc := range []struct {
			key        string
			start, end string
			all        []int // the whole range; COUNT takes the first (last with XREVRANGE)
		}{
			{"$all", "-", "+", []int{1, 2, 3, 4, 5}},
			{"$all", "2", "4", []int{2, 3, 4}},
			{"$all", "(2", "(4-0", []int{3}},
			{"$all", "(2", "(4", []int{3, 4}}, // (4 is (4-18446744073709551615
			{"$all", "2-1", "4-0", []int{3, 4}},
			{"account:1", "-", "+", []int{1, 2, 5}},
			{"account:1", "(1", "+", []int{2, 5}},
			{"account:1", "3", "4", nil},
			{"$ce-account", "-", "+", []int{1, 2, 4, 5}},
			{"$ce-account", "3", "+", []int{4, 5}},
			{"$ce-order", "-", "+", []int{3}},
			{"$et-Opened", "-", "+", []int{1, 4}},
			{"$et-Deposited", "(2", "+", []int{5}},
			{"$et-Nothing", "-", "+", nil},
			{"$ce-nothing", "-", "+", nil},
			{"nothing:1", "-", "+", nil},
			{"not-a-stream", "-", "+", nil},
			{"$all", "4", "2", nil},
			{"$all", "-", "0", nil},
		} {
			for _, count := range []int64{0, 1, 2} {
				what := fmt.Sprintf("XRANGE %s %s %s COUNT %d", tc.key, tc.start, tc.end, count)
				want := slices.Clone(tc.all)
				rev := slices.Clone(tc.all)
				slices.Reverse(rev)
				var ms, rms []redis.XMessage
				var err, rerr error
				if count > 0 {
					want, rev = want[:min(int(count), len(want))], rev[:min(int(count), len(rev))]
					ms, err = rc.XRangeN(ctx, tc.key, tc.start, tc.end, count).Result()
					rms, rerr = rc.XRevRangeN(ctx, tc.key, tc.end, tc.start, count).Result()
				} else {
					ms, err = rc.XRange(ctx, tc.key, tc.start, tc.end).Result()
					rms, rerr = rc.XRevRange(ctx, tc.key, tc.end, tc.start).Result()
				}
				checkIDs(t, what, ms, err, want...)
				checkIDs(t, "XREVRANGE of "+what, rms, rerr, rev...)
			}
		}
		// COUNT 0 is a null for a view with entries, an empty array for one without.
		if v, err := rc.Do(ctx, "XRANGE", "$all", "-", "+", "COUNT", "0").Result(); err != redis.Nil {
			t.Fatalf("XRANGE COUNT 0 = %#v, %v; want a null", v, err)
		}
		if v := do(t, rc, "XRANGE", "$et-Nothing", "-", "+", "COUNT", "0"); len(v.([]any)) != 0 {
			t.Fatalf("XRANGE of an empty view COUNT 0 = %#v", v)
		}
		doErr(t, rc, "ERR Invalid stream ID specified as stream command argument", "XRANGE", "$all", "x", "+")
		doErr(t, rc, "ERR invalid start ID for the interval", "XRANGE", "$all", "(18446744073709551615-18446744073709551615", "+")
		doErr(t, rc, "ERR invalid end ID for the interval", "XREVRANGE", "$all", "(0-0", "-")
		doErr(t, rc, "ERR syntax error", "XRANGE", "$all", "-", "+", "LIMIT", "1")
		doErr(t, rc, "ERR value is not an integer or out of range", "XRANGE", "$all", "-", "+", "COUNT", "x")
		doErr(t, rc, "ERR wrong number of arguments for 'xrange' command", "XRANGE", "$all", "-")
	})
}

// TestXRangeShape: an entry is [id, [field, value, ...]] of bulk strings in
// both testkit.Protocols (RESP3 does not make the fields a map).
func TestXRangeShape(t *testing.T) {
	ts := startServer(t)
	streamLog(t, ts)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, proto int) {
		v := do(t, rc, "XRANGE", "account:1", "2", "2")
		entries, ok := v.([]any)
		if !ok || len(entries) != 1 {
			t.Fatalf("XRANGE = %#v", v)
		}
		e, ok := entries[0].([]any)
		if !ok || len(e) != 2 || e[0] != "2-0" {
			t.Fatalf("entry = %#v", entries[0])
		}
		fields, ok := e[1].([]any)
		if !ok || len(fields) != 2*len(streamFields) {
			t.Fatalf("fields = %#v", e[1])
		}
		for i, f := range streamFields {
			if fields[2*i] != f {
				t.Fatalf("field %d is %v, want %s", i, fields[2*i], f)
			}
			if _, ok := fields[2*i+1].(string); !ok {
				t.Fatalf("%s's value %#v is not a bulk string", f, fields[2*i+1])
			}
		}
		if fields[3] != "2" || fields[9] != "{\"by\":\"atm\"}" || fields[11] != "dep-1" {
			t.Fatalf("fields = %v", fields)
		}
	})
}

func TestXLen(t *testing.T) {
	ts := startServer(t)
	streamLog(t, ts)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, proto int) {
		for key, want := range map[string]int64{"$all": 5, "account:1": 3, "account:2": 1, "$ce-account": 4, "$ce-order": 1,
			"$et-Opened": 2, "$et-Deposited": 2, "$et-Nothing": 0, "$ce-nothing": 0, "none:1": 0, "not-a-stream": 0} {
			if n, err := rc.XLen(ctx, key).Result(); err != nil || n != want {
				t.Errorf("XLEN %s = %d, %v; want %d", key, n, err, want)
			}
		}
		doErr(t, rc, "ERR wrong number of arguments for 'xlen' command", "XLEN", "a:1", "b:1")
	})
}

func TestXRead(t *testing.T) {
	ts := startServer(t)
	streamLog(t, ts)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, proto int) {
		res, err := rc.XRead(ctx, &redis.XReadArgs{Streams: []string{"account:1", "$et-Opened", "$ce-none", "0", "1", "0"}}).Result()
		if err != nil || len(res) != 2 {
			t.Fatalf("XREAD = %v, %v", res, err)
		}
		if res[0].Stream != "account:1" || res[1].Stream != "$et-Opened" {
			t.Fatalf("XREAD streams %s, %s", res[0].Stream, res[1].Stream)
		}
		checkIDs(t, "XREAD account:1 0", res[0].Messages, nil, 1, 2, 5)
		checkIDs(t, "XREAD $et-Opened 1", res[1].Messages, nil, 4)

		res, err = rc.XRead(ctx, &redis.XReadArgs{Streams: []string{"$all", "$ce-account", "2-5", "2"}, Count: 1}).Result()
		if err != nil || len(res) != 2 {
			t.Fatalf("XREAD COUNT 1 = %v, %v", res, err)
		}
		checkIDs(t, "XREAD COUNT 1 $all 2-5", res[0].Messages, nil, 3)
		checkIDs(t, "XREAD COUNT 1 $ce-account 2", res[1].Messages, nil, 4)

		// "+" is the last entry (Redis 7.4), with or without BLOCK.
		res, err = rc.XRead(ctx, &redis.XReadArgs{Streams: []string{"$ce-account", "account:2", "+", "+"}}).Result()
		if err != nil || len(res) != 2 {
			t.Fatalf("XREAD + = %v, %v", res, err)
		}
		checkIDs(t, "XREAD $ce-account +", res[0].Messages, nil, 5)
		checkIDs(t, "XREAD account:2 +", res[1].Messages, nil, 4)
		res, err = rc.XRead(ctx, &redis.XReadArgs{Streams: []string{"$all", "+"}, Block: 1000}).Result()
		if err != nil || len(res) != 1 {
			t.Fatalf("XREAD BLOCK 1000 STREAMS $all + = %v, %v", res, err)
		}
		checkIDs(t, "XREAD BLOCK $all +", res[0].Messages, nil, 5)

		// Nothing to read is a null without BLOCK: "$", past the end, a missing key.
		for _, streams := range [][]string{{"$all", "$"}, {"$all", "5"}, {"none:1", "0"}, {"$et-Nothing", "+"}, {"$all", "18446744073709551615"}} {
			if res, err := rc.XRead(ctx, &redis.XReadArgs{Streams: streams, Block: -1}).Result(); err != redis.Nil { // go-redis sends BLOCK 0 unless Block is -1
				t.Fatalf("XREAD STREAMS %v = %v, %v; want a null", streams, res, err)
			}
		}
		// BLOCK with entries there replies at once.
		res, err = rc.XRead(ctx, &redis.XReadArgs{Streams: []string{"$ce-order", "0"}, Block: 0}).Result()
		if err != nil || len(res) != 1 {
			t.Fatalf("XREAD BLOCK 0 = %v, %v", res, err)
		}
		checkIDs(t, "XREAD BLOCK 0 $ce-order 0", res[0].Messages, nil, 3)
		// A BLOCK with nothing to read times out with a null.
		began := time.Now()
		if res, err := rc.XRead(ctx, &redis.XReadArgs{Streams: []string{"$all", "$"}, Block: 50 * time.Millisecond}).Result(); err != redis.Nil {
			t.Fatalf("XREAD BLOCK 50 $ = %v, %v; want a null", res, err)
		}
		if waited := time.Since(began); waited < 50*time.Millisecond {
			t.Fatalf("XREAD BLOCK 50 answered after %v", waited)
		}

		doErr(t, rc, "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.", "XREAD", "STREAMS", "a:1", "b:1", "0")
		doErr(t, rc, "ERR syntax error", "XREAD", "COUNT", "1", "a:1")
		doErr(t, rc, "ERR Invalid stream ID specified as stream command argument", "XREAD", "STREAMS", "a:1", "-")
		doErr(t, rc, "ERR timeout is negative", "XREAD", "BLOCK", "-1", "STREAMS", "a:1", "0")
		doErr(t, rc, "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.", "XREAD", "STREAMS", "a:1", ">")
	})
}

// TestXReadShape: RESP2 gives [[key, entries], ...], RESP3 a map.
func TestXReadShape(t *testing.T) {
	ts := startServer(t)
	streamLog(t, ts)
	v2 := do(t, ts.R2, "XREAD", "STREAMS", "$ce-order", "$et-Opened", "0", "1")
	a, ok := v2.([]any)
	if !ok || len(a) != 2 {
		t.Fatalf("RESP2 XREAD = %#v", v2)
	}
	for i, key := range []string{"$ce-order", "$et-Opened"} {
		pair, ok := a[i].([]any)
		if !ok || len(pair) != 2 || pair[0] != key {
			t.Fatalf("RESP2 XREAD element %d = %#v", i, a[i])
		}
		if es, ok := pair[1].([]any); !ok || len(es) != 1 {
			t.Fatalf("RESP2 XREAD %s entries = %#v", key, pair[1])
		}
	}
	v3 := do(t, ts.R3, "XREAD", "STREAMS", "$ce-order", "$et-Opened", "0", "1")
	m, ok := v3.(map[any]any)
	if !ok || len(m) != 2 {
		t.Fatalf("RESP3 XREAD = %#v", v3)
	}
	for _, key := range []string{"$ce-order", "$et-Opened"} {
		if es, ok := m[key].([]any); !ok || len(es) != 1 {
			t.Fatalf("RESP3 XREAD %s = %#v", key, m[key])
		}
	}
}

func TestXInfoStream(t *testing.T) {
	ts := startServer(t)
	streamLog(t, ts)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, proto int) {
		for _, tc := range []struct {
			key           string
			length        int64
			first, last   int
			lastGenerated string
		}{
			{"$all", 5, 1, 5, "5-0"}, {"account:1", 3, 1, 5, "5-0"}, {"$ce-account", 4, 1, 5, "5-0"},
			{"$et-Opened", 2, 1, 4, "4-0"}, {"order:7", 1, 3, 3, "3-0"},
		} {
			info, err := rc.XInfoStream(ctx, tc.key).Result()
			if err != nil {
				t.Fatalf("XINFO STREAM %s: %v", tc.key, err)
			}
			if info.Length != tc.length || info.EntriesAdded != tc.length || info.LastGeneratedID != tc.lastGenerated ||
				info.MaxDeletedEntryID != "0-0" || info.RecordedFirstEntryID != fmt.Sprintf("%d-0", tc.first) || info.Groups != 0 {
				t.Fatalf("XINFO STREAM %s = %+v", tc.key, info)
			}
			checkEntry(t, info.FirstEntry, tc.first)
			checkEntry(t, info.LastEntry, tc.last)
		}
		full, err := rc.XInfoStreamFull(ctx, "$ce-account", 2).Result()
		if err != nil {
			t.Fatalf("XINFO STREAM FULL: %v", err)
		}
		if full.Length != 4 || full.LastGeneratedID != "5-0" || len(full.Groups) != 0 {
			t.Fatalf("XINFO STREAM FULL = %+v", full)
		}
		checkIDs(t, "XINFO STREAM $ce-account FULL COUNT 2", full.Entries, nil, 1, 2)
		if full, err := rc.XInfoStreamFull(ctx, "$all", 0).Result(); err != nil || len(full.Entries) != 5 {
			t.Fatalf("XINFO STREAM $all FULL COUNT 0: %d entries, %v", len(full.Entries), err)
		}
		v := do(t, rc, "XINFO", "STREAM", "$all", "FULL")
		if proto == 2 && len(v.([]any)) != 18 || proto == 3 && len(v.(map[any]any)) != 9 {
			t.Fatalf("XINFO STREAM FULL = %#v", v)
		}
		v = do(t, rc, "XINFO", "STREAM", "$all")
		if proto == 2 && len(v.([]any)) != 20 || proto == 3 && len(v.(map[any]any)) != 10 {
			t.Fatalf("XINFO STREAM = %#v", v)
		}
		for _, key := range []string{"none:1", "$et-Nothing", "$ce-nothing", "not-a-stream"} {
			doErr(t, rc, "ERR no such key", "XINFO", "STREAM", key)
			doErr(t, rc, "ERR no such key", "XINFO", "STREAM", key, "FOO") // the key is looked up first, as Redis does
		}
		doErr(t, rc, "ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.", "XINFO", "STREAM", "$all", "FOO")
		doErr(t, rc, "ERR value is not an integer or out of range", "XINFO", "STREAM", "$all", "FULL", "COUNT", "x")
		doErr(t, rc, "ERR wrong number of arguments for 'xinfo|stream' command", "XINFO", "STREAM")
		doErr(t, rc, "ERR unknown subcommand 'FOO'. Try XINFO HELP.", "XINFO", "FOO")
		help, ok := do(t, rc, "XINFO", "HELP").([]any)
		if !ok || len(help) < 5 || help[len(help)-2] != "HELP" {
			t.Fatalf("XINFO HELP = %#v", help)
		}
	})
}

func TestXAdd(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, proto int) {
		s := fmt.Sprintf("xadd:%d", proto)
		base := ts.Log().LastPosition()
		id, err := rc.XAdd(ctx, &redis.XAddArgs{Stream: s, Values: []any{"type", "Opened", "data", `{"a":1}`}}).Result()
		if err != nil || id != fmt.Sprintf("%d-0", base+1) {
			t.Fatalf("XADD = %q, %v; want %d-0", id, err, base+1)
		}
		// Fields in any order, meta and an idempotency id.
		id2, err := rc.XAdd(ctx, &redis.XAddArgs{Stream: s, Values: map[string]any{"data": `{"b":2}`, "id": "r1", "meta": `{"m":1}`, "type": "Deposited"}}).Result()
		if err != nil || id2 != fmt.Sprintf("%d-0", base+2) {
			t.Fatalf("XADD with meta and id = %q, %v", id2, err)
		}
		// The same id again writes nothing and replies the first entry's ID.
		again, err := rc.XAdd(ctx, &redis.XAddArgs{Stream: s, Values: []any{"type", "Other", "data", `{}`, "id", "r1"}}).Result()
		if err != nil || again != id2 {
			t.Fatalf("XADD again with id r1 = %q, %v; want %s", again, err, id2)
		}
		// NOMKSTREAM appends to a stream that exists.
		id3, err := rc.XAdd(ctx, &redis.XAddArgs{Stream: s, NoMkStream: true, Values: []any{"type", "T", "data", `{}`}}).Result()
		if err != nil || id3 != fmt.Sprintf("%d-0", base+3) {
			t.Fatalf("XADD NOMKSTREAM = %q, %v", id3, err)
		}
		// As EVENT.APPEND stored it.
		evs := eventsOf(t, do(t, rc, "EVENT.READ", s), proto)
		if len(evs) != 3 || evs[1]["type"] != "Deposited" || evs[1]["data"] != `{"b":2}` || evs[1]["meta"] != `{"m":1}` || evs[1]["id"] != "r1" {
			t.Fatalf("EVENT.READ after XADD: %v", evs)
		}
		ms, err := rc.XRange(ctx, s, "-", "+").Result()
		if err != nil || len(ms) != 3 || ms[1].ID != id2 || ms[1].Values["type"] != "Deposited" {
			t.Fatalf("XRANGE after XADD: %v, %v", ms, err)
		}

		last := ts.Log().LastPosition()
		for _, tc := range []struct {
			err  string
			args []any
		}{
			{"ERR NOMKSTREAM: the stream none:1 does not exist; nothing was written", []any{"XADD", "none:1", "NOMKSTREAM", "*", "type", "T", "data", "{}"}},
			{"ERR XADD takes * as the entry ID: foldb gives each entry the ID <position>-0", []any{"XADD", s, "999-0", "type", "T", "data", "{}"}},
			{"ERR XADD does not trim (MAXLEN): the log's events are never deleted", []any{"XADD", s, "MAXLEN", "5", "*", "type", "T", "data", "{}"}},
			{"ERR XADD takes the fields type, data, meta and id, not 'amount'", []any{"XADD", s, "*", "amount", "1"}},
			{"ERR XADD needs the fields type and data", []any{"XADD", s, "*", "type", "T"}},
			{"ERR $all is a view of the log and takes no appends: XADD to a stream <category>:<id>", []any{"XADD", "$all", "*", "type", "T", "data", "{}"}},
			{"ERR invalid stream name 'plain': expected <category>:<id>", []any{"XADD", "plain", "*", "type", "T", "data", "{}"}},
			{"ERR event data must be a JSON object", []any{"XADD", s, "*", "type", "T", "data", "[1]"}},
			{"ERR wrong number of arguments for 'xadd' command", []any{"XADD", s, "*", "type", "T", "data"}},
			{"ERR XDEL is not supported: the log's events are never deleted", []any{"XDEL", s, id}},
			{"ERR XTRIM is not supported: the log's events are never deleted", []any{"XTRIM", s, "MAXLEN", "0"}},
		} {
			doErr(t, rc, tc.err, tc.args...)
		}
		if got := ts.Log().LastPosition(); got != last {
			t.Fatalf("refused XADDs wrote: the log went from %d to %d", last, got)
		}
	})
}

// TestXAddGuards: XADD goes through the schema's guards as EVENT.APPEND
// does.
func TestXAddGuards(t *testing.T) {
	ts := startServer(t)
	schema := "entities:\n  account:\n    initial: {balance: 0}\n    when:\n      Deposited: {set: {balance: balance + event.amount}}\n" +
		"      Withdrawn:\n        require: balance >= event.amount\n        message: insufficient funds\n        set: {balance: balance - event.amount}\n"
	if v := do(t, ts.R2, "SCHEMA.LOAD", schema); v != "OK" {
		t.Fatalf("SCHEMA.LOAD = %v", v)
	}
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, proto int) {
		s := fmt.Sprintf("account:g%d", proto)
		if _, err := rc.XAdd(ctx, &redis.XAddArgs{Stream: s, Values: []any{"type", "Deposited", "data", `{"amount":10}`}}).Result(); err != nil {
			t.Fatal(err)
		}
		doErr(t, rc, "REJECTED insufficient funds", "XADD", s, "*", "type", "Withdrawn", "data", `{"amount":11}`)
		if got := do(t, rc, "ENTITY.GET", "account", fmt.Sprintf("g%d", proto)); got != `{"balance":10}` {
			t.Fatalf("ENTITY.GET = %v", got)
		}
	})
}

// TestXAddRounds: pipelined XADDs are gathered into commit rounds as
// EVENT.APPENDs are, each reply in order.
func TestXAddRounds(t *testing.T) {
	ts := startServer(t)
	rounds := testkit.InfoInt(t, ts.R2, "persistence", "log_commit_rounds")
	const n = 200
	pipe := ts.R2.Pipeline()
	var cmds []*redis.StringCmd
	for i := range n {
		cmds = append(cmds, pipe.XAdd(ctx, &redis.XAddArgs{Stream: "pipe:1", Values: []any{"type", "T", "data", fmt.Sprintf(`{"i":%d}`, i)}}))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for i, c := range cmds {
		if c.Val() != fmt.Sprintf("%d-0", i+1) {
			t.Fatalf("XADD %d = %q", i, c.Val())
		}
	}
	if got := testkit.InfoInt(t, ts.R2, "persistence", "log_commit_rounds") - rounds; got >= n {
		t.Fatalf("%d pipelined XADDs took %d commit rounds", n, got)
	}
}

// TestXReadBlock: a blocked XREAD wakes when a durable event lands in one
// of its views, with that event, and not for events of other views; "$"
// means the log's end when the command came.
func TestXReadBlock(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, proto int) {
		cat := fmt.Sprint("blk", proto)
		type result struct {
			res []redis.XStream
			err error
		}
		got := make(chan result, 1)
		reader := ts.Client(t, proto)
		go func() {
			res, err := reader.XRead(ctx, &redis.XReadArgs{Streams: []string{"$ce-" + cat, "$et-Never", "$", "$"}, Block: 0}).Result()
			got <- result{res, err}
		}()
		testkit.WaitFor(t, "the reader to block", func() bool {
			return testkit.InfoInt(t, ts.R2, "clients", "blocked_clients") >= 1
		})
		// An event of another view does not wake it.
		do(t, ts.R2, "EVENT.APPEND", "other:1", "Opened", `{}`)
		_, pos := appendReply(t, do(t, ts.R2, "EVENT.APPEND", cat+":1", "Opened", `{"n":1}`))
		select {
		case r := <-got:
			if r.err != nil || len(r.res) != 1 || r.res[0].Stream != "$ce-"+cat || len(r.res[0].Messages) != 1 {
				t.Fatalf("XREAD BLOCK = %+v, %v", r.res, r.err)
			}
			if id := r.res[0].Messages[0].ID; id != fmt.Sprintf("%d-0", pos) {
				t.Fatalf("woke with entry %s, want %d-0", id, pos)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the blocked XREAD did not wake")
		}
	})
}
