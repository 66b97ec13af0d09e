package commands

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/resp"
	"github.com/foldb/foldb/streams"
)

func TestParseXAdd(t *testing.T) {
	const arity = "ERR wrong number of arguments for 'xadd' command"
	const star = "ERR XADD takes * as the entry ID: foldb gives each entry the ID <position>-0"
	one := func(typ, data string) []eventlog.Proposed { return []eventlog.Proposed{ev(typ, data)} }
	exists := eventlog.Expect{Kind: eventlog.ExpectExists}
	for _, tc := range []struct {
		args []string
		want eventlog.Append
		err  string
	}{
		{args: []string{"a:1", "*", "type", "T", "data", "{}"}, want: eventlog.Append{Stream: "a:1", Events: one("T", "{}")}},
		{args: []string{"a:1", "*", "data", `{"x":1}`, "type", "T"}, want: eventlog.Append{Stream: "a:1", Events: one("T", `{"x":1}`)}},
		{args: []string{"a:1", "*", "id", "r1", "meta", `{"m":1}`, "type", "T", "data", "{}"},
			want: eventlog.Append{Stream: "a:1", ID: "r1", Meta: []byte(`{"m":1}`), Events: one("T", "{}")}},
		{args: []string{"a:1", "nomkstream", "*", "type", "T", "data", "{}"}, want: eventlog.Append{Stream: "a:1", Expect: exists, Events: one("T", "{}")}},
		{args: []string{"a:1", "NOMKSTREAM", "NOMKSTREAM", "*", "type", "T", "data", "{}"}, want: eventlog.Append{Stream: "a:1", Expect: exists, Events: one("T", "{}")}},
		// Data is not checked here: the log validates it as EVENT.APPEND's.
		{args: []string{"a:1", "*", "type", "T", "data", "nope"}, want: eventlog.Append{Stream: "a:1", Events: one("T", "nope")}},

		{args: []string{"a:1", "*", "type"}, err: arity},
		{args: []string{"a:1", "*", "type", "T", "data"}, err: arity},
		{args: []string{"a:1", "NOMKSTREAM", "NOMKSTREAM", "NOMKSTREAM"}, err: arity},
		{args: []string{"a:1", "NOMKSTREAM", "*", "type"}, err: arity},
		{args: []string{"a:1", "1-0", "type", "T", "data", "{}"}, err: star},
		{args: []string{"a:1", "5-*", "type", "T", "data", "{}"}, err: star},
		{args: []string{"a:1", "foo", "type", "T", "data", "{}"}, err: star},
		{args: []string{"a:1", "MAXLEN", "10", "*", "type", "T", "data", "{}"}, err: "ERR XADD does not trim (MAXLEN): the log's events are never deleted"},
		{args: []string{"a:1", "minid", "~", "5", "*", "type", "T", "data", "{}"}, err: "ERR XADD does not trim (MINID): the log's events are never deleted"},
		{args: []string{"a:1", "LIMIT", "5", "*", "type", "T", "data", "{}"}, err: "ERR XADD does not trim (LIMIT): the log's events are never deleted"},
		{args: []string{"$all", "*", "type", "T", "data", "{}"}, err: "ERR $all is a view of the log and takes no appends: XADD to a stream <category>:<id>"},
		{args: []string{"$ce-a", "*", "type", "T", "data", "{}"}, err: "ERR $ce-a is a view of the log and takes no appends: XADD to a stream <category>:<id>"},
		{args: []string{"$et-T", "*", "type", "T", "data", "{}"}, err: "ERR $et-T is a view of the log and takes no appends: XADD to a stream <category>:<id>"},
		{args: []string{"nocolon", "*", "type", "T", "data", "{}"}, err: "ERR invalid stream name 'nocolon': expected <category>:<id>"},
		{args: []string{"a:1", "*", "type", "T"}, err: "ERR XADD needs the fields type and data"},
		{args: []string{"a:1", "*", "type", "T", "data", "{}", "color", "red"}, err: "ERR XADD takes the fields type, data, meta and id, not 'color'"},
		{args: []string{"a:1", "*", "Type", "T", "data", "{}"}, err: "ERR XADD takes the fields type, data, meta and id, not 'Type'"},
		{args: []string{"a:1", "*", "type", "T", "type", "U"}, err: "ERR XADD field 'type' given twice"},
		{args: []string{"a:1", "*", "type", "T", "meta", "{}"}, err: "ERR XADD needs the fields type and data"},
		{args: []string{"a:1", "*", "data", "{}", "id", "x"}, err: "ERR XADD needs the fields type and data"},
		{args: []string{"a:1", "*", "type", "T", "data", "{}", "id", ""}, err: "ERR XADD field id must not be empty"},
	} {
		got, err := parseXAdd(argv(append([]string{"XADD"}, tc.args...)...))
		if errText(err) != tc.err {
			t.Errorf("%q: error %q, want %q", tc.args, errText(err), tc.err)
			continue
		}
		if err == nil && !reflect.DeepEqual(got.a, tc.want) {
			t.Errorf("%q: got %+v, want %+v", tc.args, got.a, tc.want)
		}
	}
}

