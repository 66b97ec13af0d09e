package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// Read returns up to count events of a stream, starting at version from
// (1 when 0) and going up, or with rev starting at from (the newest when 0)
// and going down. count <= 0 means no limit.
func (l *Log) Read(stream string, from uint64, count int, rev bool) ([]Event, error) {
	prefix := indexPrefix(nil, stream)
	it, err := l.newIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var ok bool
	switch {
	case !rev:
		ok = it.SeekGE(indexKey(nil, stream, max(from, 1)))
	case from == 0:
		ok = it.Last()
	default:
		ok = it.SeekLT(indexKey(nil, stream, from+1))
	}
	var out []Event
	var key []byte
	last := l.last.Load()
	for ; ok && (count <= 0 || len(out) < count); ok = step(it, rev) {
		v := it.Value()
		if len(v) != 8 {
			return nil, fmt.Errorf("%w: index value of %d bytes", ErrCorruptRecord, len(v))
		}
		pos := binary.BigEndian.Uint64(v)
		if pos > last { // staged, not yet durable (append.go)
			if rev {
				continue
			}
			break
		}
		key = eventKey(key[:0], pos)
		e, err := l.get(key)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, it.Error()
}

func step(it *pebble.Iterator, rev bool) bool {
	if rev {
		return it.Prev()
	}
	return it.Next()
}

// Event returns the event at a position, which must be published (at most
// LastPosition).
func (l *Log) Event(pos uint64) (Event, error) {
	if last := l.last.Load(); pos > last {
		return Event{}, fmt.Errorf("eventlog: no event at position %d: the newest is %d", pos, last)
	}
	return l.get(eventKey(nil, pos))
}

func (l *Log) get(key []byte) (Event, error) {
	rec, closer, err := l.lookup(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return Event{}, fmt.Errorf("%w: no event at position %d", ErrCorruptRecord, binary.BigEndian.Uint64(key[1:]))
	}
	if err != nil {
		return Event{}, err
	}
	defer closer.Close()
	var e Event
	if err := DecodeRecord(rec, binary.BigEndian.Uint64(key[1:]), &e); err != nil {
		return Event{}, err
	}
	own(&e)
	return e, nil
}

// own copies Data and Meta out of Pebble's memory into one allocation.
func own(e *Event) {
	e.Stream, e.ID = strings.Clone(e.Stream), strings.Clone(e.ID)
	buf := make([]byte, 0, len(e.Data)+len(e.Meta))
	buf = append(buf, e.Data...)
	e.Data = buf[:len(e.Data):len(e.Data)]
	if e.Meta != nil {
		buf = append(buf, e.Meta...)
		e.Meta = buf[len(e.Data):]
	}
}

// Range returns up to count events from position from (at least 1) on, of
// the given types only when types is not empty. count <= 0 means no limit.
func (l *Log) Range(from uint64, count int, types []string) ([]Event, error) {
	var out []Event
	err := l.Scan(from, 0, func(e *Event) error {
		if len(types) > 0 && !contains(types, e.Type) {
			return nil
		}
		own(e)
		out = append(out, *e)
		if count > 0 && len(out) >= count {
			return errStop
		}
		return nil
	})
	return out, err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var errStop = errors.New("stop")

// Scan calls fn for every event with from <= position <= to, in order
// (to == 0: up to the newest). The event's Stream, ID, Data and Meta alias
// Pebble's memory and are valid only during the call: copy what you keep
// (strings.Clone, or own). Scanning so allocates nothing per event. An
// error from fn stops the scan and is returned.
func (l *Log) Scan(from, to uint64, fn func(e *Event) error) error {
	if last := l.last.Load(); to == 0 || to > last {
		to = last // what a round being fsynced staged is not shown
	}
	if to == 0 {
		return nil
	}
	upper := eventKey(nil, to+1)
	if to == math.MaxUint64 {
		upper = []byte{prefixEvent + 1}
	}
	it, err := l.newIter(&pebble.IterOptions{LowerBound: eventKey(nil, max(from, 1)), UpperBound: upper})
	if err != nil {
		return err
	}
	defer it.Close()
	var e Event
	v := &views{types: map[string]string{}}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != 9 {
			return fmt.Errorf("%w: malformed event key %x", ErrCorruptRecord, k)
		}
		rec, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if err := decodeRecord(rec, binary.BigEndian.Uint64(k[1:]), &e, v); err != nil {
			return err
		}
		if err := fn(&e); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
	}
	return it.Error()
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte{}, p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
