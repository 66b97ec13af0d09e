//go:build linux

package server_test

import (
	"fmt"
	"slices"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sys/unix"

	"github.com/foldb/foldb/internal/testkit"
)

// TestBlockedReaderAnsweredFirst: the reader that an append's round
// serves (a blocked XREADGROUP) has its reply written before the append's,
// whether the loop commits the round itself or hands it to the log's
// writer. A PING before the XADD in the same packet makes the loop hand it
// over; an XADD alone goes either way, as the loop's policy decides. Over
// loopback a write is in the peer's socket when it returns, so once the
// append's reply is read, the reader's must be waiting in its socket
// already.
func TestBlockedReaderAnsweredFirst(t *testing.T) {
	ts := startServer(t)
	do(t, ts.R2, "XGROUP", "CREATE", "$ce-order", "g", "$", "MKSTREAM")
	p := ts.Raw(t)
	for i := range 40 {
		for _, handOff := range []bool{false, true} {
			r := ts.Raw(t)
			consumer := fmt.Sprintf("c%d-%v", i, handOff)
			r.Send("XREADGROUP", "GROUP", "g", consumer, "COUNT", "1", "BLOCK", "0", "STREAMS", "$ce-order", ">")
			// The reader's registration creates its consumer, and a read of
			// the groups goes through the log's writer: once the consumer is
			// listed, the reader waits there (blocked_clients counts it a
			// little earlier, when its command blocks).
			testkit.WaitFor(t, "the reader to register", func() bool {
				cs, err := ts.R2.XInfoConsumers(ctx, "$ce-order", "g").Result()
				return err == nil && slices.ContainsFunc(cs, func(c redis.XInfoConsumer) bool { return c.Name == consumer })
			})
			req := testkit.Command("XADD", "order:1", "*", "type", "T", "data", "{}")
			if handOff {
				req = testkit.Command("PING") + req
			}
			p.Write(req)
			if handOff {
				if got := p.Read(); got != testkit.Simple("PONG") {
					t.Fatalf("PING: %#v", got)
				}
			}
			id, ok := p.Read().(testkit.Bulk)
			if !ok {
				t.Fatalf("XADD replied %#v", id)
			}
			if n := unreadBytes(t, r); n == 0 {
				t.Fatalf("round %d (hand-off %v): the append %s was answered before the reader it served", i, handOff, id)
			}
			if got, ok := r.Read().([]any); !ok || len(got) != 1 {
				t.Fatalf("XREADGROUP replied %#v", got)
			}
			r.Conn.Close()
		}
	}
}

// unreadBytes is how many bytes wait in r's socket, not yet read.
func unreadBytes(t *testing.T, r *testkit.RawConn) int {
	t.Helper()
	if r.Reader.Buffered() > 0 {
		return r.Reader.Buffered()
	}
	sc, err := r.Conn.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ierr error
	if err := sc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); err != nil {
		t.Fatal(err)
	}
	if ierr != nil {
		t.Fatal(ierr)
	}
	return n
}