func TestParseXRange(t *testing.T) {
	const max64 = math.MaxUint64
	id := func(ms, seq uint64) streams.ID { return streams.ID{Ms: ms, Seq: seq} }
	for _, tc := range []struct {
		args       []string
		rev        bool
		start, end streams.ID
		count      int64
		err        string
	}{
		{args: []string{"k", "-", "+"}, start: id(0, 0), end: streams.MaxID, count: -1},
		{args: []string{"k", "5", "9"}, start: id(5, 0), end: id(9, max64), count: -1},
		{args: []string{"k", "(5", "(9"}, start: id(5, 1), end: id(9, max64-1), count: -1},
		{args: []string{"k", "(5-3", "(9-0"}, start: id(5, 4), end: id(8, max64), count: -1},
		{args: []string{"k", "(5-18446744073709551615", "+"}, start: id(6, 0), end: streams.MaxID, count: -1},
		{args: []string{"k", "-", "+", "COUNT", "10"}, start: id(0, 0), end: streams.MaxID, count: 10},
		{args: []string{"k", "-", "+", "count", "0"}, start: id(0, 0), end: streams.MaxID, count: 0},
		{args: []string{"k", "-", "+", "COUNT", "-3"}, start: id(0, 0), end: streams.MaxID, count: 0},
		{args: []string{"k", "-", "+", "COUNT", "1", "COUNT", "2"}, start: id(0, 0), end: streams.MaxID, count: 2},
		// XREVRANGE key end start.
		{args: []string{"k", "+", "-"}, rev: true, start: id(0, 0), end: streams.MaxID, count: -1},
		{args: []string{"k", "9", "(5"}, rev: true, start: id(5, 1), end: id(9, max64), count: -1},

		{args: []string{"k", "x", "+"}, err: "ERR Invalid stream ID specified as stream command argument"},
		{args: []string{"k", "-", "x"}, err: "ERR Invalid stream ID specified as stream command argument"},
		{args: []string{"k", "(-", "+"}, err: "ERR Invalid stream ID specified as stream command argument"},
		{args: []string{"k", "-", "(+"}, err: "ERR Invalid stream ID specified as stream command argument"},
		{args: []string{"k", "(18446744073709551615-18446744073709551615", "+"}, err: "ERR invalid start ID for the interval"},
		{args: []string{"k", "-", "(0-0"}, err: "ERR invalid end ID for the interval"},
		{args: []string{"k", "-", "(0"}, start: id(0, 0), end: id(0, max64-1), count: -1}, // a missing end seq is the greatest
		{args: []string{"k", "(0-0", "(0-0"}, rev: true, err: "ERR invalid end ID for the interval"},
		{args: []string{"k", "-", "+", "COUNT"}, err: "ERR syntax error"},
		{args: []string{"k", "-", "+", "FOO", "1"}, err: "ERR syntax error"},
		{args: []string{"k", "-", "+", "COUNT", "x"}, err: "ERR value is not an integer or out of range"},
		{args: []string{"k", "-", "+", "COUNT", "+1"}, err: "ERR value is not an integer or out of range"},
		{args: []string{"k", "-", "+", "COUNT", "01"}, err: "ERR value is not an integer or out of range"},
		// The IDs are read before the options.
		{args: []string{"k", "x", "+", "FOO"}, err: "ERR Invalid stream ID specified as stream command argument"},
	} {
		name := "XRANGE"
		if tc.rev {
			name = "XREVRANGE"
		}
		got, err := parseXRange(argv(append([]string{name}, tc.args...)...), tc.rev)
		if errText(err) != tc.err {
			t.Errorf("%s %q: error %q, want %q", name, tc.args, errText(err), tc.err)
			continue
		}
		if err == nil && (got.start != tc.start || got.end != tc.end || got.count != tc.count || got.rev != tc.rev || got.view.Key != "k") {
			t.Errorf("%s %q: got %+v", name, tc.args, got)
		}
	}
}

