package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/redis/go-redis/v9"
)

// TestBankExample runs examples/php/bank's load test (run-load.sh: 8 PHP
// processes at once, each 200 increases and 50 decreases on 10 accounts,
// then its own exact check and overdraft.php) with phpredis and then Predis
// against one server started with the example's schema. After each run it
// checks from Go, without trusting the PHP checker, that no balance is below
// zero at any point of the log, that the entities and the bank's totals are
// the fold of the log, and that overdrafts are REJECTED and write nothing.
// Then, with no PHP, it races withdrawals without EXPECT from many
// connections: the guard alone must keep every balance at zero or above.
func TestBankExample(t *testing.T) {
	t.Parallel()
	dir := testkit.RepoPath(t, "examples", "php", "bank")
	s := startServer(t, "", "--schema", testkit.BankSchemaPath(t))
	c := s.Client(2)
	// Not parallel: both runs move money on accounts 1..10, and each
	// compares the end state with its own baseline.
	t.Run("phpredis", func(t *testing.T) {
		php := needTool(t, "php-redis")
		runBankLoad(t, dir, s, "phpredis", "FOLDB_PHP="+php)
		checkBank(t, c)
		checkOverdrafts(t, c)
	})
	t.Run("predis", func(t *testing.T) {
		php, autoload := needTool(t, "php"), needTool(t, "predis")
		runBankLoad(t, dir, s, "predis", "FOLDB_PHP="+php, "FOLDB_PREDIS_AUTOLOAD="+autoload)
		checkBank(t, c)
		checkOverdrafts(t, c)
	})
	t.Run("racing withdrawals", func(t *testing.T) {
		raceWithdrawals(t, s)
		checkBank(t, c)
	})
}

// runBankLoad runs run-load.sh against s from a directory of its own and
// fails the test unless it exits 0 within a minute. On a timeout it kills the
// script and its PHP workers, which share its process group.
func runBankLoad(t *testing.T, dir string, s *Server, client string, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	host, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "run-load.sh"), port, client)
	cmd.Dir = t.TempDir() // the script must not depend on where it is run from
	cmd.Env = append(os.Environ(), append(env, "FOLDB_HOST="+host)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("run-load.sh %s %s: %v\n%s", port, client, err, out.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "done in ") || strings.Contains(line, " workers: ") {
			t.Logf("run-load.sh: %s", line)
		}
	}
	t.Logf("run-load.sh %s took %v", client, time.Since(start).Round(time.Millisecond))
}

