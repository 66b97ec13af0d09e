package server

import (
	"fmt"
	"github.com/foldb/foldb/internal/testkit"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/foldb/foldb/commands"
)

// The tests of blocked and subscribed connections (commands.Conn), against
// the network loop and a goroutine per connection, with the test commands
// of fakeServer.

func (fs *fakeServer) nextWait(t *testing.T) commands.Wait {
	t.Helper()
	select {
	case w := <-fs.waits:
		return w
	case <-time.After(10 * time.Second):
		t.Fatal("no command blocked")
		return nil
	}
}

func (fs *fakeServer) nextPusher(t *testing.T) commands.Pusher {
	t.Helper()
	select {
	case p := <-fs.pushers:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no command subscribed")
		return nil
	}
}

// TestBlockTimeout: at its deadline a blocked command runs again with
// TimedOut, and its Wait no longer wakes it.
func TestBlockTimeout(t *testing.T) {
	each(t, func(t *testing.T, goroutines bool) {
		fs := startFake(t, goroutines)
		r := fs.raw(t)
		start := time.Now()
		r.Send("BLOCK", "100")
		w := fs.nextWait(t)
		if got := r.Read(); got != nil {
			t.Fatalf("BLOCK 100 = %#v, want a null", got)
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Fatalf("timed out after %v", d)
		}
		if w.Wake() || w.Reply([]byte("+no\r\n")) {
			t.Fatal("a wait that timed out was ended again")
		}
		if n := fs.ended.Load(); n != 1 {
			t.Fatalf("ended ran %d times", n)
		}
		if got := r.Do("FAST"); got != testkit.Simple("OK") {
			t.Fatalf("FAST after the wait = %#v", got)
		}
	})
}

// TestBlockWake: Wake runs the command again; a command pipelined behind
// the blocked one waits for it.
func TestBlockWake(t *testing.T) {
	each(t, func(t *testing.T, goroutines bool) {
		fs := startFake(t, goroutines)
		r := fs.raw(t)
		sendAll(r, []string{"BLOCK", "0"}, []string{"FAST"})
		w := fs.nextWait(t)
		if !w.Wake() {
			t.Fatal("Wake of a blocked connection = false")
		}
		expectReplies(t, r, "woken", "OK")
		if w.Wake() {
			t.Fatal("a second Wake = true")
		}
		if n := fs.ended.Load(); n != 1 {
			t.Fatalf("ended ran %d times", n)
		}
	})
}

// TestBlockReply: Reply's bytes are the command's reply.
func TestBlockReply(t *testing.T) {
	each(t, func(t *testing.T, goroutines bool) {
		fs := startFake(t, goroutines)
		r := fs.raw(t)
		r.Send("BLOCK", "10000")
		w := fs.nextWait(t)
		reply := []byte(":42\r\n")
		if !w.Reply(reply) {
			t.Fatal("Reply = false")
		}
		reply[1] = '7' // Reply copied it
		expectReplies(t, r, "42")
		if w.Reply([]byte(":1\r\n")) || w.Wake() {
			t.Fatal("the wait ended twice")
		}
		if got := r.Do("FAST"); got != testkit.Simple("OK") {
			t.Fatalf("FAST after the wait = %#v", got)
		}
	})
}

// TestBlockWakeWhileRunning: a Wake that comes while the blocking command
// still runs elsewhere is not lost.
func TestBlockWakeWhileRunning(t *testing.T) {
	each(t, func(t *testing.T, goroutines bool) {
		fs := startFake(t, goroutines)
		r := fs.raw(t)
		id := clientID(t, r)
		r.Send("BLOCKSLOW", "0")
		w := fs.nextWait(t)
		if !w.Wake() {
			t.Fatal("Wake = false")
		}
		fs.slow <- struct{}{}
		expectReplies(t, r, "woken")
		if !goroutines {
			fs.waitTransitions(t, id, "reading>offloaded", "offloaded>blocked", "blocked>reading", "reading>offloaded", "offloaded>reading")
		}
	})
}

