package commands

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/resp"
)

// argv turns words into a command's arguments.
func argv(words ...string) [][]byte {
	out := make([][]byte, len(words))
	for i, w := range words {
		out[i] = []byte(w)
	}
	return out
}

// errText is err's reply line, or "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return Reply(err)
}

func ev(typ, data string) eventlog.Proposed { return eventlog.Proposed{Type: typ, Data: []byte(data)} }

func TestParseAppend(t *testing.T) {
	const pairs = "ERR syntax error: EVENT.APPEND takes type and data pairs after its options"
	v := func(n uint64) eventlog.Expect { return eventlog.Expect{Kind: eventlog.ExpectVersion, Version: n} }
	for _, tc := range []struct {
		args []string
		want eventlog.Append
		err  string
	}{
		{args: []string{"a:1", "T", "{}"},
			want: eventlog.Append{Stream: "a:1", Events: []eventlog.Proposed{ev("T", "{}")}}},
		{args: []string{"a:1", "A", `{"x":1}`, "B", `{"y":2}`, "C", `{}`},
			want: eventlog.Append{Stream: "a:1", Events: []eventlog.Proposed{ev("A", `{"x":1}`), ev("B", `{"y":2}`), ev("C", "{}")}}},
		{args: []string{"a:1", "EXPECT", "3", "T", "{}"},
			want: eventlog.Append{Stream: "a:1", Expect: v(3), Events: []eventlog.Proposed{ev("T", "{}")}}},
		{args: []string{"a:1", "EXPECT", "0", "T", "{}"},
			want: eventlog.Append{Stream: "a:1", Expect: v(0), Events: []eventlog.Proposed{ev("T", "{}")}}},
		{args: []string{"a:1", "expect", "new", "T", "{}"},
			want: eventlog.Append{Stream: "a:1", Expect: eventlog.Expect{Kind: eventlog.ExpectNew}, Events: []eventlog.Proposed{ev("T", "{}")}}},
		{args: []string{"a:1", "Expect", "Exists", "T", "{}"},
			want: eventlog.Append{Stream: "a:1", Expect: eventlog.Expect{Kind: eventlog.ExpectExists}, Events: []eventlog.Proposed{ev("T", "{}")}}},
		{args: []string{"a:1", "EXPECT", "ANY", "T", "{}"},
			want: eventlog.Append{Stream: "a:1", Events: []eventlog.Proposed{ev("T", "{}")}}},
		{args: []string{"a:1", "ID", "req-1", "META", `{"u":1}`, "EXPECT", "7", "T", "{}"},
			want: eventlog.Append{Stream: "a:1", Expect: v(7), ID: "req-1", Meta: []byte(`{"u":1}`), Events: []eventlog.Proposed{ev("T", "{}")}}},
		{args: []string{"a:1", "META", `{}`, "id", "x", "A", "{}", "B", "{}"},
			want: eventlog.Append{Stream: "a:1", ID: "x", Meta: []byte(`{}`), Events: []eventlog.Proposed{ev("A", "{}"), ev("B", "{}")}}},
		// A keyword is an option only when a value and an event follow it.
		{args: []string{"a:1", "ID", "{}"},
			want: eventlog.Append{Stream: "a:1", Events: []eventlog.Proposed{ev("ID", "{}")}}},
		{args: []string{"a:1", "META", `{"m":1}`},
			want: eventlog.Append{Stream: "a:1", Events: []eventlog.Proposed{ev("META", `{"m":1}`)}}},
		{args: []string{"a:1", "EXPECT", "{}"},
			want: eventlog.Append{Stream: "a:1", Events: []eventlog.Proposed{ev("EXPECT", "{}")}}},
		// A repeated option ends the options: the rest are events.
		{args: []string{"a:1", "EXPECT", "1", "EXPECT", "2", "T", "{}"},
			want: eventlog.Append{Stream: "a:1", Expect: v(1), Events: []eventlog.Proposed{ev("EXPECT", "2"), ev("T", "{}")}}},
		// Options after the first event are events.
		{args: []string{"a:1", "T", "{}", "ID", "x"},
			want: eventlog.Append{Stream: "a:1", Events: []eventlog.Proposed{ev("T", "{}"), ev("ID", "x")}}},
		// The stream is checked by the log, not here.
		{args: []string{"nocolon", "T", "{}"},
			want: eventlog.Append{Stream: "nocolon", Events: []eventlog.Proposed{ev("T", "{}")}}},

		{args: []string{}, err: "ERR wrong number of arguments for 'event.append' command"},
		{args: []string{"a:1"}, err: "ERR wrong number of arguments for 'event.append' command"},
		{args: []string{"a:1", "T"}, err: "ERR wrong number of arguments for 'event.append' command"},
		{args: []string{"a:1", "A", "{}", "B"}, err: pairs},
		{args: []string{"a:1", "EXPECT", "1", "T"}, err: pairs},
		{args: []string{"a:1", "ID", "x", "META", "{}", "T"}, err: pairs},
		{args: []string{"a:1", "EXPECT", "soon", "T", "{}"}, err: "ERR EXPECT takes a version (0 or more), ANY, NEW or EXISTS, not 'soon'"},
		{args: []string{"a:1", "EXPECT", "-1", "T", "{}"}, err: "ERR EXPECT takes a version (0 or more), ANY, NEW or EXISTS, not '-1'"},
		{args: []string{"a:1", "EXPECT", "18446744073709551616", "T", "{}"}, err: "ERR EXPECT takes a version (0 or more), ANY, NEW or EXISTS, not '18446744073709551616'"},
		{args: []string{"a:1", "ID", "", "T", "{}"}, err: "ERR ID must not be empty"},
	} {
		args := argv(append([]string{"EVENT.APPEND"}, tc.args...)...)
		got, err := parseAppend(args)
		if errText(err) != tc.err {
			t.Errorf("%q: error %q, want %q", tc.args, errText(err), tc.err)
			continue
		}
		if err == nil && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.args, got, tc.want)
		}
	}
}

