package commands

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/foldb/foldb/streams"
)

func sid(ms, seq uint64) streams.ID { return streams.ID{Ms: ms, Seq: seq} }

const (
	errID         = "ERR Invalid stream ID specified as stream command argument"
	errNotInteger = "ERR value is not an integer or out of range"
)

func TestParseIDs(t *testing.T) {
	for _, tc := range []struct {
		in           string
		strict, open streams.ID // open: parseID with missing seq MaxUint64
		strictErr    bool
		err          bool
	}{
		{in: "5-3", strict: sid(5, 3), open: sid(5, 3)},
		{in: "5", strict: sid(5, 0), open: sid(5, math.MaxUint64)},
		{in: "0", strict: sid(0, 0), open: sid(0, math.MaxUint64)},
		{in: "0-0", strict: sid(0, 0), open: sid(0, 0)},
		{in: "18446744073709551615-18446744073709551615", strict: streams.MaxID, open: streams.MaxID},
		{in: "-", open: sid(0, 0), strictErr: true},
		{in: "+", open: streams.MaxID, strictErr: true},
		{in: "5-", err: true},
		{in: "-5", err: true},
		{in: "x", err: true},
		{in: "", err: true},
		{in: "1-2-3", err: true},
		{in: "18446744073709551616", err: true},
		{in: "(5", err: true},
	} {
		got, err := parseStrictID([]byte(tc.in))
		if (err != nil) != (tc.err || tc.strictErr) || err == nil && got != tc.strict {
			t.Errorf("parseStrictID(%q) = %v, %v", tc.in, got, err)
		}
		if err != nil && errText(err) != errID {
			t.Errorf("parseStrictID(%q): %q", tc.in, errText(err))
		}
		got, err = parseID([]byte(tc.in), math.MaxUint64)
		if (err != nil) != tc.err || err == nil && got != tc.open {
			t.Errorf("parseID(%q) = %v, %v", tc.in, got, err)
		}
	}
	for _, tc := range []struct {
		in   string
		id   streams.ID
		excl bool
	}{{"(5-1", sid(5, 1), true}, {"5-1", sid(5, 1), false}, {"(", sid(0, 0), false}, {"(-", sid(0, 0), true}} {
		id, excl, err := parseIntervalID([]byte(tc.in), 0)
		if tc.in == "(" {
			if err == nil {
				t.Errorf("parseIntervalID(%q) took it", tc.in)
			}
			continue
		}
		if err != nil || id != tc.id || excl != tc.excl {
			t.Errorf("parseIntervalID(%q) = %v, %v, %v", tc.in, id, excl, err)
		}
	}
	if id, ok := nextID(sid(3, math.MaxUint64)); !ok || id != sid(4, 0) {
		t.Errorf("nextID = %v %v", id, ok)
	}
	if _, ok := nextID(streams.MaxID); ok {
		t.Error("nextID of the greatest ID")
	}
	if id, ok := prevID(sid(4, 0)); !ok || id != sid(3, math.MaxUint64) {
		t.Errorf("prevID = %v %v", id, ok)
	}
	if _, ok := prevID(sid(0, 0)); ok {
		t.Error("prevID of 0-0")
	}
}

