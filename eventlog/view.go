package eventlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// The view indexes (format 3) say which positions hold the events of a
// category and of a type, so that reading a category or a type seeks
// instead of scanning the log. A key names a run of consecutive positions
// whose events are all of the category (or type): its first position, and
// the value its length. A round writes, in its batch, a key per run of its
// own events; so with many clients appending events of one type, a round
// of fifty events adds two keys, not a hundred (every key is work for
// Pebble's memtable, flushes and compactions: BENCHMARKS.md). Runs of one
// category or type never overlap, and the runs of all categories (or all
// types) hold every position once.
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

func viewKey(dst []byte, prefix byte, name string, first uint64) []byte {
	return binary.BigEndian.AppendUint64(viewPrefix(dst, prefix, name), first)
}

// viewName is a category or a type, as its index key prefix tells it.
type viewName struct {
	prefix byte
	name   string
}

// viewRun is a run of positions in a view index.
type viewRun struct {
	viewName
	first, count uint64
}

// viewRuns gathers the runs of events appended in position order (a
// round, an import, the upgrade to format 3).
type viewRuns struct {
	open map[viewName]int // the run of each name that may go on, in runs
	runs []viewRun
	// own makes the runs keep copies of the names: a scan's alias its
	// memory.
	own      bool
	key, val []byte
}

// add records e at its position, which follows every position added so far.
func (r *viewRuns) add(e *Event) {
	category, _ := SplitStream(e.Stream)
	r.addName(prefixCategory, category, e.Position)
	r.addName(prefixType, e.Type, e.Position)
}

func (r *viewRuns) addName(prefix byte, name string, pos uint64) {
	if r.open == nil {
		r.open = make(map[viewName]int)
	}
	n := viewName{prefix, name}
	if i, ok := r.open[n]; ok && r.runs[i].first+r.runs[i].count == pos {
		r.runs[i].count++
		return
	}
	if r.own {
		n.name = strings.Clone(name)
	}
	r.open[n] = len(r.runs)
	r.runs = append(r.runs, viewRun{n, pos, 1})
}

// flush hands every run to set, as its key and value, and starts over.
// When closed is false, only the runs that no later position can extend
// are handed over: those that are not the last of their name.
func (r *viewRuns) flush(closed bool, set func(key, val []byte)) {
	kept := 0
	for i, run := range r.runs {
		if !closed && r.open[run.viewName] == i {
			r.runs[kept] = run
			r.open[run.viewName] = kept
			kept++
			continue
		}
		r.key = viewKey(r.key[:0], run.prefix, run.name, run.first)
		r.val = binary.AppendUvarint(r.val[:0], run.count)
		set(r.key, r.val)
	}
	clear(r.runs[kept:])
	r.runs = r.runs[:kept]
	if closed {
		clear(r.open)
	}
}

// readRun decodes the run a view index iterator is at; prefixLen is the
// length of its name's prefix.
func readRun(it *pebble.Iterator, prefixLen int) (first, count uint64, err error) {
	k, v := it.Key(), it.Value()
	if len(k) != prefixLen+8 {
		return 0, 0, fmt.Errorf("%w: malformed view index key %x", ErrCorruptRecord, k)
	}
	count, n := binary.Uvarint(v)
	if n <= 0 || n != len(v) || count == 0 {
		return 0, 0, fmt.Errorf("%w: malformed view index value %x under %x", ErrCorruptRecord, v, k)
	}
	return binary.BigEndian.Uint64(k[prefixLen:]), count, nil
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
// cost a seek; a category or a type costs a step per run of it in its
// index (a run per round at most).
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
		it, err := l.newIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
		if err != nil {
			return 0, err
		}
		defer it.Close()
		var n uint64
		for ok := it.First(); ok; ok = it.Next() {
			first, count, err := readRun(it, len(prefix))
			if err != nil {
				return 0, err
			}
			n += min(first+count-1, last) - first + 1
		}
		return n, it.Error()
	}
	return 0, fmt.Errorf("eventlog: unknown subset kind %d", s.Kind)
}

