package state

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/tidwall/gjson"
)

// FuzzMembers: the members of a valid JSON object are walked as gjson
// sees them, keys and values as written.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{
		`{}`, ` { "a" : 1 , "b":[1,{"c":"}"}] ,"d":"x\"y\\"}`, `{"balance":100,"uuid":"u","name":"n"}`,
		`{"a":{"b":{}},"e":null,"t":true,"f":-1.5e3}`, `[1]`, `"s"`,
		`{"0123456789012345678901\\":"01234567890123456789012\"\\\"x","y":1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !json.Valid([]byte(s)) {
			return
		}
		var want [][2]string
		if r := gjson.Parse(s); r.IsObject() {
			r.ForEach(func(k, v gjson.Result) bool {
				want = append(want, [2]string{k.Raw, v.Raw})
				return true
			})
		}
		var got [][2]string
		for m := scanMembers([]byte(s)); ; {
			k, v, ok := m.next()
			if !ok {
				break
			}
			got = append(got, [2]string{string(k), string(v)})
		}
		if len(got) != len(want) {
			t.Fatalf("%s: members %q, gjson %q", s, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: members %q, gjson %q", s, got, want)
			}
		}
	})
}

func BenchmarkMember(b *testing.B) {
	obj := []byte(`{"balance":100,"uuid":"5f0c7a0e-8d7e-4a8e-9d53-1a2b3c4d5e6f","name":"Customer 42"}`)
	b.ReportAllocs()
	for b.Loop() {
		if member(obj, "name") == nil {
			b.Fatal("missing")
		}
	}
}

// FuzzIntValue: a literal reads as an int exactly when it is an integral
// literal that ParseInt takes, with ParseInt's value.
func FuzzIntValue(f *testing.F) {
	for _, s := range []string{"0", "-0", "7", "-", "--5", "007", "1.5", "1e3", "999999999999999999", "-999999999999999999",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808", "99999999999999999999", `"5"`, "", "+5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := intValue([]byte(s))
		want, err := strconv.ParseInt(s, 10, 64)
		wantOK := isIntLiteral(s) && err == nil
		if ok != wantOK || (ok && int64(n) != want) {
			t.Fatalf("intValue(%q) = %d, %v; want %d, %v", s, n, ok, want, wantOK)
		}
	})
}

// FuzzKeyIs: a raw key names name exactly when its decoded text is name.
func FuzzKeyIs(f *testing.F) {
	for _, c := range [][2]string{{`"a"`, "a"}, {`"\u0061"`, "a"}, {`"\"x"`, `"x`}, {`"caf\u00e9"`, "café"},
		{`"\ud83d\ude00"`, "😀"}, {`"ab"`, "a"}, {`"a"`, "ab"}, {`"\\"`, `\`}} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, raw, name string) {
		var decoded string
		if err := json.Unmarshal([]byte(raw), &decoded); err != nil || len(raw) < 2 || raw[0] != '"' {
			return
		}
		if got, want := keyIs([]byte(raw), name), gjson.Parse(raw).Str == name; got != want {
			t.Fatalf("keyIs(%s, %q) = %v, gjson says %v", raw, name, got, want)
		}
	})
}

// BenchmarkMembersOfProduct: the two fields an aggregation of the
// catalogue reads (GROUPBY category REDUCE SUM stock) from one product,
// hot in the cache: the scan's work per entity before any cache miss.
func BenchmarkMembersOfProduct(b *testing.B) {
	obj := []byte(`{"sku":"SKU-0012345","name":"abcdef 0012345","category":"c17","price":123456,"stock":42,"tags":["t1","t2"]}`)
	names := []string{"category", "stock"}
	out := make([][]byte, len(names))
	for b.Loop() {
		membersOf(obj, names, out)
	}
}
