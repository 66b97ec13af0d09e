package main

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	loadBatch   = 1000 // commands per pipeline
	loadWorkers = 4    // connections loading at once
)

// load sends every command of each worker's sequence to s over its own
// connection, in pipelines of loadBatch, and checks every reply. total is
// the number of commands of all sequences, for the progress lines.
func (b *bench) load(s *server, what string, total int, workers []iter.Seq[[]any]) error {
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	c := s.client(len(workers))
	defer c.Close()

	var done atomic.Int64
	start := time.Now()
	stopProgress := b.every(2*time.Second, func() {
		n := done.Load()
		b.progress("  %s: %s/%s commands (%s/s)", what, count(n), count(int64(total)), count(int64(float64(n)/time.Since(start).Seconds())))
	})
	defer stopProgress()

	errs := make(chan error, len(workers))
	var wg sync.WaitGroup
	for _, seq := range workers {
		wg.Go(func() {
			pipe := c.Pipeline()
			flush := func() error {
				n := pipe.Len()
				cmds, err := pipe.Exec(ctx)
				if err != nil {
					for _, cmd := range cmds {
						if cmd.Err() != nil {
							return fmt.Errorf("%s: %s: %w", what, strings.Join(cmdArgs(cmd.Args()), " "), cmd.Err())
						}
					}
					return fmt.Errorf("%s: %w", what, err)
				}
				done.Add(int64(n))
				return nil
			}
			for args := range seq {
				pipe.Do(ctx, args...)
				if pipe.Len() == loadBatch {
					if err := flush(); err != nil {
						errs <- err
						cancel()
						return
					}
				}
			}
			if pipe.Len() > 0 {
				if err := flush(); err != nil {
					errs <- err
					cancel()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if b.ctx.Err() != nil {
		return errInterrupted
	}
	if err := <-errs; err != nil {
		return err
	}
	b.progress("  %s: %s commands in %.1fs", what, count(int64(total)), time.Since(start).Seconds())
	return nil
}

func cmdArgs(args []any) []string {
	s := make([]string, len(args))
	for i, a := range args {
		s[i] = fmt.Sprint(a)
		if len(s[i]) > 60 {
			s[i] = s[i][:60] + "..."
		}
	}
	return s
}

// split gives each of w workers the indexes i of [0, n) with i%w == worker.
func split(n, w int, gen func(i int) []any) []iter.Seq[[]any] {
	seqs := make([]iter.Seq[[]any], w)
	for worker := range w {
		seqs[worker] = func(yield func([]any) bool) {
			for i := worker; i < n; i += w {
				if !yield(gen(i)) {
					return
				}
			}
		}
	}
	return seqs
}

// Row 1's data: 10,000 keys with a 100-byte JSON value each, ids as
// redis-benchmark's __rand_int__ writes them (-r 10000: 12 digits, 0..9999).

const getKeys = 10000

func keyID(i int) string { return fmt.Sprintf("%012d", i) }

// value100 is a 100-byte JSON object, keys in order and no spaces, so that a
// server that re-encodes it gives back the same bytes.
func value100(i int) string {
	head := fmt.Sprintf(`{"balance":%d,"id":"%s","name":"Customer %d","pad":"`, i*37%100000, keyID(i), i)
	return head + strings.Repeat("x", 100-len(head)-2) + `"}`
}

// Rows 3, 4 and 5: bank accounts, account:<i> for i in 1..n.

func accountUUID(i int) string {
	x, y := splitmix(uint64(i)), splitmix(uint64(i)+0x9e3779b97f4a7c15)
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", x>>32, x>>16&0xffff, x&0xfff, 0x8000|y>>48&0x3fff, y&0xffffffffffff)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func accountName(i int) string { return "Customer " + strconv.Itoa(i) }
func accountBalance(i int) int { return 100 + i*7919%100000 }

// redisAccount is the Redis twin of an opened account.
func redisAccount(i int) []any {
	i++
	return []any{"HSET", "account:" + strconv.Itoa(i), "uuid", accountUUID(i), "name", accountName(i), "balance", accountBalance(i)}
}

// openAccount opens account i+1 with its first deposit: two events in one
// append, as the bank example's clients do.
func openAccount(i int) []any {
	i++
	return []any{"EVENT.APPEND", "account:" + strconv.Itoa(i),
		"AccountOpened", fmt.Sprintf(`{"uuid":"%s","name":"%s"}`, accountUUID(i), accountName(i)),
		"BalanceIncreased", fmt.Sprintf(`{"amount":%d}`, accountBalance(i))}
}

// balanceEvents are extra single-event appends over accounts 1..accounts,
// split over w workers so that each account's events come from one
// connection, in order: increases of 100 and decreases of 30 by turns, so a
// decrease never fails the bank schema's guard. Account a gets extra/accounts
// events (one more for the first extra%accounts).
func balanceEvents(accounts, extra, w int) []iter.Seq[[]any] {
	seqs := make([]iter.Seq[[]any], w)
	per, rest := extra/accounts, extra%accounts
	rounds := per
	if rest > 0 {
		rounds++
	}
	for worker := range w {
		seqs[worker] = func(yield func([]any) bool) {
			for k := range rounds {
				for a := worker; a < accounts; a += w {
					if k == per && a >= rest {
						break
					}
					ev, amount := "BalanceIncreased", 100
					if k%2 == 1 {
						ev, amount = "BalanceDecreased", 30
					}
					if !yield([]any{"EVENT.APPEND", "account:" + strconv.Itoa(a+1), ev, `{"amount":` + strconv.Itoa(amount) + `}`}) {
						return
					}
				}
			}
		}
	}
	return seqs
}

// loadBank opens accounts accounts (two events each) and appends balance
// events until the log holds events events (when that is more).
func (b *bench) loadBank(f *foldbServer, accounts, events int) error {
	if err := b.load(&f.server, "opening accounts", accounts, split(accounts, loadWorkers, openAccount)); err != nil {
		return err
	}
	if extra := events - 2*accounts; extra > 0 {
		if err := b.load(&f.server, "balance events", extra, balanceEvents(accounts, extra, loadWorkers)); err != nil {
			return err
		}
	}
	return nil
}

// every calls fn every d until the returned stop is called.
func (b *bench) every(d time.Duration, fn func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fn()
			case <-done:
				return
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