// streamCount is the stream's newest version whose event is at or before
// last: its version, but for a round being committed.
func (l *Log) streamCount(stream string, last uint64) (uint64, error) {
	prefix := indexPrefix(nil, stream)
	it, err := l.newIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
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
	it, err := sc.l.newIter(&pebble.IterOptions{LowerBound: eventKey(nil, sc.from), UpperBound: eventKey(nil, sc.to+1)})
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
		it, err := sc.l.newIter(&pebble.IterOptions{LowerBound: eventKey(nil, sc.from), UpperBound: eventKey(nil, sc.to+1)})
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
		rec, closer, err := sc.l.lookup(sc.key)
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

// index reads a category or type index: the runs that reach into
// [from, to], each position of them.
func (sc *subsetScan) index(prefix []byte) error {
	upper := binary.BigEndian.AppendUint64(bytes.Clone(prefix), sc.to+1)
	it, err := sc.l.newIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return err
	}
	defer it.Close()
	var ok bool
	if sc.rev {
		ok = it.Last()
	} else if ok = it.SeekLT(binary.BigEndian.AppendUint64(bytes.Clone(prefix), sc.from+1)); !ok {
		// The run that holds from, or none: then the first after it.
		ok = it.First()
	}
	for ; ok && !sc.full(); ok = sc.step(it) {
		first, count, err := readRun(it, len(prefix))
		if err != nil {
			return err
		}
		lo, hi := max(first, sc.from), min(first+count-1, sc.to)
		if sc.rev && hi < sc.from {
			break // the runs before this one end before it
		}
		for i := uint64(0); lo+i <= hi && !sc.full(); i++ {
			pos := lo + i
			if sc.rev {
				pos = hi - i
			}
			if err := sc.event(pos); err != nil {
				return err
			}
		}
	}
	return it.Error()
}

// stream reads a stream's index from the version of its first event at or
// after from (or, with rev, of its last at or before to).
func (sc *subsetScan) stream(name string) error {
	prefix := indexPrefix(nil, name)
	it, err := sc.l.newIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
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

// checkViewIndexes checks that the category and type indexes hold e's
// position; it and ti are iterators over the 't' and 'c' keys, key scratch
// space, returned for reuse.
func checkViewIndexes(ci, ti *pebble.Iterator, key []byte, e *Event) ([]byte, error) {
	category, _ := SplitStream(e.Stream)
	for _, ix := range []struct {
		it   *pebble.Iterator
		name viewName
	}{{ci, viewName{prefixCategory, category}}, {ti, viewName{prefixType, e.Type}}} {
		key = viewKey(key[:0], ix.name.prefix, ix.name.name, e.Position+1)
		prefixLen := len(key) - 8
		if !ix.it.SeekLT(key) || !bytes.HasPrefix(ix.it.Key(), key[:prefixLen]) {
			if err := ix.it.Error(); err != nil {
				return key, err
			}
			return key, fmt.Errorf("%w: the %s index lacks the event at position %d", ErrCorruptRecord, indexName(ix.name.prefix), e.Position)
		}
		first, count, err := readRun(ix.it, prefixLen)
		if err != nil {
			return key, err
		}
		if first+count <= e.Position {
			return key, fmt.Errorf("%w: the %s index lacks the event at position %d", ErrCorruptRecord, indexName(ix.name.prefix), e.Position)
		}
	}
	return key, nil
}

// checkViewCounts checks that the category and type indexes each hold
// events positions in all: with every event in them (checkViewIndexes),
// none is there twice and none that is not an event.
func (l *Log) checkViewCounts(events uint64) error {
	for _, prefix := range []byte{prefixCategory, prefixType} {
		it, err := l.newIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
		if err != nil {
			return err
		}
		var n uint64
		for ok := it.First(); ok; ok = it.Next() {
			v := it.Value()
			count, k := binary.Uvarint(v)
			if k <= 0 || k != len(v) {
				it.Close()
				return fmt.Errorf("%w: malformed view index value %x under %x", ErrCorruptRecord, v, it.Key())
			}
			n += count
		}
		if err := errors.Join(it.Error(), it.Close()); err != nil {
			return err
		}
		if n != events {
			return fmt.Errorf("%w: the %s index holds %d positions for %d events", ErrCorruptRecord, indexName(prefix), n, events)
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
