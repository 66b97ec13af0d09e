package state

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/internal/testkit"
)

func TestUpcastSchemaErrors(t *testing.T) {
	checkEventSchemaErrors(t, []eventSchemaError{
		{"not a mapping", "events:\n  E:\n    version: 2\n    upcast: [a]\n", SchemaError{Line: 4, Event: "E", Field: "upcast"}, "maps each older version"},
		{"empty", "events:\n  E:\n    version: 2\n    upcast: {}\n", SchemaError{Line: 4, Event: "E", Field: "upcast"}, "maps each older version"},
		{"key a word", "events:\n  E:\n    version: 2\n    upcast:\n      one: {set: {a: '1'}}\n", SchemaError{Line: 5, Event: "E", Field: "upcast one"}, "keyed by the version it starts from"},
		{"key zero", "events:\n  E:\n    version: 2\n    upcast:\n      0: {set: {a: '1'}}\n", SchemaError{Line: 5, Event: "E", Field: "upcast 0"}, ">= 1"},
		{"step twice", "events:\n  E:\n    version: 2\n    upcast:\n      1: {set: {a: '1'}}\n      1: {set: {b: '1'}}\n", SchemaError{Line: 6, Event: "E", Field: "upcast 1"}, "first at line 5"},
		{"missing step", "events:\n  E:\n    version: 3\n    upcast:\n      2: {set: {a: '1'}}\n", SchemaError{Line: 4, Event: "E", Field: "upcast"}, "no step from version 1"},
		{"missing middle step", "events:\n  E:\n    version: 4\n    upcast:\n      1: {set: {a: '1'}}\n      3: {set: {a: '1'}}\n", SchemaError{Line: 4, Event: "E", Field: "upcast"}, "no step from version 2"},
		{"step from the version", "events:\n  E:\n    version: 2\n    upcast:\n      1: {set: {a: '1'}}\n      2: {set: {a: '2'}}\n", SchemaError{Line: 6, Event: "E", Field: "upcast 2"}, "steps start from versions 1 to 1"},
		{"upcast at version 1", "events:\n  E:\n    upcast:\n      1: {set: {a: '1'}}\n", SchemaError{Line: 4, Event: "E", Field: "upcast 1"}, "the event's version is 1"},
		{"step not a mapping", "events:\n  E:\n    version: 2\n    upcast:\n      1: a\n", SchemaError{Line: 5, Event: "E", Field: "upcast 1"}, "a mapping (set, unset)"},
		{"unknown step key", "events:\n  E:\n    version: 2\n    upcast:\n      1: {rename: {a: b}}\n", SchemaError{Line: 5, Event: "E", Field: "upcast 1 rename"}, "unknown key"},
		{"empty step", "events:\n  E:\n    version: 2\n    upcast:\n      1: {set: {}}\n", SchemaError{Line: 5, Event: "E", Field: "upcast 1"}, "at least one field"},
		{"set not a mapping", "events:\n  E:\n    version: 2\n    upcast:\n      1: {set: [a]}\n", SchemaError{Line: 5, Event: "E", Field: "upcast 1 set"}, "maps field names"},
		{"bad expression", "events:\n  E:\n    version: 2\n    upcast:\n      1:\n        set: {a: 'event.b +'}\n", SchemaError{Line: 6, Event: "E", Field: "upcast 1 set a"}, "unexpected"},
		{"reads the state", "events:\n  E:\n    version: 2\n    upcast:\n      1:\n        set: {a: balance}\n", SchemaError{Line: 6, Event: "E", Field: "upcast 1 set a"}, "reads the event only"},
		{"reads state.x", "events:\n  E:\n    version: 2\n    upcast:\n      1:\n        set: {a: state.x}\n", SchemaError{Line: 6, Event: "E", Field: "upcast 1 set a"}, "reads the event only"},
		{"unset not names", "events:\n  E:\n    version: 2\n    upcast:\n      1: {unset: {a: 1}}\n", SchemaError{Line: 5, Event: "E", Field: "upcast 1 unset"}, "a field name or a list"},
		{"set and unset", "events:\n  E:\n    version: 2\n    upcast:\n      1: {set: {a: '1'}, unset: [a]}\n", SchemaError{Line: 5, Event: "E", Field: "upcast 1"}, "both set and unset"},
		{"version too big", "events:\n  E: {version: 1000001}\n", SchemaError{Line: 2, Event: "E", Field: "version"}, "1 to 1000000"},
	})
}