func TestParseXRead(t *testing.T) {
	after := func(ms, seq uint64) xreadStart {
		return xreadStart{from: xreadAfter, id: streams.ID{Ms: ms, Seq: seq}}
	}
	for _, tc := range []struct {
		args    []string
		keys    []string
		starts  []xreadStart
		count   int64
		block   bool
		timeout time.Duration
		err     string
	}{
		{args: []string{"STREAMS", "a:1", "0"}, keys: []string{"a:1"}, starts: []xreadStart{after(0, 0)}},
		{args: []string{"streams", "a:1", "$all", "5", "6-7"}, keys: []string{"a:1", "$all"}, starts: []xreadStart{after(5, 0), after(6, 7)}},
		{args: []string{"COUNT", "10", "BLOCK", "100", "STREAMS", "a:1", "$"}, keys: []string{"a:1"}, starts: []xreadStart{{from: xreadNew}},
			count: 10, block: true, timeout: 100 * time.Millisecond},
		{args: []string{"BLOCK", "0", "STREAMS", "a:1", "+"}, keys: []string{"a:1"}, starts: []xreadStart{{from: xreadLast}}, block: true},
		{args: []string{"COUNT", "-5", "STREAMS", "a:1", "0"}, keys: []string{"a:1"}, starts: []xreadStart{after(0, 0)}},
		// STREAMS takes the rest; a key may be called STREAMS.
		{args: []string{"STREAMS", "STREAMS", "COUNT", "1", "2"}, keys: []string{"STREAMS", "COUNT"}, starts: []xreadStart{after(1, 0), after(2, 0)}},

		{args: []string{"STREAMS", "a:1", "b:1", "0"}, err: "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."},
		{args: []string{"COUNT", "1", "STREAMS"}, err: "ERR syntax error"},
		{args: []string{"COUNT", "1", "a:1"}, err: "ERR syntax error"},
		{args: []string{"FOO", "STREAMS", "a:1", "0"}, err: "ERR syntax error"},
		{args: []string{"COUNT", "x", "STREAMS", "a:1", "0"}, err: "ERR value is not an integer or out of range"},
		{args: []string{"BLOCK", "x", "STREAMS", "a:1", "0"}, err: "ERR timeout is not an integer or out of range"},
		{args: []string{"BLOCK", "-1", "STREAMS", "a:1", "0"}, err: "ERR timeout is negative"},
		{args: []string{"BLOCK", "9223372036854775807", "STREAMS", "a:1", "0"}, keys: []string{"a:1"}, starts: []xreadStart{after(0, 0)}, block: true},
		{args: []string{"BLOCK", "9223372036854", "STREAMS", "a:1", "0"}, keys: []string{"a:1"}, starts: []xreadStart{after(0, 0)}, block: true,
			timeout: 9223372036854 * time.Millisecond},
		{args: []string{"GROUP", "g", "c", "STREAMS", "a:1", "0"}, err: "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."},
		{args: []string{"NOACK", "STREAMS", "a:1", "0"}, err: "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."},
		{args: []string{"STREAMS", "a:1", ">"}, err: "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."},
		{args: []string{"STREAMS", "a:1", "-"}, err: "ERR Invalid stream ID specified as stream command argument"},
		{args: []string{"STREAMS", "a:1", "x"}, err: "ERR Invalid stream ID specified as stream command argument"},
	} {
		got, err := parseXRead(argv(append([]string{"XREAD"}, tc.args...)...))
		if errText(err) != tc.err {
			t.Errorf("%q: error %q, want %q", tc.args, errText(err), tc.err)
			continue
		}
		if err != nil {
			continue
		}
		var keys []string
		for _, v := range got.keys {
			keys = append(keys, v.Key)
		}
		if !reflect.DeepEqual(keys, tc.keys) || !reflect.DeepEqual(got.starts, tc.starts) || got.count != tc.count ||
			got.block != tc.block || got.timeout != tc.timeout {
			t.Errorf("%q: got %+v", tc.args, got)
		}
	}
}

