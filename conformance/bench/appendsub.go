package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// subscribers is how many Pub/Sub connections the append-subscribed row
// holds open on each server.
const subscribers = 100

// The appends of rows 2 and 9: both sides write the same stream name, event
// type and JSON data, XADD as the fields type and data of a stream entry.
var (
	appendFoldbCommand = []string{"EVENT.APPEND", "account:__rand_int__", "BalanceIncreased", `{"amount":1}`}
	appendRedisCommand = []string{"XADD", "account:__rand_int__", "*", "type", "BalanceIncreased", "data", `{"amount":1}`}
)

// redisPublishScript is row 9's XADD that also publishes: it appends the
// entry and publishes, on the stream's channel, a JSON object of the size
// and fields of the one foldb publishes for the event (its position,
// stream, version, type, data, meta, id and time). The bench loads it and
// redis-benchmark runs it by EVALSHA, with appendRedisPublish's arguments.
const redisPublishScript = `local id = redis.call('XADD', KEYS[1], '*', 'type', ARGV[1], 'data', ARGV[2])
redis.call('PUBLISH', KEYS[1], '{"position":"' .. id .. '","stream":"' .. KEYS[1] .. '","version":1,"type":"' .. ARGV[1] .. '","data":' .. ARGV[2] .. ',"meta":{},"id":"' .. ARGV[3] .. '","time":1764000000000}')
return id`

var appendRedisPublish = []string{"1", "account:__rand_int__", "BalanceIncreased", `{"amount":1}`, "0f8fad5b-d9cb-469f-a165-70867728950e"}

// subscribers of a run of rows 2 and 9: how many Pub/Sub connections, and
// whether they follow the appended category (each reads every append) or
// a channel no one publishes to (they only hold their connections).
type subs struct {
	n     int
	every bool
}

func (s subs) subscribe(srv *server) (*subscription, error) {
	if s.every {
		return subscribe(srv, s.n, "PSUBSCRIBE", "account:*")
	}
	return subscribe(srv, s.n, "SUBSCRIBE", "idle")
}

// appendFoldb is one 50-client (or 1-client) run of row 2 against a fresh
// foldb with durability always, with the subscribers connected through it.
func (b *bench) appendFoldb(name string, opts []string, n int, ss subs) (float64, error) {
	dir := b.path(name)
	defer os.RemoveAll(dir)
	f, _, err := b.startFoldbLoaded(dir, "--durability", "always")
	if err != nil {
		return 0, err
	}
	defer f.kill()
	conns, err := ss.subscribe(&f.server)
	if err != nil {
		return 0, err
	}
	defer conns.close()
	rps, err := b.benchmark(&f.server, opts, appendFoldbCommand...)
	if err != nil {
		return 0, err
	}
	if last, err := f.infoInt(b.ctx, "log_last_position"); err != nil || last != int64(n) {
		return 0, fmt.Errorf("foldb's log_last_position is %d (%v) after %d appends", last, err, n)
	}
	if ss.every {
		if err := conns.waitMessages(int64(n), 30*time.Second); err != nil {
			return 0, fmt.Errorf("foldb: %w", err)
		}
	}
	return rps, f.shutdown(b.ctx, "NOSAVE")
}

// appendRedis is appendFoldb's run against a fresh Redis with appendfsync
// always. XADD publishes nothing: where the subscribers follow the
// category, each append runs redisPublishScript, which publishes as
// foldb does.
func (b *bench) appendRedis(name string, opts []string, n int, ss subs) (float64, error) {
	dir := b.path(name)
	defer os.RemoveAll(dir)
	r, err := b.startRedis(dir, "--appendonly", "yes", "--appendfsync", "always", "--save", "")
	if err != nil {
		return 0, err
	}
	defer r.kill()
	conns, err := ss.subscribe(&r.server)
	if err != nil {
		return 0, err
	}
	defer conns.close()
	cmd := appendRedisCommand
	if ss.every {
		c := r.client(1)
		sha, err := c.ScriptLoad(b.ctx, redisPublishScript).Result()
		c.Close()
		if err != nil {
			return 0, fmt.Errorf("redis: SCRIPT LOAD: %w", err)
		}
		cmd = append([]string{"EVALSHA", sha}, appendRedisPublish...)
	}
	rps, err := b.benchmark(&r.server, opts, cmd...)
	if err != nil {
		return 0, err
	}
	if ss.every {
		if err := conns.waitMessages(int64(n), 30*time.Second); err != nil {
			return 0, fmt.Errorf("redis: %w", err)
		}
	}
	return rps, r.stop(b.ctx)
}

