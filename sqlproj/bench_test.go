package sqlproj

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/sqlproj/sqldb"
)

// sqliteBankFixture is the bank schema's projections over an SQLite file
// of a temporary folder, with the default batch sizes.
func sqliteBankFixture(b *testing.B) *fixture {
	f := &fixture{t: b, dir: b.TempDir()}
	f.openWith(bankSchema(b), func(po *Options) {
		path := filepath.Join(f.dir, "bench.db")
		po.BatchRows, po.BatchEvents = DefaultOptions().BatchRows, DefaultOptions().BatchEvents
		po.Open = func(ctx context.Context, _ sqldb.Config) (sqldb.DB, error) { return sqldb.OpenSQLite(ctx, path) }
	})
	return f
}

// BenchmarkBuildSQLite builds the bank's accounts and ledger tables in an
// SQLite file from a log of 100,000 events over 10,000 accounts: the path
// of a catch-up into fresh tables (conformance/bench row 10).
func BenchmarkBuildSQLite(b *testing.B) {
	const accounts, events = 10_000, 100_000
	f := sqliteBankFixture(b)
	for i := range accounts {
		f.append(fmt.Sprintf("account:%d", i), "AccountOpened", fmt.Sprintf(`{"uuid":"u%d","name":"Customer %d"}`, i, i),
			"BalanceIncreased", `{"amount":100}`)
	}
	for i := range events - 2*accounts {
		if i%2 == 0 {
			f.append(fmt.Sprintf("account:%d", i%accounts), "BalanceIncreased", fmt.Sprintf(`{"amount":%d}`, 1+i%1000))
		} else {
			f.append(fmt.Sprintf("account:%d", i%accounts), "BalanceDecreased", `{"amount":1}`)
		}
	}
	f.caughtUp()
	rows := float64(events - accounts + accounts)
	b.ResetTimer()
	for range b.N {
		gens := map[string]uint64{}
		for _, n := range []string{"accounts", "ledger"} {
			st, _ := f.m.Status(n, false)
			gens[n] = st.Generation
			if err := f.m.Rebuild(n); err != nil {
				b.Fatal(err)
			}
		}
		testkit.WaitFor(b, "the tables rebuilt", func() bool {
			for _, n := range []string{"accounts", "ledger"} {
				if st, _ := f.m.Status(n, false); st.Generation <= gens[n] || st.State != Live {
					return false
				}
			}
			return true
		})
	}
	b.ReportMetric(rows*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkBuildEntitiesSQLite rebuilds the accounts table alone from a
// state of 200,000 accounts: an entity build, whose rows come from the
// state's hash table, into a key B-tree larger than SQLite's cache.
func BenchmarkBuildEntitiesSQLite(b *testing.B) {
	const accounts = 200_000
	f := sqliteBankFixture(b)
	for i := range accounts {
		f.append(fmt.Sprintf("account:%d", i), "AccountOpened", fmt.Sprintf(`{"uuid":"u%d","name":"Customer %d"}`, i, i))
	}
	f.caughtUp()
	b.ResetTimer()
	for range b.N {
		st, _ := f.m.Status("accounts", false)
		if err := f.m.Rebuild("accounts"); err != nil {
			b.Fatal(err)
		}
		testkit.WaitFor(b, "the table rebuilt", func() bool {
			now, _ := f.m.Status("accounts", false)
			return now.Generation > st.Generation && now.State == Live
		})
	}
	b.ReportMetric(accounts*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkFollowSQLite appends balance events one append at a time while
// the accounts and ledger projections follow the log into an SQLite file:
// the projectors' cost per event when live (conformance/bench row 11).
func BenchmarkFollowSQLite(b *testing.B) {
	f := sqliteBankFixture(b)
	f.caughtUp()
	b.ResetTimer()
	for i := range b.N {
		f.append(fmt.Sprintf("account:%d", i%100_000), "BalanceIncreased", fmt.Sprintf(`{"amount":%d}`, 1+i%1000))
	}
	f.caughtUp()
}
