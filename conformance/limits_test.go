package conformance

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/redis/go-redis/v9"
)

// TestMaxClients: with --maxclients 2 a third connection gets Redis's error
// line and is closed; once one leaves, a new one gets in.
func TestMaxClients(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--maxclients", "2")
	// The connection startServer used may still be closing on the server:
	// retry until a connection is served.
	served := func() *testkit.RawConn {
		t.Helper()
		var c *testkit.RawConn
		testkit.WaitForWithin(t, 10*time.Second, "a connection to be served", func() bool {
			c = testkit.Dial(t, s.Addr)
			c.Send("PING")
			if l := c.Line(); l == "+PONG" {
				return true
			} else if l != "-ERR max number of clients reached" {
				t.Fatalf("PING = %q", l)
			}
			c.ExpectClosed("")
			return false
		})
		return c
	}
	c1, c2 := served(), served()
	c3 := testkit.Dial(t, s.Addr)
	c3.ExpectClosed("-ERR max number of clients reached\r\n")
	if got := c2.Do("CONFIG", "GET", "maxclients"); !reflect.DeepEqual(got, []any{testkit.Bulk("maxclients"), testkit.Bulk("2")}) {
		t.Errorf("CONFIG GET maxclients = %v", got)
	}
	if got, _ := c2.Do("INFO", "stats").(testkit.Bulk); !strings.Contains(string(got), "\r\nrejected_connections:") ||
		strings.Contains(string(got), "\r\nrejected_connections:0\r\n") {
		t.Errorf("INFO stats does not count the rejected connection:\n%s", got)
	}
	c1.Conn.Close()
	c4 := served()
	if got := c4.Do("EVENT.VERSION", "account:1"); got != int64(0) {
		t.Errorf("EVENT.VERSION = %v", got)
	}
}

// TestRequirePass: with --requirepass, commands wait for AUTH or HELLO AUTH,
// and a wrong password is refused as Redis refuses it.
func TestRequirePass(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--requirepass", "s3cret")
	const noauth = testkit.Err("NOAUTH Authentication required.")
	const wrongpass = testkit.Err("WRONGPASS invalid username-password pair or user is disabled.")

	c := testkit.Dial(t, s.Addr)
	for _, cmd := range [][]string{
		{"EVENT.APPEND", "account:1", "AccountOpened", "{}"},
		{"EVENT.READ", "account:1"},
		{"PING"},
		{"CONFIG", "GET", "requirepass"},
	} {
		if got := c.Do(cmd...); got != noauth {
			t.Errorf("%s before AUTH = %v, want %v", cmd[0], got, noauth)
		}
	}
	// SHUTDOWN without AUTH must not stop the server.
	if got := c.Do("SHUTDOWN"); got != noauth {
		t.Errorf("SHUTDOWN before AUTH = %v, want %v", got, noauth)
	}
	if got := c.Do("AUTH", "wrong"); got != wrongpass {
		t.Errorf("AUTH wrong = %v, want %v", got, wrongpass)
	}
	if got := c.Do("AUTH", "nobody", "s3cret"); got != wrongpass {
		t.Errorf("AUTH nobody s3cret = %v, want %v", got, wrongpass)
	}
	if got := c.Do("EVENT.VERSION", "account:1"); got != noauth {
		t.Errorf("EVENT.VERSION after a wrong AUTH = %v", got)
	}
	// Redis limits what an unauthenticated client may announce.
	c2 := testkit.Dial(t, s.Addr)
	c2.Write("*11\r\n")
	c2.ExpectClosed("-ERR Protocol error: unauthenticated multibulk length\r\n")
	c2 = testkit.Dial(t, s.Addr)
	c2.Write("*2\r\n$4\r\nAUTH\r\n$16385\r\n")
	c2.ExpectClosed("-ERR Protocol error: unauthenticated bulk length\r\n")

	if got := c.Do("AUTH", "s3cret"); got != testkit.Simple("OK") {
		t.Fatalf("AUTH s3cret = %v", got)
	}
	if got := c.Do("EVENT.APPEND", "account:1", "EXPECT", "0", "AccountOpened", "{}"); !reflect.DeepEqual(got, []any{int64(1), int64(1)}) {
		t.Errorf("EVENT.APPEND after AUTH = %v", got)
	}
	// After AUTH the usual limits apply again: 11 arguments are fine.
	args := []string{"EVENT.APPEND", "account:1", "EXPECT", "1"}
	for range 3 {
		args = append(args, "BalanceIncreased", `{"amount":1}`)
	}
	args = append(args, "X", "{}")
	if got := c.Do(args...); !reflect.DeepEqual(got, []any{int64(5), int64(5)}) {
		t.Errorf("EVENT.APPEND with %d arguments after AUTH = %v", len(args), got)
	}

	// HELLO 3 without AUTH is refused; HELLO 3 AUTH default <pass> works.
	h := testkit.Dial(t, s.Addr)
	if got, ok := h.Do("HELLO", "3").(testkit.Err); !ok || !strings.HasPrefix(string(got), "NOAUTH ") {
		t.Errorf("HELLO 3 before AUTH = %v, want a NOAUTH error", got)
	}
	if got := h.Do("HELLO", "3", "AUTH", "default", "wrong"); got != wrongpass {
		t.Errorf("HELLO 3 AUTH default wrong = %v", got)
	}
	hello, ok := h.Do("HELLO", "3", "AUTH", "default", "s3cret").(testkit.Map)
	if !ok || !hello.Has("proto", int64(3)) {
		t.Fatalf("HELLO 3 AUTH default s3cret = %v, want a map with proto 3", hello)
	}
	evs, ok := h.Do("EVENT.READ", "account:1", "COUNT", "1").([]any)
	if !ok || len(evs) != 1 {
		t.Fatalf("EVENT.READ after HELLO AUTH = %v", evs)
	}
	if ev, ok := evs[0].(testkit.Map); !ok || !ev.Has("type", testkit.Bulk("AccountOpened")) {
		t.Errorf("EVENT.READ under RESP3 = %v, want a map", evs[0])
	}
	// RESET forgets the authentication.
	if got := h.Do("RESET"); got != testkit.Simple("RESET") {
		t.Errorf("RESET = %v", got)
	}
	if got := h.Do("EVENT.VERSION", "account:1"); got != noauth {
		t.Errorf("EVENT.VERSION after RESET = %v", got)
	}

	// go-redis sends HELLO 3 AUTH default <pass> when given a password.
	t.Run("go-redis", func(t *testing.T) {
		ctx := context.Background()
		if err := s.Client(3).Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
			t.Errorf("go-redis without a password: PING = %v, want NOAUTH", err)
		}
		o := clientOptions(s.Addr, 3)
		o.Password = "s3cret"
		c := redis.NewClient(o)
		defer c.Close()
		if v, err := c.Do(ctx, "EVENT.VERSION", "account:1").Int64(); err != nil || v != 5 {
			t.Errorf("go-redis with the password: EVENT.VERSION = %d, %v", v, err)
		}
	})
	t.Run("redis-cli", func(t *testing.T) {
		cli := needTool(t, "redis-cli")
		out, _ := runTool(t, cli, "-p", strconv.Itoa(s.Port), "--no-auth-warning", "-a", "s3cret", "EVENT.VERSION", "account:1")
		if out != "5\n" {
			t.Errorf("redis-cli -a: %q", out)
		}
	})
}

