package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// A row measures one line of the performance budget (BENCHMARKS.md, "What
// each row measures"). Throughput rows run foldb and Redis by turns
// (A B A B ...) for -rounds rounds and compare the medians.
type row struct {
	id   string // for -only
	name string
	run  func(b *bench) ([]result, error)
	// optional rows run only when -only names them.
	optional bool
}

var rows = []row{
	{"get", "ENTITY.GET vs GET", (*bench).rowGet, false},
	{"append", "durable EVENT.APPEND vs XADD", (*bench).rowAppend, false},
	{"memory", "memory for the accounts", (*bench).rowMemory, false},
	{"replay", "replay into the bank schema", (*bench).rowReplay, false},
	{"restart", "restart from a snapshot", (*bench).rowRestart, false},
	{"latency", "latency on the accounts", (*bench).rowLatency, false},
	{"catchup", "catch-up read of the log (XRANGE pages)", (*bench).rowCatchup, false},
	{"wakeup", "wake-up of a blocked XREADGROUP", (*bench).rowWakeup, false},
	{"append-subscribed", "durable appends with 100 Pub/Sub subscribers", (*bench).rowAppendSubscribed, true},
	{"sql-catchup", "catch-up of the SQL projections vs a plain program", (*bench).rowSQLCatchup, false},
	{"sql-lag", "lag of the SQL projections at a steady append rate", (*bench).rowSQLLag, false},
	{"catalog", "product catalogue queries vs SQLite and PostgreSQL", (*bench).rowCatalog, true},
	{"transfer", "durable MULTI/EXEC transfers vs Redis's MULTI/EXEC", (*bench).rowTransfer, true},
	{"schema-change", "reads and appends during a schema change", (*bench).rowSchemaChange, true},
}

// bankFlags start foldb with the bank schema and no snapshot but the ones
// the bench asks for (SHUTDOWN, SNAPSHOT.SAVE).
func (b *bench) bankFlags() []string {
	return []string{"--durability", "none", "--schema", b.schema, "--snapshot-every", "0", "--snapshot-interval", "0"}
}

// Row 1: ENTITY.GET vs GET of the same 10,000 100-byte JSON values, 50
// clients, pipeline 1 and 16.
func (b *bench) rowGet() ([]result, error) {
	f, _, err := b.startFoldbLoaded(b.path("get-foldb"))
	if err != nil {
		return nil, err
	}
	defer f.kill()
	r, err := b.startRedis(b.path("get-redis"), "--save", "", "--appendonly", "no")
	if err != nil {
		return nil, err
	}
	defer r.kill()
	err = b.load(&f.server, "foldb: EVENT.APPEND k:<id> Set <json>", getKeys, split(getKeys, loadWorkers, func(i int) []any {
		return []any{"EVENT.APPEND", "k:" + keyID(i), "Set", value100(i)}
	}))
	if err != nil {
		return nil, err
	}
	err = b.load(&r.server, "redis: SET k:<id> <json>", getKeys, split(getKeys, loadWorkers, func(i int) []any {
		return []any{"SET", "k:" + keyID(i), value100(i)}
	}))
	if err != nil {
		return nil, err
	}
	if err := b.checkSameValues(f, r); err != nil {
		return nil, err
	}

	var results []result
	for _, p := range []int{1, 16} {
		n := b.cfg.n
		if p > 1 {
			n *= 5 // about as long a run as pipeline 1
		}
		opts := []string{"-n", strconv.Itoa(n), "-c", "50", "-r", strconv.Itoa(getKeys), "-P", strconv.Itoa(p)}
		what := fmt.Sprintf("GET, pipeline %d, %s requests", p, count(int64(n)))
		fs, rs, err := alternate(b, what, showRPS,
			side[float64]{"foldb ENTITY.GET", func(int) (float64, error) { return b.benchmark(&f.server, opts, "ENTITY.GET", "k", "__rand_int__") }},
			side[float64]{"redis GET", func(int) (float64, error) { return b.benchmark(&r.server, opts, "GET", "k:__rand_int__") }})
		if err != nil {
			return nil, err
		}
		results = append(results, throughput(1, fmt.Sprintf("ENTITY.GET vs GET, pipeline %d", p), fs, rs, 0.8, 1.2))
	}
	return results, nil
}

