package server_test

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foldb/foldb/commands"
	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/server"
	"github.com/redis/go-redis/v9"
)

func TestCommand(t *testing.T) {
	ts := startServer(t)
	table := commands.All().All()
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		// go-redis parses COMMAND (it does so for cluster routing).
		infos, err := rc.Command(ctx).Result()
		if err != nil {
			t.Fatalf("COMMAND: %v", err)
		}
		if len(infos) != len(table) {
			t.Fatalf("COMMAND lists %d commands, the table has %d", len(infos), len(table))
		}
		for _, cmd := range table {
			name := strings.ToLower(cmd.Name)
			info := infos[name]
			if info == nil {
				t.Fatalf("COMMAND has no %s", name)
			}
			if int(info.Arity) != cmd.Arity || info.Arity == 0 {
				t.Fatalf("%s: arity %d, want %d", name, info.Arity, cmd.Arity)
			}
			if !slices.Equal(info.Flags, cmd.Flags.Names()) || len(info.Flags) == 0 {
				t.Fatalf("%s: flags %v, want %v", name, info.Flags, cmd.Flags.Names())
			}
			if info.ReadOnly != (cmd.Flags&commands.FlagRead != 0) {
				t.Fatalf("%s: readonly %v", name, info.ReadOnly)
			}
			if !slices.Equal(info.ACLFlags, []string{"@" + cmd.Group}) {
				t.Fatalf("%s: ACL categories %v", name, info.ACLFlags)
			}
			if (info.LastKeyPos >= 0 && info.FirstKeyPos > info.LastKeyPos) || (info.FirstKeyPos > 0) != (info.StepCount > 0) {
				t.Fatalf("%s: keys %d..%d step %d", name, info.FirstKeyPos, info.LastKeyPos, info.StepCount)
			}
		}
		for name, want := range map[string]string{"event.append": "write", "event.read": "readonly", "shutdown": "admin", "ping": "loading"} {
			if !slices.Contains(infos[name].Flags, want) {
				t.Fatalf("%s has no %s flag: %v", name, want, infos[name].Flags)
			}
		}

		if n := toInt(t, do(t, rc, "COMMAND", "COUNT")); n != int64(len(table)) {
			t.Fatalf("COMMAND COUNT = %d, want %d", n, len(table))
		}
		var names []string
		for _, v := range do(t, rc, "COMMAND", "LIST").([]any) {
			names = append(names, v.(string))
		}
		for _, cmd := range table {
			if !slices.Contains(names, strings.ToLower(cmd.Name)) {
				t.Fatalf("COMMAND LIST has no %s: %v", cmd.Name, names)
			}
		}

		got := do(t, rc, "COMMAND", "INFO", "EVENT.APPEND", "nosuch", "client").([]any)
		if len(got) != 3 || got[1] != nil {
			t.Fatalf("COMMAND INFO = %#v", got)
		}
		ea := got[0].([]any)
		if len(ea) != 10 || ea[0] != "event.append" || ea[1] != int64(-4) || ea[3] != int64(1) || ea[4] != int64(1) || ea[5] != int64(1) {
			t.Fatalf("COMMAND INFO event.append = %#v", ea)
		}
		client := got[2].([]any)
		subs := client[9].([]any)
		if len(subs) == 0 {
			t.Fatal("COMMAND INFO client has no subcommands")
		}
		for _, s := range subs {
			s := s.([]any)
			if len(s) != 10 || !strings.HasPrefix(s[0].(string), "client|") || s[1] == int64(0) {
				t.Fatalf("CLIENT subcommand entry %#v", s)
			}
			if cats := s[6].([]any); len(cats) != 1 || cats[0] != "@connection" {
				t.Fatalf("%s: ACL categories %v", s[0], cats)
			}
		}
		if all := do(t, rc, "COMMAND", "INFO").([]any); len(all) != len(table) {
			t.Fatalf("COMMAND INFO without names: %d entries", len(all))
		}

		docs := pairs(t, do(t, rc, "COMMAND", "DOCS"), p)
		if len(docs) != len(table) {
			t.Fatalf("COMMAND DOCS has %d entries, want %d", len(docs), len(table))
		}
		for _, cmd := range table {
			d, ok := docs[strings.ToLower(cmd.Name)]
			if !ok {
				t.Fatalf("COMMAND DOCS has no %s", cmd.Name)
			}
			f := pairs(t, d, p)
			if f["summary"] != cmd.Summary || f["syntax"] != cmd.Syntax || f["group"] != cmd.Group || f["since"] != cmd.Since {
				t.Fatalf("COMMAND DOCS %s = %v", cmd.Name, f)
			}
			if (len(cmd.Subcommands) > 0) != (f["subcommands"] != nil) {
				t.Fatalf("COMMAND DOCS %s subcommands: %v", cmd.Name, f["subcommands"])
			}
		}
		one := pairs(t, do(t, rc, "COMMAND", "DOCS", "event.read", "nosuch"), p)
		if len(one) != 1 || one["event.read"] == nil {
			t.Fatalf("COMMAND DOCS event.read nosuch = %v", one)
		}
		doErr(t, rc, "ERR unknown subcommand 'NOPE'. Try COMMAND HELP.", "COMMAND", "NOPE")
	})
}

