package conformance

import (
	"strings"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit"
)

// TestMalformedRequests sends what breaks the protocol over raw TCP. Each
// gets Redis 7's error line, then the server closes that connection and
// goes on serving the others.
func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	bystander := testkit.Dial(t, s.Addr) // open throughout: it must not notice
	if got := bystander.Do("PING"); got != testkit.Simple("PONG") {
		t.Fatalf("PING = %v", got)
	}
	cases := []struct {
		name  string
		parts []string // written one after the other
		want  string
	}{
		{"bulk over proto-max-bulk-len", []string{"*1\r\n$999999999999\r\n"}, "-ERR Protocol error: invalid bulk length\r\n"},
		{"bulk one over 512mb", []string{"*1\r\n$536870913\r\n"}, "-ERR Protocol error: invalid bulk length\r\n"},
		{"negative bulk length", []string{"*1\r\n$-1\r\n"}, "-ERR Protocol error: invalid bulk length\r\n"},
		{"multibulk count over 1M", []string{"*1048577\r\n"}, "-ERR Protocol error: invalid multibulk length\r\n"},
		{"multibulk count over INT_MAX", []string{"*2147483648\r\n"}, "-ERR Protocol error: invalid multibulk length\r\n"},
		{"bulk without $", []string{"*1\r\nx\r\n"}, "-ERR Protocol error: expected '$', got 'x'\r\n"},
		{"bulk without $, split", []string{"*1\r\nx", "\r\n"}, "-ERR Protocol error: expected '$', got 'x'\r\n"},
		{"unbalanced quotes", []string{"SET \"a\r\n"}, "-ERR Protocol error: unbalanced quotes in request\r\n"},
		{"inline over 64kb", []string{strings.Repeat("a", 64<<10+1)}, "-ERR Protocol error: too big inline request\r\n"},
		{"commands before the error are answered", []string{"PING\r\n*1\r\n$4\r\nPING\r\n*1\r\nx\r\n"},
			"+PONG\r\n+PONG\r\n-ERR Protocol error: expected '$', got 'x'\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testkit.Dial(t, s.Addr)
			for _, p := range tc.parts {
				c.Write(p)
			}
			c.ExpectClosed(tc.want)
			// The server is still up for others.
			if got := testkit.Dial(t, s.Addr).Do("PING"); got != testkit.Simple("PONG") {
				t.Fatalf("PING from a new connection = %v", got)
			}
		})
	}
	if got := bystander.Do("ECHO", "still here"); got != testkit.Bulk("still here") {
		t.Fatalf("ECHO on the connection opened before = %v", got)
	}
	if got := s.Info("protocol_errors"); got != "10" {
		t.Errorf("INFO protocol_errors = %s, want 10", got)
	}
}

// TestInlineCommands: redis-cli and telnet users type inline commands.
func TestInlineCommands(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := testkit.Dial(t, s.Addr)
	c.Write("PING\r\nEVENT.APPEND account:7 AccountOpened '{\"name\": \"Bob\"}'\r\n\r\nEVENT.VERSION account:7\n")
	if got := c.Read(); got != testkit.Simple("PONG") {
		t.Errorf("inline PING = %v", got)
	}
	if got, ok := c.Read().([]any); !ok || len(got) != 2 || got[0] != int64(1) {
		t.Errorf("inline EVENT.APPEND = %v", got)
	}
	if got := c.Read(); got != int64(1) {
		t.Errorf("inline EVENT.VERSION = %v", got)
	}
}

// TestHugeBulkAnnouncement: a client that announces an argument near
// proto-max-bulk-len (512mb) and sends only part of it must not make the
// server allocate the announced size. Eight of them at once would be 4gb.
func TestHugeBulkAnnouncement(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := s.Client(2)
	// Let the process settle before the first figure.
	for range 3 {
		testkit.InfoInt(t, c, "everything", "used_memory")
	}
	rss0, heap0 := s.RSS(), testkit.InfoInt(t, c, "everything", "used_memory")
	in0 := testkit.InfoInt(t, c, "everything", "total_net_input_bytes")

	const (
		clients  = 8
		announce = 536870000 // just under the 512mb limit
		sent     = 256 << 10 // what each client actually sends of it
	)
	header := "*2\r\n$4\r\nECHO\r\n$536870000\r\n"
	payload := strings.Repeat("x", sent)
	conns := make([]*testkit.RawConn, clients)
	for i := range conns {
		conns[i] = testkit.Dial(t, s.Addr)
		conns[i].Write(header + payload)
	}
	// Wait until the server has read it all, then measure while the
	// announcements are pending.
	want := in0 + clients*int64(len(header)+sent)
	testkit.WaitForWithin(t, 30*time.Second, "the server to read the partial bulks", func() bool {
		return testkit.InfoInt(t, c, "everything", "total_net_input_bytes") >= want
	})
	rss1, heap1 := s.RSS(), testkit.InfoInt(t, c, "everything", "used_memory")
	t.Logf("%d clients announcing %d bytes, %d sent each: RSS %d -> %d MB, Go heap %d -> %d MB",
		clients, announce, sent, rss0>>20, rss1>>20, heap0>>20, heap1>>20)
	// The RSS shows pages touched; the Go heap (INFO used_memory) shows
	// allocations even when their pages were never touched.
	const limit = 100 << 20
	if rss1-rss0 > limit {
		t.Errorf("RSS grew by %d MB, want well under %d MB", (rss1-rss0)>>20, limit>>20)
	}
	if heap1-heap0 > limit {
		t.Errorf("the Go heap grew by %d MB, want well under %d MB: an announced size was allocated", (heap1-heap0)>>20, limit>>20)
	}

	// Over the limit: refused before anything is allocated.
	over := testkit.Dial(t, s.Addr)
	over.Write("*1\r\n$999999999999\r\n")
	over.ExpectClosed("-ERR Protocol error: invalid bulk length\r\n")
	if rss2 := s.RSS(); rss2-rss0 > limit {
		t.Errorf("RSS grew by %d MB after the over-limit announcement", (rss2-rss0)>>20)
	}

	// Close the pending ones; the server stays up.
	for _, cn := range conns {
		cn.Conn.Close()
	}
	testkit.WaitForWithin(t, 10*time.Second, "the pending connections to go", func() bool {
		return testkit.InfoInt(t, c, "everything", "connected_clients") == 1
	})
	if got := testkit.Dial(t, s.Addr).Do("PING"); got != testkit.Simple("PONG") {
		t.Fatalf("PING = %v", got)
	}
}
