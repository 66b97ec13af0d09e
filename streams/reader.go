package streams

import (
	"unsafe"

	"github.com/foldb/foldb/eventlog"
)

// Reader reads views of a log. It holds nothing but the log: make one
// wherever it is needed.
//
// Costs, as the log's indexes give them (eventlog.ScanSubset): reading n
// entries of any view is a seek and n steps ($all), plus a point lookup or
// a step per entry for a stream, a category or a type; reading backwards
// costs about the same. A stream's position bounds are found by binary
// search over its versions. Len is O(1) for $all and a stream, and adds
// up the index of a category or a type (a step per run of consecutive
// positions in it, at most one per entry).
type Reader struct {
	log *eventlog.Log
}

// NewReader returns a reader of l.
func NewReader(l *eventlog.Log) *Reader { return &Reader{log: l} }

// Last is the newest position of the log: what "$" means in XREAD and
// XGROUP CREATE (any entry of any view after it is new).
func (r *Reader) Last() uint64 { return r.log.LastPosition() }

// subset is the part of the log a view reads; ok is false for KindNone.
func (v View) subset() (s eventlog.Subset, ok bool) {
	switch v.Kind {
	case KindAll:
		return eventlog.Subset{Kind: eventlog.SubsetAll}, true
	case KindStream:
		return eventlog.Subset{Kind: eventlog.SubsetStream, Name: v.Name}, true
	case KindCategory:
		return eventlog.Subset{Kind: eventlog.SubsetCategory, Name: v.Name}, true
	case KindType:
		return eventlog.Subset{Kind: eventlog.SubsetType, Name: v.Name}, true
	}
	return s, false
}

// Scan calls fn for up to count entries of the view (count <= 0: all)
// whose positions are in [from, to], in ascending order, or with rev in
// descending order starting at to. to == 0 means up to the newest. The
// event aliases the log's memory and is valid only during the call (copy
// what you keep); an error from fn stops the scan and is returned. Scan
// allocates nothing per entry.
func (r *Reader) Scan(v View, from, to uint64, count int, rev bool, fn func(e *eventlog.Event) error) error {
	s, ok := v.subset()
	if !ok {
		return nil
	}
	return r.log.ScanSubset(s, from, to, count, rev, fn)
}

// Range returns up to count entries of the view (count <= 0: all) whose
// positions are in [from, to], in ascending order, or with rev in
// descending order starting at to. to == 0 means up to the newest. The
// events are the caller's: they share a few allocations, not one each.
func (r *Reader) Range(v View, from, to uint64, count int, rev bool) ([]eventlog.Event, error) {
	var out []eventlog.Event
	if count > 0 {
		out = make([]eventlog.Event, 0, min(count, 4096))
	}
	var a arena
	err := r.Scan(v, from, to, count, rev, func(e *eventlog.Event) error {
		out = append(out, a.own(e))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Len counts the view's entries.
func (r *Reader) Len(v View) (uint64, error) {
	s, ok := v.subset()
	if !ok {
		return 0, nil
	}
	return r.log.CountSubset(s)
}

// FirstEntry is the position of the view's first entry, 0 when it has none.
func (r *Reader) FirstEntry(v View) (uint64, error) { return r.end(v, false) }

// LastEntry is the position of the view's last entry, 0 when it has none.
func (r *Reader) LastEntry(v View) (uint64, error) { return r.end(v, true) }

// Exists reports whether the view has an entry: a key that names a view
// with none reads as a missing Redis key (XINFO STREAM's "no such key").
func (r *Reader) Exists(v View) (bool, error) {
	pos, err := r.end(v, true)
	return pos > 0, err
}

func (r *Reader) end(v View, last bool) (uint64, error) {
	var pos uint64
	err := r.Scan(v, 1, 0, 1, last, func(e *eventlog.Event) error { pos = e.Position; return nil })
	return pos, err
}

// arena copies events out of the log's memory into shared chunks.
type arena struct{ buf []byte }

const arenaChunk = 64 << 10

// own returns a copy of e whose strings and bytes live in the arena. The
// type is kept as it is: a scan's types are strings of their own.
func (a *arena) own(e *eventlog.Event) eventlog.Event {
	c := *e
	c.Stream = a.string(e.Stream)
	c.ID = a.string(e.ID)
	c.Data = a.bytes(e.Data)
	if e.Meta != nil {
		c.Meta = a.bytes(e.Meta)
	}
	return c
}

func (a *arena) bytes(b []byte) []byte {
	if len(b) > cap(a.buf)-len(a.buf) {
		// A chunk that is given up stays alive as long as what was
		// copied into it.
		a.buf = make([]byte, 0, max(arenaChunk, len(b)))
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[start:len(a.buf):len(a.buf)]
}

func (a *arena) string(s string) string {
	if s == "" {
		return ""
	}
	b := a.bytes(unsafe.Slice(unsafe.StringData(s), len(s)))
	return unsafe.String(unsafe.SliceData(b), len(b))
}
