package state

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
	"go.yaml.in/yaml/v3"

	"github.com/foldb/foldb/eventlog"
)

// Event shapes: the schema's `events:` section declares the fields of an
// event type's data, and its `strict:` refuses event types it does not
// declare (docs/schema.md, "Event shapes").
//
// The shapes are checked on the live path only: Stage checks an append's
// events before it stages any of them, so a refused append leaves nothing
// staged and nothing is written. Loading and rebuilding (Apply) do not
// check: a stored event was accepted when it was appended, perhaps before
// its type had a shape. Folding, live or not, sees a declared default in
// place of a field the event's data lacks (defaulter); the stored event
// stays as the client sent it.
//
// A field is absent when the data has no member of its name or the
// member's value is null, as expressions (nil) and merge patch (null
// removes) see it.

// maxShapeVersion bounds an event type's version.
const maxShapeVersion = 1_000_000

// EventShape is the declared shape of one event type. It is immutable once
// parsed.
type EventShape struct {
	Type string
	// Version is the declared version of the type's events: Stage records
	// it in each event it stages (eventlog.Event.TypeVersion).
	Version int
	// Strict refuses members of the data that Fields does not declare.
	Strict bool
	fields []*shapeField
	// defaults are the fields with a default, as a defaulter fills them in.
	defaults []field
	// upcasts[i] turns an event of version i+1 into version i+2
	// (upcast.go); empty when the shape declares no upcast, and then
	// events of other versions are folded as they were written.
	upcasts []upcastStep
	// upcastSteps and upcastLine are upcast: as parsed, until
	// checkUpcasts orders them into upcasts.
	upcastSteps map[int]upcastStep
	upcastLine  int
}

// shapeField is one declared field of an event's data and its rules.
type shapeField struct {
	name     string
	kind     fieldKind
	required bool
	min, max *bound
	enum     [][]byte // allowed values as JSON; nil when any is
	pattern  *regexp.Regexp
	def      []byte // the default as JSON; nil when none
	// The texts of the refusals, worked out once: "must be an integer >= 1".
	typeRule, enumRule, patternRule string
}

type fieldKind uint8

const (
	kindString fieldKind = iota
	kindInteger
	kindNumber
	kindBoolean
	kindObject
	kindArray
	kindAny
)

var kindNames = []string{"string", "integer", "number", "boolean", "object", "array", "any"}

// bound is a declared min or max: a value bound for numbers, a length bound
// for strings (in characters) and arrays (in items).
type bound struct {
	n    number
	text string // as the schema wrote it, for messages
}

// InvalidEventError is an append refused because one of its events does
// not have the shape the schema declares for its type, or because a strict
// schema does not declare its type. Nothing of the append was written.
type InvalidEventError struct {
	Type  string // the event's type
	Field string // the field at fault; "" when the type is undeclared
	Msg   string // the whole text: "invalid BalanceIncreased: amount is required"
}

func (e *InvalidEventError) Error() string { return "state: " + e.Msg }

// maxNameInError bounds a name the client chose in an error's text.
const maxNameInError = 128

func clip(s string) string {
	if len(s) > maxNameInError {
		return s[:maxNameInError] + "..."
	}
	return s
}

