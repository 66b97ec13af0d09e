package testkit

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Protocols are the RESP versions every reply-shape test runs under.
var Protocols = []int{2, 3}

// ClientOptions are the tests' go-redis options for addr in RESP proto.
// Retries are off, so that each call shows exactly what the server replied.
func ClientOptions(addr string, proto int) *redis.Options {
	return &redis.Options{
		Addr:         addr,
		Protocol:     proto,
		MaxRetries:   -1,
		DialTimeout:  5 * time.Second,
		ReadTimeout:  ReplyTimeout,
		WriteTimeout: ReplyTimeout,
	}
}

// QuietRedisLogs drops go-redis's own messages, for a TestMain: tests that
// stop or kill a server make it log every refused reconnection, and check
// the errors themselves.
func QuietRedisLogs() { redis.SetLogger(quietLogger{}) }

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
