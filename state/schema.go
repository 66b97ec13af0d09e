package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Schema is a compiled set of projections and guards. It is immutable once
// parsed.
type Schema struct {
	Text string // the text it was parsed from
	Hash string // hex SHA-256 of Text
	// Types are the declared entity types, by name.
	Types []*EntityType
	// SQL are the projections into SQL databases (docs/projections.md).
	SQL []*SQLProjection
	// Events are the declared shapes of event types, in the order of the
	// schema's events: section (shape.go).
	Events []*EventShape
	// Strict refuses appends of the event types Events does not declare.
	Strict bool

	byCategory map[string][]*EntityType // types fed by streams of a category
	byEvent    map[string][]*EntityType // types fed by an event type from any stream
	declared   map[string]bool          // declared type names and categories: no default projection
	shapes     map[string]*EventShape   // Events by type
	upcaster   *Upcaster                // nil when no shape declares upcast steps
	// defaultFold is the fold of the default projection (reuse.go).
	defaultFold string
}

// EntityType is one declared entity type.
type EntityType struct {
	Name string
	// Streams is the category whose streams feed the type ("" when only
	// Events does).
	Streams string
	// Events, when not empty, limits the events folded in to these types.
	Events []string
	// ID computes the entity id; nil means the stream's id.
	ID *program
	// Initial is the state of a new entity, a JSON object.
	Initial []byte
	// When maps event types to handlers.
	When map[string]*Handler
	// Indexes are the ordered indexes kept on the type's fields
	// (index.go's hash table is by id; these are by field values).
	Indexes []*IndexDef
	line    int
	// fold identifies what the type's entities are folded from and how
	// (reuse.go): two schemas whose type has the same fold hold the same
	// entities for the same log.
	fold string
}

// IndexDef is one declared index: the top-level fields it orders entities
// by, in order (one field, or a compound of several), then by id.
type IndexDef struct {
	Fields []string
	line   int
}

// Name is the index's fields joined by commas: "price", "category,price".
func (d *IndexDef) Name() string { return strings.Join(d.Fields, ",") }

// Handler says what one event type does to an entity.
type Handler struct {
	Require *program // guard; nil when none
	Message string   // the REJECTED text when Require is false
	Set     []setExpr
	Delete  bool
	// setNeeds is what the Set expressions that are not plain copies
	// read, bound once per event.
	setNeeds needs
}

type setExpr struct {
	field string
	prog  *program
}

// feeds reports whether the type takes events of this type.
func (t *EntityType) feeds(eventType string) bool {
	if len(t.Events) == 0 {
		return true
	}
	for _, e := range t.Events {
		if e == eventType {
			return true
		}
	}
	return false
}

// streamVersioned reports whether an entity of this type follows one
// stream, so that its version is that stream's version.
func (t *EntityType) streamVersioned() bool { return t.Streams != "" && t.ID == nil }

// SchemaError is a schema refused, with where and why.
type SchemaError struct {
	Line   int    // line in the schema text, 0 when unknown
	Entity string // entity type, when known
	Event  string // event type, when known
	Field  string // the key being read (set field, require, id, ...)
	Expr   string // the expression, when one failed to compile
	Reason string
}

