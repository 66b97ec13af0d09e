package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/redis/go-redis/v9"
)

// TestCrashDuringAppends: 16 connections append for a few seconds, then
// the server is killed with SIGKILL while appends are in flight. After a
// restart on the same directory every answered append is there as it was
// answered, the log has no gap and no torn event, and every unanswered
// append is there whole or not at all.
//
// Under everysec and none the same holds: a process crash leaves the OS
// with every journal write made before a reply.
func TestCrashDuringAppends(t *testing.T) {
	for _, durability := range []string{"always", "everysec", "none"} {
		t.Run(durability, func(t *testing.T) {
			s := startServer(t, "", "--durability", durability)
			recs := appendUnderLoad(t, s, loadDuration(), s.Kill)
			s2 := s.Restart()
			checkAppends(t, s2, recs)
			s2.Stop()
		})
	}
}

// TestShutdownDuringAppends: the same load, ended by SIGTERM: the server
// answers the appends it has read, exits with status 0, and keeps them all.
func TestShutdownDuringAppends(t *testing.T) {
	s := startServer(t, "", "--durability", "always")
	recs := appendUnderLoad(t, s, loadDuration(), s.Stop)
	if !strings.Contains(s.Log(), `msg=stopped`) {
		t.Errorf("no 'stopped' line in the log after SIGTERM")
	}
	s2 := s.Restart()
	// The server answers every append it commits before it closes the
	// connection: none may be in the log unanswered.
	if n := checkAppends(t, s2, recs); n > 0 {
		t.Errorf("%d appends are in the log but were not answered before the shutdown", n)
	}
	s2.Stop()
}

// TestKillKeepsAnsweredAppends: a process crash (kill -9, the OOM killer,
// a panic) with the machine still up loses no answered append, whatever
// the durability: everysec and none trade away fsync, as Redis's
// appendfsync does, so only a machine crash may lose appends. Like Redis,
// which write(2)s its AOF before it replies, the events must be with the
// OS when the reply goes out.
func TestKillKeepsAnsweredAppends(t *testing.T) {
	for _, durability := range []string{"always", "everysec", "none"} {
		t.Run(durability, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, "", "--durability", durability)
			c := s.Client(2)
			for i := range 3 {
				v, err := c.Do(context.Background(), "EVENT.APPEND", "account:1", "BalanceIncreased", `{"amount":1}`).Result()
				if err != nil || fmt.Sprint(v) != fmt.Sprintf("[%d %d]", i+1, i+1) {
					t.Fatalf("EVENT.APPEND = %v, %v", v, err)
				}
			}
			s.Kill()
			if n := s.Restart().StartEvents(); n != 3 {
				t.Errorf("--durability %s: 3 appends answered, then kill -9: %d events after the restart", durability, n)
			}
		})
	}
}

func loadDuration() time.Duration {
	if testing.Short() {
		return time.Second
	}
	return 3 * time.Second
}

// appendRec is one EVENT.APPEND a worker sent, and what came of it.
type appendRec struct {
	stream string
	id     string
	types  []string
	data   []string // each holds a unique "token"
	tokens []string
	// wantVersion is the version the append must reply, when the worker
	// owns the stream (0: not known).
	wantVersion int64

	outcome  outcome
	version  int64
	position int64
	reply    string // the error reply, for refused
}

type outcome int

const (
	unanswered outcome = iota // sent (perhaps), the connection broke before the reply
	answered
	refused // an error reply: nothing may be written
)

const (
	loadWorkers   = 16
	sharedStreams = 64
)

