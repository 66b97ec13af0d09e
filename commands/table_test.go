package commands

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/resp"
	"github.com/foldb/foldb/state"
)

// TestTableEntries holds every entry of the one command table to what
// dispatch, COMMAND and COMMAND DOCS rely on.
func TestTableEntries(t *testing.T) {
	tab := All()
	seen := map[string]bool{}
	for _, cmd := range tab.All() {
		checkEntry(t, cmd)
		if seen[cmd.Name] {
			t.Errorf("%s is in the table twice", cmd.Name)
		}
		seen[cmd.Name] = true
		if strings.Contains(cmd.Name, " ") {
			t.Errorf("%q: a top-level name has no space", cmd.Name)
		}
		switch {
		case cmd.Subcommands != nil && cmd.Arity <= -2:
			// Resolve always hands dispatch a subcommand's entry.
			if cmd.Run != nil || cmd.Prepare != nil {
				t.Errorf("%s: a container that needs a subcommand runs none of its own", cmd.Name)
			}
		case cmd.Gather != nil:
			// Gather picks Prepare or Run for each call (EXEC).
			if cmd.Run == nil || cmd.Prepare == nil {
				t.Errorf("%s: Gather needs both Run and Prepare", cmd.Name)
			}
		case (cmd.Run == nil) == (cmd.Prepare == nil):
			t.Errorf("%s: needs exactly one of Run and Prepare", cmd.Name)
		}
		// EXEC's appends were queued under EVENT.APPEND's own flags.
		if cmd.Prepare != nil && cmd.Gather == nil && cmd.Flags&FlagWrite == 0 {
			t.Errorf("%s: Prepare is for appends, but the command has no write flag", cmd.Name)
		}
		if cmd.Flags&FlagWrite != 0 && cmd.Flags&FlagLoading != 0 {
			t.Errorf("%s: a write must not run while the state loads", cmd.Name)
		}
		if cmd.FirstKey < 0 || cmd.LastKey < cmd.FirstKey && cmd.LastKey >= 0 || (cmd.FirstKey > 0) != (cmd.Step > 0) {
			t.Errorf("%s: keys %d..%d step %d", cmd.Name, cmd.FirstKey, cmd.LastKey, cmd.Step)
		}
		subs := map[string]bool{}
		for _, sub := range cmd.Subcommands {
			checkEntry(t, sub)
			if sub.Run == nil || sub.Prepare != nil {
				t.Errorf("%s: a subcommand has Run and no Prepare", sub.Name)
			}
			if len(sub.Subcommands) > 0 {
				t.Errorf("%s: subcommands do not nest", sub.Name)
			}
			word, ok := strings.CutPrefix(sub.Name, cmd.Name+" ")
			if !ok || word == "" || strings.Contains(word, " ") {
				t.Errorf("%q is not named %q + one word", sub.Name, cmd.Name)
			}
			if subs[word] {
				t.Errorf("%s twice", sub.Name)
			}
			subs[word] = true
			if sub.Arity > -2 && sub.Arity < 2 {
				t.Errorf("%s: arity %d does not count the subcommand", sub.Name, sub.Arity)
			}
			if got := cmd.Sub([]byte(strings.ToLower(word))); got != sub {
				t.Errorf("Sub(%q) = %v", strings.ToLower(word), got)
			}
			if sub.Group != cmd.Group {
				t.Errorf("%s: group %q, its command's %q", sub.Name, sub.Group, cmd.Group)
			}
		}
		if len(cmd.Subcommands) > 0 && cmd.Sub([]byte("NOSUCH")) != nil {
			t.Errorf("%s: Sub finds NOSUCH", cmd.Name)
		}
	}
	for _, name := range []string{"PING", "ECHO", "HELLO", "AUTH", "SELECT", "CLIENT", "COMMAND", "INFO", "CONFIG", "TIME", "QUIT", "RESET", "SHUTDOWN",
		"EVENT.APPEND", "EVENT.READ", "EVENT.RANGE", "EVENT.VERSION"} {
		if !seen[name] {
			t.Errorf("the table has no %s", name)
		}
	}
	for _, name := range []string{"CLIENT SETNAME", "CLIENT GETNAME", "CLIENT SETINFO", "CLIENT ID", "CLIENT LIST", "CLIENT INFO", "CLIENT KILL",
		"COMMAND COUNT", "COMMAND INFO", "COMMAND DOCS", "COMMAND LIST", "CONFIG GET", "CONFIG SET"} {
		parent, word, _ := strings.Cut(name, " ")
		if tab.Lookup([]byte(parent)).Sub([]byte(word)) == nil {
			t.Errorf("the table has no %s", name)
		}
	}
	// A Redis client sends these first, before AUTH and while the state
	// loads: they must answer then.
	for _, name := range []string{"HELLO", "AUTH"} {
		if f := tab.Lookup([]byte(name)).Flags; f&FlagNoAuth == 0 || f&FlagLoading == 0 {
			t.Errorf("%s: flags %v", name, f.Names())
		}
	}
	for _, name := range []string{"PING", "INFO"} {
		if f := tab.Lookup([]byte(name)).Flags; f&FlagLoading == 0 {
			t.Errorf("%s: flags %v", name, f.Names())
		}
	}
	for _, name := range []string{"EVENT.APPEND", "EVENT.READ", "EVENT.RANGE", "EVENT.VERSION"} {
		if f := tab.Lookup([]byte(name)).Flags; f&(FlagLoading|FlagNoAuth) != 0 {
			t.Errorf("%s: a data command with flags %v", name, f.Names())
		}
	}
}

