package server_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

const bankSchema = "entities:\n  account:\n    initial: {balance: 0}\n    when:\n      Deposited: {set: {balance: balance + event.amount}}\n" +
	"      Withdrawn:\n        require: balance >= event.amount\n        message: insufficient funds\n        set: {balance: balance - event.amount}\n"

// TestMulti: a transaction's appends are written together, each checked
// against the state with the ones before it; a refusal writes nothing and
// names itself; reads queued answer from the state after the appends;
// errors while queuing abort EXEC. (A raw connection: go-redis turns an
// EXEC whose reply holds an EXECABORT into that one error.)
func TestMulti(t *testing.T) {
	ts := startServer(t)
	do(t, ts.R2, "SCHEMA.LOAD", bankSchema)
	do(t, ts.R2, "EVENT.APPEND", "account:a", "Deposited", `{"amount":10}`)
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprint("RESP", proto), func(t *testing.T) {
			r := ts.Raw(t)
			if proto == 3 {
				r.Do("HELLO", "3")
			}
			q := func(want string, args ...string) {
				t.Helper()
				if got := fmt.Sprint(r.Do(args...)); got != want {
					t.Fatalf("%q = %s; want %s", args, got, want)
				}
			}
			exec := func(want ...string) {
				t.Helper()
				var got []string
				for _, v := range r.Do("EXEC").([]any) {
					got = append(got, fmt.Sprint(v))
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("EXEC = %q; want %q", got, want)
				}
			}
			b := fmt.Sprint("account:b", proto)
			last := ts.Log().LastPosition()

			// A transfer, and a read that sees it.
			q("OK", "MULTI")
			q("QUEUED", "EVENT.APPEND", "account:a", "Withdrawn", `{"amount":4}`)
			q("QUEUED", "EVENT.APPEND", b, "EXPECT", "NEW", "Deposited", `{"amount":4}`)
			q("QUEUED", "ENTITY.GET", "account", "a")
			exec(fmt.Sprintf("[%d %d]", proto, last+1), fmt.Sprintf("[1 %d]", last+2), fmt.Sprintf(`{"balance":%d}`, 10-4*(proto-1)))

			// The second withdrawal sees the first: refused, nothing written.
			last = ts.Log().LastPosition()
			balance := fmt.Sprint(r.Do("ENTITY.GET", "account", "a"))
			q("OK", "MULTI")
			q("QUEUED", "EVENT.APPEND", b, "Deposited", `{"amount":1}`)
			q("QUEUED", "EVENT.APPEND", "account:a", "Withdrawn", `{"amount":1}`)
			q("QUEUED", "EVENT.APPEND", "account:a", "Withdrawn", `{"amount":100}`)
			q("QUEUED", "EVENT.VERSION", b)
			abort := "EXECABORT Transaction discarded because command 3 (EVENT.APPEND account:a) was refused: REJECTED insufficient funds"
			exec(abort, abort, "REJECTED insufficient funds", "1")
			if ts.Log().LastPosition() != last {
				t.Fatalf("a refused transaction wrote")
			}
			q(balance, "ENTITY.GET", "account", "a")

			// Errors while queuing abort the transaction.
			q("OK", "MULTI")
			q("QUEUED", "EVENT.APPEND", b, "Deposited", `{"amount":1}`)
			q("ERR unknown command 'NOPE', with args beginning with: ", "NOPE")
			q("ERR wrong number of arguments for 'event.version' command", "EVENT.VERSION")
			q("ERR XCLAIM is not allowed inside a transaction: a transaction holds appends and reads", "XCLAIM", b, "g", "c", "0", "1-0")
			q("ERR Command not allowed inside a transaction", "SUBSCRIBE", "c")
			q("EXECABORT Transaction discarded because of previous errors.", "EXEC")
			// A malformed append is refused while queuing.
			q("OK", "MULTI")
			q("ERR invalid stream name 'nocolon': expected <category>:<id>", "EVENT.APPEND", "nocolon", "Deposited", `{}`)
			q("EXECABORT Transaction discarded because of previous errors.", "EXEC")
			if ts.Log().LastPosition() != last {
				t.Fatalf("an aborted transaction wrote")
			}

			// MULTI, EXEC, DISCARD and WATCH out of place, as Redis answers them.
			q("ERR EXEC without MULTI", "EXEC")
			q("ERR DISCARD without MULTI", "DISCARD")
			q("OK", "MULTI")
			q("ERR MULTI calls can not be nested", "MULTI")
			q("ERR WATCH inside MULTI is not allowed", "WATCH", b)
			q("QUEUED", "EVENT.APPEND", b, "Deposited", `{"amount":1}`)
			q("OK", "DISCARD")
			q("OK", "MULTI")
			exec()
			if ts.Log().LastPosition() != last {
				t.Fatalf("a discarded transaction wrote")
			}

			// A blocking read inside MULTI does not block.
			q("OK", "MULTI")
			q("QUEUED", "XREAD", "BLOCK", "0", "STREAMS", b, "$")
			exec("<nil>")
		})
	}
}

