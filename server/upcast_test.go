package server_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foldb/foldb/internal/testkit"
)

// upcastV1 folds BalanceIncreased as version 1 wrote it: the amount was
// named cents.
const upcastV1 = `
entities:
  account:
    streams: account
    initial: {balance: 0}
    when:
      BalanceIncreased: {set: {balance: balance + event.cents}}
`

// upcastV2 is the bank at BalanceIncreased version 2, with the step from
// version 1 and a projection of the events into SQLite.
const upcastV2 = `
events:
  BalanceIncreased:
    version: 2
    data:
      amount: {type: integer, min: 1}
      currency: {type: string, enum: [EUR, USD]}
    upcast:
      1:
        set: {amount: event.cents, currency: '"EUR"'}
        unset: cents
sql:
  ledger:
    database: sqlite
    events: [BalanceIncreased]
    columns: {position: position, account: id, amount: {expr: event.amount, type: integer}, currency: {expr: event.currency, type: text}}
`

// TestUpcasting: a log written under version 1, then a schema at version
// 2 with an upcast step: the state, EVENT.READ, EVENT.RANGE, XRANGE,
// XREADGROUP and the SQL projection see the upcast form; RAW shows the
// stored one with the version it was written under.
func TestUpcasting(t *testing.T) {
	ts := startServer(t)
	rc := ts.R3
	do(t, rc, "SCHEMA.LOAD", upcastV1)
	do(t, rc, "EVENT.APPEND", "account:1", "BalanceIncreased", `{"cents":1200}`)
	do(t, rc, "EVENT.APPEND", "account:1", "BalanceIncreased", `{"cents":300}`)
	do(t, rc, "XGROUP", "CREATE", "$ce-account", "mailer", "0")
	do(t, rc, "SCHEMA.LOAD", testkit.BankSchema(t)+upcastV2)
	do(t, rc, "EVENT.APPEND", "account:1", "BalanceIncreased", `{"amount":5,"currency":"USD"}`)

	if got := do(t, rc, "ENTITY.GET", "account", "1"); got != `{"balance":1505}` {
		t.Fatalf("ENTITY.GET: %v", got)
	}
	evs := do(t, rc, "EVENT.READ", "account:1").([]any)
	if len(evs) != 3 || evs[0].(map[any]any)["data"] != `{"amount":1200,"currency":"EUR"}` || evs[2].(map[any]any)["data"] != `{"amount":5,"currency":"USD"}` {
		t.Fatalf("EVENT.READ: %v", evs)
	}
	if _, ok := evs[0].(map[any]any)["typeversion"]; ok {
		t.Fatalf("EVENT.READ without RAW shows the type version: %v", evs[0])
	}
	raw := do(t, rc, "EVENT.READ", "account:1", "RAW").([]any)
	if e := raw[0].(map[any]any); e["data"] != `{"cents":1200}` || e["typeversion"] != int64(1) {
		t.Fatalf("EVENT.READ RAW: %v", raw[0])
	}
	if e := raw[2].(map[any]any); e["data"] != `{"amount":5,"currency":"USD"}` || e["typeversion"] != int64(2) {
		t.Fatalf("EVENT.READ RAW of a version 2 event: %v", raw[2])
	}
	rng := do(t, ts.R2, "EVENT.RANGE", 0, "RAW").([]any)
	if len(rng) != 3 || len(rng[0].([]any)) != 18 {
		t.Fatalf("EVENT.RANGE RAW, RESP2: %v", rng)
	}
	if got := do(t, rc, "EVENT.RANGE", 0, "COUNT", 1).([]any); got[0].(map[any]any)["data"] != `{"amount":1200,"currency":"EUR"}` {
		t.Fatalf("EVENT.RANGE: %v", got)
	}

	entryData := func(e any) (data, typever string) {
		f := e.([]any)[1].([]any)
		for i := 0; i+1 < len(f); i += 2 {
			switch f[i] {
			case "data":
				data = f[i+1].(string)
			case "typeversion":
				typever = f[i+1].(string)
			}
		}
		return data, typever
	}
	x := do(t, ts.R2, "XRANGE", "account:1", "-", "+").([]any)
	if d, tv := entryData(x[1]); len(x) != 3 || d != `{"amount":300,"currency":"EUR"}` || tv != "" {
		t.Fatalf("XRANGE: %v", x)
	}
	x = do(t, ts.R2, "XREVRANGE", "account:1", "+", "-", "COUNT", 3, "RAW").([]any)
	if d, tv := entryData(x[2]); d != `{"cents":1200}` || tv != "1" {
		t.Fatalf("XREVRANGE RAW: %v", x)
	}
	got := do(t, ts.R2, "XREADGROUP", "GROUP", "mailer", "c1", "COUNT", 1, "STREAMS", "$ce-account", ">").([]any)
	if d, _ := entryData(got[0].([]any)[1].([]any)[0]); d != `{"amount":1200,"currency":"EUR"}` {
		t.Fatalf("XREADGROUP: %v", got)
	}
	xr := do(t, ts.R2, "XREAD", "STREAMS", "$et-BalanceIncreased", "0").([]any)
	if d, _ := entryData(xr[0].([]any)[1].([]any)[1]); d != `{"amount":300,"currency":"EUR"}` {
		t.Fatalf("XREAD: %v", xr)
	}

	pos := raw[2].(map[any]any)["position"]
	if got := do(t, rc, "PROJECTION.WAIT", "ledger", pos, 10000); got != pos {
		t.Fatalf("PROJECTION.WAIT: %v", got)
	}
	db, err := sql.Open("sqlite", filepath.Join(ts.Dir, "sqlite.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT amount, currency FROM ledger ORDER BY position`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var table []string
	for rows.Next() {
		var amount int
		var currency string
		if err := rows.Scan(&amount, &currency); err != nil {
			t.Fatal(err)
		}
		table = append(table, fmt.Sprint(currency, " ", amount))
	}
	if strings.Join(table, ",") != "EUR 1200,EUR 300,USD 5" {
		t.Fatalf("the ledger table: %v", table)
	}

	// A step that fails on a stored event: the schema is refused, with
	// the event named, and the old one stays.
	_, err = rc.Do(ctx, "SCHEMA.LOAD", testkit.BankSchema(t)+strings.Replace(upcastV2, "amount: event.cents", "amount: event.cents.x", 1)).Result()
	if err == nil || !strings.Contains(err.Error(), "do not upcast") || !strings.Contains(err.Error(), "upcasting BalanceIncreased at position 1 from version 1") {
		t.Fatalf("a failing step: %v", err)
	}
	if got := do(t, rc, "ENTITY.GET", "account", "1"); got != `{"balance":1505}` {
		t.Fatalf("after a refused schema: %v", got)
	}
}
