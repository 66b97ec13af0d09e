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
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/redis/go-redis/v9"
)

// TestBankExample runs examples/php/bank's load test (run-load.sh: 8 PHP
// processes at once, each 200 increases, 50 decreases and 50 transfers on
// 10 accounts, then its own exact check and overdraft.php) with phpredis and
// then Predis against one server started with the example's schema. After
// each run it checks from Go, without trusting the PHP checker, that no
// balance is below zero at any point of the log, that the entities and the
// bank's totals are the fold of the log, that every transfer is whole (both
// legs, adjacent) and the balances sum to deposits minus withdrawals made
// outside transfers, and that overdrafts, also by transfer, are REJECTED and
// write nothing.
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

// TestBankCrash runs examples/php/bank's run-crash.sh with each client: 8
// PHP processes doing increases, decreases and transfers, foldb killed with
// -9 once they appended 1,000 events and started again, then the script's
// own exact check. Then it starts foldb a third time on the data the script
// left and checks from Go, without trusting PHP, what checkBank checks: no
// transfer was cut in half, the balances are the fold of the log and sum to
// the deposits minus the withdrawals made outside transfers, none went below
// zero. Transfers must have been committed before the kill and after it, or
// the kill missed them.
func TestBankCrash(t *testing.T) {
	t.Parallel()
	dir := testkit.RepoPath(t, "examples", "php", "bank")
	for _, client := range []string{"phpredis", "predis"} {
		t.Run(client, func(t *testing.T) {
			t.Parallel()
			env := []string{"FOLDB_PHP=" + needTool(t, "php-redis")}
			if client == "predis" {
				env = append(env, "FOLDB_PREDIS_AUTOLOAD="+needTool(t, "predis"))
			}
			data := filepath.Join(t.TempDir(), "data")
			out := runBankScript(t, 2*time.Minute, env, filepath.Join(dir, "run-crash.sh"), binary, "0", client, data)
			starts := regexp.MustCompile(`msg="foldb started" .* events=(\d+)`).FindAllStringSubmatch(out, -1)
			if len(starts) != 2 {
				t.Fatalf("run-crash.sh logged %d starts of foldb, not 2:\n%s", len(starts), out)
			}
			killedAt, _ := strconv.ParseInt(starts[1][1], 10, 64)

			s := startServer(t, data, "--schema", testkit.BankSchemaPath(t))
			c := s.Client(2)
			checkBank(t, c)
			var before, after int
			for _, e := range readLog(t, c, 1, 1000) {
				if transferOf(t, e) == "" || e.Type != "BalanceDecreased" {
					continue
				}
				if e.Position <= killedAt {
					before++
				} else {
					after++
				}
			}
			t.Logf("killed at log position %d: %d transfers before, %d after", killedAt, before, after)
			if before == 0 || after == 0 {
				t.Errorf("foldb was killed at position %d, with %d transfers before and %d after: not during the transfers", killedAt, before, after)
			}
		})
	}
}

// runBankLoad runs run-load.sh against s from a directory of its own and
// fails the test unless it exits 0 within a minute.
func runBankLoad(t *testing.T, dir string, s *Server, client string, env ...string) {
	t.Helper()
	host, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out := runBankScript(t, time.Minute, append(env, "FOLDB_HOST="+host), filepath.Join(dir, "run-load.sh"), port, client)
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "done in ") || strings.Contains(line, " workers: ") || strings.HasPrefix(line, "held: ") {
			t.Logf("run-load.sh: %s", line)
		}
	}
	t.Logf("run-load.sh %s took %v", client, time.Since(start).Round(time.Millisecond))
}

