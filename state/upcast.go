package state

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/foldb/foldb/eventlog"
)

// Upcasting: an event type's shape declares its version, and `upcast:`
// the steps that turn the data of an event written under an older version
// into the next one (docs/schema.md, "Versions and upcasting"). Stage
// records in each event the version of its type's shape it is appended
// under (eventlog.Event.TypeVersion). Every reader of stored events sees
// them upcast: folding (Apply), the SQL projections (SQLValues.AsFolded)
// and the readers of the log (Upcaster). The log keeps the event as it was
// written.
//
// A step is pure: its expressions read the event (event, meta, type,
// stream, id, version, position, time) and nothing else, so an event
// upcasts the same way wherever and whenever it is read.

// upcastStep turns an event's data from version from to from+1: every set
// expression is evaluated against the data as it is before the step, then
// the members are written (a null one removed) and the unset ones removed.
type upcastStep struct {
	from   int
	set    []setExpr
	unset  []string
	fields []field // unset, as setFields removes them; set's are appended per event
	line   int
}

// needsUpcast reports whether ev, of sh's type, was written under an older
// version that sh knows how to upcast.
func (sh *EventShape) needsUpcast(ev *eventlog.Event) bool {
	return len(sh.upcasts) > 0 && ev.ShapeVersion() < sh.Version
}

// upcaster applies upcast steps in scratch of its own. It is not safe for
// concurrent use.
type upcaster struct {
	eval   *evaluator
	ev     eventlog.Event
	bufs   [2][]byte
	vals   []byte
	ends   []int
	fields []field
}

func newUpcaster() *upcaster { return &upcaster{eval: newEvaluator()} }

// with returns ev upcast to sh's version, valid until the next call; ev
// itself when it needs no step. ev is not changed.
func (u *upcaster) with(ev *eventlog.Event, sh *EventShape) (*eventlog.Event, error) {
	if !sh.needsUpcast(ev) {
		return ev, nil
	}
	_, sid := eventlog.SplitStream(ev.Stream)
	u.ev = *ev
	cur := &u.ev
	for v := ev.ShapeVersion(); v < sh.Version; v++ {
		st := &sh.upcasts[v-1]
		u.vals, u.ends = u.vals[:0], u.ends[:0]
		for _, set := range st.set {
			if c := set.prog.copy; c != nil && c.from != nameState {
				u.vals = appendMember(u.vals, c, emptyObject, cur)
			} else if set.prog.constant {
				u.vals, _ = appendValue(u.vals, set.prog.value)
			} else {
				out, err := u.eval.eval(set.prog, &input{entity: emptyObject, entityID: sid, ev: cur})
				if err == nil {
					u.vals, err = appendValue(u.vals, out)
				}
				if err != nil {
					return ev, &UpcastError{Type: ev.Type, From: v, Position: ev.Position, Msg: fmt.Sprintf("set %s: %v", set.field, firstLine(err))}
				}
			}
			u.ends = append(u.ends, len(u.vals))
		}
		u.fields = append(u.fields[:0], st.fields...)
		start := 0
		for i, set := range st.set {
			raw := u.vals[start:u.ends[i]]
			// null removes the member: a field is absent when null.
			u.fields = append(u.fields, field{name: set.field, raw: raw, del: string(raw) == "null"})
			start = u.ends[i]
		}
		// The data alternates between two buffers: a step reads the one
		// the step before it wrote.
		b := &u.bufs[v%2]
		*b = setFields((*b)[:0], cur.Data, u.fields)
		cur.Data = *b
	}
	cur.TypeVersion = uint32(sh.Version)
	return cur, nil
}

// UpcastError is a stored event an upcast step failed on.
type UpcastError struct {
	Type     string
	From     int // the version the failing step starts from
	Position uint64
	Msg      string
}

func (e *UpcastError) Error() string {
	return fmt.Sprintf("upcasting %s at position %d from version %d: %s", e.Type, e.Position, e.From, e.Msg)
}

