package testkit

import (
	"bufio"
	"reflect"
	"strings"
	"testing"
)

func TestReadValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want any
	}{
		{"+OK\r\n", Simple("OK")},
		{"-ERR no\r\n", Err("ERR no")},
		{":-12\r\n", int64(-12)},
		{"_\r\n", nil},
		{"#t\r\n", true},
		{"#f\r\n", false},
		{",1.5\r\n", 1.5},
		{"$5\r\na\r\nbc\r\n", Bulk("a\r\nbc")},
		{"$0\r\n\r\n", Bulk("")},
		{"$-1\r\n", nil},
		{"*-1\r\n", nil},
		{"=8\r\ntxt:info\r\n", Verbatim("info")},
		{"*2\r\n:1\r\n$1\r\nx\r\n", []any{int64(1), Bulk("x")}},
		{">2\r\n+a\r\n+b\r\n", []any{Simple("a"), Simple("b")}},
		{"%1\r\n$1\r\nk\r\n*1\r\n_\r\n", Map{Bulk("k"), []any{nil}}},
		{"~2\r\n:1\r\n:2\r\n", Set{int64(1), int64(2)}},
	} {
		r := &RawConn{t: t, Reader: bufio.NewReader(strings.NewReader(tc.in))}
		got, err := r.readValue()
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
		if rest, _ := r.Reader.Peek(1); len(rest) != 0 {
			t.Errorf("%q: %q left unread", tc.in, rest)
		}
	}
	for _, in := range []string{"", "+OK\n", "?x\r\n", ":x\r\n", "$3\r\nab", "$x\r\n", "=2\r\nab\r\n", "*2\r\n:1\r\n"} {
		r := &RawConn{t: t, Reader: bufio.NewReader(strings.NewReader(in))}
		if got, err := r.readValue(); err == nil {
			t.Errorf("%q = %#v, want an error", in, got)
		}
	}
}

func TestMapGet(t *testing.T) {
	m := Map{Bulk("proto"), int64(3), Simple("server"), Bulk("foldb"), int64(7), Bulk("x")}
	if v, ok := m.Get("proto"); !ok || v != int64(3) {
		t.Errorf("Get(proto) = %#v, %v", v, ok)
	}
	if !m.Has("server", Bulk("foldb")) || m.Has("server", "foldb") || m.Has("proto", int64(2)) {
		t.Error("Has compares the value with its type")
	}
	if _, ok := m.Get("7"); ok {
		t.Error("Get found an integer key")
	}
}

func TestCommand(t *testing.T) {
	if got := Command("SET", "", "a b"); got != "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$3\r\na b\r\n" {
		t.Errorf("Command = %q", got)
	}
}