func TestParseExpect(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want eventlog.Expect
		err  string
	}{
		{in: "ANY", want: eventlog.Expect{Kind: eventlog.ExpectAny}},
		{in: "any", want: eventlog.Expect{Kind: eventlog.ExpectAny}},
		{in: "NEW", want: eventlog.Expect{Kind: eventlog.ExpectNew}},
		{in: "nEw", want: eventlog.Expect{Kind: eventlog.ExpectNew}},
		{in: "EXISTS", want: eventlog.Expect{Kind: eventlog.ExpectExists}},
		{in: "0", want: eventlog.Expect{Kind: eventlog.ExpectVersion, Version: 0}},
		{in: "42", want: eventlog.Expect{Kind: eventlog.ExpectVersion, Version: 42}},
		{in: "18446744073709551615", want: eventlog.Expect{Kind: eventlog.ExpectVersion, Version: 1<<64 - 1}},
		{in: "", err: "ERR EXPECT takes a version (0 or more), ANY, NEW or EXISTS, not ''"},
		{in: "+1", err: "ERR EXPECT takes a version (0 or more), ANY, NEW or EXISTS, not '+1'"},
		{in: "1.0", err: "ERR EXPECT takes a version (0 or more), ANY, NEW or EXISTS, not '1.0'"},
		{in: " 1", err: "ERR EXPECT takes a version (0 or more), ANY, NEW or EXISTS, not ' 1'"},
		{in: "ANYTHING", err: "ERR EXPECT takes a version (0 or more), ANY, NEW or EXISTS, not 'ANYTHING'"},
		{in: "EXIST", err: "ERR EXPECT takes a version (0 or more), ANY, NEW or EXISTS, not 'EXIST'"},
	} {
		got, err := parseExpect([]byte(tc.in))
		if errText(err) != tc.err || (err == nil && got != tc.want) {
			t.Errorf("parseExpect(%q) = %+v, %q; want %+v, %q", tc.in, got, errText(err), tc.want, tc.err)
		}
	}
}

