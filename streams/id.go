package streams

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// ID is a Redis stream entry ID, <ms>-<seq>. An entry of the log has the ID
// <position>-0.
type ID struct{ Ms, Seq uint64 }

// MaxID is "+": the greatest ID.
var MaxID = ID{math.MaxUint64, math.MaxUint64}

// ErrInvalidID is Redis's "Invalid stream ID specified as stream command argument".
var ErrInvalidID = errors.New("streams: invalid stream ID")

func (id ID) String() string {
	return strconv.FormatUint(id.Ms, 10) + "-" + strconv.FormatUint(id.Seq, 10)
}

// AppendTo appends the ID's text to dst.
func (id ID) AppendTo(dst []byte) []byte {
	dst = strconv.AppendUint(dst, id.Ms, 10)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, id.Seq, 10)
}

// EntryID is the ID of the entry at a position.
func EntryID(pos uint64) ID { return ID{Ms: pos} }

// maxIDLen is the longest ID text Redis parses (its 128-byte buffer).
const maxIDLen = 127

// ParseID parses "<ms>-<seq>" or "<ms>"; a missing seq is missingSeq (0 for
// a range's start, MaxUint64 for its end, as Redis does). It is Redis's
// strict parse (streamParseStrictIDOrReply): "-" and "+" are not IDs here,
// and each number is read as Redis reads it, so " 12", "+12" and "012"
// are 12.
func ParseID(s string, missingSeq uint64) (ID, error) {
	return parseID(s, missingSeq, true)
}

// ParseRangeID parses a bound of a range, as XRANGE and XPENDING take it:
// "-" (the least ID), "+" (the greatest), an ID, or "(" and an ID for an
// exclusive bound (then "-" and "+" are refused, as Redis does).
func ParseRangeID(s string, missingSeq uint64) (id ID, exclusive bool, err error) {
	if len(s) > 1 && s[0] == '(' {
		id, err = parseID(s[1:], missingSeq, true)
		return id, true, err
	}
	id, err = parseID(s, missingSeq, false)
	return id, false, err
}

// parseID is Redis's streamGenericParseIDOrReply; strict refuses "-" and
// "+".
func parseID(s string, missingSeq uint64, strict bool) (ID, error) {
	if len(s) > maxIDLen {
		return ID{}, ErrInvalidID
	}
	// Redis reads the argument as a C string: it ends at a NUL byte.
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	switch {
	case strict && (s == "-" || s == "+"):
		return ID{}, ErrInvalidID
	case s == "-":
		return ID{}, nil
	case s == "+":
		return MaxID, nil
	}
	ms, seq, found := strings.Cut(s, "-")
	m, ok := parseULL(ms)
	if !ok {
		return ID{}, ErrInvalidID
	}
	if !found {
		return ID{m, missingSeq}, nil
	}
	q, ok := parseULL(seq)
	if !ok {
		return ID{}, ErrInvalidID
	}
	return ID{m, q}, nil
}

// parseULL reads a number as Redis's string2ull does: a plain decimal
// that fits an int64 must not be negative; anything else is read by C's
// strtoull, which skips leading white space, takes a sign (a minus sign
// negates modulo 2^64) and refuses overflow and trailing bytes.
func parseULL(s string) (uint64, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && canonicalInt(s) {
		return uint64(n), n >= 0
	}
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] >= '\t' && s[i] <= '\r') {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	if i == len(s) {
		return 0, false
	}
	n, err := strconv.ParseUint(s[i:], 10, 64)
	if err != nil || s[i] == '+' {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// canonicalInt reports whether s is written as Redis's string2ll reads a
// number: an optional minus, then no leading zero (but "0" itself).
func canonicalInt(s string) bool {
	d := strings.TrimPrefix(s, "-")
	return d != "" && (d[0] != '0' || d == "0" && len(s) == 1)
}

// Less orders IDs.
func (id ID) Less(o ID) bool { return id.Ms < o.Ms || (id.Ms == o.Ms && id.Seq < o.Seq) }

// Next is the least ID greater than id; ok is false for MaxID.
func (id ID) Next() (next ID, ok bool) {
	switch {
	case id.Seq < math.MaxUint64:
		return ID{id.Ms, id.Seq + 1}, true
	case id.Ms < math.MaxUint64:
		return ID{id.Ms + 1, 0}, true
	}
	return id, false
}

// Prev is the greatest ID less than id; ok is false for 0-0.
func (id ID) Prev() (prev ID, ok bool) {
	switch {
	case id.Seq > 0:
		return ID{id.Ms, id.Seq - 1}, true
	case id.Ms > 0:
		return ID{id.Ms - 1, math.MaxUint64}, true
	}
	return id, false
}

// Positions returns the positions of the entries whose IDs lie in
// [start, end]: from..to, with ok false when no entry can (an entry's ID
// is <position>-0 and positions start at 1).
func Positions(start, end ID) (from, to uint64, ok bool) {
	from = start.Ms
	if start.Seq > 0 {
		if from == math.MaxUint64 {
			return 0, 0, false
		}
		from++
	}
	from, to = max(from, 1), end.Ms
	return from, to, from <= to
}

// After is the first position of the entries with IDs greater than id
// (XREAD's "after this ID"); ok is false when there can be none.
func After(id ID) (from uint64, ok bool) {
	if id.Ms == math.MaxUint64 {
		return 0, false
	}
	return id.Ms + 1, true
}
