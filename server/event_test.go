package server_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/server"
	"github.com/redis/go-redis/v9"
)

// eventOf checks one event of a reply in the shape of its protocol
// (testkit.EventOf) and returns its fields by name.
func eventOf(t testing.TB, v any, proto int) map[string]any {
	t.Helper()
	e, err := testkit.EventOf(v, proto)
	if err != nil {
		t.Fatalf("RESP%d: %v", proto, err)
	}
	return e
}

func eventsOf(t testing.TB, v any, proto int) []map[string]any {
	t.Helper()
	a, ok := v.([]any)
	if !ok {
		t.Fatalf("reply is %#v, want an array of events", v)
	}
	out := make([]map[string]any, len(a))
	for i := range a {
		out[i] = eventOf(t, a[i], proto)
	}
	return out
}

func versionsOf(evs []map[string]any) []int64 {
	var out []int64
	for _, e := range evs {
		out = append(out, e["version"].(int64))
	}
	return out
}

func positionsOf(evs []map[string]any) []int64 {
	var out []int64
	for _, e := range evs {
		out = append(out, e["position"].(int64))
	}
	return out
}

func TestAppendExpect(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		s := fmt.Sprintf("acct:expect%d", p)
		absent := fmt.Sprintf("acct:absent%d", p)
		first := int64(ts.Log().LastPosition()) + 1
		ok := func(want int64, args ...any) {
			t.Helper()
			v, pos := appendReply(t, do(t, rc, append([]any{"EVENT.APPEND", s}, args...)...))
			if v != want || pos != first+want-1 {
				t.Fatalf("%v: got [%d %d], want [%d %d]", args, v, pos, want, first+want-1)
			}
		}
		wrong := func(msg string, args ...any) {
			t.Helper()
			doErr(t, rc, "WRONGVERSION "+msg, append([]any{"EVENT.APPEND", s}, args...)...)
		}
		ok(1, "EXPECT", "NEW", "Opened", `{"n":1}`)
		wrong("expected a new stream but "+s+" is at version 1", "EXPECT", "NEW", "T", `{}`)
		ok(2, "EXPECT", "1", "T", `{}`)
		wrong("expected 1 but "+s+" is at version 2", "EXPECT", "1", "T", `{}`)
		wrong("expected 0 but "+s+" is at version 2", "EXPECT", "0", "T", `{}`)
		wrong("expected 7 but "+s+" is at version 2", "EXPECT", "7", "T", `{}`)
		ok(3, "EXPECT", "ANY", "T", `{}`)
		ok(4, "EXPECT", "EXISTS", "T", `{}`)
		ok(5, "expect", "exists", "T", `{}`) // keywords are case-insensitive
		ok(6, "T", `{}`)                     // no EXPECT: ANY
		if v := toInt(t, do(t, rc, "EVENT.VERSION", s)); v != 6 {
			t.Fatalf("version %d after failed appends, want 6", v)
		}

		doErr(t, rc, "WRONGVERSION expected an existing stream but "+absent+" does not exist",
			"EVENT.APPEND", absent, "EXPECT", "EXISTS", "T", `{}`)
		doErr(t, rc, "ERR EXPECT takes a version (0 or more), ANY, NEW or EXISTS, not 'soon'",
			"EVENT.APPEND", absent, "EXPECT", "soon", "T", `{}`)
		doErr(t, rc, "ERR EXPECT takes a version (0 or more), ANY, NEW or EXISTS, not '-1'",
			"EVENT.APPEND", absent, "EXPECT", "-1", "T", `{}`)
		if v := toInt(t, do(t, rc, "EVENT.VERSION", absent)); v != 0 {
			t.Fatalf("refused appends created %s at version %d", absent, v)
		}
		v, _ := appendReply(t, do(t, rc, "EVENT.APPEND", absent, "EXPECT", "0", "T", `{}`))
		if v != 1 {
			t.Fatalf("EXPECT 0 on a new stream: version %d", v)
		}
	})
}