func TestParseRead(t *testing.T) {
	const count = "ERR COUNT must be a positive integer"
	for _, tc := range []struct {
		args []string
		want readReq
		err  string
	}{
		{args: []string{"a:1"}, want: readReq{stream: "a:1"}},
		{args: []string{"a:1", "FROM", "3"}, want: readReq{stream: "a:1", from: 3}},
		{args: []string{"a:1", "COUNT", "10"}, want: readReq{stream: "a:1", count: 10}},
		{args: []string{"a:1", "REV"}, want: readReq{stream: "a:1", rev: true}},
		{args: []string{"a:1", "rev", "from", "9", "count", "2"}, want: readReq{stream: "a:1", from: 9, count: 2, rev: true}},
		{args: []string{"a:1", "COUNT", "1", "COUNT", "5"}, want: readReq{stream: "a:1", count: 5}}, // the last one counts
		{args: []string{"a:1", "COUNT", "2147483648"}, want: readReq{stream: "a:1", count: 1 << 31}},
		{args: []string{"a:b:c", "FROM", "0"}, want: readReq{stream: "a:b:c"}},

		{args: []string{"a:1", "COUNT", "0"}, err: count},
		{args: []string{"a:1", "COUNT", "-3"}, err: count},
		{args: []string{"a:1", "COUNT", "x"}, err: count},
		{args: []string{"a:1", "COUNT", "2147483649"}, err: count},
		{args: []string{"a:1", "FROM", "-1"}, err: "ERR value is not an integer or out of range"},
		{args: []string{"a:1", "FROM", "one"}, err: "ERR value is not an integer or out of range"},
		{args: []string{"a:1", "FROM"}, err: "ERR syntax error"},
		{args: []string{"a:1", "COUNT"}, err: "ERR syntax error"},
		{args: []string{"a:1", "LIMIT", "5"}, err: "ERR syntax error"},
		{args: []string{"a:1", "REVERSE"}, err: "ERR syntax error"},
		{args: []string{"nocolon"}, err: "ERR invalid stream name 'nocolon': expected <category>:<id>"},
		{args: []string{""}, err: "ERR invalid stream name '': expected <category>:<id>"},
		{args: []string{strings.Repeat("s", 1020) + ":12345"}, err: "ERR stream name too long: 1026 bytes (at most 1024)"},
		// Argument errors come before the stream's.
		{args: []string{"nocolon", "BOGUS"}, err: "ERR syntax error"},
	} {
		got, err := parseRead(argv(append([]string{"EVENT.READ"}, tc.args...)...))
		if errText(err) != tc.err {
			t.Errorf("%q: error %q, want %q", tc.args, errText(err), tc.err)
			continue
		}
		if err == nil && got != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.args, got, tc.want)
		}
	}
}

func TestParseRange(t *testing.T) {
	const types = "ERR TYPES takes a comma-separated list of event types"
	const first = "ERR EVENT.RANGE takes a position (0 or more) first"
	for _, tc := range []struct {
		args []string
		want rangeReq
		err  string
	}{
		{args: []string{"0"}, want: rangeReq{count: DefaultRangeCount}},
		{args: []string{"17"}, want: rangeReq{from: 17, count: DefaultRangeCount}},
		{args: []string{"1", "COUNT", "5"}, want: rangeReq{from: 1, count: 5}},
		{args: []string{"1", "TYPES", "A"}, want: rangeReq{from: 1, count: DefaultRangeCount, types: []string{"A"}}},
		{args: []string{"1", "types", "A,B,C", "count", "2"}, want: rangeReq{from: 1, count: 2, types: []string{"A", "B", "C"}}},
		{args: []string{"1", "TYPES", "A", "TYPES", "B"}, want: rangeReq{from: 1, count: DefaultRangeCount, types: []string{"A", "B"}}},

		{args: []string{"-1"}, err: first},
		{args: []string{"x"}, err: first},
		{args: []string{""}, err: first},
		{args: []string{"1", "COUNT", "0"}, err: "ERR COUNT must be a positive integer"},
		{args: []string{"1", "TYPES", ""}, err: types},
		{args: []string{"1", "TYPES", "A,"}, err: types},
		{args: []string{"1", "TYPES", ",A"}, err: types},
		{args: []string{"1", "TYPES", "A,,B"}, err: types},
		{args: []string{"1", "TYPES"}, err: "ERR syntax error"},
		{args: []string{"1", "COUNT"}, err: "ERR syntax error"},
		{args: []string{"1", "REV"}, err: "ERR syntax error"},
	} {
		got, err := parseRange(argv(append([]string{"EVENT.RANGE"}, tc.args...)...))
		if errText(err) != tc.err {
			t.Errorf("%q: error %q, want %q", tc.args, errText(err), tc.err)
			continue
		}
		if err == nil && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %+v, want %+v", tc.args, got, tc.want)
		}
	}
}

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct{ stream, err string }{
		{"a:1", ""},
		{"account:42:x", ""},
		{"a", "ERR invalid stream name 'a': expected <category>:<id>"},
		{":1", "ERR invalid stream name ':1': expected <category>:<id>"},
		{"a:", "ERR invalid stream name 'a:': expected <category>:<id>"},
	} {
		got, err := parseVersion(argv("EVENT.VERSION", tc.stream))
		if errText(err) != tc.err || (err == nil && got != tc.stream) {
			t.Errorf("parseVersion(%q) = %q, %q; want error %q", tc.stream, got, errText(err), tc.err)
		}
	}
}

