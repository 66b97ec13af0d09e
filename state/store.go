package state

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/foldb/foldb/eventlog"
)

// Store is the whole state in memory: every entity of every type, folded
// from the log up to Position by one Schema.
//
// One goroutine writes (the log's writer, or the loader before the store is
// published); any number read. Writes go through Stage, which folds an
// append's events into an overlay and never touches what readers see, and
// Publish, which moves the overlay into the entity trees under the write
// lock. Apply is deterministic and does no I/O: the same events in the same
// order give the same state, byte for byte.
type Store struct {
	schema *Schema

	mu     sync.RWMutex // readers: RLock; Publish and views: Lock
	tables map[string]*table
	pos    uint64

	// Owned by the writing goroutine.
	direct    bool // apply straight to the trees (loading), no overlay
	eval      *evaluator
	overlay   map[entKey]Entity // "" marks a deletion
	undo      []undoEntry
	newTables map[string]*table
	routes    map[routeKey]*route
	buf       []byte
	vals      []byte
	fields    []field
	ends      []int

	projectionErrors atomic.Uint64
	firstProjErr     atomic.Pointer[string]

	// noDefault: the store folds no undeclared category (a replay shard
	// that does not own the default projection; see split).
	noDefault bool
}

type table struct {
	name string
	idx  *index
}

type entKey struct {
	t  *table
	id string
}

type undoEntry struct {
	key     entKey
	prev    Entity
	hadPrev bool
}

// RejectedError is an append refused by a guard, or by a projection that
// failed on it; nothing of the append was written.
type RejectedError struct{ Message string }

func (e *RejectedError) Error() string { return "state: rejected: " + e.Message }

// NewStore returns an empty store for a schema, in direct mode (for loading).
func NewStore(schema *Schema) *Store {
	return &Store{
		schema:    schema,
		tables:    map[string]*table{},
		direct:    true,
		eval:      newEvaluator(),
		overlay:   map[entKey]Entity{},
		newTables: map[string]*table{},
		routes:    map[routeKey]*route{},
	}
}

func newTable(name string) *table {
	return &table{name: name, idx: newIndex()}
}

// Schema is the schema the store folds by.
func (s *Store) Schema() *Schema { return s.schema }

// Position is the newest event folded in and published.
func (s *Store) Position() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pos
}

// ProjectionErrors counts events a projection failed on while loading (they
// were skipped for that entity), with the first failure's text.
func (s *Store) ProjectionErrors() (uint64, string) {
	var first string
	if p := s.firstProjErr.Load(); p != nil {
		first = *p
	}
	return s.projectionErrors.Load(), first
}

// Apply folds one historical event in, in direct mode (loading and
// rebuilding). Guards are not checked: the event was accepted when it was
// appended. A projection that fails is counted and skipped.
func (s *Store) Apply(ev *eventlog.Event) {
	if err := s.applyEvent(ev, false); err != nil {
		s.projectionErrors.Add(1)
		msg := fmt.Sprintf("position %d (%s %s): %v", ev.Position, ev.Stream, ev.Type, err)
		s.firstProjErr.CompareAndSwap(nil, &msg)
	}
	s.pos = ev.Position
}

// Live switches the store from direct loading to staged writes; call it
// once, before the store is published to readers and the log.
func (s *Store) Live() { s.direct = false }

// Stage folds one append's events into the overlay, checking guards. On an
// error nothing of the append stays staged. It implements eventlog.Applier.
func (s *Store) Stage(events []eventlog.Event) error {
	s.undo = s.undo[:0]
	for i := range events {
		if err := s.applyEvent(&events[i], true); err != nil {
			for j := len(s.undo) - 1; j >= 0; j-- {
				u := s.undo[j]
				if u.hadPrev {
					s.overlay[u.key] = u.prev
				} else {
					delete(s.overlay, u.key)
				}
			}
			return err
		}
	}
	return nil
}

// Publish makes the staged round visible to readers.
func (s *Store) Publish(last uint64) {
	s.mu.Lock()
	for k, e := range s.overlay {
		t := k.t
		if _, ok := s.tables[t.name]; !ok {
			s.tables[t.name] = t
		}
		if e == "" {
			t.idx.Delete(k.id)
		} else {
			t.idx.Set(e)
		}
	}
	s.pos = last
	s.mu.Unlock()
	clear(s.overlay)
	clear(s.newTables)
}

// Discard drops the staged round.
func (s *Store) Discard() {
	clear(s.overlay)
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
	t := newTable(name)
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
		if e, ok := s.overlay[entKey{t, id}]; ok {
			return e, e != "", spot{}
		}
	}
	return t.idx.lookup(id)
}