// checkEvents checks every event of an append against its type's shape,
// returning the first refusal as an *InvalidEventError, and records in
// each the version of its type's shape (TypeVersion), which the log
// stores with it. It is deterministic and reads nothing but the schema and
// the events.
func (s *Schema) checkEvents(events []eventlog.Event) error {
	if len(s.shapes) == 0 && !s.Strict {
		return nil
	}
	for i := range events {
		if err := s.checkEvent(&events[i]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Schema) checkEvent(ev *eventlog.Event) error {
	sh := s.shapes[ev.Type]
	if sh == nil {
		if s.Strict {
			return &InvalidEventError{Type: ev.Type, Msg: fmt.Sprintf("undeclared event type %s (the schema is strict)", clip(ev.Type))}
		}
		return nil
	}
	if sh.Version > 1 {
		ev.TypeVersion = uint32(sh.Version)
	}
	return sh.check(ev.Data)
}

// check checks an event's data, a JSON object. A member named twice is
// checked each time: folding reads the first, a whole-object read the last.
func (sh *EventShape) check(data []byte) error {
	var present uint64 // bit i: fields[i] has a value that is not null
	var presentMore []bool
	if len(sh.fields) > 64 {
		presentMore = make([]bool, len(sh.fields))
	}
	for m := scanMembers(data); ; {
		k, v, ok := m.next()
		if !ok {
			break
		}
		i := sh.fieldOf(k)
		if i < 0 {
			if sh.Strict {
				name := keyName(k)
				return sh.invalid(name, fmt.Sprintf("field %s is not declared (strict)", clip(name)))
			}
			continue
		}
		if isNull(v) {
			continue
		}
		f := sh.fields[i]
		if rule := f.refusal(v); rule != "" {
			return sh.invalid(f.name, f.name+" "+rule)
		}
		if presentMore != nil {
			presentMore[i] = true
		} else {
			present |= 1 << i
		}
	}
	for i, f := range sh.fields {
		if !f.required {
			continue
		}
		if presentMore != nil && presentMore[i] || presentMore == nil && present&(1<<i) != 0 {
			continue
		}
		return sh.invalid(f.name, f.name+" is required")
	}
	return nil
}

func (sh *EventShape) invalid(field, msg string) error {
	return &InvalidEventError{Type: sh.Type, Field: field, Msg: fmt.Sprintf("invalid %s: %s", clip(sh.Type), msg)}
}

// fieldOf is the index of the declared field a raw key names, or -1.
func (sh *EventShape) fieldOf(rawKey []byte) int {
	for i, f := range sh.fields {
		if keyIs(rawKey, f.name) {
			return i
		}
	}
	return -1
}

// keyName is a raw key (quotes included) as a string.
func keyName(rawKey []byte) string {
	if bytes.IndexByte(rawKey, '\\') < 0 && len(rawKey) >= 2 {
		return string(rawKey[1 : len(rawKey)-1])
	}
	return gjson.ParseBytes(rawKey).Str
}

func isNull(v []byte) bool { return string(v) == "null" }

// refusal is what a value (not null) breaks of the field's rules, as the
// rest of a sentence naming the field ("must be an integer >= 1"), or ""
// when it keeps them all.
func (f *shapeField) refusal(v []byte) string {
	if !f.fits(v) {
		return f.typeRule
	}
	if f.enum != nil {
		in := false
		for _, e := range f.enum {
			if in = sameJSON(v, e); in {
				break
			}
		}
		if !in {
			return f.enumRule
		}
	}
	if f.pattern != nil && !f.pattern.MatchString(stringValue(v)) {
		return f.patternRule
	}
	return ""
}

// fits reports whether v is of the field's type and within its bounds.
func (f *shapeField) fits(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	switch f.kind {
	case kindAny:
		return true
	case kindBoolean:
		return string(v) == "true" || string(v) == "false"
	case kindObject:
		return v[0] == '{'
	case kindString:
		if v[0] != '"' {
			return false
		}
		if f.min == nil && f.max == nil {
			return true
		}
		return f.inBounds(count(utf8.RuneCountInString(stringValue(v))))
	case kindArray:
		if v[0] != '[' {
			return false
		}
		if f.min == nil && f.max == nil {
			return true
		}
		return f.inBounds(count(arrayLen(v)))
	}
	n, ok := parseNumber(v)
	if !ok || f.kind == kindInteger && !n.whole {
		return false
	}
	return f.inBounds(n)
}

func (f *shapeField) inBounds(n number) bool {
	return (f.min == nil || n.cmp(f.min.n) >= 0) && (f.max == nil || n.cmp(f.max.n) <= 0)
}

// stringValue is a raw JSON string's value; it aliases v when v has no
// escapes.
func stringValue(v []byte) string {
	if len(v) >= 2 && v[0] == '"' && bytes.IndexByte(v, '\\') < 0 {
		return bytesView(v[1 : len(v)-1])
	}
	return gjson.ParseBytes(v).Str
}

// arrayLen counts the items of a raw JSON array.
func arrayLen(v []byte) int {
	i := skipSpace(v, 1)
	if i >= len(v) || v[i] == ']' {
		return 0
	}
	n := 0
	for i < len(v) {
		end := skipValue(v, i)
		if end <= i {
			break
		}
		n++
		i = skipSpace(v, end)
		if i >= len(v) || v[i] != ',' {
			break
		}
		i = skipSpace(v, i+1)
	}
	return n
}

// number is a JSON number as the shapes compare it.
type number struct {
	f     float64
	i     int64 // the value, when exact
	exact bool  // i holds the value: a whole number in int64's range
	whole bool  // no fractional part (JSON Schema's integer: 1.0 and 1e3 are whole)
}

// count is a length as a number.
func count(n int) number { return number{f: float64(n), i: int64(n), exact: true, whole: true} }

// cmp compares two numbers: exactly when both are exact, else as 64-bit
// floats.
func (n number) cmp(o number) int {
	if n.exact && o.exact {
		switch {
		case n.i < o.i:
			return -1
		case n.i > o.i:
			return 1
		}
		return 0
	}
	switch {
	case n.f < o.f:
		return -1
	case n.f > o.f:
		return 1
	}
	return 0
}

// parseNumber reads a raw JSON number; ok is false when v is not one by
// JSON's grammar, or is too large for a 64-bit float (1e400): expressions
// could not compute with it.
func parseNumber(v []byte) (number, bool) {
	whole, ok := wholeLiteral(v)
	if !ok {
		return number{}, false
	}
	if n, ok := intValue(v); ok {
		return number{f: float64(n), i: int64(n), exact: true, whole: true}, true
	}
	f, err := strconv.ParseFloat(bytesView(v), 64)
	if err != nil || math.IsInf(f, 0) {
		return number{}, false
	}
	n := number{f: f, whole: whole}
	if whole && math.Abs(f) <= 1<<53 {
		n.i, n.exact = int64(f), true
	}
	return n, true
}

// wholeLiteral checks v against JSON's grammar of numbers,
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, and reports whether its
// value has no fractional part, worked out from its digits (no rounding).
func wholeLiteral(v []byte) (whole, ok bool) {
	i := 0
	if i < len(v) && v[i] == '-' {
		i++
	}
	intStart := i
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	intDigits := v[intStart:i]
	if len(intDigits) == 0 || len(intDigits) > 1 && intDigits[0] == '0' {
		return false, false
	}
	var frac []byte
	if i < len(v) && v[i] == '.' {
		i++
		fs := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		if frac = v[fs:i]; len(frac) == 0 {
			return false, false
		}
	}
	exp := 0
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		i++
		neg := false
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			neg = v[i] == '-'
			i++
		}
		es := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			if exp < 1e9 { // beyond any literal's length: saturate
				exp = exp*10 + int(v[i]-'0')
			}
			i++
		}
		if i == es {
			return false, false
		}
		if neg {
			exp = -exp
		}
	}
	if i != len(v) {
		return false, false
	}
	// The value is D × 10^(exp - len(frac)), D the digits of both parts;
	// it is whole when D's significant digits end at or before the point.
	zeros := 0 // D's trailing zeros
	allZero := true
	for _, part := range [][]byte{frac, intDigits} {
		for j := len(part) - 1; j >= 0; j-- {
			if part[j] != '0' {
				allZero = false
				break
			}
			zeros++
		}
		if !allZero {
			break
		}
	}
	return allZero || exp-len(frac)+zeros >= 0, true
}

