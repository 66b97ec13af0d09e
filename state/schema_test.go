package state

import (
	"strings"
	"testing"

	"github.com/foldb/foldb/internal/testkit"
)

func TestParseBankSchema(t *testing.T) {
	s, err := ParseSchema(testkit.BankSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Types) != 2 || s.Types[0].Name != "account" || s.Types[1].Name != "bank" {
		t.Fatalf("types %+v", s.Types)
	}
	acc := s.Types[0]
	if acc.Streams != "account" || string(acc.Initial) != `{"balance":0}` || len(acc.When) != 4 {
		t.Fatalf("account %+v", acc)
	}
	dec := acc.When["BalanceDecreased"]
	if dec.Require == nil || dec.Message != "insufficient funds" || len(dec.Set) != 1 {
		t.Fatalf("BalanceDecreased %+v", dec)
	}
	if got := dec.Require.needs.fields; len(got) != 1 || got[0].name != "balance" {
		t.Fatalf("require reads fields %v", got)
	}
	if got := dec.Require.needs.event; got.whole() || len(got.members) != 1 || got.members[0].key != "event:amount" {
		t.Fatalf("require reads event %+v", got)
	}
	if !acc.When["AccountClosed"].Delete {
		t.Fatal("AccountClosed does not delete")
	}
	bank := s.Types[1]
	if bank.Streams != "" || bank.ID == nil || len(s.byEvent["BalanceIncreased"]) != 1 {
		t.Fatalf("bank %+v", bank)
	}
	if !s.declared["account"] || !s.declared["bank"] || s.declared["order"] {
		t.Fatalf("declared %v", s.declared)
	}
	// JSON is YAML too.
	js, err := ParseSchema(`{"entities":{"account":{"initial":{"balance":0},"when":{"BalanceIncreased":{"set":{"balance":"balance + event.amount"}}}}}}`)
	if err != nil || js.Types[0].Streams != "account" {
		t.Fatalf("JSON schema: %v", err)
	}
}

func TestSchemaErrors(t *testing.T) {
	cases := []struct {
		name string
		text string
		want SchemaError
	}{
		{"bad YAML", "entities:\n  account: [\n", SchemaError{Line: 2}},
		{"not a mapping", "- a\n", SchemaError{Line: 1}},
		{"unknown top key", "entity:\n  a: {}\n", SchemaError{Line: 1}},
		{"bad expression", "entities:\n  account:\n    when:\n      X:\n        set: {balance: balance +}\n",
			SchemaError{Line: 5, Entity: "account", Event: "X", Field: "set balance", Expr: "balance +"}},
		{"bad require", "entities:\n  account:\n    when:\n      X:\n        require: 'balance >='\n",
			SchemaError{Line: 5, Entity: "account", Event: "X", Field: "require", Expr: "balance >="}},
		{"on instead of when", "entities:\n  account:\n    on:\n      X: {delete: true}\n", SchemaError{Line: 3, Entity: "account", Field: "on"}},
		{"events without id", "entities:\n  bank:\n    events: [A]\n", SchemaError{Line: 2, Entity: "bank", Field: "id"}},
		{"unknown handler key", "entities:\n  a:\n    when:\n      X: {sett: {}}\n", SchemaError{Line: 4, Entity: "a", Event: "X", Field: "sett"}},
		{"delete and set", "entities:\n  a:\n    when:\n      X: {delete: true, set: {b: 1}}\n", SchemaError{Line: 4, Entity: "a", Event: "X", Field: "delete"}},
		{"initial not a map", "entities:\n  a:\n    initial: 3\n", SchemaError{Line: 3, Entity: "a", Field: "initial"}},
		{"handler not in events", "entities:\n  a:\n    events: [A]\n    id: '\"x\"'\n    when:\n      B: {delete: true}\n", SchemaError{Line: 2, Entity: "a", Event: "B"}},
		{"bad type name", "entities:\n  'a b': {}\n", SchemaError{Line: 2, Entity: "a b"}},
		{"streams with colon", "entities:\n  a:\n    streams: 'a:1'\n", SchemaError{Line: 3, Entity: "a", Field: "streams"}},
		{"indexes not a list", "entities:\n  a:\n    indexes: price\n", SchemaError{Line: 3, Entity: "a", Field: "indexes"}},
		{"index of a mapping", "entities:\n  a:\n    indexes:\n      - {price: 1}\n", SchemaError{Line: 4, Entity: "a", Field: "indexes"}},
		{"index of a number", "entities:\n  a:\n    indexes: [price, 3]\n", SchemaError{Line: 3, Entity: "a", Field: "indexes"}},
		{"empty compound", "entities:\n  a:\n    indexes:\n      - price\n      - []\n", SchemaError{Line: 5, Entity: "a", Field: "indexes"}},
		{"duplicate index", "entities:\n  a:\n    indexes:\n      - price\n      - [category, price]\n      - [price]\n", SchemaError{Line: 6, Entity: "a", Field: "indexes"}},
		{"field twice in an index", "entities:\n  a:\n    indexes:\n      - [price, price]\n", SchemaError{Line: 4, Entity: "a", Field: "indexes"}},
		{"bad id expression", "entities:\n  a:\n    id: 'event.'\n", SchemaError{Line: 3, Entity: "a", Field: "id", Expr: "event."}},
	}
	for _, c := range cases {
		se := schemaError(t, c.name, c.text)
		if se == nil {
			continue
		}
		if se.Line != c.want.Line || se.Entity != c.want.Entity || se.Event != c.want.Event || se.Field != c.want.Field || se.Expr != c.want.Expr || se.Reason == "" {
			t.Errorf("%s: got %+v (%v), want %+v", c.name, *se, se, c.want)
		}
		if !strings.HasPrefix(se.Error(), "state: schema") {
			t.Errorf("%s: error text %q", c.name, se.Error())
		}
	}
}

