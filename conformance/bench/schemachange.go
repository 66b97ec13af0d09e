package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// schemaAddition is what row 14's new schema adds to the bank's: a type
// that counts opened accounts. The change also adds a field to account
// (accountChange), so that the account table, nearly all of the state, is
// built again from the log; the bank's totals are kept.
const (
	accountSet    = "set: {uuid: event.uuid, name: event.name}"
	accountChange = "set: {uuid: event.uuid, name: event.name, opened: time}"
)

const schemaAddition = `
  opened:
    events: [AccountOpened]
    id: '"count"'
    initial: {n: 0}
    when:
      AccountOpened: {set: {n: n + 1}}
`

// Row 14: a schema change on the bank of row 6 (a copy of it: the change
// stores its schema in the log). One client reads random accounts with
// ENTITY.GET, first with no change under way, then while SCHEMA.LOAD ...
// ASYNC builds the new state, while a second client appends one event at
// a time; the row compares the gets' p99 during the build with the p99
// without. Then the server stops with a snapshot of the new state and
// foldb verify checks it against a cold replay of the log under the new
// schema.
func (b *bench) rowSchemaChange() ([]result, error) {
	accounts := b.cfg.accounts
	if err := b.ensureBank(2 * accounts); err != nil {
		return nil, err
	}
	dir := b.path("schema-change")
	os.RemoveAll(dir)
	if out, err := exec.Command("cp", "-a", b.bankDir, dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copying the bank: %v: %s", err, out)
	}
	defer os.RemoveAll(dir)
	f, _, err := b.startFoldbLoaded(dir, b.bankFlags()...)
	if err != nil {
		return nil, err
	}
	defer f.kill()
	fc, ac := f.client(1), f.client(1)
	defer fc.Close()
	defer ac.Close()
	gets := max(b.cfg.n/10, 1000)
	idle, err := b.getLoop(fc, gets, 1, func(id string) []any { return []any{"ENTITY.GET", "account", id} })
	if err != nil {
		return nil, err
	}
	b.progress("  gets without a schema change: %s", idle)

	text, err := os.ReadFile(b.schema)
	if err != nil {
		return nil, err
	}
	next := strings.Replace(string(text), accountSet, accountChange, 1) + schemaAddition
	if next == string(text)+schemaAddition {
		return nil, fmt.Errorf("the bank schema has no %q to change", accountSet)
	}
	if v, err := fc.Do(b.ctx, "SCHEMA.LOAD", next, "ASYNC").Text(); err != nil || v != "Schema change started" {
		return nil, fmt.Errorf("SCHEMA.LOAD ASYNC: %q, %v", v, err)
	}
	start := time.Now()

	// Appends go on during the build, one at a time.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var appended []time.Duration
	var appendErr error
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(14, 14))
		for {
			select {
			case <-stop:
				return
			default:
			}
			t := time.Now()
			err := ac.Do(b.ctx, "EVENT.APPEND", "account:"+strconv.Itoa(1+rng.IntN(accounts)), "BalanceIncreased", `{"amount":1}`).Err()
			if err != nil {
				appendErr = err
				return
			}
			appended = append(appended, time.Since(t))
		}
	})
	var took []time.Duration
	rng := rand.New(rand.NewPCG(2, 14))
	state := ""
	for state != "done" {
		for range 200 {
			args := []any{"ENTITY.GET", "account", strconv.Itoa(1 + rng.IntN(accounts))}
			t := time.Now()
			if err := fc.Do(b.ctx, args...).Err(); err != nil {
				close(stop)
				wg.Wait()
				return nil, fmt.Errorf("ENTITY.GET during the schema change: %w", err)
			}
			took = append(took, time.Since(t))
		}
		st, err := fc.Do(b.ctx, "SCHEMA.STATUS").Slice()
		if err != nil {
			close(stop)
			wg.Wait()
			return nil, err
		}
		for i := 0; i+1 < len(st); i += 2 {
			switch st[i] {
			case "state":
				state = fmt.Sprint(st[i+1])
			case "error":
				if e := fmt.Sprint(st[i+1]); e != "" {
					close(stop)
					wg.Wait()
					return nil, fmt.Errorf("the schema change failed: %s", e)
				}
			}
		}
		if time.Since(start) > 10*time.Minute {
			close(stop)
			wg.Wait()
			return nil, fmt.Errorf("the schema change is still %s after 10 minutes", state)
		}
	}
	changeTook := time.Since(start)
	close(stop)
	wg.Wait()
	if appendErr != nil {
		return nil, fmt.Errorf("EVENT.APPEND during the schema change: %w", appendErr)
	}
	during := latencyOf(took, changeTook)
	appends := latencyOf(appended, changeTook)
	b.progress("  gets during the schema change (%.1fs): %s; appends: %s", changeTook.Seconds(), during, appends)

	kept, rebuilt := "", ""
	if st, err := fc.Do(b.ctx, "SCHEMA.STATUS").Slice(); err == nil {
		for i := 0; i+1 < len(st); i += 2 {
			switch st[i] {
			case "types_kept":
				kept = fmt.Sprint(st[i+1])
			case "types_rebuilt":
				rebuilt = fmt.Sprint(st[i+1])
			}
		}
	}

	// A second change that keeps every type: an index on the balance.
	indexed := strings.Replace(next, "    streams: account\n", "    streams: account\n    indexes: [balance]\n", 1)
	t := time.Now()
	if err := fc.Do(b.ctx, "SCHEMA.LOAD", indexed).Err(); err != nil {
		return nil, fmt.Errorf("SCHEMA.LOAD of an index: %w", err)
	}
	indexTook := time.Since(t)
	b.progress("  a change that adds an index, keeping every type: %.2fs", indexTook.Seconds())

	b.progress("  foldb: SHUTDOWN SAVE, then foldb verify")
	if err := f.shutdown(b.ctx, "SAVE"); err != nil {
		return nil, err
	}
	verify := "equal"
	if out, err := exec.CommandContext(b.ctx, b.foldbBin, "verify", "--dir", dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("foldb verify after the schema change: %v\n%s", err, out)
	}
	r := result{row: 14, work: fmt.Sprintf("ENTITY.GET p99 during a schema change of %s events vs without one, 1 client", count(int64(2*accounts))),
		foldb: float64(during.p99), redis: float64(idle.p99), unit: unitDuration, lowerBetter: true, compared: true,
		floor: math.NaN(), goal: math.NaN(),
		detail: fmt.Sprintf("the Redis column is foldb without a change under way (a peer measured in the same run); the change (a field added to account, a type added) took %.1fs and rebuilt %s types, kept %s; "+
			"gets during it %s, without %s; %s appends during it, one client, one at a time: %s; then a change that adds an index on account's balance (every type kept) took %.2fs; after both, foldb verify found the snapshot of the new state %s to a cold replay of the log under the new schema",
			changeTook.Seconds(), rebuilt, kept, during, idle, count(int64(len(appended))), appends, indexTook.Seconds(), verify)}
	return []result{r}, nil
}