// pairs reads a map reply: a flat array in RESP2, a map in RESP3.
func pairs(t testing.TB, v any, proto int) map[string]any {
	t.Helper()
	out := map[string]any{}
	switch r := v.(type) {
	case []any:
		if proto != 2 || len(r)%2 != 0 {
			t.Fatalf("RESP%d map reply is an array of %d", proto, len(r))
		}
		for i := 0; i < len(r); i += 2 {
			out[r[i].(string)] = r[i+1]
		}
	case map[any]any:
		if proto != 3 {
			t.Fatal("RESP2 reply is a map")
		}
		for k, v := range r {
			out[k.(string)] = v
		}
	default:
		t.Fatalf("map reply is %#v", v)
	}
	return out
}

func TestInfo(t *testing.T) {
	ts := startServer(t)
	do(t, ts.R2, "EVENT.APPEND", "a:1", "A", `{}`, "B", `{}`, "C", `{}`)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		all, err := rc.Info(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range []string{"# Server", "# Clients", "# Memory", "# Persistence", "# Stats", "# Replication", "# Keyspace"} {
			if !strings.Contains(all, h+"\r\n") {
				t.Fatalf("INFO has no %s:\n%s", h, all)
			}
		}
		if v := testkit.InfoField(t, all, "redis_version"); v != commands.RedisVersion {
			t.Fatalf("redis_version:%s", v)
		}
		if v := testkit.InfoField(t, all, "tcp_port"); v != fmt.Sprint(ts.Addr[strings.LastIndexByte(ts.Addr, ':')+1:]) {
			t.Fatalf("tcp_port:%s, server on %s", v, ts.Addr)
		}

		pers, err := rc.Info(ctx, "persistence").Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(pers, "# Server") || !strings.HasPrefix(pers, "# Persistence\r\n") {
			t.Fatalf("INFO persistence:\n%s", pers)
		}
		for k, want := range map[string]string{"durability": "always", "appendfsync": "always", "log_last_position": "3", "loading": "0", "aof_last_write_status": "ok"} {
			if got := testkit.InfoField(t, pers, k); got != want {
				t.Fatalf("INFO persistence %s:%s, want %s", k, got, want)
			}
		}
		if n := testkit.InfoInt(t, rc, "clients", "connected_clients"); n < 1 {
			t.Fatalf("connected_clients:%d", n)
		}
		two, err := rc.Info(ctx, "server", "CLIENTS").Result()
		if err != nil || !strings.Contains(two, "# Server") || !strings.Contains(two, "# Clients") || strings.Contains(two, "# Memory") {
			t.Fatalf("INFO server clients: %v\n%s", err, two)
		}
		if got := do(t, rc, "INFO", "nosuchsection"); got != "" {
			t.Fatalf("INFO of an unknown section = %q", got)
		}
	})
	// RESP3 sends INFO as a verbatim string, RESP2 as a bulk string.
	r := ts.Raw(t)
	if _, ok := r.Do("INFO", "server").(testkit.Bulk); !ok {
		t.Fatal("RESP2 INFO is not a bulk string")
	}
	r.Do("HELLO", "3")
	if v, ok := r.Do("INFO", "server").(testkit.Verbatim); !ok || !strings.HasPrefix(string(v), "# Server") {
		t.Fatalf("RESP3 INFO = %#v", v)
	}
	// The connection count follows connections closing.
	before := testkit.InfoInt(t, ts.R2, "clients", "connected_clients")
	r.Conn.Close()
	testkit.WaitFor(t, "connected_clients to drop", func() bool {
		return testkit.InfoInt(t, ts.R2, "clients", "connected_clients") == before-1
	})
}

