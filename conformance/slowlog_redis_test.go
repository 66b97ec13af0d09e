package conformance

import (
	"reflect"
	"testing"
)

// TestSlowlogAsRedis runs the same SLOWLOG steps against Redis 7 and foldb
// and compares the replies, RESP2 and RESP3: an entry's shape (id, unix
// time and microseconds masked to their types, the arguments, the client's
// address masked, its name), the errors, CONFIG's bounds and HELP. What
// differs by design is left out: foldb does not time fast commands (PING,
// SLOWLOG LEN), which Redis records too.
func TestSlowlogAsRedis(t *testing.T) {
	rs := startRedis(t)
	fs := startServer(t, "")
	for _, proto := range []int{2, 3} {
		fc, rc := fs.Client(proto), redisClient(t, rs, proto)
		steps := [][]any{
			{"CONFIG", "SET", "slowlog-log-slower-than", "0"},
			{"CONFIG", "SET", "slowlog-max-len", "128"},
			{"CONFIG", "SET", "slowlog-log-slower-than", "-5"},
			{"CONFIG", "SET", "slowlog-max-len", "-1"},
			{"CONFIG", "GET", "slowlog-log-slower-than"},
			{"CONFIG", "GET", "slowlog-max-len"},
			{"INFO", "keyspace"},
			{"SLOWLOG", "GET", "2"},
			{"SLOWLOG", "GET", "-2"},
			{"SLOWLOG", "GET", "x"},
			{"SLOWLOG", "GET", "1", "2"},
			{"SLOWLOG", "FOO"},
			{"SLOWLOG"},
			{"CONFIG", "SET", "slowlog-log-slower-than", "-1"},
			{"SLOWLOG", "RESET"},
			{"SLOWLOG", "LEN"},
			{"SLOWLOG", "GET"},
		}
		for _, step := range steps {
			want, got := slowShape(reply(rc, step)), slowShape(reply(fc, step))
			if step[0] == "INFO" {
				continue // the sections' content differs; only the entry it leaves is compared
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("RESP%d %v:\nfoldb %#v\nredis %#v", proto, step, got, want)
			}
		}
		want, got := reply(rc, []any{"SLOWLOG", "HELP"}).([]any), reply(fc, []any{"SLOWLOG", "HELP"}).([]any)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("RESP%d SLOWLOG HELP:\nfoldb %q\nredis %q", proto, got, want)
		}
	}
}

// slowShape masks what differs by nature in SLOWLOG GET's entries: the id,
// the time, the duration and the client's port.
func slowShape(v any) any {
	entries, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]any, len(entries))
	for i, e := range entries {
		f, ok := e.([]any)
		if !ok || len(f) != 6 {
			out[i] = e
			continue
		}
		out[i] = []any{reflect.TypeOf(f[0]).String(), reflect.TypeOf(f[1]).String(), reflect.TypeOf(f[2]).String(), f[3], reflect.TypeOf(f[4]).String(), f[5]}
	}
	return out
}
