package conformance

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
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
	run := func(t *testing.T, args ...string) {
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
	t.Run("phpredis", func(t *testing.T) {
		needTool(t, "php-redis")
		run(t, "php/phpredis.php", port)
	})
	t.Run("predis", func(t *testing.T) {
		run(t, "php/predis.php", port, needTool(t, "predis"))
	})
}