// checkSameValues checks that both servers hold the same 100-byte values
// under the ids redis-benchmark will ask for.
func (b *bench) checkSameValues(f *foldbServer, r *redisServer) error {
	fc, rc := f.client(1), r.client(1)
	defer fc.Close()
	defer rc.Close()
	for _, i := range []int{0, 42, getKeys - 1} {
		got, err := fc.Do(b.ctx, "ENTITY.GET", "k", keyID(i)).Text()
		if err != nil {
			return fmt.Errorf("foldb ENTITY.GET k %s: %w", keyID(i), err)
		}
		want, err := rc.Get(b.ctx, "k:"+keyID(i)).Result()
		if err != nil {
			return fmt.Errorf("redis GET k:%s: %w", keyID(i), err)
		}
		if len(want) != 100 {
			return fmt.Errorf("the bench's value is %d bytes, not 100: %s", len(want), want)
		}
		if got != want {
			b.progress("  note: ENTITY.GET k %s gives %d bytes %s where GET gives %s", keyID(i), len(got), got, want)
		}
	}
	return nil
}

// Row 2: durable appends, EVENT.APPEND with durability always vs XADD with
// appendfsync always, 50 clients and 1 client, each at every -append-r
// (from a thousand streams appended to again and again to nearly one new
// stream per append), a fresh data folder each run.
func (b *bench) rowAppend() ([]result, error) {
	var results []result
	for _, a := range appendLines(b.cfg.appendKeys) {
		n := b.cfg.writes
		if a.clients == 1 {
			n = max(n/10, 100) // one fsync per request
		}
		opts := []string{"-n", strconv.Itoa(n), "-c", strconv.Itoa(a.clients), "-r", strconv.Itoa(a.keys)}
		what := fmt.Sprintf("appends, %s, -r %d, %s requests", plural(a.clients, "client"), a.keys, count(int64(n)))
		run := fmt.Sprintf("append-c%d-r%d", a.clients, a.keys)
		fs, rs, err := alternate(b, what, showRPS,
			side[float64]{"foldb EVENT.APPEND", func(round int) (float64, error) {
				return b.appendFoldb(fmt.Sprintf("%s-foldb-%d", run, round), opts, n, subs{})
			}},
			side[float64]{"redis XADD", func(round int) (float64, error) {
				return b.appendRedis(fmt.Sprintf("%s-redis-%d", run, round), opts, n, subs{})
			}})
		if err != nil {
			return nil, err
		}
		results = append(results, throughput(2, a.name(), fs, rs, a.floor, a.goal))
	}
	return results, nil
}

// appendLine is one line of row 2, judged on its own floor.
type appendLine struct {
	clients, keys int // redis-benchmark -c and -r
	floor, goal   float64
}

// appendLines are row 2's lines: 50 clients at each -r, then 1 client
// (fsync-bound on both sides) at each.
func appendLines(keys []int) []appendLine {
	var lines []appendLine
	for _, c := range []struct {
		clients     int
		floor, goal float64
	}{{50, 0.9, 1.5}, {1, 1.0, 1.2}} {
		for _, r := range keys {
			lines = append(lines, appendLine{clients: c.clients, keys: r, floor: c.floor, goal: c.goal})
		}
	}
	return lines
}

func (a appendLine) name() string {
	return fmt.Sprintf("EVENT.APPEND (always) vs XADD (appendfsync always), %s, -r %d", plural(a.clients, "client"), a.keys)
}

// settle lets a server's memory settle before its RSS is read.
const settle = 2 * time.Second

