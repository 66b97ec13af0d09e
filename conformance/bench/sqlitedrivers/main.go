// Command sqlitedrivers times the two pure-Go SQLite drivers for
// database/sql against each other on the work of foldb's SQL projections:
// modernc.org/sqlite (SQLite translated to Go, the driver foldb uses) and
// github.com/ncruces/go-sqlite3 (SQLite compiled to WebAssembly, run by
// wazero or translated to Go). It is a module of its own so that the
// second driver never enters foldb's.
//
//	cd conformance/bench/sqlitedrivers && go run . [-rows 200000] [-rounds 3] [-dir DIR]
//
// Each round runs every case with one driver, then with the other, on a
// fresh file opened as foldb opens its own (WAL, synchronous FULL, a write
// transaction per batch taking the lock at BEGIN, one connection):
//
//   - insert: -rows ledger rows (position, account, type, amount, at), a
//     transaction per 1,000 rows, each one multi-row INSERT prepared once;
//   - upsert: -rows/2 account rows (id, name, balance; an index on
//     balance) inserted, then all of them upserted with a new balance
//     (INSERT ... ON CONFLICT (id) DO UPDATE), 1,000 rows a statement and
//     a transaction;
//   - select: every ledger row read by SELECT * and scanned, then -rows/10
//     accounts read one at a time by key.
//
// It prints rows/s for each driver (the median of the rounds) and the
// ratio ncruces/modernc.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver" // "sqlite3"
	_ "modernc.org/sqlite"                   // "sqlite"
)

const batch = 1000

type driver struct {
	name, sqlName string
}

var drivers = []driver{{"modernc.org/sqlite", "sqlite"}, {"github.com/ncruces/go-sqlite3", "sqlite3"}}

var cases = []string{"insert", "upsert", "select"}