// TestBlockKeepsDeadline: a command woken that blocks again keeps the
// deadline of its first run.
func TestBlockKeepsDeadline(t *testing.T) {
	each(t, func(t *testing.T, goroutines bool) {
		var mu sync.Mutex
		var deadlines []time.Time
		fs := startFake(t, goroutines, func(fs *fakeServer) {
			reblock := &commands.Command{Name: "REBLOCK", Arity: 1, Flags: commands.FlagFast, Run: func(c *commands.Ctx, _ [][]byte) {
				if c.TimedOut {
					c.W.Null()
					return
				}
				w := c.Conn.Block(time.Now().Add(time.Hour), nil)
				mu.Lock()
				deadlines = append(deadlines, c.Conn.(*conn).waitDeadline)
				mu.Unlock()
				fs.waits <- w
			}}
			fs.table = commands.NewTable(append(fs.table.All(), reblock)...)
			fs.env.Table = fs.table
		})
		r := fs.raw(t)
		r.Send("REBLOCK")
		for range 3 {
			fs.nextWait(t).Wake()
		}
		fs.nextWait(t)
		mu.Lock()
		defer mu.Unlock()
		if len(deadlines) != 4 {
			t.Fatalf("%d runs", len(deadlines))
		}
		for i, d := range deadlines {
			if !d.Equal(deadlines[0]) {
				t.Errorf("run %d: deadline %v, first %v", i, d, deadlines[0])
			}
		}
	})
}

// TestBlockClientLeaves: the wait of a connection whose client leaves ends
// at once, with its ended callback.
func TestBlockClientLeaves(t *testing.T) {
	each(t, func(t *testing.T, goroutines bool) {
		fs := startFake(t, goroutines)
		r := fs.raw(t)
		r.Send("BLOCK", "0")
		w := fs.nextWait(t)
		r.Conn.Close()
		testkit.WaitFor(t, "the wait to end", func() bool { return fs.ended.Load() == 1 })
		if w.Wake() {
			t.Fatal("Wake of a closed connection = true")
		}
		testkit.WaitFor(t, "the server to forget the connection", func() bool { return len(fs.Clients()) == 0 })
	})
}

// cpuTime is the process's user and system time.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestManyBlocked: thousands of blocked connections cost no CPU while they
// wait, all wake, and their deadlines are kept.
func TestManyBlocked(t *testing.T) {
	each(t, func(t *testing.T, goroutines bool) {
		n := 5000
		if goroutines {
			n = 500 // the race detector's goroutines are limited
		}
		fs := startFake(t, goroutines)
		conns := make([]*testkit.RawConn, n)
		for i := range conns {
			conns[i] = fs.raw(t)
			conns[i].Send("BLOCK", "0")
		}
		waits := make([]commands.Wait, n)
		for i := range waits {
			waits[i] = fs.nextWait(t)
		}
		// Measure, over an interval, what waiting costs: no condition to
		// wait for here.
		before := cpuTime(t)
		time.Sleep(500 * time.Millisecond)
		if used := cpuTime(t) - before; used > 100*time.Millisecond {
			t.Errorf("%d blocked connections used %v of CPU in 500ms", n, used)
		}
		for _, w := range waits {
			if !w.Wake() {
				t.Fatal("Wake = false")
			}
		}
		for i, r := range conns {
			if got := r.Read(); got != testkit.Bulk("woken") {
				t.Fatalf("connection %d: %#v", i, got)
			}
		}
		// Deadlines spread over 200 ms, sent in a shuffled order.
		sent := make([]time.Time, n)
		for i, r := range conns {
			ms := 100 + (i*7919)%200
			sent[i] = time.Now().Add(time.Duration(ms) * time.Millisecond)
			r.Send("BLOCK", fmt.Sprint(ms))
		}
		for i, r := range conns {
			if got := r.Read(); got != nil {
				t.Fatalf("connection %d: %#v", i, got)
			}
			if now := time.Now(); now.Before(sent[i]) {
				t.Fatalf("connection %d timed out %v early", i, sent[i].Sub(now))
			}
		}
		if got, want := fs.ended.Load(), int64(2*n); got != want {
			t.Fatalf("ended ran %d times, want %d", got, want)
		}
	})
}

// TestSubscribePush: pushes reach a subscribed connection between its
// replies, in order, while it goes on running commands.
func TestSubscribePush(t *testing.T) {
	each(t, func(t *testing.T, goroutines bool) {
		fs := startFake(t, goroutines)
		r := fs.raw(t)
		r.Send("SUB")
		expectReplies(t, r, "subscribed")
		p := fs.nextPusher(t)
		if !p.Push(pushMsg(0)) {
			t.Fatal("Push = false")
		}
		expectReplies(t, r, "[message message 0]")

		const n = 200
		var cmds [][]string
		for range n {
			cmds = append(cmds, []string{"FAST"})
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 1; i <= n; i++ {
				if !p.Push(pushMsg(i)) {
					t.Errorf("Push %d = false", i)
					return
				}
			}
		}()
		sendAll(r, cmds...)
		next := 1
		for replies := 0; replies < n || next <= n; {
			switch got := r.Read().(type) {
			case testkit.Simple:
				if got != "OK" {
					t.Fatalf("reply %q", got)
				}
				replies++
			case []any:
				if want := fmt.Sprint([]any{testkit.Bulk("message"), testkit.Bulk(fmt.Sprintf("message %d", next))}); fmt.Sprint(got) != want {
					t.Fatalf("push %v, want %s", got, want)
				}
				next++
			default:
				t.Fatalf("unexpected %#v", got)
			}
		}
		<-done

		r.Send("UNSUB")
		expectReplies(t, r, "unsubscribed")
		if p.Push(pushMsg(0)) {
			t.Fatal("Push after UNSUB = true")
		}
		if n := fs.unsubs.Load(); n != 1 {
			t.Fatalf("ended ran %d times", n)
		}
	})
}

