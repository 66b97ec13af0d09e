package main

import (
	"math"
	"regexp"
	"slices"
	"testing"
	"time"
)

func TestParseBenchmarkCSV(t *testing.T) {
	header := `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"` + "\n"
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	for _, tc := range []struct {
		name, out string
		want      latency
		ok        bool
	}{
		{"GET", header + `"GET k:__rand_int__","625000.00","1.108","0.200","0.879","1.687","5.663","5.767"` + "\n",
			latency{625000, ms(0.879), ms(5.663)}, true},
		// redis-benchmark does not escape the quotes of a JSON argument.
		{"JSON argument", header + `"EVENT.APPEND account:__rand_int__ BalanceIncreased {"amount":1}","20408.16","2.102","0.440","1.767","4.063","7.815","10.999"` + "\n",
			latency{20408.16, ms(1.767), ms(7.815)}, true},
		{"no header", `"GET","1.0"` + "\n", latency{}, false},
		{"no data", header, latency{}, false},
		{"no percentiles", `"test","rps"` + "\n" + `"GET","1.0"` + "\n", latency{}, false},
		{"empty", "", latency{}, false},
	} {
		got, err := parseBenchmarkCSV([]byte(tc.out))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s: got %v, %v; want %v (ok %v)", tc.name, got, err, tc.want, tc.ok)
		}
	}
}

func TestLatency(t *testing.T) {
	took := make([]time.Duration, 200)
	for i := range took {
		took[i] = time.Duration(200-i) * time.Microsecond // 200µs down to 1µs
	}
	l := latencyOf(took, time.Second/10)
	if l.rps != 2000 || l.p50 != 100*time.Microsecond || l.p99 != 198*time.Microsecond {
		t.Errorf("latencyOf: %+v", l)
	}
	if took[0] != 200*time.Microsecond {
		t.Error("latencyOf sorted its input")
	}
	if p := percentile([]time.Duration{7}, 99); p != 7 {
		t.Errorf("percentile of one: %v", p)
	}
	if s := (latency{12345.6, 71 * time.Microsecond, 2345 * time.Microsecond}).String(); s != "12,346 req/s, p50 71 µs, p99 2.35 ms" {
		t.Errorf("String: %q", s)
	}
	if s := (latency{1.64, 621 * time.Millisecond, 1028 * time.Millisecond}).String(); s != "1.6 req/s, p50 621 ms, p99 1028 ms" {
		t.Errorf("String: %q", s)
	}
	m := medianLatency([]latency{{3, 1, 9}, {1, 2, 8}, {2, 3, 7}})
	if m != (latency{2, 2, 8}) {
		t.Errorf("medianLatency: %+v", m)
	}
	if got := shellLine([]string{"ENTITY.ALL", "account", "WHERE", "balance > 100", "it's"}); got != `ENTITY.ALL account WHERE 'balance > 100' 'it'\''s'` {
		t.Errorf("shellLine: %s", got)
	}
}

func TestParseLogfmt(t *testing.T) {
	got := parseLogfmt(`time=2026-11-28T05:24:05.768Z level=INFO msg="loading done" events=1000 seconds=0.41 events_per_sec=241752 note="a \"q\""`)
	want := map[string]string{"time": "2026-11-28T05:24:05.768Z", "level": "INFO", "msg": "loading done",
		"events": "1000", "seconds": "0.41", "events_per_sec": "241752", "note": `a "q"`}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{7}, 7}} {
		in := slices.Clone(tc.in)
		if got := median(in); got != tc.want || !slices.Equal(in, tc.in) {
			t.Errorf("median(%v) = %v, want %v (input kept)", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median(nil) is not NaN")
	}
}

func TestVerdict(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		r    result
		want string
	}{
		{result{foldb: 90, redis: 100, compared: true, floor: 0.8, goal: 1.2}, "PASS"},
		{result{foldb: 70, redis: 100, compared: true, floor: 0.8, goal: 1.2}, "FAIL"},
		{result{foldb: 130, redis: 100, compared: true, floor: 0.8, goal: 1.2}, "PASS (goal met)"},
		{result{foldb: 200, redis: 100, compared: true, lowerBetter: true, floor: 1.5, goal: 0.8}, "FAIL"},
		{result{foldb: 140, redis: 100, compared: true, lowerBetter: true, floor: 1.5, goal: 0.8}, "PASS"},
		{result{foldb: 400_000, redis: nan, floor: 500_000, goal: 2_000_000}, "FAIL"},
		{result{foldb: 2.5, redis: nan, lowerBetter: true, floor: 3, goal: 1}, "PASS"},
		{result{foldb: 2.5, redis: nan, floor: nan, goal: nan}, "—"},
	} {
		if got := tc.r.verdict(); got != tc.want {
			t.Errorf("%+v: verdict %q, want %q", tc.r, got, tc.want)
		}
	}
}

