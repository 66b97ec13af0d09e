package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/internal/testkit/pgtest"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The tests below run against each database: the twin in memory, SQLite
// and a real PostgreSQL.
var backends = []struct {
	name string
	open func(t *testing.T) DB
}{
	{"mem", func(*testing.T) DB { return NewMem() }},
	{"sqlite", func(t *testing.T) DB {
		db, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "t.db"))
		if err != nil {
			t.Fatal(err)
		}
		return db
	}},
	{"postgres", func(t *testing.T) DB {
		db, err := Open(context.Background(), Config{Driver: "postgres", DSN: pgSchema(t)})
		if err != nil {
			t.Fatal(err)
		}
		return db
	}},
}

var pgDatabase struct {
	once sync.Once
	dsn  string
	err  error
	n    int
	mu   sync.Mutex
}

// pgSchema is the DSN of a schema of its own for t, in a database the
// tests share: a schema is made faster than a database, and its tables
// are in the connection's current schema (search_path) as in a real one.
func pgSchema(t *testing.T) string {
	s := pgtest.Shared(t)
	pgDatabase.once.Do(func() { pgDatabase.dsn, pgDatabase.err = s.CreateDatabase("sqldb") })
	if pgDatabase.err != nil {
		t.Fatal(pgDatabase.err)
	}
	pgDatabase.mu.Lock()
	pgDatabase.n++
	name := fmt.Sprintf("s%d", pgDatabase.n)
	pgDatabase.mu.Unlock()
	db, err := OpenPostgres(context.Background(), pgDatabase.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.(*postgresDB).pool.Exec(context.Background(), "CREATE SCHEMA "+name); err != nil {
		t.Fatal(err)
	}
	return pgDatabase.dsn + " search_path=" + name
}

func eachDB(t *testing.T, test func(t *testing.T, db DB)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := b.open(t)
			t.Cleanup(func() { db.Close() })
			test(t, db)
		})
	}
}