func (e *SchemaError) Error() string {
	var b strings.Builder
	b.WriteString("state: schema")
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	sep := ": "
	for _, part := range []struct{ label, value string }{{"entity ", e.Entity}, {"event ", e.Event}, {"", e.Field}} {
		if part.value != "" {
			b.WriteString(sep)
			b.WriteString(part.label)
			b.WriteString(part.value)
			sep = ", "
		}
	}
	if e.Expr != "" {
		fmt.Fprintf(&b, " %q", e.Expr)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Detail is the message without the package prefix.
func (e *SchemaError) Detail() string { return strings.TrimPrefix(e.Error(), "state: ") }

var typeNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-]*$`)

// EmptySchema declares nothing: every stream folds by merge patch.
func EmptySchema() *Schema {
	s, err := ParseSchema("")
	if err != nil {
		panic(err)
	}
	return s
}

// ParseSchema parses and compiles a schema in YAML or JSON. The whole schema
// is checked; the first problem is returned as a *SchemaError.
func ParseSchema(text string) (*Schema, error) {
	sum := sha256.Sum256([]byte(text))
	s := &Schema{
		Text:       text,
		Hash:       hex.EncodeToString(sum[:]),
		byCategory: map[string][]*EntityType{},
		byEvent:    map[string][]*EntityType{},
		declared:   map[string]bool{},
	}
	if strings.TrimSpace(text) == "" {
		return s, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		line, reason := yamlError(err)
		return nil, &SchemaError{Line: line, Reason: reason}
	}
	if len(doc.Content) == 0 {
		return s, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &SchemaError{Line: root.Line, Reason: "a schema is a mapping with the keys 'entities', 'events', 'sql' and 'strict'"}
	}
	var entities, sql, events *yaml.Node
	seen := map[string]int{} // key: its line
	for i := 0; i < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if line, twice := seen[k.Value]; twice {
			// yaml.Node keeps both; taking the last would drop the first without a word.
			return nil, &SchemaError{Line: k.Line, Reason: fmt.Sprintf("'%s' twice (first at line %d)", k.Value, line)}
		}
		seen[k.Value] = k.Line
		switch k.Value {
		case "entities":
			entities = v
		case "sql":
			sql = v
		case "events":
			events = v
		case "strict":
			b, ok := boolNode(v)
			if !ok {
				return nil, &SchemaError{Line: v.Line, Field: "strict", Reason: "strict is true or false: whether event types that 'events' does not declare are refused"}
			}
			s.Strict = b
		default:
			return nil, &SchemaError{Line: k.Line, Reason: fmt.Sprintf("unknown key '%s' (a schema has 'entities', 'events', 'sql' and 'strict')", k.Value)}
		}
	}
	if events != nil {
		if err := s.parseEvents(events); err != nil {
			return nil, err
		}
		s.upcaster = newSchemaUpcaster(s.shapes)
	}
	if entities == nil && len(root.Content) > 0 {
		entities = &yaml.Node{Kind: yaml.MappingNode}
	}
	if entities == nil || entities.Kind != yaml.MappingNode {
		line := root.Line
		if entities != nil {
			line = entities.Line
		}
		return nil, &SchemaError{Line: line, Reason: "'entities' must map entity type names to their declarations"}
	}
	entityNodes := map[string]*yaml.Node{}
	for i := 0; i < len(entities.Content); i += 2 {
		k, v := entities.Content[i], entities.Content[i+1]
		entityNodes[k.Value] = v
		t, err := parseEntityType(k, v)
		if err != nil {
			return nil, err
		}
		for _, prev := range s.Types {
			if prev.Name == t.Name {
				return nil, &SchemaError{Line: k.Line, Entity: t.Name, Reason: fmt.Sprintf("declared twice (first at line %d)", prev.line)}
			}
		}
		s.Types = append(s.Types, t)
		s.declared[t.Name] = true
		if t.Streams != "" {
			s.byCategory[t.Streams] = append(s.byCategory[t.Streams], t)
			s.declared[t.Streams] = true
		} else {
			for _, e := range t.Events {
				s.byEvent[e] = append(s.byEvent[e], t)
			}
		}
	}
	if sql != nil {
		if err := s.parseSQL(sql, entityNodes); err != nil {
			return nil, err
		}
	}
	s.setFolds(entityNodes)
	return s, nil
}

// yamlError splits "yaml: line 3: reason" into its line and reason.
func yamlError(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, reason, ok := strings.Cut(rest, ": ")
		if n, err := strconv.Atoi(num); ok && err == nil {
			return n, reason
		}
	}
	return 0, msg
}

func parseEntityType(k, v *yaml.Node) (*EntityType, error) {
	t := &EntityType{Name: k.Value, line: k.Line, When: map[string]*Handler{}, Initial: []byte("{}")}
	fail := func(n *yaml.Node, field, reason string) error {
		return &SchemaError{Line: n.Line, Entity: t.Name, Field: field, Reason: reason}
	}
	if !typeNameRE.MatchString(t.Name) {
		return nil, fail(k, "", "an entity type name is letters, digits, '_', '.' and '-'")
	}
	if v.Kind != yaml.MappingNode {
		return nil, fail(v, "", "an entity type is a mapping (streams, events, id, initial, when)")
	}
	var hasStreams bool
	for i := 0; i < len(v.Content); i += 2 {
		key, val := v.Content[i], v.Content[i+1]
		switch key.Value {
		case "streams":
			if val.Kind != yaml.ScalarNode || val.Value == "" || strings.Contains(val.Value, ":") {
				return nil, fail(val, "streams", "streams names one category, such as 'account' for streams account:<id>")
			}
			t.Streams, hasStreams = val.Value, true
		case "events":
			if val.Kind != yaml.SequenceNode || len(val.Content) == 0 {
				return nil, fail(val, "events", "events is a list of event types")
			}
			for _, e := range val.Content {
				if e.Kind != yaml.ScalarNode || e.Value == "" {
					return nil, fail(e, "events", "an event type is a non-empty name")
				}
				t.Events = append(t.Events, e.Value)
			}
		case "id":
			p, err := compileNode(val)
			if err != nil {
				return nil, &SchemaError{Line: val.Line, Entity: t.Name, Field: "id", Expr: val.Value, Reason: err.Error()}
			}
			t.ID = p
		case "initial":
			if val.Kind != yaml.MappingNode {
				return nil, fail(val, "initial", "initial is a mapping: the fields of a new entity")
			}
			b, err := nodeJSON(val)
			if err != nil {
				return nil, fail(val, "initial", err.Error())
			}
			t.Initial = b
		case "when":
			if val.Kind != yaml.MappingNode {
				return nil, fail(val, "when", "when maps event types to handlers")
			}
			for j := 0; j < len(val.Content); j += 2 {
				ek, ev := val.Content[j], val.Content[j+1]
				if _, dup := t.When[ek.Value]; dup {
					return nil, &SchemaError{Line: ek.Line, Entity: t.Name, Event: ek.Value, Reason: "handler declared twice"}
				}
				h, err := parseHandler(t.Name, ek, ev)
				if err != nil {
					return nil, err
				}
				t.When[ek.Value] = h
			}
		case "indexes":
			defs, err := parseIndexes(t.Name, val)
			if err != nil {
				return nil, err
			}
			t.Indexes = defs
		case "on", "true":
			return nil, fail(key, key.Value, "handlers go under 'when', not 'on' (YAML 1.1 parsers read a bare 'on' as true)")
		default:
			return nil, fail(key, key.Value, "unknown key (an entity type has streams, events, id, initial, when, indexes)")
		}
	}
	if !hasStreams && len(t.Events) == 0 {
		t.Streams = t.Name
	}
	if t.Streams == "" && t.ID == nil {
		return nil, fail(k, "id", "an entity type fed by 'events' from any stream needs an 'id' expression, such as '\"totals\"' or 'event.accountId'")
	}
	for name := range t.When {
		if len(t.Events) > 0 && !t.feeds(name) {
			return nil, &SchemaError{Line: k.Line, Entity: t.Name, Event: name, Reason: "has a handler but is not listed in 'events'"}
		}
	}
	return t, nil
}

// parseIndexes reads `indexes: [price, [category, price]]`: each entry a
// top-level field name, or a list of them for a compound index.
func parseIndexes(entity string, v *yaml.Node) ([]*IndexDef, error) {
	fail := func(n *yaml.Node, reason string) error {
		return &SchemaError{Line: n.Line, Entity: entity, Field: "indexes", Reason: reason}
	}
	if v.Kind != yaml.SequenceNode {
		return nil, fail(v, "indexes is a list of fields, each a field name or a list of field names (a compound index)")
	}
	var defs []*IndexDef
	field := func(n *yaml.Node) (string, error) {
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" || n.Value == "" {
			return "", fail(n, "an indexed field is a non-empty field name")
		}
		return n.Value, nil
	}
	for _, e := range v.Content {
		d := &IndexDef{line: e.Line}
		switch e.Kind {
		case yaml.ScalarNode:
			f, err := field(e)
			if err != nil {
				return nil, err
			}
			d.Fields = []string{f}
		case yaml.SequenceNode:
			if len(e.Content) == 0 {
				return nil, fail(e, "a compound index lists one or more fields")
			}
			for _, c := range e.Content {
				f, err := field(c)
				if err != nil {
					return nil, err
				}
				if slices.Contains(d.Fields, f) {
					return nil, fail(c, fmt.Sprintf("field %s appears twice in one index", f))
				}
				d.Fields = append(d.Fields, f)
			}
		default:
			return nil, fail(e, "an index is a field name or a list of field names (a compound index)")
		}
		for _, prev := range defs {
			if slices.Equal(prev.Fields, d.Fields) {
				return nil, fail(e, fmt.Sprintf("index %s declared twice (first at line %d)", d.Name(), prev.line))
			}
		}
		defs = append(defs, d)
	}
	return defs, nil
}

func parseHandler(entity string, k, v *yaml.Node) (*Handler, error) {
	fail := func(n *yaml.Node, field, expr, reason string) error {
		return &SchemaError{Line: n.Line, Entity: entity, Event: k.Value, Field: field, Expr: expr, Reason: reason}
	}
	if k.Value == "" {
		return nil, fail(k, "", "", "an event type is a non-empty name")
	}
	if v.Kind != yaml.MappingNode {
		return nil, fail(v, "", "", "a handler is a mapping (set, delete, require, message)")
	}
	h := &Handler{}
	var requireNode *yaml.Node
	for i := 0; i < len(v.Content); i += 2 {
		key, val := v.Content[i], v.Content[i+1]
		switch key.Value {
		case "set":
			if val.Kind != yaml.MappingNode {
				return nil, fail(val, "set", "", "set maps field names to expressions")
			}
			for j := 0; j < len(val.Content); j += 2 {
				fk, fv := val.Content[j], val.Content[j+1]
				if fk.Value == "" {
					return nil, fail(fk, "set", "", "a field name must not be empty")
				}
				if fv.Kind != yaml.ScalarNode {
					return nil, fail(fv, "set "+fk.Value, "", "a set value is an expression; write an object as {\"key\": value}")
				}
				p, err := compileNode(fv)
				if err != nil {
					return nil, fail(fv, "set "+fk.Value, fv.Value, err.Error())
				}
				h.Set = append(h.Set, setExpr{field: fk.Value, prog: p})
				if p.copy == nil {
					h.setNeeds.merge(&p.needs)
				}
			}
		case "delete":
			b, err := strconv.ParseBool(val.Value)
			if err != nil || val.Kind != yaml.ScalarNode {
				return nil, fail(val, "delete", "", "delete is true or false")
			}
			h.Delete = b
		case "require":
			if val.Kind != yaml.ScalarNode {
				return nil, fail(val, "require", "", "require is one boolean expression")
			}
			p, err := compile(val.Value, true)
			if err != nil {
				return nil, fail(val, "require", val.Value, err.Error())
			}
			h.Require, requireNode = p, val
		case "message":
			if val.Kind != yaml.ScalarNode {
				return nil, fail(val, "message", "", "message is text")
			}
			h.Message = val.Value
		default:
			return nil, fail(key, key.Value, "", "unknown key (a handler has set, delete, require, message)")
		}
	}
	if h.Delete && len(h.Set) > 0 {
		return nil, fail(v, "delete", "", "a handler either deletes or sets, not both")
	}
	if h.Message != "" && h.Require == nil {
		return nil, fail(v, "message", "", "message goes with require")
	}
	if h.Require != nil && h.Message == "" {
		h.Message = fmt.Sprintf("%s %s: require %s", entity, k.Value, requireNode.Value)
	}
	return h, nil
}

// compileNode compiles a scalar as an expression: a YAML number or boolean
// is its own literal.
func compileNode(n *yaml.Node) (*program, error) {
	if n.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("an expression is one scalar")
	}
	return compile(n.Value, false)
}

// nodeJSON converts a YAML node to JSON, keeping mapping order.
func nodeJSON(n *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	if err := writeNodeJSON(&b, n); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeNodeJSON(b *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.AliasNode:
		return writeNodeJSON(b, n.Alias)
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(appendJSONString(nil, n.Content[i].Value))
			b.WriteByte(':')
			if err := writeNodeJSON(b, n.Content[i+1]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeNodeJSON(b, c); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			var v any
			if err := n.Decode(&v); err != nil {
				return err
			}
			out, err := appendValue(nil, v)
			if err != nil {
				return fmt.Errorf("line %d: %v", n.Line, err)
			}
			b.Write(out)
		case "!!bool":
			var v bool
			if err := n.Decode(&v); err != nil {
				return err
			}
			b.WriteString(strconv.FormatBool(v))
		case "!!null":
			b.WriteString("null")
		default:
			b.Write(appendJSONString(nil, n.Value))
		}
	default:
		return fmt.Errorf("line %d: unsupported YAML node", n.Line)
	}
	return nil
}

// StreamOf names the one stream whose version an entity follows, when its
// type is fed by one stream per entity (declared with streams and no id, or
// undeclared).
func (s *Schema) StreamOf(typ, id string) (string, bool) {
	for _, t := range s.Types {
		if t.Name == typ {
			if t.streamVersioned() {
				return t.Streams + ":" + id, true
			}
			return "", false
		}
	}
	if s.declared[typ] {
		return "", false
	}
	return typ + ":" + id, true
}
