package settings

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Each kind below is a Value: it holds the accessor of its field (a
// function returning a pointer into the options) and its bounds.

// Int is an integer from min to max (math.MaxInt: no upper bound).
func Int[O any](field func(*O) *int, min, max int) Value[O] {
	return intKind[O]{field, min, max}
}

type intKind[O any] struct {
	field    func(*O) *int
	min, max int
}

func (k intKind[O]) get(o *O) string { return strconv.Itoa(*k.field(o)) }

func (k intKind[O]) set(o *O, text string) error {
	n, err := strconv.Atoi(text)
	if err != nil || n < k.min || n > k.max {
		return k.want()
	}
	*k.field(o) = n
	return nil
}

func (k intKind[O]) check(o *O) error {
	if n := *k.field(o); n < k.min || n > k.max {
		return k.want()
	}
	return nil
}

func (k intKind[O]) want() error {
	switch {
	case k.min == 1 && k.max == math.MaxInt:
		return &wantError{"a positive integer"}
	case k.max == math.MaxInt: // Redis's words for its numeric settings
		return &wantError{fmt.Sprintf("between %d and %d inclusive", k.min, k.max)}
	}
	return &wantError{fmt.Sprintf("an integer from %d to %d", k.min, k.max)}
}

func (intKind[O]) typeName() string          { return "int" }
func (intKind[O]) pretty(text string) string { return text }

// Count is a whole number, 0 or more.
func Count[O any](field func(*O) *uint64) Value[O] { return countKind[O]{field} }

type countKind[O any] struct{ field func(*O) *uint64 }

func (k countKind[O]) get(o *O) string { return strconv.FormatUint(*k.field(o), 10) }

func (k countKind[O]) set(o *O, text string) error {
	n, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return &wantError{"a whole number, 0 or more"}
	}
	*k.field(o) = n
	return nil
}

func (countKind[O]) check(*O) error            { return nil }
func (countKind[O]) typeName() string          { return "number" }
func (countKind[O]) pretty(text string) string { return text }

// Bytes is a size in bytes, at least min. Its text is a number of bytes
// or one with Redis's units: k (1000), kb (1024), m, mb, g, gb, in any
// case. CONFIG GET shows the number of bytes, as Redis does.
func Bytes[O any, T int | int64](field func(*O) *T, min T) Value[O] {
	return bytesKind[O, T]{field, int64(min)}
}

type bytesKind[O any, T int | int64] struct {
	field func(*O) *T
	min   int64
}

// byteUnits are Redis's units of size (memtoll), the binary ones first:
// "kb" must be cut before "b".
var byteUnits = []struct {
	suffix string
	n      int64
}{
	{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10},
	{"g", 1e9}, {"m", 1e6}, {"k", 1e3}, {"b", 1},
}

