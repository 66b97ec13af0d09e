package commands

import (
	"reflect"
	"testing"
)

func TestParseHello(t *testing.T) {
	const proto = "ERR Protocol version is not an integer or out of range"
	const noproto = "NOPROTO unsupported protocol version"
	for _, tc := range []struct {
		args []string
		want helloReq
		err  string
	}{
		{args: nil, want: helloReq{}},
		{args: []string{"2"}, want: helloReq{proto: 2}},
		{args: []string{"3"}, want: helloReq{proto: 3}},
		{args: []string{"03"}, want: helloReq{proto: 3}},
		{args: []string{"3", "AUTH", "default", "pw"}, want: helloReq{proto: 3, auth: true, user: "default", pass: "pw"}},
		{args: []string{"2", "setname", "app", "auth", "u", "p"}, want: helloReq{proto: 2, auth: true, user: "u", pass: "p", setName: true, name: "app"}},
		{args: []string{"3", "SETNAME", ""}, want: helloReq{proto: 3, setName: true}},

		{args: []string{"x"}, err: proto},
		{args: []string{""}, err: proto},
		{args: []string{"3.0"}, err: proto},
		{args: []string{"1"}, err: noproto},
		{args: []string{"4"}, err: noproto},
		{args: []string{"-3"}, err: noproto},
		{args: []string{"3", "AUTH", "u"}, err: "ERR Syntax error in HELLO option 'AUTH'"},
		{args: []string{"3", "SETNAME"}, err: "ERR Syntax error in HELLO option 'SETNAME'"},
		{args: []string{"3", "NAME", "x"}, err: "ERR Syntax error in HELLO option 'NAME'"},
		{args: []string{"3", "SETNAME", "a b"}, err: "ERR Client names cannot contain spaces, newlines or special characters."},
		{args: []string{"3", "SETNAME", "a\nb"}, err: "ERR Client names cannot contain spaces, newlines or special characters."},
	} {
		got, err := parseHello(argv(append([]string{"HELLO"}, tc.args...)...))
		if errText(err) != tc.err || (err == nil && got != tc.want) {
			t.Errorf("HELLO %q = %+v, %q; want %+v, %q", tc.args, got, errText(err), tc.want, tc.err)
		}
	}
}

func TestParseAuth(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want authReq
		err  string
	}{
		{args: []string{"pw"}, want: authReq{user: "default", pass: "pw", legacy: true}},
		{args: []string{"default", "pw"}, want: authReq{user: "default", pass: "pw"}},
		{args: []string{"alice", ""}, want: authReq{user: "alice"}},
		{args: []string{"a", "b", "c"}, err: "ERR syntax error"},
	} {
		got, err := parseAuth(argv(append([]string{"AUTH"}, tc.args...)...))
		if errText(err) != tc.err || (err == nil && got != tc.want) {
			t.Errorf("AUTH %q = %+v, %q; want %+v, %q", tc.args, got, errText(err), tc.want, tc.err)
		}
	}
}

func TestParseClientKill(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want killReq
		err  string
	}{
		{args: []string{"127.0.0.1:5000"}, want: killReq{legacy: true, addr: "127.0.0.1:5000", skipMe: true}},
		{args: []string{"ID", "7"}, want: killReq{id: 7, hasID: true, skipMe: true}},
		{args: []string{"id", "18446744073709551615"}, want: killReq{id: 1<<64 - 1, hasID: true, skipMe: true}},
		{args: []string{"ADDR", "1.2.3.4:5", "SKIPME", "no"}, want: killReq{addr: "1.2.3.4:5"}},
		{args: []string{"LADDR", "127.0.0.1:6380", "skipme", "YES"}, want: killReq{laddr: "127.0.0.1:6380", skipMe: true}},
		{args: []string{"ID", "1", "ADDR", "a:1", "LADDR", "b:2", "SKIPME", "no"}, want: killReq{id: 1, hasID: true, addr: "a:1", laddr: "b:2"}},

		{args: []string{"ID", "x"}, err: "ERR client-id should be greater than 0"},
		{args: []string{"ID", "0"}, err: "ERR client-id should be greater than 0"},
		{args: []string{"ID", "-1"}, err: "ERR client-id should be greater than 0"},
		{args: []string{"ID", "1", "SKIPME"}, err: "ERR syntax error"},
		{args: []string{"SKIPME", "maybe"}, err: "ERR syntax error"},
		{args: []string{"USER", "default"}, err: "ERR syntax error"},
		{args: []string{"TYPE", "normal"}, err: "ERR syntax error"},
	} {
		got, err := parseClientKill(argv(append([]string{"CLIENT", "KILL"}, tc.args...)...))
		if errText(err) != tc.err || (err == nil && got != tc.want) {
			t.Errorf("CLIENT KILL %q = %+v, %q; want %+v, %q", tc.args, got, errText(err), tc.want, tc.err)
		}
	}
}

