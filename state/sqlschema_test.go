package state

import (
	"strings"
	"testing"

	"github.com/foldb/foldb/eventlog"
)

const sqlEntities = `entities:
  account:
    initial: {balance: 0, name: "", vip: false, rate: 0.5, tags: []}
    when:
      BalanceIncreased: {set: {balance: balance + event.amount}}
`

func TestSQLProjections(t *testing.T) {
	s, err := ParseSchema(sqlEntities + `sql:
  accounts:
    database: reports
    from: account
    table: accounts
    columns:
      id: id
      name: name
      balance: balance
      vip: vip
      rate: rate
      tags: tags
      rich: balance > 100
      v: version
      nick: {expr: state.nick, type: text}
    indexes: [balance]
  ledger:
    database: sqlite
    events: [BalanceIncreased, BalanceDecreased]
    columns: {position: position, account: id, type: type, amount: {expr: event.amount, type: integer}, at: time, data: event}
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.SQL) != 2 {
		t.Fatalf("%d projections", len(s.SQL))
	}
	acc, led := s.SQL[0], s.SQL[1]
	want := map[string]string{"id": "text", "name": "text", "balance": "integer", "vip": "boolean", "rate": "real", "tags": "json", "rich": "boolean", "v": "integer", "nick": "text"}
	for _, c := range acc.Columns {
		if want[c.Name] != c.Type {
			t.Errorf("accounts.%s: type %s, want %s", c.Name, c.Type, want[c.Name])
		}
	}
	if acc.Key != 0 || acc.From != "account" || acc.Table != "accounts" || len(acc.Indexes) != 1 || acc.Database != "reports" || acc.DatabaseLine != 8 {
		t.Fatalf("accounts %+v", acc)
	}
	if led.Table != "ledger" || led.Key != 0 || led.Columns[4].Type != "timestamp" || led.Columns[5].Type != "json" {
		t.Fatalf("ledger %+v", led)
	}

	v := NewSQLValues()
	e := packEntity("42", 3, []byte(`{"balance":150,"name":"Ann","tags":["a"]}`))
	for col, want := range map[int]any{0: "42", 1: "Ann", 2: 150, 6: true, 7: 3, 8: nil} {
		got, err := v.Entity(acc.Columns[col], e)
		if err != nil || got != want {
			t.Errorf("accounts.%s = %v (%v), want %v", acc.Columns[col].Name, got, err, want)
		}
	}
	ev := &eventlog.Event{Position: 9, Stream: "account:42", Version: 2, Type: "BalanceIncreased", Data: []byte(`{"amount":10}`), Time: 1700000000000}
	for col, want := range map[int]any{0: 9, 1: "42", 2: "BalanceIncreased", 3: 10, 4: 1700000000000} {
		got, err := v.Event(led.Columns[col], ev)
		if err != nil || got != want {
			t.Errorf("ledger.%s = %v (%v), want %v", led.Columns[col].Name, got, err, want)
		}
	}

	// The definition follows the entity type's declaration.
	s2, err := ParseSchema(strings.Replace(s.Text, "balance + event.amount", "balance + 2 * event.amount", 1))
	if err != nil {
		t.Fatal(err)
	}
	if s2.SQL[0].Definition == acc.Definition || s2.SQL[1].Definition != led.Definition {
		t.Fatal("definitions do not follow what the rows depend on")
	}
}

func TestSQLProjectionErrors(t *testing.T) {
	for _, c := range []struct {
		name, sql string
		line      int
		want      string
	}{
		{"not a mapping", "sql: [a]", 6, "'sql' maps projection names"},
		{"no database", "sql:\n  a: {from: account, columns: {id: id}}", 7, "a projection names its database"},
		{"neither", "sql:\n  a: {database: r, columns: {id: id}}", 7, "needs from (an entity type"},
		{"both", "sql:\n  a: {database: r, from: account, events: [X], columns: {id: id}}", 7, "not both"},
		{"no key", "sql:\n  a: {database: r, from: account, columns: {b: balance}}", 7, "needs a column whose expression is id"},
		{"bad expression", "sql:\n  a:\n    database: r\n    from: account\n    columns:\n      id: id\n      b: 'balance +'", 12, `column b "balance +": unexpected token EOF`},
		{"unknown type", "sql:\n  a:\n    database: r\n    from: account\n    columns:\n      id: id\n      b: {expr: balance, type: money}", 12, "type is one of text, integer, real"},
		{"cannot infer", "sql:\n  a:\n    database: r\n    events: [X]\n    columns:\n      amount: event.amount", 11, "cannot tell the column's type: declare it, as {expr: event.amount, type: integer}"},
		{"event in entity row", "sql:\n  a:\n    database: r\n    from: account\n    columns:\n      id: id\n      amount: {expr: event.amount, type: integer}", 12, "event is not bound in an entity projection"},
		{"bad table", "sql:\n  a: {database: r, from: account, table: 'my table', columns: {id: id}}", 7, "a table name is letters"},
		{"own table", "sql:\n  a: {database: r, from: account, table: foldb_x, columns: {id: id}}", 7, "foldb_ are foldb's own"},
		{"bad column", "sql:\n  a: {database: r, from: account, columns: {id: id, 'x-y': balance}}", 7, "a column name is letters"},
		{"index of nothing", "sql:\n  a:\n    database: r\n    from: account\n    columns: {id: id}\n    indexes: [balance]", 11, `"balance" is not a column`},
		{"twice the table", "sql:\n  a: {database: r, from: account, table: t, columns: {id: id}}\n  b: {database: r, events: [X], table: T, columns: {p: position}}", 8, "is projection a's already"},
		{"unknown key", "sql:\n  a: {database: r, from: account, columns: {id: id}, where: x}", 7, "unknown key"},
		{"from a category", "entities:\n  acct: {streams: account}\nsql:\n  a: {database: r, from: account, columns: {id: id}}", 0, "streams account feed type acct"},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := sqlEntities + c.sql
			if strings.HasPrefix(c.sql, "entities:") {
				text = c.sql
			}
			se := schemaError(t, c.name, text)
			if se == nil {
				return
			}
			if !strings.Contains(se.Error(), c.want) || (c.line > 0 && se.Line != c.line) {
				t.Fatalf("got %q (line %d), want %q at line %d", se.Error(), se.Line, c.want, c.line)
			}
		})
	}
}