func TestDurabilityInInfoAndConfig(t *testing.T) {
	for _, tc := range []struct {
		d                 eventlog.Durability
		name, appendfsync string
	}{
		{eventlog.DurabilityAlways, "always", "always"},
		{eventlog.DurabilityEverySec, "everysec", "everysec"},
		{eventlog.DurabilityNone, "none", "no"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, func(o *server.Options) { o.Durability = tc.d })
			info, err := ts.R3.Info(ctx, "persistence").Result()
			if err != nil {
				t.Fatal(err)
			}
			if testkit.InfoField(t, info, "durability") != tc.name || testkit.InfoField(t, info, "appendfsync") != tc.appendfsync {
				t.Fatalf("INFO persistence:\n%s", info)
			}
			cfg, err := ts.R3.ConfigGet(ctx, "d*").Result()
			if err != nil || cfg["durability"] != tc.name {
				t.Fatalf("CONFIG GET d* = %v, %v", cfg, err)
			}
			if cfg, _ := ts.R3.ConfigGet(ctx, "appendfsync").Result(); cfg["appendfsync"] != tc.appendfsync {
				t.Fatalf("CONFIG GET appendfsync = %v", cfg)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		get := func(pattern string) map[string]string {
			t.Helper()
			m, err := rc.ConfigGet(ctx, pattern).Result()
			if err != nil {
				t.Fatalf("CONFIG GET %s: %v", pattern, err)
			}
			return m
		}
		// What redis-benchmark asks at start.
		if m := get("save"); len(m) != 1 || m["save"] != "" {
			t.Fatalf("CONFIG GET save = %v", m)
		}
		if m := get("appendonly"); len(m) != 1 || m["appendonly"] != "yes" {
			t.Fatalf("CONFIG GET appendonly = %v", m)
		}
		all := get("*")
		for _, name := range []string{"bind", "port", "dir", "durability", "appendonly", "appendfsync", "save", "databases", "requirepass", "maxclients", "timeout", "proto-max-bulk-len", "max-event-size", "max-events-per-append"} {
			if _, ok := all[name]; !ok {
				t.Fatalf("CONFIG GET * has no %s: %v", name, all)
			}
		}
		if all["dir"] != ts.Dir || all["bind"] != "127.0.0.1" || all["databases"] != "1" {
			t.Fatalf("CONFIG GET *: %v", all)
		}
		if m := get("MAXCLIENTS"); m["maxclients"] != "10000" {
			t.Fatalf("CONFIG GET is not case-insensitive: %v", m)
		}
		if m := get("nosuch"); len(m) != 0 {
			t.Fatalf("CONFIG GET nosuch = %v", m)
		}
		two := pairs(t, do(t, rc, "CONFIG", "GET", "timeout", "maxclients", "time*"), p)
		if len(two) != 2 {
			t.Fatalf("CONFIG GET with two patterns = %v", two)
		}

		for _, kv := range [][2]string{{"timeout", "30"}, {"maxclients", "500"}, {"TIMEOUT", "0"}} {
			if err := rc.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
				t.Fatalf("CONFIG SET %s %s: %v", kv[0], kv[1], err)
			}
		}
		if m := get("maxclients"); m["maxclients"] != "500" {
			t.Fatalf("maxclients after CONFIG SET = %v", m)
		}
		if got := do(t, rc, "CONFIG", "SET", "timeout", "12", "maxclients", "10000"); got != "OK" {
			t.Fatalf("CONFIG SET of two settings = %v", got)
		}
		if m := get("timeout"); m["timeout"] != "12" {
			t.Fatalf("timeout after CONFIG SET = %v", m)
		}
		for _, tc := range []struct{ name, value, want string }{
			{"port", "1", "port can only be changed with a restart"},
			{"dir", "/tmp", "dir can only be changed with a restart"},
			{"durability", "none", "durability can only be changed with a restart"},
			{"appendonly", "no", "appendonly can only be changed with a restart"},
			{"maxclients", "0", "argument must be a positive integer"},
			{"maxclients", "many", "argument must be a positive integer"},
			{"timeout", "-1", "argument must be a whole number of seconds, 0 or more"},
			{"nosuch", "1", "unknown setting"},
		} {
			doErr(t, rc, fmt.Sprintf("ERR CONFIG SET failed (possibly related to argument '%s') - %s", tc.name, tc.want), "CONFIG", "SET", tc.name, tc.value)
		}
		doErr(t, rc, "ERR wrong number of arguments for 'config|set' command", "CONFIG", "SET", "timeout", "1", "maxclients")
		if err := rc.ConfigSet(ctx, "timeout", "0").Err(); err != nil {
			t.Fatal(err)
		}
		if got := do(t, rc, "CONFIG", "RESETSTAT"); got != "OK" {
			t.Fatalf("CONFIG RESETSTAT = %v", got)
		}
	})
}

