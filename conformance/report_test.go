package conformance

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/internal/testkit/pgtest"
	"github.com/redis/go-redis/v9"
)

// TestBankReport runs examples/php/bank/report.php, which reads the
// accounts table with PDO, against a foldb started with schema-sql.yaml
// (checkBankReport says what it checks), the tables in sqlite.db.
func TestBankReport(t *testing.T) {
	t.Parallel()
	php := needTool(t, "php-redis")
	needPHPExtension(t, php, "pdo_sqlite")
	s := startServer(t, "", "--schema", bankSQLSchemaPath(t))
	checkBankReport(t, s, php, "sqlite:"+filepath.Join(s.Dir, "sqlite.db"))
}

// TestBankReportPostgres is TestBankReport with the tables in PostgreSQL:
// the schema names the database reports, which FOLDB_DATABASES_REPORTS_DSN
// gives the server, and report.php reads it with a pgsql: DSN. (Not
// parallel: t.Setenv.)
func TestBankReportPostgres(t *testing.T) {
	php := needTool(t, "php-redis")
	needPHPExtension(t, php, "pdo_pgsql")
	dsn := pgtest.Start(t).NewDatabase(t)
	text, err := os.ReadFile(bankSQLSchemaPath(t))
	if err != nil {
		t.Fatal(err)
	}
	pgSchema := strings.ReplaceAll(string(text), "database: sqlite", "database: reports")
	if pgSchema == string(text) {
		t.Fatal("schema-sql.yaml names no database: sqlite")
	}
	path := filepath.Join(t.TempDir(), "schema.yaml")
	if err := os.WriteFile(path, []byte(pgSchema), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FOLDB_DATABASES_REPORTS_DSN", dsn) // the server inherits the environment
	s := startServer(t, "", "--schema", path)
	if st := projectionStatus(t, s.Client(3), "accounts"); st["driver"] != "postgres" {
		t.Fatalf("PROJECTION.STATUS accounts = %v; want the driver postgres", st)
	}
	checkBankReport(t, s, php, "pgsql:"+strings.ReplaceAll(dsn, " ", ";"))
}

// checkBankReport runs report.php with dsn over and over while
// run-load.sh moves money (each report must be exactly the fold of the log
// up to the position it says it is as of), then once the load is done and
// PROJECTION.WAIT has the log's head (the report must be exactly
// ENTITY.ALL account, and its total their sum).
func checkBankReport(t *testing.T, s *Server, php, dsn string) {
	t.Helper()
	dir := testkit.RepoPath(t, "examples", "php", "bank")
	c := s.Client(2)
	// The tables exist once built (PROJECTION.WAIT 0 does not wait for that).
	testkit.WaitForWithin(t, time.Minute, "the projections' first build", func() bool {
		for _, name := range []string{"accounts", "ledger"} {
			if st := projectionInfo(t, c, name); st["state"] != "live" || st["generation"] == "0" {
				return false
			}
		}
		return true
	})

	reports := make(chan []string)
	stop := make(chan struct{})
	go func() {
		var outs []string
		for {
			select {
			case <-stop:
				reports <- outs
				return
			default:
			}
			out, err := runReport(php, dir, dsn)
			if err != nil {
				out = "ERROR " + err.Error()
			}
			outs = append(outs, out)
		}
	}()
	runBankLoad(t, dir, s, "phpredis", "FOLDB_PHP="+php)
	close(stop)
	during := <-reports

	evs := readLog(t, c, 1, 1000)
	checked := 0
	for _, out := range during {
		if strings.HasPrefix(out, "ERROR ") {
			t.Errorf("report.php during the load: %s", out)
			continue
		}
		rep := parseReport(t, out)
		if rep.position > int64(len(evs)) {
			t.Errorf("a report as of position %d, the log has %d events", rep.position, len(evs))
			continue
		}
		compareReport(t, fmt.Sprintf("the report as of position %d", rep.position), rep, foldAccounts(t, evs[:rep.position]))
		checked++
	}
	t.Logf("%d reports during the load, each the fold of the log up to its position", checked)
	if checked == 0 {
		t.Errorf("no report ran during the load")
	}

	head := int64(len(evs))
	waitProjections(t, c, head)
	out, err := runReport(php, dir, dsn)
	if err != nil {
		t.Fatal(err)
	}
	rep := parseReport(t, out)
	if rep.position != head {
		t.Errorf("the report is as of position %d after PROJECTION.WAIT %d", rep.position, head)
	}
	want := entityAccounts(t, c)
	compareReport(t, "the report after the load", rep, want)
	if fold := foldAccounts(t, evs); len(fold) != len(want) {
		t.Errorf("ENTITY.ALL account has %d accounts, the log's fold %d", len(want), len(fold))
	}
	t.Logf("report after the load:\n%s", out)
}

// waitProjections waits for the bank's projections to have the log up to
// position.
func waitProjections(t *testing.T, c *redis.Client, position int64) {
	t.Helper()
	for _, name := range []string{"accounts", "ledger"} {
		v, err := c.Do(context.Background(), "PROJECTION.WAIT", name, position, 60000).Result()
		if err != nil || v.(int64) < position {
			t.Fatalf("PROJECTION.WAIT %s %d = %v, %v", name, position, v, err)
		}
	}
}

// needPHPExtension skips the test (fails it under FOLDB_REQUIRE_TOOLS=1)
// when php lacks the extension.
func needPHPExtension(t *testing.T, php, ext string) {
	t.Helper()
	out, err := exec.Command(php, "-r", fmt.Sprintf(`echo extension_loaded(%q) ? "yes" : "no";`, ext)).CombinedOutput()
	if err == nil && string(out) == "yes" {
		return
	}
	msg := fmt.Sprintf("%s has no %s extension (%v: %s; DEVELOPERS.md lists the apt packages CI installs)", php, ext, err, out)
	if os.Getenv("FOLDB_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s; FOLDB_REQUIRE_TOOLS=1 makes a missing tool fail the test", msg)
	}
	t.Skip(msg)
}

