package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Row 12: the product catalogue. -catalog-products products, each appended
// to foldb as one ProductAdded event and folded into an entity type with
// declared indexes, and the same rows in a SQLite file (in the bench's
// process) and in PostgreSQL (over loopback, pgx), with the same indexes.
// Five queries by one client, each system by turns, the same random
// parameters for each; every answer of the first round is compared between
// the systems.

const (
	catalogCategories = 200
	catalogTags       = 50
	// catalogPriceMod is a prime above any -catalog-products: price i is
	// 100 + (i·7919 + 12345) mod it, in cents, so no two products share a
	// price and "ORDER BY price" has one answer.
	catalogPriceMod = 1_000_003
)

const catalogSchema = `# The product catalogue of the bench's row 12.
entities:
  product:                      # ENTITY.GET product 42 <- stream product:42
    streams: product
    indexes: [price, category, name, [category, price]]
    when:
      ProductAdded:
        set: {sku: event.sku, name: event.name, category: event.category, price: event.price, stock: event.stock, tags: event.tags}
`

// product is one row of the catalogue, id 1..n.
type product struct {
	id       int
	sku      string
	name     string
	category string
	price    int
	stock    int
	tags     string // a JSON array
}

func catalogProduct(i int) product {
	h := splitmix(uint64(i))
	letters := make([]byte, 6)
	for k := range letters {
		letters[k] = 'a' + byte(h>>(k*5)%26)
	}
	h2 := splitmix(h)
	t1, t2 := h2%catalogTags, (h2>>8)%catalogTags
	return product{
		id:       i,
		sku:      fmt.Sprintf("SKU-%07d", i),
		name:     string(letters) + " " + fmt.Sprintf("%07d", i),
		category: "c" + strconv.Itoa(int(h>>32%catalogCategories)),
		price:    100 + (i*7919+12345)%catalogPriceMod,
		stock:    int(h2 >> 20 % 1000),
		tags:     fmt.Sprintf(`["t%d","t%d"]`, t1, t2),
	}
}

func (p product) event() []any {
	js := fmt.Sprintf(`{"sku":%q,"name":%q,"category":%q,"price":%d,"stock":%d,"tags":%s}`,
		p.sku, p.name, p.category, p.price, p.stock, p.tags)
	return []any{"EVENT.APPEND", "product:" + strconv.Itoa(p.id), "ProductAdded", js}
}

// catalogQuery is one of the five queries: its parameters drawn from rng,
// and how each system runs it and writes its answer, so that the answers
// can be compared.
type catalogQuery struct {
	n     int
	name  string
	iters func(cfg config) int
	// params draws one query's parameters.
	params func(rng *rand.Rand, products int) []any
	foldb  func(p []any) []any
	sql    string // with ? for the parameters; PostgreSQL's gets $1, $2
	// sqlParams are the SQL parameters of p (the LIKE pattern of a prefix).
	sqlParams func(p []any) []any
	// foldbAnswer and sqlAnswer write an answer in one form.
	foldbAnswer func(reply any) (string, error)
	// cols is the number of columns the SQL query gives.
	cols int
}

const productCols = "id, sku, name, category, price, stock, tags"