func TestAppendIdempotentID(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		s := fmt.Sprintf("order:%d", p)
		v1, p1 := appendReply(t, do(t, rc, "EVENT.APPEND", s, "ID", "req-1", "Placed", `{"total":5}`))
		// Again, even with an EXPECT that would now fail: the first result.
		for _, args := range [][]any{
			{"EVENT.APPEND", s, "ID", "req-1", "Placed", `{"total":5}`},
			{"EVENT.APPEND", s, "EXPECT", "NEW", "ID", "req-1", "Placed", `{"total":5}`},
			{"EVENT.APPEND", s, "id", "req-1", "Other", `{"x":1}`, "More", `{}`},
		} {
			v, pos := appendReply(t, do(t, rc, args...))
			if v != v1 || pos != p1 {
				t.Fatalf("%v: [%d %d], want the first result [%d %d]", args, v, pos, v1, p1)
			}
		}
		if v := toInt(t, do(t, rc, "EVENT.VERSION", s)); v != 1 {
			t.Fatalf("version %d after retries, want 1", v)
		}
		// Another ID, or the same ID in another stream, appends.
		if v, _ := appendReply(t, do(t, rc, "EVENT.APPEND", s, "ID", "req-2", "Paid", `{}`)); v != 2 {
			t.Fatalf("a new ID appended version %d, want 2", v)
		}
		other := s + "-other"
		if v, pos := appendReply(t, do(t, rc, "EVENT.APPEND", other, "ID", "req-1", "Placed", `{}`)); v != 1 || pos == p1 {
			t.Fatalf("the same ID in another stream: [%d %d]", v, pos)
		}
		evs := eventsOf(t, do(t, rc, "EVENT.READ", s), p)
		if len(evs) != 2 || evs[0]["id"] != "req-1" || evs[1]["id"] != "req-2" {
			t.Fatalf("events %v", evs)
		}
		doErr(t, rc, "ERR ID must not be empty", "EVENT.APPEND", s, "ID", "", "T", `{}`)
	})
}

// Within one pipeline the duplicate of an ID appended earlier in the same
// commit round gets the first result too.
func TestAppendIdempotentIDInOneRound(t *testing.T) {
	ts := startServer(t)
	pipe := ts.R2.Pipeline()
	var cmds []*redis.Cmd
	for range 5 {
		cmds = append(cmds, pipe.Do(ctx, "EVENT.APPEND", "order:round", "ID", "same", "Placed", `{}`))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for i, c := range cmds {
		v, pos := appendReply(t, c.Val())
		if v != 1 || pos != 1 {
			t.Fatalf("append %d: [%d %d], want [1 1]", i, v, pos)
		}
	}
	if n := ts.Log().LastPosition(); n != 1 {
		t.Fatalf("log holds %d events, want 1", n)
	}
}

func TestAppendAtomicBatch(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		s := fmt.Sprintf("cart:%d", p)
		before := ts.Log().LastPosition()
		doErrPrefix(t, rc, "ERR invalid JSON in event data: ",
			"EVENT.APPEND", s, "Added", `{"sku":"a"}`, "Added", `{"sku":`, "Added", `{"sku":"c"}`)
		doErr(t, rc, "ERR event data must be a JSON object",
			"EVENT.APPEND", s, "Added", `{"sku":"a"}`, "Added", `[1,2]`)
		doErr(t, rc, "ERR empty event type", "EVENT.APPEND", s, "Added", `{}`, "", `{}`)
		if after := ts.Log().LastPosition(); after != before {
			t.Fatalf("refused appends moved the log from %d to %d", before, after)
		}
		if v := toInt(t, do(t, rc, "EVENT.VERSION", s)); v != 0 {
			t.Fatalf("refused appends wrote version %d", v)
		}
		v, pos := appendReply(t, do(t, rc, "EVENT.APPEND", s, "Added", `{"sku":"a"}`, "Added", `{"sku":"b"}`, "Removed", `{"sku":"a"}`))
		if v != 3 || pos != int64(before)+3 {
			t.Fatalf("[%d %d], want [3 %d]", v, pos, before+3)
		}
		evs := eventsOf(t, do(t, rc, "EVENT.READ", s), p)
		if got := versionsOf(evs); !slices.Equal(got, []int64{1, 2, 3}) {
			t.Fatalf("versions %v", got)
		}
		if got, b := positionsOf(evs), int64(before); !slices.Equal(got, []int64{b + 1, b + 2, b + 3}) {
			t.Fatalf("positions %v", got)
		}
		if evs[0]["time"] != evs[2]["time"] {
			t.Fatalf("one append, two times: %v %v", evs[0]["time"], evs[2]["time"])
		}
	})
}

