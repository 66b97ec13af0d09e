package server_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/foldb/foldb/internal/testkit"
	_ "github.com/foldb/foldb/sqlproj/sqldb" // its SQLite driver, to read the table
)

const projectionSchema = `
sql:
  accounts:
    database: sqlite
    from: account
    columns: {id: id, name: {expr: name, type: text}, balance: balance}
    indexes: [balance]
  ledger:
    database: sqlite
    events: [BalanceIncreased, BalanceDecreased]
    columns: {position: position, account: id, amount: {expr: event.amount, type: integer}, at: time}
`

// TestProjectionCommands: with no database setting, a schema's sql:
// projections write to sqlite.db in the data folder; PROJECTION.WAIT
// returns once an append is in the table, STATUS, LIST and INFO describe
// them, PAUSE holds a table still, REBUILD swaps in a fresh one, and bad
// input gets Redis-style errors.
func TestProjectionCommands(t *testing.T) {
	ts := startServer(t)
	rc := ts.R3
	do(t, rc, "SCHEMA.LOAD", testkit.BankSchema(t)+projectionSchema)
	var last int64
	for i := range 5 {
		r := do(t, rc, "EVENT.APPEND", fmt.Sprint("account:", i), "AccountOpened", fmt.Sprintf(`{"uuid":"u%d","name":"n%d"}`, i, i), "BalanceIncreased", `{"amount":10}`).([]any)
		last = r[1].(int64)
	}
	for _, name := range []string{"accounts", "ledger"} {
		if got := do(t, rc, "PROJECTION.WAIT", name, last, 10000); got != last {
			t.Fatalf("PROJECTION.WAIT %s: %v", name, got)
		}
	}
	db, err := sql.Open("sqlite", filepath.Join(ts.Dir, "sqlite.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string) int {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM accounts WHERE balance = 10`); n != 5 {
		t.Fatalf("%d accounts with balance 10", n)
	}
	if n := count(`SELECT count(*) FROM ledger`); n != 5 {
		t.Fatalf("%d ledger rows", n)
	}

	st := do(t, rc, "PROJECTION.STATUS", "accounts").(map[any]any)
	if st["state"] != "live" || st["position"] != last || st["rows"] != int64(5) || st["kind"] != "entities" || st["driver"] != "sqlite" || st["lag_events"] != int64(0) {
		t.Fatalf("status %v", st)
	}
	r2 := do(t, ts.R2, "PROJECTION.STATUS", "ledger").([]any)
	if len(r2) != 34 || r2[0] != "name" || r2[1] != "ledger" {
		t.Fatalf("RESP2 status %v", r2)
	}
	list := do(t, rc, "PROJECTION.LIST").([]any)
	if len(list) != 2 || list[0].(map[any]any)["name"] != "accounts" || list[1].(map[any]any)["table"] != "sqlite.ledger" {
		t.Fatalf("list %v", list)
	}
	info := do(t, rc, "INFO", "projections").(string)
	if !strings.Contains(info, "projections:2") || !strings.Contains(info, fmt.Sprintf("projection_ledger:state=live,database=sqlite,table=ledger,position=%d,lag_events=0", last)) {
		t.Fatalf("INFO %s", info)
	}

	// Paused, the table does not move; resumed, it catches up.
	do(t, rc, "PROJECTION.PAUSE", "ledger")
	testkit.WaitFor(t, "the ledger pauses", func() bool {
		return do(t, rc, "PROJECTION.STATUS", "ledger").(map[any]any)["state"] == "paused"
	})
	r := do(t, rc, "EVENT.APPEND", "account:1", "BalanceDecreased", `{"amount":3}`).([]any)
	last = r[1].(int64)
	if err := rc.Do(ctx, "PROJECTION.WAIT", "ledger", last, 50).Err(); err == nil || !strings.HasPrefix(err.Error(), "TIMEOUT projection ledger is at position") {
		t.Fatalf("WAIT on a paused projection: %v", err)
	}
	if err := rc.Do(ctx, "PROJECTION.REBUILD", "ledger").Err(); err == nil || err.Error() != "ERR the projection is paused: PROJECTION.RESUME it first" {
		t.Fatalf("REBUILD while paused: %v", err)
	}
	do(t, rc, "PROJECTION.RESUME", "ledger")
	do(t, rc, "PROJECTION.WAIT", "ledger", last, 10000)
	if n := count(`SELECT count(*) FROM ledger`); n != 6 {
		t.Fatalf("%d ledger rows after resuming", n)
	}

	// A rebuild swaps in a fresh table with the same rows.
	do(t, rc, "PROJECTION.REBUILD", "accounts")
	testkit.WaitFor(t, "the rebuild swaps in", func() bool {
		return do(t, rc, "PROJECTION.STATUS", "accounts").(map[any]any)["generation"] == int64(2)
	})
	if n := count(`SELECT balance FROM accounts WHERE id = '1'`); n != 7 {
		t.Fatalf("account 1's balance %d after the rebuild", n)
	}

	for _, c := range []struct {
		args []any
		want string
	}{
		{[]any{"PROJECTION.STATUS", "nope"}, "ERR no such projection 'nope'"},
		{[]any{"PROJECTION.WAIT", "ledger", "x", 1}, "ERR position is not a non-negative integer"},
		{[]any{"PROJECTION.WAIT", "ledger", 1, -1}, "ERR timeout is not an integer or out of range"},
		{[]any{"PROJECTION.PAUSE"}, "ERR wrong number of arguments for 'projection.pause' command"},
	} {
		if err := rc.Do(ctx, c.args...).Err(); err == nil || err.Error() != c.want {
			t.Errorf("%v: %v, want %s", c.args, err, c.want)
		}
	}
	bad := strings.Replace(testkit.BankSchema(t)+projectionSchema, "database: sqlite\n    events", "database: reports\n    events", 1)
	if err := rc.Do(ctx, "SCHEMA.LOAD", bad).Err(); err == nil || !strings.Contains(err.Error(), "unknown database 'reports' (the settings name: sqlite)") {
		t.Fatalf("SCHEMA.LOAD with an unknown database: %v", err)
	}
}

// TestProjectionWaitWakes: a WAIT for a position not yet appended returns
// as soon as the projection has it.
func TestProjectionWaitWakes(t *testing.T) {
	ts := startServer(t)
	rc := ts.R2
	do(t, rc, "SCHEMA.LOAD", testkit.BankSchema(t)+projectionSchema)
	done := make(chan *redis.Cmd, 1)
	go func() { done <- rc.Do(ctx, "PROJECTION.WAIT", "ledger", 2, 0) }()
	testkit.WaitFor(t, "WAIT to block", func() bool {
		return strings.Contains(do(t, ts.R3, "INFO", "clients").(string), "blocked_clients:1")
	})
	do(t, ts.R3, "EVENT.APPEND", "account:1", "BalanceIncreased", `{"amount":1}`, "BalanceIncreased", `{"amount":2}`)
	select {
	case cmd := <-done:
		if v, err := cmd.Result(); err != nil || v != int64(2) {
			t.Fatalf("WAIT: %v %v", v, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WAIT was not woken")
	}
}
