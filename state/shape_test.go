package state

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/internal/testkit"
)

const bankEvents = `
events:
  BalanceIncreased:
    version: 2
    strict: false
    data:
      amount: {type: integer, min: 1}
      currency: {type: string, enum: [EUR, USD], default: EUR}
      note: {type: string, required: false, pattern: '^[a-z ]*$', max: 200}
  AccountOpened:
    strict: true
    data:
      uuid: {type: string}
      name: {type: string, min: 1}
`

func TestParseEvents(t *testing.T) {
	s, err := ParseSchema(bankEvents)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Types) != 0 || s.Strict || len(s.Events) != 2 {
		t.Fatalf("types %v, strict %v, events %v", s.Types, s.Strict, s.Events)
	}
	inc := s.Events[0]
	if inc.Type != "BalanceIncreased" || inc.Version != 2 || inc.Strict || len(inc.fields) != 3 || s.shapes["BalanceIncreased"] != inc {
		t.Fatalf("BalanceIncreased %+v", inc)
	}
	if len(inc.defaults) != 1 || inc.defaults[0].name != "currency" || string(inc.defaults[0].raw) != `"EUR"` {
		t.Fatalf("defaults %+v", inc.defaults)
	}
	amount, currency, note := inc.fields[0], inc.fields[1], inc.fields[2]
	if !amount.required || currency.required || note.required {
		t.Fatalf("required: amount %v, currency %v, note %v", amount.required, currency.required, note.required)
	}
	if open := s.Events[1]; open.Version != 1 || !open.Strict {
		t.Fatalf("AccountOpened %+v", open)
	}
	strict, err := ParseSchema("strict: true\nevents:\n  Ping: {}\n")
	if err != nil || !strict.Strict || len(strict.Events) != 1 || len(strict.Events[0].fields) != 0 {
		t.Fatalf("strict schema: %v %+v", err, strict)
	}
	// JSON is YAML too.
	js, err := ParseSchema(`{"events":{"E":{"version":3,"data":{"n":{"type":"number","min":0.5,"max":2}}}}}`)
	if err != nil || js.Events[0].Version != 3 || js.Events[0].fields[0].typeRule != "must be a number >= 0.5 and <= 2" {
		t.Fatalf("JSON schema: %v", err)
	}
}