func TestAppendArgumentErrors(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		for _, tc := range []struct {
			args []any
			want string
		}{
			{[]any{"EVENT.APPEND", "a:1", "T"}, "ERR wrong number of arguments for 'event.append' command"},
			{[]any{"EVENT.APPEND", "a:1", "A", `{}`, "B"}, "ERR syntax error: EVENT.APPEND takes type and data pairs after its options"},
			{[]any{"EVENT.APPEND", "a:1", "EXPECT", "1", "T"}, "ERR syntax error: EVENT.APPEND takes type and data pairs after its options"},
			{[]any{"EVENT.APPEND", "nocolon", "T", `{}`}, "ERR invalid stream name 'nocolon': expected <category>:<id>"},
			{[]any{"EVENT.APPEND", ":1", "T", `{}`}, "ERR invalid stream name ':1': expected <category>:<id>"},
			{[]any{"EVENT.APPEND", "a:", "T", `{}`}, "ERR invalid stream name 'a:': expected <category>:<id>"},
			{[]any{"EVENT.APPEND", "a:1", "META", `[1]`, "T", `{}`}, "ERR meta must be a JSON object"},
			{[]any{"EVENT.APPEND", "a:1", "T", `{"a":1}x`}, "ERR invalid JSON in event data: invalid character 'x' after top-level value"},
			{[]any{"EVENT.APPEND", "a:1", "T", ``}, "ERR invalid JSON in event data: unexpected end of JSON input"},
			{[]any{"EVENT.APPEND", "a:1", "ID", strings.Repeat("i", 257), "T", `{}`}, "ERR event ID too long: 257 bytes (at most 256)"},
			{[]any{"EVENT.APPEND", "a:1", strings.Repeat("t", 257), `{}`}, "ERR event type too long: 257 bytes (at most 256)"},
		} {
			doErr(t, rc, tc.want, tc.args...)
		}
		doErrPrefix(t, rc, "ERR invalid JSON in meta: ", "EVENT.APPEND", "a:1", "META", `{"a"`, "T", `{}`)
		if n := ts.Log().LastPosition(); n != 0 {
			t.Fatalf("refused appends wrote %d events", n)
		}
	})
}

func TestAppendLimits(t *testing.T) {
	ts := startServer(t, func(o *server.Options) {
		o.MaxEventSize = 100
		o.MaxEventsPerAppend = 2
	})
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		s := fmt.Sprintf("lim:%d", p)
		doErr(t, rc, "ERR too many events in one append: 3 (max-events-per-append is 2)",
			"EVENT.APPEND", s, "A", `{}`, "B", `{}`, "C", `{}`)
		// type + data + meta of one event: 1 + 99 = 100 fits, 101 does not.
		fits := `{"x":"` + strings.Repeat("y", 99-8) + `"}`
		if len(fits) != 99 {
			t.Fatalf("test data is %d bytes", len(fits))
		}
		doErr(t, rc, "ERR event too large: 101 bytes (max-event-size is 100)",
			"EVENT.APPEND", s, "AB", fits)
		doErr(t, rc, "ERR event too large: 108 bytes (max-event-size is 100)",
			"EVENT.APPEND", s, "META", `{"m":1}`, "AB", fits)
		doErr(t, rc, "ERR event too large: 101 bytes (max-event-size is 100)",
			"EVENT.APPEND", s, "A", `{}`, "AB", fits)
		if v := toInt(t, do(t, rc, "EVENT.VERSION", s)); v != 0 {
			t.Fatalf("refused appends wrote version %d", v)
		}
		if v, _ := appendReply(t, do(t, rc, "EVENT.APPEND", s, "A", fits, "B", `{}`)); v != 2 {
			t.Fatalf("appends within the limits: version %d", v)
		}
	})
	// CONFIG GET shows the limits.
	got, err := ts.R2.ConfigGet(ctx, "max-event*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if got["max-event-size"] != "100" || got["max-events-per-append"] != "2" {
		t.Fatalf("CONFIG GET max-event*: %v", got)
	}
}

