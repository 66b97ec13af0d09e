package server_test

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/foldb/foldb/server"
	"github.com/redis/go-redis/v9"
)

const productSchema = `
entities:
  product:
    indexes: [price, category, [category, price]]
    when:
      Listed: {set: {price: event.price, category: event.category}}
      Repriced: {set: {price: event.price}}
      Withdrawn: {delete: true}
`

// TestIndexedQueries: a schema with indexes, queries that walk them
// (ENTITY.EXPLAIN says which), answers that follow appends, INFO's
// index_bytes, and the same answers after a snapshot and a restart.
func TestIndexedQueries(t *testing.T) {
	ts := startServer(t)
	rc := ts.R3
	do(t, rc, "SCHEMA.LOAD", productSchema)
	for i := range 40 {
		do(t, rc, "EVENT.APPEND", fmt.Sprint("product:", i), "Listed", fmt.Sprintf(`{"price":%d,"category":"%c"}`, (i*7)%25, 'a'+i%3))
	}
	do(t, rc, "EVENT.APPEND", "product:3", "Repriced", `{"price":100}`)
	do(t, rc, "EVENT.APPEND", "product:4", "Withdrawn", `{}`)

	cheapest := func(rc doer) []any {
		m := do(t, rc, "ENTITY.ALL", "product", "WHERE", `category == "b" && price >= 10`, "SORTBY", "price", "DESC", "LIMIT", 0, 3).(map[any]any)
		var out []any
		for id, js := range m {
			out = append(out, id, js)
		}
		return out
	}
	got := do(t, ts.R2, "ENTITY.ALL", "product", "WHERE", `category == "b" && price >= 10`, "SORTBY", "price", "DESC", "LIMIT", 0, 3)
	want := []any{"7", `{"price":24,"category":"b"}`, "28", `{"price":21,"category":"b"}`, "10", `{"price":20,"category":"b"}`}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ENTITY.ALL: %v", got)
	}
	if len(cheapest(rc)) != 6 {
		t.Fatal("RESP3 reply")
	}
	ex := do(t, rc, "ENTITY.EXPLAIN", "product", "WHERE", `category == "b" && price >= 10`, "SORTBY", "price", "DESC", "LIMIT", 0, 3).(map[any]any)
	if ex["index"] != "category,price" || ex["order"] != "index" || ex["filter"] != "none" || ex["entities"] != int64(39) ||
		!reflect.DeepEqual(ex["ranges"], []any{`category == "b" && price >= 10`}) {
		t.Fatalf("ENTITY.EXPLAIN: %v", ex)
	}
	if ex := do(t, rc, "ENTITY.EXPLAIN", "product", "WHERE", "version > 1").(map[any]any); ex["index"] != "scan" || ex["filter"] != "where" {
		t.Fatalf("ENTITY.EXPLAIN of a scan: %v", ex)
	}
	doErr(t, rc, "ERR syntax error", "ENTITY.EXPLAIN", "product", "SORTBY")
	count := func(rc doer) int64 {
		return do(t, rc, "ENTITY.COUNT", "product", "WHERE", "price > 5 && price <= 20").(int64)
	}
	n := count(rc)
	var scanN int64
	for id := range 40 {
		if js, err := rc.Do(ctx, "ENTITY.GET", "product", id).Text(); err == nil {
			var p int
			fmt.Sscanf(js[strings.Index(js, ":")+1:], "%d", &p)
			if p > 5 && p <= 20 {
				scanN++
			}
		}
	}
	if n != scanN || n == 0 {
		t.Fatalf("ENTITY.COUNT %d, want %d", n, scanN)
	}
	info := do(t, rc, "INFO", "keyspace", "memory").(string)
	if !strings.Contains(info, "entity_product:count=39,indexes=3,index_bytes=") || !strings.Contains(info, "\r\nindex_bytes:") {
		t.Fatalf("INFO: %s", info)
	}
	before := cheapest(rc)

	// ENTITY.AGGREGATE: a row per group, in the order of values.
	agg := do(t, ts.R2, "ENTITY.AGGREGATE", "product", "WHERE", "price < 5", "GROUPBY", "category", "REDUCE", "COUNT", "MAX", "price", "AVG", "price").([]any)
	if len(agg) != 3 || !reflect.DeepEqual(agg[0], []any{"category", `"a"`, "count", int64(3), "max(price)", "2", "avg(price)", "1"}) {
		t.Fatalf("ENTITY.AGGREGATE: %v", agg)
	}
	if agg := do(t, rc, "ENTITY.AGGREGATE", "product", "WHERE", "price > 1000", "REDUCE", "COUNT", "SUM", "price").([]any); !reflect.DeepEqual(agg, []any{map[any]any{"count": int64(0), "sum(price)": nil}}) {
		t.Fatalf("ENTITY.AGGREGATE of nothing: %v", agg)
	}
	doErr(t, rc, "ERR REDUCE SUM takes a field", "ENTITY.AGGREGATE", "product", "REDUCE", "SUM")

	// Without a WHERE, an aggregation reads the pages' columns, which INFO
	// counts; an append changes its page, and the next aggregation sees it.
	sumOf := func(category string) string {
		t.Helper()
		for _, row := range do(t, ts.R2, "ENTITY.AGGREGATE", "product", "GROUPBY", "category", "REDUCE", "SUM", "price").([]any) {
			if r := row.([]any); r[1] == category {
				return r[3].(string)
			}
		}
		t.Fatalf("no group %s", category)
		return ""
	}
	sumA := sumOf(`"a"`)
	if info := do(t, rc, "INFO", "memory").(string); strings.Contains(info, "aggregate_column_bytes:0\r\n") || !strings.Contains(info, "aggregate_column_bytes:") {
		t.Fatalf("INFO memory after an aggregation: %s", info)
	}
	do(t, rc, "EVENT.APPEND", "product:0", "Repriced", `{"price":1000}`) // product:0 is in "a", its price 0
	if got, want := sumOf(`"a"`), fmt.Sprint(atoi(t, sumA)+1000); got != want {
		t.Fatalf("sum(price) of a after a reprice from 0 to 1000: %s, want %s", got, want)
	}
	do(t, rc, "EVENT.APPEND", "product:0", "Repriced", `{"price":0}`)
	if got := sumOf(`"a"`); got != sumA {
		t.Fatalf("sum(price) of a back at the old price: %s, want %s", got, sumA)
	}
	// aggregate-column-memory 0 lets go of them, and keeps none after.
	do(t, rc, "CONFIG", "SET", "aggregate-column-memory", "0")
	if got := sumOf(`"a"`); got != sumA {
		t.Fatalf("sum(price) of a without columns: %s, want %s", got, sumA)
	}
	if info := do(t, rc, "INFO", "memory").(string); !strings.Contains(info, "aggregate_column_bytes:0\r\n") {
		t.Fatalf("INFO memory with aggregate-column-memory 0: %s", info)
	}

	do(t, rc, "SAVE")
	do(t, rc, "EVENT.APPEND", "product:0", "Repriced", `{"price":15}`) // after the snapshot: replayed
	n++
	if err := ts.Server.Close(); err != nil {
		t.Fatal(err)
	}
	again := startServer(t, func(o *server.Options) { o.Dir = ts.Dir })
	if got := count(again.R3); got != n {
		t.Fatalf("after a restart: ENTITY.COUNT %d, want %d", got, n)
	}
	after := cheapest(again.R3)
	if len(after) != len(before) {
		t.Fatalf("after a restart: %v, before %v", after, before)
	}

	// A schema without the price indexes scans; one that adds them back
	// builds them from the state it rebuilds.
	explainPrice := func() any {
		return do(t, again.R3, "ENTITY.EXPLAIN", "product", "WHERE", "price > 5 && price <= 20").(map[any]any)["index"]
	}
	do(t, again.R3, "SCHEMA.LOAD", strings.Replace(productSchema, "[price, category, [category, price]]", "[category]", 1))
	if got := explainPrice(); got != "scan" || count(again.R3) != n {
		t.Fatalf("without the price index: %v, count %d, want %d", got, count(again.R3), n)
	}
	do(t, again.R3, "EVENT.APPEND", "product:1", "Repriced", `{"price":6}`) // 7 to 6: still counted
	do(t, again.R3, "SCHEMA.LOAD", productSchema)
	if got := explainPrice(); got != "price" || count(again.R3) != n {
		t.Fatalf("with the price index again: %v, count %d, want %d", got, count(again.R3), n)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestEntityMGet: ENTITY.MGET answers each id in order, nil for one that
// is missing or deleted, over more ids than one batch of lookups, in RESP2
// and RESP3, and the same as ENTITY.GET of each.
func TestEntityMGet(t *testing.T) {
	ts := startServer(t)
	do(t, ts.R2, "SCHEMA.LOAD", productSchema)
	for i := range 50 {
		do(t, ts.R2, "EVENT.APPEND", fmt.Sprint("product:", i), "Listed", fmt.Sprintf(`{"price":%d,"category":"c"}`, i))
	}
	do(t, ts.R2, "EVENT.APPEND", "product:7", "Withdrawn", `{}`)
	args := []any{"ENTITY.MGET", "product"}
	var ids []string
	for i := 60; i >= 0; i -= 2 { // 31 ids, six of them past the last product
		ids = append(ids, fmt.Sprint(i))
	}
	ids = append(ids, "7", "4", "none") // deleted, a second time, never written
	for _, id := range ids {
		args = append(args, id)
	}
	for _, rc := range []doer{ts.R2, ts.R3} {
		got, ok := do(t, rc, args...).([]any)
		if !ok || len(got) != len(ids) {
			t.Fatalf("ENTITY.MGET gives %v, want %d replies", got, len(ids))
		}
		for i, id := range ids {
			want, err := rc.Do(ctx, "ENTITY.GET", "product", id).Result()
			if err == redis.Nil {
				want = nil
			}
			if got[i] != want {
				t.Fatalf("ENTITY.MGET's reply %d (id %s) is %v, ENTITY.GET gives %v", i, id, got[i], want)
			}
		}
		if got[len(ids)-3] != nil || got[len(ids)-1] != nil || got[len(ids)-2] == nil {
			t.Fatalf("ENTITY.MGET of a deleted, a present and a missing id: %v", got[len(ids)-3:])
		}
	}
	if got := do(t, ts.R2, "ENTITY.MGET", "nothing", "1", "2"); !reflect.DeepEqual(got, []any{nil, nil}) {
		t.Fatalf("ENTITY.MGET of a type with no entities: %v", got)
	}
}
