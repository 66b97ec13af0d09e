package server_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/server"
	"github.com/redis/go-redis/v9"
)

func TestPingEcho(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		if got, err := rc.Ping(ctx).Result(); err != nil || got != "PONG" {
			t.Fatalf("PING = %q, %v", got, err)
		}
		if got := do(t, rc, "PING", "hello world"); got != "hello world" {
			t.Fatalf("PING msg = %q", got)
		}
		if got := do(t, rc, "ECHO", "x\r\ny"); got != "x\r\ny" {
			t.Fatalf("ECHO = %q", got)
		}
		doErr(t, rc, "ERR wrong number of arguments for 'ping' command", "PING", "a", "b")
		doErr(t, rc, "ERR wrong number of arguments for 'echo' command", "ECHO")
		doErr(t, rc, "ERR wrong number of arguments for 'echo' command", "ECHO", "a", "b")
	})
	// PONG is a simple string, PING's message a bulk string.
	r := ts.Raw(t)
	if got := r.Do("PING"); got != testkit.Simple("PONG") {
		t.Fatalf("PING = %#v", got)
	}
	if got := r.Do("PING", "PONG"); got != testkit.Bulk("PONG") {
		t.Fatalf("PING PONG = %#v", got)
	}
	r.Write("PING\r\n") // inline, as redis-cli and telnet users send
	if got := r.Read(); got != testkit.Simple("PONG") {
		t.Fatalf("inline PING = %#v", got)
	}
}

// helloFields checks a HELLO reply in the shape of its protocol.
func helloFields(t testing.TB, v any, proto int) map[string]any {
	t.Helper()
	out := map[string]any{}
	switch r := v.(type) {
	case []any: // go-redis, RESP2
		if proto != 2 || len(r) != 14 {
			t.Fatalf("HELLO %d replied a flat array of %d", proto, len(r))
		}
		for i := 0; i < len(r); i += 2 {
			out[r[i].(string)] = r[i+1]
		}
	case map[any]any: // go-redis, RESP3
		if proto != 3 {
			t.Fatalf("HELLO %d replied a map", proto)
		}
		for k, v := range r {
			out[k.(string)] = v
		}
	default:
		t.Fatalf("HELLO replied %#v", v)
	}
	for k, want := range map[string]any{"server": "foldb", "proto": int64(proto), "mode": "standalone", "role": "master"} {
		if out[k] != want {
			t.Fatalf("HELLO %s = %#v, want %#v", k, out[k], want)
		}
	}
	if _, ok := out["id"].(int64); !ok {
		t.Fatalf("HELLO id = %#v", out["id"])
	}
	if out["version"] == "" || out["version"] == nil {
		t.Fatalf("HELLO has no version")
	}
	if m, ok := out["modules"].([]any); !ok || len(m) != 0 {
		t.Fatalf("HELLO modules = %#v", out["modules"])
	}
	return out
}