func TestMaxClients(t *testing.T) {
	ts := startServer(t)
	first := ts.Raw(t)
	if got := first.Do("CONFIG", "SET", "maxclients", "1"); got != testkit.Simple("OK") {
		t.Fatalf("CONFIG SET maxclients 1 = %#v", got)
	}
	second := ts.Raw(t)
	if got := second.Read(); got != testkit.Err("ERR max number of clients reached") {
		t.Fatalf("second connection got %#v", got)
	}
	second.WaitClosed()
	if got := first.Do("PING"); got != testkit.Simple("PONG") {
		t.Fatalf("the first connection: %#v", got)
	}
	if n := first.Do("INFO", "stats"); !strings.Contains(string(n.(testkit.Bulk)), "rejected_connections:1\r\n") {
		t.Fatalf("INFO stats:\n%s", n)
	}
	// go-redis fails to connect: it reads the error, or finds the
	// connection closed while it still writes its HELLO.
	if err := ts.R3.Ping(ctx).Err(); err == nil {
		t.Fatal("go-redis connected over maxclients")
	}
	first.Do("CONFIG", "SET", "maxclients", "10")
	if got := ts.Raw(t).Do("PING"); got != testkit.Simple("PONG") {
		t.Fatalf("after raising maxclients: %#v", got)
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t)
	idle := ts.Raw(t)
	idle.Do("PING") // connected and waiting for its next command
	ctl := ts.Raw(t)
	if got := ctl.Do("CONFIG", "SET", "timeout", "1"); got != testkit.Simple("OK") {
		t.Fatalf("CONFIG SET timeout 1 = %#v", got)
	}
	// The connection that was already idle is closed, as Redis's cron does.
	idle.WaitClosed()
	ctl.WaitClosed()
	testkit.WaitFor(t, "no clients", func() bool { return len(ts.Clients()) == 0 })

	// Back to 0: a deadline armed under timeout 1 is lifted, and new
	// connections stay open past a second.
	ctl = ts.Raw(t)
	ctl.Do("CONFIG", "SET", "timeout", "0")
	ctl.Do("CONFIG", "SET", "timeout", "1")
	ctl.Do("CONFIG", "SET", "timeout", "0")
	ctl.Conn.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
	var buf [1]byte
	_, err := ctl.Conn.Read(buf[:])
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("with timeout 0 the idle connection was closed: %v", err)
	}
	if got := ctl.Do("PING"); got != testkit.Simple("PONG") {
		t.Fatalf("PING = %#v", got)
	}
}