// TestFieldRules checks one value against one field, each rule accepting
// and refusing.
func TestFieldRules(t *testing.T) {
	cases := []struct {
		field string // the field's rules, a YAML flow mapping
		value string // f's JSON; "" leaves f out
		want  string // the refusal after "invalid E: "; "" accepts
	}{
		{"{type: string}", `"x"`, ""},
		{"{type: string}", `""`, ""},
		{"{type: string}", `1`, "f must be a string"},
		{"{type: string}", `["x"]`, "f must be a string"},

		{"{type: integer}", `1`, ""},
		{"{type: integer}", `-7`, ""},
		{"{type: integer}", `-0`, ""},
		{"{type: integer}", `1.0`, ""},    // as JSON Schema counts it
		{"{type: integer}", `1e3`, ""},    // 1000
		{"{type: integer}", `100e-2`, ""}, // 1
		{"{type: integer}", `1.50e1`, ""}, // 15
		{"{type: integer}", `12345678901234567890`, ""},
		{"{type: integer}", `0.5`, "f must be an integer"},
		{"{type: integer}", `1.5e0`, "f must be an integer"},
		{"{type: integer}", `1e-400`, "f must be an integer"},
		{"{type: integer}", `1e400`, "f must be an integer"},
		{"{type: integer}", `"1"`, "f must be an integer"},
		{"{type: integer}", `true`, "f must be an integer"},

		{"{type: number}", `0.5`, ""},
		{"{type: number}", `-1e-400`, ""},
		{"{type: number}", `3`, ""},
		{"{type: number}", `1e400`, "f must be a number"},
		{"{type: number}", `"0.5"`, "f must be a number"},

		{"{type: boolean}", `true`, ""},
		{"{type: boolean}", `false`, ""},
		{"{type: boolean}", `"true"`, "f must be true or false"},
		{"{type: boolean}", `0`, "f must be true or false"},

		{"{type: object}", `{}`, ""},
		{"{type: object}", `{"a":[1]}`, ""},
		{"{type: object}", `[]`, "f must be an object"},

		{"{type: array}", `[]`, ""},
		{"{type: array}", `[1,"a",{}]`, ""},
		{"{type: array}", `{}`, "f must be an array"},

		{"{type: any}", `"x"`, ""},
		{"{type: any}", `{"a":1}`, ""},
		{"{type: any}", `false`, ""},
		{"{type: any}", ``, "f is required"},
		{"{type: any}", `null`, "f is required"}, // null is absent

		{"{type: integer}", ``, "f is required"},
		{"{type: integer, required: true}", ``, "f is required"},
		{"{type: integer, required: false}", ``, ""},
		{"{type: integer, required: false}", `null`, ""},
		{"{type: integer, required: false}", `"x"`, "f must be an integer"},

		{"{type: integer, min: 1}", `1`, ""},
		{"{type: integer, min: 1}", `0`, "f must be an integer >= 1"},
		{"{type: integer, min: 1}", `0.5`, "f must be an integer >= 1"},
		{"{type: integer, max: 10}", `10`, ""},
		{"{type: integer, max: 10}", `10.0`, ""},
		{"{type: integer, max: 10}", `11`, "f must be an integer <= 10"},
		{"{type: integer, min: -5, max: 5}", `-5`, ""},
		{"{type: integer, min: -5, max: 5}", `-6`, "f must be an integer >= -5 and <= 5"},
		{"{type: integer, max: 9007199254740993}", `9007199254740993`, ""},
		{"{type: integer, max: 9007199254740993}", `9007199254740994`, "f must be an integer <= 9007199254740993"},
		{"{type: number, min: 0.5}", `0.5`, ""},
		{"{type: number, min: 0.5}", `0.49`, "f must be a number >= 0.5"},
		{"{type: number, min: 0.5}", `5e-1`, ""},
		{"{type: number, max: 1e3}", `1000`, ""},
		{"{type: number, max: 1e3}", `1000.001`, "f must be a number <= 1000"},

		{"{type: string, min: 2, max: 3}", `"ab"`, ""},
		{"{type: string, min: 2, max: 3}", `"abc"`, ""},
		{"{type: string, min: 2, max: 3}", `"éé"`, ""},           // characters, not bytes
		{"{type: string, min: 2, max: 3}", `"\u00e9\u00e9"`, ""}, // escapes decoded
		{"{type: string, min: 2, max: 3}", `"a"`, "f must be a string of 2 to 3 characters"},
		{"{type: string, min: 2, max: 3}", `"日本語x"`, "f must be a string of 2 to 3 characters"},
		{"{type: string, min: 2, max: 3}", `3`, "f must be a string of 2 to 3 characters"},
		{"{type: string, max: 1}", `"ab"`, "f must be a string of at most 1 character"},
		{"{type: string, min: 1}", `""`, "f must be a string of at least 1 character"},
		{"{type: string, min: 2, max: 2}", `"a"`, "f must be a string of exactly 2 characters"},

		{"{type: array, min: 1, max: 2}", `[1]`, ""},
		{"{type: array, min: 1, max: 2}", `[1, [2, 3]]`, ""},
		{"{type: array, min: 1, max: 2}", `[{"a":[1,2,3]},"],["]`, ""},
		{"{type: array, min: 1, max: 2}", `[ ]`, "f must be an array of 1 to 2 items"},
		{"{type: array, min: 1, max: 2}", `[1,2,3]`, "f must be an array of 1 to 2 items"},
		{"{type: array, max: 1}", `[1,2]`, "f must be an array of at most 1 item"},

		{"{type: string, enum: [EUR, USD]}", `"EUR"`, ""},
		{"{type: string, enum: [EUR, USD]}", `"\u0045UR"`, ""},
		{"{type: string, enum: [EUR, USD]}", `"eur"`, `f must be one of "EUR", "USD"`},
		{"{type: string, enum: [EUR, USD]}", `5`, "f must be a string"},
		{"{type: number, enum: [1, 2.5]}", `1.0`, ""},
		{"{type: number, enum: [1, 2.5]}", `2.50`, ""},
		{"{type: number, enum: [1, 2.5]}", `3`, "f must be one of 1, 2.5"},
		{"{type: any, enum: [{a: 1}, [1, 2], true]}", `{"a":1.0}`, ""},
		{"{type: any, enum: [{a: 1}, [1, 2], true]}", `[1,2]`, ""},
		{"{type: any, enum: [{a: 1}, [1, 2], true]}", `true`, ""},
		{"{type: any, enum: [{a: 1}, [1, 2], true]}", `{"a":1,"b":2}`, `f must be one of {"a":1}, [1,2], true`},
		{"{type: any, enum: [{a: 1}, [1, 2], true]}", `[2,1]`, `f must be one of {"a":1}, [1,2], true`},
		{"{type: any, enum: [{a: 1}, [1, 2], true]}", `"true"`, `f must be one of {"a":1}, [1,2], true`},

		{"{type: string, pattern: '^[a-z ]*$'}", `"ab c"`, ""},
		{"{type: string, pattern: '^[a-z ]*$'}", `"a\u0062"`, ""},
		{"{type: string, pattern: '^[a-z ]*$'}", `"Ab"`, "f must match the pattern ^[a-z ]*$"},
		{"{type: string, pattern: 'b'}", `"abc"`, ""}, // not anchored
		{"{type: string, pattern: 'b'}", `"ac"`, "f must match the pattern b"},

		{"{type: string, default: EUR}", ``, ""},
		{"{type: string, default: EUR}", `null`, ""},
		{"{type: string, default: EUR}", `"USD"`, ""},
		{"{type: string, default: EUR}", `5`, "f must be a string"},
		{"{type: string, default: EUR, required: false}", ``, ""},
	}
	for _, c := range cases {
		s, err := ParseSchema("events:\n  E:\n    data:\n      f: " + c.field + "\n")
		if err != nil {
			t.Errorf("%s: %v", c.field, err)
			continue
		}
		data := `{}`
		if c.value != "" {
			data = `{"f":` + c.value + `}`
		}
		got := refusal(s, "E", data)
		if c.want != "" {
			c.want = "invalid E: " + c.want
		}
		if got != c.want {
			t.Errorf("%s, %s: got %q, want %q", c.field, data, got, c.want)
		}
	}
}

