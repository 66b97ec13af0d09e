package state

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"github.com/foldb/foldb/eventlog"
)

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

// applyEvent folds one event into every entity type it feeds.
func (s *Store) applyEvent(ev *eventlog.Event, live bool) error {
	cat, sid := eventlog.SplitStream(ev.Stream)
	r := s.routeOf(cat, ev.Type)
	if r.upcast != nil && r.upcast.needsUpcast(ev) {
		if s.upcast == nil {
			s.upcast = newUpcaster()
		}
		up, err := s.upcast.with(ev, r.upcast)
		if err != nil {
			// Folded as written, and the replay fails (upcastFailure).
			s.upcastErrors.Add(1)
			ue, _ := err.(*UpcastError)
			s.firstUpcastErr.CompareAndSwap(nil, ue)
		} else {
			ev = up
		}
	}
	if r.defaults != nil {
		ev = s.defaults.with(ev, r.defaults)
	}
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
	// defaults is the event type's shape when it declares defaults, which
	// every projection folds in place of the fields an event lacks.
	defaults *EventShape
	// upcast is the event type's shape when it declares upcast steps,
	// which every projection folds an older event through.
	upcast *EventShape
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
	r := &route{byDefault: !s.schema.declared[cat] && !s.noDefault, defaults: s.schema.shapeWithDefaults(typ)}
	if sh := s.schema.shapes[typ]; sh != nil && len(sh.upcasts) > 0 {
		r.upcast = sh
	}
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
