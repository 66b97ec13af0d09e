package eventlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// The view indexes (format 3): every event has a key under its category
// and one under its type, written in the round's batch beside the event, so
// that reading a category or a type seeks instead of scanning the log.
const (
	prefixCategory = 'c'
	prefixType     = 't'
)

// viewPrefix is the prefix of a view index's keys: 'c' or 't', then the
// length-prefixed category or type.
func viewPrefix(dst []byte, prefix byte, name string) []byte {
	dst = append(dst, prefix)
	dst = binary.AppendUvarint(dst, uint64(len(name)))
	return append(dst, name...)
}

func viewKey(dst []byte, prefix byte, name string, pos uint64) []byte {
	return binary.BigEndian.AppendUint64(viewPrefix(dst, prefix, name), pos)
}

// SubsetKind is what a Subset holds.
type SubsetKind uint8

const (
	// SubsetAll is every event.
	SubsetAll SubsetKind = iota
	// SubsetStream is the events of the stream Name.
	SubsetStream
	// SubsetCategory is the events of every stream "<Name>:*".
	SubsetCategory
	// SubsetType is the events of type Name.
	SubsetType
)

// Subset is a part of the log that reads in position order without a
// scan of the log: every event (the event keys), one stream (its version
// index), one category or one type (the view indexes).
type Subset struct {
	Kind SubsetKind
	Name string
}

// ScanSubset calls fn for up to limit events of s (limit <= 0: all) with
// from <= position <= to, in ascending order, or with rev in descending
// order starting at to. to == 0, or a to past the newest committed event,
// means the newest committed event: events of a round that is being
// committed are not shown. As with Scan, the event's strings and bytes
// alias Pebble's memory and are valid only during the call; an error from
// fn stops the scan and is returned.
//
// Cost: a seek, then one step per event of s read: the category and type
// indexes and a stream's index add a seek into the event keys per event
// (a step when positions follow each other). A stream's position bounds
// are mapped to versions by binary search over its index, about log2 of
// its version seeks.
func (l *Log) ScanSubset(s Subset, from, to uint64, limit int, rev bool, fn func(e *Event) error) error {
	last := l.LastPosition()
	if to == 0 || to > last {
		to = last
	}
	from = max(from, 1)
	if from > to {
		return nil
	}
	sc := subsetScan{l: l, limit: limit, rev: rev, fn: fn, from: from, to: to}
	sc.strs.types = make(map[string]string)
	defer sc.close()
	switch s.Kind {
	case SubsetAll:
		return sc.all()
	case SubsetStream:
		return sc.stream(s.Name)
	case SubsetCategory:
		return sc.index(viewPrefix(nil, prefixCategory, s.Name))
	case SubsetType:
		return sc.index(viewPrefix(nil, prefixType, s.Name))
	}
	return fmt.Errorf("eventlog: unknown subset kind %d", s.Kind)
}

// CountSubset counts the committed events of s. Every event and a stream
// cost a seek; a category or a type costs a step per event of it over its
// index keys.
func (l *Log) CountSubset(s Subset) (uint64, error) {
	last := l.LastPosition()
	switch s.Kind {
	case SubsetAll:
		return last, nil
	case SubsetStream:
		return l.streamCount(s.Name, last)
	case SubsetCategory, SubsetType:
		prefix := viewPrefix(nil, prefixCategory, s.Name)
		if s.Kind == SubsetType {
			prefix[0] = prefixType
		}
		upper := binary.BigEndian.AppendUint64(bytes.Clone(prefix), last+1)
		it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
		if err != nil {
			return 0, err
		}
		defer it.Close()
		var n uint64
		for ok := it.First(); ok; ok = it.Next() {
			n++
		}
		return n, it.Error()
	}
	return 0, fmt.Errorf("eventlog: unknown subset kind %d", s.Kind)
}

// streamCount is the stream's newest version whose event is at or before
// last: its version, but for a round being committed.
func (l *Log) streamCount(stream string, last uint64) (uint64, error) {
	prefix := indexPrefix(nil, stream)
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	for ok := it.Last(); ok; ok = it.Prev() {
		v, pos, err := indexEntry(it, len(prefix))
		if err != nil {
			return 0, err
		}
		if pos <= last {
			return v, nil
		}
	}
	return 0, it.Error()
}

// indexEntry reads the version and position of the stream index entry the
// iterator is at; prefixLen is the length of the stream's key prefix.
func indexEntry(it *pebble.Iterator, prefixLen int) (version, pos uint64, err error) {
	k, v := it.Key(), it.Value()
	if len(k) != prefixLen+8 || len(v) != 8 {
		return 0, 0, fmt.Errorf("%w: malformed index entry %x", ErrCorruptRecord, k)
	}
	return binary.BigEndian.Uint64(k[prefixLen:]), binary.BigEndian.Uint64(v), nil
}

