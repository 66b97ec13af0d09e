package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foldb/foldb/server"
)

var update = flag.Bool("update", false, "rewrite the settings list of docs/operations.md from the table")

const (
	docsPath   = "../../docs/operations.md"
	docsBegin  = "<!-- settings: generated from server/config.go; go test ./cmd/foldb -run TestSettingsDocs -update rewrites it -->\n"
	docsFinish = "<!-- end of settings -->\n"
)

// TestSettingsDocs: the settings list of docs/operations.md is the table's
// (names, defaults, types, CONFIG SET, docs); -update rewrites it.
func TestSettingsDocs(t *testing.T) {
	raw, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	begin, end := strings.Index(doc, docsBegin), strings.Index(doc, docsFinish)
	if begin < 0 || end < begin {
		t.Fatalf("%s lacks the markers of its settings list:\n%s%s", docsPath, docsBegin, docsFinish)
	}
	begin += len(docsBegin)
	want := server.Settings().Markdown()
	if got := doc[begin:end]; got != want {
		if *update {
			if err := os.WriteFile(docsPath, []byte(doc[:begin]+want+doc[end:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("the settings list of %s differs from the table; run go test ./cmd/foldb -run TestSettingsDocs -update\n--- docs\n%s--- table\n%s", docsPath, got, want)
	}
	// Every name the table has is in the list, and what the list says of
	// it is what the table says: a check that does not trust Markdown.
	for _, s := range server.Settings().Settings() {
		line := ""
		for _, l := range strings.Split(want, "\n") {
			if strings.HasPrefix(l, "| `"+s.Name+"` |") {
				line = l
			}
		}
		if line == "" {
			t.Fatalf("%s is not in the docs", s.Name)
		}
		if !s.Compat && strings.Contains(line, "| yes |") != s.Runtime {
			t.Errorf("the docs say %s CONFIG SET = %v", s.Name, !s.Runtime)
		}
	}
}

// clearEnv unsets every setting's environment variable for the test.
func clearEnv(t *testing.T) {
	for _, s := range server.Settings().Settings() {
		t.Setenv(envName(s.Name), "") // restored after the test
		os.Unsetenv(envName(s.Name))
	}
}

// load runs the layering as serve does, with a config file holding file
// (none when empty) and the given flags.
func load(t *testing.T, file string, args ...string) (server.Options, []resolved, string, error) {
	t.Helper()
	path := ""
	if file != "" {
		path = filepath.Join(t.TempDir(), "foldb.yaml")
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", path)
	}
	cmd := serveCommand()
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	o, list, err := loadOptions(cmd.Flags())
	return o, list, path, err
}

// TestSettingsPrecedence: for one setting of each type, a flag wins over
// the environment, the environment over the file, the file over the
// default, and the source shown is the one whose value was taken.
func TestSettingsPrecedence(t *testing.T) {
	d := server.DefaultOptions()
	for _, tc := range []struct {
		name            string
		flag, env, file string // "" = not given in that layer
		from            string
		get             func(o server.Options) any
		wantValue       any
	}{
		{name: "port", from: "default", get: func(o server.Options) any { return o.Port }, wantValue: d.Port},
		{name: "port", file: "7001", from: "file", get: func(o server.Options) any { return o.Port }, wantValue: 7001},
		{name: "port", file: "7001", env: "7002", from: "env FOLDB_PORT", get: func(o server.Options) any { return o.Port }, wantValue: 7002},
		{name: "port", file: "7001", env: "7002", flag: "7003", from: "flag --port", get: func(o server.Options) any { return o.Port }, wantValue: 7003},
		{name: "port", file: "7001", flag: "0", from: "flag --port", get: func(o server.Options) any { return o.Port }, wantValue: 0},
		{name: "max-event-size", file: "2kb", from: "file", get: func(o server.Options) any { return o.MaxEventSize }, wantValue: 2048},
		{name: "max-event-size", file: "2kb", env: "3k", from: "env FOLDB_MAX_EVENT_SIZE", get: func(o server.Options) any { return o.MaxEventSize }, wantValue: 3000},
		{name: "proto-max-bulk-len", flag: "1gb", from: "flag --proto-max-bulk-len", get: func(o server.Options) any { return o.ProtoMaxBulkLen }, wantValue: int64(1 << 30)},
		{name: "timeout", file: "30", from: "file", get: func(o server.Options) any { return o.Timeout }, wantValue: 30 * time.Second},
		{name: "timeout", file: "30", env: "", from: "file", get: func(o server.Options) any { return o.Timeout }, wantValue: 30 * time.Second},
		{name: "snapshot-interval", env: "90m", from: "env FOLDB_SNAPSHOT_INTERVAL", get: func(o server.Options) any { return o.SnapshotInterval }, wantValue: 90 * time.Minute},
		{name: "snapshot-every", file: "0", from: "file", get: func(o server.Options) any { return o.SnapshotEvery }, wantValue: uint64(0)},
		{name: "durability", file: "everysec", flag: "none", from: "flag --durability", get: func(o server.Options) any { return o.Durability.String() }, wantValue: "none"},
		{name: "durability", env: "no", from: "env FOLDB_DURABILITY", get: func(o server.Options) any { return o.Durability.String() }, wantValue: "none"},
		{name: "requirepass", file: "from-file", env: "from-env", from: "env FOLDB_REQUIREPASS", get: func(o server.Options) any { return o.RequirePass }, wantValue: "from-env"},
		{name: "log-level", file: "debug", from: "file", get: func(o server.Options) any { return o.LogLevel.String() }, wantValue: "DEBUG"},
		{name: "dir", flag: "/tmp/x", env: "/tmp/y", from: "flag --dir", get: func(o server.Options) any { return o.Dir }, wantValue: "/tmp/x"},
	} {
		t.Run(tc.name+"/"+tc.from, func(t *testing.T) {
			clearEnv(t)
			var args []string
			if tc.flag != "" {
				args = append(args, "--"+tc.name, tc.flag)
			}
			file := ""
			if tc.file != "" {
				file = tc.name + ": " + tc.file + "\n"
			}
			if tc.env != "" || tc.from == "file" {
				t.Setenv(envName(tc.name), tc.env) // "" is unset
			}
			o, list, path, err := load(t, file, args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.get(o); got != tc.wantValue {
				t.Fatalf("%s = %v, want %v", tc.name, got, tc.wantValue)
			}
			from := tc.from
			if from == "file" {
				from = "file " + path
			}
			for _, r := range list {
				if r.s.Name == tc.name && r.from != from {
					t.Fatalf("%s comes from %q, want %q", tc.name, r.from, from)
				}
			}
		})
	}
}

// TestSettingsRefused: a value a setting does not take is refused from
// every layer, with the setting, what it takes and the layer named; so is
// a file key that is not a setting.
func TestSettingsRefused(t *testing.T) {
	for _, tc := range []struct {
		what, file string
		env        [2]string
		args       []string
		want       string
	}{
		{what: "flag", args: []string{"--maxclients", "0"}, want: `invalid argument "0" for "--maxclients" flag: must be a positive integer`},
		{what: "flag port", args: []string{"--port", "65536"}, want: "must be an integer from 0 to 65535"},
		{what: "flag size", args: []string{"--proto-max-bulk-len", "1000"}, want: "must be a size in bytes such as 1048576 or 1mb, at least 1mb"},
		{what: "env", env: [2]string{"FOLDB_TIMEOUT", "-1"}, want: `settings: timeout must be a whole number of seconds, 0 or more, not "-1" (env FOLDB_TIMEOUT)`},
		{what: "env enum", env: [2]string{"FOLDB_DURABILITY", "sometimes"}, want: "settings: durability must be one of always, everysec, none"},
		{what: "file", file: "snapshot-interval: soon\n", want: `settings: snapshot-interval must be a duration such as 90s or 12h, 0 or more, not "soon" (file `},
		{what: "file empty dir", file: "dir: ''\n", want: `settings: dir must be a non-empty string, not ""`},
		{what: "file unknown key", file: "prot: 7000\n", want: `"prot" is not a setting of the file`},
		{what: "file nested key", file: "snapshot:\n  keep: 3\n", want: `"snapshot.keep" is not a setting of the file`},
		{what: "file compat key", file: "appendonly: no\n", want: `"appendonly" is not a setting of the file`},
		{what: "file config key", file: "config: other.yaml\n", want: `"config" is not a setting of the file`},
		{what: "file list", file: "bind: [a, b]\n", want: "bind must be a single value"},
		{what: "package bound", args: []string{"--max-event-size", "10"}, want: "eventlog: max-event-size must be at least 64 bytes, not 10"},
		{what: "across settings", args: []string{"--max-event-size", "600mb"}, want: "server: max-event-size (629145600) must not exceed proto-max-bulk-len (536870912)"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			clearEnv(t)
			if tc.env[0] != "" {
				t.Setenv(tc.env[0], tc.env[1])
			}
			var err error
			cmd := serveCommand()
			if perr := cmd.Flags().Parse(tc.args); perr != nil {
				err = perr
			} else {
				_, _, _, err = load(t, tc.file, tc.args...)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := run(t, "", "config", "--config", filepath.Join(t.TempDir(), "none.yaml")); err == nil || !strings.Contains(err.Error(), "reading config") {
		t.Fatalf("a missing config file: %v", err)
	}
}

// TestConfigCommand: foldb config prints every setting of the table once,
// with its value and source, hides secrets, and fails as serve would.
func TestConfigCommand(t *testing.T) {
	clearEnv(t)
	t.Setenv("FOLDB_MAXCLIENTS", "55")
	t.Setenv("FOLDB_REQUIREPASS", "s3cret")
	cfg := filepath.Join(t.TempDir(), "foldb.yaml")
	os.WriteFile(cfg, []byte("port: 7001\nsnapshot-interval: 90m\n"), 0o600)
	out, err := run(t, "", "config", "--config", cfg, "--max-event-size", "2kb")
	if err != nil {
		t.Fatalf("foldb config: %v\n%s", err, out)
	}
	rows := map[string][]string{}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if h := strings.Fields(lines[0]); strings.Join(h, " ") != "setting value from CONFIG SET" {
		t.Fatalf("header %q", lines[0])
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if _, dup := rows[f[0]]; dup {
			t.Fatalf("%s listed twice:\n%s", f[0], out)
		}
		rows[f[0]] = f[1:]
	}
	for _, s := range server.Settings().Settings() {
		if _, ok := rows[s.Name]; ok == s.Compat {
			t.Errorf("%s listed: %v, compat: %v", s.Name, ok, s.Compat)
		}
	}
	for name, want := range map[string]string{
		"port":              "7001 file " + cfg,
		"maxclients":        "55 env FOLDB_MAXCLIENTS yes",
		"requirepass":       "(set) env FOLDB_REQUIREPASS yes",
		"max-event-size":    "2048 flag --max-event-size",
		"snapshot-interval": "1h30m file " + cfg,
		"config":            cfg + " flag --config",
		"bind":              "127.0.0.1 default",
		"schema":            `"" default`,
		"timeout":           "0 default yes",
	} {
		if got := strings.Join(rows[name], " "); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Fatalf("foldb config shows the password:\n%s", out)
	}
	if _, err := run(t, "", "config", "--port", "x"); err == nil {
		t.Fatal("foldb config took --port x")
	}
	t.Setenv("FOLDB_SNAPSHOT_KEEP", "0")
	if out, err := run(t, "", "config"); err == nil || !strings.Contains(err.Error(), "snapshot-keep") {
		t.Fatalf("foldb config with snapshot-keep 0: %v\n%s", err, out)
	}
}