// putAt is put of an id that lookup just returned at for, with no write to
// the table in between: in direct mode it does not search again.
func (s *Store) putAt(t *table, id string, at spot, e Entity) {
	if s.direct && e != "" {
		t.idx.setAt(at, e)
		return
	}
	s.put(t, id, e)
}

func (s *Store) put(t *table, id string, e Entity) {
	if s.direct {
		if e == "" {
			t.idx.Delete(id)
		} else {
			t.idx.Set(e)
		}
		return
	}
	k := entKey{t, id}
	prev, had := s.overlay[k]
	s.undo = append(s.undo, undoEntry{key: k, prev: prev, hadPrev: had})
	s.overlay[k] = e
}

// applyEvent folds one event into every entity type it feeds.
func (s *Store) applyEvent(ev *eventlog.Event, live bool) error {
	cat, sid := eventlog.SplitStream(ev.Stream)
	r := s.routeOf(cat, ev.Type)
	for _, st := range r.steps {
		if !st.versionOnly {
			if err := s.applyTo(st.t, st.h, ev, sid, live); err != nil {
				return err
			}
			continue
		}
		// The entity does not fold this event, but its version follows
		// the stream so that EXPECT keeps working.
		tbl := s.tableFor(st.t.Name)
		if cur, ok, at := s.lookup(tbl, sid); ok {
			s.putAt(tbl, sid, at, packEntity(sid, ev.Version, stringBytes(cur.JSON())))
		}
	}
	if r.byDefault {
		t := s.tableFor(cat)
		cur, ok, at := s.lookup(t, sid)
		base := []byte("{}")
		if ok {
			base = stringBytes(cur.JSON())
		}
		s.buf = mergePatch(appendEntityHead(s.buf[:0], sid, ev.Version), base, ev.Data)
		s.putAt(t, sid, at, Entity(s.buf))
	}
	return nil
}

// route is what events of one type from the streams of one category do to
// the store: the entity types they feed, in the order they are folded, and
// whether the default projection takes them. It is worked out from the
// schema once per pair, so that folding an event costs one map lookup.
type route struct {
	steps     []routeStep
	byDefault bool
}

type routeStep struct {
	t           *EntityType
	h           *Handler // t's handler of the event type, or nil
	versionOnly bool     // t does not fold the event; its entity takes the stream's version
}

type routeKey struct{ cat, typ string }

// maxRoutes bounds the routes a store keeps; past it they are worked out
// for every event.
const maxRoutes = 4096

func (s *Store) routeOf(cat, typ string) *route {
	if r, ok := s.routes[routeKey{cat, typ}]; ok {
		return r
	}
	r := &route{byDefault: !s.schema.declared[cat] && !s.noDefault}
	for _, t := range s.schema.byCategory[cat] {
		if t.feeds(typ) {
			r.steps = append(r.steps, routeStep{t: t, h: t.When[typ]})
		} else if t.streamVersioned() {
			r.steps = append(r.steps, routeStep{t: t, versionOnly: true})
		}
	}
	for _, t := range s.schema.byEvent[typ] {
		r.steps = append(r.steps, routeStep{t: t, h: t.When[typ]})
	}
	if len(s.routes) < maxRoutes {
		// A replayed event's strings are valid only while it is folded.
		s.routes[routeKey{strings.Clone(cat), strings.Clone(typ)}] = r
	}
	return r
}