// appendUnderLoad runs loadWorkers connections that append until d has
// passed, then calls stop (SIGKILL or SIGTERM) while they go on, and
// returns every append sent. Odd workers pipeline up to 8 appends at a
// time; workers 0-3 write streams of their own with EXPECT <version>, the
// others share sharedStreams streams without EXPECT.
func appendUnderLoad(t *testing.T, s *Server, d time.Duration, stop func()) []*appendRec {
	t.Helper()
	a := startAppenders(s.Addr, loadWorkers)
	time.Sleep(d) // the length of the load, not a wait for a condition
	all, counts := a.stop(t, stop)
	t.Logf("%d appends in %v: %d answered, %d refused, %d unanswered when the server stopped",
		len(all), d, counts[answered], counts[refused], counts[unanswered])
	if counts[answered] == 0 {
		t.Fatal("no append was answered")
	}
	if counts[unanswered] == 0 {
		t.Fatal("no append was in flight when the server stopped")
	}
	return all
}

// appenders are appendWorker connections running at once.
type appenders struct {
	stopping atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	all      []*appendRec
	failures []string
}

// startAppenders starts n appendWorker connections (workers 0..n-1).
func startAppenders(addr string, n int) *appenders {
	a := &appenders{}
	for w := range n {
		a.wg.Go(func() {
			recs, err := appendWorker(addr, w, &a.stopping)
			a.mu.Lock()
			defer a.mu.Unlock()
			a.all = append(a.all, recs...)
			if err != nil {
				a.failures = append(a.failures, fmt.Sprintf("worker %d: %v", w, err))
			}
		})
	}
	return a
}

// stop tells the workers the server is going away, stops it with
// stopServer while they go on, waits for them, fails the test for each
// worker that broke otherwise, and returns every append sent with the
// number of each outcome.
func (a *appenders) stop(t *testing.T, stopServer func()) ([]*appendRec, map[outcome]int) {
	t.Helper()
	a.stopping.Store(true)
	stopServer()
	a.wg.Wait()
	for _, f := range a.failures {
		t.Error(f)
	}
	counts := map[outcome]int{}
	for _, r := range a.all {
		counts[r.outcome]++
	}
	return a.all, counts
}

// appendWorker appends until its connection breaks, which must happen
// only once stopping is set.
func appendWorker(addr string, w int, stopping *atomic.Bool) ([]*appendRec, error) {
	ctx := context.Background()
	c := redis.NewClient(clientOptions(addr, 3))
	defer c.Close()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
	ownVersions := map[string]int64{}
	var recs []*appendRec
	for seq := 0; ; {
		batch := 1
		if w%2 == 1 {
			batch = 1 + rng.IntN(8)
		}
		pipe := c.Pipeline()
		cmds := make([]*redis.Cmd, batch)
		for i := range cmds {
			r := &appendRec{id: fmt.Sprintf("w%02d-%07d", w, seq)}
			seq++
			args := []any{"EVENT.APPEND", "", "ID", r.id}
			if w < 4 {
				r.stream = fmt.Sprintf("own:%d-%d", w, rng.IntN(8))
				args = append(args, "EXPECT", ownVersions[r.stream])
			} else {
				r.stream = fmt.Sprintf("shared:%d", rng.IntN(sharedStreams))
			}
			args[1] = r.stream
			n := 1
			if rng.IntN(4) == 0 {
				n += 1 + rng.IntN(3)
			}
			for j := range n {
				tok := fmt.Sprintf("%s.%d", r.id, j)
				typ := []string{"Deposited", "Withdrawn", "Renamed"}[rng.IntN(3)]
				// Mostly small, a quarter up to 4kb, so events straddle Pebble's blocks.
				pad := rng.IntN(100)
				if rng.IntN(4) == 0 {
					pad = rng.IntN(4000)
				}
				data := fmt.Sprintf(`{"token":%q,"worker":%d,"pad":%q}`, tok, w, strings.Repeat("x", pad))
				r.tokens, r.types, r.data = append(r.tokens, tok), append(r.types, typ), append(r.data, data)
				args = append(args, typ, data)
			}
			cmds[i] = pipe.Do(ctx, args...)
			recs = append(recs, r)
			if w < 4 {
				ownVersions[r.stream] += int64(n) // a failure ends the worker
				r.wantVersion = ownVersions[r.stream]
			}
		}
		sent := recs[len(recs)-batch:]
		pipe.Exec(ctx)
		broken := false
		for i, cmd := range cmds {
			r := sent[i]
			// A reply that was read keeps its value even when go-redis
			// then marks the whole pipeline with the error that broke it.
			v, err := cmd.Result()
			switch {
			case v != nil:
				vp, ok := v.([]any)
				if !ok || len(vp) != 2 {
					return recs, fmt.Errorf("EVENT.APPEND replied %v", v)
				}
				r.version, _ = vp[0].(int64)
				r.position, _ = vp[1].(int64)
				r.outcome = answered
				if r.wantVersion != 0 && r.version != r.wantVersion {
					return recs, fmt.Errorf("EVENT.APPEND %s EXPECT %d replied version %d", r.stream, r.wantVersion-int64(len(r.tokens)), r.version)
				}
			case isNetError(err):
				broken = true
			default:
				r.outcome, r.reply = refused, err.Error()
				if !stopping.Load() {
					return recs, fmt.Errorf("EVENT.APPEND %s refused before the stop: %v", r.stream, err)
				}
			}
		}
		if broken {
			if !stopping.Load() {
				return recs, fmt.Errorf("connection broke before the stop: %v", cmds[len(cmds)-1].Err())
			}
			return recs, nil
		}
	}
}

