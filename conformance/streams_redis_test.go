package conformance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit/outbuf"
	"github.com/redis/go-redis/v9"
)

// TestStreamsAsRedis runs the same client steps against Redis 7 and foldb
// and compares the replies, RESP2 and RESP3: foldb's views of the log read
// as Redis streams that hold the same entries. On Redis each event is
// XADDed, with its ID <position>-0 and the fields foldb shows, to a key
// per view it is in ("account:1", "$all", "$ce-account", "$et-Opened"), so
// every reply matches but the time values, which are masked (and
// radix-tree-keys and radix-tree-nodes, Redis's internals).
func TestStreamsAsRedis(t *testing.T) {
	rs := startRedis(t)
	fs := startServer(t, "")
	type event struct{ stream, typ, data, meta, id string }
	events := []event{
		{"account:1", "Opened", `{"name":"Ann"}`, "", ""},
		{"account:1", "Deposited", `{"amount":300}`, `{"by":"atm"}`, "dep-1"},
		{"order:7", "Placed", `{"total":12}`, "", ""},
		{"account:2", "Opened", `{"name":"Bob"}`, "", "open-2"},
		{"account:1", "Deposited", `{"amount":5}`, "", ""},
		{"order:7", "Shipped", `{}`, `{"carrier":"x"}`, ""},
		{"account:2", "Deposited", `{"amount":7}`, "", ""},
	}
	fc, rc := fs.Client(2), redisClient(t, rs, 2)
	versions := map[string]int{}
	for i, e := range events {
		pos := i + 1
		args := []any{"XADD", e.stream, "*", "type", e.typ, "data", e.data}
		if e.meta != "" {
			args = append(args, "meta", e.meta)
		}
		if e.id != "" {
			args = append(args, "id", e.id)
		}
		got, err := fc.Do(context.Background(), args...).Text()
		if err != nil || got != fmt.Sprintf("%d-0", pos) {
			t.Fatalf("foldb %v = %q, %v; want %d-0", args, got, err, pos)
		}
		versions[e.stream]++
		meta := e.meta
		if meta == "" {
			meta = "{}"
		}
		cat, _, _ := strings.Cut(e.stream, ":")
		for _, key := range []string{e.stream, "$all", "$ce-" + cat, "$et-" + e.typ} {
			id, err := rc.Do(context.Background(), "XADD", key, fmt.Sprintf("%d-0", pos), "stream", e.stream, "version", strconv.Itoa(versions[e.stream]),
				"type", e.typ, "data", e.data, "meta", meta, "id", e.id, "time", "0").Text()
			if err != nil || id != got {
				t.Fatalf("redis XADD %s %d-0 = %q, %v", key, pos, id, err)
			}
		}
	}

	steps := [][]any{
		// XRANGE over every kind of key.
		{"XRANGE", "$all", "-", "+"},
		{"XRANGE", "$all", "-", "+", "COUNT", "3"},
		{"XRANGE", "$all", "(2", "+", "COUNT", "2"},
		{"XRANGE", "$all", "(2", "(4"},
		{"XRANGE", "$all", "(2", "(4-0"},
		{"XRANGE", "$all", "3", "5"},
		{"XRANGE", "$all", "3-1", "5-0"},
		{"XRANGE", "$all", "5", "3"},
		{"XRANGE", "$all", "-", "0"},
		{"XRANGE", "$all", "-", "(1"},
		{"XRANGE", "$all", "0", "0-5"},
		{"XRANGE", "$all", "6", "18446744073709551615"},
		{"XRANGE", "account:1", "-", "+"},
		{"XRANGE", "account:1", "2", "4"},
		{"XRANGE", "$ce-account", "-", "+", "COUNT", "2"},
		{"XRANGE", "$ce-order", "(3", "+"},
		{"XRANGE", "$et-Opened", "-", "+"},
		{"XRANGE", "$et-Deposited", "3", "+"},
		{"XRANGE", "$all", "-", "+", "COUNT", "0"},
		{"XRANGE", "$all", "-", "+", "COUNT", "-2"},
		{"XRANGE", "$all", "-", "+", "count", "1", "COUNT", "2"},
		{"XRANGE", "missing:1", "-", "+"},
		{"XRANGE", "missing:1", "-", "+", "COUNT", "0"},
		{"XRANGE", "$et-Nothing", "-", "+"},
		// IDs as Redis reads them.
		{"XRANGE", "$all", " 3", "+3"},
		{"XRANGE", "$all", "03", "1- -2"},
		{"XRANGE", "$all", "1--0", "2"},
		// Errors.
		{"XRANGE", "$all", "x", "+"},
		{"XRANGE", "$all", "-", "x"},
		{"XRANGE", "$all", "(-", "+"},
		{"XRANGE", "$all", "-", "(+"},
		{"XRANGE", "$all", "1-", "+"},
		{"XRANGE", "$all", "-1", "+"},
		{"XRANGE", "$all", "1--2", "+"},
		{"XRANGE", "$all", "18446744073709551616", "+"},
		{"XRANGE", "$all", "(18446744073709551615-18446744073709551615", "+"},
		{"XRANGE", "$all", "-", "(0-0"},
		{"XRANGE", "$all", "-", "+", "COUNT"},
		{"XRANGE", "$all", "-", "+", "COUNT", "x"},
		{"XRANGE", "$all", "-", "+", "COUNT", "+1"},
		{"XRANGE", "$all", "-", "+", "LIMIT", "1"},
		{"XRANGE", "$all", "x", "+", "LIMIT"},
		{"XRANGE", "$all", "-"},
		{"XRANGE", "missing:1", "x", "+"},
		// XREVRANGE.
		{"XREVRANGE", "$all", "+", "-"},
		{"XREVRANGE", "$all", "+", "-", "COUNT", "2"},
		{"XREVRANGE", "$all", "(5", "(2"},
		{"XREVRANGE", "account:2", "+", "-"},
		{"XREVRANGE", "$ce-account", "4", "-", "COUNT", "1"},
		{"XREVRANGE", "$et-Deposited", "+", "(2"},
		{"XREVRANGE", "$all", "-", "+"},
		{"XREVRANGE", "$all", "+", "-", "COUNT", "0"},
		{"XREVRANGE", "$all", "(0-0", "(0-0"},
		{"XREVRANGE", "$all", "+", "x"},
		// XLEN.
		{"XLEN", "$all"}, {"XLEN", "account:1"}, {"XLEN", "$ce-account"}, {"XLEN", "$ce-order"}, {"XLEN", "$et-Deposited"},
		{"XLEN", "missing:1"}, {"XLEN", "$et-Nothing"}, {"XLEN", "a", "b"},
		// XREAD.
		{"XREAD", "STREAMS", "$all", "0"},
		{"XREAD", "COUNT", "2", "STREAMS", "$all", "account:1", "$ce-order", "3", "0", "0"},
		{"XREAD", "STREAMS", "account:2", "missing:1", "$et-Opened", "4", "0", "1-0"},
		{"XREAD", "COUNT", "0", "STREAMS", "$ce-account", "2-5"},
		{"XREAD", "COUNT", "-1", "STREAMS", "$ce-account", "5"},
		{"XREAD", "STREAMS", "$all", "$"},
		{"XREAD", "STREAMS", "$all", "7"},
		{"XREAD", "STREAMS", "missing:1", "0"},
		{"XREAD", "BLOCK", "100", "STREAMS", "$et-Shipped", "0"},
		{"XREAD", "BLOCK", "10", "STREAMS", "$all", "$"},
		{"XREAD", "count", "1", "block", "0", "streams", "$ce-order", "0"},
		{"XREAD", "STREAMS", "STREAMS", "0"},
		{"XREAD", "STREAMS", "a:1", "b:1", "0"},
		{"XREAD", "COUNT", "1", "a:1"},
		{"XREAD", "COUNT", "1", "STREAMS"},
		{"XREAD", "FOO", "STREAMS", "a:1", "0"},
		{"XREAD", "COUNT", "x", "STREAMS", "a:1", "0"},
		{"XREAD", "BLOCK", "x", "STREAMS", "a:1", "0"},
		{"XREAD", "BLOCK", "-1", "STREAMS", "a:1", "0"},
		{"XREAD", "GROUP", "g", "c", "STREAMS", "a:1", "0"},
		{"XREAD", "NOACK", "STREAMS", "a:1", "0"},
		{"XREAD", "STREAMS", "$all", ">"},
		{"XREAD", "STREAMS", "$all", "-"},
		{"XREAD", "STREAMS", "$all", "x"},
		{"XREAD", "STREAMS", "$all"},
		// XINFO.
		{"XINFO", "STREAM", "$all"},
		{"XINFO", "STREAM", "account:1"},
		{"XINFO", "STREAM", "$ce-order"},
		{"XINFO", "STREAM", "$et-Opened"},
		{"XINFO", "STREAM", "$all", "FULL"},
		{"XINFO", "STREAM", "$ce-account", "FULL", "COUNT", "2"},
		{"XINFO", "STREAM", "$all", "full", "count", "0"},
		{"XINFO", "STREAM", "$all", "FULL", "COUNT", "-1"},
		{"XINFO", "STREAM", "missing:1"},
		{"XINFO", "STREAM", "missing:1", "FOO"},
		{"XINFO", "STREAM", "$all", "FOO"},
		{"XINFO", "stream", "$all", "FULL", "FOO", "1"},
		{"XINFO", "STREAM", "$all", "FULL", "COUNT"},
		{"XINFO", "STREAM", "$all", "FULL", "COUNT", "x"},
		{"XINFO", "STREAM"},
		{"XINFO"},
		{"XINFO", "FOO"},
		// XADD's argument errors that foldb shares with Redis.
		{"XADD", "account:1", "*", "type"},
		{"XADD", "account:1", "*", "type", "T", "data"},
		{"XADD", "account:1", "NOMKSTREAM", "NOMKSTREAM", "NOMKSTREAM"},
	}
	if v := redisVersion(t, rc); v >= "7.4" {
		steps = append(steps, []any{"XREAD", "STREAMS", "$ce-account", "$all", "+", "+"})
	} else {
		t.Logf("Redis %s refuses XREAD's + (7.4's last entry), which foldb takes: not compared", v)
	}
	for _, proto := range []int{2, 3} {
		fc, rc := fs.Client(proto), redisClient(t, rs, proto)
		sameReplies(t, proto, rc, fc, steps)
		// XINFO HELP: the same shape, with a line pair per subcommand.
		want, got := reply(rc, []any{"XINFO", "HELP"}).([]any), reply(fc, []any{"XINFO", "HELP"}).([]any)
		if len(got)%2 != 1 || got[0] != want[0] || !reflect.DeepEqual(got[len(got)-2:], want[len(want)-2:]) {
			t.Errorf("RESP%d XINFO HELP:\nfoldb %q\nredis %q", proto, got, want)
		}
	}
}