// subscription is a set of Pub/Sub connections, each reading its messages
// as fast as it can and counting them.
type subscription struct {
	conns    []net.Conn
	messages []atomic.Int64
	errs     []atomic.Value // the error that ended a reader
	wg       sync.WaitGroup
	closing  atomic.Bool
}

// subscribe opens n connections to s that send cmd with arg and have its
// confirmation before it returns.
func subscribe(s *server, n int, cmd, arg string) (*subscription, error) {
	ss := &subscription{messages: make([]atomic.Int64, n), errs: make([]atomic.Value, n)}
	req := fmt.Sprintf("*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(cmd), cmd, len(arg), arg)
	for i := range n {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			ss.close()
			return nil, err
		}
		ss.conns = append(ss.conns, c)
		rd := bufio.NewReaderSize(c, 64<<10)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte(req)); err != nil {
			ss.close()
			return nil, err
		}
		for range 6 { // *3, then the kind, the channel (bulk strings), and :1
			if _, err := rd.ReadSlice('\n'); err != nil {
				ss.close()
				return nil, fmt.Errorf("%s %s %s: %w", s.name, cmd, arg, err)
			}
		}
		c.SetDeadline(time.Time{})
		ss.wg.Add(1)
		go ss.read(i, rd)
	}
	return ss, nil
}

// read counts the messages of connection i: each begins with a line *3
// (message) or *4 (pmessage); no payload of the rows is such a line.
func (ss *subscription) read(i int, rd *bufio.Reader) {
	defer ss.wg.Done()
	for {
		line, err := rd.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if !ss.closing.Load() {
				ss.errs[i].Store(err)
			}
			return
		}
		if bytes.Equal(line, []byte("*4\r\n")) || bytes.Equal(line, []byte("*3\r\n")) {
			ss.messages[i].Add(1)
		}
	}
}

// waitMessages waits until every connection has counted want messages.
func (ss *subscription) waitMessages(want int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		short := 0
		var least int64 = want
		for i := range ss.messages {
			if err, _ := ss.errs[i].Load().(error); err != nil {
				return fmt.Errorf("subscriber %d stopped after %d messages: %v", i, ss.messages[i].Load(), err)
			}
			if m := ss.messages[i].Load(); m < want {
				short++
				least = min(least, m)
			}
		}
		if short == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d subscribers have fewer than %d messages after %v (the fewest %d)", short, len(ss.messages), want, timeout, least)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (ss *subscription) close() {
	ss.closing.Store(true)
	for _, c := range ss.conns {
		c.Close()
	}
	ss.wg.Wait()
}