// TestWatch: EXEC writes nothing and replies nil when a watched stream
// moved after WATCH; UNWATCH, EXEC and DISCARD forget the watch.
func TestWatch(t *testing.T) {
	ts := startServer(t)
	do(t, ts.R2, "SCHEMA.LOAD", bankSchema)
	other := ts.R2
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, proto int) {
		cn := rc.Conn()
		defer cn.Close()
		a := fmt.Sprint("account:w", proto)
		do(t, cn, "WATCH", a, "account:untouched")
		do(t, other, "EVENT.APPEND", a, "Deposited", `{"amount":1}`)
		last := ts.Log().LastPosition()
		do(t, cn, "MULTI")
		do(t, cn, "EVENT.APPEND", a, "Deposited", `{"amount":1}`)
		if v, err := cn.Do(ctx, "EXEC").Result(); err != redis.Nil {
			t.Fatalf("EXEC after a watched stream moved = %v, %v; want nil", v, err)
		}
		if ts.Log().LastPosition() != last {
			t.Fatalf("a transaction whose watched stream moved wrote")
		}
		// EXEC forgot the watch.
		do(t, other, "EVENT.APPEND", a, "Deposited", `{"amount":1}`)
		do(t, cn, "MULTI")
		do(t, cn, "EVENT.APPEND", a, "Deposited", `{"amount":1}`)
		if got := execReply(t, cn); len(got) != 1 {
			t.Fatalf("EXEC = %q", got)
		}
		// A watch with no move, and UNWATCH.
		do(t, cn, "WATCH", a)
		do(t, cn, "MULTI")
		do(t, cn, "EVENT.VERSION", a)
		if got := execReply(t, cn); !reflect.DeepEqual(got, []string{"3"}) {
			t.Fatalf("EXEC = %q", got)
		}
		do(t, cn, "WATCH", a)
		do(t, other, "EVENT.APPEND", a, "Deposited", `{"amount":1}`)
		do(t, cn, "UNWATCH")
		do(t, cn, "MULTI")
		do(t, cn, "EVENT.VERSION", a)
		if got := execReply(t, cn); !reflect.DeepEqual(got, []string{"4"}) {
			t.Fatalf("EXEC after UNWATCH = %q", got)
		}
	})
}