// checkBank folds the whole log in Go and compares the fold with the
// server's account entities and its bank totals.
func checkBank(t *testing.T, c *redis.Client) {
	t.Helper()
	type account struct {
		balance int64
		open    bool
	}
	fold := map[string]*account{} // by account id
	var deposits, withdrawals int64
	evs := readLog(t, c, 1, 1000)
	for _, e := range evs {
		id, ok := strings.CutPrefix(e.Stream, "account:")
		if !ok {
			continue
		}
		a := fold[id]
		if a == nil {
			a = &account{}
			fold[id] = a
		}
		switch e.Type {
		case "AccountOpened":
			a.open = true
		case "AccountClosed":
			a.open = false
		case "BalanceIncreased":
			n := wholeAmount(t, e)
			a.balance += n
			deposits += n
		case "BalanceDecreased":
			n := wholeAmount(t, e)
			a.balance -= n
			withdrawals += n
			if a.balance < 0 {
				t.Errorf("position %d: %s %s %s took account %s to %d", e.Position, e.Stream, e.Type, e.Data, id, a.balance)
			}
		}
	}

	ctx := context.Background()
	v, err := c.Do(ctx, "ENTITY.ALL", "account").Slice()
	if err != nil || len(v)%2 != 0 {
		t.Fatalf("ENTITY.ALL account = %v, %v", v, err)
	}
	var held, heldByClosed int64
	seen := map[string]bool{}
	for i := 0; i < len(v); i += 2 {
		id, _ := v[i].(string)
		js, _ := v[i+1].(string)
		balance := entityInt(t, "account "+id, js, "balance")
		seen[id] = true
		held += balance
		switch a := fold[id]; {
		case balance < 0:
			t.Errorf("account %s: balance %d", id, balance)
		case a == nil || !a.open:
			t.Errorf("account %s is an entity, but the log has no open account:%s", id, id)
		case a.balance != balance:
			t.Errorf("account %s: balance %d, its events in the log sum to %d", id, balance, a.balance)
		}
	}
	for id, a := range fold {
		switch {
		case a.open && !seen[id]:
			t.Errorf("account:%s is open in the log, but ENTITY.ALL account lacks it", id)
		case !a.open:
			heldByClosed += a.balance
		}
	}

	js, err := c.Do(ctx, "ENTITY.GET", "bank", "totals").Text()
	if err != nil {
		t.Fatalf("ENTITY.GET bank totals: %v", err)
	}
	gotDeposits, gotWithdrawals := entityInt(t, "bank totals", js, "deposits"), entityInt(t, "bank totals", js, "withdrawals")
	if gotDeposits != deposits || gotWithdrawals != withdrawals {
		t.Errorf("bank totals: deposits %d, withdrawals %d; the log sums to %d and %d", gotDeposits, gotWithdrawals, deposits, withdrawals)
	}
	if gotDeposits-gotWithdrawals != held+heldByClosed {
		t.Errorf("bank totals: deposits - withdrawals = %d, but the %d open accounts hold %d and closed ones held %d when closed",
			gotDeposits-gotWithdrawals, len(v)/2, held, heldByClosed)
	}
	t.Logf("%d events, %d open accounts hold %d, closed ones %d; totals %s", len(evs), len(v)/2, held, heldByClosed, js)
}

// checkOverdrafts tries, on each of accounts 1..10, to take out more than
// the balance in three ways, and checks that each is REJECTED and leaves
// the stream's version, the log's last position, the account and the
// totals as they were.
func checkOverdrafts(t *testing.T, c *redis.Client) {
	t.Helper()
	ctx := context.Background()
	for id := 1; id <= 10; id++ {
		stream := fmt.Sprintf("account:%d", id)
		state := func() string {
			t.Helper()
			version, err := c.Do(ctx, "EVENT.VERSION", stream).Int64()
			if err != nil {
				t.Fatalf("EVENT.VERSION %s: %v", stream, err)
			}
			acct, err := c.Do(ctx, "ENTITY.GET", "account", strconv.Itoa(id), "WITHVERSION").Slice()
			if err != nil {
				t.Fatalf("ENTITY.GET account %d WITHVERSION: %v", id, err)
			}
			totals, err := c.Do(ctx, "ENTITY.GET", "bank", "totals").Text()
			if err != nil {
				t.Fatalf("ENTITY.GET bank totals: %v", err)
			}
			return fmt.Sprintf("EVENT.VERSION %d, log_last_position %d, account %v, totals %s",
				version, testkit.InfoInt(t, c, "everything", "log_last_position"), acct, totals)
		}
		before := state()
		acct, err := c.Do(ctx, "ENTITY.GET", "account", strconv.Itoa(id), "WITHVERSION").Slice()
		if err != nil || len(acct) != 2 {
			t.Fatalf("ENTITY.GET account %d WITHVERSION = %v, %v", id, acct, err)
		}
		js, _ := acct[0].(string)
		balance := entityInt(t, stream, js, "balance")
		amount := func(n int64) string { return fmt.Sprintf(`{"amount":%d}`, n) }
		for _, args := range [][]any{
			{"EVENT.APPEND", stream, "BalanceDecreased", amount(balance + 1)},
			{"EVENT.APPEND", stream, "EXPECT", acct[1], "ID", fmt.Sprintf("go-overdraft-%d-%d", id, time.Now().UnixNano()), "BalanceDecreased", amount(balance + 1)},
			// All or nothing: the increase must not be written either.
			{"EVENT.APPEND", stream, "BalanceIncreased", amount(1), "BalanceDecreased", amount(balance + 2)},
		} {
			got, err := c.Do(ctx, args...).Result()
			var rerr redis.Error
			if !errors.As(err, &rerr) || err.Error() != "REJECTED insufficient funds" {
				t.Errorf("%v = %v, %v; want the error REJECTED insufficient funds", args, got, err)
			}
			if after := state(); after != before {
				t.Errorf("%v wrote something:\n before %s\n after  %s", args, before, after)
			}
		}
	}
}

