package server_test

import (
	"fmt"
	"testing"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/server"
	"github.com/redis/go-redis/v9"
)

const shapesSchema = `
events:
  BalanceIncreased:
    version: 2
    data:
      amount: {type: integer, min: 1}
      currency: {type: string, enum: [EUR, USD], default: EUR}
      note: {type: string, required: false, pattern: '^[a-z ]*$', max: 200}
  AccountOpened:
    strict: true
    data:
      uuid: {type: string}
      name: {type: string, min: 1}
  ToppedUp:
    data:
      amount: {type: integer}
      currency: {type: string, default: EUR}
`

// TestEventShapes: appends that break their event's shape are refused with
// an ERR naming the event, the field and the rule, and write nothing; a
// declared default is what ENTITY.GET shows while the stored event stays
// as it was sent; a strict schema refuses undeclared types; a restart
// replays the log under the shapes.
func TestEventShapes(t *testing.T) {
	ts := startServer(t)
	do(t, ts.R2, "SCHEMA.LOAD", testkit.BankSchema(t)+shapesSchema)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		acct := fmt.Sprintf("account:shapes%d", p)
		do(t, rc, "EVENT.APPEND", acct, "AccountOpened", `{"uuid":"u","name":"A"}`)
		last := ts.Log().LastPosition()
		refused := func(want string, args ...any) {
			t.Helper()
			doErr(t, rc, want, args...)
			if v := toInt(t, do(t, rc, "EVENT.VERSION", acct)); v != 1 {
				t.Fatalf("%v: EVENT.VERSION %d, want 1", args, v)
			}
			if got := ts.Log().LastPosition(); got != last {
				t.Fatalf("%v: the log's last position %d, was %d", args, got, last)
			}
		}
		refused("ERR invalid BalanceIncreased: amount must be an integer >= 1", "EVENT.APPEND", acct, "BalanceIncreased", `{"amount":0}`)
		refused("ERR invalid BalanceIncreased: amount must be an integer >= 1", "EVENT.APPEND", acct, "BalanceIncreased", `{"amount":0.5}`)
		refused("ERR invalid BalanceIncreased: amount is required", "EVENT.APPEND", acct, "BalanceIncreased", `{"currency":"EUR"}`)
		refused(`ERR invalid BalanceIncreased: currency must be one of "EUR", "USD"`, "EVENT.APPEND", acct, "BalanceIncreased", `{"amount":1,"currency":"GBP"}`)
		refused("ERR invalid BalanceIncreased: note must match the pattern ^[a-z ]*$", "EVENT.APPEND", acct, "BalanceIncreased", `{"amount":1,"note":"Rent"}`)
		refused("ERR invalid AccountOpened: field nick is not declared (strict)", "EVENT.APPEND", acct, "AccountOpened", `{"uuid":"u","name":"A","nick":"a"}`)
		// The first event is fine, the second is not: neither is written.
		refused(`ERR invalid BalanceIncreased: currency must be one of "EUR", "USD"`, "EVENT.APPEND", acct,
			"BalanceIncreased", `{"amount":5}`, "BalanceIncreased", `{"amount":5,"currency":"eur"}`)
		refused("ERR invalid BalanceIncreased: amount must be an integer >= 1", "XADD", acct, "*", "type", "BalanceIncreased", "data", `{"amount":-1}`)
		// A guard still answers REJECTED.
		refused("REJECTED insufficient funds", "EVENT.APPEND", acct, "BalanceDecreased", `{"amount":5}`)
		do(t, rc, "EVENT.APPEND", acct, "BalanceIncreased", `{"amount":5,"note":"rent"}`)
		if got := do(t, rc, "ENTITY.GET", "account", acct[len("account:"):]); got != `{"balance":5,"uuid":"u","name":"A"}` {
			t.Fatalf("ENTITY.GET account: %v", got)
		}

		wallet := fmt.Sprintf("wallet:%d", p)
		do(t, rc, "EVENT.APPEND", wallet, "ToppedUp", `{"amount":3}`)
		if got := do(t, rc, "ENTITY.GET", "wallet", fmt.Sprint(p)); got != `{"amount":3,"currency":"EUR"}` {
			t.Fatalf("ENTITY.GET wallet: %v", got)
		}
		evs := eventsOf(t, do(t, rc, "EVENT.READ", wallet), p)
		if len(evs) != 1 || evs[0]["data"] != `{"amount":3}` {
			t.Fatalf("the stored event: %v", evs)
		}
	})

	do(t, ts.R2, "EVENT.APPEND", "x:1", "Foo", `{}`) // the schema is not strict
	do(t, ts.R2, "SCHEMA.LOAD", "strict: true\n"+testkit.BankSchema(t)+shapesSchema)
	last := ts.Log().LastPosition()
	doErr(t, ts.R3, "ERR undeclared event type Foo (the schema is strict)", "EVENT.APPEND", "x:1", "Foo", `{}`)
	if ts.Log().LastPosition() != last {
		t.Fatal("an undeclared type was written")
	}
	doErr(t, ts.R2, "ERR schema line 5: event BalanceIncreased, field amount, min: min 5 is greater than max 2",
		"SCHEMA.LOAD", "events:\n  BalanceIncreased:\n    data:\n      amount:\n        min: 5\n        max: 2\n        type: integer\n")
	doErr(t, ts.R2, "ERR schema line 4: event BalanceIncreased, upcast: no step from version 2: the event's version is 3, so upcast needs a step from every version 1 to 2",
		"SCHEMA.LOAD", "events:\n  BalanceIncreased:\n    version: 3\n    upcast:\n      1: {set: {amount: event.cents}}\n")

	if err := ts.Server.Close(); err != nil {
		t.Fatal(err)
	}
	again := startServer(t, func(o *server.Options) { o.Dir = ts.Dir })
	if got := do(t, again.R3, "ENTITY.GET", "wallet", "2"); got != `{"amount":3,"currency":"EUR"}` {
		t.Fatalf("after a restart: %v", got)
	}
	// Foo, appended before the schema was strict, is replayed unchecked.
	if got := do(t, again.R3, "ENTITY.GET", "x", "1"); got != `{}` {
		t.Fatalf("an event of a type undeclared since, after a restart: %v", got)
	}
}
