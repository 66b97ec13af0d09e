package state

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/tidwall/gjson"
	"go.yaml.in/yaml/v3"

	"github.com/foldb/foldb/eventlog"
)

// SQLProjection is one projection of the schema's `sql:` section: a table
// in a database named in the settings that foldb keeps up to date from the
// log. It mirrors the entities of one type (From), a row per entity, or adds
// a row per event of some types (Events).
type SQLProjection struct {
	Name string
	// Database names a database of the settings; DatabaseLine is where
	// the schema names it, for an error about it.
	Database     string
	DatabaseLine int
	// From is the entity type mirrored, "" for an event projection.
	From string
	// Events are the event types an event projection takes a row of;
	// Streams, when not "", limits them to the streams of one category.
	Events  []string
	Streams string
	Table   string
	Columns []*SQLColumn
	// Key is the index in Columns of the primary key: the column whose
	// expression is `id` for an entity projection, `position` for an event
	// projection; -1 when there is none.
	Key     int
	Indexes []string
	// Definition is a hash of everything the table's rows depend on: the
	// declaration, and for an entity projection the entity type's own. A
	// stored checkpoint with another definition means rebuild.
	Definition string
	Line       int
	// shapes are the shapes of Events that declare defaults or upcast
	// steps, which an event's row sees (AsFolded).
	shapes map[string]*EventShape
}

// SQLColumn is one column of an SQL projection.
type SQLColumn struct {
	Name string
	// Type is one of SQLTypes.
	Type string
	Expr string
	prog *program
}

// SQLTypes are the column types an SQL projection may declare.
var SQLTypes = []string{"text", "integer", "real", "boolean", "json", "timestamp"}

var sqlNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func sqlError(n *yaml.Node, projection, field, expr, reason string) *SchemaError {
	e := &SchemaError{Line: n.Line, Field: field, Expr: expr, Reason: reason}
	if projection != "" {
		e.Field = strings.TrimSuffix("sql "+projection+", "+field, ", ")
	}
	return e
}

// parseSQL reads the `sql:` section, after the entity types.
func (s *Schema) parseSQL(section *yaml.Node, entityNodes map[string]*yaml.Node) error {
	if section.Kind != yaml.MappingNode {
		return sqlError(section, "", "sql", "", "'sql' maps projection names to their declarations")
	}
	tables := map[string]string{} // database/table -> projection
	for i := 0; i < len(section.Content); i += 2 {
		k, v := section.Content[i], section.Content[i+1]
		p, err := s.parseSQLProjection(k, v, entityNodes)
		if err != nil {
			return err
		}
		for _, prev := range s.SQL {
			if prev.Name == p.Name {
				return sqlError(k, p.Name, "", "", fmt.Sprintf("declared twice (first at line %d)", prev.Line))
			}
		}
		where := p.Database + "/" + strings.ToLower(p.Table)
		if prev, dup := tables[where]; dup {
			return sqlError(k, p.Name, "table", "", fmt.Sprintf("table %s of database %s is projection %s's already", p.Table, p.Database, prev))
		}
		tables[where] = p.Name
		s.SQL = append(s.SQL, p)
	}
	return nil
}

