package commands

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSlowArgs: an entry keeps what Redis's keeps of a command.
func TestSlowArgs(t *testing.T) {
	many := make([][]byte, 40)
	for i := range many {
		many[i] = []byte(fmt.Sprint(i))
	}
	long := []byte(strings.Repeat("x", 200))
	for _, c := range []struct {
		args [][]byte
		want []string
	}{
		{[][]byte{[]byte("ENTITY.ALL"), []byte("p")}, []string{"ENTITY.ALL", "p"}},
		{[][]byte{[]byte("ECHO"), long}, []string{"ECHO", strings.Repeat("x", 128) + "... (72 more bytes)"}},
		{many[:32], seq(32)},
		{many, append(seq(31), "... (9 more arguments)")},
	} {
		if got := slowArgs(c.args); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("slowArgs(%d args) = %q, want %q", len(c.args), got, c.want)
		}
	}
}

func seq(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(i)
	}
	return out
}

// TestSlowLogKeeps: the threshold, the length kept, newest first.
func TestSlowLogKeeps(t *testing.T) {
	l := NewSlowLog()
	if l.Slow(9*time.Millisecond) || !l.Slow(10*time.Millisecond) {
		t.Fatal("the default threshold is 10 ms")
	}
	l.Configure(-1, 2)
	if l.Slow(time.Hour) {
		t.Fatal("a negative threshold records nothing")
	}
	for i := range 3 {
		l.Record(nil, [][]byte{[]byte(fmt.Sprint(i))}, time.Now(), time.Millisecond)
	}
	got := l.Latest(-1)
	if len(got) != 2 || got[0].ID != 2 || got[1].ID != 1 || got[0].Args[0] != "2" {
		t.Fatalf("Latest = %+v", got)
	}
	l.Configure(0, 1)
	if l.Len() != 1 || !l.Slow(0) {
		t.Fatalf("after Configure(0, 1): %d entries", l.Len())
	}
	if line := (SlowEntry{Args: []string{"ENTITY.ALL", "p", "WHERE", "a == 'b c'"}}).Line(); line != `ENTITY.ALL p WHERE "a == 'b c'"` {
		t.Fatalf("Line = %s", line)
	}
}
