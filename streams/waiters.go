package streams

import (
	"sync"
	"sync/atomic"
)

// Readers are the readers blocked in XREAD ... BLOCK, which wait without a
// group: each has read its views up to a position and waits for an entry
// after it. They need no durable state, only to be told when to read
// again: Published, called for each durable round (Groups.OnPublish),
// wakes every reader whose views the round touched. A woken reader runs
// its read again, from the log.
type Readers struct {
	mu        sync.Mutex
	byKey     map[string]map[*Reading]struct{}
	count     atomic.Int64 // readers waiting; changed under mu, read without it by Waiting
	published uint64       // the newest position Published was told of
}

// Reading is one blocked reader.
type Reading struct {
	views []View
	seen  uint64 // it read its views up to this position
	wake  func()
	done  bool // woken or cancelled; guarded by Readers.mu
}

// NewReaders returns an empty registry; last is the log's newest position.
func NewReaders(last uint64) *Readers {
	return &Readers{byKey: map[string]map[*Reading]struct{}{}, published: last}
}

// Len is how many readers wait.
func (rs *Readers) Len() int { return int(rs.count.Load()) }

// Wait registers a reader that read views up to position seen and found
// nothing; wake is called once, on the goroutine that commits, when a
// durable round appends to one of the views. wake must not block. When a
// round past seen was published already, Wait registers nothing and
// returns false: the reader reads again now.
func (rs *Readers) Wait(views []View, seen uint64, wake func()) (*Reading, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if seen < rs.published {
		return nil, false
	}
	r := &Reading{views: views, seen: seen, wake: wake}
	for _, v := range views {
		set := rs.byKey[v.Key]
		if set == nil {
			set = map[*Reading]struct{}{}
			rs.byKey[v.Key] = set
		}
		set[r] = struct{}{}
	}
	rs.count.Add(1)
	return r, true
}

// Cancel removes a reader (its timeout, or its connection closed). It
// reports whether the reader was still waiting: false means wake was or
// is being called.
func (rs *Readers) Cancel(r *Reading) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if r.done {
		return false
	}
	rs.removeLocked(r)
	return true
}

func (rs *Readers) removeLocked(r *Reading) {
	r.done = true
	for _, v := range r.views {
		if set := rs.byKey[v.Key]; set != nil {
			delete(set, r)
			if len(set) == 0 {
				delete(rs.byKey, v.Key)
			}
		}
	}
	rs.count.Add(-1)
}

// Waiting reports whether any reader waits, without taking the lock: the
// commit path asks it to decide whether to name a round's views
// (Groups.OnPublish).
func (rs *Readers) Waiting() bool { return rs.count.Load() > 0 }

// Published wakes the readers of the views a durable round appended to.
func (rs *Readers) Published(p *Published) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.published = max(rs.published, p.Last)
	if rs.count.Load() == 0 {
		return
	}
	if p.Every {
		for _, set := range rs.byKey {
			for r := range set {
				if !r.done && r.seen < p.Last {
					rs.removeLocked(r)
					r.wake()
				}
			}
		}
		return
	}
	rs.wakeKey(AllKey, p.Last)
	for _, s := range p.Streams {
		rs.wakeKey(s, p.Last)
	}
	for _, c := range p.Categories {
		rs.wakeKey(CategoryPrefix+c, p.Last)
	}
	for _, t := range p.Types {
		rs.wakeKey(TypePrefix+t, p.Last)
	}
}

func (rs *Readers) wakeKey(key string, last uint64) {
	for r := range rs.byKey[key] {
		if r.seen < last {
			rs.removeLocked(r)
			r.wake()
		}
	}
}