func TestParseClientList(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []uint64
		err  string
	}{
		{args: nil, want: nil},
		{args: []string{"TYPE", "normal"}, want: nil},
		{args: []string{"ID", "3"}, want: []uint64{3}},
		{args: []string{"id", "3", "1", "3"}, want: []uint64{3, 1, 3}},

		{args: []string{"ID"}, err: "ERR syntax error"},
		{args: []string{"ID", "x"}, err: "ERR Invalid client ID"},
		{args: []string{"ID", "1", "-2"}, err: "ERR Invalid client ID"},
		{args: []string{"TYPE", "pubsub"}, err: "ERR syntax error"},
		{args: []string{"TYPE"}, err: "ERR syntax error"},
		{args: []string{"BOGUS"}, err: "ERR syntax error"},
	} {
		got, err := parseClientList(argv(append([]string{"CLIENT", "LIST"}, tc.args...)...))
		if errText(err) != tc.err || (err == nil && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("CLIENT LIST %q = %v, %q; want %v, %q", tc.args, got, errText(err), tc.want, tc.err)
		}
	}
}

func TestParseSetInfo(t *testing.T) {
	for _, tc := range []struct {
		attr, val string
		want      setInfoReq
		err       string
	}{
		{attr: "LIB-NAME", val: "go-redis(,go1.26)", want: setInfoReq{lib: true, val: "go-redis(,go1.26)"}},
		{attr: "lib-name", val: "", want: setInfoReq{lib: true}},
		{attr: "Lib-Ver", val: "9.23.0", want: setInfoReq{val: "9.23.0"}},
		{attr: "LIB", val: "x", err: "ERR Unrecognized option 'LIB'"},
		{attr: "LIB-NAME", val: "a b", err: "ERR lib-name cannot contain spaces, newlines or special characters."},
		{attr: "LIB-VER", val: "1\n2", err: "ERR lib-ver cannot contain spaces, newlines or special characters."},
	} {
		got, err := parseSetInfo(argv("CLIENT", "SETINFO", tc.attr, tc.val))
		if errText(err) != tc.err || (err == nil && got != tc.want) {
			t.Errorf("CLIENT SETINFO %s %q = %+v, %q; want %+v, %q", tc.attr, tc.val, got, errText(err), tc.want, tc.err)
		}
	}
}

func TestParseSetName(t *testing.T) {
	const bad = "ERR Client names cannot contain spaces, newlines or special characters."
	for _, tc := range []struct{ name, err string }{
		{"worker-1", ""},
		{"", ""}, // clears the name
		{"!~", ""},
		{"a b", bad},
		{"tab\t", bad},
		{"é", bad},
		{"\x7f", bad},
	} {
		got, err := parseSetName(argv("CLIENT", "SETNAME", tc.name))
		if errText(err) != tc.err || (err == nil && got != tc.name) {
			t.Errorf("CLIENT SETNAME %q = %q, %q; want error %q", tc.name, got, errText(err), tc.err)
		}
	}
}

func TestParsePing(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want pingReq
		err  string
	}{
		{args: nil, want: pingReq{}},
		{args: []string{"hello"}, want: pingReq{msg: []byte("hello"), echo: true}},
		{args: []string{""}, want: pingReq{msg: []byte{}, echo: true}},
		{args: []string{"a", "b"}, err: "ERR wrong number of arguments for 'ping' command"},
	} {
		got, err := parsePing(argv(append([]string{"PING"}, tc.args...)...))
		if errText(err) != tc.err || (err == nil && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("PING %q = %+v, %q; want %+v, %q", tc.args, got, errText(err), tc.want, tc.err)
		}
	}
}

func TestParseSelect(t *testing.T) {
	for _, tc := range []struct {
		arg string
		err string
	}{
		{arg: "0"},
		{arg: "00"},
		{arg: "-0"},
		{arg: "1", err: "ERR DB index is out of range"},
		{arg: "-1", err: "ERR DB index is out of range"},
		{arg: "x", err: "ERR value is not an integer or out of range"},
		{arg: "", err: "ERR value is not an integer or out of range"},
		{arg: "0.0", err: "ERR value is not an integer or out of range"},
	} {
		_, err := parseSelect(argv("SELECT", tc.arg))
		if errText(err) != tc.err {
			t.Errorf("SELECT %q: %q, want %q", tc.arg, errText(err), tc.err)
		}
	}
}