// raceWithdrawals opens accounts holding 100 each, then sends 16
// withdrawals of 30 to each at once, one connection per withdrawal and no
// EXPECT, so that only the schema's guard stands between them and a
// negative balance: exactly 3 must go through, the others be REJECTED.
func raceWithdrawals(t *testing.T, s *Server) {
	t.Helper()
	const accounts, racers, amount = 10, 16, 30
	ctx := context.Background()
	c := s.Client(2)
	prefix := fmt.Sprintf("race-%d-", time.Now().UnixNano())
	for i := range accounts {
		stream := fmt.Sprintf("account:%s%d", prefix, i)
		_, err := c.Do(ctx, "EVENT.APPEND", stream, "EXPECT", "NEW",
			"AccountOpened", `{"uuid":"race","name":"race"}`, "BalanceIncreased", `{"amount":100}`).Result()
		if err != nil {
			t.Fatalf("opening %s: %v", stream, err)
		}
	}
	clients := make([]*redis.Client, racers)
	for r := range clients {
		clients[r] = s.Client(2)
		if err := clients[r].Ping(ctx).Err(); err != nil { // connect before the race
			t.Fatal(err)
		}
	}
	for i := range accounts {
		stream := fmt.Sprintf("account:%s%d", prefix, i)
		start := make(chan struct{})
		errs := make(chan error, racers)
		for _, rc := range clients {
			go func() {
				<-start
				errs <- rc.Do(ctx, "EVENT.APPEND", stream, "BalanceDecreased", fmt.Sprintf(`{"amount":%d}`, amount)).Err()
			}()
		}
		close(start)
		accepted := 0
		for range racers {
			switch err := <-errs; {
			case err == nil:
				accepted++
			case err.Error() != "REJECTED insufficient funds":
				t.Errorf("%s: withdrawal of %d: %v", stream, amount, err)
			}
		}
		v, err := c.Do(ctx, "ENTITY.GET", "account", strings.TrimPrefix(stream, "account:"), "WITHVERSION").Slice()
		if err != nil || len(v) != 2 {
			t.Fatalf("ENTITY.GET %s WITHVERSION = %v, %v", stream, v, err)
		}
		js, _ := v[0].(string)
		balance := entityInt(t, stream, js, "balance")
		if accepted != 100/amount || balance != 100-int64(accepted*amount) || v[1] != int64(2+accepted) {
			t.Errorf("%s: %d of %d withdrawals of %d from 100 went through, leaving %s at version %v; want %d",
				stream, accepted, racers, amount, js, v[1], 100/amount)
		}
	}
}

// wholeAmount is the amount of a balance event, which must be a whole number.
func wholeAmount(t *testing.T, e event) int64 {
	t.Helper()
	var data struct{ Amount json.Number }
	if err := json.Unmarshal([]byte(e.Data), &data); err != nil {
		t.Fatalf("position %d: %s data %s: %v", e.Position, e.Type, e.Data, err)
	}
	n, err := data.Amount.Int64()
	if err != nil || n <= 0 {
		t.Errorf("position %d: %s %s has no positive whole amount", e.Position, e.Type, e.Data)
	}
	return n
}

// entityInt is a whole-number field of an entity's JSON.
func entityInt(t *testing.T, what, js, field string) int64 {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(js))
	d.UseNumber()
	var obj map[string]any
	if err := d.Decode(&obj); err != nil {
		t.Fatalf("%s: %q is not a JSON object: %v", what, js, err)
	}
	num, _ := obj[field].(json.Number)
	n, err := num.Int64()
	if err != nil {
		t.Fatalf("%s: %s is %v in %s, not a whole number", what, field, obj[field], js)
	}
	return n
}
