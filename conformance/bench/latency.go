package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// scanBudget is about how long a redis-benchmark run of a scan lasts:
	// each scan reads every account, so its requests are counted from the
	// time of one (scanMin at least, the gets' count at most).
	scanBudget = 3 * time.Second
	scanMin    = 20
)

// balanceOver100 is the filter of the scans; it matches nearly every
// account (an opened account holds 100 or more).
const balanceOver100 = "balance > 100"

// Row 6: requests/s and latency at 1 client, pipeline 1, on the bank of row
// 3: ENTITY.GET of random accounts (against Redis HGETALL of the same
// hashes), then three scans of every account by redis-benchmark.
func (b *bench) rowLatency() ([]result, error) {
	accounts := b.cfg.accounts
	if err := b.ensureBank(2 * accounts); err != nil {
		return nil, err
	}
	f, _, err := b.startFoldbLoaded(b.bankDir, b.bankFlags()...)
	if err != nil {
		return nil, err
	}
	defer f.kill()
	fc := f.client(1)
	defer fc.Close()
	if n, err := fc.Do(b.ctx, "ENTITY.COUNT", "account").Int(); err != nil || n != accounts {
		return nil, fmt.Errorf("foldb ENTITY.COUNT account gives %d (%v), the bench opened %d accounts", n, err, accounts)
	}
	get, err := b.latencyGets(f, fc)
	if err != nil {
		return nil, err
	}
	scans, err := b.latencyScans(f, fc)
	if err != nil {
		return nil, err
	}
	return append([]result{get}, scans...), f.shutdown(b.ctx, "NOSAVE")
}

// latencyWork names a line of row 6.
func (b *bench) latencyWork(what string) string {
	return fmt.Sprintf("latency on %s entities: %s, 1 client (not judged)", count(int64(b.cfg.accounts)), what)
}

// latencyGets times ENTITY.GET of random accounts against HGETALL of the
// same accounts as Redis hashes, loaded as row 3 loads them.
func (b *bench) latencyGets(f *foldbServer, fc *redis.Client) (result, error) {
	accounts := b.cfg.accounts
	r, err := b.startRedis(b.path("latency-redis"), "--save", "", "--appendonly", "no")
	if err != nil {
		return result{}, err
	}
	defer r.kill()
	if err := b.load(&r.server, "redis: HSET account:<i> uuid name balance", accounts, split(accounts, loadWorkers, redisAccount)); err != nil {
		return result{}, err
	}
	rc := r.client(1)
	defer rc.Close()
	for _, i := range []int{1, accounts/2 + 1, accounts} {
		if err := b.checkAccount(fc, rc, i); err != nil {
			return result{}, err
		}
	}

	// redis-benchmark's __rand_int__ writes 12-digit ids (000000000042)
	// where the accounts are account:1..N, so the gets go through a loop of
	// the bench's own.
	gets := max(b.cfg.n/10, 1000)
	fs, rs, err := alternate(b, fmt.Sprintf("gets, 1 client, %s requests", count(int64(gets))), latency.String,
		side[latency]{"foldb ENTITY.GET account <i>", func(round int) (latency, error) {
			return b.getLoop(fc, gets, round, func(id string) []any { return []any{"ENTITY.GET", "account", id} })
		}},
		side[latency]{"redis HGETALL account:<i>", func(round int) (latency, error) {
			return b.getLoop(rc, gets, round, func(id string) []any { return []any{"HGETALL", "account:" + id} })
		}})
	if err != nil {
		return result{}, err
	}
	if err := r.stop(b.ctx); err != nil {
		return result{}, err
	}
	os.RemoveAll(r.dir)

	// What a reader can rerun by hand: redis-benchmark, one id.
	opts, cmd := []string{"-n", strconv.Itoa(gets), "-c", "1", "-P", "1"}, []string{"ENTITY.GET", "account", "1"}
	line := "redis-benchmark " + shellLine(benchmarkArgs(&f.server, opts, cmd...))
	b.progress("  the gets by redis-benchmark, one id: %s", line)
	hand, err := b.benchmarkLatency(&f.server, opts, cmd...)
	if err != nil {
		return result{}, err
	}
	b.progress("  the gets by redis-benchmark, one id: %s", hand)
	return result{row: 6, work: b.latencyWork("ENTITY.GET account <i> vs HGETALL account:<i>"),
		foldb: medianLatency(fs).rps, redis: medianLatency(rs).rps, unit: unitLatency, compared: true,
		floor: math.NaN(), goal: math.NaN(), lats: fs, redisLats: rs,
		detail: fmt.Sprintf("%s gets a round of random ids in 1..%s, the same on both servers, one at a time over one go-redis connection, "+
			"each timed from send to reply; by hand with one id, `%s`: %s", count(int64(gets)), count(int64(accounts)), line, hand)}, nil
}