// writeEvent's exact bytes: a flat array in RESP2, a map in RESP3; a
// missing meta is {}.
func TestWriteEvent(t *testing.T) {
	e := eventlog.Event{Position: 7, Stream: "a:1", Version: 2, Type: "T", Data: []byte(`{"x":1}`), ID: "i", Time: 1700000000000}
	const body = "$8\r\nposition\r\n:7\r\n$6\r\nstream\r\n$3\r\na:1\r\n$7\r\nversion\r\n:2\r\n$4\r\ntype\r\n$1\r\nT\r\n" +
		"$4\r\ndata\r\n$7\r\n{\"x\":1}\r\n$4\r\nmeta\r\n$2\r\n{}\r\n$2\r\nid\r\n$1\r\ni\r\n$4\r\ntime\r\n:1700000000000\r\n"
	for _, tc := range []struct {
		proto int
		want  string
	}{
		{2, "*1\r\n*16\r\n" + body},
		{3, "*1\r\n%8\r\n" + body},
	} {
		var buf bytes.Buffer
		w := resp.NewWriter(&buf)
		w.SetProto(tc.proto)
		writeEvents(&Ctx{W: w, Env: &Env{}}, []eventlog.Event{e}, false)
		w.Flush()
		if buf.String() != tc.want {
			t.Errorf("RESP%d:\n got %q\nwant %q", tc.proto, buf.String(), tc.want)
		}
	}
}

// splitArgs turns fuzz input into arguments after the command name: NUL
// separates them.
func splitArgs(name string, data []byte) [][]byte {
	return append([][]byte{[]byte(name)}, bytes.Split(data, []byte{0})...)
}

// checkReplyError checks that a parse error becomes an ERR reply: a
// ReplyError of the parse step or an eventlog.InvalidError of a check.
func checkReplyError(t *testing.T, err error) {
	t.Helper()
	var re ReplyError
	var inv *eventlog.InvalidError
	if !errors.As(err, &re) && !errors.As(err, &inv) {
		t.Fatalf("error %v (%T) is neither a ReplyError nor an InvalidError", err, err)
	}
	if !strings.HasPrefix(Reply(err), "ERR ") {
		t.Fatalf("reply %q has no ERR code", Reply(err))
	}
}

