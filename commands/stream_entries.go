package commands

import (
	"strconv"
	"sync"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/state"
	"github.com/foldb/foldb/streams"
)

// --- entries in replies ---

// entries collects the entries of a reply, encoded, so that the array's
// length can be written before them. An entry is the same in RESP2 and
// RESP3: [id, [stream, s, version, v, type, t, data, d, meta, m, id, i,
// time, t]], every value a bulk string.
type entries struct {
	b    []byte
	n    int
	last uint64 // position of the last entry added
	// up upcasts events written under an older version of their type
	// (nil: none, or RAW); raw also adds the version they were written
	// under.
	up  *state.Upcaster
	raw bool
}

var entriesPool = sync.Pool{New: func() any { return new(entries) }}

// getEntries returns an empty collection whose entries are the events as
// the schema in force declares them (upcast).
func getEntries(c *Ctx) *entries {
	eb := entriesPool.Get().(*entries)
	eb.up = c.Env.State.Upcaster()
	return eb
}

// getRawEntries returns an empty collection whose entries are the events
// as stored (RAW).
func getRawEntries() *entries {
	eb := entriesPool.Get().(*entries)
	eb.raw = true
	return eb
}

// release returns the buffer to the pool; a big one is let go.
func (eb *entries) release() {
	if cap(eb.b) > 4<<20 {
		eb.b = nil
	}
	eb.reset()
	entriesPool.Put(eb)
}

func (eb *entries) reset() { eb.b, eb.n, eb.last, eb.up, eb.raw = eb.b[:0], 0, 0, nil, false }

func (eb *entries) add(e *eventlog.Event) error {
	e, err := eb.up.Upcast(e)
	if err != nil {
		return err
	}
	eb.b = appendEntry(eb.b, e, eb.raw)
	eb.n++
	eb.last = e.Position
	return nil
}

// write writes the n entries encoded in b[start:end] as an array.
func (eb *entries) write(c *Ctx, start, end, n int) {
	c.W.Array(n)
	c.W.Raw(eb.b[start:end])
}

// appendEntry appends an event's entry; raw adds "typeversion", the
// version of its type's shape the event was written under.
func appendEntry(b []byte, e *eventlog.Event, raw bool) []byte {
	var num [24]byte
	b = append(b, "*2\r\n"...)
	b = appendBulk(b, streams.EntryID(e.Position).AppendTo(num[:0]))
	if raw {
		b = append(b, "*16\r\n"...)
	} else {
		b = append(b, "*14\r\n"...)
	}
	b = append(b, "$6\r\nstream\r\n"...)
	b = appendBulkString(b, e.Stream)
	b = append(b, "$7\r\nversion\r\n"...)
	b = appendBulk(b, strconv.AppendUint(num[:0], e.Version, 10))
	b = append(b, "$4\r\ntype\r\n"...)
	b = appendBulkString(b, e.Type)
	b = append(b, "$4\r\ndata\r\n"...)
	b = appendBulk(b, e.Data)
	b = append(b, "$4\r\nmeta\r\n"...)
	if e.Meta == nil {
		b = append(b, "$2\r\n{}\r\n"...)
	} else {
		b = appendBulk(b, e.Meta)
	}
	b = append(b, "$2\r\nid\r\n"...)
	b = appendBulkString(b, e.ID)
	b = append(b, "$4\r\ntime\r\n"...)
	b = appendBulk(b, strconv.AppendInt(num[:0], e.Time, 10))
	if raw {
		b = append(b, "$11\r\ntypeversion\r\n"...)
		b = appendBulk(b, strconv.AppendInt(num[:0], int64(e.ShapeVersion()), 10))
	}
	return b
}

func appendBulk(b, v []byte) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, '\r', '\n')
	b = append(b, v...)
	return append(b, '\r', '\n')
}

func appendBulkString(b []byte, v string) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, '\r', '\n')
	b = append(b, v...)
	return append(b, '\r', '\n')
}