// latencyScans times three queries that read every account, by
// redis-benchmark, after checking their replies.
func (b *bench) latencyScans(f *foldbServer, fc *redis.Client) ([]result, error) {
	accounts := b.cfg.accounts
	matches, err := fc.Do(b.ctx, "ENTITY.COUNT", "account", "WHERE", balanceOver100).Int()
	if err != nil || matches < 1 || matches > accounts {
		return nil, fmt.Errorf("foldb ENTITY.COUNT account WHERE %q gives %d (%v) of %d accounts", balanceOver100, matches, err, accounts)
	}
	var results []result
	for _, sc := range []struct {
		cmd   []string
		check func(reply any) error
	}{
		{[]string{"ENTITY.ALL", "account", "WHERE", balanceOver100, "LIMIT", "0", "10"}, func(reply any) error {
			_, err := balances(reply, min(10, matches))
			return err
		}},
		{[]string{"ENTITY.ALL", "account", "WHERE", balanceOver100, "SORTBY", "balance", "DESC", "LIMIT", "0", "10"}, func(reply any) error {
			bs, err := balances(reply, min(10, matches))
			if err == nil && !slices.IsSortedFunc(bs, func(x, y float64) int { return cmp.Compare(y, x) }) {
				err = fmt.Errorf("balances not in descending order: %v", bs)
			}
			return err
		}},
		{[]string{"ENTITY.COUNT", "account", "WHERE", balanceOver100}, func(reply any) error {
			if n, ok := reply.(int64); !ok || int(n) != matches {
				return fmt.Errorf("gives %v, where it gave %d a moment before", reply, matches)
			}
			return nil
		}},
	} {
		name := shellLine(sc.cmd)
		took, err := b.probe(fc, sc.cmd, sc.check)
		if err != nil {
			return nil, err
		}
		n := min(max(int(scanBudget/took), scanMin), max(b.cfg.n/10, 1000))
		opts := []string{"-n", strconv.Itoa(n), "-c", "1", "-P", "1"}
		b.progress("  %s takes about %s: redis-benchmark sends it %s times a round", name, shortDuration(took), count(int64(n)))
		ls, err := repeat(b, fmt.Sprintf("%s, 1 client, %s requests", name, count(int64(n))), func(int) (latency, error) {
			l, err := b.benchmarkLatency(&f.server, opts, sc.cmd...)
			if err == nil {
				b.progress("  %s: %s", name, l)
			}
			return l, err
		})
		if err != nil {
			return nil, err
		}
		results = append(results, result{row: 6, work: b.latencyWork(name),
			foldb: medianLatency(ls).rps, redis: math.NaN(), unit: unitLatency,
			floor: math.NaN(), goal: math.NaN(), lats: ls,
			detail: fmt.Sprintf("%s of %s accounts match; `redis-benchmark %s`",
				count(int64(matches)), count(int64(accounts)), shellLine(benchmarkArgs(&f.server, opts, sc.cmd...)))})
	}
	return results, nil
}

// checkAccount checks that foldb and Redis both hold account i as the
// bench opened it.
func (b *bench) checkAccount(fc, rc *redis.Client, i int) error {
	js, err := fc.Do(b.ctx, "ENTITY.GET", "account", strconv.Itoa(i)).Text()
	if err != nil || !strings.Contains(js, accountUUID(i)) {
		return fmt.Errorf("foldb ENTITY.GET account %d gives %q (%v), not the account the bench opened", i, js, err)
	}
	uuid, err := rc.HGet(b.ctx, "account:"+strconv.Itoa(i), "uuid").Result()
	if err != nil || uuid != accountUUID(i) {
		return fmt.Errorf("redis HGET account:%d uuid gives %q (%v), not %s", i, uuid, err, accountUUID(i))
	}
	return nil
}

