package state

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/internal/testkit"
)

// TestLiveEqualsReplay: random histories folded live (with guards) and
// replayed from the log give the same state.
func TestLiveEqualsReplay(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		f := newFixture(t, testkit.BankSchema(t))
		rng := rand.New(rand.NewPCG(seed, 0))
		for i := 0; i < 300; i++ {
			acc := fmt.Sprintf("account:%d", rng.IntN(8))
			switch rng.IntN(6) {
			case 0:
				f.append(acc, nil, "AccountOpened", fmt.Sprintf(`{"uuid":"u%d","name":"n%d"}`, i, i))
			case 1:
				f.append(acc, nil, "AccountClosed", `{}`)
			case 2:
				f.append(fmt.Sprintf("note:%d", rng.IntN(3)), nil, "Noted", fmt.Sprintf(`{"k%d":%d}`, rng.IntN(3), i))
			default:
				typ := "BalanceIncreased"
				if rng.IntN(2) == 0 {
					typ = "BalanceDecreased"
				}
				f.append(acc, nil, typ, fmt.Sprintf(`{"amount":%d}`, rng.IntN(50)))
			}
		}
		live := dump(f.eng.Store())
		// A sequential replay, then one split over 3 shards (the bank's two
		// types and the default projection of note:).
		for _, parallel := range []bool{false, true} {
			setParallelReplay(t, parallel, 3)
			f.reopen(nil)
			if replayed := dump(f.eng.Store()); replayed != live {
				t.Fatalf("seed %d, parallel %v: live and replayed state differ:\n%s\n---\n%s", seed, parallel, live, replayed)
			}
		}
	}
}

// setParallelReplay makes replays of any length parallel over procs CPUs,
// or never parallel, for the rest of the test.
func setParallelReplay(t *testing.T, parallel bool, procs int) {
	oldMin, oldProcs := parallelReplayMin, runtime.GOMAXPROCS(0)
	t.Cleanup(func() { parallelReplayMin = oldMin; runtime.GOMAXPROCS(oldProcs) })
	if parallel {
		parallelReplayMin = 0
		runtime.GOMAXPROCS(procs)
	} else {
		parallelReplayMin = math.MaxUint64
	}
}

func BenchmarkReplayBank(b *testing.B) {
	bankSchema := testkit.BankSchema(b)
	f := newFixture(b, bankSchema)
	const n = 20000
	for i := 0; i < n/4; i++ {
		a := &eventlog.Append{Stream: fmt.Sprintf("account:%d", i), Events: []eventlog.Proposed{
			{Type: "AccountOpened", Data: []byte(fmt.Sprintf(`{"uuid":"%08d-aaaa-bbbb-cccc-dddddddddddd","name":"name %d"}`, i, i))},
			{Type: "BalanceIncreased", Data: []byte(`{"amount":100}`)},
			{Type: "BalanceDecreased", Data: []byte(`{"amount":10}`)},
			{Type: "BalanceIncreased", Data: []byte(`{"amount":5}`)},
		}}
		f.log.Append(a)
	}
	schema, _ := ParseSchema(bankSchema)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s := NewStore(schema)
		if _, err := f.eng.replay(s, 1, n, Progress{Total: n}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestReplayStopsEarly: a parallel replay that its progress stops returns
// the error and leaves no goroutine blocked (the test would hang).
func TestReplayStopsEarly(t *testing.T) {
	bankSchema := testkit.BankSchema(t)
	f := newFixture(t, bankSchema)
	for i := range 30 {
		a := &eventlog.Append{Stream: fmt.Sprintf("account:%d", i)}
		for range 100 {
			a.Events = append(a.Events, eventlog.Proposed{Type: "BalanceIncreased", Data: []byte(`{"amount":1}`)})
		}
		f.log.Append(a)
	}
	schema, _ := ParseSchema(bankSchema)
	s := NewStore(schema)
	shards := s.split(3)
	calls := 0
	err := f.eng.scanAhead(1, 3000, shards, func(uint64) error { calls++; return ErrStopped })
	s.merge(shards)
	if !errors.Is(err, ErrStopped) || calls != 1 {
		t.Fatalf("scanAhead = %v after %d progress calls; want ErrStopped after 1", err, calls)
	}
	f.eng.Stop()
	if _, err := f.eng.replay(NewStore(schema), 1, 3000, Progress{}); !errors.Is(err, ErrStopped) {
		t.Fatalf("replay after Stop = %v", err)
	}
}