// sameJSON reports whether two raw JSON values are equal as JSON values:
// numbers by value (1 equals 1.0), strings by their characters (escapes
// decoded), arrays item by item, objects member by member in any order.
func sameJSON(a, b []byte) bool {
	a, b = bytes.TrimSpace(a), bytes.TrimSpace(b)
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	switch a[0] {
	case '"':
		return b[0] == '"' && stringValue(a) == stringValue(b)
	case '[':
		if b[0] != '[' {
			return false
		}
		x, y := gjson.ParseBytes(a).Array(), gjson.ParseBytes(b).Array()
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameJSON([]byte(x[i].Raw), []byte(y[i].Raw)) {
				return false
			}
		}
		return true
	case '{':
		if b[0] != '{' {
			return false
		}
		x, y := gjson.ParseBytes(a).Map(), gjson.ParseBytes(b).Map()
		if len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !sameJSON([]byte(xv.Raw), []byte(yv.Raw)) {
				return false
			}
		}
		return true
	case 't', 'f', 'n':
		return bytes.Equal(a, b)
	}
	x, okx := parseNumber(a)
	y, oky := parseNumber(b)
	return okx && oky && x.cmp(y) == 0
}

// defaulter fills an event's defaults in, in scratch of its own: the
// store's for folding, an SQL projector's for its rows.
type defaulter struct {
	fill []field
	ev   eventlog.Event
	data []byte
}