func TestHello(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		conn := rc.Conn()
		defer conn.Close()
		f := helloFields(t, do(t, conn, "HELLO", fmt.Sprint(p), "SETNAME", "hello-test"), p)
		if id := toInt(t, do(t, conn, "CLIENT", "ID")); id != f["id"] {
			t.Fatalf("HELLO id %v, CLIENT ID %d", f["id"], id)
		}
		if name, err := conn.ClientGetName(ctx).Result(); err != nil || name != "hello-test" {
			t.Fatalf("CLIENT GETNAME after HELLO SETNAME = %q, %v", name, err)
		}
		helloFields(t, do(t, conn, "HELLO"), p) // no version: the current one
		doErr(t, conn, "NOPROTO unsupported protocol version", "HELLO", "4")
		doErr(t, conn, "NOPROTO unsupported protocol version", "HELLO", "1")
		doErr(t, conn, "ERR Protocol version is not an integer or out of range", "HELLO", "three")
		doErr(t, conn, "ERR Syntax error in HELLO option 'BOGUS'", "HELLO", fmt.Sprint(p), "BOGUS")
		doErr(t, conn, "ERR Syntax error in HELLO option 'AUTH'", "HELLO", fmt.Sprint(p), "AUTH", "default")
		doErr(t, conn, "ERR Client names cannot contain spaces, newlines or special characters.", "HELLO", fmt.Sprint(p), "SETNAME", "a b")
	})
	// Switching on one connection: the reply to HELLO is already in the new protocol.
	r := ts.Raw(t)
	m, ok := r.Do("HELLO", "3").(testkit.Map)
	if !ok || len(m) != 14 || m[0] != testkit.Bulk("server") || m[1] != testkit.Bulk("foldb") || m[4] != testkit.Bulk("proto") || m[5] != int64(3) {
		t.Fatalf("HELLO 3 = %#v", m)
	}
	if got := r.Do("CLIENT", "GETNAME"); got != nil {
		t.Fatalf("CLIENT GETNAME = %#v", got)
	}
	a, ok := r.Do("HELLO", "2").([]any)
	if !ok || len(a) != 14 || a[5] != int64(2) {
		t.Fatalf("HELLO 2 = %#v", a)
	}
	if got := r.Do("HELLO", "4"); got != testkit.Err("NOPROTO unsupported protocol version") {
		t.Fatalf("HELLO 4 = %#v", got)
	}
	// Still RESP2 after the refused HELLO 4.
	if a, ok := r.Do("HELLO").([]any); !ok || a[5] != int64(2) {
		t.Fatalf("HELLO after NOPROTO = %#v", a)
	}
}

const testPass = "s3cret"

func TestAuthRequired(t *testing.T) {
	ts := startServer(t, func(o *server.Options) { o.RequirePass = testPass })
	const noauth = "NOAUTH Authentication required."
	const wrongpass = "WRONGPASS invalid username-password pair or user is disabled."

	r := ts.Raw(t)
	for _, args := range [][]string{{"PING"}, {"EVENT.VERSION", "a:1"}, {"EVENT.APPEND", "a:1", "T", "{}"}, {"CLIENT", "ID"}, {"INFO"}} {
		if got := r.Do(args...); got != testkit.Err(noauth) {
			t.Fatalf("%v before AUTH = %#v", args, got)
		}
	}
	if got := r.Do("SHUTDOWN"); got != testkit.Err(noauth) {
		t.Fatalf("SHUTDOWN before AUTH = %#v", got)
	}
	// Unknown commands and wrong arity come before the auth check, as in Redis.
	if got := r.Do("NOSUCH"); got != testkit.Err("ERR unknown command 'NOSUCH', with args beginning with: ") {
		t.Fatalf("unknown command before AUTH = %#v", got)
	}
	if got := r.Do("HELLO", "3"); got != testkit.Err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time") {
		t.Fatalf("HELLO 3 before AUTH = %#v", got)
	}
	for _, args := range [][]string{{"AUTH", "wrong"}, {"AUTH", "default", "wrong"}, {"AUTH", "someone", testPass}, {"HELLO", "3", "AUTH", "default", "wrong"}} {
		if got := r.Do(args...); got != testkit.Err(wrongpass) {
			t.Fatalf("%v = %#v", args, got)
		}
	}
	if got := r.Do("AUTH", "a", "b", "c"); got != testkit.Err("ERR syntax error") {
		t.Fatalf("AUTH with 3 arguments = %#v", got)
	}
	if got := r.Do("AUTH", testPass); got != testkit.Simple("OK") {
		t.Fatalf("AUTH = %#v", got)
	}
	if got := r.Do("EVENT.VERSION", "a:1"); got != int64(0) {
		t.Fatalf("EVENT.VERSION after AUTH = %#v", got)
	}
	// RESET forgets the authentication.
	if got := r.Do("RESET"); got != testkit.Simple("RESET") {
		t.Fatalf("RESET = %#v", got)
	}
	if got := r.Do("PING"); got != testkit.Err(noauth) {
		t.Fatalf("PING after RESET = %#v", got)
	}
	if got := r.Do("AUTH", "default", testPass); got != testkit.Simple("OK") {
		t.Fatalf("AUTH default = %#v", got)
	}
	if got := r.Do("PING"); got != testkit.Simple("PONG") {
		t.Fatalf("PING after AUTH default = %#v", got)
	}

	// HELLO 3 AUTH authenticates and switches in one step.
	r2 := ts.Raw(t)
	if m, ok := r2.Do("HELLO", "3", "AUTH", "default", testPass, "SETNAME", "app").(testkit.Map); !ok || m[5] != int64(3) {
		t.Fatalf("HELLO 3 AUTH = %#v", m)
	}
	if got := r2.Do("CLIENT", "GETNAME"); got != testkit.Bulk("app") {
		t.Fatalf("CLIENT GETNAME = %#v", got)
	}

	// Before AUTH a client is held to Redis's tighter request limits.
	r3 := ts.Raw(t)
	args := make([]string, 11)
	for i := range args {
		args[i] = "x"
	}
	if got := r3.Do(args...); got != testkit.Err("ERR Protocol error: unauthenticated multibulk length") {
		t.Fatalf("11 arguments before AUTH = %#v", got)
	}
	r3.WaitClosed()
	r4 := ts.Raw(t)
	r4.Do("AUTH", testPass)
	args[0], args[1] = "EVENT.RANGE", "0"
	if got := r4.Do(args...); got != testkit.Err("ERR syntax error") { // parsed and run, not refused by the reader
		t.Fatalf("11 arguments after AUTH = %#v", got)
	}

	// go-redis: with the password in either protocol, without it NOAUTH.
	for _, p := range testkit.Protocols {
		rc := ts.Client(t, p, func(o *redis.Options) { o.Password = testPass })
		if v, err := rc.Do(ctx, "EVENT.VERSION", "a:1").Int64(); err != nil || v != 0 {
			t.Fatalf("RESP%d with the password: %d, %v", p, v, err)
		}
		rc = ts.Client(t, p, func(o *redis.Options) { o.Password = "nope" })
		if err := rc.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
			t.Fatalf("RESP%d with a wrong password: %v", p, err)
		}
		doErr(t, ts.ClientFor(p), noauth, "EVENT.VERSION", "a:1")
	}
}

