package state

import (
	"bytes"
	"strconv"

	"github.com/tidwall/gjson"
)

// A small scanner over the top-level members of a JSON object that the
// server already validated. Unlike gjson it never parses values it only
// skips (gjson turns every number into a float64 on the way), which makes
// folding an event several times cheaper.

// members walks the top-level members of a JSON object: next returns each
// member's key as written (quotes included) and its raw value, then false.
// obj must be valid JSON; anything else yields no members. A walk is a
// value on the stack, with no callback per member.
type members struct {
	obj []byte
	i   int // where the next member starts; -1 at the end
}

func scanMembers(obj []byte) members {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return members{i: -1}
	}
	return members{obj: obj, i: i + 1}
}

func (m *members) next() (rawKey, val []byte, ok bool) {
	obj, i := m.obj, m.i
	if i < 0 {
		return nil, nil, false
	}
	m.i = -1
	i = skipSpace(obj, i)
	if i >= len(obj) || obj[i] != '"' {
		return nil, nil, false
	}
	ks := i
	i = skipString(obj, i)
	rawKey = obj[ks:i]
	i = skipSpace(obj, i)
	if i >= len(obj) || obj[i] != ':' {
		return nil, nil, false
	}
	i = skipSpace(obj, i+1)
	vs := i
	i = skipValue(obj, i)
	if i > len(obj) || vs == i {
		return nil, nil, false
	}
	val = obj[vs:i]
	if i = skipSpace(obj, i); i < len(obj) && obj[i] == ',' {
		m.i = i + 1
	}
	return rawKey, val, true
}

func skipSpace(b []byte, i int) int {
	// JSON's spaces are all at most ' ', the bytes of compact JSON between
	// tokens never are: one comparison settles the common case.
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// shortString is how many bytes of a string skipString reads one by one
// before it looks for the closing quote with IndexByte.
const shortString = 16

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	i++
	// Keys and most values are short: a byte loop finds their end before
	// IndexByte would have set up its wide compares.
	for end := min(len(b), i+shortString); i < end; i++ {
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			i++ // the escaped byte is never the end
		}
	}
	for i < len(b) {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b)
		}
		i += q
		// The quote ends the string unless an odd number of backslashes
		// escapes it.
		n := 0
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i
		}
	}
	return len(b)
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// keyIs reports whether a raw key (with quotes) names name.
func keyIs(rawKey []byte, name string) bool {
	if len(rawKey) <= len(name)+2 {
		// An escape spells fewer bytes than it takes: a key written with
		// one is longer than the name it spells, so at this length only a
		// plain key can be the name.
		return len(rawKey) == len(name)+2 && string(rawKey[1:len(rawKey)-1]) == name
	}
	if bytes.IndexByte(rawKey, '\\') < 0 {
		return false
	}
	return gjson.ParseBytes(rawKey).Str == name
}

// member returns the raw value of a top-level member, or nil.
func member(obj []byte, name string) []byte {
	for m := scanMembers(obj); ; {
		k, v, ok := m.next()
		if !ok {
			return nil
		}
		if keyIs(k, name) {
			return v
		}
	}
}

// rawValue turns a raw JSON value into what expressions work with (see
// toValue), without gjson for the common scalars.
func rawValue(v []byte) any {
	if len(v) == 0 {
		return nil
	}
	switch c := v[0]; {
	case c == '"':
		if bytes.IndexByte(v, '\\') < 0 {
			return string(v[1 : len(v)-1])
		}
	case c == 't':
		return true
	case c == 'f':
		return false
	case c == 'n':
		return nil
	case c == '-' || (c >= '0' && c <= '9'):
		if n, ok := intValue(v); ok {
			return n
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err == nil {
			return f
		}
	}
	return toValue(gjson.ParseBytes(v))
}

// numberOf reads a raw JSON number as a float64, as SUM and AVG add them
// up (rawValue's int or float64, without boxing it); ok is false for any
// other value.
func numberOf(v []byte) (f float64, ok bool) {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, false
	}
	if n, ok := intValue(v); ok {
		return float64(n), true
	}
	f, err := strconv.ParseFloat(bytesView(v), 64)
	return f, err == nil
}

// membersOf finds several top-level members in one pass over an object:
// out[i] is the raw value of names[i] (the first one, as member gives),
// nil when it is missing. It stops once it found them all.
func membersOf(obj []byte, names []string, out [][]byte) {
	clear(out)
	left := len(names)
	for m := scanMembers(obj); left > 0; {
		k, v, ok := m.next()
		if !ok {
			return
		}
		for i, n := range names {
			if out[i] == nil && keyIs(k, n) {
				out[i] = v
				left--
				break
			}
		}
	}
}

// intValue reads a raw JSON value that expressions see as an int: an
// integral number literal that fits.
func intValue(v []byte) (int, bool) {
	digits := v
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) > 0 && len(digits) <= 18 {
		// 18 digits cannot overflow: no need for ParseInt.
		n := 0
		for _, c := range digits {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		if len(digits) < len(v) {
			n = -n
		}
		return n, true
	}
	if !isIntLiteral(string(v)) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	return int(n), err == nil
}