// refusal is the message of checking an event, "" when it is accepted.
func refusal(s *Schema, typ, data string) string {
	err := s.checkEvents([]eventlog.Event{{Stream: "x:1", Type: typ, Data: []byte(data)}})
	if err == nil {
		return ""
	}
	var ie *InvalidEventError
	if !errors.As(err, &ie) {
		return "not an InvalidEventError: " + err.Error()
	}
	return ie.Msg
}

func TestEventRules(t *testing.T) {
	s, err := ParseSchema(bankEvents)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ typ, data, want string }{
		{"BalanceIncreased", `{"amount":1}`, ""},
		{"BalanceIncreased", `{"amount":1,"currency":"USD","note":"rent"}`, ""},
		{"BalanceIncreased", `{"amount":1,"extra":true}`, ""}, // not strict
		{"BalanceIncreased", `{}`, "invalid BalanceIncreased: amount is required"},
		{"BalanceIncreased", `{"amount":0}`, "invalid BalanceIncreased: amount must be an integer >= 1"},
		{"BalanceIncreased", `{"amount":1,"currency":"GBP"}`, `invalid BalanceIncreased: currency must be one of "EUR", "USD"`},
		{"BalanceIncreased", `{"amount":1,"note":"Rent"}`, "invalid BalanceIncreased: note must match the pattern ^[a-z ]*$"},
		{"BalanceIncreased", `{"amount":1,"note":"` + strings.Repeat("a", 201) + `"}`, "invalid BalanceIncreased: note must be a string of at most 200 characters"},
		// A member named twice is checked each time.
		{"BalanceIncreased", `{"amount":1,"amount":"x"}`, "invalid BalanceIncreased: amount must be an integer >= 1"},
		{"BalanceIncreased", `{"amount":"x","amount":1}`, "invalid BalanceIncreased: amount must be an integer >= 1"},
		{"BalanceIncreased", `{"amo\u0075nt":1}`, ""}, // an escaped key
		{"AccountOpened", `{"uuid":"u","name":"A"}`, ""},
		{"AccountOpened", `{"uuid":"u","name":"A","nick":"a"}`, "invalid AccountOpened: field nick is not declared (strict)"},
		{"AccountOpened", `{"uuid":"u","name":"A","nick":null}`, "invalid AccountOpened: field nick is not declared (strict)"},
		{"AccountOpened", `{"name":"A"}`, "invalid AccountOpened: uuid is required"},
		{"Undeclared", `{"anything":1}`, ""}, // the schema is not strict
	}
	for _, c := range cases {
		if got := refusal(s, c.typ, c.data); got != c.want {
			t.Errorf("%s %s: got %q, want %q", c.typ, c.data, got, c.want)
		}
	}
	strict, err := ParseSchema("strict: true\n" + bankEvents)
	if err != nil {
		t.Fatal(err)
	}
	if got := refusal(strict, "Foo", `{}`); got != "undeclared event type Foo (the schema is strict)" {
		t.Fatalf("undeclared type: %q", got)
	}
	if got := refusal(strict, "BalanceIncreased", `{"amount":2}`); got != "" {
		t.Fatalf("declared type: %q", got)
	}
	// The first event that breaks its shape refuses the append.
	err = strict.checkEvents([]eventlog.Event{
		{Type: "BalanceIncreased", Data: []byte(`{"amount":2}`)},
		{Type: "BalanceIncreased", Data: []byte(`{"amount":-2}`)},
		{Type: "Foo", Data: []byte(`{}`)},
	})
	var ie *InvalidEventError
	if !errors.As(err, &ie) || ie.Type != "BalanceIncreased" || ie.Field != "amount" {
		t.Fatalf("a multi-event append: %v", err)
	}
}

