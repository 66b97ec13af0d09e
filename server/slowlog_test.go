package server_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/internal/testkit/outbuf"
	"github.com/foldb/foldb/internal/testkit/testserver"
	"github.com/foldb/foldb/server"
)

// TestSlowlog: with the threshold at 0 every command that is not fast goes
// to SLOWLOG (from the CONFIG SET that set it), in Redis's entry shape, newest first, and to the log with its
// plan; fast ones do not; LEN, RESET, slowlog-max-len and a negative
// threshold behave as Redis's.
func TestSlowlog(t *testing.T) {
	var logged outbuf.Buffer
	ts := testserver.StartLogging(t, &logged, func(o *server.Options) { o.ConnGoroutines = connGoroutines })
	rc := ts.R2
	// The default threshold is Redis's; what passes it depends on the
	// machine, so the log is off and cleared for the set-up.
	if got := do(t, rc, "CONFIG", "GET", "slowlog-log-slower-than"); !reflect.DeepEqual(got, []any{"slowlog-log-slower-than", "10000"}) {
		t.Fatalf("CONFIG GET slowlog-log-slower-than = %v", got)
	}
	do(t, rc, "CONFIG", "SET", "slowlog-log-slower-than", "-1")
	do(t, rc, "SLOWLOG", "RESET")
	do(t, rc, "SCHEMA.LOAD", productSchema)
	for i := range 20 {
		do(t, rc, "EVENT.APPEND", fmt.Sprint("product:", i), "Listed", fmt.Sprintf(`{"price":%d,"category":"c%d"}`, i, i%3))
	}
	if got := do(t, rc, "SLOWLOG", "LEN"); got != int64(0) {
		t.Fatalf("SLOWLOG LEN with the log off = %v", got)
	}
	do(t, rc, "CONFIG", "SET", "slowlog-log-slower-than", "0")
	do(t, rc, "CLIENT", "SETNAME", "reporting")
	do(t, rc, "ENTITY.GET", "product", "1") // fast: not timed
	do(t, rc, "ENTITY.ALL", "product", "WHERE", "price > 3", "SORTBY", "stock")
	do(t, rc, "ENTITY.COUNT", "product", "WHERE", `category == "c1"`)
	got := do(t, rc, "SLOWLOG", "GET").([]any)
	if len(got) != 3 {
		t.Fatalf("SLOWLOG GET = %v; want the two queries and CONFIG SET", got)
	}
	first, second := got[0].([]any), got[1].([]any)
	if len(first) != 6 || !reflect.DeepEqual(first[3], []any{"ENTITY.COUNT", "product", "WHERE", `category == "c1"`}) ||
		!reflect.DeepEqual(second[3], []any{"ENTITY.ALL", "product", "WHERE", "price > 3", "SORTBY", "stock"}) {
		t.Fatalf("SLOWLOG GET = %v", got)
	}
	if first[0].(int64) != second[0].(int64)+1 || first[1].(int64) <= 0 || first[2].(int64) < 0 || first[5] != "reporting" ||
		!strings.HasPrefix(first[4].(string), "127.0.0.1:") {
		t.Fatalf("SLOWLOG entry = %v", first)
	}
	defer func() {
		if t.Failed() {
			t.Log(logged.String())
		}
	}()
	testkit.WaitFor(t, "the slow commands in the log", func() bool {
		return strings.Contains(logged.String(), `plan="index price (price > 3), reads at most 16 of 20 entities, sorted"`) &&
			strings.Contains(logged.String(), `plan="index category (category == \"c1\"), reads at most 0 of 20 entities"`)
	})
	// SLOWLOG GET is not fast: the newest entry is the GET before.
	if one := do(t, rc, "SLOWLOG", "GET", "1").([]any); len(one) != 1 || !reflect.DeepEqual(one[0].([]any)[3], []any{"SLOWLOG", "GET"}) {
		t.Fatalf("SLOWLOG GET 1 = %v", one)
	}
	doErr(t, rc, "ERR count should be greater than or equal to -1", "SLOWLOG", "GET", "-2")
	do(t, rc, "CONFIG", "SET", "slowlog-max-len", "1")
	if n := do(t, rc, "SLOWLOG", "LEN"); n != int64(1) { // CONFIG SET itself is not fast
		t.Fatalf("SLOWLOG LEN after slowlog-max-len 1 = %v", n)
	}
	do(t, rc, "SLOWLOG", "RESET")
	do(t, rc, "CONFIG", "SET", "slowlog-log-slower-than", "-1", "slowlog-max-len", "128")
	do(t, rc, "ENTITY.ALL", "product")
	if n := do(t, rc, "SLOWLOG", "LEN"); n != int64(0) {
		t.Fatalf("SLOWLOG LEN with the threshold off = %v", n)
	}
}