func TestParseXGroup(t *testing.T) {
	syntax := func(sub string) string {
		return "ERR unknown subcommand or wrong number of arguments for '" + sub + "'. Try XGROUP HELP."
	}
	for _, tc := range []struct {
		args []string
		want any
		err  string
	}{
		{args: []string{"XGROUP", "CREATE", "s:1", "g", "$"}, want: &streams.GroupCreate{Key: "s:1", Group: "g", Dollar: true, EntriesRead: -1}},
		{args: []string{"XGROUP", "create", "s:1", "g", "0", "mkstream"}, want: &streams.GroupCreate{Key: "s:1", Group: "g", MkStream: true, EntriesRead: -1}},
		{args: []string{"XGROUP", "CREATE", "s:1", "g", "7-1", "ENTRIESREAD", "3", "MKSTREAM"}, want: &streams.GroupCreate{Key: "s:1", Group: "g", ID: sid(7, 1), MkStream: true, EntriesRead: 3}},
		{args: []string{"XGROUP", "CREATE", "s:1", "g", "7", "ENTRIESREAD", "-1"}, want: &streams.GroupCreate{Key: "s:1", Group: "g", ID: sid(7, 0), EntriesRead: -1}},
		// A malformed ID is answered after the key is checked.
		{args: []string{"XGROUP", "CREATE", "s:1", "g", "+"}, want: &streams.GroupCreate{Key: "s:1", Group: "g", EntriesRead: -1, Invalid: errInvalidID}},
		{args: []string{"XGROUP", "CREATE", "s:1", "g", "0", "ENTRIESREAD", "-2"}, err: "ERR value for ENTRIESREAD must be positive or -1"},
		{args: []string{"XGROUP", "CREATE", "s:1", "g", "0", "ENTRIESREAD", "x"}, err: errNotInteger},
		{args: []string{"XGROUP", "CREATE", "s:1", "g", "0", "ENTRIESREAD"}, err: syntax("CREATE")},
		{args: []string{"XGROUP", "Create", "s:1", "g", "0", "FOO"}, err: syntax("Create")},
		{args: []string{"XGROUP", "CREATE", "s:1", "g", "0", "MKSTREAM", "MKSTREAM", "MKSTREAM", "MKSTREAM"}, err: syntax("CREATE")},

		{args: []string{"XGROUP", "SETID", "s:1", "g", "$"}, want: &streams.GroupSetID{Key: "s:1", Group: "g", Dollar: true, EntriesRead: -1}},
		{args: []string{"XGROUP", "SETID", "s:1", "g", "-", "ENTRIESREAD", "0"}, want: &streams.GroupSetID{Key: "s:1", Group: "g", EntriesRead: 0}},
		{args: []string{"XGROUP", "SETID", "s:1", "g", "+"}, want: &streams.GroupSetID{Key: "s:1", Group: "g", ID: streams.MaxID, EntriesRead: -1}},
		{args: []string{"XGROUP", "SETID", "s:1", "g", "x"}, want: &streams.GroupSetID{Key: "s:1", Group: "g", EntriesRead: -1, Invalid: errInvalidID}},
		{args: []string{"XGROUP", "SETID", "s:1", "g", "0", "MKSTREAM"}, err: syntax("SETID")},
		{args: []string{"XGROUP", "SETID", "s:1", "g", "0", "ENTRIESREAD", "1", "ENTRIESREAD", "2"}, err: syntax("SETID")},
	} {
		var got any
		var err error
		switch strings.ToUpper(tc.args[1]) {
		case "CREATE":
			got, err = parseGroupCreate(argv(tc.args...))
		case "SETID":
			got, err = parseGroupSetID(argv(tc.args...))
		}
		if errText(err) != tc.err {
			t.Errorf("%q: error %q, want %q", tc.args, errText(err), tc.err)
			continue
		}
		if tc.err == "" && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got  %+v\n want %+v", tc.args, got, tc.want)
		}
	}
}

func TestParseReadGroup(t *testing.T) {
	dollar := "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."
	for _, tc := range []struct {
		args  string
		want  streams.ReadGroup
		block int64
		err   string
	}{
		{args: "GROUP g c STREAMS s:1 >", want: streams.ReadGroup{Group: "g", Consumer: "c", Keys: []string{"s:1"}, From: []streams.ReadFrom{{New: true}}}, block: -1},
		{args: "count 10 block 500 noack group g c streams a:1 $all 3-1 >",
			want:  streams.ReadGroup{Group: "g", Consumer: "c", Count: 10, NoAck: true, Keys: []string{"a:1", "$all"}, From: []streams.ReadFrom{{ID: sid(3, 1)}, {New: true}}},
			block: 500},
		{args: "GROUP g c COUNT -5 BLOCK 0 STREAMS s:1 0", want: streams.ReadGroup{Group: "g", Consumer: "c", Keys: []string{"s:1"}, From: []streams.ReadFrom{{}}}, block: 0},
		// The last GROUP wins, as in Redis; STREAMS ends the options.
		{args: "GROUP a b GROUP g c STREAMS STREAMS >", want: streams.ReadGroup{Group: "g", Consumer: "c", Keys: []string{"STREAMS"}, From: []streams.ReadFrom{{New: true}}}, block: -1},
		// A malformed ID or $ is answered in key order, after the key's group.
		{args: "GROUP g c STREAMS a:1 b:1 $ x", want: streams.ReadGroup{Group: "g", Consumer: "c", Keys: []string{"a:1", "b:1"},
			From: []streams.ReadFrom{{Err: ReplyError(dollar)}, {Err: errInvalidID}}}, block: -1},
		{args: "GROUP g c STREAMS s:1 +", want: streams.ReadGroup{Group: "g", Consumer: "c", Keys: []string{"s:1"}, From: []streams.ReadFrom{{Err: errInvalidID}}}, block: -1},

		{args: "GROUP g c STREAMS a:1 b:1 >", err: "ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be specified."},
		{args: "GROUP g c COUNT x STREAMS a:1 >", err: errNotInteger},
		{args: "GROUP g c BLOCK x STREAMS a:1 >", err: "ERR timeout is not an integer or out of range"},
		{args: "GROUP g c BLOCK -1 STREAMS a:1 >", err: "ERR timeout is negative"},
		{args: "COUNT 1 BLOCK 1 STREAMS a:1 >", err: "ERR Missing GROUP option for XREADGROUP"},
		{args: "GROUP g c COUNT 1 NOACK x", err: "ERR syntax error"},
		{args: "GROUP g c FOO 1 STREAMS a:1 >", err: "ERR syntax error"},
		{args: "GROUP g STREAMS a:1 >", err: "ERR syntax error"},
	} {
		req, err := parseReadGroup(argv(append([]string{"XREADGROUP"}, strings.Fields(tc.args)...)...))
		if errText(err) != tc.err {
			t.Errorf("%q: error %q, want %q", tc.args, errText(err), tc.err)
			continue
		}
		if tc.err != "" {
			continue
		}
		if !reflect.DeepEqual(*req.read, tc.want) || req.block != tc.block {
			t.Errorf("%q:\n got  %+v block %d\n want %+v block %d", tc.args, *req.read, req.block, tc.want, tc.block)
		}
	}
}