func TestAppendMeta(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		s := fmt.Sprintf("acct:meta%d", p)
		do(t, rc, "EVENT.APPEND", s, "META", `{"user":"u1","ip":"10.0.0.1"}`, "A", `{"n":1}`, "B", `{"n":2}`)
		do(t, rc, "EVENT.APPEND", s, "C", `{"n":3}`)
		evs := eventsOf(t, do(t, rc, "EVENT.READ", s), p)
		if len(evs) != 3 {
			t.Fatalf("%d events", len(evs))
		}
		for i, want := range []string{`{"user":"u1","ip":"10.0.0.1"}`, `{"user":"u1","ip":"10.0.0.1"}`, `{}`} {
			if evs[i]["meta"] != want {
				t.Fatalf("event %d meta %q, want %q", i, evs[i]["meta"], want)
			}
		}
		if evs[1]["data"] != `{"n":2}` || evs[1]["type"] != "B" {
			t.Fatalf("event 2: %v", evs[1])
		}
		// An event type may be called META or ID when it is the last event.
		v, _ := appendReply(t, do(t, rc, "EVENT.APPEND", s, "META", `{"m":1}`))
		if v != 4 {
			t.Fatalf("type META: version %d", v)
		}
		evs = eventsOf(t, do(t, rc, "EVENT.READ", s, "FROM", "4"), p)
		if evs[0]["type"] != "META" || evs[0]["data"] != `{"m":1}` || evs[0]["meta"] != `{}` {
			t.Fatalf("event 4: %v", evs[0])
		}
	})
}

func TestEventReplyShape(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		s := fmt.Sprintf("acct:shape%d", p)
		before := time.Now().UnixMilli()
		_, pos := appendReply(t, do(t, rc, "EVENT.APPEND", s, "ID", "e-1", "META", `{"by":"me"}`, "Opened", `{"name":"Ann"}`))
		after := time.Now().UnixMilli()
		for _, args := range [][]any{
			{"EVENT.READ", s},
			{"EVENT.RANGE", fmt.Sprint(pos), "COUNT", "1"},
		} {
			evs := eventsOf(t, do(t, rc, args...), p)
			if len(evs) != 1 {
				t.Fatalf("%v: %d events", args, len(evs))
			}
			e := evs[0]
			want := map[string]any{"position": pos, "stream": s, "version": int64(1), "type": "Opened",
				"data": `{"name":"Ann"}`, "meta": `{"by":"me"}`, "id": "e-1"}
			for k, v := range want {
				if e[k] != v {
					t.Fatalf("%v: %s = %#v, want %#v", args, k, e[k], v)
				}
			}
			if tm := e["time"].(int64); tm < before || tm > after {
				t.Fatalf("time %d outside [%d, %d]", tm, before, after)
			}
		}
	})
	// The wire types, field order included, without go-redis in between.
	r := ts.Raw(t)
	for _, p := range testkit.Protocols {
		if _, ok := r.Do("HELLO", fmt.Sprint(p)).(testkit.Err); ok {
			t.Fatal("HELLO failed")
		}
		evs, ok := r.Do("EVENT.READ", "acct:shape2").([]any)
		if !ok || len(evs) != 1 {
			t.Fatalf("RESP%d: EVENT.READ replied %#v", p, evs)
		}
		var fields []any
		switch e := evs[0].(type) {
		case testkit.Map:
			if p != 3 {
				t.Fatalf("RESP2 event is a map")
			}
			fields = e
		case []any:
			if p != 2 {
				t.Fatalf("RESP3 event is a flat array")
			}
			fields = e
		default:
			t.Fatalf("event is %T", e)
		}
		for i, name := range testkit.EventFields {
			if fields[2*i] != testkit.Bulk(name) {
				t.Fatalf("RESP%d field %d is %#v, want %s", p, i, fields[2*i], name)
			}
		}
	}
}

