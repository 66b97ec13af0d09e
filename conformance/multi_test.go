package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/redis/go-redis/v9"
)

// TestMultiAsRedis runs the same MULTI, EXEC, DISCARD and WATCH steps on
// one connection to Redis 7 and one to foldb and compares the replies,
// RESP2 and RESP3: queuing, nesting, the errors out of place, an error
// while queuing, DISCARD, a watch that held and one that broke. The
// commands queued are ones both servers know (PING, ECHO); a watched
// key is moved on Redis with SET, a watched stream on foldb with an append.
func TestMultiAsRedis(t *testing.T) {
	rs := startRedis(t)
	fs := startServer(t, "")
	for _, proto := range []int{2, 3} {
		_, _, rc, fc := clientPair(t, rs, fs, proto)
		// Other connections move the watched key and stream.
		rother, fother := redisClient(t, rs, proto), fs.Client(proto)
		key := fmt.Sprint("account:w", proto)
		move := map[*redis.Conn]func(){
			rc: func() {
				if err := rother.Set(context.Background(), key, "x", 0).Err(); err != nil {
					t.Fatal(err)
				}
			},
			fc: func() {
				if err := fother.Do(context.Background(), "EVENT.APPEND", key, "Moved", "{}").Err(); err != nil {
					t.Fatal(err)
				}
			},
		}
		steps := [][]any{
			{"MULTI"}, {"PING"}, {"ECHO", "hello"}, {"EXEC"},
			{"EXEC"}, {"DISCARD"},
			{"MULTI"}, {"MULTI"}, {"PING"}, {"EXEC"},
			{"MULTI"}, {"NOSUCH", "a"}, {"PING"}, {"EXEC"},
			{"MULTI"}, {"PING", "a", "b"}, {"EXEC"},
			{"MULTI"}, {"PING"}, {"DISCARD"}, {"EXEC"},
			{"MULTI"}, {"EXEC"},
			{"MULTI"}, {"WATCH", key}, {"PING"}, {"EXEC"},
			{"WATCH", key}, {"MULTI"}, {"PING"}, {"EXEC"},
			{"WATCH", key}, {"move"}, {"MULTI"}, {"PING"}, {"EXEC"},
			{"WATCH", key}, {"move"}, {"UNWATCH"}, {"MULTI"}, {"PING"}, {"EXEC"},
			{"WATCH", key}, {"move"}, {"MULTI"}, {"DISCARD"}, {"MULTI"}, {"PING"}, {"EXEC"},
			{"MULTI"}, {"PING"}, {"RESET"}, {"EXEC"},
		}
		watchBroken := 35 // the EXEC after the first move
		for i, step := range steps {
			if step[0] == "move" {
				move[rc]()
				move[fc]()
				continue
			}
			want, got := reply(rc, step), reply(fc, step)
			if step[0] == "EXEC" && i == watchBroken {
				if want != "(nil)" {
					t.Fatalf("RESP%d: Redis's EXEC after the watched key moved = %#v", proto, want)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("RESP%d step %d %v:\nfoldb %#v\nredis %#v", proto, i, step, got, want)
			}
		}
	}
}

// TestRedisCLITransaction: redis-cli reading a transfer from its standard
// input (which makes it send COMMAND DOCS first) commits both appends.
func TestRedisCLITransaction(t *testing.T) {
	t.Parallel()
	cliPath := needTool(t, "redis-cli")
	s := startServer(t, "", "--schema", testkit.BankSchemaPath(t))
	c := s.Client(2)
	if _, err := c.Do(context.Background(), "EVENT.APPEND", "account:1", "BalanceIncreased", `{"amount":10}`).Result(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cliPath, "-p", strconv.Itoa(s.Port))
	cmd.Stdin = strings.NewReader("MULTI\n" +
		`EVENT.APPEND account:1 BalanceDecreased '{"amount":4}'` + "\n" +
		`EVENT.APPEND account:2 BalanceIncreased '{"amount":4}'` + "\n" +
		"EXEC\n" +
		"MULTI\n" +
		`EVENT.APPEND account:1 BalanceDecreased '{"amount":7}'` + "\n" +
		`EVENT.APPEND account:2 BalanceIncreased '{"amount":7}'` + "\n" +
		"EXEC\n" +
		"ENTITY.GET account 2\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli: %v\n%s", err, out)
	}
	want := "OK\nQUEUED\nQUEUED\n2\n2\n1\n3\n" +
		"OK\nQUEUED\nQUEUED\n" +
		"REJECTED insufficient funds\n" +
		"EXECABORT Transaction discarded because command 1 (EVENT.APPEND account:1) was refused: REJECTED insufficient funds\n" +
		`{"balance":4}` + "\n"
	// redis-cli, printing to a pipe, leaves a blank line after some
	// replies; those are not compared.
	got := strings.ReplaceAll(strings.ReplaceAll(string(out), "\r", ""), "\n\n", "\n")
	if got != want {
		t.Fatalf("redis-cli printed:\n%q\nwant:\n%q", got, want)
	}
}

