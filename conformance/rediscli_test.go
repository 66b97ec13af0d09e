package conformance

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestRedisCLI runs the README's session with redis-cli, and a few commands
// every Redis user types first.
func TestRedisCLI(t *testing.T) {
	t.Parallel()
	cliPath := needTool(t, "redis-cli")
	s := startServer(t, "")
	port := strconv.Itoa(s.Port)
	// --no-raw prints replies as redis-cli does on a terminal, as the README shows them.
	cli := func(args ...string) string {
		t.Helper()
		out, errOut := runTool(t, cliPath, append([]string{"-p", port, "--no-raw"}, args...)...)
		if errOut != "" {
			t.Errorf("redis-cli %s wrote to stderr: %q", strings.Join(args, " "), errOut)
		}
		return out
	}
	expect := func(got, want, what string) {
		t.Helper()
		if got != want {
			t.Errorf("%s:\ngot:\n%s\nwant:\n%s", what, got, want)
		}
	}
	match := func(got, pattern, what string) {
		t.Helper()
		if !regexp.MustCompile(`^` + pattern + `$`).MatchString(got) {
			t.Errorf("%s:\ngot:\n%s\nwant (regexp):\n%s", what, got, pattern)
		}
	}

	appendCmd := []string{"EVENT.APPEND", "account:1", "EXPECT", "0", "AccountOpened", `{"name":"Alice"}`}
	expect(cli(appendCmd...), "1) (integer) 1\n2) (integer) 1\n", "README: first EVENT.APPEND")
	expect(cli(appendCmd...), "(error) WRONGVERSION expected 0 but account:1 is at version 1\n", "README: second EVENT.APPEND")

	// The time is the server's clock in unix milliseconds: 13 digits.
	unixMillis := regexp.MustCompile(`\(integer\) \d{13}\n$`)
	expect(unixMillis.ReplaceAllString(cli("EVENT.READ", "account:1"), "(integer) TIME\n"), ``+
		"1)  1) \"position\"\n"+
		"    2) (integer) 1\n"+
		"    3) \"stream\"\n"+
		"    4) \"account:1\"\n"+
		"    5) \"version\"\n"+
		"    6) (integer) 1\n"+
		"    7) \"type\"\n"+
		"    8) \"AccountOpened\"\n"+
		"    9) \"data\"\n"+
		"   10) \"{\\\"name\\\":\\\"Alice\\\"}\"\n"+
		"   11) \"meta\"\n"+
		"   12) \"{}\"\n"+
		"   13) \"id\"\n"+
		"   14) \"\"\n"+
		"   15) \"time\"\n"+
		"   16) (integer) TIME\n", "README: EVENT.READ")

	// RESP3: the event is a map.
	match(cli("-3", "EVENT.READ", "account:1"), ``+
		`1\) 1# "position" => \(integer\) 1\n`+
		`   2# "stream" => "account:1"\n`+
		`   3# "version" => \(integer\) 1\n`+
		`   4# "type" => "AccountOpened"\n`+
		`   5# "data" => "\{\\"name\\":\\"Alice\\"\}"\n`+
		`   6# "meta" => "\{\}"\n`+
		`   7# "id" => ""\n`+
		`   8# "time" => \(integer\) \d{13}\n`, "redis-cli -3 EVENT.READ")

	expect(cli("EVENT.VERSION", "account:1"), "(integer) 1\n", "EVENT.VERSION")
	expect(cli("EVENT.VERSION", "account:2"), "(integer) 0\n", "EVENT.VERSION of a missing stream")
	expect(cli("PING"), "PONG\n", "PING")
	expect(cli("-3", "PING"), "PONG\n", "redis-cli -3 PING")
	expect(cli("ECHO", "hello world"), "\"hello world\"\n", "ECHO")
	expect(cli("nosuch", "a", "b"), "(error) ERR unknown command 'nosuch', with args beginning with: 'a' 'b' \n", "unknown command")
	expect(cli("event.append", "account:1"), "(error) ERR wrong number of arguments for 'event.append' command\n", "wrong arity")
	expect(cli("SELECT", "0"), "OK\n", "SELECT 0")
	expect(cli("CONFIG", "GET", "appendonly"), "1) \"appendonly\"\n2) \"yes\"\n", "CONFIG GET appendonly")

	// INFO without --no-raw prints the text as it is.
	info, _ := runTool(t, cliPath, "-p", port, "INFO")
	match(info, `(?s)# Server\r\nredis_version:\d+\.\d+\.\d+\r\n.*`, "INFO starts with # Server and redis_version")
	for _, section := range []string{"# Clients", "# Memory", "# Persistence", "# Stats", "# Replication", "# Keyspace"} {
		if !strings.Contains(info, section+"\r\n") {
			t.Errorf("INFO has no %q section", section)
		}
	}
	persistence, _ := runTool(t, cliPath, "-p", port, "INFO", "persistence")
	if !strings.Contains(persistence, "\r\nlog_last_position:1\r\n") {
		t.Errorf("INFO persistence lacks log_last_position:1:\n%s", persistence)
	}
}
