package commands

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SlowLog keeps the latest commands that ran longer than a threshold, as
// Redis's SLOWLOG does: the command's own run, not the time it waited to be
// read, to be written out or for a round of appends. Fast commands
// (FlagFast), whose cost does not grow with the data, are not timed.
type SlowLog struct {
	slower atomic.Int64 // threshold in microseconds; < 0: off
	max    atomic.Int64 // entries kept

	mu      sync.Mutex
	entries []SlowEntry // oldest first
	nextID  int64
}

// SlowEntry is one slow command.
type SlowEntry struct {
	ID       int64
	At       time.Time
	Duration time.Duration
	Args     []string // as Redis keeps them: at most 32, each at most 128 bytes
	Addr     string
	Name     string
}

// Redis's limits on what an entry keeps of a command.
const (
	slowMaxArgs  = 32
	slowMaxBytes = 128
)

// NewSlowLog returns a slow log with Redis's defaults: commands slower
// than 10 ms, the last 128 of them.
func NewSlowLog() *SlowLog {
	l := &SlowLog{}
	l.Configure(10_000, 128)
	return l
}

// Configure sets the threshold in microseconds (< 0: off, 0: every command
// timed) and the number of entries kept, dropping the oldest beyond it.
func (l *SlowLog) Configure(slowerMicros int64, maxLen int) {
	l.slower.Store(slowerMicros)
	l.max.Store(int64(maxLen))
	l.mu.Lock()
	l.trimLocked()
	l.mu.Unlock()
}

// Slow reports whether a run of d is recorded.
func (l *SlowLog) Slow(d time.Duration) bool {
	t := l.slower.Load()
	return t >= 0 && d.Microseconds() >= t
}

// Record keeps a slow command, with its client's address and name, and
// returns its entry.
func (l *SlowLog) Record(c *Client, args [][]byte, at time.Time, d time.Duration) SlowEntry {
	e := SlowEntry{At: at, Duration: d, Args: slowArgs(args)}
	if c != nil {
		e.Addr, e.Name = c.Addr, c.Name()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e.ID = l.nextID
	l.nextID++
	l.entries = append(l.entries, e)
	l.trimLocked()
	return e
}

func (l *SlowLog) trimLocked() {
	if over := len(l.entries) - int(l.max.Load()); over > 0 {
		l.entries = append(l.entries[:0], l.entries[over:]...)
	}
}

// Latest returns up to n entries, newest first (n < 0: all).
func (l *SlowLog) Latest(n int) []SlowEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n < 0 || n > len(l.entries) {
		n = len(l.entries)
	}
	out := make([]SlowEntry, n)
	for i := range out {
		out[i] = l.entries[len(l.entries)-1-i]
	}
	return out
}

// Len is the number of entries kept.
func (l *SlowLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// Reset drops every entry.
func (l *SlowLog) Reset() {
	l.mu.Lock()
	l.entries = nil
	l.mu.Unlock()
}

// slowArgs copies a command's arguments as Redis's slow log keeps them:
// past 31 arguments the last says how many more there were, and an
// argument past 128 bytes says how many more bytes it had.
func slowArgs(args [][]byte) []string {
	n := min(len(args), slowMaxArgs)
	out := make([]string, n)
	for i := range n {
		if i == slowMaxArgs-1 && len(args) > slowMaxArgs {
			out[i] = fmt.Sprintf("... (%d more arguments)", len(args)-slowMaxArgs+1)
			break
		}
		a := args[i]
		if len(a) > slowMaxBytes {
			out[i] = fmt.Sprintf("%s... (%d more bytes)", a[:slowMaxBytes], len(a)-slowMaxBytes)
			continue
		}
		out[i] = string(a)
	}
	return out
}

// Line is an entry as one line of the server's log: the command, quoted
// where it needs to be, at most 256 bytes of it.
func (e SlowEntry) Line() string {
	var b strings.Builder
	for i, a := range e.Args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a == "" || strings.ContainsAny(a, " \"'\\\n\r\t") {
			fmt.Fprintf(&b, "%q", a)
		} else {
			b.WriteString(a)
		}
		if b.Len() > 256 {
			return b.String()[:256] + "..."
		}
	}
	return b.String()
}

func slowlogCommands() []*Command {
	slowlog := &Command{Name: "SLOWLOG", Arity: -2, Flags: FlagAdmin | FlagLoading, Group: "server", Since: "0.4.0",
		Syntax: "SLOWLOG GET [count] | LEN | RESET | HELP", Summary: "Reads or resets the log of commands that ran longer than slowlog-log-slower-than microseconds."}
	slowlog.Subcommands = []*Command{
		{Name: "SLOWLOG GET", Arity: -2, Flags: FlagAdmin | FlagLoading, Syntax: "SLOWLOG GET [count]",
			Summary: "Returns the newest slow commands (10 unless count says; -1: all): id, unix time, microseconds, arguments, client address, client name.",
			Run:     handle(parseSlowlogGet, runSlowlogGet)},
		{Name: "SLOWLOG LEN", Arity: 2, Flags: FlagAdmin | FlagLoading | FlagFast, Syntax: "SLOWLOG LEN", Summary: "Returns the number of entries in the slow log.",
			Run: func(c *Ctx, _ [][]byte) { c.W.Int(int64(c.Env.SlowLog.Len())) }},
		{Name: "SLOWLOG RESET", Arity: 2, Flags: FlagAdmin | FlagLoading | FlagFast, Syntax: "SLOWLOG RESET", Summary: "Empties the slow log.",
			Run: func(c *Ctx, _ [][]byte) { c.Env.SlowLog.Reset(); c.W.OK() }},
		{Name: "SLOWLOG HELP", Arity: 2, Flags: FlagLoading | FlagFast | FlagStale, Syntax: "SLOWLOG HELP", Summary: "Prints this help.", Run: runSlowlogHelp},
	}
	return []*Command{slowlog}
}

func parseSlowlogGet(args [][]byte) (int, error) {
	switch len(args) {
	case 2:
		return 10, nil
	case 3:
		n, err := parseInt(args[2])
		if err != nil || n < -1 {
			return 0, errorf("ERR count should be greater than or equal to -1")
		}
		return int(n), nil
	}
	return 0, errorf("ERR unknown subcommand or wrong number of arguments for '%.128s'. Try SLOWLOG HELP.", args[1])
}

func runSlowlogGet(c *Ctx, n int) {
	es := c.Env.SlowLog.Latest(n)
	c.W.Array(len(es))
	for _, e := range es {
		c.W.Array(6)
		c.W.Int(e.ID)
		c.W.Int(e.At.Unix())
		c.W.Int(e.Duration.Microseconds())
		c.W.Array(len(e.Args))
		for _, a := range e.Args {
			c.W.BulkString(a)
		}
		c.W.BulkString(e.Addr)
		c.W.BulkString(e.Name)
	}
}

func runSlowlogHelp(c *Ctx, _ [][]byte) {
	lines := []string{
		"SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"GET [<count>]",
		"    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
		"    Entries are made of:",
		"    id, timestamp, time in microseconds, arguments array, client IP and port,",
		"    client name",
		"LEN",
		"    Return the length of the slowlog.",
		"RESET",
		"    Reset the slowlog.",
		"HELP",
		"    Prints this help.",
	}
	c.W.Array(len(lines))
	for _, l := range lines {
		c.W.Simple(l)
	}
}
