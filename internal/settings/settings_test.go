package settings

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

type color int

func parseColor(s string) (color, error) {
	switch s {
	case "red", "rouge":
		return 1, nil
	case "blue":
		return 2, nil
	}
	return 0, errors.New("no such color")
}

func (c color) String() string { return map[color]string{1: "red", 2: "blue"}[c] }

type opts struct {
	N      int
	Port   int
	Every  uint64
	Size   int64
	Small  int
	Idle   time.Duration
	Period time.Duration
	Name   string
	Pass   string
	Color  color
}

var testDefaults = opts{N: 5, Port: 80, Every: 10, Size: 2 << 20, Small: 100, Idle: 0, Period: 12 * time.Hour, Name: "x", Color: 1}

func testTable() *Table[opts] {
	return New(testDefaults, []Setting[opts]{
		{Name: "n", Doc: "a positive count", Runtime: true, Value: Int(func(o *opts) *int { return &o.N }, 1, math.MaxInt)},
		{Name: "port", Doc: "a port", Value: Int(func(o *opts) *int { return &o.Port }, 0, 65535)},
		{Name: "every", Doc: "events", Value: Count(func(o *opts) *uint64 { return &o.Every })},
		{Name: "size", Doc: "a size", Value: Bytes(func(o *opts) *int64 { return &o.Size }, 1<<20)},
		{Name: "small", Doc: "a small size", Value: Bytes(func(o *opts) *int { return &o.Small }, 0)},
		{Name: "idle", Doc: "idle seconds", Runtime: true, Value: Seconds(func(o *opts) *time.Duration { return &o.Idle })},
		{Name: "period", Doc: "a period", Value: Duration(func(o *opts) *time.Duration { return &o.Period })},
		{Name: "name", Doc: "a name", Value: String(func(o *opts) *string { return &o.Name }, true)},
		{Name: "pass", Doc: "a password", Secret: true, Runtime: true, Value: String(func(o *opts) *string { return &o.Pass }, false)},
		{Name: "color", Doc: "a color", Value: Enum(func(o *opts) *color { return &o.Color }, parseColor, color.String, "red", "blue")},
		{Name: "legacy", Doc: "always on", Compat: true, Value: Derived(func(o *opts) string { return fmt.Sprint("n=", o.N) })},
	})
}

