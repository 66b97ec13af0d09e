package streams

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/foldb/foldb/eventlog"
	"github.com/tidwall/btree"
)

// Groups are the consumer groups of a log's views: XGROUP, XREADGROUP,
// XACK, XPENDING, XCLAIM, XAUTOCLAIM and XINFO GROUPS/CONSUMERS.
//
// Their state (each group's last-delivered ID and entries-read counter,
// its consumers with their seen and active times, its pending entries
// with owner, delivery time and count) is stored in the log's Pebble
// database, under the op keys (group_keys.go), with the log's durability:
// every request is an eventlog.Op, decided in one deterministic step on
// the log's writer, in order with the appends of the same round, and
// answered once that round is durable. Under always, a reply to XACK,
// XREADGROUP, XCLAIM or XGROUP means its change survives a kill -9.
//
// Reads of the state (XPENDING, XINFO) go through the writer too. The
// in-memory state is owned by the writer's rounds: a reply shows only
// what is durable (a read waits for the round it joined, and for its
// fsync when that round writes), and once a commit has failed nothing is
// shown at all, since every later op is refused. The cost is a hand-off
// to the writer and back for every read, and for a read that joins a
// writing round, that round's fsync.
//
// The in-memory state is loaded when the groups are opened; it holds the
// groups, their consumers and their pending entries, so its size is
// bounded by the pending entries, not by the log.
type Groups struct {
	log    *eventlog.Log
	reader *Reader

	// Owned by the log's writer: touched only by ops and the watcher.
	byKey        map[string]map[string]*group // stream key, group name
	nextGID      uint64
	waiting      waiters
	publish      func(*Published) // OnPublish's
	publishViews func() bool

	closed atomic.Bool
	// count is how many groups there are, for INFO, which reads it from
	// any goroutine.
	count atomic.Int64
}

// Len is how many consumer groups there are, over every key.
func (gs *Groups) Len() int { return int(gs.count.Load()) }

// group is one consumer group.
type group struct {
	gid  uint64
	key  string
	view View
	name string
	last ID
	// entriesRead counts the view's entries up to last, as Redis's
	// entries_read does; -1 when it is not known (the ID was set by hand).
	entriesRead int64
	consumers   map[string]*consumer
	nextCID     uint64
	pel         btree.Map[uint64, *pending] // by position
}

// consumer is one consumer of a group.
type consumer struct {
	cid  uint64
	name string
	// seen is when it last read or claimed (or tried to); active when it
	// was last given an entry, -1 before that (Redis 7.2's seen_time and
	// active_time).
	seen, active int64
	pel          btree.Map[uint64, *pending]
}

// pending is a delivered entry not yet acknowledged.
type pending struct {
	pos       uint64
	owner     *consumer
	delivered int64 // last delivery, unix ms
	count     uint64
}

// Errors of group requests. Package commands turns them into Redis's
// replies.
var (
	// ErrNoKey: the key names no stream of the log (XGROUP's "requires
	// the key to exist", XINFO's "no such key").
	ErrNoKey = errors.New("streams: the key names no stream")
	// ErrBusyGroup: XGROUP CREATE of a group that exists.
	ErrBusyGroup = errors.New("streams: consumer group name already exists")
	// ErrMkStream: XGROUP CREATE ... MKSTREAM of a key that names no
	// stream: foldb's streams are views of the log, which no command
	// creates empty.
	ErrMkStream = errors.New("streams: MKSTREAM cannot create a stream: stream keys are views of the log")
	// ErrClosed: the groups were closed (the server is shutting down).
	ErrClosed = errors.New("streams: consumer groups closed")
)

// NoGroupError says that a key has no such group.
type NoGroupError struct {
	Key, Group string
	// Gone: the group was destroyed while a reader waited on it.
	Gone bool
}

func (e *NoGroupError) Error() string {
	if e.Gone {
		return fmt.Sprintf("streams: consumer group '%s' of '%s' was destroyed while waiting", e.Group, e.Key)
	}
	return fmt.Sprintf("streams: no consumer group '%s' for key '%s'", e.Group, e.Key)
}

