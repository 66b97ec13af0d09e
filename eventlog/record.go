package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"
)

// Key prefixes; see doc.go. They only grow.
const (
	prefixEvent = 'e'
	prefixIndex = 's'
	// prefixVersion1 held each stream's version in format 1; the upgrade
	// to format 2 deletes those keys.
	prefixVersion1 = 'v'
	prefixIDem     = 'i'
	prefixMeta     = 'm'
	// prefixOp holds what ops store (op.go): consumer groups.
	prefixOp = 'g'
)

// Record layouts (doc.go): format 2 is format 1 followed by the event's
// TypeVersion, written only when it is above 1.
const (
	recordFormat1 = 1
	recordFormat2 = 2
)

// formatVersion is the data directory's format, stored under meta "format".
// Format 2 keeps the newest events in the journal (journal.go), not in
// Pebble's WAL, and no longer keeps a stream's version under a key of its
// own ('v'): a foldb that reads only format 1 would miss both, so it must
// refuse the directory. Format 3 adds the category and type indexes ('c',
// 't'; view.go): a foldb that reads only format 2 would append events
// without them, so it must refuse the directory too. Format 4 adds record
// format 2 (an event's TypeVersion), which a foldb that reads only format 3
// would take for corruption. An older directory is upgraded when opened
// (Log.upgrade); from 3 to 4 only the marker changes.
const formatVersion = 4

// ErrCorruptRecord is wrapped by decode errors.
var ErrCorruptRecord = errors.New("eventlog: corrupt record")

func eventKey(dst []byte, pos uint64) []byte {
	dst = append(dst, prefixEvent)
	return binary.BigEndian.AppendUint64(dst, pos)
}

func indexPrefix(dst []byte, stream string) []byte {
	dst = append(dst, prefixIndex)
	dst = binary.AppendUvarint(dst, uint64(len(stream)))
	return append(dst, stream...)
}

func indexKey(dst []byte, stream string, version uint64) []byte {
	return binary.BigEndian.AppendUint64(indexPrefix(dst, stream), version)
}

func idemKey(dst []byte, stream, id string) []byte {
	dst = append(dst, prefixIDem)
	dst = binary.AppendUvarint(dst, uint64(len(stream)))
	dst = append(dst, stream...)
	return append(dst, id...)
}

func metaKey(name string) []byte { return append([]byte{prefixMeta}, name...) }

// AppendRecord appends e's record to dst: format 2 when e has a
// TypeVersion, format 1 otherwise. Position is not part of the record: it
// is the key.
func AppendRecord(dst []byte, e *Event) []byte {
	if e.TypeVersion > 1 {
		dst = append(dst, recordFormat2)
	} else {
		dst = append(dst, recordFormat1)
	}
	dst = appendString(dst, e.Stream)
	dst = binary.AppendUvarint(dst, e.Version)
	dst = binary.AppendUvarint(dst, uint64(e.Time))
	dst = appendString(dst, e.Type)
	dst = appendBytes(dst, e.Data)
	dst = appendBytes(dst, e.Meta)
	dst = appendString(dst, e.ID)
	if e.TypeVersion > 1 {
		dst = binary.AppendUvarint(dst, uint64(e.TypeVersion))
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst []byte, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// DecodeRecord decodes a record into e, which gets position pos. Data and
// Meta alias rec; Stream, Type and ID are copied.
func DecodeRecord(rec []byte, pos uint64, e *Event) error { return decodeRecord(rec, pos, e, nil) }

// views makes a scan's strings without copying: the stream and id alias the
// record, and event types, which are few, are interned. A log holds runs
// of a few types, so the types met last are compared before the map is
// hashed.
type views struct {
	types  map[string]string
	recent [4]string
	next   int
}

func (v *views) typ(b []byte) string {
	for _, t := range v.recent {
		if t == string(b) {
			return t
		}
	}
	t, ok := v.types[string(b)]
	if !ok {
		t = string(b)
		if len(v.types) < 4096 {
			v.types[t] = t
		}
	}
	v.recent[v.next] = t
	v.next = (v.next + 1) % len(v.recent)
	return t
}

// decodeRecord decodes a record; with v, its strings are views (see views).
func decodeRecord(rec []byte, pos uint64, e *Event, v *views) error {
	d := decoder{b: rec}
	if len(rec) == 0 {
		return fmt.Errorf("%w at position %d: empty", ErrCorruptRecord, pos)
	}
	format := rec[0]
	if format != recordFormat1 && format != recordFormat2 {
		return fmt.Errorf("%w at position %d: unknown record format %d", ErrCorruptRecord, pos, rec[0])
	}
	d.b = d.b[1:]
	e.Position = pos
	stream := d.bytes()
	e.Version = d.uvarint()
	e.Time = int64(d.uvarint())
	typ := d.bytes()
	e.Data = d.bytes()
	e.Meta = d.bytes()
	id := d.bytes()
	e.TypeVersion = 0
	if format == recordFormat2 {
		tv := d.uvarint()
		if tv > math.MaxUint32 && d.err == nil {
			d.err = fmt.Errorf("type version %d out of range", tv)
		}
		e.TypeVersion = uint32(tv)
	}
	if v != nil {
		e.Stream, e.Type, e.ID = unsafe.String(unsafe.SliceData(stream), len(stream)), v.typ(typ), unsafe.String(unsafe.SliceData(id), len(id))
	} else {
		e.Stream, e.Type, e.ID = string(stream), string(typ), string(id)
	}
	if d.err != nil {
		return fmt.Errorf("%w at position %d: %v", ErrCorruptRecord, pos, d.err)
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w at position %d: %d trailing bytes", ErrCorruptRecord, pos, len(d.b))
	}
	if len(e.Meta) == 0 {
		e.Meta = nil
	}
	return nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("length %d past the end (%d left)", n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
