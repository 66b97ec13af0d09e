package conformance

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit"
)

// TestPHPClients runs php/phpredis.php and php/predis.php, one for each PHP
// client foldb supports, against one server: EXPECT, WRONGVERSION as an
// error with its text, EVENT.READ, ID idempotency, bad JSON, META,
// pipelining.
func TestPHPClients(t *testing.T) {
	t.Parallel()
	needTool(t, "php")
	s := startServer(t, "")
	port := strconv.Itoa(s.Port)
	t.Run("phpredis", func(t *testing.T) {
		needTool(t, "php-redis")
		runPHPChecks(t, "php/phpredis.php", port)
	})
	t.Run("predis", func(t *testing.T) {
		runPHPChecks(t, "php/predis.php", port, needTool(t, "predis"))
	})
}

// TestPHPTransactions runs php/multi-phpredis.php and php/multi-predis.php
// against one server with the bank's schema, one after the other (both read
// the bank's totals): the shapes each client library gives EXEC's replies
// (written, refused at EXEC, refused while queuing, reads, WATCH), then the
// bank's transfers over each client (php/transfers.php): a refused one
// writes neither leg, the refused append's own error and its place.
func TestPHPTransactions(t *testing.T) {
	t.Parallel()
	needTool(t, "php")
	s := startServer(t, "", "--schema", testkit.BankSchemaPath(t))
	port := strconv.Itoa(s.Port)
	t.Run("phpredis", func(t *testing.T) {
		needTool(t, "php-redis")
		runPHPChecks(t, "php/multi-phpredis.php", port)
	})
	t.Run("predis", func(t *testing.T) {
		runPHPChecks(t, "php/multi-predis.php", port, needTool(t, "predis"))
	})
}

// runPHPChecks runs a PHP script of php/, which prints a line per check and
// PASS at the end, and fails the test unless it gets there within a minute.
func runPHPChecks(t *testing.T, args ...string) {
	t.Helper()
	php := needTool(t, "php")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, php, args...).CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || lines[len(lines)-1] != "PASS" {
		t.Fatalf("php %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("%s: %d checks passed", args[0], len(lines)-1)
}