func (s *Schema) parseSQLProjection(k, v *yaml.Node, entityNodes map[string]*yaml.Node) (*SQLProjection, error) {
	p := &SQLProjection{Name: k.Value, Line: k.Line, Key: -1}
	fail := func(n *yaml.Node, field, reason string) error { return sqlError(n, p.Name, field, "", reason) }
	if !typeNameRE.MatchString(p.Name) {
		return nil, fail(k, "", "a projection name is letters, digits, '_', '.' and '-'")
	}
	if v.Kind != yaml.MappingNode {
		return nil, fail(v, "", "a projection is a mapping (database, from or events, table, columns, indexes)")
	}
	var columns, indexes *yaml.Node
	for i := 0; i < len(v.Content); i += 2 {
		key, val := v.Content[i], v.Content[i+1]
		scalar := func() (string, error) {
			if val.Kind != yaml.ScalarNode || val.Value == "" {
				return "", fail(val, key.Value, key.Value+" is one name")
			}
			return val.Value, nil
		}
		var err error
		switch key.Value {
		case "database":
			p.Database, err = scalar()
			p.DatabaseLine = val.Line
		case "from":
			p.From, err = scalar()
			if err == nil && !typeNameRE.MatchString(p.From) {
				err = fail(val, "from", "from names an entity type")
			}
		case "streams":
			p.Streams, err = scalar()
			if err == nil && strings.Contains(p.Streams, ":") {
				err = fail(val, "streams", "streams names one category, such as 'account' for streams account:<id>")
			}
		case "events":
			if val.Kind != yaml.SequenceNode || len(val.Content) == 0 {
				return nil, fail(val, "events", "events is a list of event types")
			}
			for _, e := range val.Content {
				if e.Kind != yaml.ScalarNode || e.Value == "" {
					return nil, fail(e, "events", "an event type is a non-empty name")
				}
				p.Events = append(p.Events, e.Value)
			}
		case "table":
			p.Table, err = scalar()
			if err == nil && !sqlNameRE.MatchString(p.Table) {
				err = fail(val, "table", "a table name is letters, digits and '_', not starting with a digit")
			}
			if err == nil && strings.HasPrefix(strings.ToLower(p.Table), "foldb_") {
				err = fail(val, "table", "table names starting with foldb_ are foldb's own")
			}
		case "columns":
			columns = val
		case "indexes":
			indexes = val
		default:
			return nil, fail(key, key.Value, "unknown key (a projection has database, from, events, streams, table, columns, indexes)")
		}
		if err != nil {
			return nil, err
		}
	}
	switch {
	case p.Database == "":
		return nil, fail(k, "database", "a projection names its database (one of the settings' databases, or sqlite for the embedded default)")
	case p.From != "" && len(p.Events) > 0:
		return nil, fail(k, "events", "a projection mirrors entities (from) or adds a row per event (events), not both")
	case p.From == "" && len(p.Events) == 0:
		return nil, fail(k, "from", "a projection needs from (an entity type: a row per entity) or events (a row per event)")
	case p.From != "" && p.Streams != "":
		return nil, fail(k, "streams", "streams goes with events; an entity projection follows its type's streams")
	case p.Table == "":
		p.Table = strings.NewReplacer(".", "_", "-", "_").Replace(p.Name)
		if !sqlNameRE.MatchString(p.Table) {
			return nil, fail(k, "table", "name the table: the projection's name is not a table name")
		}
	}
	var entity *EntityType
	if p.From != "" {
		for _, t := range s.Types {
			if t.Name == p.From {
				entity = t
			}
		}
		for _, t := range s.Types {
			if entity == nil && t.Streams == p.From {
				return nil, fail(k, "from", fmt.Sprintf("from names an entity type: streams %s feed type %s", p.From, t.Name))
			}
		}
	}
	if columns == nil || columns.Kind != yaml.MappingNode || len(columns.Content) == 0 {
		n := k
		if columns != nil {
			n = columns
		}
		return nil, fail(n, "columns", "columns maps column names to expressions")
	}
	for i := 0; i < len(columns.Content); i += 2 {
		ck, cv := columns.Content[i], columns.Content[i+1]
		c, err := parseSQLColumn(p, entity, ck, cv)
		if err != nil {
			return nil, err
		}
		for _, prev := range p.Columns {
			if strings.EqualFold(prev.Name, c.Name) {
				return nil, fail(ck, "column "+c.Name, "declared twice")
			}
		}
		keyExpr := "position"
		if p.From != "" {
			keyExpr = "id"
		}
		if p.Key < 0 && strings.TrimSpace(c.Expr) == keyExpr {
			p.Key = len(p.Columns)
		}
		p.Columns = append(p.Columns, c)
	}
	if p.From != "" && p.Key < 0 {
		return nil, fail(columns, "columns", "an entity projection needs a column whose expression is id: the table's primary key")
	}
	if indexes != nil {
		if indexes.Kind != yaml.SequenceNode {
			return nil, fail(indexes, "indexes", "indexes is a list of column names")
		}
		for _, n := range indexes.Content {
			found := false
			for _, c := range p.Columns {
				found = found || (n.Kind == yaml.ScalarNode && c.Name == n.Value)
			}
			if !found {
				return nil, fail(n, "indexes", fmt.Sprintf("%q is not a column of the projection", n.Value))
			}
			p.Indexes = append(p.Indexes, n.Value)
		}
	}
	h := sha256.New()
	decl, _ := yaml.Marshal(v)
	fmt.Fprintf(h, "sql %s\n%s", p.Name, decl)
	// What the rows see of the events is part of the definition: the
	// defaults and upcast steps of the event types a projection of events
	// reads, and of every event type for a projection of entities (which
	// of them feed the entity is the fold's business).
	for _, typ := range p.Events {
		if sh := s.shapes[typ]; sh != nil && (len(sh.defaults) > 0 || len(sh.upcasts) > 0) {
			if p.shapes == nil {
				p.shapes = map[string]*EventShape{}
			}
			p.shapes[typ] = sh
			sh.fingerprint(h)
		}
	}
	if p.From != "" {
		if n := entityNodes[p.From]; n != nil {
			decl, _ := yaml.Marshal(n)
			fmt.Fprintf(h, "entity %s\n%s", p.From, decl)
		}
		for _, sh := range s.Events {
			sh.fingerprint(h)
		}
	}
	p.Definition = hex.EncodeToString(h.Sum(nil))[:16]
	return p, nil
}