// TestCrashDuringTransfers: connections move money between accounts with
// MULTI/EXEC transfers (a decrease and an increase, each leg carrying the
// transfer's token in its meta) until the server is killed with SIGKILL
// in the middle. After the restart no transfer is half there: each
// token's legs are both in the log, next to each other, or neither is;
// every answered transfer is there and no refused one; the balances sum
// to what was deposited and none is below zero.
func TestCrashDuringTransfers(t *testing.T) {
	s := startServer(t, "", "--schema", testkit.BankSchemaPath(t))
	const accounts, deposit = 20, 1000
	c := s.Client(2)
	for i := range accounts {
		if _, err := c.Do(context.Background(), "EVENT.APPEND", fmt.Sprint("account:", i), "BalanceIncreased", fmt.Sprintf(`{"amount":%d}`, deposit)).Result(); err != nil {
			t.Fatal(err)
		}
	}
	var stopping atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]outcome{} // by token
	var failures []string
	for w := range 8 {
		wg.Go(func() {
			tc := redis.NewClient(clientOptions(s.Addr, 2))
			defer tc.Close()
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
			for i := 0; ; i++ {
				from, to := rng.IntN(accounts), rng.IntN(accounts)
				if from == to {
					continue
				}
				token := fmt.Sprintf("w%d-%d", w, i)
				meta := fmt.Sprintf(`{"transfer":%q}`, token)
				amount := 1 + rng.IntN(300)
				_, err := tc.TxPipelined(context.Background(), func(p redis.Pipeliner) error {
					p.Do(context.Background(), "EVENT.APPEND", fmt.Sprint("account:", from), "META", meta, "BalanceDecreased", fmt.Sprintf(`{"amount":%d}`, amount))
					p.Do(context.Background(), "EVENT.APPEND", fmt.Sprint("account:", to), "META", meta, "BalanceIncreased", fmt.Sprintf(`{"amount":%d}`, amount))
					return nil
				})
				o := answered
				switch {
				case err == nil:
				case isNetError(err):
					o = unanswered
				case strings.HasPrefix(err.Error(), "REJECTED") || strings.HasPrefix(err.Error(), "EXECABORT"):
					o = refused
				default:
					mu.Lock()
					failures = append(failures, fmt.Sprintf("transfer %s: %v", token, err))
					mu.Unlock()
					return
				}
				mu.Lock()
				outcomes[token] = o
				mu.Unlock()
				if o == unanswered {
					if !stopping.Load() {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("transfer %s: the connection broke before the kill", token))
						mu.Unlock()
					}
					return
				}
			}
		})
	}
	testkit.WaitFor(t, "a few hundred transfers", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(outcomes) >= 300
	})
	stopping.Store(true)
	s.Kill()
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	counts := map[outcome]int{}
	for _, o := range outcomes {
		counts[o]++
	}
	t.Logf("%d transfers: %d answered, %d refused, %d unanswered at the kill", len(outcomes), counts[answered], counts[refused], counts[unanswered])

	s2 := s.Restart()
	c2 := s2.Client(2)
	legs := map[string][]int64{} // token: positions
	for from := int64(1); ; {
		v, err := c2.Do(context.Background(), "EVENT.RANGE", from, "COUNT", 1000).Result()
		if err != nil {
			t.Fatal(err)
		}
		evs := v.([]any)
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			f := e.([]any)
			fields := map[string]any{}
			for i := 0; i+1 < len(f); i += 2 {
				fields[f[i].(string)] = f[i+1]
			}
			pos := fields["position"].(int64)
			var meta struct{ Transfer string }
			json.Unmarshal([]byte(fields["meta"].(string)), &meta)
			if meta.Transfer != "" {
				legs[meta.Transfer] = append(legs[meta.Transfer], pos)
			}
			from = pos + 1
		}
	}
	for token, ps := range legs {
		if len(ps) != 2 || ps[1] != ps[0]+1 {
			t.Errorf("transfer %s: legs at positions %v; want two, next to each other", token, ps)
		}
		if o, ok := outcomes[token]; !ok || o == refused {
			t.Errorf("transfer %s is in the log but was %v", token, o)
		}
	}
	for token, o := range outcomes {
		if _, ok := legs[token]; o == answered && !ok {
			t.Errorf("answered transfer %s is not in the log", token)
		}
	}
	sum := 0
	for i := range accounts {
		raw, err := c2.Do(context.Background(), "ENTITY.GET", "account", fmt.Sprint(i)).Text()
		if err != nil {
			t.Fatal(err)
		}
		var a struct{ Balance int }
		if err := json.Unmarshal([]byte(raw), &a); err != nil {
			t.Fatal(err)
		}
		if a.Balance < 0 {
			t.Errorf("account %d is at %d", i, a.Balance)
		}
		sum += a.Balance
	}
	if sum != accounts*deposit {
		t.Errorf("the balances sum to %d after the restart; want %d", sum, accounts*deposit)
	}
	s2.Stop()
}