// TestKinds: what each kind takes, what it stores, how CONFIG GET shows
// it, and how it words a refusal.
func TestKinds(t *testing.T) {
	tab := testTable()
	for _, tc := range []struct {
		name, text string
		get        string // "" with want set: refused
		want       string
	}{
		{"n", "1", "1", ""},
		{"n", "42", "42", ""},
		{"n", "0", "", "a positive integer"},
		{"n", "-3", "", "a positive integer"},
		{"n", "1.5", "", "a positive integer"},
		{"n", "", "", "a positive integer"},
		{"n", "0x10", "", "a positive integer"},
		{"port", "0", "0", ""},
		{"port", "65535", "65535", ""},
		{"port", "65536", "", "an integer from 0 to 65535"},
		{"port", "-1", "", "an integer from 0 to 65535"},
		{"every", "0", "0", ""},
		{"every", "18446744073709551615", "18446744073709551615", ""},
		{"every", "-1", "", "a whole number, 0 or more"},
		{"every", "1e6", "", "a whole number, 0 or more"},
		{"size", "1048576", "1048576", ""},
		{"size", "1mb", "1048576", ""},
		{"size", "1MB", "1048576", ""},
		{"size", "2m", "2000000", ""},
		{"size", "1gb", "1073741824", ""},
		{"size", "3g", "3000000000", ""},
		{"size", "1048576b", "1048576", ""},
		{"size", "1000kb", "", "a size in bytes such as 1048576 or 1mb, at least 1mb"},
		{"size", "1024kb", "1048576", ""},
		{"size", "512", "", "a size in bytes such as 1048576 or 1mb, at least 1mb"},
		{"size", "-1mb", "", "a size in bytes such as 1048576 or 1mb, at least 1mb"},
		{"size", "1tb", "", "a size in bytes such as 1048576 or 1mb, at least 1mb"},
		{"size", "9999999999999gb", "", "a size in bytes such as 1048576 or 1mb, at least 1mb"},
		{"size", "mb", "", "a size in bytes such as 1048576 or 1mb, at least 1mb"},
		{"small", "0", "0", ""},
		{"small", "2k", "2000", ""},
		{"small", "2kb", "2048", ""},
		{"small", "x", "", "a size in bytes such as 1048576 or 1mb"},
		{"idle", "0", "0", ""},
		{"idle", "30", "30", ""},
		{"idle", "-1", "", "a whole number of seconds, 0 or more"},
		{"idle", "30s", "", "a whole number of seconds, 0 or more"},
		{"period", "0", "0s", ""},
		{"period", "90s", "1m30s", ""},
		{"period", "12h", "12h", ""},
		{"period", "1h30m", "1h30m", ""},
		{"period", "36h0m1s", "36h0m1s", ""},
		{"period", "-1s", "", "a duration such as 90s or 12h, 0 or more"},
		{"period", "12", "", "a duration such as 90s or 12h, 0 or more"},
		{"name", "y", "y", ""},
		{"name", "", "", "a non-empty string"},
		{"pass", "", "", ""},
		{"pass", "p w", "p w", ""},
		{"color", "blue", "blue", ""},
		{"color", "rouge", "red", ""},
		{"color", "green", "", "one of red, blue"},
		{"color", "Blue", "", "one of red, blue"},
	} {
		t.Run(tc.name+"="+tc.text, func(t *testing.T) {
			s := tab.Lookup(tc.name)
			o := testDefaults
			before := s.Get(&o)
			err := s.Set(&o, tc.text)
			if tc.want != "" {
				var inv *InvalidError
				if !errors.As(err, &inv) || inv.Want != tc.want || inv.Name != tc.name || inv.Value != tc.text {
					t.Fatalf("Set(%q) = %v, want refusal: %s", tc.text, err, tc.want)
				}
				if !strings.HasPrefix(err.Error(), "settings: "+tc.name+" must be "+tc.want) {
					t.Fatalf("error %q", err)
				}
				if s.Get(&o) != before {
					t.Fatalf("a refused value changed the field to %s", s.Get(&o))
				}
				return
			}
			if err != nil {
				t.Fatalf("Set(%q): %v", tc.text, err)
			}
			if got := s.Get(&o); got != tc.get {
				t.Fatalf("Get after Set(%q) = %q, want %q", tc.text, got, tc.get)
			}
			// What Get shows, and what Pretty makes of it, parse back
			// to the same value.
			for _, text := range []string{s.Get(&o), s.Pretty(s.Get(&o))} {
				again := testDefaults
				if err := s.Set(&again, text); err != nil || s.Get(&again) != tc.get {
					t.Fatalf("%q does not parse back: %v, %q", text, err, s.Get(&again))
				}
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tab := testTable()
	if err := tab.Check(&testDefaults); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		change func(o *opts)
		want   string
	}{
		{func(o *opts) { o.N = 0 }, `settings: n must be a positive integer, not "0"`},
		{func(o *opts) { o.Port = 70000 }, `settings: port must be an integer from 0 to 65535, not "70000"`},
		{func(o *opts) { o.Size = 10 }, `settings: size must be a size in bytes such as 1048576 or 1mb, at least 1mb, not "10"`},
		{func(o *opts) { o.Idle = -time.Second }, `settings: idle must be a whole number of seconds, 0 or more, not "-1"`},
		{func(o *opts) { o.Period = -time.Second }, `settings: period must be a duration such as 90s or 12h, 0 or more, not "-1s"`},
		{func(o *opts) { o.Name = "" }, `settings: name must be a non-empty string, not ""`},
		{func(o *opts) { o.Color = 7 }, `settings: color must be one of red, blue, not ""`},
	} {
		o := testDefaults
		tc.change(&o)
		if err := tab.Check(&o); err == nil || err.Error() != tc.want {
			t.Errorf("Check = %v, want %s", err, tc.want)
		}
	}
	// A fraction of a second set directly is left alone.
	o := testDefaults
	o.Idle = 1500 * time.Millisecond
	if err := tab.Check(&o); err != nil || tab.Lookup("idle").Get(&o) != "1" {
		t.Fatalf("idle 1.5s: %v, %s", err, tab.Lookup("idle").Get(&o))
	}
}

func TestTable(t *testing.T) {
	tab := testTable()
	names := func(list []*Setting[opts]) string {
		var out []string
		for _, s := range list {
			out = append(out, s.Name)
		}
		return strings.Join(out, " ")
	}
	for pattern, want := range map[string]string{
		"*":      "n port every size small idle period name pass color legacy",
		"p*":     "port period pass",
		"?":      "n",
		"[np]*":  "n port period name pass",
		"size":   "size",
		"nosuch": "",
		"SIZE":   "",
		"[":      "",
	} {
		if got := names(tab.Match(pattern)); got != want {
			t.Errorf("Match(%q) = %q, want %q", pattern, got, want)
		}
	}
	if tab.Lookup("nosuch") != nil || tab.Lookup("n").Name != "n" {
		t.Fatal("Lookup")
	}
	if d := tab.Default(tab.Lookup("size")); d != "2097152" {
		t.Fatalf("default size %q", d)
	}
	if p := tab.Lookup("size").Pretty("2097152"); p != "2mb" {
		t.Fatalf("pretty %q", p)
	}
	legacy := tab.Lookup("legacy")
	o := testDefaults
	if legacy.Get(&o) != "n=5" || legacy.Set(&o, "1") == nil {
		t.Fatal("a compat setting")
	}
	for _, s := range tab.Settings() {
		if s.Type() == "" && !s.Compat {
			t.Errorf("%s has no type", s.Name)
		}
	}
	if tab.Lookup("color").Type() != "red|blue" || tab.Lookup("idle").Type() != "seconds" || tab.Lookup("size").Type() != "bytes" {
		t.Fatal("types")
	}
}

// TestNewRefusesMistakes: a table with a mistake in it does not build.
func TestNewRefusesMistakes(t *testing.T) {
	n := Int(func(o *opts) *int { return &o.N }, 1, math.MaxInt)
	for what, list := range map[string][]Setting[opts]{
		"no name":         {{Doc: "d", Value: n}},
		"no doc":          {{Name: "n", Value: n}},
		"no value":        {{Name: "n", Doc: "d"}},
		"twice":           {{Name: "n", Doc: "d", Value: n}, {Name: "n", Doc: "d", Value: n}},
		"runtime compat":  {{Name: "c", Doc: "d", Compat: true, Runtime: true, Value: Derived(func(*opts) string { return "" })}},
		"default refused": {{Name: "port", Doc: "d", Value: Int(func(o *opts) *int { return &o.Port }, 100, 200)}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: the table was built", what)
				}
			}()
			New(testDefaults, list)
		}()
	}
}

func TestParseBytes(t *testing.T) {
	for text, want := range map[string]int64{
		"0": 0, "1": 1, "1b": 1, "1k": 1000, "1K": 1000, "1kb": 1024, "1KB": 1024, "1m": 1e6, "1mb": 1 << 20,
		"1g": 1e9, "1gb": 1 << 30, "8589934591gb": 8589934591 << 30,
		"": -1, "k": -1, "1.5mb": -1, "-1": -1, "1 mb": -1, "1pb": -1, "8589934592gb": -1, "0x10": -1,
	} {
		n, ok := ParseBytes(text)
		if ok != (want >= 0) || ok && n != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", text, n, ok, want)
		}
	}
	for n, want := range map[int64]string{0: "0", 1: "1", 1000: "1000", 1024: "1kb", 1536: "1536", 1 << 20: "1mb", 512 << 20: "512mb", 3 << 30: "3gb", 2048 << 30: "2048gb"} {
		if got := prettyBytes(n); got != want {
			t.Errorf("prettyBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestMarkdown(t *testing.T) {
	md := testTable().Markdown()
	for _, want := range []string{
		"| `n` | `5` | int | yes | a positive count |\n",
		"| `size` | `2mb` | bytes |  | a size |\n",
		"| `pass` | empty | string | yes | a password |\n",
		"| `color` | `red` | red, blue |  | a color |\n",
		"| `legacy` | `n=5` | always on |\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Count(md, "| `legacy`") != 1 {
		t.Fatalf("a compat setting listed with the others:\n%s", md)
	}
}

func FuzzSet(f *testing.F) {
	for _, s := range []string{"1", "0", "1mb", "12h", "red", "", "-1", "9999999999999999999gb"} {
		f.Add(s)
	}
	tab := testTable()
	f.Fuzz(func(t *testing.T, text string) {
		for _, s := range tab.Settings() {
			if s.Compat {
				continue
			}
			o := testDefaults
			if err := s.Set(&o, text); err != nil {
				continue
			}
			// A value taken passes the checks and shows as text that
			// is taken again as the same value.
			if err := s.Check(&o); err != nil {
				t.Fatalf("%s took %q but fails its check: %v", s.Name, text, err)
			}
			again := testDefaults
			if err := s.Set(&again, s.Get(&o)); err != nil || s.Get(&again) != s.Get(&o) {
				t.Fatalf("%s: %q shows as %q, which reads back as %q (%v)", s.Name, text, s.Get(&o), s.Get(&again), err)
			}
		}
	})
}