// TestSchemaErrorText: the first of entity, event and field follows the
// line after a colon, the others after commas.
func TestSchemaErrorText(t *testing.T) {
	cases := []struct {
		err  SchemaError
		want string
	}{
		{SchemaError{Line: 5, Entity: "account", Event: "X", Field: "require", Expr: "balance >=", Reason: "r"}, `schema line 5: entity account, event X, require "balance >=": r`},
		{SchemaError{Line: 23, Field: "sql ledger, column amount", Expr: "event.amount", Reason: "r"}, `schema line 23: sql ledger, column amount "event.amount": r`},
		{SchemaError{Line: 2, Reason: "r"}, `schema line 2: r`},
		{SchemaError{Reason: "r"}, `schema: r`},
	}
	for _, c := range cases {
		if got := c.err.Detail(); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}

func TestParseIndexes(t *testing.T) {
	s, err := ParseSchema("entities:\n  product:\n    indexes: [price, category, name, [category, price]]\n")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range s.Types[0].Indexes {
		got = append(got, d.Name())
	}
	if strings.Join(got, " ") != "price category name category,price" {
		t.Fatalf("indexes %v", got)
	}
}

func TestAnalyseNeeds(t *testing.T) {
	cases := []struct {
		src    string
		fields string
		event  string
		whole  bool
	}{
		{"balance + event.amount", "balance", "amount", false},
		{"len(event) > 0", "", "", true},
		{"let x = 1; x + balance", "balance", "", false},
		{"event.a.b > other", "other", "a", false},
		{"event['amount'] > 0", "", "amount", false},
		{"state.balance > 0 && id != ''", "", "", false},
		{"count + 1", "count", "", false},
		{"len(items) > 2", "items", "", false},
		{"max(a, event.b)", "a", "b", false},
	}
	for _, c := range cases {
		p, err := compile(c.src, false)
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		if got := names(p.needs.fields); got != c.fields {
			t.Errorf("%s: fields %q, want %q", c.src, got, c.fields)
		}
		if got := names(p.needs.event.members); got != c.event || p.needs.event.whole() != c.whole {
			t.Errorf("%s: event %+v, want keys %q whole %v", c.src, p.needs.event, c.event, c.whole)
		}
	}
}

func names(fs []flatName) string {
	var out []string
	for _, f := range fs {
		out = append(out, f.name)
	}
	return strings.Join(out, ",")
}