// Row 3: the RSS that -accounts accounts add, Redis hashes vs foldb's bank
// schema, both loaded through the network: foldb right after the load, and
// after a restart from the snapshot SHUTDOWN takes.
func (b *bench) rowMemory() ([]result, error) {
	accounts := b.cfg.accounts

	r, err := b.startRedis(b.path("memory-redis"), "--save", "", "--appendonly", "no")
	if err != nil {
		return nil, err
	}
	defer r.kill()
	redisEmpty, err := b.rssAfterSettle(r.proc)
	if err != nil {
		return nil, err
	}
	if err := b.load(&r.server, "redis: HSET account:<i> uuid name balance", accounts, split(accounts, loadWorkers, redisAccount)); err != nil {
		return nil, err
	}
	redisFull, err := b.rssAfterSettle(r.proc)
	if err != nil {
		return nil, err
	}
	if err := r.stop(b.ctx); err != nil {
		return nil, err
	}
	os.RemoveAll(r.dir)

	dir := b.path("bank")
	f, _, err := b.startFoldbLoaded(dir, b.bankFlags()...)
	if err != nil {
		return nil, err
	}
	defer f.kill()
	foldbEmpty, err := b.rssAfterSettle(f.proc)
	if err != nil {
		return nil, err
	}
	if err := b.loadBank(f, accounts, 2*accounts); err != nil {
		return nil, err
	}
	foldbLoaded, err := b.rssAfterSettle(f.proc)
	if err != nil {
		return nil, err
	}
	b.progress("  foldb: SHUTDOWN SAVE, then a restart from the snapshot")
	if err := f.shutdown(b.ctx, "SAVE"); err != nil {
		return nil, err
	}
	f2, took, err := b.startFoldbLoaded(dir, b.bankFlags()...)
	if err != nil {
		return nil, err
	}
	defer f2.kill()
	if _, ok := f2.waitLogFields("snapshot loaded"); !ok {
		return nil, fmt.Errorf("foldb did not log \"snapshot loaded\" on restart after SHUTDOWN SAVE:\n%s", f2.out.Tail(20))
	}
	foldbRestarted, err := b.rssAfterSettle(f2.proc)
	if err != nil {
		return nil, err
	}
	b.progress("  foldb restarted from its snapshot in %.2fs", took.Seconds())
	if err := f2.shutdown(b.ctx, "NOSAVE"); err != nil {
		return nil, err
	}
	b.bankDir, b.bankEvents = dir, 2*accounts

	return memoryLines(accounts, memoryRSS{redisEmpty, redisFull, foldbEmpty, foldbLoaded, foldbRestarted}), nil
}

// memoryRSS are the RSS readings of row 3, in bytes.
type memoryRSS struct {
	redisEmpty, redisFull                   int64
	foldbEmpty, foldbLoaded, foldbRestarted int64
}

// memoryLines are row 3's two lines, each judged on its own floor: foldb's
// growth right after the load and after the restart, each over Redis's
// growth for the same accounts.
func memoryLines(accounts int, m memoryRSS) []result {
	per := func(grow int64) float64 { return float64(grow) / float64(accounts) }
	redisPer := per(m.redisFull - m.redisEmpty)
	detail := fmt.Sprintf("RSS empty → full: Redis %s → %s; foldb %s → %s after the load, %s after a restart from its snapshot",
		mib(m.redisEmpty), mib(m.redisFull), mib(m.foldbEmpty), mib(m.foldbLoaded), mib(m.foldbRestarted))
	work := fmt.Sprintf("memory for %s accounts vs Redis HSET", count(int64(accounts)))
	return []result{
		{row: 3, work: work + ", right after the load",
			foldb: per(m.foldbLoaded - m.foldbEmpty), redis: redisPer, unit: unitBytes, compared: true, lowerBetter: true,
			floor: 1.2, goal: 0.8, detail: detail},
		{row: 3, work: work + ", after a restart",
			foldb: per(m.foldbRestarted - m.foldbEmpty), redis: redisPer, unit: unitBytes, compared: true, lowerBetter: true,
			floor: 0.8, goal: 0.6},
	}
}

