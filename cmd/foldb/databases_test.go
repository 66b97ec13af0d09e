package main

import (
	"strings"
	"testing"

	"github.com/foldb/foldb/sqlproj/sqldb"
)

func TestDatabasesSetting(t *testing.T) {
	clearEnv(t)
	t.Setenv("FOLDB_DATABASES_REPORTS_DSN", "postgres://u:secret@127.0.0.1/r")
	t.Setenv("FOLDB_DATABASES_LOCAL_PATH", "override.db")
	o, list, _, err := load(t, "databases:\n  local: {driver: sqlite, path: local.db}\n  other: {path: o.db}\n")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]sqldb.Config{
		"reports": {Driver: "postgres", DSN: "postgres://u:secret@127.0.0.1/r"},
		"local":   {Driver: "sqlite", Path: "override.db"},
		"other":   {Driver: "sqlite", Path: "o.db"},
	}
	if len(o.Databases) != len(want) {
		t.Fatalf("databases %+v", o.Databases)
	}
	for n, c := range want {
		if o.Databases[n] != c {
			t.Errorf("database %s: %+v, want %+v", n, o.Databases[n], c)
		}
	}
	var shown []string
	for _, r := range list {
		if r.s == databaseSetting {
			shown = append(shown, r.value+" <- "+r.from)
		}
	}
	got := strings.Join(shown, "\n")
	if strings.Contains(got, "secret") || !strings.Contains(got, "reports: driver=postgres dsn=(set) <- env FOLDB_DATABASES_REPORTS") || !strings.Contains(got, "local: driver=sqlite path=override.db <- file") {
		t.Fatalf("foldb config shows:\n%s", got)
	}

	for _, bad := range []string{
		"databases: [a]\n",
		"databases:\n  x: {driver: oracle, dsn: y}\n",
		"databases:\n  x: {host: y}\n",
		"databases:\n  x: {}\n",
		"databases:\n  x: {driver: postgres}\n",
	} {
		if _, _, _, err := load(t, bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
