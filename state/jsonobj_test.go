package state

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/tidwall/gjson"
)

// TestMergePatchRFC7386 runs the examples of RFC 7386 appendix A.
func TestMergePatchRFC7386(t *testing.T) {
	cases := []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		{`{"a.b":1}`, `{"a.b":2}`, `{"a.b":2}`},
	}
	for _, c := range cases {
		got := string(mergePatch(nil, []byte(c.target), []byte(c.patch)))
		if !jsonEqual(t, got, c.want) {
			t.Errorf("merge %s with %s = %s, want %s", c.target, c.patch, got, c.want)
		}
	}
}

func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("invalid JSON %s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func TestSetFields(t *testing.T) {
	cases := []struct {
		obj    string
		fields []field
		want   string
	}{
		{`{"balance":0}`, []field{{name: "balance", raw: []byte("10")}}, `{"balance":10}`},
		{`{"a":1,"b":2}`, []field{{name: "c", raw: []byte(`"x"`)}}, `{"a":1,"b":2,"c":"x"}`},
		{`{"a":1,"b":2}`, []field{{name: "a", del: true}}, `{"b":2}`},
		{`{}`, []field{{name: "q\"uote", raw: []byte("1")}}, `{"q\"uote":1}`},
		{`{"a":1}`, []field{{name: "a", raw: []byte("2")}, {name: "b", raw: []byte("3")}}, `{"a":2,"b":3}`},
	}
	for _, c := range cases {
		got := string(setFields(nil, []byte(c.obj), c.fields))
		if got != c.want {
			t.Errorf("setFields(%s) = %s, want %s", c.obj, got, c.want)
		}
		if !gjson.Valid(got) {
			t.Errorf("invalid JSON %s", got)
		}
	}
}

func TestAppendValue(t *testing.T) {
	cases := []struct {
		v    any
		want string
	}{
		{nil, "null"}, {true, "true"}, {42, "42"}, {-7, "-7"}, {2.5, "2.5"}, {5.0, "5"},
		{1e21, "1e+21"}, {1e-7, "1e-07"}, {"a\"b\n", `"a\"b\n"`}, {"é", `"é"`},
		{[]any{1, "x"}, `[1,"x"]`}, {map[string]any{"b": 1, "a": []any{}}, `{"a":[],"b":1}`},
	}
	for _, c := range cases {
		got, err := appendValue(nil, c.v)
		if err != nil || string(got) != c.want {
			t.Errorf("appendValue(%#v) = %s, %v; want %s", c.v, got, err, c.want)
		}
	}
	for _, bad := range []any{math.NaN(), math.Inf(1), make(chan int)} {
		if _, err := appendValue(nil, bad); err == nil {
			t.Errorf("appendValue(%v) accepted", bad)
		}
	}
}

func TestToValue(t *testing.T) {
	cases := []struct {
		json string
		want any
	}{
		{`1`, 1}, {`-3`, -3}, {`1.5`, 1.5}, {`1e3`, 1000.0}, {`99999999999999999999`, 1e20},
		{`"s"`, "s"}, {`true`, true}, {`null`, nil},
		{`{"a":[1,{"b":null}]}`, map[string]any{"a": []any{1, map[string]any{"b": nil}}}},
	}
	for _, c := range cases {
		got := toValue(gjson.Parse(c.json))
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("toValue(%s) = %#v, want %#v", c.json, got, c.want)
		}
	}
}

func FuzzMergePatch(f *testing.F) {
	f.Add(`{"a":1}`, `{"a":null,"b":{"c":2}}`)
	f.Add(`{}`, `{"x":[1,2]}`)
	f.Fuzz(func(t *testing.T, target, patch string) {
		if !gjson.Valid(target) || !gjson.Valid(patch) || !gjson.Parse(patch).IsObject() {
			return
		}
		out := mergePatch(nil, []byte(target), []byte(patch))
		if !gjson.ValidBytes(out) {
			t.Fatalf("merge %s with %s gave invalid JSON %s", target, patch, out)
		}
	})
}

func BenchmarkSetFields(b *testing.B) {
	obj := []byte(`{"uuid":"5f0c7a0e-8d7e-4a8e-9d53-1a2b3c4d5e6f","name":"Alice","balance":100}`)
	fields := []field{{name: "balance", raw: []byte("110")}}
	var dst []byte
	b.ReportAllocs()
	for b.Loop() {
		dst = setFields(dst[:0], obj, fields)
	}
}

func TestSkipString(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`"abc",`, 5},
		{`""`, 2},
		{`"a\"b"x`, 6},
		{`"a\\"x`, 5},
		{`"a\\\"b"x`, 8},
		{`"\\\\"`, 6},
		{`"unterminated`, 13},
		{`"ends in \"`, 11},
		{`"0123456789012345678901\"x"`, 27},
		{`"01234567890123456789012\"x"`, 28},
		{`"012345678901234567890123\\"x`, 28},
		{`"0123456789012345678901234567890"`, 33},
	} {
		if got := skipString([]byte(tc.in), 0); got != tc.want {
			t.Errorf("skipString(%s) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
