package server

import (
	"fmt"
	"github.com/foldb/foldb/internal/testkit"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foldb/foldb/commands"
	"github.com/foldb/foldb/eventlog"
)

// fakeLog is an event log without Pebble for the connection tests: every
// append succeeds at the next position. idle says whether AppendNow commits
// (the writer is idle); with hold, AppendAsync keeps its appends until
// release.
type fakeLog struct {
	mu       sync.Mutex
	idle     bool
	hold     bool
	held     []func()
	pos      uint64
	versions map[string]uint64
	// rounds by AppendNow, by AppendAsync, and Append calls, and the
	// appends each took
	nowRounds, asyncRounds, syncCalls int
	nowAppends, asyncAppends, syncApp int
}

func newFakeLog() *fakeLog { return &fakeLog{idle: true, versions: map[string]uint64{}} }

func (f *fakeLog) commitLocked(appends []*eventlog.Append) {
	for _, a := range appends {
		f.pos++
		f.versions[a.Stream]++
		a.Result = eventlog.Result{Version: f.versions[a.Stream], Position: f.pos}
	}
}

// withTxs is appends and every transaction's appends: the fake commits
// each transaction's appends as plain ones.
func withTxs(appends []*eventlog.Append, txs []*eventlog.Tx) []*eventlog.Append {
	if len(txs) == 0 {
		return appends
	}
	out := append([]*eventlog.Append(nil), appends...)
	for _, tx := range txs {
		tx.Refused = -1
		out = append(out, tx.Appends...)
	}
	return out
}

func (f *fakeLog) AppendBatch(appends []*eventlog.Append, txs []*eventlog.Tx) {
	appends = withTxs(appends, txs)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncCalls++
	f.syncApp += len(appends)
	f.commitLocked(appends)
}

func (f *fakeLog) AppendNowTx(appends []*eventlog.Append, txs []*eventlog.Tx) bool {
	appends = withTxs(appends, txs)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.idle {
		return false
	}
	f.nowRounds++
	f.nowAppends += len(appends)
	f.commitLocked(appends)
	return true
}

func (f *fakeLog) AppendAsyncTx(appends []*eventlog.Append, txs []*eventlog.Tx, done func()) {
	appends = withTxs(appends, txs)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asyncRounds++
	f.asyncAppends += len(appends)
	finish := func() {
		f.mu.Lock()
		f.commitLocked(appends)
		f.mu.Unlock()
		done()
	}
	if f.hold {
		f.held = append(f.held, finish)
		return
	}
	go finish()
}

// release answers the appends AppendAsync holds.
func (f *fakeLog) release() {
	f.mu.Lock()
	held := f.held
	f.held, f.hold = nil, false
	f.mu.Unlock()
	for _, fn := range held {
		fn()
	}
}

func (f *fakeLog) counts() (now, async, sync int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nowRounds, f.asyncRounds, f.syncCalls
}

// fakeServer is a server without a data directory, Pebble or state,
// serving a table of test commands over the network loop (or a goroutine
// per connection) on a free port, with a fakeLog:
//
//	APPEND stream      an append (Prepare): [version, position]
//	FAST               +OK on the loop
//	SLOW               tells running, waits for a token on slow, then +SLOW
//	                   (off the loop)
//	WHERE, CONT INLINE (fast), CONT ELSEWHERE, BOUNDED n (inline when n <= 10)
//	                   the connection's state while the command runs
//	BIG n              a bulk of n bytes
//	BLOCK ms           blocks (0: no deadline); the Wait goes to waits;
//	                   woken it replies "woken", timed out a null
//	BLOCKSLOW ms       BLOCK off the loop; its first run then waits for a
//	                   token on slow before it returns
//	SUB, UNSUB         Subscribe (the Pusher goes to pushers), Unsubscribe
type fakeServer struct {
	*Server
	log     *fakeLog
	slow    chan struct{}
	running chan struct{} // SLOW started
	waits   chan commands.Wait
	pushers chan commands.Pusher
	ended   atomic.Int64 // wait ended callbacks run
	unsubs  atomic.Int64 // subscription ended callbacks run

	traceMu sync.Mutex
	trans   map[uint64][]string // per client ID: "from>to"
}

