package conformance

import (
	"context"
	"errors"
	"fmt"
	"github.com/foldb/foldb/internal/testkit"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit/outbuf"
	"github.com/redis/go-redis/v9"
)

// TestGroupsSurviveKill: 16 connections append (as in
// TestCrashDuringAppends) while 4 consumers read $all through a group with
// XREADGROUP ... BLOCK and acknowledge what they read; then kill -9.
// After a restart every answered XACK holds (the entry is neither pending
// nor delivered again), every answered delivery is pending or was in an
// XACK sent, nothing is delivered again, and every answered append is in
// the log.
func TestGroupsSurviveKill(t *testing.T) {
	s := startServer(t, "", "--durability", "always")
	c := s.Client(3)
	if err := c.XGroupCreate(context.Background(), "$all", "g", "0").Err(); err != nil {
		t.Fatal(err)
	}
	a := startAppenders(s.Addr, loadWorkers)
	cons := startConsumers(s.Addr, 4)
	time.Sleep(loadDuration()) // the length of the load, not a wait for a condition
	cons.stopping.Store(true)
	recs, counts := a.stop(t, s.Kill)
	cons.wg.Wait()
	for _, f := range cons.failures {
		t.Error(f)
	}
	delivered, acked, ackSent := 0, 0, 0
	for _, r := range cons.recs {
		delivered, acked, ackSent = delivered+len(r.delivered), acked+len(r.acked), ackSent+len(r.ackSent)
	}
	t.Logf("appends: %d answered, %d unanswered; consumers: %d entries delivered, %d in XACKs sent, %d acknowledged",
		counts[answered], counts[unanswered], delivered, ackSent, acked)
	if counts[answered] == 0 || delivered == 0 || acked == 0 {
		t.Fatal("the load did not append, deliver and acknowledge")
	}

	s2 := s.Restart()
	checkGroupAfterKill(t, s2, cons.recs)
	checkAppends(t, s2, recs)
	s2.Stop()
}

// consumerRec is what one consumer read and acknowledged.
type consumerRec struct {
	name      string
	delivered map[string]bool // entries of XREADGROUP replies it read
	ackSent   map[string]bool // entries of XACKs it sent
	acked     map[string]bool // entries of XACKs whose reply it read
}

type consumers struct {
	stopping atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	recs     []*consumerRec
	failures []string
}

func startConsumers(addr string, n int) *consumers {
	cs := &consumers{}
	for i := range n {
		r := &consumerRec{name: fmt.Sprint("consumer-", i), delivered: map[string]bool{}, ackSent: map[string]bool{}, acked: map[string]bool{}}
		cs.recs = append(cs.recs, r)
		cs.wg.Go(func() {
			if err := consume(addr, r, &cs.stopping); err != nil {
				cs.mu.Lock()
				cs.failures = append(cs.failures, fmt.Sprintf("%s: %v", r.name, err))
				cs.mu.Unlock()
			}
		})
	}
	return cs
}

// consume reads and acknowledges until the connection breaks, which must
// happen only once stopping is set. It leaves one entry in seven pending.
func consume(addr string, r *consumerRec, stopping *atomic.Bool) error {
	ctx := context.Background()
	c := redis.NewClient(clientOptions(addr, 2))
	defer c.Close()
	broken := func(err error) error {
		if isNetError(err) && stopping.Load() {
			return nil
		}
		return err
	}
	for {
		res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: r.name, Streams: []string{"$all", ">"}, Count: 20, Block: 100 * time.Millisecond}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return broken(err)
		}
		var ack []string
		for _, st := range res {
			for _, m := range st.Messages {
				if r.delivered[m.ID] {
					return fmt.Errorf("%s delivered twice", m.ID)
				}
				r.delivered[m.ID] = true
				if pos, _ := strconv.ParseInt(strings.TrimSuffix(m.ID, "-0"), 10, 64); pos%7 != 0 {
					ack = append(ack, m.ID)
				}
			}
		}
		if len(ack) == 0 {
			continue
		}
		for _, id := range ack {
			r.ackSent[id] = true
		}
		n, err := c.XAck(ctx, "$all", "g", ack...).Result()
		if err != nil {
			return broken(err)
		}
		if n != int64(len(ack)) {
			return fmt.Errorf("XACK of %d entries delivered to it acknowledged %d", len(ack), n)
		}
		for _, id := range ack {
			r.acked[id] = true
		}
	}
}