// OpenGroups loads the groups stored in l and makes them the log's
// watcher, which serves blocked XREADGROUPs in the round of the append
// that gives them entries. Call it before serving, once per log.
func OpenGroups(l *eventlog.Log, r *Reader) (*Groups, error) {
	gs := &Groups{log: l, reader: r, byKey: map[string]map[string]*group{}, nextGID: 1}
	gs.waiting.init()
	err := l.Exclusive(func(uint64) error {
		if err := gs.load(); err != nil {
			return err
		}
		l.SetWatcher(gs)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return gs, nil
}

// Close answers every waiting XREADGROUP with ErrClosed and makes new ones
// fail; call it before the log is closed.
func (gs *Groups) Close() {
	if gs.closed.Swap(true) {
		return
	}
	gs.log.Exclusive(func(uint64) error {
		gs.waiting.closeAll()
		return nil
	})
}

// Request is one group command, decided on the log's writer: the types of
// this package (GroupCreate, ReadGroup, Ack, ...). Its result and Err are
// set when it is answered.
type Request interface {
	// stage decides the request; an error refuses it and leaves the
	// state as it was.
	stage(s *stager) error
	setErr(err error)
	// Failed is the error the request was answered with, or nil.
	Failed() error
}

// Result is embedded in every request: the error it was answered with.
type Result struct{ Err error }

func (r *Result) setErr(err error) { r.Err = err }

// Failed is r.Err.
func (r *Result) Failed() error { return r.Err }

// Do runs the requests, in order and typically in one round of the log,
// and returns when every one is answered (its Err set).
func (gs *Groups) Do(reqs ...Request) {
	ops := gs.ops(reqs)
	gs.log.Do(ops...)
	answer(reqs, ops)
}

// DoAsync is Do without the wait: done is called, on the log's writer
// goroutine (or the caller's when the log is closed), once every request
// is answered. done must not block.
func (gs *Groups) DoAsync(reqs []Request, done func()) {
	ops := gs.ops(reqs)
	gs.log.DoAsync(ops, func() {
		answer(reqs, ops)
		done()
	})
}

// Settle calls done once everything the groups' ops wrote before it is
// durable, lazy writes included (eventlog.OpBatch.Lazy): for a reply that
// reads nothing of the log but must not show a write a crash could take
// back. done is called on the log's writer goroutine (or the caller's when
// the log is closed), with the error of the round that failed, if one did;
// it must not block.
func (gs *Groups) Settle(done func(err error)) {
	op := &eventlog.Op{Stage: func(*eventlog.OpBatch) error { return nil }}
	gs.log.DoAsync([]*eventlog.Op{op}, func() { done(op.Err) })
}

// TxOps returns the requests as the log's ops, for a transaction to
// commit with its appends (eventlog.Tx.Ops); once the transaction is
// answered, Answer gives each request its result.
func (gs *Groups) TxOps(reqs ...Request) []*eventlog.Op { return gs.ops(reqs) }

// Answer gives each request of TxOps the result of its op.
func Answer(reqs []Request, ops []*eventlog.Op) { answer(reqs, ops) }

func (gs *Groups) ops(reqs []Request) []*eventlog.Op {
	ops := make([]*eventlog.Op, len(reqs))
	for i, r := range reqs {
		ops[i] = &eventlog.Op{Stage: func(b *eventlog.OpBatch) error {
			return r.stage(&stager{gs: gs, b: b, now: b.Now()})
		}}
	}
	return ops
}

func answer(reqs []Request, ops []*eventlog.Op) {
	for i, r := range reqs {
		r.setErr(ops[i].Err)
	}
}

// lookup finds a key's group.
func (gs *Groups) lookup(key, name string) *group { return gs.byKey[key][name] }

func (gs *Groups) addGroup(g *group) {
	m := gs.byKey[g.key]
	if m == nil {
		m = map[string]*group{}
		gs.byKey[g.key] = m
	}
	if _, ok := m[g.name]; !ok {
		gs.count.Add(1)
	}
	m[g.name] = g
}

func (gs *Groups) removeGroup(g *group) {
	m := gs.byKey[g.key]
	if _, ok := m[g.name]; ok {
		gs.count.Add(-1)
	}
	delete(m, g.name)
	if len(m) == 0 {
		delete(gs.byKey, g.key)
	}
}

// sortedGroups are a key's groups by name, the order Redis lists them in.
func (gs *Groups) sortedGroups(key string) []*group {
	m := gs.byKey[key]
	out := make([]*group, 0, len(m))
	for _, g := range m {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *group) int { return compareStrings(a.name, b.name) })
	return out
}

// sortedConsumers are a group's consumers by name.
func (g *group) sortedConsumers() []*consumer {
	out := make([]*consumer, 0, len(g.consumers))
	for _, c := range g.consumers {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *consumer) int { return compareStrings(a.name, b.name) })
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// consumer returns the named consumer, creating it (seen now, never
// active) when it does not exist. It reports whether it created it.
func (g *group) consumer(s *stager, name string) (*consumer, bool) {
	if c := g.consumers[name]; c != nil {
		return c, false
	}
	c := &consumer{cid: g.nextCID, name: name, seen: s.now, active: -1}
	g.nextCID++
	g.consumers[name] = c
	s.putConsumer(g, c)
	return c, true
}

// touch records that c read or claimed now.
func (g *group) touch(s *stager, c *consumer) {
	c.seen = s.now
	s.putConsumer(g, c)
}

// assign makes c the owner of the pending entry at pos (creating it when
// it is not pending) with the given delivery time and count.
func (g *group) assign(s *stager, c *consumer, pos uint64, delivered int64, count uint64) *pending {
	p, ok := g.pel.Get(pos)
	if !ok {
		p = &pending{pos: pos}
		g.pel.Set(pos, p)
	}
	if p.owner != c {
		if p.owner != nil {
			p.owner.pel.Delete(pos)
		}
		p.owner = c
		c.pel.Set(pos, p)
	}
	p.delivered, p.count = delivered, count
	s.putPending(g, p)
	return p
}

// ack removes a pending entry.
func (g *group) ack(s *stager, pos uint64) bool {
	p, ok := g.pel.Delete(pos)
	if !ok {
		return false
	}
	p.owner.pel.Delete(pos)
	s.deletePending(g, pos)
	return true
}

// deleteConsumer removes c and its pending entries, returning how many it had.
func (g *group) deleteConsumer(s *stager, c *consumer) int {
	n := c.pel.Len()
	c.pel.Scan(func(pos uint64, _ *pending) bool {
		g.pel.Delete(pos)
		s.deletePending(g, pos)
		return true
	})
	delete(g.consumers, c.name)
	s.deleteConsumer(g, c)
	return n
}