var catalogQueries = []catalogQuery{
	{n: 1, name: "top 10 of a category by price",
		params: func(rng *rand.Rand, _ int) []any { return []any{"c" + strconv.Itoa(rng.IntN(catalogCategories))} },
		foldb: func(p []any) []any {
			return []any{"ENTITY.ALL", "product", "WHERE", fmt.Sprintf("category == '%s'", p[0]), "SORTBY", "price", "ASC", "LIMIT", "0", "10"}
		},
		sql:         "SELECT " + productCols + " FROM products WHERE category = ? ORDER BY price LIMIT 10",
		foldbAnswer: foldbIDs, cols: 7},
	{n: 2, name: "count in a price range",
		params: func(rng *rand.Rand, _ int) []any {
			lo := 100 + rng.IntN(catalogPriceMod)
			return []any{lo, lo + 100 + rng.IntN(50_000)}
		},
		foldb: func(p []any) []any {
			return []any{"ENTITY.COUNT", "product", "WHERE", fmt.Sprintf("price >= %d && price < %d", p[0], p[1])}
		},
		sql: "SELECT count(*) FROM products WHERE price >= ? AND price < ?",
		foldbAnswer: func(reply any) (string, error) {
			n, ok := reply.(int64)
			if !ok {
				return "", fmt.Errorf("ENTITY.COUNT gives %T %v, not an integer", reply, reply)
			}
			return strconv.FormatInt(n, 10), nil
		}, cols: 1},
	{n: 3, name: "name prefix, 20 results",
		params: func(rng *rand.Rand, _ int) []any {
			return []any{string([]byte{'a' + byte(rng.IntN(26)), 'a' + byte(rng.IntN(26)), 'a' + byte(rng.IntN(26))})}
		},
		foldb: func(p []any) []any {
			return []any{"ENTITY.ALL", "product", "WHERE", fmt.Sprintf("name startsWith '%s'", p[0]), "SORTBY", "name", "ASC", "LIMIT", "0", "20"}
		},
		sql:         "SELECT " + productCols + " FROM products WHERE name LIKE ? ORDER BY name LIMIT 20",
		sqlParams:   func(p []any) []any { return []any{p[0].(string) + "%"} },
		foldbAnswer: foldbIDs, cols: 7},
	{n: 4, name: "point lookup by id",
		params: func(rng *rand.Rand, products int) []any { return []any{1 + rng.IntN(products)} },
		foldb:  func(p []any) []any { return []any{"ENTITY.GET", "product", strconv.Itoa(p[0].(int))} },
		sql:    "SELECT " + productCols + " FROM products WHERE id = ?",
		foldbAnswer: func(reply any) (string, error) {
			s, ok := reply.(string)
			if !ok {
				return "", fmt.Errorf("ENTITY.GET gives %T %v, not a string", reply, reply)
			}
			var v struct {
				SKU   string `json:"sku"`
				Price int    `json:"price"`
				Stock int    `json:"stock"`
			}
			if err := json.Unmarshal([]byte(s), &v); err != nil {
				return "", fmt.Errorf("ENTITY.GET gives %q: %w", s, err)
			}
			return fmt.Sprintf("%s %d %d", v.SKU, v.Price, v.Stock), nil
		}, cols: 7},
	{n: 5, name: "sum of stock per category",
		params: func(*rand.Rand, int) []any { return nil },
		foldb: func([]any) []any {
			return []any{"ENTITY.AGGREGATE", "product", "GROUPBY", "category", "REDUCE", "SUM", "stock"}
		},
		sql: "SELECT category, CAST(sum(stock) AS bigint) FROM products GROUP BY category ORDER BY category",
		foldbAnswer: func(reply any) (string, error) {
			rows, ok := reply.([]any)
			if !ok {
				return "", fmt.Errorf("ENTITY.AGGREGATE gives %T, not an array", reply)
			}
			var sb strings.Builder
			for _, r := range rows {
				f, ok := r.([]any)
				if !ok || len(f) != 4 {
					return "", fmt.Errorf("ENTITY.AGGREGATE row %v is not category, value, sum(stock), value", r)
				}
				var cat string
				if err := json.Unmarshal([]byte(fmt.Sprint(f[1])), &cat); err != nil {
					return "", fmt.Errorf("ENTITY.AGGREGATE row %v: %w", r, err)
				}
				fmt.Fprintf(&sb, "%s=%v;", cat, f[3])
			}
			return sb.String(), nil
		}, cols: 2},
}

// foldbIDs writes the ids of an ENTITY.ALL reply (id, json, id, json, ...).
func foldbIDs(reply any) (string, error) {
	a, ok := reply.([]any)
	if !ok || len(a)%2 != 0 {
		return "", fmt.Errorf("ENTITY.ALL gives %T %v, not id, json pairs", reply, reply)
	}
	ids := make([]string, 0, len(a)/2)
	for i := 0; i < len(a); i += 2 {
		ids = append(ids, fmt.Sprint(a[i]))
	}
	return strings.Join(ids, ","), nil
}

// sqlAnswer writes the rows of a SQL answer as foldbAnswer writes foldb's:
// the ids, the count, "sku price stock", or "category=sum;...".
func (q catalogQuery) sqlAnswer(rows [][]any) string {
	switch q.n {
	case 2:
		return fmt.Sprint(rows[0][0])
	case 4:
		if len(rows) == 0 {
			return "none"
		}
		return fmt.Sprintf("%s %v %v", rows[0][1], rows[0][4], rows[0][5])
	case 5:
		var sb strings.Builder
		for _, r := range rows {
			fmt.Fprintf(&sb, "%s=%v;", r[0], r[1])
		}
		return sb.String()
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = fmt.Sprint(r[0])
	}
	return strings.Join(ids, ",")
}