// runReport runs report.php from a directory of its own, with the DSN as
// its argument.
func runReport(php, dir, dsn string, env ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, php, filepath.Join(dir, "report.php"), dsn)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("php report.php %s: %v\n%s%s", dsn, err, out, stderr.String())
	}
	return string(out), nil
}

// report is what report.php printed.
type report struct {
	position int64
	accounts map[string]accountRow
	order    []int64 // the balances, in the order printed
	total    int64
	count    int
}

var (
	reportHead  = regexp.MustCompile(`^accounts of (sqlite|pgsql), as of log position (\d+)$`)
	reportRow   = regexp.MustCompile(`^(\S+) +(-?\d+)  (.*)$`)
	reportTotal = regexp.MustCompile(`^total +(-?\d+)  (\d+) accounts$`)
)

func parseReport(t *testing.T, out string) report {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("report.php printed:\n%s", out)
	}
	m := reportHead.FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("report.php's first line is %q", lines[0])
	}
	r := report{accounts: map[string]accountRow{}}
	r.position, _ = strconv.ParseInt(m[2], 10, 64)
	if !strings.HasPrefix(lines[1], "account ") {
		t.Fatalf("report.php's second line is %q", lines[1])
	}
	m = reportTotal.FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("report.php's last line is %q", lines[len(lines)-1])
	}
	r.total, _ = strconv.ParseInt(m[1], 10, 64)
	r.count, _ = strconv.Atoi(m[2])
	for _, line := range lines[2 : len(lines)-1] {
		m := reportRow.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("report.php printed the line %q", line)
		}
		balance, _ := strconv.ParseInt(m[2], 10, 64)
		if _, dup := r.accounts[m[1]]; dup {
			t.Errorf("report.php printed account %s twice", m[1])
		}
		r.accounts[m[1]] = accountRow{name: sql.NullString{String: m[3], Valid: m[3] != ""}, balance: balance}
		r.order = append(r.order, balance)
	}
	return r
}

// compareReport checks a report against the accounts it must show.
func compareReport(t *testing.T, what string, r report, want map[string]accountRow) {
	t.Helper()
	var sum int64
	for _, w := range want {
		sum += w.balance
	}
	if r.total != sum || r.count != len(want) {
		t.Errorf("%s: total %d in %d accounts; want %d in %d", what, r.total, r.count, sum, len(want))
	}
	for i := 1; i < len(r.order); i++ {
		if r.order[i] > r.order[i-1] {
			t.Errorf("%s: not richest first: %d after %d", what, r.order[i], r.order[i-1])
			break
		}
	}
	bad := 0
	for _, id := range unionKeys(want, r.accounts) {
		w, ok := want[id]
		g, printed := r.accounts[id]
		switch {
		case !printed:
			t.Errorf("%s lacks account %s %v", what, id, w)
		case !ok:
			t.Errorf("%s has account %s %v, which should not be there", what, id, g)
		case g != w:
			t.Errorf("%s: account %s is %v; want %v", what, id, g, w)
		default:
			continue
		}
		if bad++; bad == 20 {
			t.Fatalf("%s: more accounts differ", what)
		}
	}
}

// foldAccounts folds the account events of evs as the bank's schema does.
func foldAccounts(t *testing.T, evs []event) map[string]accountRow {
	t.Helper()
	fold := map[string]accountRow{}
	for _, e := range evs {
		id, ok := strings.CutPrefix(e.Stream, "account:")
		if !ok {
			continue
		}
		a := fold[id]
		switch e.Type {
		case "AccountOpened":
			var data struct{ Name *string }
			if err := json.Unmarshal([]byte(e.Data), &data); err != nil {
				t.Fatalf("position %d: %s", e.Position, e.Data)
			}
			a.name = sql.NullString{}
			if data.Name != nil {
				a.name = sql.NullString{String: *data.Name, Valid: true}
			}
		case "BalanceIncreased":
			a.balance += wholeAmount(t, e)
		case "BalanceDecreased":
			a.balance -= wholeAmount(t, e)
		case "AccountClosed":
			delete(fold, id)
			continue
		}
		fold[id] = a
	}
	return fold
}
