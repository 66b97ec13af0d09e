package eventlog

import (
	"errors"
	"fmt"
	"strconv"
)

// Event is one stored fact.
type Event struct {
	Position uint64
	Stream   string
	Version  uint64
	Type     string
	Data     []byte // a JSON object
	Meta     []byte // a JSON object, or nil
	ID       string // the client's idempotency ID, or ""
	Time     int64  // unix milliseconds, server clock at commit
	// TypeVersion is the version of its type's declared shape the event
	// was written under, set by the applier's Stage; 0 stands for 1, the
	// version of an event whose type declared none.
	TypeVersion uint32
}

// ShapeVersion is the version of its type's shape the event was written
// under: TypeVersion, or 1 when it is 0.
func (e *Event) ShapeVersion() int {
	if e.TypeVersion == 0 {
		return 1
	}
	return int(e.TypeVersion)
}

// Category is the part of the stream name before the first ':'.
func (e *Event) Category() string { c, _ := SplitStream(e.Stream); return c }

// SplitStream splits "<category>:<id>" at its first ':'.
func SplitStream(stream string) (category, id string) {
	for i := 0; i < len(stream); i++ {
		if stream[i] == ':' {
			return stream[:i], stream[i+1:]
		}
	}
	return stream, ""
}

// Proposed is an event as a client hands it in.
type Proposed struct {
	Type string
	Data []byte
}

// ExpectKind is what an append expects of its stream's current version.
type ExpectKind uint8

const (
	ExpectAny     ExpectKind = iota // whatever the version
	ExpectVersion                   // exactly Expect.Version (0: the stream must not exist)
	ExpectNew                       // the stream must not exist
	ExpectExists                    // the stream must exist
)

// Expect is an append's optimistic-concurrency condition.
type Expect struct {
	Kind    ExpectKind
	Version uint64
}

func (e Expect) String() string {
	switch e.Kind {
	case ExpectVersion:
		return strconv.FormatUint(e.Version, 10)
	case ExpectNew:
		return "NEW"
	case ExpectExists:
		return "EXISTS"
	}
	return "ANY"
}

func (e Expect) allows(current uint64) bool {
	switch e.Kind {
	case ExpectVersion:
		return current == e.Version
	case ExpectNew:
		return current == 0
	case ExpectExists:
		return current > 0
	}
	return true
}

// Append is one client call: events for one stream, appended atomically.
// The log fills in Result.
type Append struct {
	Stream string
	Expect Expect
	ID     string // idempotency ID: the same ID again in the same stream returns the first result
	Meta   []byte // a JSON object stored with every event of the append, or nil
	Events []Proposed

	Result Result
}

// Result is what an append did.
type Result struct {
	Version   uint64 // the stream's version after the append's last event
	Position  uint64 // the position of the append's last event
	Duplicate bool   // the ID was seen before: nothing was written, the first result is returned
	Err       error
}

var (
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("eventlog: closed")
	// ErrFailed is wrapped by every append after a commit failed.
	ErrFailed = errors.New("eventlog: log write failed; writes are refused until restart")
	// ErrNewerFormat is returned by Open for a directory written by a newer foldb.
	ErrNewerFormat = errors.New("eventlog: data directory has a newer format")
)

// WrongVersionError says that an append's EXPECT did not hold; nothing was written.
type WrongVersionError struct {
	Stream   string
	Expected Expect
	Actual   uint64
}

func (e *WrongVersionError) Error() string { return "eventlog: wrong version: " + e.Detail() }

// Detail is the message without the package prefix.
func (e *WrongVersionError) Detail() string {
	switch e.Expected.Kind {
	case ExpectExists:
		return fmt.Sprintf("expected an existing stream but %s does not exist", e.Stream)
	case ExpectNew:
		return fmt.Sprintf("expected a new stream but %s is at version %d", e.Stream, e.Actual)
	}
	return fmt.Sprintf("expected %s but %s is at version %d", e.Expected, e.Stream, e.Actual)
}

// InvalidError says that an append was refused for its content; nothing was written.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return "eventlog: " + e.Msg }

func invalid(format string, args ...any) error {
	return &InvalidError{Msg: fmt.Sprintf(format, args...)}
}