func (q catalogQuery) iterations(cfg config) int {
	if q.n == 5 {
		return cfg.catalogAggIters
	}
	return cfg.catalogIters
}

// catalogSystem is one of the three systems: run sends one query and
// returns its answer unwritten (the reply, or the rows), which is all the
// clock covers.
type catalogSystem struct {
	name   string
	run    func(q catalogQuery, p []any) (any, error)
	answer func(q catalogQuery, raw any) (string, error)
	// explain tells how the system runs q with parameters p.
	explain func(q catalogQuery, p []any) (string, error)
}

func (b *bench) rowCatalog() ([]result, error) {
	n := b.cfg.catalogProducts
	if n >= catalogPriceMod {
		return nil, fmt.Errorf("-catalog-products must be below %d", catalogPriceMod)
	}
	schema := b.path("catalog-schema.yaml")
	if err := os.WriteFile(schema, []byte(catalogSchema), 0o644); err != nil {
		return nil, err
	}
	f, _, err := b.startFoldbLoaded(b.path("catalog-foldb"), "--durability", "none", "--schema", schema, "--snapshot-every", "0", "--snapshot-interval", "0")
	if err != nil {
		return nil, err
	}
	defer f.kill()
	start := time.Now()
	if err := b.load(&f.server, "foldb: EVENT.APPEND product:<id> ProductAdded <json>", n, split(n, loadWorkers, func(i int) []any {
		return catalogProduct(i + 1).event()
	})); err != nil {
		return nil, err
	}
	fc := f.client(1)
	defer fc.Close()
	if got, err := fc.Do(b.ctx, "ENTITY.COUNT", "product").Int(); err != nil || got != n {
		return nil, fmt.Errorf("foldb ENTITY.COUNT product gives %d (%v), not %d", got, err, n)
	}
	b.progress("  foldb: %s products appended and folded in %.1fs", count(int64(n)), time.Since(start).Seconds())

	lite, err := b.catalogSQLite(n)
	if err != nil {
		return nil, err
	}
	defer lite.Close()
	pg, err := b.catalogPostgres(n)
	if err != nil {
		return nil, err
	}
	defer pg.Close(context.Background())

	systems := []catalogSystem{b.foldbSystem(fc), b.sqliteSystem(lite), b.postgresSystem(pg)}
	var plans []string
	for _, q := range catalogQueries {
		p := q.params(rand.New(rand.NewPCG(0, uint64(q.n))), n)
		for _, s := range systems {
			plan, err := s.explain(q, p)
			if err != nil {
				return nil, fmt.Errorf("%s, how query %d runs: %w", s.name, q.n, err)
			}
			plans = append(plans, fmt.Sprintf("query %d %s: %s", q.n, s.name, plan))
			b.progress("  query %d, %s plan: %s", q.n, s.name, plan)
			if s.name == "foldb" && q.n <= 3 && strings.Contains(plan, "index=scan") {
				b.progress("  WARNING: foldb scans every product for query %d: the planner uses no index", q.n)
			}
		}
	}

	lats := make(map[string][][]latency) // per system, per query, per round
	for _, s := range systems {
		lats[s.name] = make([][]latency, len(catalogQueries))
	}
	for round := 1; round <= b.cfg.rounds; round++ {
		for qi, q := range catalogQueries {
			iters := q.iterations(b.cfg)
			answers := map[string][]string{}
			// The systems take turns, starting with another one each round.
			for k := range systems {
				s := systems[(k+round-1)%len(systems)]
				rng := rand.New(rand.NewPCG(uint64(round), uint64(q.n)))
				took := make([]time.Duration, iters)
				raws := make([]any, iters)
				wall := time.Now()
				for i := range took {
					p := q.params(rng, n)
					t := time.Now()
					raw, err := s.run(q, p)
					took[i] = time.Since(t)
					if err != nil {
						if b.ctx.Err() != nil {
							return nil, errInterrupted
						}
						return nil, fmt.Errorf("%s, query %d with %v: %w", s.name, q.n, p, err)
					}
					raws[i] = raw
				}
				l := latencyOf(took, time.Since(wall))
				lats[s.name][qi] = append(lats[s.name][qi], l)
				b.progress("  round %d/%d, query %d (%s), %s: %s", round, b.cfg.rounds, q.n, q.name, s.name, l)
				if round == 1 {
					for _, raw := range raws {
						a, err := s.answer(q, raw)
						if err != nil {
							return nil, fmt.Errorf("%s, query %d: %w", s.name, q.n, err)
						}
						answers[s.name] = append(answers[s.name], a)
					}
				}
			}
			if round == 1 {
				if err := sameAnswers(q, systems, answers); err != nil {
					return nil, err
				}
				b.progress("  query %d: the %d answers of round 1 agree between the three systems", q.n, iters)
			}
		}
	}
	return catalogResults(b.cfg, n, lats, plans), nil
}