func TestLoading(t *testing.T) {
	ts := startServer(t, func(o *server.Options) { o.RequirePass = testPass })
	ts.SetLoading(true)
	const loading = "LOADING foldb is loading the dataset in memory"
	for _, p := range testkit.Protocols {
		rc := ts.Client(t, p, func(o *redis.Options) { o.Password = testPass })
		for _, args := range [][]any{
			{"EVENT.APPEND", "a:1", "T", `{}`},
			{"EVENT.READ", "a:1"},
			{"EVENT.RANGE", "0"},
			{"EVENT.VERSION", "a:1"},
		} {
			doErr(t, rc, loading, args...)
		}
		if got, err := rc.Ping(ctx).Result(); err != nil || got != "PONG" {
			t.Fatalf("PING while loading: %q, %v", got, err)
		}
		info, err := rc.Info(ctx, "persistence").Result()
		if err != nil || testkit.InfoField(t, info, "loading") != "1" {
			t.Fatalf("INFO while loading: %v\n%s", err, info)
		}
		helloFields(t, do(t, rc, "HELLO", fmt.Sprint(p)), p)
		do(t, rc, "CLIENT", "LIST")
		do(t, rc, "CONFIG", "GET", "save")
	}
	// A raw connection authenticates while loading; pipelined appends each
	// get LOADING, in order, around an answered PING.
	r := ts.Raw(t)
	if got := r.Do("AUTH", testPass); got != testkit.Simple("OK") {
		t.Fatalf("AUTH while loading = %#v", got)
	}
	r.Send("EVENT.APPEND", "a:1", "T", "{}")
	r.Send("PING")
	r.Send("EVENT.APPEND", "a:1", "T", "{}")
	for i, want := range []any{testkit.Err(loading), testkit.Simple("PONG"), testkit.Err(loading)} {
		if got := r.Read(); got != want {
			t.Fatalf("reply %d = %#v, want %#v", i, got, want)
		}
	}
	if ts.Log().LastPosition() != 0 {
		t.Fatal("an append was written while loading")
	}
	ts.SetLoading(false)
	if got := r.Do("EVENT.APPEND", "a:1", "T", "{}"); fmt.Sprint(got) != "[1 1]" {
		t.Fatalf("EVENT.APPEND after loading = %#v", got)
	}
}

func TestShutdownCommand(t *testing.T) {
	ts := startServer(t)
	for i := range 5 {
		do(t, ts.R2, "EVENT.APPEND", "acct:1", "T", fmt.Sprintf(`{"i":%d}`, i))
	}
	doErr(t, ts.R2, "ERR syntax error", "SHUTDOWN", "LATER")
	other := ts.Raw(t)
	other.Do("PING")
	if err := ts.R3.Shutdown(ctx).Err(); err != nil {
		t.Fatalf("SHUTDOWN: %v", err)
	}
	<-ts.Done()
	if err := ts.Wait(); err != nil {
		t.Fatalf("the log did not close cleanly: %v", err)
	}
	other.WaitClosed()
	if nc, err := net.Dial("tcp", ts.Addr); err == nil {
		nc.Close()
		t.Fatal("the server still accepts connections")
	}
	checkReopened(t, ts.Dir, map[string]int{"acct:1": 5})
}