// with returns ev with its shape's defaults in place of the fields its
// data lacks (or holds as null), valid until the next call; ev itself when
// it lacks none. ev is not changed: the stored event stays as it was sent.
func (d *defaulter) with(ev *eventlog.Event, sh *EventShape) *eventlog.Event {
	fill := d.fill[:0]
	for _, f := range sh.defaults {
		if v := member(ev.Data, f.name); v == nil || isNull(v) {
			fill = append(fill, f)
		}
	}
	d.fill = fill
	if len(fill) == 0 {
		return ev
	}
	d.data = setFields(d.data[:0], ev.Data, fill)
	d.ev = *ev
	d.ev.Data = d.data
	return &d.ev
}

// shapeWithDefaults is the shape of an event type when it declares
// defaults, else nil.
func (s *Schema) shapeWithDefaults(typ string) *EventShape {
	if sh := s.shapes[typ]; sh != nil && len(sh.defaults) > 0 {
		return sh
	}
	return nil
}

// --- parsing ---

// parseEvents reads the `events:` section: event type → shape.
func (s *Schema) parseEvents(section *yaml.Node) error {
	if section.Kind != yaml.MappingNode {
		return &SchemaError{Line: section.Line, Field: "events", Reason: "'events' maps event types to their shapes (version, strict, data, upcast)"}
	}
	s.shapes = map[string]*EventShape{}
	return eachPair(section, func(k *yaml.Node, first int) error {
		return &SchemaError{Line: k.Line, Event: k.Value, Reason: fmt.Sprintf("declared twice (first at line %d)", first)}
	}, func(k, v *yaml.Node) error {
		sh, err := parseShape(k, v)
		if err != nil {
			return err
		}
		s.Events = append(s.Events, sh)
		s.shapes[sh.Type] = sh
		return nil
	})
}

