package state

import (
	"cmp"
	"slices"
	"strings"

	"github.com/foldb/foldb/eventlog"
)

// entKey is an entity's place in the overlay.
type entKey struct {
	t  *table
	id string
}

// undoEntry is an overlay entry as it was before an event of the append
// being staged changed it, for Stage to restore when a later event fails.
type undoEntry struct {
	key     entKey
	prev    Entity
	hadPrev bool
}

// Live switches the store from direct loading to staged writes, building
// the declared indexes; call it once, before the store is published to
// readers and the log.
func (s *Store) Live() {
	s.buildIndexes()
	s.direct = false
}

// Stage folds one append's events into the overlay, checking guards. On an
// error nothing of the append stays staged. It implements eventlog.Applier.
func (s *Store) Stage(events []eventlog.Event) error {
	if !s.inTx {
		s.undo = s.undo[:0]
	}
	from := len(s.undo)
	for i := range events {
		if i == 0 {
			if err := s.schema.checkEvents(events); err != nil {
				return err // the whole append, before any of it is staged
			}
		}
		if err := s.applyEvent(&events[i], true); err != nil {
			s.rollback(from)
			return err
		}
	}
	return nil
}

// BeginTx begins a transaction's appends: Stage keeps what they change
// until EndTx. It implements eventlog.Applier.
func (s *Store) BeginTx() {
	s.inTx = true
	s.undo = s.undo[:0]
}

// EndTx ends a transaction's appends, keeping what they staged or
// removing all of it.
func (s *Store) EndTx(keep bool) {
	if !keep {
		s.rollback(0)
	}
	s.inTx = false
	s.undo = s.undo[:0]
}

// rollback restores the overlay entries that the changes since undo[from]
// replaced, newest first.
func (s *Store) rollback(from int) {
	for j := len(s.undo) - 1; j >= from; j-- {
		u := s.undo[j]
		if u.hadPrev {
			s.overlay[u.key] = u.prev
		} else {
			delete(s.overlay, u.key)
		}
	}
	clear(s.undo[from:])
	s.undo = s.undo[:from]
}

// Seal ends the staging of a round: the appends staged after it form the
// next round, staged on top of this one (lookup sees both) before this one
// is published. The log seals each round once its appends are staged; it
// may stage the next while the sealed one's fsync runs.
func (s *Store) Seal() {
	s.sealed = append(s.sealed, s.overlay)
	if n := len(s.spare); n > 0 {
		s.overlay, s.spare = s.spare[n-1], s.spare[:n-1]
	} else {
		s.overlay = map[entKey]Entity{}
	}
}

// Publish makes the oldest sealed round visible to readers; last is its
// newest position.
func (s *Store) Publish(last uint64) {
	if len(s.sealed) == 0 {
		s.Seal() // a caller that stages and publishes without sealing
	}
	round := s.sealed[0]
	s.mu.Lock()
	for k, e := range round {
		t := k.t
		if _, ok := s.tables[t.name]; !ok {
			s.tables[t.name] = t
		}
		if e == "" {
			t.delete(k.id)
		} else {
			t.set(e)
		}
	}
	s.pos = last
	s.mu.Unlock()
	for name, t := range s.newTables {
		if s.tables[name] == t {
			delete(s.newTables, name) // published; a later round's new tables stay
		}
	}
	clear(round)
	s.spare = append(s.spare, round)
	copy(s.sealed, s.sealed[1:])
	s.sealed[len(s.sealed)-1] = nil
	s.sealed = s.sealed[:len(s.sealed)-1]
}

// staged lists the entities the oldest sealed round (the next to be
// published) changes, sorted by type and id so that listeners see them in
// an order that does not depend on the map's.
func (s *Store) staged() []Change {
	round := s.overlay
	if len(s.sealed) > 0 {
		round = s.sealed[0]
	}
	out := make([]Change, 0, len(round))
	for k, e := range round {
		c := Change{Type: k.t.name, ID: k.id, Entity: e}
		if e != "" {
			c.JSON = e.JSON()
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Change) int {
		return cmp.Or(strings.Compare(a.Type, b.Type), strings.Compare(a.ID, b.ID))
	})
	return out
}

// Discard drops every round staged and not published: the one being
// staged and the sealed ones (a failed commit fails every round after it).
func (s *Store) Discard() {
	clear(s.overlay)
	for _, round := range s.sealed {
		clear(round)
		s.spare = append(s.spare, round)
	}
	clear(s.sealed)
	s.sealed = s.sealed[:0]
	clear(s.newTables)
}

// tableFor returns the table of a type, creating it (unpublished) if needed.
func (s *Store) tableFor(name string) *table {
	if t, ok := s.tables[name]; ok {
		return t
	}
	if t, ok := s.newTables[name]; ok {
		return t
	}
	name = strings.Clone(name) // a replayed event's stream is valid only while it is folded
	t := s.newTable(name)
	if s.direct {
		s.tables[name] = t
	} else {
		s.newTables[name] = t
	}
	return t
}

// lookup finds an entity as the writer sees it: staged, else published;
// and where it is, for putAt.
func (s *Store) lookup(t *table, id string) (Entity, bool, spot) {
	if !s.direct {
		k := entKey{t, id}
		if e, ok := s.overlay[k]; ok {
			return e, e != "", spot{}
		}
		for i := len(s.sealed) - 1; i >= 0; i-- {
			if e, ok := s.sealed[i][k]; ok {
				return e, e != "", spot{}
			}
		}
	}
	return t.idx.lookup(id)
}

// putAt is put of an id that lookup just returned at for, with no write to
// the table in between: in direct mode it does not search again.
func (s *Store) putAt(t *table, id string, at spot, e Entity) {
	if s.direct && e != "" {
		t.setAt(at, e)
		return
	}
	s.put(t, id, e)
}

func (s *Store) put(t *table, id string, e Entity) {
	if s.direct {
		if e == "" {
			t.delete(id)
		} else {
			t.set(e)
		}
		return
	}
	k := entKey{t, id}
	prev, had := s.overlay[k]
	s.undo = append(s.undo, undoEntry{key: k, prev: prev, hadPrev: had})
	s.overlay[k] = e
}
