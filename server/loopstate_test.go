//go:build linux

package server

import (
	"fmt"
	"github.com/foldb/foldb/internal/testkit"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// watchStates records every state change of the fake server's loop.
func (fs *fakeServer) watchStates() {
	fs.lp.trace = func(c *conn, from, to connState) {
		fs.traceMu.Lock()
		fs.trans[c.client.ID] = append(fs.trans[c.client.ID], from.String()+">"+to.String())
		fs.traceMu.Unlock()
	}
}

// transitions returns the state changes of the connection with the given
// client ID so far.
func (fs *fakeServer) transitions(id uint64) []string {
	fs.traceMu.Lock()
	defer fs.traceMu.Unlock()
	return append([]string(nil), fs.trans[id]...)
}

func stateOf(c *conn) string { return c.state.String() }

// TestConnStateTable: the moves the loop makes are in the table, the ones
// it must never make are not, and a move outside it panics.
func TestConnStateTable(t *testing.T) {
	move := func(from, to connState) (ok bool) {
		c := &conn{}
		c.lp, c.state = &loop{}, from
		defer func() {
			if recover() != nil {
				ok = false
			}
		}()
		c.to(to)
		return c.state == to
	}
	for _, m := range []string{
		"new>reading", "new>closed",
		"reading>subscribed", "subscribed>reading", "reading>reading",
		"reading>queued", "queued>reading", "queued>appending", "appending>reading", "appending>subscribed",
		"reading>offloaded", "offloaded>reading", "offloaded>blocked", "subscribed>offloaded",
		"reading>blocked", "blocked>reading", "blocked>subscribed", "blocked>closed",
		"reading>writing", "writing>writing", "writing>reading", "writing>subscribed", "writing>closed",
		"reading>closing", "closing>closing", "closing>closed", "reading>closed", "subscribed>closed",
	} {
		from, to := parseMove(t, m)
		if !move(from, to) {
			t.Errorf("%s is refused", m)
		}
	}
	for _, m := range []string{
		"closed>reading", "closed>closed", "new>queued", "new>blocked",
		"queued>closed", "appending>closed", "offloaded>closed", "queued>offloaded",
		"appending>blocked", "blocked>offloaded", "blocked>writing", "writing>offloaded",
		"closing>reading", "closing>writing",
	} {
		from, to := parseMove(t, m)
		if move(from, to) {
			t.Errorf("%s is allowed", m)
		}
	}
	for s := stateNew; s <= stateClosed; s++ {
		if s.String() == "" || strings.Contains(s.String(), " ") {
			t.Errorf("state %d has no name", s)
		}
	}
	if len(transitions) != len(stateNames) {
		t.Errorf("%d states in the table, %d names", len(transitions), len(stateNames))
	}
}

func parseMove(t *testing.T, m string) (connState, connState) {
	from, to, _ := strings.Cut(m, ">")
	f, g := slices.Index(stateNames[:], from), slices.Index(stateNames[:], to)
	if f < 0 || g < 0 {
		t.Fatalf("bad move %q", m)
	}
	return connState(f), connState(g)
}

// TestCommitsHere: the loop commits a round itself only when it ran no
// other command this turn nor the one before.
func TestCommitsHere(t *testing.T) {
	l := &loop{}
	for i, tc := range []struct {
		served bool // the loop ran another command this turn
		want   bool
	}{
		{false, true}, {true, false}, {false, false}, {false, true},
		{true, false}, {true, false}, {false, false}, {false, true},
	} {
		l.served = tc.served
		if got := l.commitsHere(); got != tc.want {
			t.Errorf("turn %d (served %v): commitsHere = %v", i, tc.served, got)
		}
	}
}

// waitTransitions waits until the connection's state changes end with
// want, and returns them all.
func (fs *fakeServer) waitTransitions(t *testing.T, id uint64, want ...string) []string {
	t.Helper()
	var got []string
	testkit.WaitFor(t, fmt.Sprintf("connection %d to go %v", id, want), func() bool {
		got = fs.transitions(id)
		return len(got) >= len(want) && slices.Equal(got[len(got)-len(want):], want)
	})
	return got
}

// TestLoopAppendPipeline: a pipeline of appends is one round, committed on
// the loop while the writer is idle and handed to it otherwise; appends
// followed by a read are answered before it, off the loop.
func TestLoopAppendPipeline(t *testing.T) {
	fs := startFake(t, false)
	r := fs.raw(t)
	id := clientID(t, r)
	a := []string{"APPEND", "s:1"}

	sendAll(r, a, a, a)
	expectReplies(t, r, "[1 1]", "[2 2]", "[3 3]")
	if got, want := fs.transitions(id), []string{"new>reading", "reading>queued", "queued>reading"}; !slices.Equal(got, want) {
		t.Fatalf("committed on the loop: %v, want %v", got, want)
	}
	if now, async, sync := fs.log.counts(); now != 1 || async != 0 || sync != 0 || fs.log.nowAppends != 3 {
		t.Fatalf("rounds: %d now (%d appends), %d async, %d sync", now, fs.log.nowAppends, async, sync)
	}

	fs.log.mu.Lock()
	fs.log.idle, fs.log.hold = false, true
	fs.log.mu.Unlock()
	sendAll(r, a, a)
	fs.waitTransitions(t, id, "reading>queued", "queued>appending")
	fs.log.release()
	expectReplies(t, r, "[4 4]", "[5 5]")
	fs.waitTransitions(t, id, "reading>queued", "queued>appending", "appending>reading")
	if _, async, _ := fs.log.counts(); async != 1 || fs.log.asyncAppends != 2 {
		t.Fatalf("%d async rounds of %d appends", async, fs.log.asyncAppends)
	}

	// A read behind appends waits for them: both run on a goroutine, the
	// appends as one Append.
	sendAll(r, a, a, []string{"FAST"})
	expectReplies(t, r, "[6 6]", "[7 7]", "OK")
	fs.waitTransitions(t, id, "reading>offloaded", "offloaded>reading")
	if _, _, sync := fs.log.counts(); sync != 1 || fs.log.syncApp != 2 {
		t.Fatalf("%d Append calls of %d appends", sync, fs.log.syncApp)
	}
}

// TestLoopOffloaded: a command that is not fast runs off the loop, which
// serves others meanwhile; a container's subcommand runs where its own
// flags say, and a command with Bounded where its arguments say.
func TestLoopOffloaded(t *testing.T) {
	fs := startFake(t, false)
	r, other := fs.raw(t), fs.raw(t)
	id := clientID(t, r)
	r.Send("SLOW")
	fs.waitTransitions(t, id, "reading>offloaded")
	for range 3 {
		if got := other.Do("FAST"); got != testkit.Simple("OK") {
			t.Fatalf("FAST beside an offloaded command = %#v", got)
		}
	}
	fs.slow <- struct{}{}
	expectReplies(t, r, "SLOW")
	fs.waitTransitions(t, id, "reading>offloaded", "offloaded>reading")

	for cmd, want := range map[string]string{"WHERE": "reading", "CONT INLINE": "reading", "CONT ELSEWHERE": "offloaded",
		"BOUNDED 3": "reading", "BOUNDED 30": "offloaded"} {
		if got := r.Do(strings.Fields(cmd)...); got != testkit.Bulk(want) {
			t.Errorf("%s ran %v, want %s", cmd, got, want)
		}
	}
}

// TestLoopSlowReader: replies the socket does not take wait for EPOLLOUT
// (writing), and the connection reads again once they are written.
func TestLoopSlowReader(t *testing.T) {
	fs := startFake(t, false)
	r, other := fs.raw(t), fs.raw(t)
	id := clientID(t, r)
	const n, size = 16, 1 << 20
	cmds := make([][]string, n)
	for i := range cmds {
		cmds[i] = []string{"BIG", fmt.Sprint(size)}
	}
	sendAll(r, cmds...)
	fs.waitTransitions(t, id, "reading>writing")
	if got := other.Do("FAST"); got != testkit.Simple("OK") {
		t.Fatalf("FAST beside a slow reader = %#v", got)
	}
	for i := range n {
		if got, ok := r.Read().(testkit.Bulk); !ok || len(got) != size {
			t.Fatalf("reply %d: %d bytes", i, len(got))
		}
	}
	fs.waitTransitions(t, id, "writing>reading")
	if got := r.Do("FAST"); got != testkit.Simple("OK") {
		t.Fatalf("FAST after the replies = %#v", got)
	}
}

// TestLoopCloseWhileBusy: a connection whose client leaves while its
// command runs elsewhere is closed only once the command is back.
func TestLoopCloseWhileBusy(t *testing.T) {
	fs := startFake(t, false)
	r, other := fs.raw(t), fs.raw(t)
	id := clientID(t, r)
	r.Send("SLOW")
	fs.waitTransitions(t, id, "reading>offloaded")
	r.Conn.Close()
	other.Do("FAST") // a turn of the loop after the hang-up
	if got := fs.transitions(id); got[len(got)-1] != "reading>offloaded" {
		t.Fatalf("before the command came back: %v", got)
	}
	fs.slow <- struct{}{}
	got := fs.waitTransitions(t, id, "offloaded>reading", "reading>closed")
	if slices.Contains(got, "offloaded>closed") {
		t.Fatalf("%v", got)
	}
	testkit.WaitFor(t, "the server to forget the connection", func() bool { return len(fs.Clients()) == 1 })
}

// TestLoopNoAllocs: a fast command's round trip through the loop allocates
// nothing on the server.
func TestLoopNoAllocs(t *testing.T) {
	fs := startFake(t, false)
	r := fs.raw(t)
	req := []byte("*1\r\n$4\r\nFAST\r\n")
	reply := make([]byte, 5)
	r.Conn.SetDeadline(time.Now().Add(time.Minute))
	roundTrip := func() {
		if _, err := r.Conn.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(r.Conn, reply); err != nil || string(reply) != "+OK\r\n" {
			t.Fatalf("%q, %v", reply, err)
		}
	}
	roundTrip()
	if n := testing.AllocsPerRun(500, roundTrip); n != 0 {
		t.Errorf("%v allocations per round trip", n)
	}
}