func TestParseAckAndPending(t *testing.T) {
	ack, _ := parseAck(argv("XACK", "s:1", "g", "1-0", "2", "x", "3-0"))
	if !reflect.DeepEqual(ack, &streams.Ack{Key: "s:1", Group: "g", IDs: []streams.ID{sid(1, 0), sid(2, 0)}, Invalid: errInvalidID}) {
		t.Errorf("XACK: %+v", ack)
	}
	for _, tc := range []struct {
		args string
		want pendingReq
		err  string
	}{
		{args: "s:1 g", want: pendingReq{summary: &streams.PendingSummary{Key: "s:1", Group: "g"}}},
		{args: "s:1 g - + 10", want: pendingReq{rng: &streams.PendingRange{Key: "s:1", Group: "g", End: streams.MaxID, Count: 10}}},
		{args: "s:1 g IDLE 500 (1-0 (5 -3 alice", want: pendingReq{rng: &streams.PendingRange{Key: "s:1", Group: "g", MinIdle: 500,
			Start: sid(1, 1), End: sid(5, math.MaxUint64-1), Count: 0, Consumer: "alice", ByConsumer: true}}},
		{args: "s:1 g 2 7 1 bob extra", want: pendingReq{rng: &streams.PendingRange{Key: "s:1", Group: "g", Start: sid(2, 0), End: sid(7, math.MaxUint64),
			Count: 1, Consumer: "bob", ByConsumer: true}}},
		{args: "s:1 g -", err: "ERR syntax error"},
		{args: "s:1 g - +", err: "ERR syntax error"},
		{args: "s:1 g IDLE 5 - +", err: "ERR syntax error"},
		{args: "s:1 g IDLE x - + 1", err: errNotInteger},
		{args: "s:1 g - + x", err: errNotInteger},
		{args: "s:1 g x + 1", err: errID},
		{args: "s:1 g - +x 1", err: errID},
		{args: "s:1 g (18446744073709551615-18446744073709551615 + 1", err: "ERR invalid start ID for the interval"},
		{args: "s:1 g - (0-0 1", err: "ERR invalid end ID for the interval"},
		{args: "s:1 g 1 2 3 4 5 6 7", err: "ERR syntax error"},
	} {
		got, err := parsePending(argv(append([]string{"XPENDING"}, strings.Fields(tc.args)...)...))
		if errText(err) != tc.err {
			t.Errorf("%q: error %q, want %q", tc.args, errText(err), tc.err)
			continue
		}
		if tc.err == "" && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got  %+v %+v\n want %+v %+v", tc.args, got.summary, got.rng, tc.want.summary, tc.want.rng)
		}
	}
}

