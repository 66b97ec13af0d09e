package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/internal/testkit/testserver"
	"github.com/foldb/foldb/server"
	"github.com/foldb/foldb/snapshot"
	"github.com/foldb/foldb/state"
	"github.com/foldb/foldb/streams"
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

// addGroups gives the log in dir consumer groups on four keys (pending
// entries of two consumers, one acknowledged, a consumer never given an
// entry, a group whose entries-read is unknown) and returns a crash image
// taken while they are in its journal only.
func addGroups(t *testing.T, dir string) string {
	t.Helper()
	l, err := eventlog.Open(dir, eventlog.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	gs, err := streams.OpenGroups(l, streams.NewReader(l))
	if err != nil {
		t.Fatal(err)
	}
	defer gs.Close()
	read := func(group, consumer string, count int, key string) *streams.ReadGroup {
		return &streams.ReadGroup{Group: group, Consumer: consumer, Count: count, Keys: []string{key}, From: []streams.ReadFrom{{New: true}}}
	}
	reqs := []streams.Request{
		&streams.GroupCreate{Key: "$ce-account", Group: "billing", EntriesRead: -1},
		read("billing", "w1", 5, "$ce-account"),
		read("billing", "w2", 3, "$ce-account"),
		&streams.Ack{Key: "$ce-account", Group: "billing", IDs: []streams.ID{streams.EntryID(2)}},
		&streams.ConsumerCreate{Key: "$ce-account", Group: "billing", Consumer: "idle"},
		&streams.GroupCreate{Key: "account:3", Group: "mail", EntriesRead: -1},
		read("mail", "m", 2, "account:3"),
		&streams.GroupCreate{Key: "$all", Group: "audit", ID: streams.EntryID(40), EntriesRead: -1},
		&streams.GroupCreate{Key: "$et-BalanceIncreased", Group: "late", Dollar: true, EntriesRead: 60},
	}
	gs.Do(reqs...)
	for _, r := range reqs {
		if err := r.Failed(); err != nil {
			t.Fatalf("%T: %v", r, err)
		}
	}
	crash := testkit.CrashImage(t, dir)
	if err := os.WriteFile(filepath.Join(crash, "LOCK"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return crash
}

// TestExportImportGroups: consumer groups go through export and import
// whole: a server on the imported folder answers XINFO GROUPS, XINFO
// STREAM FULL and XPENDING as one on the original does, and the import
// exports the same lines again. --no-groups leaves them out.
func TestExportImportGroups(t *testing.T) {
	orig := addGroups(t, fill(t))
	exp, err := run(t, "", "export", "--dir", orig)
	if err != nil {
		t.Fatalf("export: %v\n%s", err, exp)
	}
	lines := strings.Split(strings.TrimSuffix(exp, "\n"), "\n")
	if len(lines) != 64 {
		t.Fatalf("export has %d lines, want 60 events and 4 groups", len(lines))
	}
	for i, line := range lines {
		if strings.HasPrefix(line, `{"group":`) != (i >= 60) {
			t.Fatalf("line %d: %s", i+1, line)
		}
	}
	if want := `{"group":{"key":"account:3","name":"mail","last-delivered-id":"11-0","entries-read":2,"consumers":[{"name":"m",`; !strings.HasPrefix(lines[63], want) {
		t.Fatalf("group line %s, want it to start %s", lines[63], want)
	}
	if !strings.Contains(lines[60], `"name":"audit","last-delivered-id":"40-0","entries-read":null,"consumers":[],"pending":[]}}`) {
		t.Fatalf("group line %s", lines[60])
	}
	noGroups, err := run(t, "", "export", "--dir", orig, "--no-groups")
	if err != nil || noGroups != strings.Join(lines[:60], "\n")+"\n" {
		t.Fatalf("export --no-groups: %v\n%s", err, noGroups)
	}

	copyDir := filepath.Join(t.TempDir(), "copy")
	out, err := run(t, exp, "import", "--dir", copyDir)
	if err != nil || !strings.Contains(out, "imported 60 events and 4 consumer groups") {
		t.Fatalf("import: %v %s", err, out)
	}
	if again, err := run(t, "", "export", "--dir", copyDir); err != nil || again != exp {
		got := strings.Split(again, "\n")
		t.Errorf("export of the import differs: %v; its group lines:\n%s", err, strings.Join(got[min(60, len(got)):], "\n"))
	}

	ctx := context.Background()
	a := testserver.Start(t, func(o *server.Options) { o.Dir = orig }).R3
	b := testserver.Start(t, func(o *server.Options) { o.Dir = copyDir }).R3
	same := func(what string, x, y any, errX, errY error) {
		t.Helper()
		if errX != nil || errY != nil || !reflect.DeepEqual(x, y) {
			t.Errorf("%s: restored %+v (%v), original %+v (%v)", what, y, errY, x, errX)
		}
	}
	for _, key := range []string{"$ce-account", "account:3", "$all", "$et-BalanceIncreased"} {
		x, errX := a.XInfoGroups(ctx, key).Result()
		y, errY := b.XInfoGroups(ctx, key).Result()
		same("XINFO GROUPS "+key, x, y, errX, errY)
		fx, errX := a.XInfoStreamFull(ctx, key, 0).Result()
		fy, errY := b.XInfoStreamFull(ctx, key, 0).Result()
		same("XINFO STREAM FULL "+key, fx.Groups, fy.Groups, errX, errY)
		for _, g := range x {
			px, errX := a.XPending(ctx, key, g.Name).Result()
			py, errY := b.XPending(ctx, key, g.Name).Result()
			same("XPENDING "+key+" "+g.Name, px, py, errX, errY)
		}
	}
	if full, _ := b.XInfoStreamFull(ctx, "$ce-account", 0).Result(); len(full.Groups) != 1 || len(full.Groups[0].Pending) != 7 || len(full.Groups[0].Consumers) != 3 {
		t.Fatalf("the restored billing group: %+v", full.Groups)
	}
	// The restored group goes on where the original was.
	next, err := b.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "billing", Consumer: "w3", Streams: []string{"$ce-account", ">"}, Count: 1}).Result()
	if err != nil || len(next) != 1 || len(next[0].Messages) != 1 || next[0].Messages[0].ID != "9-0" {
		t.Fatalf("the next read of the restored group: %+v, %v", next, err)
	}
}

// TestImportRefusesBadGroups: a group line that cannot be restored is
// refused with its line number, as is an event after the groups.
func TestImportRefusesBadGroups(t *testing.T) {
	const event = `{"position":1,"stream":"a:1","version":1,"type":"T","data":{}}` + "\n"
	group := func(fields string) string {
		return `{"group":{"key":"a:1","name":"g","last-delivered-id":"1-0","entries-read":1,"consumers":[{"name":"c","seen-time":5,"active-time":5}],"pending":[` + fields + "]}}\n"
	}
	good := group(`{"id":"1-0","consumer":"c","delivery-time":5,"delivery-count":1}`)
	cases := map[string]struct{ in, want string }{
		"no such key":      {event + strings.Replace(good, `"a:1"`, `"nope"`, 1), "line 2: "},
		"bad ID":           {event + strings.Replace(good, `"1-0"`, `"x"`, 1), `line 2: consumer group "g" of "a:1": last-delivered-id: "x" is not an ID`},
		"entries-read":     {event + strings.Replace(good, `"entries-read":1`, `"entries-read":-3`, 1), "line 2: consumer group \"g\" of \"a:1\": entries-read -3"},
		"pending past log": {event + group(`{"id":"2-0","consumer":"c","delivery-time":5,"delivery-count":1}`), "line 2: streams: consumer group 'g' of 'a:1' cannot be restored: pending entry 2-0: past the log's newest position 1"},
		"pending owner":    {event + group(`{"id":"1-0","consumer":"x","delivery-time":5,"delivery-count":1}`), "line 2: streams: consumer group 'g' of 'a:1' cannot be restored: pending entry 1-0: its consumer 'x' is not one of the group's"},
		"twice":            {event + good + good, "line 3: streams: consumer group 'g' of 'a:1' cannot be restored: streams: consumer group name already exists"},
		"event after":      {event + good + event, "line 3: an event after the consumer groups"},
		"group and event":  {event + strings.Replace(good, `{"group"`, `{"stream":"a:1","group"`, 1), "line 2: a line holds a group and an event"},
		"not JSON":         {event + `{"group":{nope` + "\n", "line 2: "},
	}
	for name, c := range cases {
		d := filepath.Join(t.TempDir(), "d")
		_, err := run(t, c.in, "import", "--dir", d)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
	}
	if out, err := run(t, event+good, "import", "--dir", filepath.Join(t.TempDir(), "d")); err != nil || !strings.Contains(out, "1 consumer groups") {
		t.Fatalf("the good line: %v %s", err, out)
	}
}

// TestImportAppendSkipsGroups: with --append the events get new
// positions, so the groups of the export are not restored: the import
// says which it skipped, and the folder's own groups stay as they were.
func TestImportAppendSkipsGroups(t *testing.T) {
	orig := addGroups(t, fill(t))
	exp, err := run(t, "", "export", "--dir", orig)
	if err != nil {
		t.Fatal(err)
	}
	dir := fill(t)
	out, err := run(t, exp, "import", "--dir", dir, "--append")
	if err != nil || !strings.Contains(out, "warning: skipped 4 consumer group(s): with --append") ||
		!strings.Contains(out, "skipped billing of $ce-account (last-delivered-id 8-0 in the export, 7 pending)") ||
		!strings.Contains(out, "imported 60 events into") {
		t.Fatalf("import --append: %v\n%s", err, out)
	}
	after, err := run(t, "", "export", "--dir", dir)
	if err != nil || strings.Count(after, "\n") != 120 || strings.Contains(after, `{"group":`) {
		t.Fatalf("export after import --append: %v, %d lines", err, strings.Count(after, "\n"))
	}
}
