package streams

// InfoStreamFull is the "groups" of XINFO STREAM key FULL: every group of
// the key with its pending entries and its consumers, as Redis 7.2 gives
// them.
type InfoStreamFull struct {
	Key string
	// Count bounds each list of pending entries (the group's and each
	// consumer's), as FULL's COUNT bounds them in Redis; 0 for all.
	Count  int
	Groups []GroupFull
	Result
}

// GroupFull is one group in XINFO STREAM FULL.
type GroupFull struct {
	Name          string
	LastDelivered ID
	EntriesRead   int64 // -1: unknown (nil in the reply)
	Lag           int64 // -1: unknown (nil in the reply)
	PELCount      int
	Pending       []PendingFull // the first Count, by ID
	Consumers     []ConsumerFull
}

// PendingFull is one pending entry in XINFO STREAM FULL.
type PendingFull struct {
	ID        ID
	Consumer  string // in the group's list; empty in a consumer's
	Delivered int64  // the last delivery, unix ms
	Count     uint64 // deliveries
}

// ConsumerFull is one consumer in XINFO STREAM FULL.
type ConsumerFull struct {
	Name string
	// Seen is when it last read or claimed, unix ms; Active when it was
	// last given an entry, -1 when never (Redis 7.2's seen-time and
	// active-time).
	Seen, Active int64
	PELCount     int
	Pending      []PendingFull // the first Count, by ID
}

func (r *InfoStreamFull) stage(s *stager) error {
	r.Groups = nil
	gs, f, err := s.keyGroups(r.Key)
	if err != nil || len(gs) == 0 {
		return err
	}
	for _, g := range gs {
		info := GroupFull{Name: g.name, LastDelivered: g.last, EntriesRead: g.entriesRead, Lag: g.lag(f), PELCount: g.pel.Len()}
		g.pel.Scan(func(pos uint64, p *pending) bool {
			info.Pending = append(info.Pending, PendingFull{ID: EntryID(pos), Consumer: p.owner.name, Delivered: p.delivered, Count: p.count})
			return r.Count == 0 || len(info.Pending) < r.Count
		})
		for _, c := range g.sortedConsumers() {
			cf := ConsumerFull{Name: c.name, Seen: c.seen, Active: c.active, PELCount: c.pel.Len()}
			c.pel.Scan(func(pos uint64, p *pending) bool {
				cf.Pending = append(cf.Pending, PendingFull{ID: EntryID(pos), Delivered: p.delivered, Count: p.count})
				return r.Count == 0 || len(cf.Pending) < r.Count
			})
			info.Consumers = append(info.Consumers, cf)
		}
		r.Groups = append(r.Groups, info)
	}
	return nil
}

// keyGroups is key's groups by name and the facts of its view that their
// lag needs (nil when it has no group); ErrNoKey when key names no stream.
func (s *stager) keyGroups(key string) ([]*group, *viewFacts, error) {
	v := ParseKey(key)
	if v.Kind == KindNone {
		return nil, nil, ErrNoKey
	}
	gs := s.gs.sortedGroups(key)
	if len(gs) == 0 {
		return nil, nil, nil
	}
	f, err := s.gs.facts(v, s.b.Committed())
	if err != nil {
		return nil, nil, err
	}
	return gs, f, nil
}
