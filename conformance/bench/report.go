package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

type unit int

const (
	unitRPS unit = iota
	unitBytes
	unitEventsPerSec
	unitSeconds
	unitLatency  // requests/s, with p50 and p99 beside them
	unitDuration // nanoseconds, shown as µs or ms
	unitRowsPerSec
)

// result is one line of the table.
type result struct {
	row  int // of the performance budget, as BENCHMARKS.md numbers its rows
	work string
	// foldb and redis are the medians; redis is NaN for foldb-only rows.
	foldb, redis float64
	unit         unit
	// compared rows are judged on foldb/Redis, the others on foldb's figure.
	compared    bool
	lowerBetter bool
	// floor and goal are NaN for lines shown for information only.
	floor, goal         float64
	values, redisValues []float64 // every round
	lats, redisLats     []latency // every round, for unitLatency
	cells               [2]string // the table's foldb and Redis cells, when set
	peer                string    // what the Redis column holds, when not Redis (the details name it)
	detail              string
}

// latency is one run at 1 client: requests/s and percentiles of the time
// from sending a request to reading its reply.
type latency struct {
	rps      float64
	p50, p99 time.Duration
}

func (l latency) String() string {
	rps := count(int64(math.Round(l.rps)))
	if l.rps < 100 { // a scan of a million entities: 1.6, not 2
		rps = fmt.Sprintf("%.1f", l.rps)
	}
	return fmt.Sprintf("%s req/s, p50 %s, p99 %s", rps, shortDuration(l.p50), shortDuration(l.p99))
}

// medianLatency is the median of each figure over the rounds (they may come
// from different rounds).
func medianLatency(ls []latency) latency {
	var rps, p50, p99 []float64
	for _, l := range ls {
		rps, p50, p99 = append(rps, l.rps), append(p50, float64(l.p50)), append(p99, float64(l.p99))
	}
	return latency{rps: median(rps), p50: time.Duration(median(p50)), p99: time.Duration(median(p99))}
}

// shortDuration writes a latency in µs below a millisecond, else in ms.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

func (r result) judged() bool { return !math.IsNaN(r.floor) }

// figure is what the floor applies to: the ratio or foldb's own figure.
func (r result) figure() float64 {
	if r.compared {
		return r.foldb / r.redis
	}
	return r.foldb
}

func (r result) verdict() string {
	v := r.figure()
	if !r.judged() {
		switch {
		case math.IsNaN(r.goal):
			return "—"
		case math.IsNaN(v) || math.IsInf(v, 0):
			return "n/a"
		case r.lowerBetter && v <= r.goal, !r.lowerBetter && v >= r.goal:
			return "goal met (no floor)"
		}
		return "goal missed (no floor)"
	}
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "n/a"
	case r.lowerBetter && v <= r.goal, !r.lowerBetter && v >= r.goal:
		return "PASS (goal met)"
	case r.lowerBetter && v <= r.floor, !r.lowerBetter && v >= r.floor:
		return "PASS"
	}
	return "FAIL"
}

func (r result) reads() string {
	switch {
	case r.unit == unitLatency && r.compared:
		return "ratio of req/s: higher is better"
	case r.unit == unitLatency:
		return "latency: lower is better"
	case r.compared && r.lowerBetter:
		return "ratio: lower is better"
	case r.compared:
		return "ratio: higher is better"
	case r.unit == unitDuration && r.lowerBetter:
		return "latency: lower is better"
	case r.lowerBetter:
		return "seconds: lower is better"
	}
	return "events/s: higher is better"
}

func (r result) format(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	switch r.unit {
	case unitRPS, unitLatency:
		return count(int64(math.Round(v))) + " req/s"
	case unitBytes:
		return fmt.Sprintf("%.0f B/account", v)
	case unitEventsPerSec:
		return count(int64(math.Round(v))) + " events/s"
	case unitRowsPerSec:
		return count(int64(math.Round(v))) + " rows/s"
	case unitDuration:
		return shortDuration(time.Duration(v))
	}
	return fmt.Sprintf("%.2f s", v)
}

// bound formats a floor or a goal.
func (r result) bound(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case r.compared:
		return fmt.Sprintf("%.1f", v)
	case r.unit == unitEventsPerSec:
		return fmt.Sprintf("%gM events/s", v/1e6)
	}
	return r.format(v)
}

func (r result) ratio() string {
	if !r.compared {
		return "—"
	}
	return fmt.Sprintf("%.2f", r.foldb/r.redis)
}

// cell is a side's figure in the table: the median of its rounds.
func (r result) cell(v float64, lats []latency) string {
	if len(lats) > 0 {
		return medianLatency(lats).String()
	}
	return r.format(v)
}

// table renders the results as a Markdown table with aligned columns.
func table(results []result) string {
	cells := [][]string{{"#", "work", "foldb", "Redis", "foldb/Redis", "reads", "floor", "goal", "result"}}
	for _, r := range results {
		fc, rc := r.cell(r.foldb, r.lats), r.cell(r.redis, r.redisLats)
		if r.cells[0] != "" {
			fc, rc = r.cells[0], r.cells[1]
		}
		cells = append(cells, []string{strconv.Itoa(r.row), r.work, fc, rc,
			r.ratio(), r.reads(), r.bound(r.floor), r.bound(r.goal), r.verdict()})
	}
	width := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var sb strings.Builder
	line := func(row []string) {
		sb.WriteString("|")
		for i, c := range row {
			sb.WriteString(" " + c + strings.Repeat(" ", width[i]-len([]rune(c))) + " |")
		}
		sb.WriteString("\n")
	}
	line(cells[0])
	sep := make([]string, len(width))
	for i, w := range width {
		sep[i] = strings.Repeat("-", w)
	}
	line(sep)
	for _, row := range cells[1:] {
		line(row)
	}
	return sb.String()
}

// details lists every round and the figures behind each line.
func details(results []result) string {
	var sb strings.Builder
	for _, r := range results {
		var parts []string
		if len(r.values) > 0 {
			parts = append(parts, "foldb "+r.list(r.values))
		}
		if len(r.redisValues) > 0 {
			peer := r.peer
			if peer == "" {
				peer = "Redis"
			}
			parts = append(parts, peer+" "+r.list(r.redisValues))
		}
		if len(r.lats) > 0 {
			parts = append(parts, "foldb "+latencies(r.lats))
		}
		if len(r.redisLats) > 0 {
			parts = append(parts, "Redis "+latencies(r.redisLats))
		}
		if r.detail != "" {
			parts = append(parts, r.detail)
		}
		if len(parts) > 0 {
			fmt.Fprintf(&sb, "- %d. %s: %s\n", r.row, r.work, strings.Join(parts, "; "))
		}
	}
	return sb.String()
}

func (r result) list(vs []float64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = r.format(v)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func latencies(ls []latency) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = l.String()
	}
	return "[" + strings.Join(s, "; ") + "]"
}

// count writes n with thousands separators: 1,234,567.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
