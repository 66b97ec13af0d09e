package server_test

import (
	"fmt"
	"testing"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/server"
)

func respCmd(args ...string) []byte { return []byte(testkit.Command(args...)) }

const value100 = `{"v":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`

func BenchmarkDispatchEntityGet(b *testing.B) {
	s := startServer(b, func(o *server.Options) { o.Durability = eventlog.DurabilityNone })
	for i := 0; i < 1000; i++ {
		a := &eventlog.Append{Stream: fmt.Sprintf("k:%012d", i), Events: []eventlog.Proposed{{Type: "Set", Data: []byte(value100)}}}
		s.Log().Append(a)
	}
	for _, depth := range []int{1, 16} {
		b.Run(fmt.Sprintf("P%d", depth), func(b *testing.B) {
			server.ServeFeed(b, s.Server, respCmd("ENTITY.GET", "k", "000000000500"), depth)
		})
	}
}

func BenchmarkDispatchPing(b *testing.B) {
	s := startServer(b)
	server.ServeFeed(b, s.Server, respCmd("PING"), 16)
}

func BenchmarkDispatchAppendNone(b *testing.B) {
	s := startServer(b, func(o *server.Options) { o.Durability = eventlog.DurabilityNone })
	for _, depth := range []int{1, 16} {
		b.Run(fmt.Sprintf("P%d", depth), func(b *testing.B) {
			server.ServeFeed(b, s.Server, respCmd("EVENT.APPEND", "account:1", "BalanceIncreased", `{"amount":1}`), depth)
		})
	}
}
