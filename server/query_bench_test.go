package server_test

import (
	"fmt"
	"testing"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/server"
)

// BenchmarkDispatchQuery: the cost of a query command without the network,
// beside ENTITY.GET, over an indexed type.
func BenchmarkDispatchQuery(b *testing.B) {
	s := startServer(b, func(o *server.Options) { o.Durability = eventlog.DurabilityNone })
	do(b, s.R2, "SCHEMA.LOAD", productSchema)
	const n = 100_000
	as := make([]*eventlog.Append, 0, 1000)
	for i := range n {
		as = append(as, &eventlog.Append{Stream: fmt.Sprint("product:", i), Events: []eventlog.Proposed{{Type: "Listed",
			Data: []byte(fmt.Sprintf(`{"price":%d,"category":"c%d"}`, (i*7919)%n, i%200))}}})
		if len(as) == cap(as) {
			s.Log().Append(as...)
			as = as[:0]
		}
	}
	for _, q := range []struct {
		name string
		args []string
	}{
		{"get", []string{"ENTITY.GET", "product", "500"}},
		{"count", []string{"ENTITY.COUNT", "product"}},
		{"sortby", []string{"ENTITY.ALL", "product", "SORTBY", "price", "LIMIT", "0", "10"}},
		{"where-sortby", []string{"ENTITY.ALL", "product", "WHERE", `category == "c17"`, "SORTBY", "price", "LIMIT", "0", "10"}},
		{"count-range", []string{"ENTITY.COUNT", "product", "WHERE", `price >= 1000 && price < 2000`}},
		{"prefix-sortby-20", []string{"ENTITY.ALL", "product", "WHERE", `category startsWith "c17"`, "SORTBY", "category", "LIMIT", "0", "20"}},
	} {
		b.Run(q.name, func(b *testing.B) {
			server.ServeFeed(b, s.Server, respCmd(q.args...), 1)
		})
	}
}