func startFake(t testing.TB, goroutines bool, opts ...func(*fakeServer)) *fakeServer {
	t.Helper()
	fs := &fakeServer{
		log:     newFakeLog(),
		slow:    make(chan struct{}),
		running: make(chan struct{}, 100),
		waits:   make(chan commands.Wait, 10000),
		pushers: make(chan commands.Pusher, 100),
		trans:   map[uint64][]string{},
	}
	table := commands.NewTable(fs.commands()...)
	s := &Server{
		log:         slog.New(slog.DiscardHandler),
		opts:        DefaultOptions(),
		table:       table,
		appends:     fs.log,
		outputLimit: defaultOutputLimit,
		clients:     make(map[uint64]*conn),
		done:        make(chan struct{}),
	}
	s.env = &commands.Env{Table: table, Server: s, SlowLog: commands.NewSlowLog()}
	fs.Server = s
	for _, f := range opts {
		f(fs)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	if useLoop && !goroutines {
		if s.lp, err = newLoop(s); err != nil {
			t.Fatal(err)
		}
		fs.watchStates()
		go s.lp.run()
	}
	go s.accept()
	t.Cleanup(fs.stop)
	return fs
}

// stop shuts the server down as Shutdown does, without a log to close: it
// returns once every connection is closed and the loop has ended.
func (fs *fakeServer) stop() {
	fs.shutdownOnce.Do(func() {
		fs.stopping.Store(true)
		fs.ln.Close()
		fs.closeConnections()
		close(fs.done)
	})
	<-fs.done
}

// raw dials the server with the kit's raw client.
func (fs *fakeServer) raw(t testing.TB) *testkit.RawConn {
	return testkit.Dial(t, fs.ln.Addr().String())
}

// clientID asks a new connection its ID (by the test command ID).
func clientID(t testing.TB, r *testkit.RawConn) uint64 {
	t.Helper()
	n, ok := r.Do("ID").(int64)
	if !ok {
		t.Fatal("ID did not reply an integer")
	}
	return uint64(n)
}

type fakePending struct {
	a   eventlog.Append
	one [1]*eventlog.Append
}

func (p *fakePending) Appends() []*eventlog.Append { p.one[0] = &p.a; return p.one[:] }
func (p *fakePending) Tx() *eventlog.Tx            { return nil }
func (p *fakePending) Reply(c *commands.Ctx) {
	c.W.Array(2)
	c.W.Int(int64(p.a.Result.Version))
	c.W.Int(int64(p.a.Result.Position))
}

// where is the state of the connection that runs a command.
func where(c *commands.Ctx) string {
	cn := c.Conn.(*conn)
	if cn.lp == nil {
		return "goroutine"
	}
	return stateOf(cn)
}

func (fs *fakeServer) commands() []*commands.Command {
	const all = commands.FlagLoading | commands.FlagNoAuth
	block := func(c *commands.Ctx, args [][]byte, offloaded bool) {
		switch {
		case c.TimedOut:
			c.W.Null()
			return
		case c.Woken:
			c.W.BulkString("woken")
			return
		}
		ms, _ := strconv.Atoi(string(args[1]))
		var deadline time.Time
		if ms > 0 {
			deadline = time.Now().Add(time.Duration(ms) * time.Millisecond)
		}
		fs.waits <- c.Conn.Block(deadline, func() { fs.ended.Add(1) })
		if offloaded {
			<-fs.slow
		}
	}
	cont := &commands.Command{Name: "CONT", Arity: -2, Flags: all, Group: "test", Syntax: "CONT", Summary: "a container"}
	cont.Subcommands = []*commands.Command{
		{Name: "CONT INLINE", Arity: 2, Flags: all | commands.FlagFast, Group: "test", Run: func(c *commands.Ctx, _ [][]byte) { c.W.BulkString(where(c)) }},
		{Name: "CONT ELSEWHERE", Arity: 2, Flags: all, Group: "test", Run: func(c *commands.Ctx, _ [][]byte) { c.W.BulkString(where(c)) }},
	}
	return []*commands.Command{
		{Name: "APPEND", Arity: 2, Flags: commands.FlagWrite, Prepare: func(c *commands.Ctx, args [][]byte) commands.Pending {
			return &fakePending{a: eventlog.Append{Stream: string(args[1])}}
		}},
		{Name: "FAST", Arity: 1, Flags: all | commands.FlagFast, Run: func(c *commands.Ctx, _ [][]byte) { c.W.OK() }},
		{Name: "ID", Arity: 1, Flags: all | commands.FlagFast, Run: func(c *commands.Ctx, _ [][]byte) { c.W.Int(int64(c.Client.ID)) }},
		{Name: "SLOW", Arity: 1, Flags: all, Run: func(c *commands.Ctx, _ [][]byte) {
			fs.running <- struct{}{}
			<-fs.slow
			c.W.Simple("SLOW")
		}},
		{Name: "WHERE", Arity: 1, Flags: all | commands.FlagFast, Run: func(c *commands.Ctx, _ [][]byte) { c.W.BulkString(where(c)) }},
		{Name: "BOUNDED", Arity: 2, Flags: all, Run: func(c *commands.Ctx, _ [][]byte) { c.W.BulkString(where(c)) },
			Bounded: func(_ *commands.Env, args [][]byte) bool {
				n, err := strconv.Atoi(string(args[1]))
				return err == nil && n <= 10
			}},
		cont,
		{Name: "BIG", Arity: 2, Flags: all | commands.FlagFast, Run: func(c *commands.Ctx, args [][]byte) {
			n, _ := strconv.Atoi(string(args[1]))
			c.W.Bulk(make([]byte, n))
		}},
		{Name: "BLOCK", Arity: 2, Flags: all | commands.FlagFast, Run: func(c *commands.Ctx, args [][]byte) { block(c, args, false) }},
		{Name: "BLOCKSLOW", Arity: 2, Flags: all, Run: func(c *commands.Ctx, args [][]byte) { block(c, args, true) }},
		{Name: "SUB", Arity: 1, Flags: all | commands.FlagFast, Run: func(c *commands.Ctx, _ [][]byte) {
			fs.pushers <- c.Conn.Subscribe(func() { fs.unsubs.Add(1) })
			c.W.Simple("subscribed")
		}},
		{Name: "UNSUB", Arity: 1, Flags: all | commands.FlagFast, Run: func(c *commands.Ctx, _ [][]byte) {
			c.Conn.Unsubscribe()
			c.W.Simple("unsubscribed")
		}},
	}
}

// each runs f against the network loop and against a goroutine per
// connection.
func each(t *testing.T, f func(t *testing.T, goroutines bool)) {
	for _, g := range []bool{false, true} {
		if !g && !useLoop {
			continue
		}
		t.Run(map[bool]string{false: "loop", true: "goroutines"}[g], func(t *testing.T) { f(t, g) })
	}
}

func pushMsg(i int) []byte {
	s := fmt.Sprintf("message %d", i)
	return fmt.Appendf(nil, ">2\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n", len(s), s)
}

// sendAll writes commands in one write, pipelined.
func sendAll(r *testkit.RawConn, cmds ...[]string) {
	var b strings.Builder
	for _, args := range cmds {
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	r.Write(b.String())
}

func expectReplies(t *testing.T, r *testkit.RawConn, want ...string) {
	t.Helper()
	for i, w := range want {
		if got := fmt.Sprint(r.Read()); got != w {
			t.Fatalf("reply %d = %s, want %s", i, got, w)
		}
	}
}