// clientPair is a client of Redis and one of foldb in protocol proto, and
// one connection of each for the steps that must share a connection
// (MULTI ... EXEC), closed when the test ends.
func clientPair(t *testing.T, rs *redisServer, fs *Server, proto int) (rcl, fcl *redis.Client, rc, fc *redis.Conn) {
	rcl, fcl = redisClient(t, rs, proto), fs.Client(proto)
	rc, fc = rcl.Conn(), fcl.Conn()
	t.Cleanup(func() {
		rc.Close()
		fc.Close()
	})
	return rcl, fcl, rc, fc
}

func (o outcome) String() string {
	return [...]string{"unanswered", "answered", "refused"}[o]
}

// TestMultiXAckAsRedis: XACK inside MULTI, the same steps against Redis 7
// and foldb: acknowledgements, a missing group, a malformed ID and the
// pending entries read in the same transaction.
func TestMultiXAckAsRedis(t *testing.T) {
	rs := startRedis(t)
	fs := startServer(t, "")
	for _, proto := range []int{2, 3} {
		rcl, fcl, rc, fc := clientPair(t, rs, fs, proto)
		key := fmt.Sprint("acct:x", proto)
		first := uint64(1 + 2*(proto-2)) // a fresh server: two events per protocol
		id := func(i uint64) string { return fmt.Sprintf("%d-0", first+i) }
		ctx := context.Background()
		for i := range uint64(2) {
			if err := rcl.Do(ctx, "XADD", key, id(i), "type", "T", "data", "{}").Err(); err != nil {
				t.Fatal(err)
			}
			if err := fcl.Do(ctx, "EVENT.APPEND", key, "T", "{}").Err(); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []*redis.Client{rcl, fcl} {
			if err := c.Do(ctx, "XGROUP", "CREATE", key, "g", "0").Err(); err != nil {
				t.Fatal(err)
			}
			if err := c.Do(ctx, "XREADGROUP", "GROUP", "g", "w", "STREAMS", key, ">").Err(); err != nil {
				t.Fatal(err)
			}
		}
		steps := [][]any{
			{"MULTI"}, {"XACK", key, "g", id(0)}, {"XACK", key, "nosuch", id(0)}, {"XPENDING", key, "g"}, {"EXEC"},
			{"MULTI"}, {"XACK", key, "g", "bad"}, {"PING"}, {"EXEC"},
			{"MULTI"}, {"XACK", key, "g", id(1), id(1), "999999-0"}, {"XPENDING", key, "g"}, {"EXEC"},
			{"XPENDING", key, "g"},
			{"MULTI"}, {"XACK", key}, {"EXEC"},
		}
		sameReplies(t, proto, rc, fc, steps)
	}
}
