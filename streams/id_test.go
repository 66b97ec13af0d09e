package streams

import (
	"errors"
	"math"
	"strings"
	"testing"
)

const max64 = math.MaxUint64

func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		in         string
		missingSeq uint64
		want       ID
		ok         bool
	}{
		{"0", 0, ID{0, 0}, true},
		{"5", 0, ID{5, 0}, true},
		{"5", max64, ID{5, max64}, true},
		{"5-3", max64, ID{5, 3}, true},
		{"0-0", 0, ID{}, true},
		{"18446744073709551615-18446744073709551615", 0, MaxID, true},
		{"18446744073709551616", 0, ID{}, false}, // overflow
		{"1-18446744073709551616", 0, ID{}, false},
		// As Redis reads numbers (string2ull falls back on strtoull).
		{"012", 0, ID{12, 0}, true},
		{" 12", 0, ID{12, 0}, true},
		{"\t12", 0, ID{12, 0}, true},
		{"+12", 0, ID{12, 0}, true},
		{"1- 2", 0, ID{1, 2}, true},
		{"1--2", 0, ID{}, false},             // "-2" is a negative number
		{"1- -2", 0, ID{1, max64 - 1}, true}, // strtoull negates modulo 2^64
		{"1--0", 0, ID{1, 0}, true},          // "-0" is not string2ll's, strtoull reads 0
		{"1-+-2", 0, ID{}, false},            // one sign only
		{"12 ", 0, ID{}, false},              // trailing space
		{"1x", 0, ID{}, false},               //
		{"", 0, ID{}, false},                 //
		{"-", 0, ID{}, false},                // strict
		{"+", 0, ID{}, false},                // strict
		{"-5", 0, ID{}, false},               // empty ms
		{"5-", 0, ID{}, false},               // empty seq
		{"5-*", 0, ID{}, false},              // XADD's form only
		{"1-2-3", 0, ID{}, false},            // "2-3" is no number
		{"7\x00junk", 0, ID{7, 0}, true},     // a C string ends at NUL
		{"-\x00", 0, ID{}, false},            // "-" in C
		{strings.Repeat("0", 126) + "1", 0, ID{1, 0}, true},
		{strings.Repeat("0", 127) + "1", 0, ID{}, false}, // longer than Redis's buffer
	} {
		got, err := ParseID(tc.in, tc.missingSeq)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseID(%q, %d) = %v, %v; want %v (ok %v)", tc.in, tc.missingSeq, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidID) {
			t.Errorf("ParseID(%q): error %v is not ErrInvalidID", tc.in, err)
		}
	}
}

func TestParseRangeID(t *testing.T) {
	for _, tc := range []struct {
		in         string
		missingSeq uint64
		want       ID
		exclusive  bool
		ok         bool
	}{
		{"-", 0, ID{}, false, true},
		{"+", 0, MaxID, false, true},
		{"3", max64, ID{3, max64}, false, true},
		{"(3", 0, ID{3, 0}, true, true},
		{"(3-1", 0, ID{3, 1}, true, true},
		{"(-", 0, ID{}, true, false},
		{"(+", 0, ID{}, true, false},
		{"(", 0, ID{}, false, false},
		{"((3", 0, ID{}, true, false},
		{"x", 0, ID{}, false, false},
	} {
		got, ex, err := ParseRangeID(tc.in, tc.missingSeq)
		if (err == nil) != tc.ok || (tc.ok && (got != tc.want || ex != tc.exclusive)) {
			t.Errorf("ParseRangeID(%q) = %v, %v, %v; want %v, %v (ok %v)", tc.in, got, ex, err, tc.want, tc.exclusive, tc.ok)
		}
	}
}

func TestIDOrder(t *testing.T) {
	for _, tc := range []struct {
		id, next ID
		ok       bool
	}{
		{ID{0, 0}, ID{0, 1}, true},
		{ID{1, max64}, ID{2, 0}, true},
		{MaxID, MaxID, false},
	} {
		if got, ok := tc.id.Next(); got != tc.next || ok != tc.ok {
			t.Errorf("%v.Next() = %v, %v", tc.id, got, ok)
		}
		if tc.ok {
			if got, ok := tc.next.Prev(); got != tc.id || !ok {
				t.Errorf("%v.Prev() = %v, %v", tc.next, got, ok)
			}
			if !tc.id.Less(tc.next) || tc.next.Less(tc.id) {
				t.Errorf("Less(%v, %v)", tc.id, tc.next)
			}
		}
	}
	if _, ok := (ID{}).Prev(); ok {
		t.Error("0-0 has a Prev")
	}
	if s := (ID{12, 3}).String(); s != "12-3" {
		t.Errorf("String: %s", s)
	}
	if s := string(EntryID(42).AppendTo([]byte("x"))); s != "x42-0" {
		t.Errorf("AppendTo: %s", s)
	}
}

func TestPositions(t *testing.T) {
	for _, tc := range []struct {
		start, end ID
		from, to   uint64
		ok         bool
	}{
		{ID{}, MaxID, 1, max64, true},
		{ID{5, 0}, ID{5, 0}, 5, 5, true},
		{ID{5, 1}, ID{6, 0}, 6, 6, true}, // 5-1 is past entry 5-0
		{ID{5, 1}, ID{5, max64}, 6, 5, false},
		{ID{0, 0}, ID{0, max64}, 1, 0, false}, // no entry has position 0
		{ID{3, 0}, ID{2, 9}, 3, 2, false},
		{ID{max64, 1}, MaxID, 0, 0, false},
		{ID{max64, 0}, MaxID, max64, max64, true},
	} {
		from, to, ok := Positions(tc.start, tc.end)
		if ok != tc.ok || (ok && (from != tc.from || to != tc.to)) {
			t.Errorf("Positions(%v, %v) = %d, %d, %v; want %d, %d, %v", tc.start, tc.end, from, to, ok, tc.from, tc.to, tc.ok)
		}
	}
	for _, tc := range []struct {
		id   ID
		from uint64
		ok   bool
	}{{ID{}, 1, true}, {ID{4, 0}, 5, true}, {ID{4, 7}, 5, true}, {ID{max64, 0}, 0, false}} {
		if from, ok := After(tc.id); from != tc.from || ok != tc.ok {
			t.Errorf("After(%v) = %d, %v", tc.id, from, ok)
		}
	}
}

// FuzzParseID: whatever the input, ParseID does not panic, and an ID it
// writes reads back as itself.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"0", "1-2", "(5", "-", "+", " +7", "18446744073709551615-0", "1- -2", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s, 0)
		if err != nil {
			return
		}
		back, err := ParseID(id.String(), 0)
		if err != nil || back != id {
			t.Fatalf("%q read as %v, whose text reads back as %v, %v", s, id, back, err)
		}
		if r, ex, err := ParseRangeID(s, 0); err != nil || ex || r != id {
			t.Fatalf("ParseRangeID(%q) = %v, %v, %v; ParseID gave %v", s, r, ex, err, id)
		}
	})
}