// checkGroupAfterKill checks the group of a restarted server against
// what the consumers were told.
func checkGroupAfterKill(t *testing.T, s *Server, recs []*consumerRec) {
	t.Helper()
	ctx := context.Background()
	c := s.Client(3)
	last := s.StartEvents()
	pending, err := c.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: "$all", Group: "g", Start: "-", End: "+", Count: 1 << 30}).Result()
	if err != nil {
		t.Fatal(err)
	}
	owner := map[string]string{}
	for _, p := range pending {
		owner[p.ID] = p.Consumer
		if pos, _ := strconv.ParseInt(strings.TrimSuffix(p.ID, "-0"), 10, 64); pos < 1 || pos > last {
			t.Errorf("pending entry %s is not in the log (last position %d)", p.ID, last)
		}
	}
	everDelivered := map[string]bool{}
	kept := 0
	for _, r := range recs {
		for id := range r.acked {
			if o, ok := owner[id]; ok {
				t.Errorf("%s: XACK %s was answered, but it is pending for %s", r.name, id, o)
			}
		}
		for id := range r.delivered {
			everDelivered[id] = true
			if o, ok := owner[id]; ok {
				kept++
				if o != r.name {
					t.Errorf("%s was delivered to %s but is pending for %s", id, r.name, o)
				}
			} else if !r.ackSent[id] {
				t.Errorf("%s: delivered %s, never acknowledged it, and it is not pending", r.name, id)
			}
		}
		// A consumer's history holds its pending entries, none acknowledged.
		hist, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: r.name, Streams: []string{"$all", "0"}, Count: 1 << 30, Block: -1}).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range hist[0].Messages {
			if r.acked[m.ID] || owner[m.ID] != r.name {
				t.Errorf("%s's history has %s (acknowledged %v, pending for %q)", r.name, m.ID, r.acked[m.ID], owner[m.ID])
			}
		}
	}
	// New deliveries start after everything delivered before the kill.
	again := 0
	for {
		res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "after", Streams: []string{"$all", ">"}, Count: 1000, Block: -1}).Result()
		if errors.Is(err, redis.Nil) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res[0].Messages {
			again++
			if everDelivered[m.ID] {
				t.Errorf("%s was delivered before the kill and again after it", m.ID)
			}
		}
	}
	t.Logf("after the restart: %d pending (%d of them delivered with an answer), %d entries never delivered before", len(pending), kept, again)
}

// TestGroupsLikeRedis runs the same consumer group steps against Redis 7
// and foldb, with the entries written to Redis by XADD as foldb has them
// (IDs <position>-0), and compares every reply, in RESP2 and RESP3. Idle
// times are masked; XINFO CONSUMERS' inactive, which Redis 7.0 lacks, is
// left out.
func TestGroupsLikeRedis(t *testing.T) {
	redisAddr, version := startRedisServer(t)
	t.Logf("Redis %s", version)
	s := startServer(t, "")
	ctx := context.Background()
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprint("RESP", proto), func(t *testing.T) {
			fc := s.Client(proto)
			rc := redis.NewClient(clientOptions(redisAddr, proto))
			defer rc.Close()
			key := fmt.Sprint("orders:", proto)
			base := testkit.InfoInt(t, fc, "persistence", "log_last_position")
			for i := range 5 {
				if err := fc.Do(ctx, "EVENT.APPEND", key, fmt.Sprint("T", i%2), fmt.Sprintf(`{"n":%d}`, i)).Err(); err != nil {
					t.Fatal(err)
				}
			}
			evs := readLog(t, fc, base+1, 100)
			for _, e := range evs {
				err := rc.XAdd(ctx, &redis.XAddArgs{Stream: key, ID: fmt.Sprintf("%d-0", e.Position), Values: []any{
					"stream", e.Stream, "version", e.Version, "type", e.Type, "data", e.Data, "meta", e.Meta, "id", e.ID, "time", e.Time}}).Err()
				if err != nil {
					t.Fatal(err)
				}
			}
			steps := groupSteps(key, base)
			for i, step := range steps {
				want := runStep(rc, step)
				got := runStep(fc, step)
				if got != want {
					t.Errorf("step %d %q:\n foldb %s\n redis %s", i, step, got, want)
				}
			}
		})
	}
}