// sameReplies runs each step on Redis (rc) and on foldb (fc), in turn, and
// reports every step whose replies differ (reply).
func sameReplies(t *testing.T, proto int, rc, fc doer, steps [][]any) {
	t.Helper()
	for i, step := range steps {
		want, got := reply(rc, step), reply(fc, step)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("RESP%d step %d %v:\nfoldb %#v\nredis %#v", proto, i, step, got, want)
		}
	}
}

// doer is a go-redis client or connection.
type doer interface {
	Do(ctx context.Context, args ...any) *redis.Cmd
}

// reply is a step's reply with what differs by nature masked: an error is
// its text, a null "(nil)".
func reply(c doer, args []any) any {
	v, err := c.Do(context.Background(), args...).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "(nil)"
	case err != nil:
		return "error: " + err.Error()
	}
	return mask(v)
}

// masked are the fields whose values differ by nature: an entry's time,
// and the radix tree figures of XINFO STREAM.
var masked = map[string]bool{"time": true, "radix-tree-keys": true, "radix-tree-nodes": true}

func isMasked(k any) bool {
	s, ok := k.(string)
	return ok && masked[s]
}

func mask(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i := range x {
			if i%2 == 1 && isMasked(x[i-1]) {
				out[i] = "(masked)"
				continue
			}
			out[i] = mask(x[i])
		}
		return out
	case map[any]any:
		out := make(map[any]any, len(x))
		for k, e := range x {
			if isMasked(k) {
				e = "(masked)"
			}
			out[k] = mask(e)
		}
		return out
	}
	return v
}

