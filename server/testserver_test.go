package server_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/internal/testkit/testserver"
	"github.com/foldb/foldb/server"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) {
	testkit.QuietRedisLogs()
	os.Exit(m.Run())
}

var ctx = context.Background()

// connGoroutines makes startServer serve each connection on a goroutine of
// its own instead of the network loop (TestGoroutinePerConnection).
var connGoroutines bool

// startServer is testserver.Start with Options.ConnGoroutines set from
// connGoroutines, before opts.
func startServer(t testing.TB, opts ...func(*server.Options)) *testserver.Server {
	t.Helper()
	conns := func(o *server.Options) { o.ConnGoroutines = connGoroutines }
	return testserver.Start(t, append([]func(*server.Options){conns}, opts...)...)
}

// doer is a go-redis client, connection or pipeline.
type doer interface {
	Do(ctx context.Context, args ...any) *redis.Cmd
}

// do runs a command and fails the test on an error.
func do(t testing.TB, rc doer, args ...any) any {
	t.Helper()
	v, err := rc.Do(ctx, args...).Result()
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return v
}

// doErr runs a command that must fail with exactly want.
func doErr(t testing.TB, rc doer, want string, args ...any) {
	t.Helper()
	v, err := rc.Do(ctx, args...).Result()
	if err == nil {
		t.Fatalf("%v = %v, want error %q", args, v, want)
	}
	if err.Error() != want {
		t.Fatalf("%v: error\n  %q\nwant\n  %q", args, err.Error(), want)
	}
}

// doErrPrefix runs a command that must fail with an error starting with want.
func doErrPrefix(t testing.TB, rc doer, want string, args ...any) {
	t.Helper()
	v, err := rc.Do(ctx, args...).Result()
	if err == nil {
		t.Fatalf("%v = %v, want error %q...", args, v, want)
	}
	if !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("%v: error %q, want prefix %q", args, err.Error(), want)
	}
}

func toInt(t testing.TB, v any) int64 {
	t.Helper()
	n, ok := v.(int64)
	if !ok {
		t.Fatalf("%v (%T) is not an integer", v, v)
	}
	return n
}

// appendReply checks an EVENT.APPEND reply and returns version and position.
func appendReply(t testing.TB, v any) (version, position int64) {
	t.Helper()
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		t.Fatalf("EVENT.APPEND replied %#v, want [version, position]", v)
	}
	return toInt(t, a[0]), toInt(t, a[1])
}