func TestAuthWithoutPassword(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		doErr(t, rc, "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?", "AUTH", "x")
		// As in Redis, the default user without a password takes any password
		// when named, and other users do not exist.
		if got := do(t, rc, "AUTH", "default", "anything"); got != "OK" {
			t.Fatalf("AUTH default x = %#v", got)
		}
		doErr(t, rc, "WRONGPASS invalid username-password pair or user is disabled.", "AUTH", "alice", "x")
		helloFields(t, do(t, rc, "HELLO", fmt.Sprint(p), "AUTH", "default", "whatever"), p)
	})
}

func TestSelect(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		if got := do(t, rc, "SELECT", "0"); got != "OK" {
			t.Fatalf("SELECT 0 = %#v", got)
		}
		doErr(t, rc, "ERR DB index is out of range", "SELECT", "1")
		doErr(t, rc, "ERR value is not an integer or out of range", "SELECT", "x")
		doErr(t, rc, "ERR wrong number of arguments for 'select' command", "SELECT")
	})
	rc := ts.Client(t, 3, func(o *redis.Options) { o.DB = 1 })
	if err := rc.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "DB index is out of range") {
		t.Fatalf("a client on DB 1: %v", err)
	}
}

func clientInfoField(t testing.TB, line, name string) string {
	t.Helper()
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v
		}
	}
	t.Fatalf("no %s= in %q", name, line)
	return ""
}