func TestParseClaims(t *testing.T) {
	base := func(c streams.Claim) *streams.Claim {
		c.Key, c.Group, c.Consumer = "s:1", "g", "c"
		if c.RetryCount == 0 {
			c.RetryCount = -1
		}
		return &c
	}
	for _, tc := range []struct {
		args string
		want *streams.Claim
	}{
		{"0 1-0 2", base(streams.Claim{IDs: []streams.ID{sid(1, 0), sid(2, 0)}})},
		{"100 1 IDLE 50 RETRYCOUNT 3 FORCE JUSTID LASTID 9-9", base(streams.Claim{MinIdle: 100, IDs: []streams.ID{sid(1, 0)},
			Delivery: streams.DeliveryIdle, Idle: 50, RetryCount: 3, Force: true, JustID: true, LastID: sid(9, 9)})},
		// The last of IDLE and TIME wins.
		{"-5 1 IDLE 50 TIME 1000", base(streams.Claim{MinIdle: -5, IDs: []streams.ID{sid(1, 0)}, Delivery: streams.DeliveryAt, Idle: 50, Time: 1000})},
		// IDs end at the first argument that is not one; no ID at all is fine.
		{"0 justid", base(streams.Claim{JustID: true})},
		{"0 1 2 x", base(streams.Claim{IDs: []streams.ID{sid(1, 0), sid(2, 0)}, Invalid: ReplyError("ERR Unrecognized XCLAIM option 'x'")})},
		{"0 1 IDLE", base(streams.Claim{IDs: []streams.ID{sid(1, 0)}, Invalid: ReplyError("ERR Unrecognized XCLAIM option 'IDLE'")})},
		{"x 1", base(streams.Claim{Invalid: ReplyError("ERR Invalid min-idle-time argument for XCLAIM")})},
		{"0 1 IDLE x", base(streams.Claim{IDs: []streams.ID{sid(1, 0)}, Invalid: ReplyError("ERR Invalid IDLE option argument for XCLAIM")})},
		{"0 1 TIME x", base(streams.Claim{IDs: []streams.ID{sid(1, 0)}, Invalid: ReplyError("ERR Invalid TIME option argument for XCLAIM")})},
		{"0 1 RETRYCOUNT x", base(streams.Claim{IDs: []streams.ID{sid(1, 0)}, Invalid: ReplyError("ERR Invalid RETRYCOUNT option argument for XCLAIM")})},
		{"0 1 LASTID -", base(streams.Claim{IDs: []streams.ID{sid(1, 0)}, Invalid: errInvalidID})},
	} {
		got, err := parseClaim(argv(append([]string{"XCLAIM", "s:1", "g", "c"}, strings.Fields(tc.args)...)...))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got  %+v, %v\n want %+v", tc.args, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		args string
		want *streams.AutoClaim
		err  string
	}{
		{args: "0 0", want: &streams.AutoClaim{Key: "s:1", Group: "g", Consumer: "c", Count: 100}},
		{args: "-9 (3-0 count 5 JUSTID", want: &streams.AutoClaim{Key: "s:1", Group: "g", Consumer: "c", Start: sid(3, 1), Count: 5, JustID: true}},
		{args: "x 0", err: "ERR Invalid min-idle-time argument for XAUTOCLAIM"},
		{args: "0 x", err: errID},
		{args: "0 0 COUNT 0", err: "ERR COUNT must be > 0"},
		{args: "0 0 COUNT x", err: "ERR COUNT must be > 0"},
		{args: "0 0 COUNT", err: "ERR syntax error"},
		{args: "0 0 FOO", err: "ERR syntax error"},
	} {
		got, err := parseAutoClaim(argv(append([]string{"XAUTOCLAIM", "s:1", "g", "c"}, strings.Fields(tc.args)...)...))
		if errText(err) != tc.err {
			t.Errorf("%q: error %q, want %q", tc.args, errText(err), tc.err)
			continue
		}
		if tc.err == "" && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got  %+v\n want %+v", tc.args, got, tc.want)
		}
	}
}