// applyTo folds an event into the entity of type t it feeds, by t's
// handler h of the event type (nil: none).
func (s *Store) applyTo(t *EntityType, h *Handler, ev *eventlog.Event, streamID string, live bool) error {
	id := streamID
	if t.ID != nil {
		var out any = t.ID.value
		var err error
		if !t.ID.constant {
			out, err = s.eval.eval(t.ID, &input{entity: nil, entityID: streamID, ev: ev})
		}
		if err == nil {
			id, err = idString(out)
		}
		if err != nil {
			return &RejectedError{Message: fmt.Sprintf("%s %s: id %s: %v", t.Name, ev.Type, t.ID.src, firstLine(err))}
		}
	}
	tbl := s.tableFor(t.Name)
	cur, exists, at := s.lookup(tbl, id)
	base := t.Initial
	var version uint64 = 1
	if exists {
		base = stringBytes(cur.JSON())
		version = cur.Version() + 1
	}
	if t.streamVersioned() {
		version = ev.Version
	}
	if h == nil {
		s.putAt(tbl, id, at, packEntity(id, version, base))
		return nil
	}
	in := input{entity: base, entityID: id, ev: ev}
	if h.Require != nil && live {
		out, err := s.eval.eval(h.Require, &in)
		if err != nil {
			return &RejectedError{Message: fmt.Sprintf("%s %s: require %s: %v", t.Name, ev.Type, h.Require.src, firstLine(err))}
		}
		if ok, _ := out.(bool); !ok {
			return &RejectedError{Message: h.Message}
		}
	}
	if h.Delete {
		s.putAt(tbl, id, at, "")
		return nil
	}
	if len(h.Set) == 0 {
		s.putAt(tbl, id, at, packEntity(id, version, base))
		return nil
	}
	s.fields = s.fields[:0]
	s.vals = s.vals[:0]
	ends := s.ends[:0]
	bound := false
	for _, set := range h.Set {
		if c := set.prog.copy; c != nil {
			s.vals = appendMember(s.vals, c, base, ev)
			ends = append(ends, len(s.vals))
			continue
		}
		if a := set.prog.arith; a != nil {
			if v, ok := a.eval(base, ev); ok {
				s.vals = strconv.AppendInt(s.vals, int64(v), 10)
				ends = append(ends, len(s.vals))
				continue
			}
		}
		if !bound {
			s.eval.bind(&h.setNeeds, &in)
			bound = true
		}
		out, err := s.eval.run(set.prog)
		if err == nil {
			s.vals, err = appendValue(s.vals, out)
		}
		if err != nil {
			return &RejectedError{Message: fmt.Sprintf("%s %s: set %s: %v", t.Name, ev.Type, set.field, firstLine(err))}
		}
		ends = append(ends, len(s.vals))
	}
	s.ends = ends
	start := 0
	for i, set := range h.Set {
		s.fields = append(s.fields, field{name: set.field, raw: s.vals[start:ends[i]]})
		start = ends[i]
	}
	s.buf = setFields(appendEntityHead(s.buf[:0], id, version), base, s.fields)
	s.putAt(tbl, id, at, Entity(s.buf))
	return nil
}

// appendMember appends the JSON of the member a copy expression reads, or
// null when it is missing, as running the expression would.
func appendMember(dst []byte, c *copyMember, entity []byte, ev *eventlog.Event) []byte {
	if v := c.raw(entity, ev); v != nil {
		return append(dst, v...)
	}
	return append(dst, "null"...)
}

// raw returns the JSON of the member c reads, or nil when it is missing.
func (c *copyMember) raw(entity []byte, ev *eventlog.Event) []byte {
	obj := entity
	switch c.from {
	case nameEvent:
		obj = ev.Data
	case nameMeta:
		obj = ev.Meta
	}
	return member(obj, c.key)
}

// idString turns an id expression's result into an entity id.
func idString(v any) (string, error) {
	var id string
	switch x := v.(type) {
	case string:
		id = x
	case int:
		id = strconv.Itoa(x)
	case float64:
		if x != float64(int64(x)) {
			return "", fmt.Errorf("an id must be a string or a whole number, not %v", x)
		}
		id = strconv.FormatInt(int64(x), 10)
	default:
		return "", fmt.Errorf("an id must be a string or a whole number, not %T", v)
	}
	if id == "" {
		return "", fmt.Errorf("the id is empty")
	}
	return id, nil
}

// stringBytes views a string's bytes without copying; the bytes must not be
// changed.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// Get returns an entity as published.
func (s *Store) Get(typ, id string) (Entity, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.tables[typ]
	if !ok {
		return "", false
	}
	return t.idx.Get(id)
}

// TypeCount is an entity type and how many entities it has.
type TypeCount struct {
	Name  string
	Count int
}