func TestClientSubcommands(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		conn := rc.Conn()
		defer conn.Close()
		if _, err := conn.ClientGetName(ctx).Result(); !errors.Is(err, redis.Nil) {
			t.Fatalf("CLIENT GETNAME without a name: %v", err)
		}
		if got := do(t, conn, "CLIENT", "SETNAME", "worker-1"); got != "OK" {
			t.Fatalf("CLIENT SETNAME = %#v", got)
		}
		if got := do(t, conn, "client", "getname"); got != "worker-1" {
			t.Fatalf("CLIENT GETNAME = %#v", got)
		}
		doErr(t, conn, "ERR Client names cannot contain spaces, newlines or special characters.", "CLIENT", "SETNAME", "a b")
		do(t, conn, "CLIENT", "SETINFO", "LIB-NAME", "mylib")
		do(t, conn, "CLIENT", "SETINFO", "lib-ver", "1.2.3")
		doErr(t, conn, "ERR Unrecognized option 'LIB-COLOR'", "CLIENT", "SETINFO", "LIB-COLOR", "x")
		doErr(t, conn, "ERR lib-name cannot contain spaces, newlines or special characters.", "CLIENT", "SETINFO", "lib-name", "a b")

		id := toInt(t, do(t, conn, "CLIENT", "ID"))
		info, ok := do(t, conn, "CLIENT", "INFO").(string)
		if !ok || !strings.HasSuffix(info, "\n") {
			t.Fatalf("CLIENT INFO = %#v", info)
		}
		for k, want := range map[string]string{"id": fmt.Sprint(id), "name": "worker-1", "lib-name": "mylib", "lib-ver": "1.2.3", "resp": fmt.Sprint(p), "db": "0", "cmd": "client|info"} {
			if got := clientInfoField(t, info, k); got != want {
				t.Fatalf("CLIENT INFO %s=%s, want %s in %q", k, got, want, info)
			}
		}
		if a := clientInfoField(t, info, "addr"); a == "" || !strings.HasPrefix(clientInfoField(t, info, "laddr"), "127.0.0.1:") {
			t.Fatalf("CLIENT INFO addresses: %q", info)
		}

		list := do(t, conn, "CLIENT", "LIST").(string)
		var mine string
		for _, line := range strings.Split(strings.TrimSuffix(list, "\n"), "\n") {
			if clientInfoField(t, line, "id") == fmt.Sprint(id) {
				mine = line
			}
		}
		if mine == "" {
			t.Fatalf("CLIENT LIST has no id=%d:\n%s", id, list)
		}
		one := do(t, conn, "CLIENT", "LIST", "ID", fmt.Sprint(id), "999999").(string)
		if strings.Count(one, "\n") != 1 || clientInfoField(t, one, "id") != fmt.Sprint(id) {
			t.Fatalf("CLIENT LIST ID %d = %q", id, one)
		}
		if got := do(t, conn, "CLIENT", "LIST", "TYPE", "normal"); got != list && !strings.Contains(got.(string), "id="+fmt.Sprint(id)+" ") {
			t.Fatalf("CLIENT LIST TYPE normal = %q", got)
		}
		doErr(t, conn, "ERR Invalid client ID", "CLIENT", "LIST", "ID", "x")
		doErr(t, conn, "ERR syntax error", "CLIENT", "LIST", "ID")
		doErr(t, conn, "ERR syntax error", "CLIENT", "LIST", "BOGUS")
		doErr(t, conn, "ERR unknown subcommand 'NOPE'. Try CLIENT HELP.", "CLIENT", "NOPE")
		doErr(t, conn, "ERR wrong number of arguments for 'client|setname' command", "CLIENT", "SETNAME")
		doErr(t, conn, "ERR wrong number of arguments for 'client|id' command", "CLIENT", "ID", "x")
		doErr(t, conn, "ERR wrong number of arguments for 'client' command", "CLIENT")
	})
	// go-redis names itself with CLIENT SETINFO when it connects.
	list := do(t, ts.Client(t, 3), "CLIENT", "LIST").(string)
	if !strings.Contains(list, "lib-name=go-redis") {
		t.Fatalf("CLIENT LIST shows no go-redis connection:\n%s", list)
	}
}

