package streams

import (
	"math"

	"github.com/foldb/foldb/eventlog"
)

// The requests below follow Redis 7's t_stream.c: what each changes, in
// what order it checks, and what it answers. Each stage reads what it
// needs first and changes state only once nothing can fail, so that a
// refused request leaves the state as it was.

// DefaultReadCount bounds the entries an XREADGROUP without COUNT (or with
// COUNT 0) delivers from each key, as Redis 7.0 bounds a blocked one's:
// a view can be the whole log, and one round would otherwise stage a
// pending entry for each of its events.
const DefaultReadCount = 1000

// GroupCreate is XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD n].
type GroupCreate struct {
	Key, Group string
	ID         ID
	Dollar     bool // $: the log's newest position, as streams.Reader.Last
	MkStream   bool
	// EntriesRead is the group's entries-read counter; -1 (unknown) when
	// not given, as in Redis.
	EntriesRead int64
	// Invalid is a malformed ID's error, answered after the key is found,
	// as Redis does.
	Invalid error
	Result
}

func (r *GroupCreate) stage(s *stager) error {
	v := ParseKey(r.Key)
	if v.Kind == KindNone {
		if r.MkStream {
			return ErrMkStream
		}
		return ErrNoKey
	}
	if r.Invalid != nil {
		return r.Invalid
	}
	if s.gs.lookup(r.Key, r.Group) != nil {
		return ErrBusyGroup
	}
	g := &group{gid: s.gs.nextGID, key: r.Key, view: v, name: r.Group, last: r.ID, entriesRead: r.EntriesRead, consumers: map[string]*consumer{}}
	if r.Dollar {
		g.last = EntryID(s.b.Committed())
	}
	s.gs.nextGID++
	s.gs.addGroup(g)
	s.putGroup(g)
	return nil
}

// GroupSetID is XGROUP SETID key group id|$ [ENTRIESREAD n].
type GroupSetID struct {
	Key, Group  string
	ID          ID
	Dollar      bool
	EntriesRead int64 // -1 when not given
	Invalid     error // a malformed ID's, answered after the group is found
	Result
}

func (r *GroupSetID) stage(s *stager) error {
	g, err := s.gs.existing(r.Key, r.Group)
	if err != nil {
		return err
	}
	if r.Invalid != nil {
		return r.Invalid
	}
	g.last, g.entriesRead = r.ID, r.EntriesRead
	if r.Dollar {
		g.last = EntryID(s.b.Committed())
	}
	s.putGroup(g)
	return nil
}

// existing finds a group for XGROUP and XINFO CONSUMERS: ErrNoKey when the
// key names no stream, a NoGroupError when it has no such group.
func (gs *Groups) existing(key, name string) (*group, error) {
	if ParseKey(key).Kind == KindNone {
		return nil, ErrNoKey
	}
	g := gs.lookup(key, name)
	if g == nil {
		return nil, &NoGroupError{Key: key, Group: name}
	}
	return g, nil
}

// GroupDestroy is XGROUP DESTROY key group. Readers blocked on the group
// are answered with a NoGroupError (Gone).
type GroupDestroy struct {
	Key, Group string
	Destroyed  bool
	Result
}

func (r *GroupDestroy) stage(s *stager) error {
	r.Destroyed = false
	if ParseKey(r.Key).Kind == KindNone {
		return ErrNoKey
	}
	g := s.gs.lookup(r.Key, r.Group)
	if g == nil {
		return nil
	}
	s.gs.removeGroup(g)
	s.deleteGroup(g)
	s.gs.waiting.groupGone(s, r.Key, r.Group)
	r.Destroyed = true
	return nil
}

// ConsumerCreate is XGROUP CREATECONSUMER key group consumer.
type ConsumerCreate struct {
	Key, Group, Consumer string
	Created              bool
	Result
}

func (r *ConsumerCreate) stage(s *stager) error {
	g, err := s.gs.existing(r.Key, r.Group)
	if err != nil {
		return err
	}
	_, r.Created = g.consumer(s, r.Consumer)
	return nil
}

// ConsumerDelete is XGROUP DELCONSUMER key group consumer: the consumer
// and its pending entries go; Pending is how many it had.
type ConsumerDelete struct {
	Key, Group, Consumer string
	Pending              int
	Result
}

func (r *ConsumerDelete) stage(s *stager) error {
	g, err := s.gs.existing(r.Key, r.Group)
	if err != nil {
		return err
	}
	r.Pending = 0
	if c := g.consumers[r.Consumer]; c != nil {
		r.Pending = g.deleteConsumer(s, c)
	}
	return nil
}