// TestManyFields: a shape of more than 64 fields still finds the one
// missing.
func TestManyFields(t *testing.T) {
	var b, data strings.Builder
	b.WriteString("events:\n  E:\n    data:\n")
	data.WriteString("{")
	for i := range 70 {
		fmt.Fprintf(&b, "      f%d: {type: integer}\n", i)
		if i != 69 {
			fmt.Fprintf(&data, `"f%d":%d,`, i, i)
		}
	}
	data.WriteString(`"g":0}`)
	s, err := ParseSchema(b.String())
	if err != nil {
		t.Fatal(err)
	}
	if got := refusal(s, "E", data.String()); got != "invalid E: f69 is required" {
		t.Fatalf("got %q", got)
	}
}

// eventSchemaError is a schema the events section refuses: the error's
// line, event and field, and a part of its reason.
type eventSchemaError struct {
	name   string
	text   string
	want   SchemaError
	reason string
}

// schemaError parses text and returns its SchemaError, or nil after
// failing the test (as Errorf) when ParseSchema gives none.
func schemaError(t *testing.T, name, text string) *SchemaError {
	t.Helper()
	_, err := ParseSchema(text)
	var se *SchemaError
	if !errors.As(err, &se) {
		t.Errorf("%s: got %v, want a SchemaError", name, err)
		return nil
	}
	return se
}

// checkEventSchemaErrors parses each text and checks its SchemaError.
func checkEventSchemaErrors(t *testing.T, cases []eventSchemaError) {
	t.Helper()
	for _, c := range cases {
		se := schemaError(t, c.name, c.text)
		if se == nil {
			continue
		}
		if se.Line != c.want.Line || se.Entity != "" || se.Event != c.want.Event || se.Field != c.want.Field || !strings.Contains(se.Reason, c.reason) {
			t.Errorf("%s: got %+v\n  (%v), want %+v with %q", c.name, *se, se, c.want, c.reason)
		}
	}
}