func TestParseXInfoStream(t *testing.T) {
	syntax := func(sub string) string {
		return "ERR unknown subcommand or wrong number of arguments for '" + sub + "'. Try XINFO HELP."
	}
	for _, tc := range []struct {
		args   []string
		full   bool
		count  int64
		optErr string
	}{
		{args: []string{"STREAM", "k"}, count: 10},
		{args: []string{"STREAM", "k", "FULL"}, full: true, count: 10},
		{args: []string{"stream", "k", "full", "count", "3"}, full: true, count: 3},
		{args: []string{"STREAM", "k", "FULL", "COUNT", "0"}, full: true, count: 0},
		{args: []string{"STREAM", "k", "FULL", "COUNT", "-1"}, full: true, count: 10},
		{args: []string{"stream", "k", "FOO"}, optErr: syntax("stream")},
		{args: []string{"STREAM", "k", "FULL", "COUNT"}, optErr: syntax("STREAM")},
		{args: []string{"STREAM", "k", "FULL", "FOO", "1"}, optErr: syntax("STREAM")},
		{args: []string{"STREAM", "k", "COUNT", "1"}, optErr: syntax("STREAM")},
		{args: []string{"STREAM", "k", "FULL", "COUNT", "x"}, optErr: "ERR value is not an integer or out of range"},
	} {
		got, err := parseXInfoStream(argv(append([]string{"XINFO"}, tc.args...)...))
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if errText(got.optErr) != tc.optErr || (tc.optErr == "" && (got.full != tc.full || got.count != tc.count)) || got.view.Key != "k" {
			t.Errorf("%q: got %+v (options: %q), want full %v count %d (options: %q)", tc.args, got, errText(got.optErr), tc.full, tc.count, tc.optErr)
		}
	}
}

func TestParseLongLong(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"7", 7, true}, {"-7", -7, true}, {"9223372036854775807", math.MaxInt64, true},
		{"-9223372036854775808", math.MinInt64, true},
		{"", 0, false}, {"+7", 0, false}, {"07", 0, false}, {"-0", 0, false}, {"-07", 0, false}, {" 7", 0, false},
		{"7 ", 0, false}, {"9223372036854775808", 0, false}, {"1.5", 0, false}, {"-", 0, false},
	} {
		if got, ok := parseLongLong([]byte(tc.in)); got != tc.want || ok != tc.ok {
			t.Errorf("parseLongLong(%q) = %d, %v", tc.in, got, ok)
		}
	}
}

// TestAppendEntry: an entry as Redis writes an XRANGE entry, read back by
// the RESP reader's tests' own parser: the ID, then the seven fields as
// bulk strings.
func TestAppendEntry(t *testing.T) {
	e := &eventlog.Event{Position: 42, Stream: "account:1", Version: 3, Type: "Deposited", Data: []byte(`{"a":1}`), Time: 1700000000123}
	got := string(appendEntry(nil, e, false))
	want := "*2\r\n$4\r\n42-0\r\n*14\r\n$6\r\nstream\r\n$9\r\naccount:1\r\n$7\r\nversion\r\n$1\r\n3\r\n$4\r\ntype\r\n$9\r\nDeposited\r\n" +
		"$4\r\ndata\r\n$7\r\n{\"a\":1}\r\n$4\r\nmeta\r\n$2\r\n{}\r\n$2\r\nid\r\n$0\r\n\r\n$4\r\ntime\r\n$13\r\n1700000000123\r\n"
	if got != want {
		t.Errorf("appendEntry:\n got %q\nwant %q", got, want)
	}
	e.Meta, e.ID = []byte(`{"m":2}`), "req-9"
	got = string(appendEntry(nil, e, false))
	if !strings.Contains(got, "$4\r\nmeta\r\n$7\r\n{\"m\":2}\r\n$2\r\nid\r\n$5\r\nreq-9\r\n") {
		t.Errorf("appendEntry with meta and id: %q", got)
	}
}