// ParseBytes reads a size as Bytes does; ok is false when it is not one
// (negative, too large, or with an unknown unit).
func ParseBytes(text string) (n int64, ok bool) {
	num, mul := strings.ToLower(text), int64(1)
	for _, u := range byteUnits {
		if s, found := strings.CutSuffix(num, u.suffix); found {
			num, mul = s, u.n
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || v > math.MaxInt64/mul {
		return 0, false
	}
	return v * mul, true
}

func (k bytesKind[O, T]) get(o *O) string { return strconv.FormatInt(int64(*k.field(o)), 10) }

func (k bytesKind[O, T]) set(o *O, text string) error {
	n, ok := ParseBytes(text)
	if !ok || n < k.min || int64(T(n)) != n {
		return k.want()
	}
	*k.field(o) = T(n)
	return nil
}

func (k bytesKind[O, T]) check(o *O) error {
	if int64(*k.field(o)) < k.min {
		return k.want()
	}
	return nil
}

func (k bytesKind[O, T]) want() error {
	w := "a size in bytes such as 1048576 or 1mb"
	if k.min > 0 {
		w += ", at least " + prettyBytes(k.min)
	}
	return &wantError{w}
}

func (bytesKind[O, T]) typeName() string { return "bytes" }

func (bytesKind[O, T]) pretty(text string) string {
	if n, ok := ParseBytes(text); ok {
		return prettyBytes(n)
	}
	return text
}

// prettyBytes writes whole gigabytes, megabytes or kilobytes with their
// unit, anything else as bytes.
func prettyBytes(n int64) string {
	for _, u := range byteUnits[:3] {
		if n > 0 && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// Seconds is a duration given as a whole number of seconds, 0 or more, as
// Redis's timeout is.
func Seconds[O any](field func(*O) *time.Duration) Value[O] { return secondsKind[O]{field} }

type secondsKind[O any] struct{ field func(*O) *time.Duration }

var errSeconds = &wantError{"a whole number of seconds, 0 or more"}

func (k secondsKind[O]) get(o *O) string {
	return strconv.FormatInt(int64(*k.field(o)/time.Second), 10)
}

func (k secondsKind[O]) set(o *O, text string) error {
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n < 0 || n > int64(math.MaxInt64/time.Second) {
		return errSeconds
	}
	*k.field(o) = time.Duration(n) * time.Second
	return nil
}

func (k secondsKind[O]) check(o *O) error {
	// A fraction of a second is left to those who set the field directly
	// (tests); its text shows the whole seconds.
	if *k.field(o) < 0 {
		return errSeconds
	}
	return nil
}

func (secondsKind[O]) typeName() string          { return "seconds" }
func (secondsKind[O]) pretty(text string) string { return text }

// Duration is a Go duration (90s, 1h30m, 12h), 0 or more.
func Duration[O any](field func(*O) *time.Duration) Value[O] { return durationKind[O]{field} }

type durationKind[O any] struct{ field func(*O) *time.Duration }

var errDuration = &wantError{"a duration such as 90s or 12h, 0 or more"}

func (k durationKind[O]) get(o *O) string { return shortDuration(*k.field(o)) }

func (k durationKind[O]) set(o *O, text string) error {
	d, err := time.ParseDuration(text)
	if err != nil || d < 0 {
		return errDuration
	}
	*k.field(o) = d
	return nil
}

func (k durationKind[O]) check(o *O) error {
	if *k.field(o) < 0 {
		return errDuration
	}
	return nil
}

func (durationKind[O]) typeName() string          { return "duration" }
func (durationKind[O]) pretty(text string) string { return text }

// shortDuration is d.String() without its zero minutes and seconds: 12h,
// not 12h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// String is any text; with required, not empty.
func String[O any](field func(*O) *string, required bool) Value[O] {
	return stringKind[O]{field, required}
}

type stringKind[O any] struct {
	field    func(*O) *string
	required bool
}

var errEmpty = &wantError{"a non-empty string"}

func (k stringKind[O]) get(o *O) string { return *k.field(o) }

func (k stringKind[O]) set(o *O, text string) error {
	if k.required && text == "" {
		return errEmpty
	}
	*k.field(o) = text
	return nil
}

func (k stringKind[O]) check(o *O) error {
	if k.required && *k.field(o) == "" {
		return errEmpty
	}
	return nil
}

func (stringKind[O]) typeName() string          { return "string" }
func (stringKind[O]) pretty(text string) string { return text }

// Enum is one of a few names. parse may accept more spellings than names
// (durability takes Redis's "no" for none); format must give one of names.
func Enum[O any, T any](field func(*O) *T, parse func(string) (T, error), format func(T) string, names ...string) Value[O] {
	return enumKind[O, T]{field, parse, format, names}
}

type enumKind[O any, T any] struct {
	field  func(*O) *T
	parse  func(string) (T, error)
	format func(T) string
	names  []string
}

func (k enumKind[O, T]) get(o *O) string { return k.format(*k.field(o)) }

func (k enumKind[O, T]) set(o *O, text string) error {
	v, err := k.parse(text)
	if err != nil || !slices.Contains(k.names, k.format(v)) {
		return k.want()
	}
	*k.field(o) = v
	return nil
}

func (k enumKind[O, T]) check(o *O) error {
	if !slices.Contains(k.names, k.get(o)) {
		return k.want()
	}
	return nil
}

func (k enumKind[O, T]) want() error {
	return &wantError{"one of " + strings.Join(k.names, ", ")}
}

func (k enumKind[O, T]) typeName() string        { return strings.Join(k.names, "|") }
func (enumKind[O, T]) pretty(text string) string { return text }

// Derived is a compat setting's value, computed from the options.
func Derived[O any](get func(*O) string) Value[O] { return derivedKind[O]{get} }

type derivedKind[O any] struct{ fn func(*O) string }

func (k derivedKind[O]) get(o *O) string         { return k.fn(o) }
func (derivedKind[O]) set(*O, string) error      { return &wantError{"left alone: it cannot be set"} }
func (derivedKind[O]) check(*O) error            { return nil }
func (derivedKind[O]) typeName() string          { return "" }
func (derivedKind[O]) pretty(text string) string { return text }