func TestEventSchemaErrors(t *testing.T) {
	checkEventSchemaErrors(t, []eventSchemaError{
		{"events not a mapping", "events: [a]\n", SchemaError{Line: 1, Field: "events"}, "maps event types"},
		{"event twice", "events:\n  E: {}\n  E: {}\n", SchemaError{Line: 3, Event: "E"}, "first at line 2"},
		{"shape not a mapping", "events:\n  E: 3\n", SchemaError{Line: 2, Event: "E"}, "a mapping"},
		{"unknown event key", "events:\n  E:\n    versoin: 2\n", SchemaError{Line: 3, Event: "E", Field: "versoin"}, "unknown key"},
		{"version zero", "events:\n  E: {version: 0}\n", SchemaError{Line: 2, Event: "E", Field: "version"}, ">= 1"},
		{"version a fraction", "events:\n  E: {version: 1.5}\n", SchemaError{Line: 2, Event: "E", Field: "version"}, ">= 1"},
		{"version a word", "events:\n  E: {version: two}\n", SchemaError{Line: 2, Event: "E", Field: "version"}, ">= 1"},
		{"strict not a boolean", "events:\n  E: {strict: yes}\n", SchemaError{Line: 2, Event: "E", Field: "strict"}, "true or false"},
		{"data not a mapping", "events:\n  E:\n    data: [a]\n", SchemaError{Line: 3, Event: "E", Field: "data"}, "maps field names"},
		{"field not a mapping", "events:\n  E:\n    data:\n      a: integer\n", SchemaError{Line: 4, Event: "E", Field: "field a"}, "mapping of rules"},
		{"field twice", "events:\n  E:\n    data:\n      a: {type: any}\n      a: {type: any}\n", SchemaError{Line: 5, Event: "E", Field: "field a"}, "first at line 4"},
		{"rule twice", "events:\n  E:\n    data:\n      a:\n        type: any\n        type: string\n", SchemaError{Line: 6, Event: "E", Field: "field a, type"}, "first at line 5"},
		{"unknown rule", "events:\n  E:\n    data:\n      a:\n        type: integer\n        mni: 1\n", SchemaError{Line: 6, Event: "E", Field: "field a, mni"}, "unknown rule"},
		{"no type", "events:\n  E:\n    data:\n      a: {min: 1}\n", SchemaError{Line: 4, Event: "E", Field: "field a, type"}, "needs a type"},
		{"unknown type", "events:\n  E:\n    data:\n      a:\n        type: int\n", SchemaError{Line: 5, Event: "E", Field: "field a, type"}, "unknown type 'int'"},
		{"min over max", "events:\n  E:\n    data:\n      a:\n        type: integer\n        min: 5\n        max: 2\n", SchemaError{Line: 6, Event: "E", Field: "field a, min"}, "min 5 is greater than max 2"},
		{"string lengths over", "events:\n  E:\n    data:\n      a: {type: string, min: 3, max: 2}\n", SchemaError{Line: 4, Event: "E", Field: "field a, min"}, "greater than max"},
		{"min of a boolean", "events:\n  E:\n    data:\n      a: {type: boolean, min: 1}\n", SchemaError{Line: 4, Event: "E", Field: "field a, min"}, "apply to integer, number, string and array"},
		{"max of any", "events:\n  E:\n    data:\n      a: {type: any, max: 1}\n", SchemaError{Line: 4, Event: "E", Field: "field a, max"}, "apply to integer"},
		{"min not a number", "events:\n  E:\n    data:\n      a: {type: integer, min: '1'}\n", SchemaError{Line: 4, Event: "E", Field: "field a, min"}, "is a number"},
		{"negative length", "events:\n  E:\n    data:\n      a: {type: string, min: -1}\n", SchemaError{Line: 4, Event: "E", Field: "field a, min"}, "whole number >= 0"},
		{"fractional length", "events:\n  E:\n    data:\n      a: {type: array, max: 1.5}\n", SchemaError{Line: 4, Event: "E", Field: "field a, max"}, "whole number >= 0"},
		{"bad pattern", "events:\n  E:\n    data:\n      a:\n        type: string\n        pattern: '['\n", SchemaError{Line: 6, Event: "E", Field: "field a, pattern"}, "missing closing ]"},
		{"pattern of an integer", "events:\n  E:\n    data:\n      a: {type: integer, pattern: '1'}\n", SchemaError{Line: 4, Event: "E", Field: "field a, pattern"}, "string fields"},
		{"enum not a list", "events:\n  E:\n    data:\n      a: {type: string, enum: EUR}\n", SchemaError{Line: 4, Event: "E", Field: "field a, enum"}, "a list"},
		{"empty enum", "events:\n  E:\n    data:\n      a: {type: string, enum: []}\n", SchemaError{Line: 4, Event: "E", Field: "field a, enum"}, "a list"},
		{"enum of another type", "events:\n  E:\n    data:\n      a:\n        type: string\n        enum:\n          - EUR\n          - 5\n", SchemaError{Line: 8, Event: "E", Field: "field a, enum"}, "the value 5 breaks the field's own rules: it must be a string"},
		{"enum out of bounds", "events:\n  E:\n    data:\n      a: {type: integer, max: 3, enum: [1, 5]}\n", SchemaError{Line: 4, Event: "E", Field: "field a, enum"}, "must be an integer <= 3"},
		{"enum against the pattern", "events:\n  E:\n    data:\n      a: {type: string, pattern: '^[A-Z]+$', enum: [EUR, usd]}\n", SchemaError{Line: 4, Event: "E", Field: "field a, enum"}, `the value "usd"`},
		{"enum of null", "events:\n  E:\n    data:\n      a: {type: any, enum: [1, null]}\n", SchemaError{Line: 4, Event: "E", Field: "field a, enum"}, "null"},
		{"default of another type", "events:\n  E:\n    data:\n      a:\n        type: integer\n        default: x\n", SchemaError{Line: 6, Event: "E", Field: "field a, default"}, `the default "x" breaks the field's own rules: it must be an integer`},
		{"default out of bounds", "events:\n  E:\n    data:\n      a: {type: integer, min: 1, default: 0}\n", SchemaError{Line: 4, Event: "E", Field: "field a, default"}, "must be an integer >= 1"},
		{"default not in the enum", "events:\n  E:\n    data:\n      a: {type: string, enum: [EUR, USD], default: GBP}\n", SchemaError{Line: 4, Event: "E", Field: "field a, default"}, `must be one of "EUR", "USD"`},
		{"default against the pattern", "events:\n  E:\n    data:\n      a: {type: string, pattern: '^a', default: b}\n", SchemaError{Line: 4, Event: "E", Field: "field a, default"}, "must match the pattern ^a"},
		{"default on a required field", "events:\n  E:\n    data:\n      a:\n        type: string\n        required: true\n        default: EUR\n", SchemaError{Line: 7, Event: "E", Field: "field a, default"}, "a required field takes no default"},
		{"default null", "events:\n  E:\n    data:\n      a: {type: any, default: null}\n", SchemaError{Line: 4, Event: "E", Field: "field a, default"}, "not null"},
		{"required not a boolean", "events:\n  E:\n    data:\n      a: {type: any, required: 1}\n", SchemaError{Line: 4, Event: "E", Field: "field a, required"}, "true or false"},
		{"top-level strict not a boolean", "strict: 'yes'\n", SchemaError{Line: 1, Field: "strict"}, "true or false"},
		{"unknown top-level key", "event:\n  E: {}\n", SchemaError{Line: 1}, "'events'"},
	})
	// The text of one, as SCHEMA.LOAD replies it after ERR.
	_, err := ParseSchema("events:\n  BalanceIncreased:\n    data:\n      amount: {type: integer, min: 5, max: 2}\n")
	var se *SchemaError
	if !errors.As(err, &se) || se.Detail() != "schema line 4: event BalanceIncreased, field amount, min: min 5 is greater than max 2" {
		t.Fatalf("%v", err)
	}
}

