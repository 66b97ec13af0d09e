package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// VerifyReport is what Verify found.
type VerifyReport struct {
	Events  uint64
	Streams int
}

// Verify reads the whole log and checks that every record decodes,
// positions run 1..last without a gap, each stream's versions run from 1
// without a gap, the index maps each (stream, version) to its event, each
// stream's current version is its last event's, and the category and type
// indexes hold every event and nothing else. progress, when not nil, is
// called now and then with the events checked. On a log opened with
// OpenReadOnly it reads the journal's events too, laid over Pebble's; their
// records were checked by the open.
func (l *Log) Verify(progress func(done uint64)) (VerifyReport, error) {
	var rep VerifyReport
	// Values are pointers so that a known stream is updated without an
	// assignment: assigning to an existing string key stores the new key,
	// and e.Stream is valid only during the call.
	versions := map[string]*uint64{}
	expect := uint64(1)
	var key []byte
	ci, err := l.newIter(&pebble.IterOptions{LowerBound: []byte{prefixCategory}, UpperBound: []byte{prefixCategory + 1}})
	if err != nil {
		return rep, err
	}
	defer ci.Close()
	ti, err := l.newIter(&pebble.IterOptions{LowerBound: []byte{prefixType}, UpperBound: []byte{prefixType + 1}})
	if err != nil {
		return rep, err
	}
	defer ti.Close()
	// A folder read as it is (OpenReadOnly) may be of a format before the
	// view indexes; opening it to write builds them.
	indexed := l.ro == nil || l.ro.format >= 3
	err = l.Scan(1, 0, func(e *Event) error {
		if e.Position != expect {
			return fmt.Errorf("%w: position %d follows %d", ErrCorruptRecord, e.Position, expect-1)
		}
		expect++
		vp := versions[e.Stream]
		var v uint64
		if vp != nil {
			v = *vp
		}
		if e.Version != v+1 {
			return fmt.Errorf("%w: %s version %d at position %d follows version %d", ErrCorruptRecord, e.Stream, e.Version, e.Position, v)
		}
		if vp != nil {
			*vp = e.Version
		} else {
			nv := e.Version
			versions[strings.Clone(e.Stream)] = &nv
		}
		key = indexKey(key[:0], e.Stream, e.Version)
		pos, err := l.getUint64(key)
		if err != nil {
			return err
		}
		if pos != e.Position {
			return fmt.Errorf("%w: the index maps %s version %d to position %d, the event is at %d", ErrCorruptRecord, e.Stream, e.Version, pos, e.Position)
		}
		if indexed {
			if key, err = checkViewIndexes(ci, ti, key, e); err != nil {
				return err
			}
		}
		rep.Events++
		if progress != nil && rep.Events%65536 == 0 {
			progress(rep.Events)
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	if last := l.LastPosition(); rep.Events != last {
		return rep, fmt.Errorf("%w: %d events read, the log ends at %d", ErrCorruptRecord, rep.Events, last)
	}
	for stream, vp := range versions {
		cur, err := l.Version(stream)
		if err != nil {
			return rep, err
		}
		if cur != *vp {
			return rep, fmt.Errorf("%w: %s is recorded at version %d, its last event is version %d", ErrCorruptRecord, stream, cur, *vp)
		}
	}
	rep.Streams = len(versions)
	if indexed {
		if err := l.checkViewCounts(rep.Events); err != nil {
			return rep, err
		}
	}
	if progress != nil {
		progress(rep.Events)
	}
	return rep, nil
}

// Import appends events recorded elsewhere (an export), keeping their type,
// data, meta, ID and time. With keep, each event must carry the position
// and version it gets here (a whole log imported into an empty one); without,
// positions and versions are assigned as by EVENT.APPEND with ANY. It runs
// on the writer, between rounds, and commits once, straight into Pebble's
// tables (flushed, so durable whatever the durability), not through the
// journal. It is for a log no
// server is serving (foldb import): imported events are not staged through
// an Applier; the state folds them when it is next loaded.
func (l *Log) Import(events []Event, keep bool) error {
	if l.applier != nil {
		return errors.New("eventlog: import into a log that a server is serving")
	}
	return l.Exclusive(func(last uint64) error {
		clear(l.w.known) // the import writes versions behind the cache
		if err := l.Err(); err != nil {
			return err
		}
		batch := l.db.NewBatch()
		defer batch.Close()
		versions := map[string]uint64{}
		pos := last
		var key, val []byte
		var runs viewRuns
		for i := range events {
			e := events[i]
			if err := ValidateStream(e.Stream); err != nil {
				return fmt.Errorf("event %d: %w", i+1, err)
			}
			if e.Type == "" {
				return fmt.Errorf("event %d: %w", i+1, invalid("empty event type"))
			}
			if err := validObject(e.Data, "event data"); err != nil {
				return fmt.Errorf("event %d: %w", i+1, err)
			}
			if e.Meta != nil {
				if err := validObject(e.Meta, "meta"); err != nil {
					return fmt.Errorf("event %d: %w", i+1, err)
				}
			}
			cur, ok := versions[e.Stream]
			if !ok {
				v, err := l.Version(e.Stream)
				if err != nil {
					return err
				}
				cur = v
			}
			pos++
			if keep && (e.Position != pos || e.Version != cur+1) {
				return fmt.Errorf("eventlog: event %d is %s version %d at position %d, but here it would be version %d at position %d", i+1, e.Stream, e.Version, e.Position, cur+1, pos)
			}
			e.Position, e.Version = pos, cur+1
			versions[e.Stream] = e.Version
			key = eventKey(key[:0], e.Position)
			val = AppendRecord(val[:0], &e)
			batch.Set(key, val, nil)
			key = indexKey(key[:0], e.Stream, e.Version)
			val = binary.BigEndian.AppendUint64(val[:0], e.Position)
			batch.Set(key, val, nil)
			runs.add(&e)
			if e.ID != "" {
				key = idemKey(key[:0], e.Stream, e.ID)
				val = binary.BigEndian.AppendUint64(val[:0], e.Version)
				val = binary.BigEndian.AppendUint64(val, e.Position)
				batch.Set(key, val, nil)
			}
		}
		runs.flush(true, func(k, v []byte) { batch.Set(k, v, nil) })
		// Straight into Pebble's tables: an import can be far larger than
		// a journal segment, and nothing waits on its latency.
		if err := batch.Commit(pebble.NoSync); err != nil {
			return l.fail(err)
		}
		if err := l.db.Flush(); err != nil {
			return l.fail(err)
		}
		l.last.Store(pos)
		// The next round starts after the imported events: without this an
		// append would be given their positions, and a round of ops alone
		// would be journaled as after the old last position, which the
		// journal's replay skips once the tables hold the import.
		l.w.tip = pos
		return nil
	})
}
