package server_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/server"
	"github.com/redis/go-redis/v9"
)

// The benchmarks run a real server and go-redis over loopback TCP: they
// measure a whole round trip, the client's share included.

func BenchmarkPing(b *testing.B) {
	ts := startServer(b, func(o *server.Options) { o.Durability = eventlog.DurabilityNone })
	b.Run("serial", func(b *testing.B) {
		rc := ts.Client(b, 2, func(o *redis.Options) { o.PoolSize = 1 })
		rc.Ping(ctx)
		b.ReportAllocs()
		for b.Loop() {
			if err := rc.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		rc := ts.Client(b, 2, func(o *redis.Options) { o.PoolSize = 64 })
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := rc.Ping(ctx).Err(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// benchData is a 100-byte JSON object, the size of the values that
// BENCHMARKS.md's row 1 measures with.
var benchData = `{"amount":100,"currency":"EUR","account":"acct-000042","note":"monthly salary payment, batch #0007"}`

func BenchmarkAppend(b *testing.B) {
	if len(benchData) != 100 {
		b.Fatalf("benchData is %d bytes", len(benchData))
	}
	for _, d := range []eventlog.Durability{eventlog.DurabilityNone, eventlog.DurabilityAlways} {
		b.Run(d.String(), func(b *testing.B) {
			ts := startServer(b, func(o *server.Options) { o.Durability = d })
			var streams atomic.Int64
			b.Run("serial", func(b *testing.B) {
				rc := ts.Client(b, 2, func(o *redis.Options) { o.PoolSize = 1 })
				s := fmt.Sprintf("bench:%d", streams.Add(1))
				b.ReportAllocs()
				b.SetBytes(int64(len(benchData)))
				for b.Loop() {
					if err := rc.Do(ctx, "EVENT.APPEND", s, "BalanceIncreased", benchData).Err(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("parallel", func(b *testing.B) {
				rc := ts.Client(b, 2, func(o *redis.Options) { o.PoolSize = 64 })
				b.ReportAllocs()
				b.SetBytes(int64(len(benchData)))
				b.SetParallelism(16) // 16 × GOMAXPROCS clients, enough to share fsyncs
				b.RunParallel(func(pb *testing.PB) {
					s := fmt.Sprintf("bench:%d", streams.Add(1))
					for pb.Next() {
						if err := rc.Do(ctx, "EVENT.APPEND", s, "BalanceIncreased", benchData).Err(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// BenchmarkAppendPipelined sends 16 appends a round trip, as
// redis-benchmark -P 16 does: they share one commit round.
func BenchmarkAppendPipelined(b *testing.B) {
	ts := startServer(b, func(o *server.Options) { o.Durability = eventlog.DurabilityAlways })
	rc := ts.Client(b, 2, func(o *redis.Options) { o.PoolSize = 1 })
	const depth = 16
	b.ReportAllocs()
	b.SetBytes(depth * int64(len(benchData)))
	for b.Loop() {
		pipe := rc.Pipeline()
		for range depth {
			pipe.Do(ctx, "EVENT.APPEND", "bench:pipe", "BalanceIncreased", benchData)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*depth)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkTransfer is 16 × GOMAXPROCS clients each sending transfers, a
// MULTI of two appends to two streams and EXEC, durably.
func BenchmarkTransfer(b *testing.B) {
	ts := startServer(b, func(o *server.Options) { o.Durability = eventlog.DurabilityAlways })
	rc := ts.Client(b, 2, func(o *redis.Options) { o.PoolSize = 64 })
	var clients atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		w := clients.Add(1)
		for i := 0; pb.Next(); i++ {
			_, err := rc.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Do(ctx, "EVENT.APPEND", fmt.Sprintf("account:%d-%d", w, i%100), "BalanceDecreased", `{"amount":1}`)
				p.Do(ctx, "EVENT.APPEND", fmt.Sprintf("account:%d-%d", w, (i+1)%100), "BalanceIncreased", `{"amount":1}`)
				return nil
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
