package streams

import (
	"fmt"
	"maps"
	"slices"

	"github.com/foldb/foldb/eventlog"
)

// A group whole, outside the log: what foldb export writes of each
// consumer group and foldb import restores (cmd/foldb/tools.go). Lag,
// pel-count and a consumer's pending count are not part of it: they
// follow from the rest and the log.

// GroupState is one consumer group with everything stored of it.
type GroupState struct {
	Key, Name     string
	LastDelivered ID
	EntriesRead   int64 // -1: unknown
	// Consumers are by name; Pending by ID, each naming one of them.
	Consumers []ConsumerState
	Pending   []PendingFull
}

// ConsumerState is one consumer of a GroupState.
type ConsumerState struct {
	Name string
	// Seen is when it last read or claimed, unix ms; Active when it was
	// last given an entry, -1 when never (XINFO STREAM FULL's seen-time
	// and active-time).
	Seen, Active int64
}

// ReadGroups returns every group stored in l, by key and then name,
// without serving them: for a log that no server serves and no op is
// submitted to while it reads, such as one opened read-only (foldb
// export), which includes what the journal holds past Pebble's tables.
func ReadGroups(l *eventlog.Log) ([]GroupState, error) {
	gs := &Groups{log: l, byKey: map[string]map[string]*group{}, nextGID: 1}
	if err := gs.load(); err != nil {
		return nil, err
	}
	var out []GroupState
	for _, key := range slices.Sorted(maps.Keys(gs.byKey)) {
		for _, g := range gs.sortedGroups(key) {
			st := GroupState{Key: g.key, Name: g.name, LastDelivered: g.last, EntriesRead: g.entriesRead,
				Consumers: []ConsumerState{}, Pending: []PendingFull{}}
			for _, c := range g.sortedConsumers() {
				st.Consumers = append(st.Consumers, ConsumerState{Name: c.name, Seen: c.seen, Active: c.active})
			}
			g.pel.Scan(func(pos uint64, p *pending) bool {
				st.Pending = append(st.Pending, PendingFull{ID: EntryID(pos), Consumer: p.owner.name, Delivered: p.delivered, Count: p.count})
				return true
			})
			out = append(out, st)
		}
	}
	return out, nil
}

// Restore creates groups whole (foldb import): each with its
// last-delivered ID, entries-read, consumers and pending entries, stored
// under the same keys and in the same records as the commands store them,
// in one round with the log's durability. It is all or nothing: a group
// it cannot create refuses the request with a *RestoreError, and none is
// created. It is for a log that no server serves yet: it answers no
// blocked reader.
type Restore struct {
	Groups []GroupState
	Result
}

// RestoreError says which group a Restore refused, and why.
type RestoreError struct {
	Index     int // in Restore.Groups
	Key, Name string
	Err       error
}

func (e *RestoreError) Error() string {
	return fmt.Sprintf("streams: consumer group '%s' of '%s' cannot be restored: %v", e.Name, e.Key, e.Err)
}

func (e *RestoreError) Unwrap() error { return e.Err }

func (r *Restore) stage(s *stager) error {
	names := map[[2]string]bool{}
	for i := range r.Groups {
		st := &r.Groups[i]
		if err := s.checkRestore(st, names); err != nil {
			return &RestoreError{Index: i, Key: st.Key, Name: st.Name, Err: err}
		}
	}
	for i := range r.Groups {
		s.restore(&r.Groups[i])
	}
	return nil
}

// checkRestore checks that st can be created as it is: a key that names a
// view, no group of that name yet (in the log or earlier in the request),
// consumers named once, and each pending entry an entry of the view that
// the log holds, in ID order, owned by one of the consumers.
func (s *stager) checkRestore(st *GroupState, names map[[2]string]bool) error {
	v := ParseKey(st.Key)
	if v.Kind == KindNone {
		return ErrNoKey
	}
	if s.gs.lookup(st.Key, st.Name) != nil || names[[2]string{st.Key, st.Name}] {
		return ErrBusyGroup
	}
	names[[2]string{st.Key, st.Name}] = true
	if st.EntriesRead < -1 {
		return fmt.Errorf("entries-read %d", st.EntriesRead)
	}
	consumers := map[string]bool{}
	for _, c := range st.Consumers {
		switch {
		case consumers[c.Name]:
			return fmt.Errorf("consumer '%s' is given twice", c.Name)
		case c.Seen < 0 || c.Active < -1:
			return fmt.Errorf("consumer '%s' has seen-time %d and active-time %d", c.Name, c.Seen, c.Active)
		}
		consumers[c.Name] = true
	}
	var prev uint64
	for _, p := range st.Pending {
		pos := p.ID.Ms
		switch {
		case p.ID.Seq != 0 || pos == 0:
			return fmt.Errorf("pending entry %s: entries of the log are <position>-0", p.ID)
		case pos <= prev:
			return fmt.Errorf("pending entry %s: not after %s (pending entries go in ID order, each once)", p.ID, EntryID(prev))
		case pos > s.b.Committed():
			return fmt.Errorf("pending entry %s: past the log's newest position %d", p.ID, s.b.Committed())
		case !consumers[p.Consumer]:
			return fmt.Errorf("pending entry %s: its consumer '%s' is not one of the group's", p.ID, p.Consumer)
		case p.Delivered < 0:
			return fmt.Errorf("pending entry %s: delivery time %d", p.ID, p.Delivered)
		}
		prev = pos
		e, err := s.gs.log.Event(pos)
		if err != nil {
			return err
		}
		if !v.Matches(&e) {
			return fmt.Errorf("pending entry %s: the event there (%s %s) is not an entry of the key", p.ID, e.Stream, e.Type)
		}
	}
	return nil
}

// restore creates the group st, which checkRestore passed.
func (s *stager) restore(st *GroupState) {
	g := &group{gid: s.gs.nextGID, key: st.Key, view: ParseKey(st.Key), name: st.Name, last: st.LastDelivered,
		entriesRead: st.EntriesRead, consumers: map[string]*consumer{}}
	s.gs.nextGID++
	s.gs.addGroup(g)
	s.putGroup(g)
	for _, cs := range st.Consumers {
		c := &consumer{cid: g.nextCID, name: cs.Name, seen: cs.Seen, active: cs.Active}
		g.nextCID++
		g.consumers[cs.Name] = c
		s.putConsumer(g, c)
	}
	for _, p := range st.Pending {
		g.assign(s, g.consumers[p.Consumer], p.ID.Ms, p.Delivered, p.Count)
	}
}