func (b *bench) rssAfterSettle(p *proc) (int64, error) {
	select {
	case <-time.After(settle):
	case <-b.ctx.Done():
		return 0, errInterrupted
	}
	return p.rss()
}

// Row 4: events/s of a full replay of -events events into the bank schema
// (accounts opened with a deposit, then deposits and withdrawals).
func (b *bench) rowReplay() ([]result, error) {
	events := b.cfg.events
	accounts := max(1, min(b.cfg.accounts, events/5))
	dir := b.path("replay")
	defer os.RemoveAll(dir)
	f, _, err := b.startFoldbLoaded(dir, b.bankFlags()...)
	if err != nil {
		return nil, err
	}
	defer f.kill()
	if err := b.loadBank(f, accounts, events); err != nil {
		return nil, err
	}
	if err := checkPosition(b, f, max(events, 2*accounts)); err != nil {
		return nil, err
	}
	if err := f.shutdown(b.ctx, "NOSAVE"); err != nil {
		return nil, err
	}
	if snaps, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*")); len(snaps) > 0 {
		return nil, fmt.Errorf("a snapshot was written despite SHUTDOWN NOSAVE and --snapshot-every 0: %v", snaps)
	}

	var secs, walls []float64
	rates, err := repeat(b, fmt.Sprintf("replay of %s events over %s accounts", count(int64(events)), count(int64(accounts))), func(int) (float64, error) {
		f, took, fields, err := b.fullReplay(dir)
		if err != nil {
			return 0, err
		}
		defer f.kill()
		rate, err1 := strconv.ParseFloat(fields["events_per_sec"], 64)
		sec, err2 := strconv.ParseFloat(fields["seconds"], 64)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("bad \"loading done\" figures: %v", fields)
		}
		secs, walls = append(secs, sec), append(walls, took.Seconds())
		b.progress("  replay: %s events/s, %.2fs in the log line, %.2fs from start to loading:0", count(int64(rate)), sec, took.Seconds())
		return rate, f.shutdown(b.ctx, "NOSAVE")
	})
	if err != nil {
		return nil, err
	}
	return []result{{row: 4, work: fmt.Sprintf("replay of %s events into the bank schema", count(int64(events))),
		foldb: median(rates), redis: math.NaN(), unit: unitEventsPerSec,
		floor: 500_000, goal: 2_000_000, values: rates,
		detail: fmt.Sprintf("replay seconds %s; start to loading:0 %s", seconds(secs), seconds(walls))}}, nil
}

func checkPosition(b *bench, f *foldbServer, want int) error {
	last, err := f.infoInt(b.ctx, "log_last_position")
	if err != nil {
		return err
	}
	if last != int64(want) {
		return fmt.Errorf("foldb's log_last_position is %d, the bench appended %d events", last, want)
	}
	return nil
}