// subsetScan is one ScanSubset.
type subsetScan struct {
	l        *Log
	limit    int
	rev      bool
	fn       func(e *Event) error
	from, to uint64
	n        int

	ev   Event
	strs views
	// events is the iterator over the event keys that the indexed subsets
	// look events up with; at is the position it is at (0: none), looked
	// the position looked up last (by the iterator or not).
	events     *pebble.Iterator
	at, looked uint64
	key        []byte
}

func (sc *subsetScan) close() {
	if sc.events != nil {
		sc.events.Close()
	}
}

func (sc *subsetScan) full() bool { return sc.limit > 0 && sc.n >= sc.limit }

func (sc *subsetScan) step(it *pebble.Iterator) bool {
	if sc.rev {
		return it.Prev()
	}
	return it.Next()
}

// emit decodes the event record at pos and hands it to fn.
func (sc *subsetScan) emit(pos uint64, rec []byte) error {
	if err := decodeRecord(rec, pos, &sc.ev, &sc.strs); err != nil {
		return err
	}
	sc.n++
	return sc.fn(&sc.ev)
}

// all reads the event keys themselves.
func (sc *subsetScan) all() error {
	it, err := sc.l.db.NewIter(&pebble.IterOptions{LowerBound: eventKey(nil, sc.from), UpperBound: eventKey(nil, sc.to+1)})
	if err != nil {
		return err
	}
	defer it.Close()
	ok := it.First()
	if sc.rev {
		ok = it.Last()
	}
	for ; ok && !sc.full(); ok = sc.step(it) {
		k := it.Key()
		if len(k) != 9 {
			return fmt.Errorf("%w: malformed event key %x", ErrCorruptRecord, k)
		}
		rec, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if err := sc.emit(binary.BigEndian.Uint64(k[1:]), rec); err != nil {
			return err
		}
	}
	return it.Error()
}

// event looks up the event at pos and hands it to fn. A position next to
// the iterator's is a step of it; one further on is a seek, which Pebble
// starts with a few steps; one further back is a point lookup, which
// unlike a seek backwards stops at the memtable that has the key.
func (sc *subsetScan) event(pos uint64) error {
	if sc.events == nil {
		it, err := sc.l.db.NewIter(&pebble.IterOptions{LowerBound: eventKey(nil, sc.from), UpperBound: eventKey(nil, sc.to+1)})
		if err != nil {
			return err
		}
		sc.events = it
	}
	it := sc.events
	sc.key = eventKey(sc.key[:0], pos)
	var ok bool
	switch {
	case sc.at != 0 && pos == sc.at+1:
		ok = it.Next()
	case sc.at != 0 && pos+1 == sc.at:
		ok = it.Prev()
	case !sc.rev || pos+1 == sc.looked:
		// Going back, the iterator takes over once positions follow
		// each other.
		ok = it.SeekGE(sc.key)
	default:
		sc.looked = pos
		rec, closer, err := sc.l.db.Get(sc.key)
		if errors.Is(err, pebble.ErrNotFound) {
			return sc.missing(pos)
		}
		if err != nil {
			return err
		}
		err = sc.emit(pos, rec)
		closer.Close()
		return err
	}
	sc.looked = pos
	if !ok || !bytes.Equal(it.Key(), sc.key) {
		sc.at = 0
		if err := it.Error(); err != nil {
			return err
		}
		return sc.missing(pos)
	}
	sc.at = pos
	rec, err := it.ValueAndErr()
	if err != nil {
		return err
	}
	return sc.emit(pos, rec)
}

func (sc *subsetScan) missing(pos uint64) error {
	return fmt.Errorf("%w: an index names position %d, which has no event", ErrCorruptRecord, pos)
}

// index reads a category or type index: keys prefix pos:u64.
func (sc *subsetScan) index(prefix []byte) error {
	lower := binary.BigEndian.AppendUint64(bytes.Clone(prefix), sc.from)
	upper := binary.BigEndian.AppendUint64(bytes.Clone(prefix), sc.to+1)
	it, err := sc.l.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	defer it.Close()
	ok := it.First()
	if sc.rev {
		ok = it.Last()
	}
	for ; ok && !sc.full(); ok = sc.step(it) {
		k := it.Key()
		if len(k) != len(prefix)+8 {
			return fmt.Errorf("%w: malformed view index key %x", ErrCorruptRecord, k)
		}
		if err := sc.event(binary.BigEndian.Uint64(k[len(prefix):])); err != nil {
			return err
		}
	}
	return it.Error()
}