func redisVersion(t *testing.T, c *redis.Client) string {
	t.Helper()
	info, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v
		}
	}
	t.Fatalf("no redis_version in INFO server:\n%s", info)
	return ""
}

// redisServer is a redis-server that a test started.
type redisServer struct {
	addr string
	cmd  *exec.Cmd
	log  outbuf.Buffer
}

// startRedis starts redis-server on a free loopback port, without
// persistence, data in a temporary folder; the test's end kills it.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	bin := needTool(t, "redis-server")
	dir := t.TempDir()
	for range 3 { // the free port may be taken before redis-server binds it
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		rs := &redisServer{addr: "127.0.0.1:" + strconv.Itoa(port)}
		rs.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--daemonize", "no", "--logfile", "", "--protected-mode", "no")
		rs.cmd.Stdout, rs.cmd.Stderr = &rs.log, &rs.log
		if err := rs.cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", bin, err)
		}
		exited := make(chan struct{})
		go func() { rs.cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			rs.cmd.Process.Kill()
			<-exited
		})
		c := redis.NewClient(clientOptions(rs.addr, 2))
		ok := false
		deadline := time.Now().Add(startTimeout)
		for !ok && time.Now().Before(deadline) {
			select {
			case <-exited:
				deadline = time.Time{}
				continue
			default:
			}
			ok = c.Ping(context.Background()).Err() == nil
			if !ok {
				time.Sleep(5 * time.Millisecond)
			}
		}
		c.Close()
		if ok {
			return rs
		}
		rs.cmd.Process.Kill()
		t.Logf("redis-server on port %d did not answer:\n%s", port, rs.log.String())
	}
	t.Fatal("redis-server did not start")
	return nil
}

func redisClient(t *testing.T, rs *redisServer, proto int) *redis.Client {
	c := redis.NewClient(clientOptions(rs.addr, proto))
	t.Cleanup(func() { c.Close() })
	return c
}