// checkAppends reads the whole log of a restarted server and checks it
// against what the workers sent and were told.
// It returns how many unanswered appends are in the log.
func checkAppends(t *testing.T, s *Server, recs []*appendRec) int {
	t.Helper()
	ctx := context.Background()
	c := s.Client(3)
	evs := readLog(t, c, 1, 500) // no gap, all decode, versions gap-free
	last := int64(len(evs))
	if got := s.StartEvents(); got != last {
		t.Errorf("start line says events=%d, EVENT.RANGE found %d", got, last)
	}
	if got := testkit.InfoInt(t, c, "everything", "log_last_position"); got != last {
		t.Errorf("INFO log_last_position = %d, EVENT.RANGE found %d", got, last)
	}
	byToken := make(map[string]event, len(evs))
	for _, e := range evs {
		var data struct{ Token string }
		if err := json.Unmarshal([]byte(e.Data), &data); err != nil || data.Token == "" {
			t.Fatalf("event at %d has no token: %s", e.Position, e.Data)
		}
		if prev, dup := byToken[data.Token]; dup {
			t.Fatalf("token %s at positions %d and %d", data.Token, prev.Position, e.Position)
		}
		byToken[data.Token] = e
	}

	claimed, wholeUnanswered := 0, 0
	for _, r := range recs {
		k := len(r.tokens)
		present := 0
		for _, tok := range r.tokens {
			if _, ok := byToken[tok]; ok {
				present++
			}
		}
		claimed += present
		switch {
		case r.outcome == refused && present > 0:
			t.Errorf("append %s was refused (%s) but %d of its events are in the log", r.id, r.reply, present)
			continue
		case r.outcome == answered && present < k:
			t.Errorf("append %s to %s was answered [%d, %d] but %d of its %d events are missing", r.id, r.stream, r.version, r.position, k-present, k)
			continue
		case present != 0 && present != k:
			t.Errorf("unanswered append %s is torn: %d of its %d events are in the log", r.id, present, k)
			continue
		case present == 0:
			continue
		}
		if r.outcome == unanswered {
			wholeUnanswered++
		}
		first := byToken[r.tokens[0]]
		for j, tok := range r.tokens {
			e := byToken[tok]
			want := event{Position: first.Position + int64(j), Stream: r.stream, Version: first.Version + int64(j), Type: r.types[j], Data: r.data[j], Meta: "{}", ID: r.id, Time: e.Time}
			if d := time.Since(time.UnixMilli(e.Time)); e != want || d < 0 || d > 10*time.Minute {
				t.Errorf("append %s event %d:\n got  %+v\n want %+v", r.id, j, e, want)
			}
		}
		if r.outcome == answered {
			if lastE := byToken[r.tokens[k-1]]; lastE.Position != r.position || lastE.Version != r.version {
				t.Errorf("append %s was answered [%d, %d]; its last event is at version %d, position %d", r.id, r.version, r.position, lastE.Version, lastE.Position)
			}
		}
	}
	if claimed != len(evs) {
		t.Errorf("the log holds %d events, the workers sent %d of them", len(evs), claimed)
	}
	t.Logf("after restart: %d events, %d unanswered appends made it whole", last, wholeUnanswered)
	if t.Failed() {
		return wholeUnanswered
	}

	// The same ID again returns the first result, also after a restart, and
	// for an unanswered append that made it: the ID was committed with it.
	replayed := 0
	for _, r := range recs {
		if _, ok := byToken[r.tokens[0]]; !ok || replayed >= 50 {
			continue
		}
		replayed++
		want := []any{byToken[r.tokens[len(r.tokens)-1]].Version, byToken[r.tokens[len(r.tokens)-1]].Position}
		args := []any{"EVENT.APPEND", r.stream, "ID", r.id}
		for j := range r.tokens {
			args = append(args, r.types[j], r.data[j])
		}
		got, err := c.Do(ctx, args...).Result()
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("append %s again: %v, %v; want %v", r.id, got, err, want)
		}
	}
	if got := testkit.InfoInt(t, c, "everything", "log_last_position"); got != last {
		t.Errorf("replaying %d IDs moved the last position from %d to %d", replayed, last, got)
	}
	// The log takes new appends after the restart.
	got, err := c.Do(ctx, "EVENT.APPEND", "after:restart", "Happened", "{}").Result()
	if err != nil || fmt.Sprint(got) != fmt.Sprint([]any{int64(1), last + 1}) {
		t.Errorf("EVENT.APPEND after the restart = %v, %v; want [1 %d]", got, err, last+1)
	}
	return wholeUnanswered
}

