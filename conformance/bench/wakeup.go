package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// wakeConsumers is how many consumers of the wake-up row block on the group.
const wakeConsumers = 50

// wakeKey is foldb's key of the wake-up row: the category of the stream
// wake:1 that the producer appends to.
const wakeKey = "$ce-wake"

// Row 8: the wake-up latency of a blocked XREADGROUP. 50 consumers, a
// connection each, block in XREADGROUP GROUP g c<i> COUNT 1 BLOCK 0 on one
// group of one key; a producer appends one event at a time and times from
// the append's reply to the moment the consumer that got it has its reply,
// paired by entry ID. The next append waits until every consumer is blocked
// again (INFO blocked_clients), so each one finds 50 readers waiting. Both
// servers write durably: foldb --durability always, Redis appendfsync always.
// Redis's entries carry the fields of foldb's (redisWakeEntry).
func (b *bench) rowWakeup() ([]result, error) {
	n := b.cfg.wakeups
	what := fmt.Sprintf("wake-up of %d blocked XREADGROUP, %s appends a round", wakeConsumers, count(int64(n)))
	var fAll, rAll, fSent, rSent []time.Duration
	show := func(l latency) string {
		return fmt.Sprintf("p50 %s, p99 %s", shortDuration(l.p50), shortDuration(l.p99))
	}
	fs, rs, err := alternate(b, what, show,
		side[latency]{"foldb XADD wake:1, XREADGROUP " + wakeKey, func(round int) (latency, error) {
			dir := b.path(fmt.Sprintf("wakeup-foldb-%d", round))
			defer os.RemoveAll(dir)
			f, _, err := b.startFoldbLoaded(dir, "--durability", "always")
			if err != nil {
				return latency{}, err
			}
			defer f.kill()
			took, sent, err := b.wakeups(&f.server, wakeKey, n, []any{"XADD", "wake:1", "*", "type", "T", "data", `{"n":1}`})
			if err != nil {
				return latency{}, err
			}
			fAll, fSent = append(fAll, took...), append(fSent, sent...)
			return wakeLatency(took), f.shutdown(b.ctx, "NOSAVE")
		}},
		side[latency]{"redis XADD wake, XREADGROUP wake", func(round int) (latency, error) {
			dir := b.path(fmt.Sprintf("wakeup-redis-%d", round))
			defer os.RemoveAll(dir)
			r, err := b.startRedis(dir, "--appendonly", "yes", "--appendfsync", "always", "--save", "")
			if err != nil {
				return latency{}, err
			}
			defer r.kill()
			took, sent, err := b.wakeups(&r.server, "wake", n, redisWakeEntry)
			if err != nil {
				return latency{}, err
			}
			rAll, rSent = append(rAll, took...), append(rSent, sent...)
			return wakeLatency(took), r.stop(b.ctx)
		}})
	if err != nil {
		return nil, err
	}
	fl, rl := wakeLatency(fAll), wakeLatency(rAll)
	cell := func(l latency, samples int) string {
		return fmt.Sprintf("p50 %s, p99 %s (%s)", shortDuration(l.p50), shortDuration(l.p99), count(int64(samples)))
	}
	round := func(ls []latency) string {
		s := make([]string, len(ls))
		for i, l := range ls {
			s[i] = show(l)
		}
		return "[" + strings.Join(s, "; ") + "]"
	}
	return []result{{row: 8, work: fmt.Sprintf("wake-up of a blocked XREADGROUP after a durable XADD, %d consumers, p99 foldb/Redis", wakeConsumers),
		foldb: float64(fl.p99), redis: float64(rl.p99), unit: unitDuration, compared: true, lowerBetter: true,
		floor: 1.0, goal: math.NaN(), cells: [2]string{cell(fl, len(fAll)), cell(rl, len(rAll))},
		detail: fmt.Sprintf("every round's samples pooled; rounds foldb %s, Redis %s; foldb reads %s (the category of wake:1); "+
			"the time is from the XADD's reply to the consumer's, so it is below zero when the consumer is the quicker to read; "+
			"from sending the XADD to the consumer's reply: foldb %s, Redis %s",
			round(fs), round(rs), wakeKey, show(wakeLatency(fSent)), show(wakeLatency(rSent)))}}, nil
}