// Row 9: row 2 at 50 clients with 100 Pub/Sub subscribers on each
// server, in two forms, each beside Redis doing the same work:
//   - subscribers of the appended category (PSUBSCRIBE account:*), each
//     reading every append: foldb publishes every event on its stream's
//     channel; Redis appends and publishes in one script
//     (redisPublishScript), to subscribers of the same pattern;
//   - subscribers of a channel no one publishes to, which only hold their
//     connections: plain EVENT.APPEND against plain XADD.
//
// Each round runs foldb and Redis without subscribers too, so that the row
// also shows what the subscribers cost each server in the same rounds.
func (b *bench) rowAppendSubscribed() ([]result, error) {
	n := b.cfg.writes
	opts := []string{"-n", strconv.Itoa(n), "-c", "50", "-r", "1000"}
	what := fmt.Sprintf("appends, 50 clients, %s requests", count(int64(n)))
	every, idle := subs{n: subscribers, every: true}, subs{n: subscribers}
	runs := []struct {
		name string
		run  func(round int) (float64, error)
		rps  []float64
	}{
		{name: "foldb EVENT.APPEND", run: func(round int) (float64, error) {
			return b.appendFoldb(fmt.Sprintf("appendsub-foldb-plain-%d", round), opts, n, subs{})
		}},
		{name: fmt.Sprintf("foldb EVENT.APPEND, %d subscribers of account:*", subscribers), run: func(round int) (float64, error) {
			return b.appendFoldb(fmt.Sprintf("appendsub-foldb-every-%d", round), opts, n, every)
		}},
		{name: fmt.Sprintf("foldb EVENT.APPEND, %d subscribers of an idle channel", subscribers), run: func(round int) (float64, error) {
			return b.appendFoldb(fmt.Sprintf("appendsub-foldb-idle-%d", round), opts, n, idle)
		}},
		{name: "redis XADD", run: func(round int) (float64, error) {
			return b.appendRedis(fmt.Sprintf("appendsub-redis-plain-%d", round), opts, n, subs{})
		}},
		{name: fmt.Sprintf("redis XADD and PUBLISH in a script, %d subscribers of account:*", subscribers), run: func(round int) (float64, error) {
			return b.appendRedis(fmt.Sprintf("appendsub-redis-every-%d", round), opts, n, every)
		}},
		{name: fmt.Sprintf("redis XADD, %d subscribers of an idle channel", subscribers), run: func(round int) (float64, error) {
			return b.appendRedis(fmt.Sprintf("appendsub-redis-idle-%d", round), opts, n, idle)
		}},
	}
	for round := 1; round <= b.cfg.rounds; round++ {
		for i := range runs {
			b.progress("  %s: round %d/%d, %s", what, round, b.cfg.rounds, runs[i].name)
			v, err := runs[i].run(round)
			if err != nil {
				return nil, err
			}
			b.progress("  %s: round %d/%d, %s: %s", what, round, b.cfg.rounds, runs[i].name, showRPS(v))
			runs[i].rps = append(runs[i].rps, v)
		}
	}
	fPlain, fEvery, fIdle := runs[0].rps, runs[1].rps, runs[2].rps
	rPlain, rEvery, rIdle := runs[3].rps, runs[4].rps, runs[5].rps
	ratios := func(a, z []float64) string {
		s := make([]string, len(a))
		for i := range a {
			s[i] = fmt.Sprintf("%.2f", a[i]/z[i])
		}
		return strings.Join(s, " ")
	}
	fanout := throughput(9, fmt.Sprintf("EVENT.APPEND vs XADD+PUBLISH, 50 clients, %d subscribers of account:* reading every append", subscribers),
		fEvery, rEvery, 0.8, 1.5)
	fanout.detail = fmt.Sprintf("each subscriber counts all %s messages a round on both sides; foldb publishes each event as it does for any "+
		"subscriber, Redis runs XADD and PUBLISH of a JSON object of the same fields in one EVAL; with/without subscribers: foldb %.2f "+
		"(each round %s), Redis %.2f (each round %s)", count(int64(n)),
		median(fEvery)/median(fPlain), ratios(fEvery, fPlain), median(rEvery)/median(rPlain), ratios(rEvery, rPlain))
	held := throughput(9, fmt.Sprintf("EVENT.APPEND vs XADD, 50 clients, %d subscribers of an idle channel connected", subscribers),
		fIdle, rIdle, 0.8, 1.5)
	held.detail = fmt.Sprintf("with/without subscribers: foldb %.2f (each round %s), Redis %.2f (each round %s)",
		median(fIdle)/median(fPlain), ratios(fIdle, fPlain), median(rIdle)/median(rPlain), ratios(rIdle, rPlain))
	plain := throughput(9, "the same rounds without subscribers (not judged)", fPlain, rPlain, math.NaN(), math.NaN())
	return []result{fanout, held, plain}, nil
}
