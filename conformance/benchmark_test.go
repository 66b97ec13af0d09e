package conformance

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/foldb/foldb/internal/testkit"
)

// TestRedisBenchmark runs redis-benchmark's custom-command mode against
// EVENT.APPEND and checks that every request became exactly one event.
func TestRedisBenchmark(t *testing.T) {
	bench := needTool(t, "redis-benchmark")
	s := startServer(t, "")
	c := s.Client(2)
	before := testkit.InfoInt(t, c, "everything", "log_last_position")

	const requests = 10000
	// redis-benchmark 7 exits with status 1 at the first error reply, which runTool reports.
	out, errOut := runTool(t, bench, "-p", strconv.Itoa(s.Port), "-n", strconv.Itoa(requests), "-c", "20", "-r", "1000",
		"EVENT.APPEND", "account:__rand_int__", "BalanceIncreased", `{"amount":1}`)
	if errOut != "" {
		t.Errorf("redis-benchmark wrote to stderr:\n%s", errOut)
	}
	for _, bad := range []string{"WARNING", "Could not fetch server CONFIG", "Error", "ERR"} {
		if strings.Contains(out, bad) {
			t.Errorf("redis-benchmark's output holds %q:\n%s", bad, out)
		}
	}
	// redis-benchmark asks CONFIG GET save and appendonly at start and prints them.
	if !strings.Contains(out, `host configuration "appendonly": yes`) {
		t.Errorf("redis-benchmark did not show appendonly from CONFIG GET:\n%s", out)
	}
	if m := regexp.MustCompile(`(\d+) requests completed in ([\d.]+) seconds`).FindStringSubmatch(out); m == nil || m[1] != strconv.Itoa(requests) {
		t.Errorf("redis-benchmark did not complete %d requests:\n%s", requests, out)
	}
	if m := regexp.MustCompile(`throughput summary: ([\d.]+) requests per second`).FindStringSubmatch(out); m != nil {
		t.Logf("EVENT.APPEND, 20 clients, durability always: %s requests per second (race detector: %v)", m[1], raceEnabled)
	}

	after := testkit.InfoInt(t, c, "everything", "log_last_position")
	if after-before != requests {
		t.Fatalf("log_last_position went from %d to %d: %d events for %d requests", before, after, after-before, requests)
	}
	evs := readLog(t, c, 1, 1000)
	if int64(len(evs)) != after {
		t.Fatalf("EVENT.RANGE returned %d events, INFO says the last position is %d", len(evs), after)
	}
	// __rand_int__ becomes a 12-digit number below 1000.
	stream := regexp.MustCompile(`^account:0{9}\d{3}$`)
	for _, e := range evs[before:] {
		var data map[string]any
		json.Unmarshal([]byte(e.Data), &data)
		if !stream.MatchString(e.Stream) || e.Type != "BalanceIncreased" || len(data) != 1 || data["amount"] != 1.0 || e.Meta != "{}" || e.ID != "" {
			t.Fatalf("unexpected event %+v", e)
		}
	}
}