// ReadFrom is where XREADGROUP reads a key from: New (">") for entries
// never delivered to the group, otherwise the consumer's own pending
// entries after ID.
type ReadFrom struct {
	ID  ID
	New bool
	// Err is a malformed ID's error: Redis answers it after the groups of
	// the keys before it and of its own key are found.
	Err error
}

// ReadGroup is XREADGROUP GROUP group consumer [COUNT n] [NOACK] STREAMS
// key ... from ....
type ReadGroup struct {
	Group, Consumer string
	Count           int // per key; 0: DefaultReadCount
	NoAck           bool
	Keys            []string
	From            []ReadFrom // one per key
	// Streams are the keys that had entries for the reader, in the order
	// of Keys (a read of pending entries always answers its key, with or
	// without entries); nil when none had.
	Streams []StreamEntries
	Result
}

// StreamEntries are a key's entries in a reply; an entry's ID is
// EntryID(Position).
type StreamEntries struct {
	Key     string
	Entries []eventlog.Event
}

// readPlan is what ReadGroup found for one key before changing anything.
type readPlan struct {
	g   *group
	evs []eventlog.Event
	// hist are the positions a read of pending entries gives.
	hist []uint64
	// facts are the view's, when the group's entries-read is unknown.
	facts *viewFacts
}

func (r *ReadGroup) count() int {
	if r.Count <= 0 {
		return DefaultReadCount
	}
	return r.Count
}

func (r *ReadGroup) stage(s *stager) error { return r.run(s, nil) }

// run reads, and with w a blocked reader's waiter, registers w when no key
// has entries. Its transitions of w's state decide, before anything
// changes, whether w is answered now, waits, or was cancelled meanwhile.
func (r *ReadGroup) run(s *stager, w *Waiter) error {
	r.Streams = nil
	plans, err := r.plan(s)
	if err != nil {
		if w != nil && !w.to(waitSubmitted, waitAnswered) {
			return nil // cancelled: nothing to answer
		}
		return err
	}
	serves := false
	for i, p := range plans {
		serves = serves || !r.From[i].New || len(p.evs) > 0
	}
	if w != nil && serves && !w.to(waitSubmitted, waitAnswered) {
		return nil
	}
	for i, p := range plans {
		c, _ := p.g.consumer(s, r.Consumer)
		c.seen = s.now
		if r.From[i].New {
			if len(p.evs) > 0 {
				p.g.deliver(s, c, p.evs, r.NoAck, p.facts)
				r.Streams = append(r.Streams, StreamEntries{Key: r.Keys[i], Entries: p.evs})
			}
		} else {
			for _, pos := range p.hist {
				pe, _ := p.g.pel.Get(pos)
				pe.delivered, pe.count = s.now, pe.count+1
				s.putPending(p.g, pe)
			}
			r.Streams = append(r.Streams, StreamEntries{Key: r.Keys[i], Entries: p.evs})
		}
		s.putConsumer(p.g, c)
	}
	if w != nil && !serves && w.to(waitSubmitted, waitRegistered) {
		// The wait has answered nothing: what it wrote (its consumer,
		// the seen-time) need not be durable before it registers. Every
		// reply that ends it is: entries in the round that serves it, the
		// timeout's nil after Groups.Settle.
		s.b.Lazy()
		s.gs.waiting.add(w)
	}
	return nil
}

// plan finds, without changing anything, every key's group and what the
// read gives from it.
func (r *ReadGroup) plan(s *stager) ([]readPlan, error) {
	plans := make([]readPlan, len(r.Keys))
	for i, key := range r.Keys {
		g := s.gs.lookup(key, r.Group)
		if g == nil {
			return nil, &NoGroupError{Key: key, Group: r.Group}
		}
		if r.From[i].Err != nil {
			return nil, r.From[i].Err
		}
		plans[i].g = g
	}
	// A key given twice reads on from where its first read ends.
	after := map[*group]ID{}
	for i := range plans {
		p := &plans[i]
		if !r.From[i].New {
			if err := r.planHistory(s, p, r.From[i].ID); err != nil {
				return nil, err
			}
			continue
		}
		last, ok := after[p.g]
		if !ok {
			last = p.g.last
		}
		evs, err := s.gs.newEntries(p.g.view, last, s.b.Committed(), r.count())
		if err != nil {
			return nil, err
		}
		if len(evs) == 0 {
			continue
		}
		p.evs = evs
		after[p.g] = EntryID(evs[len(evs)-1].Position)
		if p.g.entriesRead < 0 {
			if p.facts, err = s.gs.facts(p.g.view, s.b.Committed()); err != nil {
				return nil, err
			}
		}
	}
	return plans, nil
}