// in runs f in one transaction and commits it.
func in(t *testing.T, db DB, f func(tx Tx) error) {
	t.Helper()
	tx, err := db.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func exists(t *testing.T, db DB, name string) bool {
	t.Helper()
	var ok bool
	in(t, db, func(tx Tx) (err error) { ok, err = tx.Exists(name); return err })
	return ok
}

func rows(t *testing.T, db DB, name string) int64 {
	t.Helper()
	n, err := db.Rows(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// dump reads a table back as the normalised text of each row (norm), by
// key, or for a table without one by the row and its count.
func dump(t *testing.T, db DB, tb *Table) map[string]string {
	t.Helper()
	var all [][]any
	switch d := db.(type) {
	case *Mem:
		for _, r := range d.Table(tb.Name) {
			all = append(all, r)
		}
	case *sqliteDB:
		all = sqlRows(t, d.db, tb)
	case *postgresDB:
		var cols []string // JSON as its text: a decoded string is no JSON
		for _, c := range tb.Columns {
			if c.Type == JSON {
				cols = append(cols, quoteIdent(c.Name)+"::text")
			} else {
				cols = append(cols, quoteIdent(c.Name))
			}
		}
		rs, err := d.pool.Query(context.Background(), "SELECT "+strings.Join(cols, ", ")+" FROM "+quoteIdent(tb.Name))
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			v, err := rs.Values()
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, v)
		}
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("no dump for %T", db)
	}
	out := map[string]string{}
	for _, r := range all {
		var vals []string
		for i, c := range tb.Columns {
			vals = append(vals, norm(t, c.Type, r[i]))
		}
		text := strings.Join(vals, "|")
		key := text
		if tb.Key >= 0 {
			key = vals[tb.Key]
		}
		for n := 2; ; n++ {
			if _, dup := out[key]; !dup {
				break
			}
			if tb.Key >= 0 {
				t.Fatalf("key %s twice in %s", key, tb.Name)
			}
			key = fmt.Sprintf("%s#%d", text, n)
		}
		out[key] = text
	}
	return out
}

func sqlRows(t *testing.T, db *sql.DB, tb *Table) [][]any {
	rs, err := db.Query("SELECT * FROM " + quoteIdent(tb.Name))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var all [][]any
	for rs.Next() {
		r := make([]any, len(tb.Columns))
		ptrs := make([]any, len(r))
		for i := range r {
			ptrs[i] = &r[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return all
}

// norm is a value as any database gave it back, as text that is the
// same for the same value of its type.
func norm(t *testing.T, typ Type, v any) string {
	t.Helper()
	if isNull(v) {
		return "NULL"
	}
	switch typ {
	case Boolean:
		switch x := v.(type) {
		case int64:
			return fmt.Sprint(x != 0)
		case bool:
			return fmt.Sprint(x)
		}
	case JSON:
		var doc any
		switch x := v.(type) {
		case []byte:
			json.Unmarshal(x, &doc)
		case json.RawMessage:
			json.Unmarshal(x, &doc)
		case string:
			json.Unmarshal([]byte(x), &doc)
		default: // decoded by the driver
			doc = x
		}
		b, _ := json.Marshal(doc)
		return string(b)
	case Timestamp:
		switch x := v.(type) {
		case time.Time:
			return x.UTC().Format(SQLiteTimeLayout)
		case string:
			return x
		}
	case Integer:
		if x, ok := v.(int64); ok {
			return fmt.Sprint(x)
		}
	case Real:
		if x, ok := v.(float64); ok {
			return fmt.Sprint(x)
		}
	case Text:
		if x, ok := v.(string); ok {
			return x
		}
	}
	t.Fatalf("a %T value %v for a %s column", v, v, typ)
	return ""
}

// want checks that a table holds exactly rows.
func want(t *testing.T, db DB, tb *Table, rows [][]any) {
	t.Helper()
	w := map[string]string{}
	for _, r := range rows {
		var vals []string
		for i, c := range tb.Columns {
			vals = append(vals, norm(t, c.Type, r[i]))
		}
		text := strings.Join(vals, "|")
		key := text
		if tb.Key >= 0 {
			key = vals[tb.Key]
		}
		for n := 2; ; n++ {
			if _, dup := w[key]; !dup || tb.Key >= 0 {
				break
			}
			key = fmt.Sprintf("%s#%d", text, n)
		}
		w[key] = text
	}
	got := dump(t, db, tb)
	if len(got) != len(w) {
		t.Fatalf("%s has %d rows, want %d", tb.Name, len(got), len(w))
	}
	for k, v := range w {
		if got[k] != v {
			t.Fatalf("%s row %s: %q, want %q", tb.Name, k, got[k], v)
		}
	}
}

func accounts(name string, gen int) *Table {
	return &Table{
		Name:     name,
		Columns:  []Column{{"id", Text}, {"name", Text}, {"balance", Integer}, {"v", Integer}},
		Key:      0,
		Indexes:  []string{"balance"},
		IndexTag: fmt.Sprintf("accounts_g%d", gen),
	}
}

func TestTables(t *testing.T) {
	eachDB(t, func(t *testing.T, db DB) {
		a := accounts("accounts", 1)
		if exists(t, db, "accounts") {
			t.Fatal("a table before any is made")
		}
		in(t, db, func(tx Tx) error { return tx.CreateTable(a) })
		if !exists(t, db, "accounts") || exists(t, db, "other") {
			t.Fatal("exists")
		}
		tx, _ := db.Begin(context.Background())
		if err := tx.CreateTable(a); err == nil {
			t.Fatal("a table made twice")
		}
		tx.Rollback()
		in(t, db, func(tx Tx) error { return tx.RenameTable("accounts", "other") })
		if exists(t, db, "accounts") || !exists(t, db, "other") {
			t.Fatal("rename")
		}
		in(t, db, func(tx Tx) error { return tx.DropTable("other") })
		in(t, db, func(tx Tx) error { return tx.DropTable("other") }) // not there: nothing
		if exists(t, db, "other") {
			t.Fatal("drop")
		}
	})
}

// TestRebuildCycle builds a table beside the live one and renames it over
// it, as a projection's rebuild does, three times: the names the live
// table's indexes and key got must not be in the way of the next build.
func TestRebuildCycle(t *testing.T) {
	eachDB(t, func(t *testing.T, db DB) {
		for gen := 1; gen <= 3; gen++ {
			shadow := accounts("foldb_new_accounts", gen)
			rows := [][]any{{"a", "x", int64(gen), int64(1)}, {fmt.Sprint("g", gen), nil, int64(7), int64(2)}}
			in(t, db, func(tx Tx) error {
				if err := tx.DropTable(shadow.Name); err != nil {
					return err
				}
				if err := tx.CreateTable(shadow); err != nil {
					return err
				}
				if err := tx.Upsert(shadow, rows); err != nil {
					return err
				}
				if err := tx.DropTable("accounts"); err != nil {
					return err
				}
				return tx.RenameTable(shadow.Name, "accounts")
			})
			live := accounts("accounts", gen)
			want(t, db, live, rows)
			in(t, db, func(tx Tx) error { return tx.Upsert(live, [][]any{{"a", "y", int64(-1), int64(3)}}) })
			want(t, db, live, append([][]any{{"a", "y", int64(-1), int64(3)}}, rows[1:]...))
			if exists(t, db, shadow.Name) {
				t.Fatal("the build's table is left")
			}
		}
	})
}

func TestUpsert(t *testing.T) {
	eachDB(t, func(t *testing.T, db DB) {
		a := accounts("accounts", 1)
		in(t, db, func(tx Tx) error { return tx.CreateTable(a) })
		// The same key twice in one call: the later row counts.
		in(t, db, func(tx Tx) error {
			return tx.Upsert(a, [][]any{{"k", "first", int64(1), int64(1)}, {"j", "j", int64(0), int64(1)}, {"k", "second", int64(2), int64(2)}})
		})
		want(t, db, a, [][]any{{"k", "second", int64(2), int64(2)}, {"j", "j", int64(0), int64(1)}})
		// Past the rows of one statement and past SQLite's parameters, with
		// a key twice across statements.
		const n = 12_000
		big := make([][]any, 0, n+1)
		for i := range n {
			big = append(big, []any{fmt.Sprint("id", i), fmt.Sprint("name", i), int64(i), int64(1)})
		}
		big = append(big, []any{"id5", "late", int64(-5), int64(9)})
		in(t, db, func(tx Tx) error { return tx.Upsert(a, big) })
		if got := rows(t, db, "accounts"); got != n+2 {
			t.Fatalf("%d rows, want %d", got, n+2)
		}
		all := append([][]any{{"k", "second", int64(2), int64(2)}, {"j", "j", int64(0), int64(1)}}, big[:5]...)
		all = append(all, big[6:]...)
		want(t, db, a, all)
		// Over again: every row replaced.
		for _, r := range big {
			r[3] = int64(2)
		}
		in(t, db, func(tx Tx) error { return tx.Upsert(a, big) })
		want(t, db, a, all)
	})
}

// TestWideRows writes rows of so many columns that a statement holds
// fewer rows than the most one may: the parameter limit cuts it.
func TestWideRows(t *testing.T) {
	eachDB(t, func(t *testing.T, db DB) {
		tb := &Table{Name: "wide", Key: 0, IndexTag: "wide_g1"}
		for i := range 70 {
			tb.Columns = append(tb.Columns, Column{fmt.Sprint("c", i), Integer})
		}
		var all [][]any
		for r := range 1000 { // 70,000 parameters
			row := make([]any, len(tb.Columns))
			for i := range row {
				row[i] = int64(r*100 + i)
			}
			all = append(all, row)
		}
		in(t, db, func(tx Tx) error {
			if err := tx.CreateTable(tb); err != nil {
				return err
			}
			return tx.Upsert(tb, all)
		})
		want(t, db, tb, all)
	})
}

func TestInsertDeleteClear(t *testing.T) {
	eachDB(t, func(t *testing.T, db DB) {
		ledger := &Table{
			Name:     "ledger",
			Columns:  []Column{{"position", Integer}, {"account", Text}, {"amount", Integer}},
			Key:      -1,
			Indexes:  []string{"account"},
			IndexTag: "ledger_g1",
		}
		a := accounts("accounts", 1)
		in(t, db, func(tx Tx) error {
			if err := tx.CreateTable(ledger); err != nil {
				return err
			}
			return tx.CreateTable(a)
		})
		var ev [][]any
		for i := range 2500 {
			ev = append(ev, []any{int64(i + 1), fmt.Sprint("a", i%7), int64(i % 3)})
		}
		ev = append(ev, ev[0]) // no key: a row twice is two rows
		in(t, db, func(tx Tx) error { return tx.Insert(ledger, ev) })
		want(t, db, ledger, ev)
		var acc [][]any
		var keys []any
		for i := range 1500 {
			acc = append(acc, []any{fmt.Sprint(i), "n", int64(i), int64(1)})
			if i%3 != 0 {
				keys = append(keys, fmt.Sprint(i))
			}
		}
		in(t, db, func(tx Tx) error { return tx.Insert(a, acc) })
		tx, _ := db.Begin(context.Background())
		if err := tx.Insert(a, acc[:1]); err == nil {
			t.Fatal("a key inserted twice")
		}
		tx.Rollback()
		in(t, db, func(tx Tx) error { return tx.Delete(a, append(keys, "missing")) })
		var left [][]any
		for i, r := range acc {
			if i%3 == 0 {
				left = append(left, r)
			}
		}
		want(t, db, a, left)
		in(t, db, func(tx Tx) error { return tx.Clear("ledger") })
		if n := rows(t, db, "ledger"); n != 0 {
			t.Fatalf("%d rows after a clear", n)
		}
		if !exists(t, db, "ledger") {
			t.Fatal("a clear dropped the table")
		}
	})
}

func TestCheckpoints(t *testing.T) {
	eachDB(t, func(t *testing.T, db DB) {
		ctx := context.Background()
		if _, ok, err := db.Checkpoint(ctx, "p"); ok || err != nil {
			t.Fatalf("a checkpoint before any: %v %v", ok, err)
		}
		at := time.Date(2026, 3, 4, 5, 6, 7, 8_000_000, time.UTC)
		c := Checkpoint{Projection: "p", Position: 1<<63 - 1, Table: "accounts", Definition: "d1", Generation: 3, Updated: at}
		in(t, db, func(tx Tx) error { return tx.SetCheckpoint(c) })
		got, ok, err := db.Checkpoint(ctx, "p")
		if !ok || err != nil || got != c {
			t.Fatalf("checkpoint %+v %v %v, want %+v", got, ok, err, c)
		}
		c.Position, c.Definition, c.Table = 9, "d2", "other"
		in(t, db, func(tx Tx) error { return tx.SetCheckpoint(c) })
		in(t, db, func(tx Tx) error { return tx.SetCheckpoint(Checkpoint{Projection: "q", Position: 1}) })
		if got, _, _ := db.Checkpoint(ctx, "p"); got != c {
			t.Fatalf("checkpoint %+v, want %+v", got, c)
		}
		if q, ok, _ := db.Checkpoint(ctx, "q"); !ok || q.Updated.IsZero() {
			t.Fatalf("checkpoint q %+v %v: no time", q, ok)
		}
		// MoveCheckpoint moves it only from where it is, in its generation.
		moved := c
		moved.Position = 12
		for _, from := range []struct {
			position, generation uint64
		}{{8, 3}, {9, 4}, {10, 3}} {
			tx, _ := db.Begin(ctx)
			wrong := moved
			wrong.Generation = from.generation
			if err := tx.MoveCheckpoint(wrong, from.position); !errors.Is(err, ErrCheckpointMoved) {
				t.Fatalf("checkpoint moved from %d of generation %d, at 9 of 3: %v", from.position, from.generation, err)
			}
			tx.Rollback()
		}
		in(t, db, func(tx Tx) error { return tx.MoveCheckpoint(moved, 9) })
		if got, _, _ := db.Checkpoint(ctx, "p"); got.Position != 12 || got.Definition != "d2" || got.Generation != 3 {
			t.Fatalf("checkpoint %+v after a move to 12", got)
		}
		if got, _, _ := db.Checkpoint(ctx, "q"); got.Position != 1 {
			t.Fatalf("checkpoint q %+v after a move of p", got)
		}
		in(t, db, func(tx Tx) error { return tx.DeleteCheckpoint("p") })
		if _, ok, _ := db.Checkpoint(ctx, "p"); ok {
			t.Fatal("a deleted checkpoint")
		}
		if _, ok, _ := db.Checkpoint(ctx, "q"); !ok {
			t.Fatal("the other checkpoint is gone")
		}
		if _, isMem := db.(*Mem); !isMem {
			tx, _ := db.Begin(ctx)
			if err := tx.SetCheckpoint(Checkpoint{Projection: "p", Position: 1 << 63}); err == nil {
				t.Fatal("a position over 63 bits")
			}
			tx.Rollback()
		}
	})
}

// TestDeleteCheckpointFirst deletes a checkpoint in a database that has
// no checkpoint table yet.
func TestDeleteCheckpointFirst(t *testing.T) {
	eachDB(t, func(t *testing.T, db DB) {
		in(t, db, func(tx Tx) error { return tx.DeleteCheckpoint("p") })
	})
}

func TestTypesRoundTrip(t *testing.T) {
	eachDB(t, func(t *testing.T, db DB) {
		tb := &Table{Name: "every", Key: 0, IndexTag: "every_g1"}
		for _, typ := range Types {
			tb.Columns = append(tb.Columns, Column{"c_" + string(typ), typ})
		}
		at := time.Date(1999, 12, 31, 23, 59, 59, 123_000_000, time.FixedZone("x", 3600))
		rows := [][]any{
			{"plain", int64(0), 0.0, false, []byte(`{"a":1,"b":[true,null,"x"]}`), at},
			{"é €", int64(math.MaxInt64), -1.5e300, true, json.RawMessage(`[1,2.5,"é"]`), time.UnixMilli(0)},
			{"", int64(math.MinInt64), math.SmallestNonzeroFloat64, true, []byte(`"text"`), time.UnixMilli(1_800_000_000_123)},
			{"json null", int64(-1), 0.1, false, []byte(`null`), time.UnixMilli(-86_400_000)},
			{"NULLs", nil, nil, nil, nil, nil},
			{"nil JSON", nil, nil, nil, []byte(nil), nil},
			{`quote "' and ; --`, int64(1), 1.0, true, []byte(`{}`), at},
		}
		in(t, db, func(tx Tx) error {
			if err := tx.CreateTable(tb); err != nil {
				return err
			}
			return tx.Upsert(tb, rows)
		})
		want(t, db, tb, rows)
		// And appended, many times over: past one statement's rows.
		log := &Table{Name: "every_log", Columns: tb.Columns, Key: -1, IndexTag: "every_log_g1"}
		var many [][]any
		for range 150 {
			many = append(many, rows...)
		}
		in(t, db, func(tx Tx) error {
			if err := tx.CreateTable(log); err != nil {
				return err
			}
			return tx.Insert(log, many)
		})
		want(t, db, log, many)
		if _, isMem := db.(*Mem); isMem {
			return
		}
		// What the real ones refuse.
		for _, bad := range [][]any{
			{"k", "1", nil, nil, nil, nil},
			{"k", nil, nil, nil, []byte(`{`), nil},
			{nil, nil, nil, nil, nil, nil},
			{"k"},
		} {
			tx, _ := db.Begin(context.Background())
			if err := tx.Upsert(tb, [][]any{bad}); err == nil || !strings.HasPrefix(err.Error(), "sqldb: ") {
				t.Fatalf("row %v: %v", bad, err)
			}
			tx.Rollback()
		}
	})
}

func TestRollbackLeavesNothing(t *testing.T) {
	eachDB(t, func(t *testing.T, db DB) {
		ctx := context.Background()
		a := accounts("accounts", 1)
		in(t, db, func(tx Tx) error { return tx.CreateTable(a) })
		keep := [][]any{{"kept", "k", int64(1), int64(1)}}
		in(t, db, func(tx Tx) error { return tx.Upsert(a, keep) })
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		steps := []error{
			tx.CreateTable(accounts("made", 2)),
			tx.Upsert(a, [][]any{{"new", "n", int64(2), int64(1)}, {"kept", "changed", int64(3), int64(2)}}),
			tx.SetCheckpoint(Checkpoint{Projection: "p", Position: 5, Table: "accounts"}),
			tx.RenameTable("accounts", "moved"),
		}
		if err := errors.Join(steps...); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatalf("a second rollback: %v", err)
		}
		if err := tx.Commit(); err == nil {
			t.Fatal("a commit after the rollback")
		}
		if err := tx.Upsert(a, keep); err == nil {
			t.Fatal("a write after the rollback")
		}
		if exists(t, db, "made") || exists(t, db, "moved") || !exists(t, db, "accounts") {
			t.Fatal("a rolled back table")
		}
		if _, ok, _ := db.Checkpoint(ctx, "p"); ok {
			t.Fatal("a rolled back checkpoint")
		}
		want(t, db, a, keep)
	})
}

// TestPostgresCurrentSchema: Exists sees the tables of the connection's
// schema, not another's of the same name.
func TestPostgresCurrentSchema(t *testing.T) {
	one, err := OpenPostgres(context.Background(), pgSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	two, err := OpenPostgres(context.Background(), pgSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	defer two.Close()
	in(t, one, func(tx Tx) error { return tx.CreateTable(accounts("accounts", 1)) })
	if exists(t, two, "accounts") {
		t.Fatal("another schema's table")
	}
	in(t, two, func(tx Tx) error { return tx.CreateTable(accounts("accounts", 1)) })
	if !exists(t, two, "accounts") {
		t.Fatal("its own table")
	}
}

func TestPostgresIdent(t *testing.T) {
	long := strings.Repeat("é", 40) + "_g1_pkey"
	a, b := postgresIdent(long), postgresIdent(strings.Replace(long, "g1", "g2", 1))
	if len(a) > postgresMaxIdent || a == b || !strings.HasPrefix(a, "é") {
		t.Fatalf("%q %q", a, b)
	}
	if postgresIdent("accounts_g1_pkey") != "accounts_g1_pkey" {
		t.Fatal("a short name changed")
	}
}

// BenchmarkPostgresInsert compares multi-row INSERT statements with COPY
// for a batch of append-only rows, as a ledger projection writes them
// (Insert itself picks one by the batch's size).
func BenchmarkPostgresInsert(b *testing.B) {
	for _, rows := range []int{100, 1000, 5000} {
		for _, how := range []string{"insert", "copy"} {
			b.Run(fmt.Sprintf("%s/%d", how, rows), func(b *testing.B) {
				dsn := pgtest.Shared(b).NewDatabase(b)
				db, err := OpenPostgres(context.Background(), dsn)
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				ledger := &Table{Name: "ledger", Key: -1, IndexTag: "ledger_g1",
					Columns: []Column{{"position", Integer}, {"account", Text}, {"type", Text}, {"amount", Integer}, {"at", Timestamp}}}
				tx, _ := db.Begin(context.Background())
				if err := tx.CreateTable(ledger); err != nil {
					b.Fatal(err)
				}
				tx.Commit()
				batch := make([][]any, rows)
				names := make([]string, len(ledger.Columns))
				for i, c := range ledger.Columns {
					names[i] = c.Name
				}
				pos := int64(0)
				b.ResetTimer()
				for range b.N {
					for i := range batch {
						pos++
						batch[i] = []any{pos, fmt.Sprint("a", pos%100), "BalanceIncreased", pos % 7, time.UnixMilli(pos)}
					}
					tx, _ := db.Begin(context.Background())
					if how == "insert" {
						err = tx.(*txn).writeRows(opInsert, ledger, batch)
					} else {
						_, err = tx.(*txn).c.(*postgresConn).tx.CopyFrom(context.Background(), []string{"ledger"}, names, pgx.CopyFromRows(batch))
					}
					if err != nil {
						b.Fatal(err)
					}
					if err := tx.Commit(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

// TestPostgresNUL: PostgreSQL's text and jsonb hold no NUL character, so
// such a row fails its batch (docs/projections.md says so).
func TestPostgresNUL(t *testing.T) {
	db, err := OpenPostgres(context.Background(), pgSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tb := &Table{Name: "n", Columns: []Column{{"k", Text}, {"j", JSON}}, Key: 0, IndexTag: "n_g1"}
	in(t, db, func(tx Tx) error { return tx.CreateTable(tb) })
	for _, row := range [][]any{{"a\x00b", nil}, {"k", []byte(`"a\u0000b"`)}} {
		tx, err := db.Begin(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Upsert(tb, [][]any{row}); err == nil || !strings.HasPrefix(err.Error(), "sqldb: ") {
			t.Fatalf("row %q: %v", row, err)
		}
		tx.Rollback()
	}
}

// TestSQLiteCheckpointsTheWAL: commits go to the WAL, and the DB's
// checkpointer, not the commits, copies them into the database file.
func TestSQLiteCheckpointsTheWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	db, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var autocheckpoint int
	if err := db.(*sqliteDB).db.QueryRow("PRAGMA wal_autocheckpoint").Scan(&autocheckpoint); err != nil || autocheckpoint != 0 {
		t.Fatalf("wal_autocheckpoint %d (%v), want 0: checkpoints are the checkpointer's", autocheckpoint, err)
	}
	tb := &Table{Name: "ledger", Key: 0, IndexTag: "ledger_g1", Columns: []Column{{"position", Integer}, {"note", Text}}}
	in(t, db, func(tx Tx) error { return tx.CreateTable(tb) })
	note := strings.Repeat("x", 200)
	for i := range 20 {
		var batch [][]any
		for j := range 100 {
			batch = append(batch, []any{int64(i*100 + j), note})
		}
		in(t, db, func(tx Tx) error { return tx.Insert(tb, batch) })
	}
	testkit.WaitFor(t, "the rows checkpointed into the database file", func() bool {
		st, err := os.Stat(path)
		return err == nil && st.Size() > 2000*200
	})
	if n := rows(t, db, "ledger"); n != 2000 {
		t.Fatalf("%d rows, want 2000", n)
	}
}

// TestPreparedBatches inserts batches prepared before their transaction,
// of a few rows and of more than a statement (COPY on PostgreSQL), and
// shows that a bad row fails at Prepare and a batch of another database
// is refused.
func TestPreparedBatches(t *testing.T) {
	eachDB(t, func(t *testing.T, db DB) {
		a := accounts("accounts", 1)
		in(t, db, func(tx Tx) error { return tx.CreateTable(a) })
		var all [][]any
		var batches []*Batch
		for _, n := range []int{3, maxRowsPerStatement + 7} {
			var rows [][]any
			for i := range n {
				rows = append(rows, []any{fmt.Sprintf("%d-%d", n, i), "n", int64(i), int64(1)})
			}
			b, err := db.Prepare(a, rows)
			if err != nil {
				t.Fatal(err)
			}
			if b.Len() != n {
				t.Fatalf("a batch of %d rows has Len %d", n, b.Len())
			}
			batches, all = append(batches, b), append(all, rows...)
		}
		in(t, db, func(tx Tx) error {
			for _, b := range batches {
				if err := tx.InsertBatch(b); err != nil {
					return err
				}
			}
			return nil
		})
		want(t, db, a, all)
		if _, err := db.Prepare(a, [][]any{{"x", "n", "not a number", int64(1)}}); err == nil {
			t.Fatal("a text value for an integer column prepared")
		}
		// A batch of another database: SQLite's for the twin, the twin's for
		// the others.
		prepareOther := NewMem().Prepare
		if db.Driver() == "mem" {
			prepareOther = func(t *Table, rows [][]any) (*Batch, error) { return prepare(&sqliteDialect, t, rows) }
		}
		b, err := prepareOther(a, [][]any{{"y", "n", int64(1), int64(1)}})
		if err != nil {
			t.Fatal(err)
		}
		tx, err := db.Begin(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := tx.InsertBatch(b); err == nil || !strings.Contains(err.Error(), "another database") {
			t.Fatalf("a batch of another database: %v", err)
		}
	})
}

// TestSQLiteStartsWriteback: while commits come, the checkpointer starts
// the writeback of the database file and of its WAL.
func TestSQLiteStartsWriteback(t *testing.T) {
	if !writebackSupported {
		t.Skip("no sync_file_range on this system: nothing to start")
	}
	path := filepath.Join(t.TempDir(), "t.db")
	db, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := db.(*sqliteDB)
	tb := &Table{Name: "ledger", Key: 0, IndexTag: "ledger_g1", Columns: []Column{{"position", Integer}}}
	in(t, db, func(tx Tx) error { return tx.CreateTable(tb) })
	i := 0
	insert := func() {
		i++
		in(t, db, func(tx Tx) error { return tx.Insert(tb, [][]any{{int64(i)}}) })
	}
	testkit.WaitFor(t, "the writeback of both files started", func() bool {
		insert()
		return s.wb.started[0].Load() > 0 && s.wb.started[1].Load() > 0
	})
}