// rawID returns a raw connection's CLIENT ID and address.
func rawID(t testing.TB, r *testkit.RawConn) (int64, string) {
	t.Helper()
	id, ok := r.Do("CLIENT", "ID").(int64)
	if !ok {
		t.Fatal("CLIENT ID failed")
	}
	info, ok := r.Do("CLIENT", "INFO").(testkit.Bulk)
	if !ok {
		t.Fatal("CLIENT INFO failed")
	}
	return id, clientInfoField(t, string(info), "addr")
}

func TestClientKill(t *testing.T) {
	ts := startServer(t)
	killer := ts.R2.Conn()
	defer killer.Close()

	byID := ts.Raw(t)
	id, _ := rawID(t, byID)
	if got := toInt(t, do(t, killer, "CLIENT", "KILL", "ID", fmt.Sprint(id))); got != 1 {
		t.Fatalf("CLIENT KILL ID = %d", got)
	}
	byID.WaitClosed()

	byAddr := ts.Raw(t)
	_, addr := rawID(t, byAddr)
	if got := toInt(t, do(t, killer, "CLIENT", "KILL", "ADDR", addr, "SKIPME", "yes")); got != 1 {
		t.Fatalf("CLIENT KILL ADDR = %d", got)
	}
	byAddr.WaitClosed()

	legacy := ts.Raw(t)
	_, addr = rawID(t, legacy)
	if got := do(t, killer, "CLIENT", "KILL", addr); got != "OK" {
		t.Fatalf("CLIENT KILL ip:port = %#v", got)
	}
	legacy.WaitClosed()

	doErr(t, killer, "ERR No such client", "CLIENT", "KILL", "127.0.0.1:1")
	if got := toInt(t, do(t, killer, "CLIENT", "KILL", "ID", "999999")); got != 0 {
		t.Fatalf("CLIENT KILL of an unknown ID = %d", got)
	}
	doErr(t, killer, "ERR client-id should be greater than 0", "CLIENT", "KILL", "ID", "x")
	doErr(t, killer, "ERR syntax error", "CLIENT", "KILL", "ID", "1", "SKIPME")
	doErr(t, killer, "ERR syntax error", "CLIENT", "KILL", "ID", "1", "SKIPME", "maybe")
	doErr(t, killer, "ERR syntax error", "CLIENT", "KILL", "COLOR", "red")
	doErr(t, killer, "ERR wrong number of arguments for 'client|kill' command", "CLIENT", "KILL")

	// SKIPME yes (the default) spares the caller; SKIPME no kills it after its reply.
	self := ts.Raw(t)
	id, addr = rawID(t, self)
	if got := self.Do("CLIENT", "KILL", "ID", fmt.Sprint(id)); got != int64(0) {
		t.Fatalf("CLIENT KILL of itself with SKIPME yes = %#v", got)
	}
	if got := self.Do("CLIENT", "KILL", "ID", fmt.Sprint(id), "SKIPME", "no"); got != int64(1) {
		t.Fatalf("CLIENT KILL of itself with SKIPME no = %#v", got)
	}
	self.WaitClosed()
	// The legacy form on the caller's own address replies OK, then closes.
	self = ts.Raw(t)
	_, addr = rawID(t, self)
	if got := self.Do("CLIENT", "KILL", addr); got != testkit.Simple("OK") {
		t.Fatalf("CLIENT KILL of its own address = %#v", got)
	}
	self.WaitClosed()

	// The killer still works.
	if got := do(t, killer, "PING"); got != "PONG" {
		t.Fatalf("PING = %#v", got)
	}
}

func TestQuit(t *testing.T) {
	ts := startServer(t)
	r := ts.Raw(t)
	r.Send("QUIT")
	r.Send("PING") // pipelined after QUIT: never answered
	if got := r.Read(); got != testkit.Simple("OK") {
		t.Fatalf("QUIT = %#v", got)
	}
	r.WaitClosed()
}