func main() {
	rows := flag.Int("rows", 200_000, "ledger rows of a round; the accounts are half as many")
	rounds := flag.Int("rounds", 3, "rounds, each driver by turns")
	dir := flag.String("dir", "", "where the database files go (default $TMPDIR)")
	flag.Parse()
	work, err := os.MkdirTemp(*dir, "sqlitedrivers-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(work)
	ctx := context.Background()
	got := map[string]map[string][]float64{} // case -> driver -> rows/s
	for _, c := range cases {
		got[c] = map[string][]float64{}
	}
	for round := 1; round <= *rounds; round++ {
		for _, d := range drivers {
			path := filepath.Join(work, fmt.Sprintf("%s-%d.db", d.sqlName, round))
			db, err := sql.Open(d.sqlName, "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
			if err != nil {
				fail(err)
			}
			db.SetMaxOpenConns(1)
			for _, c := range cases {
				start := time.Now()
				n, err := run(ctx, db, c, *rows)
				if err != nil {
					fail(fmt.Errorf("%s %s: %w", d.name, c, err))
				}
				rate := float64(n) / time.Since(start).Seconds()
				got[c][d.name] = append(got[c][d.name], rate)
				fmt.Printf("round %d/%d %-30s %-6s %10.0f rows/s\n", round, *rounds, d.name, c, rate)
			}
			db.Close()
		}
	}
	fmt.Printf("\n| case | %s | %s | ncruces/modernc |\n| --- | --- | --- | --- |\n", drivers[0].name, drivers[1].name)
	for _, c := range cases {
		m, n := median(got[c][drivers[0].name]), median(got[c][drivers[1].name])
		fmt.Printf("| %s | %s rows/s | %s rows/s | %.2f |\n", c, count(m), count(n), n/m)
	}
	fmt.Println("\nEvery round (rows/s):")
	for _, c := range cases {
		for _, d := range drivers {
			var s []string
			for _, v := range got[c][d.name] {
				s = append(s, count(v))
			}
			fmt.Printf("- %s, %s: %s\n", c, d.name, strings.Join(s, ", "))
		}
	}
}

// run does one case and returns the rows it wrote or read.
func run(ctx context.Context, db *sql.DB, c string, rows int) (int, error) {
	switch c {
	case "insert":
		if _, err := db.ExecContext(ctx, `CREATE TABLE "ledger" ("position" INTEGER NOT NULL, "account" TEXT, "type" TEXT, "amount" INTEGER, "at" TEXT, PRIMARY KEY ("position"))`); err != nil {
			return 0, err
		}
		return rows, write(ctx, db, insertSQL("ledger", []string{"position", "account", "type", "amount", "at"}, ""), rows, func(i int) []any {
			typ := "BalanceIncreased"
			if i%3 == 0 {
				typ = "BalanceDecreased"
			}
			at := time.UnixMilli(1_764_000_000_000 + int64(i)).UTC().Format("2006-01-02 15:04:05.000")
			return []any{int64(i + 1), strconv.Itoa(1 + i%100_000), typ, int64(1 + i%1000), at}
		})
	case "upsert":
		if _, err := db.ExecContext(ctx, `CREATE TABLE "accounts" ("id" TEXT NOT NULL, "name" TEXT, "balance" INTEGER, PRIMARY KEY ("id"))`); err != nil {
			return 0, err
		}
		if _, err := db.ExecContext(ctx, `CREATE INDEX "accounts_balance" ON "accounts" ("balance")`); err != nil {
			return 0, err
		}
		n := rows / 2
		q := insertSQL("accounts", []string{"id", "name", "balance"}, ` ON CONFLICT ("id") DO UPDATE SET "name" = excluded."name", "balance" = excluded."balance"`)
		for pass := range 2 {
			err := write(ctx, db, q, n, func(i int) []any {
				return []any{strconv.Itoa(i + 1), "Customer " + strconv.Itoa(i+1), int64(100 + (i*7919+pass*31)%100_000)}
			})
			if err != nil {
				return 0, err
			}
		}
		return 2 * n, nil
	case "select":
		rs, err := db.QueryContext(ctx, `SELECT * FROM "ledger"`)
		if err != nil {
			return 0, err
		}
		var pos, amount int64
		var account, typ, at string
		n := 0
		for rs.Next() {
			if err := rs.Scan(&pos, &account, &typ, &amount, &at); err != nil {
				rs.Close()
				return 0, err
			}
			n++
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return 0, err
		}
		if n != rows {
			return 0, fmt.Errorf("%d ledger rows, want %d", n, rows)
		}
		st, err := db.PrepareContext(ctx, `SELECT "name", "balance" FROM "accounts" WHERE "id" = ?`)
		if err != nil {
			return 0, err
		}
		defer st.Close()
		var name string
		var balance int64
		for i := range rows / 10 {
			if err := st.QueryRowContext(ctx, strconv.Itoa(1+(i*7)%(rows/2))).Scan(&name, &balance); err != nil {
				return 0, err
			}
		}
		return n + rows/10, nil
	}
	return 0, fmt.Errorf("unknown case %q", c)
}

// write writes n rows made by row, a transaction per batch rows, each one
// INSERT made by q for the batch's size and prepared once.
func write(ctx context.Context, db *sql.DB, q func(rows int) string, n int, row func(i int) []any) error {
	stmts := map[int]*sql.Stmt{}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()
	var args []any
	for from := 0; from < n; from += batch {
		k := min(batch, n-from)
		st := stmts[k]
		if st == nil {
			var err error
			if st, err = db.PrepareContext(ctx, q(k)); err != nil {
				return err
			}
			stmts[k] = st
		}
		args = args[:0]
		for i := from; i < from+k; i++ {
			args = append(args, row(i)...)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// insertSQL makes a multi-row INSERT into table for a number of rows,
// with tail (an ON CONFLICT clause) after the values.
func insertSQL(table string, cols []string, tail string) func(rows int) string {
	return func(rows int) string {
		one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
		return `INSERT INTO "` + table + `" ("` + strings.Join(cols, `", "`) + `") VALUES ` +
			strings.TrimSuffix(strings.Repeat(one+",", rows), ",") + tail
	}
}

func median(vs []float64) float64 {
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func count(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sqlitedrivers:", err)
	os.Exit(1)
}