// stream reads a stream's index from the version of its first event at or
// after from (or, with rev, of its last at or before to).
func (sc *subsetScan) stream(name string) error {
	prefix := indexPrefix(nil, name)
	it, err := sc.l.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	if !it.Last() {
		return it.Error()
	}
	newest, newestPos, err := indexEntry(it, len(prefix))
	if err != nil {
		return err
	}
	var key []byte
	// at is the position of the event of version v (which exists).
	at := func(v uint64) (uint64, error) {
		key = indexKey(key[:0], name, v)
		if !it.SeekGE(key) || !bytes.Equal(it.Key(), key) {
			if err := it.Error(); err != nil {
				return 0, err
			}
			return 0, fmt.Errorf("%w: %s has version %d but no index entry for version %d", ErrCorruptRecord, name, newest, v)
		}
		_, pos, err := indexEntry(it, len(prefix))
		return pos, err
	}
	// first is the first version whose position is past p, knowing that
	// version hi's is: positions grow with versions. The ends are tried
	// first, as reading from the start or to the newest is the common case.
	first := func(hi uint64, past func(pos uint64) bool) (uint64, error) {
		pos, err := at(1)
		if err != nil || past(pos) {
			return 1, err
		}
		lo := uint64(2)
		for lo < hi {
			mid := lo + (hi-lo)/2
			pos, err := at(mid)
			if err != nil {
				return 0, err
			}
			if past(pos) {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		return lo, nil
	}
	var start uint64
	switch {
	case !sc.rev && newestPos < sc.from:
		return nil
	case !sc.rev:
		if start, err = first(newest, func(pos uint64) bool { return pos >= sc.from }); err != nil {
			return err
		}
	case newestPos <= sc.to:
		start = newest
	default:
		// The last version at or before to is the one before the first past it.
		after, err := first(newest, func(pos uint64) bool { return pos > sc.to })
		if err != nil || after == 1 {
			return err
		}
		start = after - 1
	}
	if _, err := at(start); err != nil {
		return err
	}
	for ok := true; ok && !sc.full(); ok = sc.step(it) {
		_, pos, err := indexEntry(it, len(prefix))
		if err != nil {
			return err
		}
		if pos < sc.from || pos > sc.to {
			break
		}
		if err := sc.event(pos); err != nil {
			return err
		}
	}
	return it.Error()
}

// appendViewKeys adds e's category and type index keys to the batch; key
// is scratch space, returned for reuse.
func appendViewKeys(batch *pebble.Batch, key []byte, e *Event) []byte {
	category, _ := SplitStream(e.Stream)
	key = viewKey(key[:0], prefixCategory, category, e.Position)
	batch.Set(key, nil, nil)
	key = viewKey(key[:0], prefixType, e.Type, e.Position)
	batch.Set(key, nil, nil)
	return key
}

// checkViewKeys checks that e has its category and type index keys; key is
// scratch space, returned for reuse.
func (l *Log) checkViewKeys(key []byte, e *Event) ([]byte, error) {
	category, _ := SplitStream(e.Stream)
	for _, ix := range []struct {
		prefix byte
		name   string
	}{{prefixCategory, category}, {prefixType, e.Type}} {
		key = viewKey(key[:0], ix.prefix, ix.name, e.Position)
		_, closer, err := l.db.Get(key)
		if errors.Is(err, pebble.ErrNotFound) {
			return key, fmt.Errorf("%w: the %s index lacks the event at position %d", ErrCorruptRecord, indexName(ix.prefix), e.Position)
		}
		if err != nil {
			return key, err
		}
		closer.Close()
	}
	return key, nil
}

// checkViewCounts checks that the category and type indexes have one key
// per event, each at most once, so none that names no event.
func (l *Log) checkViewCounts(events uint64) error {
	for _, prefix := range []byte{prefixCategory, prefixType} {
		it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
		if err != nil {
			return err
		}
		var n uint64
		for ok := it.First(); ok; ok = it.Next() {
			n++
		}
		err = errors.Join(it.Error(), it.Close())
		if err != nil {
			return err
		}
		if n != events {
			return fmt.Errorf("%w: the %s index has %d keys for %d events", ErrCorruptRecord, indexName(prefix), n, events)
		}
	}
	return nil
}

func indexName(prefix byte) string {
	if prefix == prefixCategory {
		return "category"
	}
	return "type"
}