func TestReset(t *testing.T) {
	ts := startServer(t)
	r := ts.Raw(t)
	r.Do("HELLO", "3", "SETNAME", "before")
	if got := r.Do("CLIENT", "GETNAME"); got != testkit.Bulk("before") {
		t.Fatalf("CLIENT GETNAME = %#v", got)
	}
	if got := r.Do("RESET"); got != testkit.Simple("RESET") {
		t.Fatalf("RESET = %#v", got)
	}
	// Back to RESP2 (a null is $-1, a map a flat array) and no name.
	r.Send("CLIENT", "GETNAME")
	if line := r.Line(); line != "$-1" {
		t.Fatalf("CLIENT GETNAME after RESET = %q", line)
	}
	if a, ok := r.Do("HELLO").([]any); !ok || a[5] != int64(2) {
		t.Fatalf("HELLO after RESET = %#v", a)
	}
	if got := do(t, ts.R3, "RESET"); got != "RESET" {
		t.Fatalf("RESET via go-redis = %#v", got)
	}
}

func TestUnknownCommandAndArity(t *testing.T) {
	ts := startServer(t)
	long := strings.Repeat("a", 200)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		for _, tc := range []struct {
			args []any
			want string
		}{
			{[]any{"NOSUCH"}, "ERR unknown command 'NOSUCH', with args beginning with: "},
			{[]any{"nosuch", "a", "b c"}, "ERR unknown command 'nosuch', with args beginning with: 'a' 'b c' "},
			{[]any{"GET", "k"}, "ERR unknown command 'GET', with args beginning with: 'k' "},
			{[]any{long}, "ERR unknown command '" + long[:128] + "', with args beginning with: "},
			{[]any{"X", long, "next"}, "ERR unknown command 'X', with args beginning with: '" + long[:128] + "' "},
			{[]any{"X", "1234567890", long}, "ERR unknown command 'X', with args beginning with: '1234567890' '" + long[:128-13] + "' "},
			{[]any{"EVENT.VERSION"}, "ERR wrong number of arguments for 'event.version' command"},
			{[]any{"event.append", "a:1"}, "ERR wrong number of arguments for 'event.append' command"},
			{[]any{"TIME", "now"}, "ERR wrong number of arguments for 'time' command"},
			{[]any{"RESET", "all"}, "ERR wrong number of arguments for 'reset' command"},
			{[]any{"CONFIG"}, "ERR wrong number of arguments for 'config' command"},
			{[]any{"CONFIG", "GET"}, "ERR wrong number of arguments for 'config|get' command"},
		} {
			doErr(t, rc, tc.want, tc.args...)
		}
	})
}

func TestTime(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, p int) {
		a, ok := do(t, rc, "TIME").([]any)
		if !ok || len(a) != 2 {
			t.Fatalf("TIME = %#v", a)
		}
		sec, err1 := strconv.ParseInt(a[0].(string), 10, 64)
		usec, err2 := strconv.ParseInt(a[1].(string), 10, 64)
		if err1 != nil || err2 != nil || usec < 0 || usec >= 1e6 {
			t.Fatalf("TIME = %v", a)
		}
		now, err := rc.Time(ctx).Result()
		if err != nil || now.Unix() < sec || now.Unix() > sec+5 {
			t.Fatalf("TIME via go-redis = %v, %v (first %d)", now, err, sec)
		}
	})
}

// CLIENT LIST reads every connection's protocol while those connections
// switch it with HELLO and RESET (a data race under -race before it was
// guarded). The server serves each connection on its own goroutine, so a
// pipeline on one runs while the other lists.
func TestClientListDuringHello(t *testing.T) {
	ts := startServer(t)
	switcher := ts.Raw(t)
	lister := ts.Raw(t)
	var pipeline strings.Builder
	for i := range 50 {
		fmt.Fprintf(&pipeline, "HELLO %d\r\nRESET\r\n", 2+i%2)
	}
	switcher.Write(pipeline.String())
	for range 50 {
		if _, ok := lister.Do("CLIENT", "LIST").(testkit.Bulk); !ok {
			t.Fatal("CLIENT LIST failed")
		}
	}
	for range 100 {
		switcher.Read()
	}
}