func TestData(t *testing.T) {
	for _, i := range []int{0, 42, getKeys - 1} {
		if v := value100(i); len(v) != 100 {
			t.Errorf("value100(%d) is %d bytes: %s", i, len(v), v)
		}
	}
	if keyID(42) != "000000000042" {
		t.Errorf("keyID(42) = %q", keyID(42))
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, i := range []int{1, 2, 1_000_000} {
		if u := accountUUID(i); !uuid.MatchString(u) {
			t.Errorf("accountUUID(%d) = %q", i, u)
		}
	}
	if count(1234567) != "1,234,567" || count(999) != "999" || count(-1000) != "-1,000" {
		t.Errorf("count: %s %s %s", count(1234567), count(999), count(-1000))
	}
}

// TestBalanceEvents checks that the extra events come to the asked number,
// that every account's events stay on one worker, and that they start with
// an increase and alternate.
func TestBalanceEvents(t *testing.T) {
	const accounts, extra, workers = 7, 30, 3
	n := 0
	owner := map[string]int{}
	last := map[string]string{}
	for w, seq := range balanceEvents(accounts, extra, workers) {
		for args := range seq {
			n++
			stream, ev := args[1].(string), args[2].(string)
			if o, ok := owner[stream]; ok && o != w {
				t.Fatalf("%s on workers %d and %d", stream, o, w)
			}
			owner[stream] = w
			want := "BalanceIncreased"
			if last[stream] == "BalanceIncreased" {
				want = "BalanceDecreased"
			}
			if ev != want {
				t.Fatalf("%s: %s after %q", stream, ev, last[stream])
			}
			last[stream] = ev
		}
	}
	if n != extra || len(owner) != accounts {
		t.Fatalf("%d events over %d accounts, want %d over %d", n, len(owner), extra, accounts)
	}
}

func TestParseCounts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"1000,100000,10000000", []int{1000, 100000, 10000000}},
		{" 7 , 5", []int{7, 5}},
		{"42", []int{42}},
		{"", nil},
		{"1000,", nil},
		{"0", nil},
		{"-5", nil},
		{"1e6", nil},
		{"10,10", nil},
	} {
		got, err := parseCounts(tc.in)
		if (err == nil) != (tc.want != nil) || !slices.Equal(got, tc.want) {
			t.Errorf("parseCounts(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestAppendLines checks that row 2 has a line per client count and -r,
// each with its own floor, and that a line below its floor fails alone.
func TestAppendLines(t *testing.T) {
	lines := appendLines([]int{1000, 100000, 10000000})
	want := []appendLine{
		{50, 1000, 0.9, 1.5}, {50, 100000, 0.9, 1.5}, {50, 10000000, 0.9, 1.5},
		{1, 1000, 1.0, 1.2}, {1, 100000, 1.0, 1.2}, {1, 10000000, 1.0, 1.2},
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("appendLines: %v, want %v", lines, want)
	}
	if got := lines[2].name(); got != "EVENT.APPEND (always) vs XADD (appendfsync always), 50 clients, -r 10000000" {
		t.Errorf("name: %q", got)
	}
	if got := lines[3].name(); got != "EVENT.APPEND (always) vs XADD (appendfsync always), 1 client, -r 1000" {
		t.Errorf("name: %q", got)
	}
	// foldb at 95% of Redis: enough at 50 clients, not at 1 client.
	var verdicts []string
	for _, l := range lines {
		r := throughput(2, l.name(), []float64{95}, []float64{100}, l.floor, l.goal)
		verdicts = append(verdicts, r.verdict())
	}
	if !slices.Equal(verdicts, []string{"PASS", "PASS", "PASS", "FAIL", "FAIL", "FAIL"}) {
		t.Errorf("verdicts at 0.95: %v", verdicts)
	}
	if len(appendLines(nil)) != 0 {
		t.Error("appendLines(nil) has lines")
	}
}

// TestMemoryLines checks that both memory lines are judged against Redis's
// growth, each on its own floor.
func TestMemoryLines(t *testing.T) {
	const mb = 1_000_000
	lines := memoryLines(1000, memoryRSS{
		redisEmpty: 10 * mb, redisFull: 110 * mb, // 100,000 B/account
		foldbEmpty: 20 * mb, foldbLoaded: 190 * mb, foldbRestarted: 90 * mb, // 170,000 and 70,000
	})
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, want := range []struct {
		work         string
		foldb, ratio float64
		verdict      string
		floor        float64
	}{
		{"memory for 1,000 accounts vs Redis HSET, right after the load", 170_000, 1.7, "FAIL", 1.2},
		{"memory for 1,000 accounts vs Redis HSET, after a restart", 70_000, 0.7, "PASS", 0.8},
	} {
		l := lines[i]
		if l.row != 3 || l.work != want.work || l.foldb != want.foldb || l.redis != 100_000 || math.Abs(l.figure()-want.ratio) > 1e-9 ||
			!l.judged() || l.floor != want.floor || l.verdict() != want.verdict {
			t.Errorf("line %d: %+v (ratio %v, verdict %s), want %+v", i, l, l.figure(), l.verdict(), want)
		}
	}
	if lines[0].goal != 0.8 || lines[1].goal != 0.6 {
		t.Errorf("goals %v and %v, want 0.8 and 0.6", lines[0].goal, lines[1].goal)
	}
	if got := lines[1].format(lines[1].foldb); got != "70000 B/account" {
		t.Errorf("format: %q", got)
	}
}