func TestEventRead(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		s := fmt.Sprintf("acct:read%d", p)
		for i := 1; i <= 5; i++ {
			do(t, rc, "EVENT.APPEND", s, "T", fmt.Sprintf(`{"i":%d}`, i))
			do(t, rc, "EVENT.APPEND", s+"x", "Noise", `{}`) // another stream in between
		}
		for _, tc := range []struct {
			args []string
			want []int64
		}{
			{nil, []int64{1, 2, 3, 4, 5}},
			{[]string{"FROM", "3"}, []int64{3, 4, 5}},
			{[]string{"FROM", "0"}, []int64{1, 2, 3, 4, 5}},
			{[]string{"FROM", "6"}, nil},
			{[]string{"COUNT", "2"}, []int64{1, 2}},
			{[]string{"FROM", "2", "COUNT", "2"}, []int64{2, 3}},
			{[]string{"count", "2", "from", "4"}, []int64{4, 5}},
			{[]string{"REV"}, []int64{5, 4, 3, 2, 1}},
			{[]string{"REV", "FROM", "3"}, []int64{3, 2, 1}},
			{[]string{"REV", "COUNT", "2"}, []int64{5, 4}},
			{[]string{"FROM", "4", "REV", "COUNT", "3"}, []int64{4, 3, 2}},
			{[]string{"REV", "FROM", "99"}, []int64{5, 4, 3, 2, 1}},
		} {
			args := append([]any{"EVENT.READ", s}, anys(tc.args)...)
			evs := eventsOf(t, do(t, rc, args...), p)
			if got := versionsOf(evs); !slices.Equal(got, tc.want) {
				t.Fatalf("%v: versions %v, want %v", tc.args, got, tc.want)
			}
			for _, e := range evs {
				if e["stream"] != s || e["data"] != fmt.Sprintf(`{"i":%d}`, e["version"]) {
					t.Fatalf("%v: event %v", tc.args, e)
				}
			}
		}
		if evs := eventsOf(t, do(t, rc, "EVENT.READ", "acct:nobody"), p); len(evs) != 0 {
			t.Fatalf("absent stream: %v", evs)
		}
		for _, tc := range []struct {
			args []any
			want string
		}{
			{[]any{"EVENT.READ"}, "ERR wrong number of arguments for 'event.read' command"},
			{[]any{"EVENT.READ", s, "COUNT", "0"}, "ERR COUNT must be a positive integer"},
			{[]any{"EVENT.READ", s, "COUNT", "-1"}, "ERR COUNT must be a positive integer"},
			{[]any{"EVENT.READ", s, "FROM", "x"}, "ERR value is not an integer or out of range"},
			{[]any{"EVENT.READ", s, "FROM"}, "ERR syntax error"},
			{[]any{"EVENT.READ", s, "BACKWARDS"}, "ERR syntax error"},
			{[]any{"EVENT.READ", "nocolon"}, "ERR invalid stream name 'nocolon': expected <category>:<id>"},
		} {
			doErr(t, rc, tc.want, tc.args...)
		}
	})
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func TestEventRange(t *testing.T) {
	ts := startServer(t)
	// positions 1..6: a:1 Opened, b:1 Opened, a:1 Deposited, b:1 Deposited, a:1 Closed, c:1 Opened
	for _, e := range [][2]string{{"a:1", "Opened"}, {"b:1", "Opened"}, {"a:1", "Deposited"}, {"b:1", "Deposited"}, {"a:1", "Closed"}, {"c:1", "Opened"}} {
		do(t, ts.R2, "EVENT.APPEND", e[0], e[1], `{}`)
	}
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		for _, tc := range []struct {
			args []string
			want []int64
		}{
			{[]string{"0"}, []int64{1, 2, 3, 4, 5, 6}},
			{[]string{"1"}, []int64{1, 2, 3, 4, 5, 6}},
			{[]string{"3", "COUNT", "2"}, []int64{3, 4}},
			{[]string{"6"}, []int64{6}},
			{[]string{"7"}, nil},
			{[]string{"0", "TYPES", "Opened"}, []int64{1, 2, 6}},
			{[]string{"2", "TYPES", "Opened,Closed"}, []int64{2, 5, 6}},
			{[]string{"0", "TYPES", "Opened", "COUNT", "2"}, []int64{1, 2}},
			{[]string{"0", "count", "1", "types", "Deposited"}, []int64{3}},
			{[]string{"0", "TYPES", "Nothing"}, nil},
		} {
			evs := eventsOf(t, do(t, rc, append([]any{"EVENT.RANGE"}, anys(tc.args)...)...), p)
			if got := positionsOf(evs); !slices.Equal(got, tc.want) {
				t.Fatalf("EVENT.RANGE %v: positions %v, want %v", tc.args, got, tc.want)
			}
		}
		evs := eventsOf(t, do(t, rc, "EVENT.RANGE", "3", "COUNT", "1"), p)
		if evs[0]["stream"] != "a:1" || evs[0]["version"] != int64(2) || evs[0]["type"] != "Deposited" {
			t.Fatalf("position 3: %v", evs[0])
		}
		for _, tc := range []struct {
			args []any
			want string
		}{
			{[]any{"EVENT.RANGE"}, "ERR wrong number of arguments for 'event.range' command"},
			{[]any{"EVENT.RANGE", "-1"}, "ERR EVENT.RANGE takes a position (0 or more) first"},
			{[]any{"EVENT.RANGE", "first"}, "ERR EVENT.RANGE takes a position (0 or more) first"},
			{[]any{"EVENT.RANGE", "0", "COUNT", "0"}, "ERR COUNT must be a positive integer"},
			{[]any{"EVENT.RANGE", "0", "TYPES", "A,,B"}, "ERR TYPES takes a comma-separated list of event types"},
			{[]any{"EVENT.RANGE", "0", "TYPES", ""}, "ERR TYPES takes a comma-separated list of event types"},
			{[]any{"EVENT.RANGE", "0", "TYPES"}, "ERR syntax error"},
			{[]any{"EVENT.RANGE", "0", "REV"}, "ERR syntax error"},
		} {
			doErr(t, rc, tc.want, tc.args...)
		}
	})
}