// upcastSchema is the bank's BalanceIncreased at version 3: version 1
// named the amount cents, version 2 renamed it and added a currency,
// version 3 renamed note to memo.
const upcastSchema = `
events:
  BalanceIncreased:
    version: 3
    data:
      amount: {type: integer, min: 1}
      currency: {type: string, enum: [EUR, USD]}
      memo: {type: string, required: false}
    upcast:
      1:
        set: {amount: event.cents, currency: '"EUR"'}
        unset: cents
      2:
        set: {memo: event.note}
        unset: [note]
`

// v1Schema folds BalanceIncreased as version 1 wrote it.
const v1Schema = `
entities:
  account:
    streams: account
    initial: {balance: 0}
    when:
      BalanceIncreased: {set: {balance: balance + event.cents}}
`

func TestUpcast(t *testing.T) {
	s, err := ParseSchema(upcastSchema)
	if err != nil {
		t.Fatal(err)
	}
	up := s.Upcaster()
	if up == nil {
		t.Fatal("no upcaster")
	}
	if EmptySchema().Upcaster() != nil {
		t.Fatal("an upcaster without steps")
	}
	cases := []struct {
		name string
		ev   eventlog.Event
		want string
	}{
		{"version 1 (none recorded)", eventlog.Event{Type: "BalanceIncreased", Data: []byte(`{"cents":1200,"note":"rent"}`)}, `{"amount":1200,"currency":"EUR","memo":"rent"}`},
		{"version 1 recorded, a null set removes", eventlog.Event{Type: "BalanceIncreased", TypeVersion: 1, Data: []byte(`{"cents":500}`)}, `{"amount":500,"currency":"EUR"}`},
		{"version 2", eventlog.Event{Type: "BalanceIncreased", TypeVersion: 2, Data: []byte(`{"amount":7,"currency":"USD","note":"x"}`)}, `{"amount":7,"currency":"USD","memo":"x"}`},
		{"version 3", eventlog.Event{Type: "BalanceIncreased", TypeVersion: 3, Data: []byte(`{"amount":7,"currency":"USD"}`)}, `{"amount":7,"currency":"USD"}`},
		{"newer than the schema", eventlog.Event{Type: "BalanceIncreased", TypeVersion: 4, Data: []byte(`{"x":1}`)}, `{"x":1}`},
		{"another type", eventlog.Event{Type: "BalanceDecreased", Data: []byte(`{"cents":1}`)}, `{"cents":1}`},
	}
	for _, c := range cases {
		stored := string(c.ev.Data)
		got, err := up.Upcast(&c.ev)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if string(got.Data) != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got.Data, c.want)
		}
		if string(c.ev.Data) != stored {
			t.Errorf("%s: the stored event changed: %s", c.name, c.ev.Data)
		}
		if up.Needs(&c.ev) && got.TypeVersion != 3 {
			t.Errorf("%s: upcast to type version %d", c.name, got.TypeVersion)
		}
	}
	// A step that fails names the event, its position and the step.
	bad, _ := ParseSchema("events:\n  E:\n    version: 2\n    upcast:\n      1: {set: {a: 'event.b.c + 1'}}\n")
	_, err = bad.Upcaster().Upcast(&eventlog.Event{Type: "E", Position: 9, Data: []byte(`{"b":"x"}`)})
	var ue *UpcastError
	if !errors.As(err, &ue) || ue.Position != 9 || ue.From != 1 || !strings.HasPrefix(err.Error(), "upcasting E at position 9 from version 1: set a:") {
		t.Fatalf("a failing step: %v", err)
	}
}