// groupSteps are the compared commands on key, whose entries are the
// positions base+1 to base+5. The last step times out: Redis 7.0 makes
// no consumer for it, 7.2 and foldb do, so nothing looks after it.
func groupSteps(key string, base int64) [][]any {
	id := func(n int) string { return fmt.Sprintf("%d-0", base+int64(n)) }
	return [][]any{
		{"XGROUP", "CREATE", key, "g", "0"},
		{"XGROUP", "CREATE", key, "g2", "$"},
		{"XGROUP", "CREATE", key, "g3", id(2)},
		{"XGROUP", "CREATE", key, "g", "$"},
		{"XGROUP", "CREATE", key, "gx", "bad"},
		{"XINFO", "GROUPS", key},
		{"XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", key, ">"},
		{"XREADGROUP", "GROUP", "g", "bob", "COUNT", "1", "STREAMS", key, ">"},
		{"XREADGROUP", "GROUP", "g3", "alice", "COUNT", "1", "STREAMS", key, ">"},
		{"XINFO", "GROUPS", key},
		{"XREADGROUP", "GROUP", "g", "alice", "STREAMS", key, "0"},
		{"XREADGROUP", "GROUP", "g", "alice", "STREAMS", key, id(1)},
		{"XREADGROUP", "GROUP", "g", "alice", "BLOCK", "100", "STREAMS", key, "0"},
		{"XPENDING", key, "g"},
		{"XPENDING", key, "g", "-", "+", "10"},
		{"XPENDING", key, "g", "-", "+", "10", "bob"},
		{"XPENDING", key, "g", "(" + id(1), "+", "1"},
		{"XPENDING", key, "g", "IDLE", "3600000", "-", "+", "10"},
		{"XACK", key, "g", id(1), id(9)},
		{"XACK", key, "nope", id(1)},
		{"XPENDING", key, "g"},
		{"XCLAIM", key, "g", "carol", "0", id(2)},
		{"XCLAIM", key, "g", "carol", "3600000", id(3)},
		{"XCLAIM", key, "g", "carol", "0", id(3), "JUSTID"},
		{"XCLAIM", key, "g", "carol", "0", id(4), "FORCE", "JUSTID"},
		{"XCLAIM", key, "g", "carol", "0", id(2), "RETRYCOUNT", "5", "IDLE", "1000"},
		{"XPENDING", key, "g", "-", "+", "10"},
		{"XAUTOCLAIM", key, "g", "dave", "0", "0", "COUNT", "1"},
		{"XAUTOCLAIM", key, "g", "dave", "0", "0", "COUNT", "10", "JUSTID"},
		{"XAUTOCLAIM", key, "g", "dave", "3600000", "0"},
		{"XINFO", "CONSUMERS", key, "g"},
		{"XINFO", "GROUPS", key},
		{"XINFO", "STREAM", key, "FULL"},
		{"XINFO", "STREAM", key, "FULL", "COUNT", "1"},
		{"XGROUP", "SETID", key, "g", id(1)},
		{"XINFO", "GROUPS", key},
		{"XREADGROUP", "GROUP", "g", "erin", "COUNT", "1", "STREAMS", key, ">"},
		{"XINFO", "GROUPS", key},
		{"XPENDING", key, "g", "-", "+", "10"},
		{"XREADGROUP", "GROUP", "g", "erin", "NOACK", "BLOCK", "1000", "STREAMS", key, ">"},
		{"XINFO", "GROUPS", key},
		{"XPENDING", key, "g"},
		{"XGROUP", "CREATECONSUMER", key, "g", "frank"},
		{"XGROUP", "CREATECONSUMER", key, "g", "frank"},
		{"XGROUP", "DELCONSUMER", key, "g", "bob"},
		{"XGROUP", "DELCONSUMER", key, "g", "nobody"},
		{"XINFO", "CONSUMERS", key, "g"},
		{"XGROUP", "SETID", key, "g", "$", "ENTRIESREAD", "5"},
		{"XINFO", "GROUPS", key},
		{"XGROUP", "DESTROY", key, "g3"},
		{"XGROUP", "DESTROY", key, "g3"},
		{"XINFO", "GROUPS", key},
		{"XREADGROUP", "GROUP", "nope", "c", "STREAMS", key, ">"},
		{"XREADGROUP", "GROUP", "g", "c", "STREAMS", key, "$"},
		{"XREADGROUP", "GROUP", "g", "c", "STREAMS", key, "bad"},
		{"XPENDING", key, "nope"},
		{"XPENDING", key, "g", "-", "+"},
		{"XPENDING", key, "g", "x", "+", "1"},
		{"XCLAIM", key, "nope", "c", "0", id(1)},
		{"XCLAIM", key, "g", "c", "x", id(1)},
		{"XCLAIM", key, "g", "c", "0", id(1), "FOO"},
		{"XAUTOCLAIM", key, "nope", "c", "0", "0"},
		{"XAUTOCLAIM", key, "g", "c", "0", "0", "COUNT", "0"},
		{"XINFO", "CONSUMERS", key, "nope"},
		{"XGROUP", "SETID", key, "nope", "0"},
		{"XGROUP", "CREATECONSUMER", key, "nope", "c"},
		{"XGROUP", "CREATE", key, "g4", "0", "ENTRIESREAD", "-5"},
		{"XGROUP", "CREATE", key, "g4", "0", "FOO"},
		{"XGROUP", "FOO", key, "g"},
		{"XACK", key, "g", "bad"},
		{"XACK", key, "nope", "bad"},
		{"XREADGROUP", "GROUP", "g2", "zed", "BLOCK", "20", "STREAMS", key, ">"},
	}
}