// TestPushOutputLimit: a subscriber that does not read is closed once what
// waits for it passes its output limit; Push never waits for it.
func TestPushOutputLimit(t *testing.T) {
	each(t, func(t *testing.T, goroutines bool) {
		const limit = 256 << 10
		fs := startFake(t, goroutines, func(fs *fakeServer) { fs.outputLimit = limit })
		r := fs.raw(t)
		r.Send("SUB")
		p := fs.nextPusher(t)
		msg := []byte("+" + strings.Repeat("x", 16<<10) + "\r\n")
		start := time.Now()
		pushed := 0
		for p.Push(msg) {
			if pushed++; pushed > 100_000 {
				t.Fatal("the output limit never closed the connection")
			}
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%d pushes took %v", pushed, d)
		}
		testkit.WaitFor(t, "the connection to close", func() bool { return len(fs.Clients()) == 0 })
		r.WaitClosed()
		if n := fs.unsubs.Load(); n != 1 {
			t.Fatalf("ended ran %d times", n)
		}
	})
}

// TestIdleTimeoutSparesWaiters: the idle timeout closes an idle connection
// but neither a subscribed nor a blocked one, as in Redis.
func TestIdleTimeoutSparesWaiters(t *testing.T) {
	each(t, func(t *testing.T, goroutines bool) {
		fs := startFake(t, goroutines, func(fs *fakeServer) { fs.opts.Timeout = 200 * time.Millisecond })
		sub, blocked, idle := fs.raw(t), fs.raw(t), fs.raw(t)
		sub.Send("SUB")
		expectReplies(t, sub, "subscribed")
		blocked.Send("BLOCK", "0")
		w := fs.nextWait(t)
		idle.WaitClosed()
		if got := sub.Do("FAST"); got != testkit.Simple("OK") {
			t.Fatalf("the subscriber after the timeout: %#v", got)
		}
		if !w.Wake() {
			t.Fatal("the blocked connection's Wake = false")
		}
		expectReplies(t, blocked, "woken")
	})
}

// TestShutdownEndsWaits: a shutdown closes blocked, subscribed and idle
// connections, and lets a busy one finish its command first.
func TestShutdownEndsWaits(t *testing.T) {
	each(t, func(t *testing.T, goroutines bool) {
		fs := startFake(t, goroutines)
		idle, blocked, sub, busy := fs.raw(t), fs.raw(t), fs.raw(t), fs.raw(t)
		ids := map[string]uint64{}
		for name, r := range map[string]*testkit.RawConn{"idle": idle, "blocked": blocked, "sub": sub, "busy": busy} {
			ids[name] = clientID(t, r)
		}
		blocked.Send("BLOCK", "0")
		w := fs.nextWait(t)
		sub.Send("SUB")
		expectReplies(t, sub, "subscribed")
		p := fs.nextPusher(t)
		busy.Send("SLOW")
		<-fs.running
		stopped := make(chan struct{})
		go func() { fs.stop(); close(stopped) }()
		idle.WaitClosed()
		blocked.WaitClosed()
		sub.WaitClosed()
		if w.Wake() || p.Push(pushMsg(0)) {
			t.Fatal("the wait or the subscription outlived its connection")
		}
		fs.slow <- struct{}{}
		expectReplies(t, busy, "SLOW")
		busy.WaitClosed()
		<-stopped
		if fs.ended.Load() != 1 || fs.unsubs.Load() != 1 {
			t.Fatalf("ended callbacks: wait %d, subscription %d", fs.ended.Load(), fs.unsubs.Load())
		}
		if !goroutines {
			for name, last := range map[string]string{
				"idle": "reading>closed", "blocked": "blocked>closed", "sub": "subscribed>closed", "busy": "reading>closed",
			} {
				fs.waitTransitions(t, ids[name], last)
			}
		}
	})
}