// Upcaster turns stored events into the form the schema declares today,
// for the readers of the log (EVENT.READ, XRANGE, consumer groups). It is
// safe for concurrent use. A nil *Upcaster upcasts nothing.
type Upcaster struct {
	shapes map[string]*EventShape
	pool   sync.Pool
}

// Upcaster returns the schema's upcaster, or nil when no event type
// declares an upcast step.
func (s *Schema) Upcaster() *Upcaster { return s.upcaster }

func newSchemaUpcaster(shapes map[string]*EventShape) *Upcaster {
	u := &Upcaster{shapes: map[string]*EventShape{}}
	for typ, sh := range shapes {
		if len(sh.upcasts) > 0 {
			u.shapes[typ] = sh
		}
	}
	if len(u.shapes) == 0 {
		return nil
	}
	u.pool.New = func() any { return newUpcaster() }
	return u
}

// Needs reports whether ev reads differently upcast.
func (u *Upcaster) Needs(ev *eventlog.Event) bool {
	if u == nil {
		return false
	}
	sh := u.shapes[ev.Type]
	return sh != nil && sh.needsUpcast(ev)
}

// Upcast returns ev as the schema declares its type today: a copy with
// data of its own when a step applies, ev itself otherwise.
func (u *Upcaster) Upcast(ev *eventlog.Event) (*eventlog.Event, error) {
	if !u.Needs(ev) {
		return ev, nil
	}
	up := u.pool.Get().(*upcaster)
	defer u.pool.Put(up)
	out, err := up.with(ev, u.shapes[ev.Type])
	if err != nil {
		return ev, err
	}
	c := *out
	c.Data = append([]byte(nil), out.Data...)
	return &c, nil
}

// --- parsing ---

// parseUpcast reads a shape's `upcast:` section: version → step.
func parseUpcast(sh *EventShape, key, val *yaml.Node) error {
	fail := func(n *yaml.Node, field, expr, reason string) error {
		return &SchemaError{Line: n.Line, Event: sh.Type, Field: field, Expr: expr, Reason: reason}
	}
	val = deref(val)
	if val.Kind != yaml.MappingNode || len(val.Content) == 0 {
		return fail(val, "upcast", "", "upcast maps each older version to the step that turns it into the next (1: {set: {...}, unset: [...]})")
	}
	steps := map[int]upcastStep{}
	err := eachPair(val, func(k *yaml.Node, first int) error {
		return fail(k, "upcast "+k.Value, "", fmt.Sprintf("given twice (first at line %d)", first))
	}, func(k, v *yaml.Node) error {
		n, err := strconv.Atoi(k.Value)
		if k.Kind != yaml.ScalarNode || err != nil || n < 1 {
			return fail(k, "upcast "+k.Value, "", "an upcast step is keyed by the version it starts from, a whole number >= 1")
		}
		st, err := parseUpcastStep(sh, n, k, v)
		if err != nil {
			return err
		}
		steps[n] = st
		return nil
	})
	if err != nil {
		return err
	}
	sh.upcastLine = key.Line
	sh.upcastSteps = steps
	return nil
}