// TestXInfoHelp: Redis's HELP shape, HELP last, a line pair per
// subcommand.
func TestXInfoHelp(t *testing.T) {
	var buf bytes.Buffer
	w := resp.NewWriter(&buf)
	xinfo := All().Lookup([]byte("xinfo"))
	writeHelp(&Ctx{W: w}, xinfo)
	w.Flush()
	got := buf.String()
	want := "*5\r\n+XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n+STREAM key [FULL [COUNT count]]\r\n+    " +
		xinfo.Sub([]byte("STREAM")).Summary + "\r\n+HELP\r\n+    Prints this help.\r\n"
	if len(xinfo.Subcommands) == 2 && got != want {
		t.Errorf("XINFO HELP:\n got %q\nwant %q", got, want)
	}
	if !strings.HasSuffix(got, "+HELP\r\n+    Prints this help.\r\n") {
		t.Errorf("HELP is not last: %q", got)
	}
}

// BenchmarkAppendEntries is the encoding of a page of 1,000 entries.
func BenchmarkAppendEntries(b *testing.B) {
	e := &eventlog.Event{Position: 123456, Stream: "account:12345", Version: 17, Type: "BalanceIncreased",
		Data: []byte(`{"amount":100,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`), Time: 1700000000123}
	eb := entriesPool.Get().(*entries)
	defer eb.release()
	b.ReportAllocs()
	for b.Loop() {
		eb.reset()
		for range 1000 {
			eb.add(e)
		}
	}
}

// BenchmarkXRangePage is the server's side of a catch-up read: XRANGE
// $all (or a category) pages of 1,000 entries of a log of 100,000,
// written to a discarding connection.
func BenchmarkXRangePage(b *testing.B) {
	opts := eventlog.DefaultOptions()
	opts.Durability = eventlog.DurabilityNone
	l, err := eventlog.Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const n = 100_000
	var batch []*eventlog.Append
	for i := range n {
		data := fmt.Appendf(nil, `{"amount":%d,"by":"teller-%03d","note":"%012d"}`, i*37%100000, i%1000, i)
		batch = append(batch, &eventlog.Append{Stream: fmt.Sprintf("%s:%d", []string{"account", "order"}[i%2], i%10000),
			Events: []eventlog.Proposed{{Type: "BalanceIncreased", Data: data}}})
		if len(batch) == 1000 {
			l.Append(batch...)
			batch = batch[:0]
		}
	}
	c := &Ctx{W: resp.NewWriter(io.Discard), Env: &Env{Log: l}}
	for _, key := range []string{"$all", "$ce-account"} {
		b.Run(key, func(b *testing.B) {
			b.ReportAllocs()
			var from uint64 = 1
			for b.Loop() {
				req, err := parseXRange(argv("XRANGE", key, "("+strconv.FormatUint(from-1, 10), "+", "COUNT", "1000"), false)
				if err != nil {
					b.Fatal(err)
				}
				runXRange(c, req)
				if c.W.Buffered() < 1000*100 {
					b.Fatalf("a page of %d bytes", c.W.Buffered())
				}
				c.W.Flush()
				if from += 1000; from > n-2000 {
					from = 1
				}
			}
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// FuzzParseStreamCommands: the stream commands' parsers take any
// arguments without panicking, and what they accept is consistent.
func FuzzParseStreamCommands(f *testing.F) {
	for _, s := range []string{"k - +", "k (1 +2 COUNT 3", "COUNT 1 BLOCK 0 STREAMS a b $ +", "a:1 NOMKSTREAM * type T data {}", "STREAM k FULL COUNT 2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words := strings.Split(line, " ")
		if len(words) > 20 {
			return
		}
		if len(words) >= 3 {
			for _, rev := range []bool{false, true} {
				if r, err := parseXRange(argv(append([]string{"XRANGE"}, words...)...), rev); err == nil && r.count < -1 {
					t.Fatalf("COUNT %d", r.count)
				}
			}
		}
		if r, err := parseXRead(argv(append([]string{"XREAD"}, words...)...)); err == nil && (len(r.keys) != len(r.starts) || len(r.keys) == 0) {
			t.Fatalf("XREAD %q: %d keys, %d IDs", line, len(r.keys), len(r.starts))
		}
		if len(words) >= 4 {
			if r, err := parseXAdd(argv(append([]string{"XADD"}, words...)...)); err == nil && (len(r.a.Events) != 1 || r.a.Stream != words[0]) {
				t.Fatalf("XADD %q: %+v", line, r.a)
			}
		}
		if len(words) >= 2 {
			parseXInfoStream(argv(append([]string{"XINFO"}, words...)...))
		}
	})
}