// TestTxPipelined: go-redis's TxPipelined (MULTI ... EXEC in one
// pipeline) of concurrent transfers keeps the sum of the balances.
func TestTxPipelined(t *testing.T) {
	ts := startServer(t)
	do(t, ts.R2, "SCHEMA.LOAD", bankSchema)
	const accounts = 5
	for i := range accounts {
		do(t, ts.R2, "EVENT.APPEND", fmt.Sprint("account:", i), "Deposited", `{"amount":100}`)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	committed, refused := 0, 0
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				from, to := (w+i)%accounts, (w+2*i+1)%accounts
				if from == to {
					continue
				}
				amount := 1 + (w*7+i*13)%60
				_, err := ts.R2.TxPipelined(context.Background(), func(p redis.Pipeliner) error {
					p.Do(ctx, "EVENT.APPEND", fmt.Sprint("account:", from), "Withdrawn", fmt.Sprintf(`{"amount":%d}`, amount))
					p.Do(ctx, "EVENT.APPEND", fmt.Sprint("account:", to), "Deposited", fmt.Sprintf(`{"amount":%d}`, amount))
					return nil
				})
				mu.Lock()
				switch {
				case err == nil:
					committed++
				case err.Error() == "REJECTED insufficient funds" || err.Error()[:9] == "EXECABORT":
					refused++
				default:
					t.Errorf("transfer: %v", err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sum := 0
	for i := range accounts {
		var v struct{ Balance int }
		raw := do(t, ts.R2, "ENTITY.GET", "account", fmt.Sprint(i)).(string)
		if _, err := fmt.Sscanf(raw, `{"balance":%d}`, &v.Balance); err != nil {
			t.Fatalf("ENTITY.GET = %s", raw)
		}
		if v.Balance < 0 {
			t.Fatalf("account %d is at %d", i, v.Balance)
		}
		sum += v.Balance
	}
	if sum != accounts*100 || committed == 0 {
		t.Fatalf("sum of balances %d after %d transfers (%d refused); want %d", sum, committed, refused, accounts*100)
	}
	if n := ts.Log().LastPosition(); n != uint64(accounts+2*committed) {
		t.Fatalf("the log holds %d events; want %d", n, accounts+2*committed)
	}
}

// execReply runs EXEC on a go-redis connection and returns each reply as
// a string.
func execReply(t *testing.T, cn doer) []string {
	t.Helper()
	v, err := cn.Do(ctx, "EXEC").Result()
	if err != nil {
		t.Fatalf("EXEC: %v", err)
	}
	var out []string
	for _, r := range v.([]any) {
		out = append(out, fmt.Sprint(r))
	}
	return out
}

// TestMultiPipelined: transactions and appends pipelined on one connection,
// in one write, are committed in the order sent: an append after an EXEC
// sees the transaction, a transaction after an append sees it, and a
// refused transaction in the middle leaves the rest as they were. Both
// ways of serving connections run it.
func TestMultiPipelined(t *testing.T) {
	eachServing(t, func(t *testing.T) {
		ts := startServer(t)
		do(t, ts.R2, "SCHEMA.LOAD", bankSchema)
		r := ts.Raw(t)
		var sent []string
		send := func(args ...string) {
			r.Send(args...)
			sent = append(sent, fmt.Sprint(args))
		}
		for range 3 {
			send("MULTI")
			send("EVENT.APPEND", "account:a", "Deposited", `{"amount":5}`)
			send("EVENT.APPEND", "account:b", "Deposited", `{"amount":5}`)
			send("EXEC")
			send("EVENT.APPEND", "account:a", "Withdrawn", `{"amount":5}`)
			send("MULTI")
			send("EVENT.APPEND", "account:a", "Withdrawn", `{"amount":1}`)
			send("EVENT.APPEND", "account:b", "Withdrawn", `{"amount":1}`)
			send("EXEC")
		}
		var got []string
		for range sent {
			got = append(got, fmt.Sprint(r.Read()))
		}
		abort := "[REJECTED insufficient funds EXECABORT Transaction discarded because command 1 (EVENT.APPEND account:a) was refused: REJECTED insufficient funds]"
		var want []string
		for i := range 3 {
			p := uint64(3 * i)
			want = append(want, "OK", "QUEUED", "QUEUED",
				fmt.Sprintf("[[%d %d] [%d %d]]", 2*i+1, p+1, i+1, p+2),
				fmt.Sprintf("[%d %d]", 2*i+2, p+3),
				"OK", "QUEUED", "QUEUED", abort)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("replies:\n%q\nwant:\n%q", got, want)
		}
		if last := ts.Log().LastPosition(); last != 9 {
			t.Fatalf("the log holds %d events; want 9", last)
		}
	})
}

// TestMultiXAck: a worker appends its outcome and acknowledges its entry
// in one transaction: both commit together, and a refused append leaves
// the entry pending. A malformed ID answers in its place, as in Redis.
// Both ways of serving connections run it.
func TestMultiXAck(t *testing.T) {
	eachServing(t, func(t *testing.T) {
		ts := startServer(t)
		do(t, ts.R2, "SCHEMA.LOAD", bankSchema)
		do(t, ts.R2, "EVENT.APPEND", "account:a", "Deposited", `{"amount":5}`)
		do(t, ts.R2, "EVENT.APPEND", "account:b", "Deposited", `{"amount":5}`)
		do(t, ts.R2, "XGROUP", "CREATE", "$ce-account", "g", "0")
		do(t, ts.R2, "XREADGROUP", "GROUP", "g", "w", "STREAMS", "$ce-account", ">")
		r := ts.Raw(t)
		var sent int
		send := func(args ...string) { r.Send(args...); sent++ }
		send("MULTI")
		send("EVENT.APPEND", "account:a", "Withdrawn", `{"amount":1}`)
		send("XACK", "$ce-account", "g", "1-0")
		send("XACK", "$ce-account", "nosuch", "2-0")
		send("XACK", "$ce-account", "g", "bad")
		send("XPENDING", "$ce-account", "g")
		send("EXEC")
		send("MULTI")
		send("EVENT.APPEND", "account:b", "Withdrawn", `{"amount":50}`)
		send("XACK", "$ce-account", "g", "2-0")
		send("EXEC")
		send("XPENDING", "$ce-account", "g")
		send("MULTI")
		send("XACK", "$ce-account", "g", "2-0", "2-0")
		send("EXEC")
		var got []string
		for range sent {
			got = append(got, fmt.Sprint(r.Read()))
		}
		abort := "EXECABORT Transaction discarded because command 1 (EVENT.APPEND account:b) was refused: REJECTED insufficient funds"
		want := []string{"OK", "QUEUED", "QUEUED", "QUEUED", "QUEUED", "QUEUED",
			"[[2 3] 1 0 ERR Invalid stream ID specified as stream command argument [1 2-0 2-0 [[w 1]]]]",
			"OK", "QUEUED", "QUEUED", "[REJECTED insufficient funds " + abort + "]",
			"[1 2-0 2-0 [[w 1]]]",
			"OK", "QUEUED", "[1]"}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("replies:\n%q\nwant:\n%q", got, want)
		}
	})
}

// eachServing runs f as a subtest under both ways of serving connections:
// the network loop, and a goroutine per connection.
func eachServing(t *testing.T, f func(t *testing.T)) {
	for _, goroutines := range []bool{false, true} {
		t.Run(fmt.Sprint("goroutines=", goroutines), func(t *testing.T) {
			connGoroutines = goroutines
			defer func() { connGoroutines = false }()
			f(t)
		})
	}
}