// planHistory finds the consumer's pending entries after id.
func (r *ReadGroup) planHistory(s *stager, p *readPlan, id ID) error {
	c := p.g.consumers[r.Consumer]
	if c == nil {
		return nil
	}
	from := id.Ms
	if from == math.MaxUint64 {
		return nil
	}
	n := r.count()
	c.pel.Ascend(from+1, func(pos uint64, _ *pending) bool {
		p.hist = append(p.hist, pos)
		return len(p.hist) < n
	})
	for _, pos := range p.hist {
		e, err := s.gs.log.Event(pos)
		if err != nil {
			return err
		}
		p.evs = append(p.evs, e)
	}
	return nil
}

// newEntries are up to count entries of v after last, up to position to.
func (gs *Groups) newEntries(v View, last ID, to uint64, count int) ([]eventlog.Event, error) {
	if last.Ms >= to {
		return nil, nil
	}
	return gs.reader.Range(v, last.Ms+1, to, count, false)
}

// deliver gives c the entries, which follow g's last-delivered ID: they
// become pending for c unless noack, and g's last-delivered ID and
// entries-read counter move on.
func (g *group) deliver(s *stager, c *consumer, evs []eventlog.Event, noack bool, facts *viewFacts) {
	for i := range evs {
		id := EntryID(evs[i].Position)
		if g.last.Less(id) {
			if g.entriesRead >= 0 {
				g.entriesRead++
			} else {
				g.entriesRead = facts.entryCount(evs[i].Position)
			}
			g.last = id
		}
		if !noack {
			g.assign(s, c, evs[i].Position, s.now, 1)
			c.active = s.now
		}
	}
	s.putGroup(g)
}

// viewFacts are what Redis's estimate of a group's entries-read needs of
// a view: its length (the log deletes nothing, so also the entries ever
// added), its first and last entries, and the log's last position.
type viewFacts struct {
	added       uint64
	first, last uint64 // 0 when empty
	committed   uint64
}

func (gs *Groups) facts(v View, committed uint64) (*viewFacts, error) {
	f := &viewFacts{committed: committed}
	n, err := gs.reader.Len(v)
	if err != nil {
		return nil, err
	}
	f.added = n
	if n == 0 {
		return f, nil
	}
	first, err := gs.reader.Range(v, 1, committed, 1, false)
	if err != nil {
		return nil, err
	}
	last, err := gs.reader.Range(v, 1, committed, 1, true)
	if err != nil {
		return nil, err
	}
	if len(first) == 0 || len(last) == 0 {
		return f, nil
	}
	f.first, f.last = first[0].Position, last[0].Position
	return f, nil
}

// entryCount is entries-read for a group whose counter was unknown and
// that was just given the view's entry at pos: known for the first and the
// last entry only, -1 otherwise (Redis's streamEstimateDistanceFromFirstEverEntry).
func (f *viewFacts) entryCount(pos uint64) int64 {
	switch pos {
	case f.first:
		return 1
	case f.last:
		return int64(f.added)
	}
	return -1
}

// readCount is Redis's estimate for a last-delivered ID that may be any
// ID: the count of the view's entries up to id, when it is known without
// counting, else -1. An ID at or past the view's last entry but not past
// the log's end counts every entry (Redis knows this only for the
// stream's last ID: for a view, the log's newest position is that).
func (f *viewFacts) readCount(id ID) int64 {
	switch {
	case f.added == 0:
		return 0
	case !id.Less(EntryID(f.last)) && id.Ms <= f.committed:
		return int64(f.added)
	case id.Ms > f.committed:
		return -1
	case id.Less(EntryID(f.first)):
		return 0
	case id == EntryID(f.first):
		return 1
	}
	return -1
}

// Ack is XACK key group id ....
type Ack struct {
	Key, Group string
	IDs        []ID
	// Invalid is a malformed ID's error; Redis answers 0 for a missing
	// group before it looks at the IDs, so it is answered only then.
	Invalid error
	Acked   int
	Result
}

func (r *Ack) stage(s *stager) error {
	r.Acked = 0
	g := s.gs.lookup(r.Key, r.Group)
	if g == nil {
		return nil
	}
	if r.Invalid != nil {
		return r.Invalid
	}
	for _, id := range r.IDs {
		if id.Seq == 0 && g.ack(s, id.Ms) {
			r.Acked++
		}
	}
	return nil
}