func parseUpcastStep(sh *EventShape, from int, k, v *yaml.Node) (upcastStep, error) {
	where := "upcast " + strconv.Itoa(from)
	fail := func(n *yaml.Node, field, expr, reason string) error {
		return &SchemaError{Line: n.Line, Event: sh.Type, Field: field, Expr: expr, Reason: reason}
	}
	st := upcastStep{from: from, line: k.Line}
	v = deref(v)
	if v.Kind != yaml.MappingNode {
		return st, fail(v, where, "", "an upcast step is a mapping (set, unset)")
	}
	err := eachPair(v, func(key *yaml.Node, first int) error {
		return fail(key, where+" "+key.Value, "", fmt.Sprintf("given twice (first at line %d)", first))
	}, func(key, val *yaml.Node) error {
		switch key.Value {
		case "set":
			val = deref(val)
			if val.Kind != yaml.MappingNode {
				return fail(val, where+" set", "", "set maps field names to expressions over the event")
			}
			return eachPair(val, func(fk *yaml.Node, first int) error {
				return fail(fk, where+" set "+fk.Value, "", fmt.Sprintf("given twice (first at line %d)", first))
			}, func(fk, fv *yaml.Node) error {
				if fk.Kind != yaml.ScalarNode || fk.Value == "" {
					return fail(fk, where+" set", "", "a field name is a non-empty name")
				}
				p, err := compileNode(fv)
				if err != nil {
					return fail(fv, where+" set "+fk.Value, fv.Value, err.Error())
				}
				if len(p.needs.fields) > 0 || p.needs.state.whole() || len(p.needs.state.members) > 0 {
					return fail(fv, where+" set "+fk.Value, fv.Value, "an upcast step reads the event only (event.<field>, meta, type, stream, id, version, position, time), not an entity's state")
				}
				st.set = append(st.set, setExpr{field: fk.Value, prog: p})
				return nil
			})
		case "unset":
			val = deref(val)
			var names []*yaml.Node
			switch val.Kind {
			case yaml.ScalarNode:
				names = []*yaml.Node{val}
			case yaml.SequenceNode:
				names = val.Content
			default:
				return fail(val, where+" unset", "", "unset is a field name or a list of them")
			}
			for _, n := range names {
				if n.Kind != yaml.ScalarNode || n.Value == "" {
					return fail(n, where+" unset", "", "a field name is a non-empty name")
				}
				st.unset = append(st.unset, n.Value)
				st.fields = append(st.fields, field{name: n.Value, del: true})
			}
		default:
			return fail(key, where+" "+key.Value, "", "unknown key (an upcast step has set, unset)")
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	for _, u := range st.unset {
		for _, s := range st.set {
			if s.field == u {
				return st, fail(k, where, "", fmt.Sprintf("%s is both set and unset", u))
			}
		}
	}
	if len(st.set) == 0 && len(st.unset) == 0 {
		return st, fail(k, where, "", "an upcast step sets or unsets at least one field")
	}
	return st, nil
}

// checkUpcasts orders a shape's steps once its version is known: every
// version from 1 to Version-1 has a step, and none starts at Version or
// after.
func (sh *EventShape) checkUpcasts() error {
	if sh.upcastSteps == nil {
		return nil
	}
	froms := make([]int, 0, len(sh.upcastSteps))
	for from := range sh.upcastSteps {
		froms = append(froms, from)
	}
	sort.Ints(froms)
	for _, from := range froms {
		if from >= sh.Version {
			return &SchemaError{Line: sh.upcastSteps[from].line, Event: sh.Type, Field: "upcast " + strconv.Itoa(from),
				Reason: fmt.Sprintf("a step from version %d, but the event's version is %d: steps start from versions 1 to %d", from, sh.Version, sh.Version-1)}
		}
	}
	for v := 1; v < sh.Version; v++ {
		st, ok := sh.upcastSteps[v]
		if !ok {
			return &SchemaError{Line: sh.upcastLine, Event: sh.Type, Field: "upcast",
				Reason: fmt.Sprintf("no step from version %d: the event's version is %d, so upcast needs a step from every version 1 to %d", v, sh.Version, sh.Version-1)}
		}
		sh.upcasts = append(sh.upcasts, st)
	}
	sh.upcastSteps = nil
	return nil
}

// fingerprint writes what of the shape changes how its events are folded:
// its version, defaults and upcast steps.
func (sh *EventShape) fingerprint(w io.Writer) {
	fmt.Fprintf(w, "shape %s %d\n", sh.Type, sh.Version)
	for _, d := range sh.defaults {
		fmt.Fprintf(w, "default %s %s\n", d.name, d.raw)
	}
	for _, st := range sh.upcasts {
		for _, set := range st.set {
			fmt.Fprintf(w, "upcast %d set %s %s\n", st.from, set.field, set.prog.src)
		}
		for _, u := range st.unset {
			fmt.Fprintf(w, "upcast %d unset %s\n", st.from, u)
		}
	}
}