// runStep runs one step and renders its reply, with idle times masked and
// XINFO CONSUMERS' inactive left out.
func runStep(c *redis.Client, step []any) string {
	v, err := c.Do(context.Background(), step...).Result()
	if err != nil {
		return "error: " + err.Error()
	}
	switch fmt.Sprint(step[0], " ", step[1]) {
	case "XINFO CONSUMERS":
		for i, cons := range v.([]any) {
			v.([]any)[i] = maskConsumer(cons)
		}
	case "XINFO STREAM":
		v = maskStreamFull(v)
	default:
		if step[0] == "XPENDING" && len(step) > 3 {
			for _, p := range v.([]any) {
				p.([]any)[2] = "idle"
			}
		}
	}
	return fmt.Sprintf("%#v", v)
}

func maskConsumer(v any) any {
	switch c := v.(type) {
	case map[any]any:
		delete(c, "inactive")
		c["idle"] = "idle"
		return c
	case []any:
		var out []any
		for i := 0; i+1 < len(c); i += 2 {
			switch c[i] {
			case "inactive":
				continue
			case "idle":
				out = append(out, c[i], "idle")
			default:
				out = append(out, c[i], c[i+1])
			}
		}
		return out
	}
	return v
}

// startRedisServer starts redis-server on a free loopback port without
// persistence, stops it when the test ends, and returns its address and
// version. A missing redis-server skips the test, unless
// FOLDB_REQUIRE_TOOLS=1.
func startRedisServer(t *testing.T) (addr, version string) {
	t.Helper()
	bin := needTool(t, "redis-server")
	for try := 0; ; try++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		var log outbuf.Buffer
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--daemonize", "no", "--protected-mode", "no", "--dir", t.TempDir())
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", bin, err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			cmd.Process.Signal(os.Kill)
			<-exited
		})
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		c := redis.NewClient(clientOptions(addr, 2))
		deadline := time.Now().Add(startTimeout)
		for {
			info, err := c.Info(context.Background(), "server").Result()
			if err == nil {
				c.Close()
				for line := range strings.Lines(info) {
					if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
						version = v
					}
				}
				if !strings.HasPrefix(version, "7.") {
					t.Fatalf("the tests compare with Redis 7, %s is %s", bin, version)
				}
				return addr, version
			}
			select {
			case <-exited: // the port was taken before it bound it
			case <-time.After(10 * time.Millisecond):
				if time.Now().Before(deadline) {
					continue
				}
				t.Fatalf("redis-server did not answer within %v:\n%s", startTimeout, log.String())
			}
			break
		}
		c.Close()
		if try == 2 {
			t.Fatalf("redis-server did not start:\n%s", log.String())
		}
	}
}

// maskStreamFull masks what XINFO STREAM FULL may not share with Redis:
// the radix tree's sizes (the log is its own index), the times of
// deliveries and of consumers' reads, and Redis 7.2's active-time, which
// 7.0 does not give.
func maskStreamFull(v any) any {
	return mapPairs(v, func(k string, val any) (any, bool) {
		switch k {
		case "radix-tree-keys", "radix-tree-nodes":
			return "n", true
		case "groups":
			gs := val.([]any)
			for i, g := range gs {
				gs[i] = mapPairs(g, func(k string, val any) (any, bool) {
					switch k {
					case "pending":
						for _, p := range val.([]any) {
							p.([]any)[2] = "time"
						}
					case "consumers":
						cs := val.([]any)
						for i, c := range cs {
							cs[i] = mapPairs(c, func(k string, val any) (any, bool) {
								switch k {
								case "active-time":
									return nil, false
								case "seen-time":
									return "time", true
								case "pending":
									for _, p := range val.([]any) {
										p.([]any)[1] = "time"
									}
								}
								return val, true
							})
						}
					}
					return val, true
				})
			}
		}
		return val, true
	})
}

// mapPairs rewrites each value of a reply that is a map in RESP3 and a
// flat array of pairs in RESP2; f drops a pair by returning false.
func mapPairs(v any, f func(k string, val any) (any, bool)) any {
	switch m := v.(type) {
	case map[any]any:
		for k, val := range m {
			if nv, keep := f(fmt.Sprint(k), val); keep {
				m[k] = nv
			} else {
				delete(m, k)
			}
		}
		return m
	case []any:
		var out []any
		for i := 0; i+1 < len(m); i += 2 {
			if nv, keep := f(fmt.Sprint(m[i]), m[i+1]); keep {
				out = append(out, m[i], nv)
			}
		}
		return out
	}
	return v
}