func parseShape(k, v *yaml.Node) (*EventShape, error) {
	sh := &EventShape{Type: k.Value, Version: 1}
	fail := func(n *yaml.Node, field, reason string) error {
		return &SchemaError{Line: n.Line, Event: sh.Type, Field: field, Reason: reason}
	}
	if k.Kind != yaml.ScalarNode || k.Value == "" {
		return nil, fail(k, "", "an event type is a non-empty name")
	}
	v = deref(v)
	if v.Kind != yaml.MappingNode {
		return nil, fail(v, "", "an event's shape is a mapping (version, strict, data, upcast)")
	}
	err := eachPair(v, func(key *yaml.Node, first int) error {
		return fail(key, key.Value, fmt.Sprintf("given twice (first at line %d)", first))
	}, func(key, val *yaml.Node) error {
		switch key.Value {
		case "version":
			n, err := strconv.Atoi(val.Value)
			if val.Kind != yaml.ScalarNode || val.ShortTag() != "!!int" || err != nil || n < 1 || n > maxShapeVersion {
				return fail(val, "version", "version is a whole number >= 1, from 1 to 1000000")
			}
			sh.Version = n
		case "strict":
			b, ok := boolNode(val)
			if !ok {
				return fail(val, "strict", "strict is true or false")
			}
			sh.Strict = b
		case "data":
			val = deref(val)
			if val.Kind != yaml.MappingNode {
				return fail(val, "data", "data maps field names to their rules (type, required, min, max, enum, pattern, default)")
			}
			return eachPair(val, func(fk *yaml.Node, first int) error {
				return fail(fk, "field "+fk.Value, fmt.Sprintf("declared twice (first at line %d)", first))
			}, func(fk, fv *yaml.Node) error {
				f, err := parseShapeField(sh.Type, fk, fv)
				if err != nil {
					return err
				}
				sh.fields = append(sh.fields, f)
				if f.def != nil {
					sh.defaults = append(sh.defaults, field{name: f.name, raw: f.def})
				}
				return nil
			})
		case "upcast":
			return parseUpcast(sh, key, val)
		default:
			return fail(key, key.Value, "unknown key (an event's shape has version, strict, data, upcast)")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := sh.checkUpcasts(); err != nil {
		return nil, err
	}
	return sh, nil
}

func parseShapeField(event string, k, v *yaml.Node) (*shapeField, error) {
	f := &shapeField{name: k.Value}
	where := "field " + f.name
	fail := func(n *yaml.Node, rule, reason string) error {
		field := where
		if rule != "" {
			field += ", " + rule
		}
		return &SchemaError{Line: n.Line, Event: event, Field: field, Reason: reason}
	}
	if k.Kind != yaml.ScalarNode || k.Value == "" {
		return nil, fail(k, "", "a field name is a non-empty name")
	}
	v = deref(v)
	if v.Kind != yaml.MappingNode {
		return nil, fail(v, "", "a field is a mapping of rules (type, required, min, max, enum, pattern, default)")
	}
	var typeNode, requiredNode, minNode, maxNode, enumNode, patternNode, defaultNode *yaml.Node
	err := eachPair(v, func(key *yaml.Node, first int) error {
		return fail(key, key.Value, fmt.Sprintf("given twice (first at line %d)", first))
	}, func(key, val *yaml.Node) error {
		switch key.Value {
		case "type":
			typeNode = val
		case "required":
			requiredNode = val
		case "min":
			minNode = val
		case "max":
			maxNode = val
		case "enum":
			enumNode = val
		case "pattern":
			patternNode = val
		case "default":
			defaultNode = val
		default:
			return fail(key, key.Value, "unknown rule (a field has type, required, min, max, enum, pattern, default)")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	types := "string, integer, number, boolean, object, array or any"
	if typeNode == nil {
		return nil, fail(k, "type", "a field needs a type: "+types)
	}
	kind := -1
	for i, name := range kindNames {
		if typeNode.Kind == yaml.ScalarNode && typeNode.Value == name {
			kind = i
		}
	}
	if kind < 0 {
		return nil, fail(typeNode, "type", fmt.Sprintf("unknown type '%s' (a type is %s)", typeNode.Value, types))
	}
	f.kind = fieldKind(kind)
	f.required = defaultNode == nil
	if requiredNode != nil {
		b, ok := boolNode(requiredNode)
		if !ok {
			return nil, fail(requiredNode, "required", "required is true or false")
		}
		if b && defaultNode != nil {
			return nil, fail(defaultNode, "default", "a required field takes no default: the default is what an absent field gets")
		}
		f.required = b
	}
	for _, b := range []struct {
		n    *yaml.Node
		name string
		dst  **bound
	}{{minNode, "min", &f.min}, {maxNode, "max", &f.max}} {
		if b.n == nil {
			continue
		}
		bd, err := parseBound(f.kind, b.n)
		if err != nil {
			return nil, fail(b.n, b.name, err.Error())
		}
		*b.dst = bd
	}
	if f.min != nil && f.max != nil && f.min.n.cmp(f.max.n) > 0 {
		return nil, fail(minNode, "min", fmt.Sprintf("min %s is greater than max %s", f.min.text, f.max.text))
	}
	f.typeRule = "must be " + typeRule(f.kind, f.min, f.max)
	if patternNode != nil {
		if f.kind != kindString {
			return nil, fail(patternNode, "pattern", "pattern applies to string fields")
		}
		if patternNode.Kind != yaml.ScalarNode || patternNode.ShortTag() != "!!str" {
			return nil, fail(patternNode, "pattern", "pattern is a regular expression (Go's syntax), as a string")
		}
		re, err := regexp.Compile(patternNode.Value)
		if err != nil {
			return nil, fail(patternNode, "pattern", err.Error())
		}
		f.pattern = re
		f.patternRule = "must match the pattern " + patternNode.Value
	}
	if enumNode != nil {
		enumNode = deref(enumNode)
		if enumNode.Kind != yaml.SequenceNode || len(enumNode.Content) == 0 {
			return nil, fail(enumNode, "enum", "enum is a list of the values allowed")
		}
		var enum [][]byte
		texts := make([]string, 0, len(enumNode.Content))
		for _, e := range enumNode.Content {
			raw, err := nodeJSON(e)
			if err != nil {
				return nil, fail(e, "enum", err.Error())
			}
			if isNull(raw) {
				return nil, fail(e, "enum", "null is not a value a field can be given: a field that is null is absent")
			}
			if rule := f.refusal(raw); rule != "" {
				return nil, fail(e, "enum", fmt.Sprintf("the value %s breaks the field's own rules: it %s", raw, rule))
			}
			enum = append(enum, raw)
			texts = append(texts, string(raw))
		}
		f.enum = enum
		f.enumRule = "must be one of " + strings.Join(texts, ", ")
	}
	if defaultNode != nil {
		raw, err := nodeJSON(defaultNode)
		if err != nil {
			return nil, fail(defaultNode, "default", err.Error())
		}
		if isNull(raw) {
			return nil, fail(defaultNode, "default", "the default is a value, not null: a field that is null is absent")
		}
		if rule := f.refusal(raw); rule != "" {
			return nil, fail(defaultNode, "default", fmt.Sprintf("the default %s breaks the field's own rules: it %s", raw, rule))
		}
		f.def = raw
	}
	return f, nil
}

// parseBound reads a min or max: a number for number types, a length (a
// whole number >= 0) for strings and arrays.
func parseBound(kind fieldKind, n *yaml.Node) (*bound, error) {
	var num number
	ok := false
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		raw, err := nodeJSON(n)
		if err == nil {
			num, ok = parseNumber(raw)
		}
	}
	switch kind {
	case kindInteger, kindNumber:
		if !ok {
			return nil, fmt.Errorf("a bound of a number is a number")
		}
	case kindString, kindArray:
		if !ok || !num.whole || num.f < 0 {
			return nil, fmt.Errorf("a bound of a %s is a length: a whole number >= 0", kindNames[kind])
		}
	default:
		return nil, fmt.Errorf("min and max apply to integer, number, string and array fields")
	}
	raw, _ := nodeJSON(n)
	return &bound{n: num, text: string(raw)}, nil
}

// typeRule is what a value of the type and bounds is, as in "must be an
// integer >= 1".
func typeRule(kind fieldKind, min, max *bound) string {
	switch kind {
	case kindInteger, kindNumber:
		s := "a number"
		if kind == kindInteger {
			s = "an integer"
		}
		switch {
		case min != nil && max != nil:
			return fmt.Sprintf("%s >= %s and <= %s", s, min.text, max.text)
		case min != nil:
			return fmt.Sprintf("%s >= %s", s, min.text)
		case max != nil:
			return fmt.Sprintf("%s <= %s", s, max.text)
		}
		return s
	case kindString:
		return "a string" + lengthRule(min, max, "character")
	case kindArray:
		return "an array" + lengthRule(min, max, "item")
	case kindBoolean:
		return "true or false"
	case kindObject:
		return "an object"
	}
	return "a value"
}

func lengthRule(min, max *bound, unit string) string {
	plural := func(b *bound) string {
		if b.text == "1" {
			return unit
		}
		return unit + "s"
	}
	switch {
	case min != nil && max != nil && min.n.cmp(max.n) == 0:
		return fmt.Sprintf(" of exactly %s %s", min.text, plural(min))
	case min != nil && max != nil:
		return fmt.Sprintf(" of %s to %s %s", min.text, max.text, plural(max))
	case min != nil:
		return fmt.Sprintf(" of at least %s %s", min.text, plural(min))
	case max != nil:
		return fmt.Sprintf(" of at most %s %s", max.text, plural(max))
	}
	return ""
}

// eachPair calls fn with each key and value of a mapping in order. A key
// written twice is refused by twice, with the line of the first: yaml.Node
// keeps both, and taking either would drop the other without a word.
func eachPair(n *yaml.Node, twice func(k *yaml.Node, first int) error, fn func(k, v *yaml.Node) error) error {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if first, dup := seen[k.Value]; dup {
			return twice(k, first)
		}
		seen[k.Value] = k.Line
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

// deref is the node an alias names, or n.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// boolNode reads a YAML boolean.
func boolNode(n *yaml.Node) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		return false, false
	}
	return b, true
}