// runBankScript runs one of the bank's scripts from a directory of its own
// and returns its output, failing the test unless it exits 0 within
// timeout. On a timeout it kills the script and its PHP workers, which
// share its process group.
func runBankScript(t *testing.T, timeout time.Duration, env []string, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, script, args...)
	cmd.Dir = t.TempDir() // the script must not depend on where it is run from
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(script), strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// checkBank folds the whole log in Go and compares the fold with the
// server's account entities and its bank totals. It pairs the legs of
// transfers by their META transfer: each must be a BalanceDecreased and a
// BalanceIncreased of one amount on two accounts, at adjacent positions (one
// commit), and the accounts must hold what was deposited minus what was
// withdrawn outside transfers.
func checkBank(t *testing.T, c *redis.Client) {
	t.Helper()
	type account struct {
		balance int64
		open    bool
	}
	fold := map[string]*account{} // by account id
	var deposits, withdrawals int64
	var outside struct{ deposits, withdrawals int64 } // not legs of a transfer
	legs := map[string][]event{}                      // by META transfer
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
		transfer := transferOf(t, e)
		if transfer != "" {
			legs[transfer] = append(legs[transfer], e)
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
			if transfer == "" {
				outside.deposits += n
			}
		case "BalanceDecreased":
			n := wholeAmount(t, e)
			a.balance -= n
			withdrawals += n
			if transfer == "" {
				outside.withdrawals += n
			}
			if a.balance < 0 {
				t.Errorf("position %d: %s %s %s took account %s to %d", e.Position, e.Stream, e.Type, e.Data, id, a.balance)
			}
		}
	}
	for id, l := range legs {
		if len(l) != 2 || l[0].Type != "BalanceDecreased" || l[1].Type != "BalanceIncreased" ||
			l[0].Stream == l[1].Stream || l[1].Position != l[0].Position+1 || wholeAmount(t, l[0]) != wholeAmount(t, l[1]) {
			t.Errorf("transfer %s is not a withdrawal and a deposit of one amount on two accounts at adjacent positions: %v", id, l)
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
	if outside.deposits-outside.withdrawals != held+heldByClosed {
		t.Errorf("the log's deposits %d minus withdrawals %d outside transfers make %d, but the %d open accounts hold %d and closed ones held %d when closed",
			outside.deposits, outside.withdrawals, outside.deposits-outside.withdrawals, len(v)/2, held, heldByClosed)
	}
	t.Logf("%d events, %d transfers, %d open accounts hold %d, closed ones %d; totals %s", len(evs), len(legs), len(v)/2, held, heldByClosed, js)
}

// transferOf is the META transfer of an event, "" when it has none.
func transferOf(t *testing.T, e event) string {
	t.Helper()
	var meta struct {
		Transfer *string `json:"transfer"`
	}
	if err := json.Unmarshal([]byte(e.Meta), &meta); err != nil {
		t.Fatalf("position %d: meta %s: %v", e.Position, e.Meta, err)
	}
	switch {
	case meta.Transfer == nil:
		return ""
	case *meta.Transfer == "":
		t.Errorf("position %d: %s %s has an empty META transfer", e.Position, e.Stream, e.Type)
	}
	return *meta.Transfer
}

// checkOverdrafts tries, on each of accounts 1..10, to take out more than
// the balance in four ways, the last a transfer to the next account, and
// checks that each is REJECTED and leaves the streams' versions, the log's
// last position, the account and the totals as they were.
func checkOverdrafts(t *testing.T, c *redis.Client) {
	t.Helper()
	ctx := context.Background()
	for id := 1; id <= 10; id++ {
		stream, next := fmt.Sprintf("account:%d", id), fmt.Sprintf("account:%d", id%10+1)
		state := func() string {
			t.Helper()
			version, err := c.Do(ctx, "EVENT.VERSION", stream).Int64()
			if err != nil {
				t.Fatalf("EVENT.VERSION %s: %v", stream, err)
			}
			nextVersion, err := c.Do(ctx, "EVENT.VERSION", next).Int64()
			if err != nil {
				t.Fatalf("EVENT.VERSION %s: %v", next, err)
			}
			acct, err := c.Do(ctx, "ENTITY.GET", "account", strconv.Itoa(id), "WITHVERSION").Slice()
			if err != nil {
				t.Fatalf("ENTITY.GET account %d WITHVERSION: %v", id, err)
			}
			totals, err := c.Do(ctx, "ENTITY.GET", "bank", "totals").Text()
			if err != nil {
				t.Fatalf("ENTITY.GET bank totals: %v", err)
			}
			return fmt.Sprintf("EVENT.VERSION %d and %d, log_last_position %d, account %v, totals %s",
				version, nextVersion, testkit.InfoInt(t, c, "everything", "log_last_position"), acct, totals)
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
		// Both legs or neither: the deposit on next must not be written.
		meta := fmt.Sprintf(`{"transfer":"go-overdraft-%d-%d"}`, id, time.Now().UnixNano())
		cmds, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Do(ctx, "EVENT.APPEND", stream, "META", meta, "BalanceDecreased", amount(balance+1))
			p.Do(ctx, "EVENT.APPEND", next, "META", meta, "BalanceIncreased", amount(balance+1))
			return nil
		})
		execAbort := fmt.Sprintf("EXECABORT Transaction discarded because command 1 (EVENT.APPEND %s) was refused: REJECTED insufficient funds", stream)
		if err == nil || err.Error() != "REJECTED insufficient funds" || len(cmds) != 2 ||
			cmds[0].Err() == nil || cmds[0].Err().Error() != "REJECTED insufficient funds" ||
			cmds[1].Err() == nil || cmds[1].Err().Error() != execAbort {
			t.Errorf("a transfer of %d from %s to %s = %v, %v; want REJECTED insufficient funds, then %s", balance+1, stream, next, cmds, err, execAbort)
		}
		if after := state(); after != before {
			t.Errorf("a transfer of %d from %s to %s wrote something:\n before %s\n after  %s", balance+1, stream, next, before, after)
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
