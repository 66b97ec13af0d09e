package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/server"
)

// TestGoroutinePerConnection runs the connection tests again with a
// goroutine per connection, the way every system without epoll serves.
func TestGoroutinePerConnection(t *testing.T) {
	if !server.UseLoop {
		t.Skip("this system always serves with a goroutine per connection")
	}
	connGoroutines = true
	defer func() { connGoroutines = false }()
	for name, f := range map[string]func(*testing.T){
		"PingEcho":               TestPingEcho,
		"AuthRequired":           TestAuthRequired,
		"ClientKill":             TestClientKill,
		"Quit":                   TestQuit,
		"UnknownCommandAndArity": TestUnknownCommandAndArity,
		"IdleTimeout":            TestIdleTimeout,
		"MaxClients":             TestMaxClients,
		"ShutdownWithAppends":    TestShutdownWithAppendsInFlight,
		"PipelinedAppends":       TestPipelinedAppends,
		"GroupCommit":            TestGroupCommit,
		"SlowReader":             TestSlowReader,
		"PipelineOrder":          TestPipelineOrder,
		"AppendsThenProtocolErr": TestAppendsThenProtocolError,
		"BusyAtShutdown":         TestBusyConnectionAtShutdown,
		"OverMaxPending":         TestPipelineOverMaxPending,
	} {
		t.Run(name, f)
	}
}

// TestSlowReader: a client that sends many requests and reads none of the
// replies fills its socket; the server holds its replies and goes on
// serving everyone else, and the client later gets every reply, in order.
func TestSlowReader(t *testing.T) {
	ts := startServer(t)
	slow := ts.Raw(t)
	const n = 64
	payload := strings.Repeat("x", 256<<10)
	var req strings.Builder
	for i := range n {
		arg := fmt.Sprintf("%03d%s", i, payload)
		fmt.Fprintf(&req, "*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\n", len(arg), arg)
	}
	slow.WriteBehind(req.String())
	other := ts.Raw(t)
	for range 20 {
		if got := other.Do("PING"); got != testkit.Simple("PONG") {
			t.Fatalf("PING = %#v", got)
		}
	}
	for i := range n {
		got, ok := slow.Read().(testkit.Bulk)
		if !ok || len(got) != len(payload)+3 || string(got[:3]) != fmt.Sprintf("%03d", i) {
			t.Fatalf("reply %d: %.10q (%d bytes)", i, got, len(got))
		}
	}
}

// TestPipelineOrder: appends, commands run on the loop and commands run
// elsewhere, pipelined in one write, are answered in the order sent.
func TestPipelineOrder(t *testing.T) {
	ts := startServer(t)
	r := ts.Raw(t)
	var b strings.Builder
	cmd := func(args ...string) { b.WriteString(testkit.Command(args...)) }
	cmd("EVENT.APPEND", "o:1", "T", `{}`)
	cmd("EVENT.APPEND", "o:1", "T", `{}`)
	cmd("ECHO", "a")
	cmd("EVENT.APPEND", "o:1", "EXPECT", "2", "T", `{}`)
	cmd("EVENT.VERSION", "o:1")
	cmd("EVENT.APPEND", "o:1", "EXPECT", "1", "T", `{}`)
	cmd("CLIENT", "GETNAME")
	cmd("EVENT.APPEND", "o:2", "T", `{}`)
	cmd("PING")
	r.Write(b.String())
	want := []string{"[1 1]", "[2 2]", "a", "[3 3]", "3", "WRONGVERSION", "<nil>", "[1 4]", "PONG"}
	for i, w := range want {
		got := fmt.Sprint(r.Read())
		if !strings.HasPrefix(got, w) {
			t.Fatalf("reply %d = %s, want %s", i, got, w)
		}
	}
}

// TestAppendsThenProtocolError: appends pipelined before a protocol error
// are committed and answered before the error, then the connection closes.
func TestAppendsThenProtocolError(t *testing.T) {
	ts := startServer(t)
	r := ts.Raw(t)
	r.Write("*4\r\n$12\r\nEVENT.APPEND\r\n$3\r\np:1\r\n$1\r\nT\r\n$2\r\n{}\r\n" +
		"*4\r\n$12\r\nEVENT.APPEND\r\n$3\r\np:1\r\n$1\r\nT\r\n$2\r\n{}\r\n" +
		"*1\r\n$x\r\n")
	for i, want := range []string{"[1 1]", "[2 2]", "ERR Protocol error: invalid bulk length"} {
		if got := fmt.Sprint(r.Read()); got != want {
			t.Fatalf("reply %d = %s, want %s", i, got, want)
		}
	}
	r.WaitClosed()
	testkit.WaitFor(t, "the appends to stay", func() bool { return ts.Log().LastPosition() == 2 })
}

// TestBusyConnectionAtShutdown: a connection whose command runs off the
// loop when the shutdown starts gets its reply before it is closed.
func TestBusyConnectionAtShutdown(t *testing.T) {
	ts := startServer(t)
	r := ts.Raw(t)
	r.Do("EVENT.APPEND", "b:1", "T", `{}`)
	r.Send("SNAPSHOT.SAVE")
	// Shut down once the command has started; it may also have ended.
	ctl := ts.Raw(t)
	testkit.WaitFor(t, "SNAPSHOT.SAVE to start", func() bool {
		list, _ := ctl.Do("CLIENT", "LIST").(testkit.Bulk)
		return strings.Contains(string(list), "cmd=snapshot.save")
	})
	ts.Shutdown(false)
	got := r.Read()
	if _, ok := got.(testkit.Simple); !ok {
		if _, ok := got.(testkit.Err); !ok {
			t.Fatalf("SNAPSHOT.SAVE = %#v", got)
		}
	}
	r.WaitClosed()
}

// TestPipelineOverMaxPending: more pipelined appends than one connection
// gathers into a submission are all committed and answered, in order.
func TestPipelineOverMaxPending(t *testing.T) {
	ts := startServer(t)
	r := ts.Raw(t)
	const n = server.MaxPending + server.MaxPending/2
	var b strings.Builder
	for range n {
		b.WriteString("*4\r\n$12\r\nEVENT.APPEND\r\n$3\r\nm:1\r\n$1\r\nT\r\n$2\r\n{}\r\n")
	}
	r.WriteBehind(b.String())
	for i := 1; i <= n; i++ {
		want := fmt.Sprintf("[%d %d]", i, i)
		if got := fmt.Sprint(r.Read()); got != want {
			t.Fatalf("reply %d = %s, want %s", i, got, want)
		}
	}
}