// TestGroupErrorReplies: package streams' errors become Redis's texts,
// each command's own.
func TestGroupErrorReplies(t *testing.T) {
	ng := &streams.NoGroupError{Key: "k", Group: "g"}
	for _, tc := range []struct {
		err  error
		form noGroupForm
		want string
	}{
		{ng, noGroupKeyOrGroup, "NOGROUP No such key 'k' or consumer group 'g'"},
		{ng, noGroupForKey, "NOGROUP No such consumer group 'g' for key name 'k'"},
		{ng, noGroupInfo, "NOGROUP No such consumer group 'g' for key name 'k'"},
		{ng, noGroupRead, "NOGROUP No such key 'k' or consumer group 'g' in XREADGROUP with GROUP option"},
		{&streams.NoGroupError{Key: "k", Group: "g", Gone: true}, noGroupRead, "NOGROUP the consumer group this client was blocked on no longer exists"},
		{streams.ErrNoKey, noGroupForKey, string(errNeedKey)},
		{streams.ErrNoKey, noGroupInfo, "ERR no such key"},
		{streams.ErrBusyGroup, noGroupForKey, "BUSYGROUP Consumer Group name already exists"},
		{streams.ErrMkStream, noGroupForKey, string(errMkStream)},
		{streams.ErrClosed, noGroupRead, "ERR server is shutting down"},
	} {
		if got := Reply(groupError(tc.err, tc.form)); got != tc.want {
			t.Errorf("%v (form %d): %q, want %q", tc.err, tc.form, got, tc.want)
		}
	}
}

// FuzzParseGroupCommands: every group parser takes any arguments its
// arity lets through without panicking, answers ERR errors, and gives
// requests whose parts agree.
func FuzzParseGroupCommands(f *testing.F) {
	for _, s := range []string{
		"XREADGROUP\x00GROUP\x00g\x00c\x00COUNT\x001\x00BLOCK\x000\x00STREAMS\x00a:1\x00>",
		"XREADGROUP\x00GROUP\x00g\x00c\x00STREAMS\x00a:1\x00b:1\x001-1\x00$",
		"XPENDING\x00s:1\x00g\x00IDLE\x001\x00(1\x00(+\x005\x00c",
		"XCLAIM\x00s:1\x00g\x00c\x000\x001\x002-2\x00IDLE\x001\x00LASTID\x003",
		"XAUTOCLAIM\x00s:1\x00g\x00c\x000\x00(0\x00COUNT\x003\x00JUSTID",
		"XACK\x00s:1\x00g\x001\x00x",
		"XGROUP\x00CREATE\x00s:1\x00g\x00$\x00MKSTREAM\x00ENTRIESREAD\x005",
		"XGROUP\x00SETID\x00s:1\x00g\x00-\x00ENTRIESREAD\x00-1",
	} {
		f.Add([]byte(s))
	}
	tab := All()
	f.Fuzz(func(t *testing.T, data []byte) {
		args := splitArgs("", data)[1:]
		if len(args) == 0 {
			return
		}
		cmd := tab.Lookup(args[0])
		if cmd == nil || !cmd.ArityOK(len(args)) {
			return
		}
		if len(cmd.Subcommands) > 0 {
			if cmd = cmd.Sub(args[1]); cmd == nil || !cmd.ArityOK(len(args)) {
				return
			}
		}
		var err error
		switch cmd.Name {
		case "XREADGROUP":
			var r readGroupReq
			if r, err = parseReadGroup(args); err == nil && (len(r.read.Keys) == 0 || len(r.read.Keys) != len(r.read.From) || r.block < -1 || r.read.Count < 0) {
				t.Fatalf("%q: %+v", args, r.read)
			}
		case "XPENDING":
			var r pendingReq
			if r, err = parsePending(args); err == nil && (r.summary == nil) == (r.rng == nil) {
				t.Fatalf("%q: %+v", args, r)
			}
		case "XCLAIM":
			var r *streams.Claim
			if r, err = parseClaim(args); err == nil && len(r.IDs) > len(args)-5 {
				t.Fatalf("%q: %+v", args, r)
			}
		case "XAUTOCLAIM":
			var r *streams.AutoClaim
			if r, err = parseAutoClaim(args); err == nil && (r.Count < 1 || r.MinIdle < 0) {
				t.Fatalf("%q: %+v", args, r)
			}
		case "XACK":
			var r *streams.Ack
			if r, err = parseAck(args); err == nil && len(r.IDs) > len(args)-3 {
				t.Fatalf("%q: %+v", args, r)
			}
		case "XGROUP CREATE":
			var r *streams.GroupCreate
			if r, err = parseGroupCreate(args); err == nil && r.EntriesRead < -1 {
				t.Fatalf("%q: %+v", args, r)
			}
		case "XGROUP SETID":
			var r *streams.GroupSetID
			if r, err = parseGroupSetID(args); err == nil && r.EntriesRead < -1 {
				t.Fatalf("%q: %+v", args, r)
			}
		default:
			return
		}
		if err != nil {
			checkReplyError(t, err)
		}
	})
}