func checkEntry(t *testing.T, cmd *Command) {
	t.Helper()
	switch {
	case cmd.Name == "" || cmd.Name != strings.ToUpper(cmd.Name):
		t.Errorf("%q: a name is upper case", cmd.Name)
	case cmd.Arity == 0:
		t.Errorf("%s: no arity", cmd.Name)
	case cmd.Group == "":
		t.Errorf("%s: no group", cmd.Name)
	case cmd.Syntax == "":
		t.Errorf("%s: no syntax", cmd.Name)
	case cmd.Summary == "":
		t.Errorf("%s: no summary", cmd.Name)
	case len(cmd.Flags.Names()) == 0:
		t.Errorf("%s: no flags", cmd.Name)
	}
	if !strings.HasPrefix(strings.ToUpper(cmd.Syntax), cmd.Name) {
		t.Errorf("%s: syntax %q does not start with the name", cmd.Name, cmd.Syntax)
	}
}

func TestLookup(t *testing.T) {
	tab := All()
	for _, cmd := range tab.All() {
		for _, name := range []string{cmd.Name, strings.ToLower(cmd.Name), mixedCase(cmd.Name)} {
			if got := tab.Lookup([]byte(name)); got != cmd {
				t.Errorf("Lookup(%q) = %v, want %s", name, got, cmd.Name)
			}
		}
	}
	for _, name := range []string{"", "NOSUCH", "EVENT", "EVENT.APPEND ", "CLIENT SETNAME", strings.Repeat("PING", 20)} {
		if got := tab.Lookup([]byte(name)); got != nil {
			t.Errorf("Lookup(%q) = %s", name, got.Name)
		}
	}
	// Names longer than Lookup's stack buffer take the slow path.
	long := strings.Repeat("X", 40) + ".CMD"
	lt := NewTable(&Command{Name: long, Arity: 1})
	if got := lt.Lookup([]byte(strings.ToLower(long))); got == nil || got.Name != long {
		t.Errorf("Lookup of a %d-byte name = %v", len(long), got)
	}
	if n := testing.AllocsPerRun(100, func() { tab.Lookup([]byte("event.Append")) }); n != 0 {
		t.Errorf("Lookup allocates %v times", n)
	}
}