// TestUpcastOnReplay: a log written under version 1, then a schema at
// version 3 with its steps: the entities fold the upcast events (stored
// ones and, after a restart, all of them), appends are stamped with
// version 3 and not upcast again, and the log keeps what was written.
func TestUpcastOnReplay(t *testing.T) {
	f := newFixture(t, v1Schema)
	f.mustAppend("account:1", "BalanceIncreased", `{"cents":1000,"note":"a"}`)
	f.mustAppend("account:1", "BalanceIncreased", `{"cents":250}`)
	if got := f.get("account", "1"); got != `{"balance":1250}` {
		t.Fatalf("under version 1: %s", got)
	}
	schema := testkit.BankSchema(t) + upcastSchema
	if err := f.eng.SetSchema(schema); err != nil {
		t.Fatal(err)
	}
	if got := f.get("account", "1"); got != `{"balance":1250}` {
		t.Fatalf("the stored events upcast: %s", got)
	}
	if got := f.get("bank", "totals"); got != `{"deposits":1250,"withdrawals":0}` {
		t.Fatalf("the totals of the stored events upcast: %s", got)
	}
	f.mustAppend("account:1", "BalanceIncreased", `{"amount":3,"currency":"USD"}`)
	if got := f.get("account", "1"); got != `{"balance":1253}` {
		t.Fatalf("after a version 3 append: %s", got)
	}
	var ie *InvalidEventError
	if r := f.append("account:1", nil, "BalanceIncreased", `{"cents":3}`); !errors.As(r.Err, &ie) {
		t.Fatalf("a version 1 event appended under version 3: %v", r.Err)
	}
	evs, err := f.log.Read("account:1", 1, 10, false)
	if err != nil || len(evs) != 3 {
		t.Fatalf("%v %v", err, evs)
	}
	if string(evs[0].Data) != `{"cents":1000,"note":"a"}` || evs[0].TypeVersion != 0 || evs[2].TypeVersion != 3 {
		t.Fatalf("stored: %s v%d, %s v%d", evs[0].Data, evs[0].TypeVersion, evs[2].Data, evs[2].TypeVersion)
	}
	want := dump(f.eng.Store())
	f.reopen(&schema)
	if got := dump(f.eng.Store()); got != want {
		t.Fatalf("after a restart:\n%s\nwant\n%s", got, want)
	}
}

// TestUpcastFailureKeepsTheSchema: a schema whose step fails on a stored
// event is not put in force, at SCHEMA.LOAD or at a start with it.
func TestUpcastFailureKeepsTheSchema(t *testing.T) {
	f := newFixture(t, "")
	f.mustAppend("wallet:1", "E", `{"b":5}`)
	f.mustAppend("wallet:1", "E", `{"b":"x"}`)
	before := f.eng.Store().Schema().Hash
	bad := "events:\n  E:\n    version: 2\n    upcast:\n      1: {set: {b: 'event.b * 100'}}\n"
	err := f.eng.SetSchema(bad)
	if err == nil || !strings.Contains(err.Error(), "1 stored events do not upcast") || !strings.Contains(err.Error(), "upcasting E at position 2 from version 1") {
		t.Fatalf("SetSchema: %v", err)
	}
	if f.eng.Store().Schema().Hash != before {
		t.Fatal("the failing schema is in force")
	}
	if got := f.get("wallet", "1"); got != `{"b":"x"}` {
		t.Fatalf("the old state: %s", got)
	}
	if err := f.tryReopen(&bad); err == nil || !strings.Contains(err.Error(), "do not upcast") {
		t.Fatalf("a start with the failing schema: %v", err)
	}
}

// BenchmarkApplyUpcast folds 20,000 BalanceIncreased events into the bank
// on one goroutine: under the bank's schema ("none"); under a version 2
// shape with a step from version 1, the events of version 2 ("current",
// no step runs); and the same events stored under version 1 ("v1", each
// upcast before it is folded).
func BenchmarkApplyUpcast(b *testing.B) {
	const steps = `
events:
  BalanceIncreased:
    version: 2
    upcast:
      1:
        set: {amount: event.cents, currency: '"EUR"'}
        unset: cents
`
	for _, c := range []struct {
		name, schema, data string
		typeVersion        uint32
	}{
		{"none", "", `{"amount":100,"currency":"EUR"}`, 0},
		{"current", steps, `{"amount":100,"currency":"EUR"}`, 2},
		{"v1", steps, `{"cents":100}`, 0},
	} {
		b.Run(c.name, func(b *testing.B) {
			schema, err := ParseSchema(testkit.BankSchema(b) + c.schema)
			if err != nil {
				b.Fatal(err)
			}
			events := make([]eventlog.Event, 20000)
			for i := range events {
				events[i] = eventlog.Event{Position: uint64(i + 1), Stream: fmt.Sprintf("account:%d", i%1000), Version: uint64(i/1000 + 1),
					Type: "BalanceIncreased", Data: []byte(c.data), TypeVersion: c.typeVersion}
			}
			b.ReportAllocs()
			for b.Loop() {
				s := NewStore(schema)
				for i := range events {
					s.Apply(&events[i])
				}
				if n, first := s.ProjectionErrors(); n > 0 {
					b.Fatal(first)
				}
			}
			b.ReportMetric(float64(len(events))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