func TestEventVersion(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		s := fmt.Sprintf("acct:v%d", p)
		if v := toInt(t, do(t, rc, "EVENT.VERSION", s)); v != 0 {
			t.Fatalf("absent stream at version %d", v)
		}
		do(t, rc, "EVENT.APPEND", s, "A", `{}`, "B", `{}`)
		do(t, rc, "EVENT.APPEND", s, "C", `{}`)
		if v := toInt(t, do(t, rc, "event.version", s)); v != 3 {
			t.Fatalf("version %d, want 3", v)
		}
		doErr(t, rc, "ERR wrong number of arguments for 'event.version' command", "EVENT.VERSION")
		doErr(t, rc, "ERR wrong number of arguments for 'event.version' command", "EVENT.VERSION", s, s)
		doErr(t, rc, "ERR invalid stream name 'x': expected <category>:<id>", "EVENT.VERSION", "x")
	})
}

// Once EVENT.APPEND has replied, every later command on any connection sees it.
func TestReadYourWritesAcrossConnections(t *testing.T) {
	ts := startServer(t)
	const writers, rounds = 16, 10
	w := ts.Client(t, 2, func(o *redis.Options) { o.PoolSize = writers })
	r := ts.Client(t, 3, func(o *redis.Options) { o.PoolSize = writers })
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		wg.Go(func() {
			s := fmt.Sprintf("ryw:%d", g)
			for i := range rounds {
				res, err := w.Do(ctx, "EVENT.APPEND", s, "EXPECT", fmt.Sprint(i), "T", fmt.Sprintf(`{"i":%d}`, i)).Result()
				if err != nil {
					errs <- err
					return
				}
				pos := res.([]any)[1].(int64)
				v, err := r.Do(ctx, "EVENT.VERSION", s).Int64()
				if err != nil || v != int64(i+1) {
					errs <- fmt.Errorf("%s: EVENT.VERSION = %d, %v after appending version %d", s, v, err, i+1)
					return
				}
				evs, err := r.Do(ctx, "EVENT.READ", s, "FROM", fmt.Sprint(i+1)).Slice()
				if err != nil || len(evs) != 1 {
					errs <- fmt.Errorf("%s: EVENT.READ FROM %d = %v, %v", s, i+1, evs, err)
					return
				}
				got, err := r.Do(ctx, "EVENT.RANGE", fmt.Sprint(pos), "COUNT", "1").Slice()
				if err != nil || len(got) != 1 || got[0].(map[any]any)["stream"] != s {
					errs <- fmt.Errorf("%s: EVENT.RANGE %d = %v, %v", s, pos, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Concurrent appends share commit rounds and get distinct, gap-free positions.
func TestGroupCommit(t *testing.T) {
	ts := startServer(t)
	const conns, each = 50, 10
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var positions []int64
	errs := make(chan error, conns)
	for g := range conns {
		rc := ts.Client(t, 2, func(o *redis.Options) { o.PoolSize = 1 })
		if err := rc.Ping(ctx).Err(); err != nil { // connect before the start
			t.Fatal(err)
		}
		wg.Go(func() {
			<-start
			s := fmt.Sprintf("gc:%d", g)
			for i := range each {
				res, err := rc.Do(ctx, "EVENT.APPEND", s, "EXPECT", fmt.Sprint(i), "T", `{"amount":1}`).Slice()
				if err != nil {
					errs <- err
					return
				}
				if res[0].(int64) != int64(i+1) {
					errs <- fmt.Errorf("%s: version %d, want %d", s, res[0], i+1)
					return
				}
				mu.Lock()
				positions = append(positions, res[1].(int64))
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	slices.Sort(positions)
	for i, p := range positions {
		if p != int64(i+1) {
			t.Fatalf("positions are not 1..%d: %v", conns*each, positions)
		}
	}
	rounds := testkit.InfoInt(t, ts.R2, "persistence", "log_commit_rounds")
	appends := testkit.InfoInt(t, ts.R2, "persistence", "log_appends")
	if appends != conns*each || rounds >= appends {
		t.Fatalf("log_commit_rounds %d, log_appends %d: want fewer rounds than %d appends", rounds, appends, conns*each)
	}
	t.Logf("%d appends in %d commit rounds", appends, rounds)
	if last := testkit.InfoInt(t, ts.R2, "persistence", "log_last_position"); last != conns*each {
		t.Fatalf("log_last_position %d", last)
	}
}

// A pipeline's replies come in order, each correct, whatever else is
// gathered in the same commit round.
func TestPipelinedAppends(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		s := fmt.Sprintf("pipe:%d", p)
		base := int64(ts.Log().LastPosition())
		pipe := rc.Pipeline()
		var appends []*redis.Cmd
		var bad, version, read *redis.Cmd
		for i := range 100 {
			if i == 50 {
				bad = pipe.Do(ctx, "EVENT.APPEND", s, "EXPECT", "999", "T", `{}`)
				version = pipe.Do(ctx, "EVENT.VERSION", s)
				read = pipe.Do(ctx, "EVENT.READ", s, "REV", "COUNT", "1")
			}
			appends = append(appends, pipe.Do(ctx, "EVENT.APPEND", s, "EXPECT", fmt.Sprint(i), "T", fmt.Sprintf(`{"i":%d}`, i)))
		}
		pipe.Exec(ctx) // the first error is bad's; each command is checked below
		for i, c := range appends {
			if err := c.Err(); err != nil {
				t.Fatalf("append %d: %v", i, err)
			}
			v, pos := appendReply(t, c.Val())
			if v != int64(i+1) || pos != base+int64(i+1) {
				t.Fatalf("append %d: [%d %d], want [%d %d]", i, v, pos, i+1, base+int64(i+1))
			}
		}
		if err := bad.Err(); err == nil || err.Error() != "WRONGVERSION expected 999 but "+s+" is at version 50" {
			t.Fatalf("bad append: %v", err)
		}
		if v, err := version.Int64(); err != nil || v != 50 {
			t.Fatalf("EVENT.VERSION in the middle: %d, %v", v, err)
		}
		evs := eventsOf(t, read.Val(), p)
		if len(evs) != 1 || evs[0]["version"] != int64(50) {
			t.Fatalf("EVENT.READ in the middle: %v", evs)
		}
		if v := toInt(t, do(t, rc, "EVENT.VERSION", s)); v != 100 {
			t.Fatalf("version %d after the pipeline", v)
		}
	})
}
