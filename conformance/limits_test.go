package conformance

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestMaxClients: with --maxclients 2 a third connection gets Redis's error
// line and is closed; once one leaves, a new one gets in.
func TestMaxClients(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--maxclients", "2")
	// The connection startServer used may still be closing on the server:
	// retry until a connection is served.
	served := func() *rawConn {
		t.Helper()
		var c *rawConn
		waitFor(t, 10*time.Second, "a connection to be served", func() bool {
			c = dialRaw(t, s.Addr)
			c.command("PING")
			if l := c.line(); l == "+PONG" {
				return true
			} else if l != "-ERR max number of clients reached" {
				t.Fatalf("PING = %q", l)
			}
			c.expectClosed("")
			return false
		})
		return c
	}
	c1, c2 := served(), served()
	c3 := dialRaw(t, s.Addr)
	c3.expectClosed("-ERR max number of clients reached\r\n")
	if got := c2.do("CONFIG", "GET", "maxclients"); !equalReply(got, []any{"maxclients", "2"}) {
		t.Errorf("CONFIG GET maxclients = %v", got)
	}
	if got := c2.do("INFO", "stats"); !strings.Contains(got.(string), "\r\nrejected_connections:") ||
		strings.Contains(got.(string), "\r\nrejected_connections:0\r\n") {
		t.Errorf("INFO stats does not count the rejected connection:\n%s", got)
	}
	c1.nc.Close()
	c4 := served()
	if got := c4.do("EVENT.VERSION", "account:1"); got != int64(0) {
		t.Errorf("EVENT.VERSION = %v", got)
	}
}

// TestRequirePass: with --requirepass, commands wait for AUTH or HELLO AUTH,
// and a wrong password is refused as Redis refuses it.
func TestRequirePass(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--requirepass", "s3cret")
	const noauth = respErr("NOAUTH Authentication required.")
	const wrongpass = respErr("WRONGPASS invalid username-password pair or user is disabled.")

	c := dialRaw(t, s.Addr)
	for _, cmd := range [][]string{
		{"EVENT.APPEND", "account:1", "AccountOpened", "{}"},
		{"EVENT.READ", "account:1"},
		{"PING"},
		{"CONFIG", "GET", "requirepass"},
	} {
		if got := c.do(cmd...); got != noauth {
			t.Errorf("%s before AUTH = %v, want %v", cmd[0], got, noauth)
		}
	}
	// SHUTDOWN without AUTH must not stop the server.
	if got := c.do("SHUTDOWN"); got != noauth {
		t.Errorf("SHUTDOWN before AUTH = %v, want %v", got, noauth)
	}
	if got := c.do("AUTH", "wrong"); got != wrongpass {
		t.Errorf("AUTH wrong = %v, want %v", got, wrongpass)
	}
	if got := c.do("AUTH", "nobody", "s3cret"); got != wrongpass {
		t.Errorf("AUTH nobody s3cret = %v, want %v", got, wrongpass)
	}
	if got := c.do("EVENT.VERSION", "account:1"); got != noauth {
		t.Errorf("EVENT.VERSION after a wrong AUTH = %v", got)
	}
	// Redis limits what an unauthenticated client may announce.
	c2 := dialRaw(t, s.Addr)
	c2.write("*11\r\n")
	c2.expectClosed("-ERR Protocol error: unauthenticated multibulk length\r\n")
	c2 = dialRaw(t, s.Addr)
	c2.write("*2\r\n$4\r\nAUTH\r\n$16385\r\n")
	c2.expectClosed("-ERR Protocol error: unauthenticated bulk length\r\n")

	if got := c.do("AUTH", "s3cret"); got != "OK" {
		t.Fatalf("AUTH s3cret = %v", got)
	}
	if got := c.do("EVENT.APPEND", "account:1", "EXPECT", "0", "AccountOpened", "{}"); !equalReply(got, []any{int64(1), int64(1)}) {
		t.Errorf("EVENT.APPEND after AUTH = %v", got)
	}
	// After AUTH the usual limits apply again: 11 arguments are fine.
	args := []string{"EVENT.APPEND", "account:1", "EXPECT", "1"}
	for range 3 {
		args = append(args, "BalanceIncreased", `{"amount":1}`)
	}
	args = append(args, "X", "{}")
	if got := c.do(args...); !equalReply(got, []any{int64(5), int64(5)}) {
		t.Errorf("EVENT.APPEND with %d arguments after AUTH = %v", len(args), got)
	}

	// HELLO 3 without AUTH is refused; HELLO 3 AUTH default <pass> works.
	h := dialRaw(t, s.Addr)
	if got, ok := h.do("HELLO", "3").(respErr); !ok || !strings.HasPrefix(string(got), "NOAUTH ") {
		t.Errorf("HELLO 3 before AUTH = %v, want a NOAUTH error", got)
	}
	if got := h.do("HELLO", "3", "AUTH", "default", "wrong"); got != wrongpass {
		t.Errorf("HELLO 3 AUTH default wrong = %v", got)
	}
	hello, ok := h.do("HELLO", "3", "AUTH", "default", "s3cret").([][2]any)
	if !ok || !hasPair(hello, "proto", int64(3)) {
		t.Fatalf("HELLO 3 AUTH default s3cret = %v, want a map with proto 3", hello)
	}
	evs, ok := h.do("EVENT.READ", "account:1", "COUNT", "1").([]any)
	if !ok || len(evs) != 1 {
		t.Fatalf("EVENT.READ after HELLO AUTH = %v", evs)
	}
	if ev, ok := evs[0].([][2]any); !ok || !hasPair(ev, "type", "AccountOpened") {
		t.Errorf("EVENT.READ under RESP3 = %v, want a map", evs[0])
	}
	// RESET forgets the authentication.
	if got := h.do("RESET"); got != "RESET" {
		t.Errorf("RESET = %v", got)
	}
	if got := h.do("EVENT.VERSION", "account:1"); got != noauth {
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
	busy := dialRaw(t, s.Addr)
	idle := dialRaw(t, s.Addr)
	if got := idle.do("CONFIG", "GET", "timeout"); !equalReply(got, []any{"timeout", "1"}) {
		t.Errorf("CONFIG GET timeout = %v", got)
	}
	start := time.Now()
	// The busy connection sends a command every 200ms while the idle one waits.
	closed := make(chan time.Duration, 1)
	go func() {
		idle.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := idle.r.ReadByte()
		if !errors.Is(err, io.EOF) && !isReset(err) {
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
				if got := busy.do("PING"); got != "PONG" {
					t.Fatalf("the busy connection: PING = %v", got)
				}
			}
			return
		case <-tick.C:
			if got := busy.do("PING"); got != "PONG" {
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
	idle := dialRaw(t, s.Addr)
	if got := idle.do("PING"); got != "PONG" {
		t.Fatalf("PING = %v", got)
	}
	if got := dialRaw(t, s.Addr).do("CONFIG", "SET", "timeout", "1"); got != "OK" {
		t.Fatalf("CONFIG SET timeout 1 = %v", got)
	}
	idle.expectClosed("")
}
