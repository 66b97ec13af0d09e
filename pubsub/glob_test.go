package pubsub

import (
	"path"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"*", "account:42", true},
		{"account:*", "account:42", true},
		{"account:*", "accounts:42", false},
		{"account:?", "account:4", true},
		{"account:?", "account:42", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"a*b", "abab", true},
		{"h[ae]llo", "hello", true},
		{"h[ae]llo", "hillo", false},
		{"h[^e]llo", "hallo", true},
		{"h[^e]llo", "hello", false},
		{"h[a-b]llo", "hbllo", true},
		{"h[b-a]llo", "hallo", true},
		{"h[a-b]llo", "hcllo", false},
		{`h\*llo`, "h*llo", true},
		{`h\*llo`, "hello", false},
		{`h[\]]llo`, "h]llo", true},
		{"__entity__:account:*", "__entity__:account:7", true},
		{"", "", true},
		{"", "a", false},
		{"abc", "abc", true},
		{"abc", "abcd", false},
		{"**", "x", true},
		{"*x", "abx", true},
		{"*x", "abxy", false},
	} {
		if got := Match(c.p, c.s); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
}

// FuzzMatch compares Match with path.Match on patterns that mean the same
// to both: ASCII (path.Match's '?' takes a rune, Redis's a byte), no '/',
// no escapes, no classes.
func FuzzMatch(f *testing.F) {
	f.Add("a*b?c", "axxbyc")
	f.Add("*", "")
	f.Fuzz(func(t *testing.T, p, s string) {
		if strings.ContainsAny(p+s, `/\[]^`) || !ascii(p+s) {
			Match(p, s) // must not panic
			return
		}
		want, err := path.Match(p, s)
		if err != nil {
			return
		}
		if got := Match(p, s); got != want {
			t.Fatalf("Match(%q, %q) = %v, path.Match says %v", p, s, got, want)
		}
	})
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
