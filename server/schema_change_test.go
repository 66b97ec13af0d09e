package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/redis/go-redis/v9"
)

// statusOf reads SCHEMA.STATUS into a map.
func statusOf(t *testing.T, rc *redis.Client) map[string]any {
	t.Helper()
	v := do(t, rc, "SCHEMA.STATUS")
	out := map[string]any{}
	switch v := v.(type) {
	case []any:
		for i := 0; i+1 < len(v); i += 2 {
			out[v[i].(string)] = v[i+1]
		}
	case map[any]any:
		for k, x := range v {
			out[k.(string)] = x
		}
	default:
		t.Fatalf("SCHEMA.STATUS = %#v", v)
	}
	return out
}

// TestSchemaLoadAsync: SCHEMA.LOAD ... ASYNC returns once the schema is
// checked; while the new state is built, reads and appends are served by
// the old one (no -LOADING); the new state then holds every event, those
// appended during the build too, and SCHEMA.STATUS says how it went. A
// second change while one is under way is refused; a schema that does not
// compile is refused at once and changes nothing.
func TestSchemaLoadAsync(t *testing.T) {
	ts := startServer(t)
	rc := ts.R2
	do(t, rc, "SCHEMA.LOAD", bankSchema)
	const accounts = 2000
	pipe := rc.Pipeline()
	for i := range accounts {
		for range 10 {
			pipe.Do(ctx, "EVENT.APPEND", fmt.Sprint("account:", i), "Deposited", `{"amount":1}`)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, rc); st["state"] != "done" {
		t.Fatalf("SCHEMA.STATUS after the first load = %v", st)
	}
	doErrPrefix(t, rc, "ERR schema", "SCHEMA.LOAD", "entities: [", "ASYNC")

	next := strings.Replace(bankSchema, "initial: {balance: 0}", "initial: {balance: 0, deposits: 0}", 1)
	next = strings.Replace(next, "Deposited: {set: {balance: balance + event.amount}}", "Deposited: {set: {balance: balance + event.amount, deposits: deposits + 1}}", 1)
	if v := do(t, rc, "SCHEMA.LOAD", next, "ASYNC"); v != "Schema change started" {
		t.Fatalf("SCHEMA.LOAD ASYNC = %v", v)
	}
	// Served meanwhile: a read and an append, whichever state serves them.
	do(t, rc, "ENTITY.GET", "account", "1")
	do(t, rc, "EVENT.APPEND", "account:1", "Deposited", `{"amount":1}`)
	testkit.WaitFor(t, "the schema change to finish", func() bool {
		st := statusOf(t, rc)
		if st["state"] == "failed" {
			t.Fatalf("the schema change failed: %v", st)
		}
		return st["state"] == "done"
	})
	st := statusOf(t, rc)
	if st["error"] != "" || st["position"].(int64) < accounts*10+1 || st["finished_ms"].(int64) < st["started_ms"].(int64) {
		t.Fatalf("SCHEMA.STATUS = %v", st)
	}
	if got := do(t, rc, "ENTITY.GET", "account", "1"); got != `{"balance":11,"deposits":11}` {
		t.Fatalf("ENTITY.GET after the change = %v", got)
	}
	if got := do(t, rc, "SCHEMA.GET"); got != next {
		t.Fatalf("SCHEMA.GET = %v", got)
	}
	info := do(t, rc, "INFO", "schema").(string)
	for _, want := range []string{"# Schema\r\n", "schema_hash:" + st["schema_hash"].(string) + "\r\n", "schema_change_state:done\r\n", "schema_entity_types:1\r\n"} {
		if !strings.Contains(info, want) {
			t.Fatalf("INFO schema lacks %q:\n%s", want, info)
		}
	}
	doErr(t, rc, "ERR syntax error", "SCHEMA.LOAD", next, "SOON")
}