// Row 5: time from process start to INFO loading:0 with a snapshot of
// -accounts accounts (and a log of -events events when that is more than
// the two per account that opening them takes), against a full replay of
// the same log.
func (b *bench) rowRestart() ([]result, error) {
	accounts := b.cfg.accounts
	events := max(b.cfg.events, 2*accounts)
	if err := b.ensureBank(events); err != nil {
		return nil, err
	}
	dir := b.bankDir
	snaps, aside := filepath.Join(dir, "snapshots"), b.path("snapshots-aside")

	var snapLoads, replays []float64
	fromSnap, full, err := alternate(b, fmt.Sprintf("restart, %s entities, %s events", count(int64(accounts)), count(int64(events))), showSeconds,
		side[float64]{"from the snapshot", func(int) (float64, error) {
			f, took, err := b.startFoldbLoaded(dir, b.bankFlags()...)
			if err != nil {
				return 0, err
			}
			defer f.kill()
			fields, ok := f.waitLogFields("snapshot loaded")
			if !ok {
				return 0, fmt.Errorf("foldb did not load its snapshot:\n%s", f.out.Tail(20))
			}
			if s, err := strconv.ParseFloat(fields["seconds"], 64); err == nil {
				snapLoads = append(snapLoads, s)
			}
			return took.Seconds(), f.shutdown(b.ctx, "NOSAVE")
		}},
		side[float64]{"by a full replay", func(int) (float64, error) {
			if err := os.Rename(snaps, aside); err != nil {
				return 0, err
			}
			defer func() {
				os.RemoveAll(snaps)
				os.Rename(aside, snaps)
			}()
			f, took, fields, err := b.fullReplay(dir)
			if err != nil {
				return 0, err
			}
			defer f.kill()
			if s, err := strconv.ParseFloat(fields["seconds"], 64); err == nil {
				replays = append(replays, s)
			}
			return took.Seconds(), f.shutdown(b.ctx, "NOSAVE")
		}})
	if err != nil {
		return nil, err
	}
	return []result{
		{row: 5, work: fmt.Sprintf("restart from a snapshot of %s entities (%s events in the log)", count(int64(accounts)), count(int64(events))),
			foldb: median(fromSnap), redis: math.NaN(), unit: unitSeconds, lowerBetter: true,
			floor: 3, goal: 1, values: fromSnap,
			detail: fmt.Sprintf("snapshot loaded in %s (its log line)", seconds(snapLoads))},
		{row: 5, work: "restart by a full replay of the same log (not judged)",
			foldb: median(full), redis: math.NaN(), unit: unitSeconds, lowerBetter: true,
			floor: math.NaN(), goal: math.NaN(), values: full,
			detail: fmt.Sprintf("replay in %s (its log line)", seconds(replays))},
	}, nil
}

// ensureBank makes sure b.bankDir holds the bank of -accounts accounts with
// at least events events in its log, stopped by SHUTDOWN SAVE: it loads one
// as row 3 does when row 3 did not run, and appends balance events when the
// log is shorter.
func (b *bench) ensureBank(events int) error {
	if b.bankDir != "" && b.bankEvents >= events {
		return nil
	}
	accounts := b.cfg.accounts
	dir := b.bankDir
	if dir == "" {
		dir = b.path("bank")
	}
	f, _, err := b.startFoldbLoaded(dir, b.bankFlags()...)
	if err != nil {
		return err
	}
	defer f.kill()
	if b.bankEvents == 0 {
		err = b.loadBank(f, accounts, events)
	} else {
		extra := events - b.bankEvents
		err = b.load(&f.server, "balance events", extra, balanceEvents(accounts, extra, loadWorkers))
	}
	if err != nil {
		return err
	}
	if err := checkPosition(b, f, events); err != nil {
		return err
	}
	b.progress("  foldb: SHUTDOWN SAVE")
	if err := f.shutdown(b.ctx, "SAVE"); err != nil {
		return err
	}
	b.bankDir, b.bankEvents = dir, events
	return nil
}

// fullReplay starts foldb on a data folder that has no snapshot and
// returns it with the time to loading:0 and the fields of its "loading
// done" line, which must be a full replay's (with events_per_sec).
func (b *bench) fullReplay(dir string) (*foldbServer, time.Duration, map[string]string, error) {
	f, took, err := b.startFoldbLoaded(dir, b.bankFlags()...)
	if err != nil {
		return nil, 0, nil, err
	}
	fields, ok := f.waitLogFields("loading done")
	if !ok || fields["events_per_sec"] == "" {
		f.kill()
		return nil, 0, nil, fmt.Errorf("foldb did not log a full replay (\"loading done\" with events_per_sec=):\n%s", f.out.Tail(20))
	}
	return f, took, fields, nil
}
