package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	transferClients  = 50
	transferAccounts = 1000
)

// Row 13: transfers, each a MULTI of two appends and EXEC, from 50 clients,
// durable before the reply on both sides. foldb appends BalanceDecreased to
// one account's stream and BalanceIncreased to another's under the bank
// schema, whose guard checks the balance within the transaction; Redis
// XADDs the same two entries (appendfsync always) and checks nothing.
func (b *bench) rowTransfer() ([]result, error) {
	n := b.cfg.writes / 5
	var fs, rs []float64
	for round := 1; round <= b.cfg.rounds; round++ {
		b.progress("  transfers: round %d/%d, foldb", round, b.cfg.rounds)
		v, err := b.transferFoldb(round, n)
		if err != nil {
			return nil, err
		}
		b.progress("  transfers: round %d/%d, foldb: %s", round, b.cfg.rounds, showRPS(v))
		fs = append(fs, v)
		b.progress("  transfers: round %d/%d, redis", round, b.cfg.rounds)
		if v, err = b.transferRedis(round, n); err != nil {
			return nil, err
		}
		b.progress("  transfers: round %d/%d, redis: %s", round, b.cfg.rounds, showRPS(v))
		rs = append(rs, v)
	}
	r := throughput(13, fmt.Sprintf("transfers (MULTI, 2 appends, EXEC) vs MULTI, 2 XADDs, EXEC (appendfsync always), %d clients", transferClients), fs, rs, 0.8, 1.0)
	r.detail = fmt.Sprintf("%s transfers a round between %s accounts; transfers/s; foldb checks each leg's guard against the transaction's state, Redis checks nothing",
		count(int64(n)), count(transferAccounts))
	return []result{r}, nil
}

func transferLegs(i int) (from, to string, amount int) {
	x := splitmix(uint64(i))
	a, c := int(x%transferAccounts), int((x>>20)%(transferAccounts-1))
	if c >= a {
		c++
	}
	return "account:" + strconv.Itoa(a), "account:" + strconv.Itoa(c), 1 + int((x>>40)%100)
}

func (b *bench) transferFoldb(round, n int) (float64, error) {
	dir := b.path(fmt.Sprintf("transfer-foldb-%d", round))
	defer os.RemoveAll(dir)
	f, _, err := b.startFoldbLoaded(dir, "--durability", "always", "--schema", b.schema)
	if err != nil {
		return 0, err
	}
	defer f.kill()
	err = b.load(&f.server, "foldb: deposits", transferAccounts, split(transferAccounts, loadWorkers, func(i int) []any {
		return []any{"EVENT.APPEND", "account:" + strconv.Itoa(i), "BalanceIncreased", `{"amount":1000000000}`}
	}))
	if err != nil {
		return 0, err
	}
	rps, err := b.transfers(&f.server, n, func(p redis.Pipeliner, i int) {
		from, to, amount := transferLegs(i)
		data := `{"amount":` + strconv.Itoa(amount) + `}`
		p.Do(b.ctx, "EVENT.APPEND", from, "BalanceDecreased", data)
		p.Do(b.ctx, "EVENT.APPEND", to, "BalanceIncreased", data)
	})
	if err != nil {
		return 0, err
	}
	if last, err := f.infoInt(b.ctx, "log_last_position"); err != nil || last != int64(transferAccounts+2*n) {
		return 0, fmt.Errorf("foldb's log_last_position is %d (%v) after %d transfers", last, err, n)
	}
	return rps, f.shutdown(b.ctx, "NOSAVE")
}

func (b *bench) transferRedis(round, n int) (float64, error) {
	dir := b.path(fmt.Sprintf("transfer-redis-%d", round))
	defer os.RemoveAll(dir)
	r, err := b.startRedis(dir, "--appendonly", "yes", "--appendfsync", "always", "--save", "")
	if err != nil {
		return 0, err
	}
	defer r.kill()
	rps, err := b.transfers(&r.server, n, func(p redis.Pipeliner, i int) {
		from, to, amount := transferLegs(i)
		data := `{"amount":` + strconv.Itoa(amount) + `}`
		p.Do(b.ctx, "XADD", from, "*", "type", "BalanceDecreased", "data", data)
		p.Do(b.ctx, "XADD", to, "*", "type", "BalanceIncreased", "data", data)
	})
	if err != nil {
		return 0, err
	}
	return rps, r.stop(b.ctx)
}

// transfers runs n transactions against s from transferClients
// connections, each made by fill, and returns transactions per second.
func (b *bench) transfers(s *server, n int, fill func(p redis.Pipeliner, i int)) (float64, error) {
	c := s.client(transferClients)
	defer c.Close()
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var failed error
	start := time.Now()
	for range transferClients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
					fill(p, i)
					return nil
				})
				if err != nil {
					once.Do(func() { failed = fmt.Errorf("%s: transfer %d: %w", s.name, i, err); cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if b.ctx.Err() != nil {
		return 0, errInterrupted
	}
	if failed != nil {
		return 0, failed
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