// TestShutdownCommand: SHUTDOWN stops the server as SIGTERM does, closing
// the connection without a reply as Redis does; SIGINT does too.
func TestShutdownCommand(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := testkit.Dial(t, s.Addr)
	if got := c.Do("EVENT.APPEND", "account:1", "AccountOpened", "{}"); !reflect.DeepEqual(got, []any{int64(1), int64(1)}) {
		t.Fatalf("EVENT.APPEND = %v", got)
	}
	c.Send("SHUTDOWN")
	c.ExpectClosed("")
	if err := s.Wait(stopTimeout); err != nil {
		t.Fatalf("after SHUTDOWN foldb exited with %v", err)
	}
	s = s.Restart()
	if n := s.StartEvents(); n != 1 {
		t.Errorf("after SHUTDOWN and a restart: events=%d, want 1", n)
	}
	s.Signal(os.Interrupt)
	if err := s.Wait(stopTimeout); err != nil {
		t.Fatalf("after SIGINT foldb exited with %v", err)
	}
	if !strings.Contains(s.Log(), "msg=stopped") {
		t.Errorf("no 'stopped' line after SIGINT")
	}
}

// TestSignalRightAfterStart: a service manager may stop a service as soon
// as it has started. SIGTERM right after the start line must stop the
// server cleanly (exit status 0), not kill it.
func TestSignalRightAfterStart(t *testing.T) {
	t.Parallel()
	for i := range 10 {
		s := startProcess(t, "")
		s.Signal(syscall.SIGTERM)
		if err := s.Wait(stopTimeout); err != nil {
			t.Fatalf("try %d: SIGTERM right after the start line: foldb exited with %v, want status 0", i, err)
		}
	}
}