// getLoop sends n gets of random accounts, ids 1..-accounts drawn from a
// sequence of the round's own (the same on both servers), one at a time
// over c, and times each from send to reply. A get that finds nothing is
// an error.
func (b *bench) getLoop(c *redis.Client, n, round int, get func(id string) []any) (latency, error) {
	rng := rand.New(rand.NewPCG(uint64(round), 6))
	if err := c.Ping(b.ctx).Err(); err != nil { // the connection, before the clock
		return latency{}, err
	}
	took := make([]time.Duration, n)
	start := time.Now()
	for i := range took {
		args := get(strconv.Itoa(1 + rng.IntN(b.cfg.accounts)))
		t := time.Now()
		reply, err := c.Do(b.ctx, args...).Result()
		took[i] = time.Since(t)
		switch {
		case b.ctx.Err() != nil:
			return latency{}, errInterrupted
		case errors.Is(err, redis.Nil) || err == nil && isEmpty(reply):
			return latency{}, fmt.Errorf("%s: no such entity", strings.Join(cmdArgs(args), " "))
		case err != nil:
			return latency{}, fmt.Errorf("%s: %w", strings.Join(cmdArgs(args), " "), err)
		}
	}
	return latencyOf(took, time.Since(start)), nil
}

func isEmpty(reply any) bool {
	switch v := reply.(type) {
	case []any:
		return len(v) == 0
	case map[any]any:
		return len(v) == 0
	}
	return false
}

// latencyOf sums up a run: requests/s over its wall time, and the
// percentiles of each request's time.
func latencyOf(took []time.Duration, wall time.Duration) latency {
	s := slices.Clone(took)
	slices.Sort(s)
	return latency{rps: float64(len(s)) / wall.Seconds(), p50: percentile(s, 50), p99: percentile(s, 99)}
}

// percentile is the nearest-rank p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[max((len(sorted)*p+99)/100-1, 0)]
}

// probe sends cmd three times over c, checks the first reply, and returns
// the median time of one.
func (b *bench) probe(c *redis.Client, cmd []string, check func(reply any) error) (time.Duration, error) {
	args := make([]any, len(cmd))
	for i, a := range cmd {
		args[i] = a
	}
	var took []float64
	for i := range 3 {
		t := time.Now()
		reply, err := c.Do(b.ctx, args...).Result()
		took = append(took, float64(time.Since(t)))
		if err == nil && i == 0 {
			err = check(reply)
		}
		if err != nil {
			if b.ctx.Err() != nil {
				return 0, errInterrupted
			}
			return 0, fmt.Errorf("foldb %s: %w", shellLine(cmd), err)
		}
	}
	return max(time.Duration(median(took)), time.Microsecond), nil
}

// balances reads the balances of an ENTITY.ALL reply (id, JSON pairs) and
// checks that it holds want entities, each with a balance over 100.
func balances(reply any, want int) ([]float64, error) {
	var jsons []any
	switch v := reply.(type) {
	case []any: // RESP2: id, json, id, json...
		for i := 1; i < len(v); i += 2 {
			jsons = append(jsons, v[i])
		}
	case map[any]any:
		for _, js := range v {
			jsons = append(jsons, js)
		}
	default:
		return nil, fmt.Errorf("reply %T %v is not id, JSON pairs", reply, reply)
	}
	if len(jsons) != want {
		return nil, fmt.Errorf("%d entities, want %d", len(jsons), want)
	}
	var bs []float64
	for _, js := range jsons {
		s, _ := js.(string)
		var e struct{ Balance *float64 }
		if err := json.Unmarshal([]byte(s), &e); err != nil || e.Balance == nil || *e.Balance <= 100 {
			return nil, fmt.Errorf("entity %q does not match %q", s, balanceOver100)
		}
		bs = append(bs, *e.Balance)
	}
	return bs, nil
}

var plainArg = regexp.MustCompile(`^[A-Za-z0-9_.,:/=+-]+$`)

// shellLine writes a command line as a shell reads it, quoting what needs it.
func shellLine(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = a
		if !plainArg.MatchString(a) {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}