// redisWakeEntry is the Redis side's XADD: an entry with the fields and
// values of the one foldb's consumers get for an append to wake:1 (stream,
// version, type, data, meta, id, time), so that both sides' consumers read
// and parse replies of the same size.
var redisWakeEntry = []any{"XADD", "wake", "*", "stream", "wake:1", "version", "1", "type", "T",
	"data", `{"n":1}`, "meta", "{}", "id", "", "time", "1796409925019"}

// wakeLatency is the p50 and p99 of the samples (rps is unused).
func wakeLatency(took []time.Duration) latency {
	s := slices.Clone(took)
	slices.Sort(s)
	return latency{p50: percentile(s, 50), p99: percentile(s, 99)}
}

// wakeups creates group g on key at $, blocks wakeConsumers consumers on
// it, and appends n times with appendCmd, one at a time, returning each
// append's wake-up time, from its reply and from its sending.
func (b *bench) wakeups(s *server, key string, n int, appendCmd []any) (took, fromSend []time.Duration, err error) {
	pc := s.client(1)
	defer pc.Close()
	if err := pc.Do(b.ctx, "XGROUP", "CREATE", key, "g", "$", "MKSTREAM").Err(); err != nil {
		return nil, nil, fmt.Errorf("%s XGROUP CREATE %s g $ MKSTREAM: %w", s.name, key, err)
	}

	type got struct {
		id  string
		at  time.Time
		err error
	}
	received := make(chan got, wakeConsumers)
	var wg sync.WaitGroup
	var clients []*redis.Client
	defer func() {
		for _, c := range clients {
			c.Close() // ends the blocked reads
		}
		wg.Wait()
	}()
	for i := range wakeConsumers {
		c := s.client(1)
		clients = append(clients, c)
		args := &redis.XReadGroupArgs{Group: "g", Consumer: "c" + strconv.Itoa(i), Streams: []string{key, ">"}, Count: 1, Block: 0}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				streams, err := c.XReadGroup(b.ctx, args).Result()
				at := time.Now()
				if errors.Is(err, redis.ErrClosed) || b.ctx.Err() != nil {
					return
				}
				if err == nil && (len(streams) != 1 || len(streams[0].Messages) != 1) {
					err = fmt.Errorf("a reply of %d keys, not one entry: %v", len(streams), streams)
				}
				if err != nil {
					received <- got{err: fmt.Errorf("%s XREADGROUP GROUP g %s COUNT 1 BLOCK 0 STREAMS %s >: %w", s.name, args.Consumer, key, err)}
					return
				}
				received <- got{id: streams[0].Messages[0].ID, at: at}
			}
		}()
	}

	took, fromSend = make([]time.Duration, 0, n), make([]time.Duration, 0, n)
	for range n {
		if err := b.waitBlocked(pc, s, wakeConsumers); err != nil {
			return nil, nil, err
		}
		sent := time.Now()
		id, err := pc.Do(b.ctx, appendCmd...).Text()
		replied := time.Now()
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: %w", s.name, strings.Join(cmdArgs(appendCmd), " "), err)
		}
		select {
		case g := <-received:
			if g.err != nil {
				return nil, nil, g.err
			}
			if g.id != id {
				return nil, nil, fmt.Errorf("%s: a consumer got %s where the append made %s", s.name, g.id, id)
			}
			took = append(took, g.at.Sub(replied))
			fromSend = append(fromSend, g.at.Sub(sent))
		case <-time.After(time.Minute):
			return nil, nil, fmt.Errorf("%s: no consumer got %s within a minute", s.name, id)
		case <-b.ctx.Done():
			return nil, nil, errInterrupted
		}
	}
	return took, fromSend, nil
}

// waitBlocked polls INFO clients until want clients are blocked.
func (b *bench) waitBlocked(c *redis.Client, s *server, want int) error {
	deadline := time.Now().Add(time.Minute)
	for {
		info, err := c.Info(b.ctx, "clients").Result()
		if err != nil {
			return fmt.Errorf("INFO clients of %s: %w", s.name, err)
		}
		if strings.Contains(info, "\nblocked_clients:"+strconv.Itoa(want)+"\r") {
			return nil
		}
		if b.ctx.Err() != nil {
			return errInterrupted
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: fewer than %d clients blocked after a minute:\n%s", s.name, want, info)
		}
		time.Sleep(100 * time.Microsecond)
	}
}