// checkReopened opens the log in dir and checks the streams' versions and
// that the events of each stream are 1..n.
func checkReopened(t testing.TB, dir string, versions map[string]int) *eventlog.Log {
	t.Helper()
	l, err := eventlog.Open(dir, eventlog.DefaultOptions())
	if err != nil {
		t.Fatalf("reopening the log: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	total := 0
	for s, want := range versions {
		evs, err := l.Read(s, 0, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != want {
			t.Fatalf("%s: %d events after reopening, want %d", s, len(evs), want)
		}
		for i, e := range evs {
			if e.Version != uint64(i+1) || e.Stream != s {
				t.Fatalf("%s: event %d is %+v", s, i, e)
			}
		}
		total += want
	}
	if l.LastPosition() != uint64(total) {
		t.Fatalf("last position %d after reopening, want %d", l.LastPosition(), total)
	}
	return l
}

func TestShutdownNoSaveAndAuth(t *testing.T) {
	ts := startServer(t, func(o *server.Options) { o.RequirePass = testPass })
	if got := ts.Raw(t).Do("SHUTDOWN", "NOSAVE"); got != testkit.Err("NOAUTH Authentication required.") {
		t.Fatalf("SHUTDOWN before AUTH = %#v", got)
	}
	select {
	case <-ts.Done():
		t.Fatal("an unauthenticated SHUTDOWN stopped the server")
	default:
	}
	rc := ts.Client(t, 2, func(o *redis.Options) { o.Password = testPass })
	if err := rc.ShutdownNoSave(ctx).Err(); err != nil {
		t.Fatalf("SHUTDOWN NOSAVE: %v", err)
	}
	if err := ts.Wait(); err != nil {
		t.Fatal(err)
	}
}

// Every append that got a reply before or during a shutdown is in the log.
func TestShutdownWithAppendsInFlight(t *testing.T) {
	ts := startServer(t)
	const writers = 20
	var replied atomic.Int64
	acked := make([][]int64, writers) // per writer: positions of the acknowledged versions 1..n
	var wg sync.WaitGroup
	for g := range writers {
		rc := ts.Client(t, 2, func(o *redis.Options) { o.PoolSize = 1 })
		wg.Go(func() {
			s := fmt.Sprintf("sd:%d", g)
			for i := 0; ; i++ {
				res, err := rc.Do(ctx, "EVENT.APPEND", s, "EXPECT", fmt.Sprint(i), "T", fmt.Sprintf(`{"i":%d}`, i)).Slice()
				if err != nil {
					return
				}
				acked[g] = append(acked[g], res[1].(int64))
				replied.Add(1)
			}
		})
	}
	testkit.WaitFor(t, "appends to flow", func() bool { return replied.Load() >= 200 })
	if err := ts.Shutdown(false); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := ts.Wait(); err != nil {
		t.Fatalf("closing: %v", err)
	}
	l, err := eventlog.Open(ts.Dir, eventlog.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for g, positions := range acked {
		s := fmt.Sprintf("sd:%d", g)
		evs, err := l.Read(s, 0, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		// Appends committed whose reply was lost may follow; none may be missing.
		if len(evs) < len(positions) {
			t.Fatalf("%s: %d events in the log, %d acknowledged", s, len(evs), len(positions))
		}
		for i, pos := range positions {
			if evs[i].Position != uint64(pos) || evs[i].Version != uint64(i+1) {
				t.Fatalf("%s: acknowledged version %d at %d, the log has %+v", s, i+1, pos, evs[i])
			}
		}
	}
	t.Logf("%d appends acknowledged, %d in the log", replied.Load(), l.LastPosition())
}

// The first COMMAND calls of a server run at once on several connections
// (a data race under -race when COMMAND filled in subcommand groups).
func TestCommandConcurrent(t *testing.T) {
	ts := startServer(t)
	var conns []*testkit.RawConn
	for range 4 {
		conns = append(conns, ts.Raw(t))
	}
	for _, r := range conns {
		r.Write("COMMAND\r\nCOMMAND INFO client config\r\n")
	}
	for _, r := range conns {
		for range 2 {
			if _, ok := r.Read().([]any); !ok {
				t.Fatal("COMMAND failed")
			}
		}
	}
}