func parseSQLColumn(p *SQLProjection, entity *EntityType, k, v *yaml.Node) (*SQLColumn, error) {
	c := &SQLColumn{Name: k.Value}
	field := "column " + c.Name
	if !sqlNameRE.MatchString(c.Name) {
		return nil, sqlError(k, p.Name, field, "", "a column name is letters, digits and '_', not starting with a digit")
	}
	exprNode := v
	switch v.Kind {
	case yaml.ScalarNode:
	case yaml.MappingNode:
		exprNode = nil
		for i := 0; i < len(v.Content); i += 2 {
			key, val := v.Content[i], v.Content[i+1]
			switch key.Value {
			case "expr":
				exprNode = val
			case "type":
				if val.Kind != yaml.ScalarNode || !validSQLType(val.Value) {
					return nil, sqlError(val, p.Name, field, "", "type is one of "+strings.Join(SQLTypes, ", "))
				}
				c.Type = val.Value
			default:
				return nil, sqlError(key, p.Name, field, "", "unknown key (a column is an expression, or {expr, type})")
			}
		}
		if exprNode == nil {
			return nil, sqlError(v, p.Name, field, "", "a column declared as a mapping has expr")
		}
	default:
		return nil, sqlError(v, p.Name, field, "", "a column is an expression, or {expr: ..., type: ...}")
	}
	if exprNode.Kind != yaml.ScalarNode {
		return nil, sqlError(exprNode, p.Name, field, "", "an expression is one scalar")
	}
	c.Expr = exprNode.Value
	prog, err := compileNode(exprNode)
	if err != nil {
		return nil, sqlError(exprNode, p.Name, field, c.Expr, err.Error())
	}
	c.prog = prog
	if p.From != "" {
		if names := eventNames(prog); names != "" {
			return nil, sqlError(exprNode, p.Name, field, c.Expr, names+" is not bound in an entity projection: a row is the entity (its fields, state, id, version)")
		}
	}
	if c.Type == "" {
		c.Type = inferSQLType(prog, entity, p.From == "")
		if c.Type == "" {
			return nil, sqlError(exprNode, p.Name, field, c.Expr, "cannot tell the column's type: declare it, as {expr: "+c.Expr+", type: integer} (one of "+strings.Join(SQLTypes, ", ")+")")
		}
	}
	return c, nil
}

func validSQLType(t string) bool {
	for _, x := range SQLTypes {
		if x == t {
			return true
		}
	}
	return false
}

// eventNames names the event's own names an expression reads, which an
// entity row does not have.
func eventNames(p *program) string {
	var out []string
	if p.needs.event.whole() || len(p.needs.event.members) > 0 {
		out = append(out, nameEvent)
	}
	if p.needs.meta.whole() || len(p.needs.meta.members) > 0 {
		out = append(out, nameMeta)
	}
	for _, n := range []string{nameType, nameStream, namePosition, nameTime} {
		if p.needs.scalar[n] {
			out = append(out, n)
		}
	}
	return strings.Join(out, ", ")
}