// Types lists the entity types that have been written to, with counts,
// sorted by name.
func (s *Store) Types() []TypeCount {
	s.mu.RLock()
	out := make([]TypeCount, 0, len(s.tables))
	for name, t := range s.tables {
		out = append(out, TypeCount{name, t.idx.Len()})
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Len counts a type's entities.
func (s *Store) Len(typ string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if t, ok := s.tables[typ]; ok {
		return t.idx.Len()
	}
	return 0
}

// view returns a read-only copy of a type's entities as published, for
// scans that must not hold the lock. The copy is O(1): the index is
// copy-on-write, so later writes copy the pages they change.
func (s *Store) view(typ string) *index {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[typ]
	if !ok {
		return nil
	}
	return t.idx.freeze()
}

// TypeNames lists the declared entity types and the types that hold
// entities, sorted.
func (s *Store) TypeNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range s.schema.Types {
		seen[t.Name] = true
		out = append(out, t.Name)
	}
	for _, t := range s.Types() {
		if !seen[t.Name] && t.Count > 0 {
			out = append(out, t.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Capture is a consistent, read-only copy of a store's entities as of one
// position, for a snapshot. Taking it costs O(number of types): the
// indexes are copy-on-write, and the writer copies the pages it changes
// afterwards.
type Capture struct {
	Position   uint64
	SchemaHash string
	Types      []CapturedType
}

// CapturedType is one entity type of a Capture.
type CapturedType struct {
	Name  string
	Count int
	idx   *index
}

// Scan calls fn for each entity, in no particular order, until it returns
// false.
func (c *CapturedType) Scan(fn func(e Entity) bool) { c.idx.Scan(fn) }

// Capture copies the published state. Call it where no round is staged
// (inside eventlog.Log.Exclusive), so that the position is exact.
func (s *Store) Capture() *Capture {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &Capture{Position: s.pos, SchemaHash: s.schema.Hash}
	names := make([]string, 0, len(s.tables))
	for name := range s.tables {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := s.tables[name]
		c.Types = append(c.Types, CapturedType{Name: name, Count: t.idx.Len(), idx: t.idx.freeze()})
	}
	return c
}

// Restorer fills a new store from a snapshot: types, each with its
// entities in any order, then the position.
type Restorer struct {
	s *Store
	t *table
}

// NewRestorer starts a store for a schema from snapshot contents.
func NewRestorer(schema *Schema) *Restorer { return &Restorer{s: NewStore(schema)} }

// Type starts the entities of a type; each type at most once. n is how
// many entities the type is expected to have (0: unknown); the table is
// laid out for them.
func (r *Restorer) Type(name string, n int) error {
	if _, dup := r.s.tables[name]; dup {
		return fmt.Errorf("state: entity type %q restored twice", name)
	}
	r.t = &table{name: name, idx: newIndexSized(n)}
	r.s.tables[name] = r.t
	return nil
}

// Entity adds the next entity of the current type; each id at most once.
func (r *Restorer) Entity(e Entity) error {
	if r.t == nil {
		return fmt.Errorf("state: entity before its type")
	}
	if err := e.check(); err != nil {
		return err
	}
	n := r.t.idx.Len()
	r.t.idx.Set(e)
	if r.t.idx.Len() == n {
		return fmt.Errorf("state: entity %q restored twice in %q", e.ID(), r.t.name)
	}
	return nil
}

// Done returns the store as of position, ready to replay the log after it.
func (r *Restorer) Done(position uint64) *Store {
	r.s.pos = position
	return r.s
}

// split divides a store in direct mode into k shards that fold disjoint
// sets of projections, for a parallel replay: the declared types are dealt
// out in turn, the default projection goes to the last shard, and each
// shard takes the tables of what it owns out of s. A projection reads only
// its own entity and the event, so the shards can fold the same events at
// once; merge puts the tables back.
func (s *Store) split(k int) []*Store {
	shards := make([]*Store, k)
	for i := range shards {
		sub := *s.schema
		sub.byCategory = map[string][]*EntityType{}
		sub.byEvent = map[string][]*EntityType{}
		sh := NewStore(&sub)
		sh.noDefault = i != k-1
		sh.pos = s.pos
		shards[i] = sh
	}
	owner := map[*EntityType]*Store{}
	for i, t := range s.schema.Types {
		owner[t] = shards[i%k]
	}
	for cat, ts := range s.schema.byCategory {
		for _, t := range ts {
			sc := owner[t].schema
			sc.byCategory[cat] = append(sc.byCategory[cat], t)
		}
	}
	for typ, ts := range s.schema.byEvent {
		for _, t := range ts {
			sc := owner[t].schema
			sc.byEvent[typ] = append(sc.byEvent[typ], t)
		}
	}
	byName := map[string]*Store{}
	for t, sh := range owner {
		byName[t.Name] = sh
	}
	for name, t := range s.tables {
		sh, ok := byName[name]
		if !ok {
			sh = shards[k-1] // a default projection's category
		}
		sh.tables[name] = t
	}
	clear(s.tables)
	return shards
}

// merge takes the shards' tables and counts back into s.
func (s *Store) merge(shards []*Store) {
	for _, sh := range shards {
		for name, t := range sh.tables {
			s.tables[name] = t
		}
		s.pos = max(s.pos, sh.pos)
		if n := sh.projectionErrors.Load(); n > 0 {
			s.projectionErrors.Add(n)
			s.firstProjErr.CompareAndSwap(nil, sh.firstProjErr.Load())
		}
	}
}
