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

// EntryID is the ID of the entry at a position.
func EntryID(pos uint64) ID { return ID{Ms: pos} }

// ParseID parses "<ms>-<seq>" or "<ms>"; a missing seq is missingSeq (0 for
// a range's start, MaxUint64 for its end, as Redis does).
func ParseID(s string, missingSeq uint64) (ID, error) {
	ms, seq, found := strings.Cut(s, "-")
	m, err := strconv.ParseUint(ms, 10, 64)
	if err != nil {
		return ID{}, ErrInvalidID
	}
	if !found {
		return ID{m, missingSeq}, nil
	}
	q, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return ID{}, ErrInvalidID
	}
	return ID{m, q}, nil
}

// Less orders IDs.
func (id ID) Less(o ID) bool { return id.Ms < o.Ms || (id.Ms == o.Ms && id.Seq < o.Seq) }