// sameAnswers checks that every system gave foldb's answer to every query
// of the round, and that the answers are not all empty.
func sameAnswers(q catalogQuery, systems []catalogSystem, answers map[string][]string) error {
	want := answers["foldb"]
	empty := 0
	for i, a := range want {
		if a == "" || a == "0" || a == "none" {
			empty++
		}
		for _, s := range systems[1:] {
			if got := answers[s.name][i]; got != a {
				return fmt.Errorf("query %d, iteration %d: %s answers %q where foldb answers %q", q.n, i+1, s.name, got, a)
			}
		}
	}
	if empty == len(want) {
		return fmt.Errorf("query %d: every answer is empty, so the check means nothing", q.n)
	}
	return nil
}

func catalogResults(cfg config, n int, lats map[string][][]latency, plans []string) []result {
	var results []result
	for qi, q := range catalogQueries {
		fl, pl, sl := medianLatency(lats["foldb"][qi]), medianLatency(lats["postgres"][qi]), medianLatency(lats["sqlite"][qi])
		work := fmt.Sprintf("catalogue of %s products, query %d: %s, 1 client, %s queries a round", count(int64(n)), q.n, q.name, count(int64(q.iterations(cfg))))
		detail := "foldb " + latencies(lats["foldb"][qi]) + "; PostgreSQL " + latencies(lats["postgres"][qi]) + "; SQLite " + latencies(lats["sqlite"][qi])
		for _, p := range plans {
			if strings.HasPrefix(p, fmt.Sprintf("query %d ", q.n)) {
				detail += "; " + p
			}
		}
		pgFloor, pgGoal := 3.0, 10.0
		if q.n == 5 {
			pgFloor, pgGoal = 1, math.NaN()
		}
		results = append(results, result{row: 12, work: work + ", p50 vs PostgreSQL (speed-up)",
			foldb: 1 / float64(fl.p50), redis: 1 / float64(pl.p50), unit: unitDuration, compared: true,
			floor: pgFloor, goal: pgGoal, cells: [2]string{fl.String(), "PostgreSQL " + pl.String()}, peer: "PostgreSQL", detail: detail})
		liteGoal := 0.5
		if q.n == 5 {
			liteGoal = math.NaN()
		}
		results = append(results, result{row: 12, work: work + ", p50 vs SQLite in-process (speed-up)",
			foldb: 1 / float64(fl.p50), redis: 1 / float64(sl.p50), unit: unitDuration, compared: true,
			floor: math.NaN(), goal: liteGoal, cells: [2]string{fl.String(), "SQLite " + sl.String()}, peer: "SQLite"})
		if q.n <= 4 {
			results = append(results, result{row: 12, work: work + ", foldb p99",
				foldb: float64(fl.p99), redis: math.NaN(), unit: unitDuration, lowerBetter: true,
				floor: float64(5 * time.Millisecond), goal: float64(time.Millisecond), cells: [2]string{"p99 " + shortDuration(fl.p99), "—"}})
		}
	}
	return results
}

// The three systems.

func (b *bench) foldbSystem(c *redis.Client) catalogSystem {
	return catalogSystem{name: "foldb",
		run: func(q catalogQuery, p []any) (any, error) { return c.Do(b.ctx, q.foldb(p)...).Result() },
		answer: func(q catalogQuery, raw any) (string, error) {
			return q.foldbAnswer(raw)
		},
		explain: func(q catalogQuery, p []any) (string, error) {
			args := q.foldb(p)
			if args[0] != "ENTITY.ALL" && args[0] != "ENTITY.COUNT" {
				return "(no ENTITY.EXPLAIN for " + args[0].(string) + ")", nil
			}
			args = append([]any{"ENTITY.EXPLAIN"}, args[1:]...)
			reply, err := c.Do(b.ctx, args...).Result()
			if err != nil {
				return "", err
			}
			a, _ := reply.([]any)
			var parts []string
			for i := 0; i+1 < len(a); i += 2 {
				parts = append(parts, fmt.Sprintf("%v=%v", a[i], a[i+1]))
			}
			return strings.Join(parts, " "), nil
		}}
}