func TestWholeLiteral(t *testing.T) {
	cases := []struct {
		lit       string
		whole, ok bool
	}{
		{"0", true, true}, {"-0", true, true}, {"10", true, true}, {"1.0", true, true}, {"1.000", true, true},
		{"1e3", true, true}, {"1E+3", true, true}, {"100e-2", true, true}, {"0.0e-5", true, true}, {"12.5e1", true, true},
		{"0.5", false, true}, {"1e-1", false, true}, {"1.25e1", false, true}, {"10e-2", false, true},
		{"1e999999999999999999999", true, true}, {"1e-999999999999999999999", false, true},
		{"", false, false}, {"-", false, false}, {"01", false, false}, {"1.", false, false}, {".5", false, false},
		{"1e", false, false}, {"1e+", false, false}, {"+1", false, false}, {"Inf", false, false}, {"1_0", false, false},
		{"0x10", false, false}, {"1 ", false, false},
	}
	for _, c := range cases {
		whole, ok := wholeLiteral([]byte(c.lit))
		if whole != c.whole || ok != c.ok {
			t.Errorf("wholeLiteral(%q) = %v, %v; want %v, %v", c.lit, whole, ok, c.whole, c.ok)
		}
	}
}

// fuzzSchema declares a shape of every rule, and one field per rule on
// its own (event type R<rule>), for FuzzCheckEvent.
var fuzzSchema = func() *Schema {
	rules := []string{
		"{type: string}", "{type: integer}", "{type: number}", "{type: boolean}", "{type: object}", "{type: array}", "{type: any}",
		"{type: integer, min: -3, max: 3}", "{type: number, min: 0.5, max: 1e300}", "{type: string, min: 1, max: 3}",
		"{type: array, min: 1, max: 2}", "{type: string, enum: [EUR, USD, 'é\"\\']}", "{type: any, enum: [1, 2.5, {a: [1]}, [true], x]}",
		"{type: string, pattern: '^[a-z]+\\d?$'}", "{type: string, required: false}", "{type: integer, default: 7}",
	}
	text := bankEvents + "  Strict:\n    strict: true\n    data:\n"
	for i, r := range rules {
		text += fmt.Sprintf("      f%d: %s\n", i, r)
	}
	for i, r := range rules {
		text += fmt.Sprintf("  R%d:\n    data:\n      f: %s\n", i, r)
	}
	s, err := ParseSchema(text)
	if err != nil {
		panic(err)
	}
	return s
}()