func mixedCase(s string) string {
	b := []byte(strings.ToLower(s))
	for i := 0; i < len(b); i += 2 {
		if 'a' <= b[i] && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}

func TestArityOK(t *testing.T) {
	for _, tc := range []struct {
		arity, n int
		ok       bool
	}{
		{2, 2, true}, {2, 1, false}, {2, 3, false},
		{-2, 1, false}, {-2, 2, true}, {-2, 9, true},
		{-1, 1, true},
	} {
		if got := (&Command{Arity: tc.arity}).ArityOK(tc.n); got != tc.ok {
			t.Errorf("arity %d, %d arguments: %v", tc.arity, tc.n, got)
		}
	}
}

func TestFlagNames(t *testing.T) {
	f := FlagRead | FlagWrite | FlagAdmin | FlagLoading | FlagNoAuth | FlagFast | FlagStale
	want := "write readonly admin loading no_auth fast stale"
	if got := strings.Join(f.Names(), " "); got != want {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	if Flags(0).Names() != nil {
		t.Errorf("no flags: %v", Flags(0).Names())
	}
}

func TestReply(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errSyntax, "ERR syntax error"},
		{fmt.Errorf("wrapped: %w", ReplyError("NOPROTO x")), "NOPROTO x"},
		{&eventlog.WrongVersionError{Stream: "a:1", Expected: eventlog.Expect{Kind: eventlog.ExpectVersion, Version: 3}, Actual: 5},
			"WRONGVERSION expected 3 but a:1 is at version 5"},
		{&eventlog.WrongVersionError{Stream: "a:1", Expected: eventlog.Expect{Kind: eventlog.ExpectNew}, Actual: 2},
			"WRONGVERSION expected a new stream but a:1 is at version 2"},
		{&eventlog.WrongVersionError{Stream: "a:1", Expected: eventlog.Expect{Kind: eventlog.ExpectExists}},
			"WRONGVERSION expected an existing stream but a:1 does not exist"},
		{&eventlog.InvalidError{Msg: "event data must be a JSON object"}, "ERR event data must be a JSON object"},
		{&state.InvalidEventError{Type: "E", Field: "a", Msg: "invalid E: a is required"}, "ERR invalid E: a is required"},
		{&state.RejectedError{Message: "insufficient funds"}, "REJECTED insufficient funds"},
		{fmt.Errorf("%w: disk full", eventlog.ErrFailed), "MISCONF eventlog: log write failed; writes are refused until restart: disk full"},
		{eventlog.ErrClosed, "ERR server is shutting down"},
		{errors.New("something else"), "ERR something else"},
	} {
		if got := Reply(tc.err); got != tc.want {
			t.Errorf("Reply(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	for err, want := range map[error]string{
		ErrNoAuth:                  "NOAUTH Authentication required.",
		ErrLoading:                 "LOADING foldb is loading the dataset in memory",
		ErrMaxClients:              "ERR max number of clients reached",
		ArityError("EVENT.APPEND"): "ERR wrong number of arguments for 'event.append' command",
		ArityError("CONFIG SET"):   "ERR wrong number of arguments for 'config|set' command",
	} {
		if got := Reply(err); got != want {
			t.Errorf("Reply(%v) = %q, want %q", err, got, want)
		}
	}
	_, perr := resp.NewReader(strings.NewReader("*1\r\n$x\r\n"), resp.DefaultLimits()).Next(true)
	if got := Reply(perr); got != "ERR Protocol error: invalid bulk length" {
		t.Errorf("Reply(%v) = %q", perr, got)
	}
	if got := Reply(UnknownCommand(argv("NOSUCH", "a", "b"))); got != "ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' " {
		t.Errorf("unknown command: %q", got)
	}
}

func TestIsWord(t *testing.T) {
	for _, tc := range []struct {
		arg, word string
		ok        bool
	}{
		{"count", "COUNT", true}, {"CoUnT", "COUNT", true}, {"COUNT", "COUNT", true},
		{"COUNTS", "COUNT", false}, {"COUN", "COUNT", false}, {"", "COUNT", false},
		{"lib-name", "LIB-NAME", true}, {"LIB_NAME", "LIB-NAME", false},
	} {
		if got := isWord([]byte(tc.arg), tc.word); got != tc.ok {
			t.Errorf("isWord(%q, %q) = %v", tc.arg, tc.word, got)
		}
	}
}

// TestResolve: dispatch gets the entry whose flags it obeys, the
// subcommand's for a container, or the reply for a command that cannot run.
func TestResolve(t *testing.T) {
	tab := All()
	for _, tc := range []struct {
		args []string
		want string // the entry's name
		err  string
	}{
		{args: []string{"ping"}, want: "PING"},
		{args: []string{"client", "getname"}, want: "CLIENT GETNAME"},
		{args: []string{"CLIENT", "SetName", "x"}, want: "CLIENT SETNAME"},
		{args: []string{"config", "get", "timeout"}, want: "CONFIG GET"},
		{args: []string{"COMMAND"}, want: "COMMAND"},
		{args: []string{"COMMAND", "DOCS", "ping"}, want: "COMMAND DOCS"},
		{args: []string{"EVENT.APPEND", "a:1", "T", "{}"}, want: "EVENT.APPEND"},

		{args: []string{"NOSUCH", "x"}, err: "ERR unknown command 'NOSUCH', with args beginning with: 'x' "},
		{args: []string{"CLIENT"}, err: "ERR wrong number of arguments for 'client' command"},
		{args: []string{"CLIENT", "NOSUCH"}, err: "ERR unknown subcommand 'NOSUCH'. Try CLIENT HELP."},
		{args: []string{"COMMAND", "NOSUCH"}, err: "ERR unknown subcommand 'NOSUCH'. Try COMMAND HELP."},
		{args: []string{"CLIENT", "SETNAME"}, err: "ERR wrong number of arguments for 'client|setname' command"},
		{args: []string{"CONFIG", "GET"}, err: "ERR wrong number of arguments for 'config|get' command"},
		{args: []string{"ECHO"}, err: "ERR wrong number of arguments for 'echo' command"},
		{args: []string{"EVENT.VERSION", "a:1", "b:1"}, err: "ERR wrong number of arguments for 'event.version' command"},
	} {
		cmd, err := tab.Resolve(argv(tc.args...))
		got := ""
		if cmd != nil {
			got = cmd.Name
		}
		if got != tc.want || errText(err) != tc.err || (cmd == nil) == (err == nil) {
			t.Errorf("Resolve(%q) = %q, %q; want %q, %q", tc.args, got, errText(err), tc.want, tc.err)
		}
	}
	// The subcommands' own flags differ from their containers'.
	get, _ := tab.Resolve(argv("CLIENT", "GETNAME"))
	list, _ := tab.Resolve(argv("CLIENT", "LIST"))
	if get.Flags&FlagFast == 0 || list.Flags&FlagFast != 0 || tab.Lookup([]byte("CLIENT")).Flags&FlagFast != 0 {
		t.Errorf("CLIENT GETNAME %v, CLIENT LIST %v", get.Flags.Names(), list.Flags.Names())
	}
	for _, args := range [][][]byte{argv("event.append", "a:1", "T", "{}"), argv("client", "getname")} {
		if n := testing.AllocsPerRun(100, func() { tab.Resolve(args) }); n != 0 {
			t.Errorf("Resolve(%q) allocates %v times", args, n)
		}
	}
}