func sqlArgs(q catalogQuery, p []any) []any {
	if q.sqlParams != nil {
		return q.sqlParams(p)
	}
	return p
}

// catalogSQLite writes the products into a SQLite file of the work folder,
// creates the indexes and runs ANALYZE. case_sensitive_like makes LIKE
// 'abc%' case-sensitive, as startsWith is, which lets SQLite serve it from
// the index on name (BINARY collation: bytewise, as foldb orders strings).
func (b *bench) catalogSQLite(n int) (*sql.DB, error) {
	start := time.Now()
	path := b.path("catalog.sqlite")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=case_sensitive_like(1)&_pragma=cache_size(-262144)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	fail := func(err error) (*sql.DB, error) { db.Close(); return nil, fmt.Errorf("sqlite: %w", err) }
	if _, err := db.ExecContext(b.ctx, `CREATE TABLE products (id INTEGER PRIMARY KEY, sku TEXT NOT NULL, name TEXT NOT NULL, category TEXT NOT NULL, price INTEGER NOT NULL, stock INTEGER NOT NULL, tags TEXT NOT NULL)`); err != nil {
		return fail(err)
	}
	tx, err := db.BeginTx(b.ctx, nil)
	if err != nil {
		return fail(err)
	}
	const per = 100
	stmt, err := tx.PrepareContext(b.ctx, insertSQL(&sqlBackend{param: func(int) string { return "?" }}, "products", strings.Split(productCols, ", "), per))
	if err != nil {
		tx.Rollback()
		return fail(err)
	}
	for lo := 1; lo <= n; lo += per {
		hi := min(lo+per, n+1)
		var args []any
		for i := lo; i < hi; i++ {
			p := catalogProduct(i)
			args = append(args, p.id, p.sku, p.name, p.category, p.price, p.stock, p.tags)
		}
		if hi-lo == per {
			_, err = stmt.ExecContext(b.ctx, args...)
		} else {
			_, err = tx.ExecContext(b.ctx, insertSQL(&sqlBackend{param: func(int) string { return "?" }}, "products", strings.Split(productCols, ", "), hi-lo), args...)
		}
		if err != nil {
			tx.Rollback()
			return fail(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	for _, s := range []string{
		"CREATE INDEX products_price ON products (price)",
		"CREATE INDEX products_category ON products (category)",
		"CREATE INDEX products_name ON products (name)",
		"CREATE INDEX products_category_price ON products (category, price)",
		"ANALYZE",
	} {
		if _, err := db.ExecContext(b.ctx, s); err != nil {
			return fail(fmt.Errorf("%s: %w", s, err))
		}
	}
	b.progress("  sqlite: %s products inserted and indexed in %.1fs", count(int64(n)), time.Since(start).Seconds())
	return db, nil
}

func (b *bench) sqliteSystem(db *sql.DB) catalogSystem {
	stmts := map[int]*sql.Stmt{}
	prepare := func(q catalogQuery) (*sql.Stmt, error) {
		if s, ok := stmts[q.n]; ok {
			return s, nil
		}
		s, err := db.PrepareContext(b.ctx, q.sql)
		if err == nil {
			stmts[q.n] = s
		}
		return s, err
	}
	return catalogSystem{name: "sqlite",
		run: func(q catalogQuery, p []any) (any, error) {
			s, err := prepare(q)
			if err != nil {
				return nil, err
			}
			rows, err := s.QueryContext(b.ctx, sqlArgs(q, p)...)
			if err != nil {
				return nil, err
			}
			return scanRows(rows, q.cols, func(r *sql.Rows, dest []any) error { return r.Scan(dest...) })
		},
		answer: func(q catalogQuery, raw any) (string, error) { return q.sqlAnswer(raw.([][]any)), nil },
		explain: func(q catalogQuery, p []any) (string, error) {
			rows, err := db.QueryContext(b.ctx, "EXPLAIN QUERY PLAN "+q.sql, sqlArgs(q, p)...)
			if err != nil {
				return "", err
			}
			defer rows.Close()
			var lines []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					return "", err
				}
				lines = append(lines, detail)
			}
			return strings.Join(lines, "; "), rows.Err()
		}}
}

// scanRows reads every row of rows into cols values each.
func scanRows(rows *sql.Rows, cols int, scan func(*sql.Rows, []any) error) ([][]any, error) {
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals := make([]any, cols)
		dest := make([]any, cols)
		for i := range vals {
			dest[i] = &vals[i]
		}
		if err := scan(rows, dest); err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

// catalogPostgres copies the products into a fresh database of the run's
// PostgreSQL server, creates the indexes and runs VACUUM ANALYZE. The text
// columns are COLLATE "C", so strings sort bytewise as in foldb and SQLite,
// and the plain B-tree on name serves LIKE 'abc%' (a text_pattern_ops index
// would serve the LIKE but not the ORDER BY name).
func (b *bench) catalogPostgres(n int) (*pgx.Conn, error) {
	if b.pg == "" {
		dsn, err := b.startPostgres()
		if err != nil {
			return nil, err
		}
		b.pg = dsn
	}
	start := time.Now()
	admin, err := pgx.Connect(b.ctx, b.pg+"/postgres")
	if err != nil {
		return nil, err
	}
	for _, s := range []string{"DROP DATABASE IF EXISTS bench_catalog", "CREATE DATABASE bench_catalog"} {
		if _, err := admin.Exec(b.ctx, s); err != nil {
			admin.Close(b.ctx)
			return nil, err
		}
	}
	admin.Close(b.ctx)
	c, err := pgx.Connect(b.ctx, b.pg+"/bench_catalog")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*pgx.Conn, error) { c.Close(b.ctx); return nil, fmt.Errorf("postgres: %w", err) }
	if _, err := c.Exec(b.ctx, `CREATE TABLE products (id bigint PRIMARY KEY, sku text COLLATE "C" NOT NULL, name text COLLATE "C" NOT NULL, category text COLLATE "C" NOT NULL, price bigint NOT NULL, stock bigint NOT NULL, tags text NOT NULL)`); err != nil {
		return fail(err)
	}
	if _, err := c.CopyFrom(b.ctx, pgx.Identifier{"products"}, strings.Split(productCols, ", "), pgx.CopyFromFunc(productRows(n))); err != nil {
		return fail(err)
	}
	for _, s := range []string{
		"CREATE INDEX products_price ON products (price)",
		"CREATE INDEX products_category ON products (category)",
		"CREATE INDEX products_name ON products (name)",
		"CREATE INDEX products_category_price ON products (category, price)",
		"VACUUM ANALYZE products",
	} {
		if _, err := c.Exec(b.ctx, s); err != nil {
			return fail(fmt.Errorf("%s: %w", s, err))
		}
	}
	b.progress("  postgres: %s products copied and indexed in %.1fs", count(int64(n)), time.Since(start).Seconds())
	return c, nil
}

func productRows(n int) func() ([]any, error) {
	next, stop := iter.Pull(func(yield func(product) bool) {
		for i := 1; i <= n; i++ {
			if !yield(catalogProduct(i)) {
				return
			}
		}
	})
	return func() ([]any, error) {
		p, ok := next()
		if !ok {
			stop()
			return nil, nil
		}
		return []any{p.id, p.sku, p.name, p.category, p.price, p.stock, p.tags}, nil
	}
}

// pgSQL numbers the parameters of a query written with ?.
func pgSQL(s string) string {
	var sb strings.Builder
	k := 0
	for _, r := range s {
		if r == '?' {
			k++
			sb.WriteString("$" + strconv.Itoa(k))
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

func (b *bench) postgresSystem(c *pgx.Conn) catalogSystem {
	return catalogSystem{name: "postgres",
		run: func(q catalogQuery, p []any) (any, error) {
			rows, err := c.Query(b.ctx, pgSQL(q.sql), sqlArgs(q, p)...)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var out [][]any
			for rows.Next() {
				vals, err := rows.Values()
				if err != nil {
					return nil, err
				}
				out = append(out, vals)
			}
			return out, rows.Err()
		},
		answer: func(q catalogQuery, raw any) (string, error) { return q.sqlAnswer(raw.([][]any)), nil },
		explain: func(q catalogQuery, p []any) (string, error) {
			rows, err := c.Query(b.ctx, "EXPLAIN "+pgSQL(q.sql), sqlArgs(q, p)...)
			if err != nil {
				return "", err
			}
			defer rows.Close()
			var lines []string
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					return "", err
				}
				lines = append(lines, strings.TrimSpace(line))
			}
			if len(lines) == 0 && rows.Err() == nil {
				return "", errors.New("EXPLAIN gives no plan")
			}
			return strings.Join(lines, "; "), rows.Err()
		}}
}