// TestIdleTimeout: with --timeout 1 the server closes a connection idle for
// a second, and leaves a busy one alone.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--timeout", "1")
	busy := testkit.Dial(t, s.Addr)
	idle := testkit.Dial(t, s.Addr)
	if got := idle.Do("CONFIG", "GET", "timeout"); !reflect.DeepEqual(got, []any{testkit.Bulk("timeout"), testkit.Bulk("1")}) {
		t.Errorf("CONFIG GET timeout = %v", got)
	}
	start := time.Now()
	// The busy connection sends a command every 200ms while the idle one waits.
	closed := make(chan time.Duration, 1)
	go func() {
		idle.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := idle.Reader.ReadByte()
		if !errors.Is(err, io.EOF) && !testkit.IsReset(err) {
			closed <- -1
			return
		}
		closed <- time.Since(start)
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case d := <-closed:
			if d < 0 {
				t.Fatal("the idle connection was not closed within 10s")
			}
			if d < 900*time.Millisecond {
				t.Errorf("the idle connection was closed after %v, before the timeout of 1s", d)
			}
			t.Logf("the idle connection was closed after %v", d.Round(time.Millisecond))
			// Keep the busy one going past two timeouts.
			for time.Since(start) < 2500*time.Millisecond {
				<-tick.C
				if got := busy.Do("PING"); got != testkit.Simple("PONG") {
					t.Fatalf("the busy connection: PING = %v", got)
				}
			}
			return
		case <-tick.C:
			if got := busy.Do("PING"); got != testkit.Simple("PONG") {
				t.Fatalf("the busy connection after %v: PING = %v", time.Since(start), got)
			}
		}
	}
}

// TestConfigSetTimeout: CONFIG SET timeout applies to connections already
// waiting.
func TestConfigSetTimeout(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	idle := testkit.Dial(t, s.Addr)
	if got := idle.Do("PING"); got != testkit.Simple("PONG") {
		t.Fatalf("PING = %v", got)
	}
	if got := testkit.Dial(t, s.Addr).Do("CONFIG", "SET", "timeout", "1"); got != testkit.Simple("OK") {
		t.Fatalf("CONFIG SET timeout 1 = %v", got)
	}
	idle.ExpectClosed("")
}