func FuzzParseAppend(f *testing.F) {
	for _, s := range []string{
		"a:1\x00T\x00{}",
		"a:1\x00EXPECT\x003\x00ID\x00x\x00META\x00{}\x00T\x00{}\x00U\x00{}",
		"a:1\x00ID\x00{}",
		"a:1\x00EXPECT\x00NEW\x00EXPECT\x001\x00T\x00{}",
		"a:1\x00expect\x00-1\x00T\x00{}",
		"a:1\x00ID\x00\x00T\x00{}",
		"a:1\x00T",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		args := splitArgs("EVENT.APPEND", data)
		a, err := parseAppend(args)
		if err != nil {
			checkReplyError(t, err)
			return
		}
		if len(args) < 4 || a.Stream != string(args[1]) || len(a.Events) == 0 {
			t.Fatalf("accepted %q as %+v", args, a)
		}
		rest := args[len(args)-2*len(a.Events):]
		for i, e := range a.Events {
			if e.Type != string(rest[2*i]) || !bytes.Equal(e.Data, rest[2*i+1]) {
				t.Fatalf("event %d is %+v, arguments %q", i, e, rest[2*i:2*i+2])
			}
		}
		opts := args[2 : len(args)-2*len(a.Events)]
		if len(opts)%2 != 0 || len(opts) > 6 {
			t.Fatalf("%d option arguments in %q", len(opts), args)
		}
		var want eventlog.Append
		seen := map[string]bool{}
		for i := 0; i < len(opts); i += 2 {
			k, v := strings.ToUpper(string(opts[i])), opts[i+1]
			if seen[k] {
				t.Fatalf("option %s twice in %q", k, args)
			}
			seen[k] = true
			switch k {
			case "EXPECT":
				e, err := parseExpect(v)
				if err != nil {
					t.Fatalf("accepted EXPECT %q", v)
				}
				want.Expect = e
			case "ID":
				want.ID = string(v)
			case "META":
				want.Meta = v
			default:
				t.Fatalf("option %q in %q", opts[i], args)
			}
		}
		if a.Expect != want.Expect || a.ID != want.ID || !bytes.Equal(a.Meta, want.Meta) || (a.Meta == nil) != (want.Meta == nil) {
			t.Fatalf("options of %q: %+v", args, a)
		}
		if seen["ID"] && a.ID == "" {
			t.Fatalf("accepted an empty ID in %q", args)
		}
	})
}

func FuzzParseRead(f *testing.F) {
	for _, s := range []string{"a:1", "a:1\x00FROM\x003\x00COUNT\x002\x00REV", "a:1\x00COUNT\x000", "x\x00REV", "a:1\x00FROM"} {
		f.Add([]byte(s))
	}
	cmd := All().Lookup([]byte("EVENT.READ"))
	f.Fuzz(func(t *testing.T, data []byte) {
		args := splitArgs("EVENT.READ", data)
		if !cmd.ArityOK(len(args)) {
			return // dispatch answers these
		}
		r, err := parseRead(args)
		if err != nil {
			checkReplyError(t, err)
			return
		}
		if r.stream != string(args[1]) || eventlog.ValidateStream(r.stream) != nil || r.count < 0 || r.count > 1<<31 {
			t.Fatalf("accepted %q as %+v", args, r)
		}
		rev, count := false, false
		for _, a := range args[2:] {
			rev = rev || isWord(a, "REV")
			count = count || isWord(a, "COUNT")
		}
		if r.rev != rev || (r.count > 0) != count {
			t.Fatalf("accepted %q as %+v", args, r)
		}
	})
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"0", "5\x00COUNT\x0010\x00TYPES\x00A,B", "1\x00TYPES\x00,", "-1", "1\x00TYPES"} {
		f.Add([]byte(s))
	}
	cmd := All().Lookup([]byte("EVENT.RANGE"))
	f.Fuzz(func(t *testing.T, data []byte) {
		args := splitArgs("EVENT.RANGE", data)
		if !cmd.ArityOK(len(args)) {
			return
		}
		r, err := parseRange(args)
		if err != nil {
			checkReplyError(t, err)
			return
		}
		if from, err := parseUint(args[1]); err != nil || from != r.from {
			t.Fatalf("accepted %q with from %d", args, r.from)
		}
		if r.count < 1 || r.count > 1<<31 {
			t.Fatalf("accepted %q with count %d", args, r.count)
		}
		for _, typ := range r.types {
			if typ == "" || strings.Contains(typ, ",") {
				t.Fatalf("accepted %q with types %q", args, r.types)
			}
		}
	})
}

func BenchmarkParseAppend(b *testing.B) {
	args := argv("EVENT.APPEND", "account:42", "EXPECT", "5", "ID", "8f14e45f-ceea-467f-a0e6-b3c8f1a1d2e3",
		"META", `{"user":"u-17","ip":"10.0.0.1"}`, "BalanceIncreased", `{"amount":100,"currency":"EUR","note":"salary"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseAppend(args); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPrepareAppend(b *testing.B) {
	args := argv("EVENT.APPEND", "account:42", "BalanceIncreased", `{"amount":100}`)
	b.ReportAllocs()
	for b.Loop() {
		p := prepareAppend(nil, args)
		if len(p.Appends()) != 1 {
			b.Fatal("no append")
		}
	}
}
