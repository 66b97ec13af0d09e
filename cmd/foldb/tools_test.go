package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/snapshot"
	"github.com/foldb/foldb/state"
)

func run(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := rootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

const schema = `
entities:
  account:
    initial: {balance: 0}
    when:
      BalanceIncreased: {set: {balance: balance + event.amount}}
events:
  BalanceIncreased: {version: 2}
`

// fill makes a data dir with events, a schema and a snapshot in the middle.
func fill(t *testing.T) string {
	dir := t.TempDir()
	if err := populate(t, dir)(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// populate writes into dir a schema, 50 events in 7 streams, a snapshot,
// and 10 more events, and returns what closes the log. Until then the
// events are in the journal only: the schema's storing flushed Pebble
// before the first of them.
func populate(t testing.TB, dir string) (closeLog func() error) {
	l, err := eventlog.Open(dir, eventlog.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	text := schema
	eng := state.NewEngine(l, toolLogger())
	if err := eng.Load(&text, nil); err != nil {
		t.Fatal(err)
	}
	add := func(i int) {
		a := &eventlog.Append{Stream: fmt.Sprintf("account:%d", i%7), ID: fmt.Sprintf("id-%d", i), Meta: []byte(`{"by":"<test>"}`),
			Events: []eventlog.Proposed{{Type: "BalanceIncreased", Data: []byte(fmt.Sprintf(`{"amount":%d, "note":"a&b"}`, i))}}}
		l.Append(a)
		if a.Result.Err != nil {
			t.Fatal(a.Result.Err)
		}
	}
	for i := 0; i < 50; i++ {
		add(i)
	}
	m, err := snapshot.NewManager(snapshot.DefaultOptions(filepath.Join(dir, "snapshots")), l, eng, toolLogger())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Save(); err != nil {
		t.Fatal(err)
	}
	for i := 50; i < 60; i++ {
		add(i)
	}
	m.Close()
	return l.Close
}

func TestVerifyExportImport(t *testing.T) {
	dir := fill(t)
	out, err := run(t, "", "verify", "--dir", dir)
	if err != nil || !strings.Contains(out, "60 events in 7 streams") || !strings.Contains(out, "equals a replay") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	exp, err := run(t, "", "export", "--dir", dir)
	if err != nil || strings.Count(exp, "\n") != 60 {
		t.Fatalf("export: %v\n%s", err, exp)
	}
	if !strings.Contains(exp, `"note":"a&b"`) || !strings.Contains(exp, `"meta":{"by":"<test>"}`) || !strings.Contains(exp, `"id":"id-3"`) || strings.Count(exp, `"typeversion":2`) != 60 {
		t.Fatalf("export changed the events:\n%s", exp[:300])
	}
	copyDir := filepath.Join(t.TempDir(), "copy")
	if out, err := run(t, exp, "import", "--dir", copyDir); err != nil {
		t.Fatalf("import: %v %s", err, out)
	}
	again, err := run(t, "", "export", "--dir", copyDir)
	if err != nil || again != exp {
		t.Fatalf("export of the import differs: %v", err)
	}
	if _, err := run(t, exp, "import", "--dir", copyDir); err == nil || !strings.Contains(err.Error(), "--append") {
		t.Fatalf("import into a non-empty dir: %v", err)
	}
	if _, err := run(t, exp, "import", "--dir", copyDir, "--append"); err != nil {
		t.Fatalf("import --append: %v", err)
	}
	if out, err := run(t, "", "verify", "--dir", copyDir); err != nil || !strings.Contains(out, "120 events") {
		t.Fatalf("verify after append: %v %s", err, out)
	}
	// An idempotency ID survives the round trip.
	l, err := eventlog.Open(copyDir, eventlog.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	a := &eventlog.Append{Stream: "account:3", ID: "id-3", Events: []eventlog.Proposed{{Type: "BalanceIncreased", Data: []byte(`{"amount":1}`)}}}
	l.Append(a)
	l.Close()
	if !a.Result.Duplicate {
		t.Fatalf("idempotency lost in import: %+v", a.Result)
	}
}

func TestVerifyFindsDamage(t *testing.T) {
	dir := fill(t)
	list, _ := snapshot.List(filepath.Join(dir, "snapshots"))
	raw, _ := os.ReadFile(list[0].Path)
	raw[len(raw)/2] ^= 0xff
	os.WriteFile(list[0].Path, raw, 0o600)
	if _, err := run(t, "", "verify", "--dir", dir); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("verify of a damaged snapshot: %v", err)
	}
}

func TestImportRefusesBadLines(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"not JSON":      "{nope\n",
		"bad data":      `{"stream":"a:1","type":"T","data":[1]}` + "\n",
		"gap":           `{"position":2,"stream":"a:1","version":1,"type":"T","data":{}}` + "\n",
		"bad stream":    `{"position":1,"stream":"a","version":1,"type":"T","data":{}}` + "\n",
		"version jumps": `{"position":1,"stream":"a:1","version":2,"type":"T","data":{}}` + "\n",
	}
	for name, in := range cases {
		d := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if _, err := run(t, in, "import", "--dir", d); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSettingsLayering(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "foldb.yaml")
	os.WriteFile(cfg, []byte("port: 7001\nbind: 127.0.0.2\ndurability: everysec\nmax-event-size: 2048\n"), 0o600)
	t.Setenv("FOLDB_PORT", "7002")
	t.Setenv("FOLDB_MAXCLIENTS", "55")
	cmd := serveCommand()
	cmd.Flags().Parse([]string{"--config", cfg, "--bind", "127.0.0.3"})
	o, _, err := loadOptions(cmd.Flags())
	if err != nil {
		t.Fatal(err)
	}
	// flag > env > file > default
	if o.Bind != "127.0.0.3" || o.Port != 7002 || o.Durability != eventlog.DurabilityEverySec || o.MaxEventSize != 2048 || o.MaxClients != 55 || o.Dir != "./data" {
		t.Fatalf("options %+v", o)
	}
	t.Setenv("FOLDB_DURABILITY", "sometimes")
	if _, _, err := loadOptions(cmd.Flags()); err == nil {
		t.Fatal("bad durability accepted")
	}
}