// inferSQLType is a column's type when the expression tells it: a bound
// name, a field with a value in the entity type's initial state, a literal,
// or an operator whose result type is known. It is "" when it cannot tell.
func inferSQLType(p *program, entity *EntityType, eventRow bool) string {
	switch strings.TrimSpace(p.src) {
	case nameID, nameType, nameStream:
		return "text"
	case nameVersion, namePosition:
		return "integer"
	case nameTime:
		if eventRow {
			return "timestamp"
		}
	case nameState, nameEvent, nameMeta:
		return "json"
	}
	if p.copy != nil && p.copy.from == nameState && entity != nil {
		v := gjson.GetBytes(entity.Initial, gjson.Escape(p.copy.key))
		switch v.Type {
		case gjson.String:
			return "text"
		case gjson.True, gjson.False:
			return "boolean"
		case gjson.Number:
			if _, whole := intValue([]byte(v.Raw)); whole {
				return "integer"
			}
			return "real"
		case gjson.JSON:
			return "json"
		}
	}
	t := p.prog.Node().Type()
	if t == nil {
		return ""
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.String:
		return "text"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "real"
	case reflect.Map, reflect.Slice, reflect.Array:
		return "json"
	}
	return ""
}

// SQLValues evaluates the columns of SQL projections. It is not safe for
// concurrent use: each projector has its own.
type SQLValues struct {
	ev       *evaluator
	defaults defaulter
	upcast   *upcaster
}

// NewSQLValues returns an evaluator of SQL columns.
func NewSQLValues() *SQLValues { return &SQLValues{ev: newEvaluator()} }

// Entity evaluates a column for the row of an entity: its fields, state,
// id and version are bound. A result is nil, a bool, an int, a float64, a
// string, a map[string]any or a []any.
func (v *SQLValues) Entity(c *SQLColumn, e Entity) (any, error) {
	json := stringBytes(e.JSON())
	if cp := c.prog.copy; cp != nil && cp.from == nameState {
		return rawValue(member(json, cp.key)), nil
	}
	if cp := c.prog; cp.constant {
		return cp.value, nil
	}
	out, err := v.ev.eval(c.prog, &input{entity: json, entityID: e.ID(), version: e.Version()})
	if err != nil {
		return nil, firstLine(err)
	}
	return out, nil
}

// Event evaluates a column for the row of an event: event, meta, type,
// stream, version, position and time are bound, and id is the stream's
// id. The value owns its memory: an event of eventlog.Log.Scan holds
// Pebble's, valid only during the scan's call, and a row outlives it.
func (v *SQLValues) Event(c *SQLColumn, ev *eventlog.Event) (any, error) {
	if cp := c.prog.copy; cp != nil && cp.from == nameEvent {
		return rawValue(member(ev.Data, cp.key)), nil
	}
	_, sid := eventlog.SplitStream(ev.Stream)
	out, err := v.ev.eval(c.prog, &input{entity: emptyObject, entityID: sid, ev: ev})
	if err != nil {
		return nil, firstLine(err)
	}
	return owned(out), nil
}

// AsFolded is ev as the rows of an event projection see it, as the
// entities fold it: upcast to its type's version when it was written under
// an older one, and with the defaults its type's shape declares in place
// of its absent fields. The result is valid until the next call. An
// upcast step that fails leaves the event as it was written, with the
// error.
func (v *SQLValues) AsFolded(p *SQLProjection, ev *eventlog.Event) (*eventlog.Event, error) {
	sh := p.shapes[ev.Type]
	if sh == nil {
		return ev, nil
	}
	var err error
	if sh.needsUpcast(ev) {
		if v.upcast == nil {
			v.upcast = newUpcaster()
		}
		var up *eventlog.Event
		if up, err = v.upcast.with(ev, sh); err == nil {
			ev = up
		}
	}
	if len(sh.defaults) > 0 {
		ev = v.defaults.with(ev, sh)
	}
	return ev, err
}

// owned is v with its strings copied: id and stream are the event's
// memory.
func owned(v any) any {
	switch x := v.(type) {
	case string:
		return strings.Clone(x)
	case []any:
		for i := range x {
			x[i] = owned(x[i])
		}
	case map[string]any:
		for k, e := range x {
			x[k] = owned(e)
		}
	}
	return v
}