// FuzzCheckEvent: any data, JSON or not, is accepted or refused without a
// panic, the same way every time; a value accepted for a field is accepted
// again wherever it stands in the data and however it is spaced.
func FuzzCheckEvent(f *testing.F) {
	for _, seed := range []string{
		`{"amount":1}`, `{"amount":1.0,"currency":"USD","note":"a b"}`, `{"amount":1e400}`, `{"uuid":"u","name":"\u00e9"}`,
		`1`, `-0.0e-0`, `"EUR"`, `"é\"\\"`, `[true]`, `{"a":[1.0]}`, `[1, [2]]`, `"abc1"`, `null`, `{`, `[1,`, `"\u12`, ``,
		`{"f":1,"f":"x"}`, `{"f0":"a","f1":1,"f2":0.5,"f3":true,"f4":{},"f5":[],"f6":0,"f7":0,"f8":1,"f9":"ab","f10":[1],"f11":"EUR","f12":1,"f13":"a1"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d defaulter
		for _, sh := range fuzzSchema.Events {
			first, again := shapeRefusal(sh, data), shapeRefusal(sh, data)
			if first != again {
				t.Fatalf("%s %q: %q, then %q", sh.Type, data, first, again)
			}
			if first != "" && !strings.HasPrefix(first, "invalid "+sh.Type+": ") {
				t.Fatalf("%s %q: refused as %q", sh.Type, data, first)
			}
			// What folding sees of an accepted event has the shape too
			// (of data that the log takes: a JSON object).
			if first == "" && gjson.ValidBytes(data) {
				ev := d.with(&eventlog.Event{Type: sh.Type, Data: data}, sh)
				if got := shapeRefusal(sh, ev.Data); got != "" {
					t.Fatalf("%s %q accepted, then refused with its defaults as %q: %s", sh.Type, data, ev.Data, got)
				}
			}
		}
		if !gjson.ValidBytes(data) {
			return
		}
		for _, sh := range fuzzSchema.Events {
			if !strings.HasPrefix(sh.Type, "R") {
				continue
			}
			if shapeRefusal(sh, []byte(`{"f":`+string(data)+`}`)) != "" {
				continue
			}
			for _, again := range []string{
				`{"x":[1,{"f":0}], "f" : ` + string(data) + ` }`,
				"{\n\t\"f\":\r\n " + string(data) + "\n}",
				`{"f":` + string(data) + `,"f":` + string(data) + `}`,
			} {
				if got := shapeRefusal(sh, []byte(again)); got != "" {
					t.Fatalf("%s: %s accepted alone, then refused in %s: %s", sh.Type, data, again, got)
				}
			}
		}
	})
}

func shapeRefusal(sh *EventShape, data []byte) string {
	if err := sh.check(data); err != nil {
		return err.(*InvalidEventError).Msg
	}
	return ""
}

// TestShapesAtAppend: an append with an event that breaks its shape is
// refused whole with an InvalidEventError and nothing of it is written;
// loading and rebuilding fold the events stored before the shape was
// declared without checking them.
func TestShapesAtAppend(t *testing.T) {
	f := newFixture(t, testkit.BankSchema(t))
	// Before any shape: these would break the one declared below.
	f.mustAppend("account:1", "AccountOpened", `{"uuid":"u-1","name":"Alice","nick":"al"}`)
	f.mustAppend("account:1", "BalanceIncreased", `{"amount":10,"currency":"GBP"}`)
	shaped := testkit.BankSchema(t) + bankEvents
	if err := f.eng.SetSchema(shaped); err != nil {
		t.Fatalf("a rebuild over events that break the new shapes: %v", err)
	}
	if got := f.get("account", "1"); got != `{"balance":10,"uuid":"u-1","name":"Alice"}` {
		t.Fatalf("after the rebuild: %s", got)
	}
	last := f.log.LastPosition()
	var ie *InvalidEventError
	r := f.append("account:1", nil, "BalanceIncreased", `{"amount":"5"}`)
	if !errors.As(r.Err, &ie) || ie.Msg != "invalid BalanceIncreased: amount must be an integer >= 1" {
		t.Fatalf("a string amount: %v", r.Err)
	}
	// The first event is fine, the second is not: neither is written.
	r = f.append("account:1", nil, "BalanceIncreased", `{"amount":5}`, "BalanceIncreased", `{"amount":5,"currency":"GBP"}`)
	if !errors.As(r.Err, &ie) || ie.Field != "currency" {
		t.Fatalf("a bad second event: %v", r.Err)
	}
	if f.log.LastPosition() != last {
		t.Fatalf("refused appends were written: last position %d, was %d", f.log.LastPosition(), last)
	}
	if got := f.get("account", "1"); got != `{"balance":10,"uuid":"u-1","name":"Alice"}` {
		t.Fatalf("refused appends were folded: %s", got)
	}
	// A guard still rejects what the shape lets through.
	var rej *RejectedError
	if r := f.append("account:1", nil, "BalanceDecreased", `{"amount":500}`); !errors.As(r.Err, &rej) {
		t.Fatalf("an overdraft: %v", r.Err)
	}
	f.mustAppend("account:1", "BalanceIncreased", `{"amount":5,"currency":"USD"}`)
	// A restart folds the whole log again, old events included, unchecked.
	f.reopen(&shaped)
	if got := f.get("account", "1"); got != `{"balance":15,"uuid":"u-1","name":"Alice"}` {
		t.Fatalf("after a restart: %s", got)
	}
	if n, first := f.eng.Store().ProjectionErrors(); n != 0 {
		t.Fatalf("projection errors on replay: %d, %s", n, first)
	}
}

// TestDefaults: every projection folds a declared default in place of an
// absent field (missing or null): set expressions, copies, integer
// arithmetic, guards, the event as a whole and the default projection's
// merge. The stored event stays as it was sent, and events stored before
// the shape was declared fold with the defaults too.
func TestDefaults(t *testing.T) {
	f := newFixture(t, "")
	f.mustAppend("wallet:1", "ToppedUp", `{"amount":1}`) // before any shape
	f.mustAppend("item:1", "Put", `{"n":1}`)
	schema := `
entities:
  item:
    initial: {n: 0}
    when:
      Put:
        require: event.currency != nil && event.currency != "GBP"
        set: {currency: event.currency, n: n + event.step, whole: event, label: 'event.currency + "!"'}
events:
  Put:
    data:
      currency: {type: string, default: EUR}
      step: {type: integer, default: 10}
      n: {type: integer, required: false}
  ToppedUp:
    data:
      amount: {type: integer}
      currency: {type: string, default: EUR}
`
	if err := f.eng.SetSchema(schema); err != nil {
		t.Fatal(err)
	}
	if got := f.get("item", "1"); got != `{"n":10,"currency":"EUR","whole":{"currency":"EUR","n":1,"step":10},"label":"EUR!"}` {
		t.Fatalf("an event stored before the shape: %s", got)
	}
	if got := f.get("wallet", "1"); got != `{"amount":1,"currency":"EUR"}` {
		t.Fatalf("the default projection of an event stored before the shape: %s", got)
	}
	f.mustAppend("item:1", "Put", `{"currency":null,"step":2}`)
	if got := f.get("item", "1"); got != `{"n":12,"currency":"EUR","whole":{"currency":"EUR","step":2},"label":"EUR!"}` {
		t.Fatalf("a null field: %s", got)
	}
	f.mustAppend("item:1", "Put", `{"currency":"USD"}`)
	if got := f.get("item", "1"); got != `{"n":22,"currency":"USD","whole":{"currency":"USD","step":10},"label":"USD!"}` {
		t.Fatalf("a field given: %s", got)
	}
	var rej *RejectedError
	if r := f.append("item:1", nil, "Put", `{"currency":"GBP"}`); !errors.As(r.Err, &rej) {
		t.Fatalf("a guard on a field given: %v", r.Err)
	}
	f.mustAppend("wallet:1", "ToppedUp", `{"amount":2,"currency":null}`)
	if got := f.get("wallet", "1"); got != `{"amount":2,"currency":"EUR"}` {
		t.Fatalf("merge patch with a null that has a default: %s", got)
	}
	evs, err := f.log.Read("item:1", 1, 10, false)
	if err != nil || len(evs) != 3 || string(evs[1].Data) != `{"currency":null,"step":2}` || string(evs[2].Data) != `{"currency":"USD"}` {
		t.Fatalf("stored events %v: %+v", err, evs)
	}
	want := dump(f.eng.Store())
	f.reopen(&schema)
	if got := dump(f.eng.Store()); got != want {
		t.Fatalf("after a restart:\n%s\nwant\n%s", got, want)
	}
}
