// Command bench measures foldb against Redis 7 on the same machine, row by
// row of foldb's performance budget (BENCHMARKS.md, "What each row
// measures", gives each row's floor), and prints a table with PASS/FAIL
// against each floor:
//
//	go run ./conformance/bench                 # the full run (minutes)
//	go run ./conformance/bench -quick          # a smoke run of about a minute
//	go run ./conformance/bench -only get,append -rounds 5 -out BENCH.md
//	go run ./conformance/bench -only catalog   # the product catalogue vs SQLite and PostgreSQL
//	go run ./conformance/bench -only transfer  # MULTI/EXEC transfers vs Redis
//	go run ./conformance/bench -only schema-change -accounts 500000  # reads during a schema change of 1M events
//
// It builds ./cmd/foldb, starts every server itself on free ports with data
// in a temporary folder, and needs redis-server and redis-benchmark (Redis 7).
// BENCHMARKS.md says what each row measures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

type config struct {
	accounts, events int
	n, writes        int
	wakeups          int
	appendKeys       []int // row 2's redis-benchmark -r values
	rounds           int
	sqlEvents        int // rows 10 and 11
	sqlAccounts      int
	sqlRate          int
	sqlSeconds       int
	sqlDBs           []string
	sqlDurability    string
	catalogProducts  int // row 12
	catalogIters     int
	catalogAggIters  int
	quick            bool
	only             []string
	out              string
	parent           string
	keep             bool
	foldbBin         string
	schema           string
	redisServer      string
	redisBenchmark   string
}

// bench is one run: its settings, tools, work folder and servers.
type bench struct {
	cfg   config
	ctx   context.Context
	work  string // temporary folder: data folders, the foldb binary, the schema
	procs procs
	began time.Time

	foldbBin     string
	schema       string // the bank schema file
	redisVersion string

	// The bank of rows 3, 5 and 6: a stopped foldb's data folder with a snapshot.
	bankDir    string
	bankEvents int

	// The log of row 10 in work folder sql-bank: its events, 0 before.
	sqlBankEvents int
	// pg is the URL of the PostgreSQL server of the SQL rows, once started.
	pg string
}

func main() {
	os.Exit(run())
}

func run() int {
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{cfg: cfg, ctx: ctx, began: time.Now()}
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the bench at once
		b.procs.killAll()
	}()
	defer b.procs.killAll()
	redis.SetLogger(quietLogger{}) // go-redis logs failed redials after SHUTDOWN

	results, err := b.runAll()
	if b.work != "" {
		if cfg.keep {
			fmt.Printf("kept the work folder %s\n", b.work)
		} else {
			b.procs.killAll()
			os.RemoveAll(b.work)
		}
	}
	if err != nil {
		if errors.Is(err, errInterrupted) || ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "bench: interrupted; servers stopped and temporary files removed")
			return 130
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if slices.ContainsFunc(results, func(r result) bool { return r.verdict() == "FAIL" }) {
		return 3
	}
	return 0
}

func parseFlags() (config, error) {
	var c config
	var only, appendKeys, sqlDBs string
	flag.IntVar(&c.accounts, "accounts", 1_000_000, "accounts of the memory, restart and latency rows")
	flag.IntVar(&c.events, "events", 1_000_000, "events of the replay and catch-up rows; the restart row's log holds this many too when it is more than 2 per account")
	flag.IntVar(&c.n, "n", 200_000, "requests per redis-benchmark run of the GET rows (×5 at pipeline 16); the latency row sends a tenth of it")
	flag.IntVar(&c.writes, "writes", 50_000, "requests per redis-benchmark run of the append row with 50 clients (÷10 with 1 client)")
	flag.IntVar(&c.wakeups, "wakeups", 1000, "appends per round of the wake-up row, each one a sample")
	flag.StringVar(&appendKeys, "append-r", "1000,100000,10000000", "redis-benchmark -r values of the append row, comma-separated: each gives a line at 50 clients and one at 1 client")
	flag.IntVar(&c.sqlEvents, "sql-events", 1_000_000, "events of the SQL catch-up row (10)")
	flag.IntVar(&c.sqlAccounts, "sql-accounts", 100_000, "accounts of the SQL catch-up row's events")
	flag.IntVar(&c.sqlRate, "sql-rate", 10_000, "appends/s of the SQL lag row (11)")
	flag.IntVar(&c.sqlSeconds, "sql-seconds", 10, "seconds of appends per round of the SQL lag row")
	flag.StringVar(&c.sqlDurability, "sql-durability", "always", "foldb's --durability in the SQL lag row")
	flag.StringVar(&sqlDBs, "sql-db", "sqlite", "databases of the SQL rows, comma-separated: sqlite, postgres")
	flag.IntVar(&c.catalogProducts, "catalog-products", 1_000_000, "products of the catalogue row (12)")
	flag.IntVar(&c.catalogIters, "catalog-queries", 2000, "queries a round of each of the catalogue row's queries 1 to 4, per system")
	flag.IntVar(&c.catalogAggIters, "catalog-aggregates", 20, "queries a round of the catalogue row's query 5 (sum of stock per category), per system")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds of each row: foldb and Redis by turns, the median of each side counts")
	flag.BoolVar(&c.quick, "quick", false, "a smoke run of about a minute: -accounts 50000 -events 100000 -n 20000 -writes 5000 -wakeups 300 -sql-events 100000 -sql-accounts 10000 -sql-seconds 3 -catalog-products 50000 -catalog-queries 300 -catalog-aggregates 5 -rounds 3 unless given")
	flag.StringVar(&only, "only", "", "rows to run, comma-separated: get,append,memory,replay,restart,latency,catchup,wakeup,append-subscribed,sql-catchup,sql-lag,catalog,transfer,schema-change or 1..14 (default: all but append-subscribed, catalog, transfer and schema-change)")
	flag.StringVar(&c.out, "out", "", "also write the results as Markdown to this file")
	flag.StringVar(&c.parent, "dir", "", "where to make the temporary work folder (default $TMPDIR); the durable rows fsync there, so put it on the disk to measure")
	flag.BoolVar(&c.keep, "keep", false, "keep the work folder (data folders and server logs) at the end")
	flag.StringVar(&c.foldbBin, "foldb", "", "foldb binary to measure (default: go build ./cmd/foldb)")
	flag.StringVar(&c.schema, "schema", "", "the bank schema (default: examples/php/bank/schema.yaml of the module)")
	flag.StringVar(&c.redisServer, "redis-server", "redis-server", "redis-server binary")
	flag.StringVar(&c.redisBenchmark, "redis-benchmark", "redis-benchmark", "redis-benchmark binary")
	flag.Parse()
	if flag.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q (see -h)", flag.Args())
	}
	if c.quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, p := range map[string]*int{"accounts": &c.accounts, "events": &c.events, "n": &c.n, "writes": &c.writes, "wakeups": &c.wakeups, "rounds": &c.rounds,
			"sql-events": &c.sqlEvents, "sql-accounts": &c.sqlAccounts, "sql-seconds": &c.sqlSeconds,
			"catalog-products": &c.catalogProducts, "catalog-queries": &c.catalogIters, "catalog-aggregates": &c.catalogAggIters} {
			if !set[name] {
				*p = map[string]int{"accounts": 50_000, "events": 100_000, "n": 20_000, "writes": 5_000, "wakeups": 300, "rounds": 3,
					"sql-events": 100_000, "sql-accounts": 10_000, "sql-seconds": 3,
					"catalog-products": 50_000, "catalog-queries": 300, "catalog-aggregates": 5}[name]
			}
		}
	}
	switch {
	case c.accounts < 1, c.events < 10, c.n < 1, c.writes < 1, c.wakeups < 1, c.rounds < 1:
		return c, errors.New("-accounts, -n, -writes, -wakeups and -rounds must be at least 1, -events at least 10")
	case c.catalogProducts < 1, c.catalogIters < 1, c.catalogAggIters < 1:
		return c, errors.New("-catalog-products, -catalog-queries and -catalog-aggregates must be at least 1")
	case c.sqlAccounts < 1, c.sqlEvents < 2*c.sqlAccounts, c.sqlRate < 1, c.sqlSeconds < 1:
		return c, errors.New("-sql-accounts, -sql-rate and -sql-seconds must be at least 1, -sql-events at least 2 per account")
	}
	for _, db := range strings.Split(sqlDBs, ",") {
		if db = strings.TrimSpace(db); db != "" {
			c.sqlDBs = append(c.sqlDBs, db)
		}
	}
	var err error
	if c.appendKeys, err = parseCounts(appendKeys); err != nil {
		return c, fmt.Errorf("-append-r: %w", err)
	}
	for _, id := range strings.Split(only, ",") {
		id = strings.TrimSpace(strings.ToLower(id))
		if id == "" {
			continue
		}
		if n, err := strconv.Atoi(id); err == nil && n >= 1 && n <= len(rows) {
			id = rows[n-1].id
		}
		if !slices.ContainsFunc(rows, func(r row) bool { return r.id == id }) {
			return c, fmt.Errorf("-only: unknown row %q; rows are get, append, memory, replay, restart, latency, catchup, wakeup, append-subscribed, sql-catchup, sql-lag, catalog, transfer, schema-change (or 1 to 14)", id)
		}
		c.only = append(c.only, id)
	}
	return c, nil
}

// parseCounts reads a comma-separated list of positive integers, such as
// -append-r 1000,100000,10000000.
func parseCounts(s string) ([]int, error) {
	var ns []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", strings.TrimSpace(f))
		}
		if slices.Contains(ns, n) {
			return nil, fmt.Errorf("%d is given twice", n)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// runAll prepares the tools and runs the rows asked for, then reports.
func (b *bench) runAll() ([]result, error) {
	if err := b.findTools(); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(b.cfg.parent, "foldb-bench-")
	if err != nil {
		return nil, err
	}
	b.work = work
	if err := b.buildFoldb(); err != nil {
		return nil, err
	}
	if b.schema, err = bankSchema(b.cfg.schema); err != nil {
		return nil, err
	}
	m := machine(work)
	b.progress("machine: %s", m)
	if strings.Contains(m, "work folder on tmpfs") {
		b.progress("WARNING: the work folder is on tmpfs: fsync costs nothing there, so the durable rows mean little; pass -dir on a disk")
	}
	b.progress("settings: %s", b.settings())

	var results []result
	for i, r := range rows {
		if len(b.cfg.only) > 0 && !slices.Contains(b.cfg.only, r.id) || len(b.cfg.only) == 0 && r.optional {
			continue
		}
		b.progress("row %d/%d: %s", i+1, len(rows), r.name)
		res, err := r.run(b)
		if err != nil {
			if b.ctx.Err() != nil {
				return nil, errInterrupted
			}
			return nil, fmt.Errorf("row %d (%s): %w", i+1, r.id, err)
		}
		results = append(results, res...)
	}

	t, d := table(results), details(results)
	fmt.Printf("\n%s\nEvery round:\n%s", t, d)
	if b.cfg.out != "" {
		md := fmt.Sprintf("## foldb vs Redis, %s\n\n- machine: %s\n- %s\n- %s\n- settings: %s\n\n%s\nEvery round:\n\n%s",
			time.Now().UTC().Format("2006-01-02 15:04 MST"), m, b.redisVersion, foldbVersion(), b.settings(), t, d)
		if err := os.WriteFile(b.cfg.out, []byte(md), 0o644); err != nil {
			return nil, err
		}
		b.progress("wrote %s", b.cfg.out)
	}
	return results, nil
}

func (b *bench) settings() string {
	mode := "full run"
	if b.cfg.quick {
		mode = "SMOKE RUN (-quick): small sizes, not the budget's figures"
	}
	rs := make([]string, len(b.cfg.appendKeys))
	for i, r := range b.cfg.appendKeys {
		rs[i] = strconv.Itoa(r)
	}
	return fmt.Sprintf("%s; -accounts %d -events %d -n %d -writes %d -append-r %s -wakeups %d -sql-events %d -sql-accounts %d -sql-rate %d -sql-seconds %d -sql-durability %s -sql-db %s -catalog-products %d -catalog-queries %d -catalog-aggregates %d -rounds %d",
		mode, b.cfg.accounts, b.cfg.events, b.cfg.n, b.cfg.writes, strings.Join(rs, ","), b.cfg.wakeups,
		b.cfg.sqlEvents, b.cfg.sqlAccounts, b.cfg.sqlRate, b.cfg.sqlSeconds, b.cfg.sqlDurability, strings.Join(b.cfg.sqlDBs, ","), b.cfg.catalogProducts, b.cfg.catalogIters, b.cfg.catalogAggIters, b.cfg.rounds)
}

// path is a file or folder in the work folder.
func (b *bench) path(name string) string { return filepath.Join(b.work, name) }

// progress prints a line with the time since the start.
func (b *bench) progress(format string, args ...any) {
	fmt.Printf("[%6.1fs] %s\n", time.Since(b.began).Seconds(), fmt.Sprintf(format, args...))
}

// machine describes where the bench runs: CPUs, model, kernel, and the file
// system of the work folder.
func machine(dir string) string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := runtime.GOOS
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel += " " + strings.TrimSpace(string(b))
	}
	fs := "unknown"
	if out, err := exec.Command("df", "-T", dir).Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if f := strings.Fields(lines[len(lines)-1]); len(f) > 1 {
			fs = f[1]
		}
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			load = ", load average " + f[0] + " at the start"
		}
	}
	return fmt.Sprintf("%d vCPUs, %s, %s, work folder on %s%s", runtime.NumCPU(), model, kernel, fs, load)
}

// bankSchema finds the bank example's schema: rows 3 to 6 fold into it.
func bankSchema(path string) (string, error) {
	if path == "" {
		path = filepath.Join("examples", "php", "bank", "schema.yaml")
		if out, err := exec.Command("go", "env", "GOMOD").Output(); err == nil && strings.TrimSpace(string(out)) != os.DevNull {
			path = filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), path)
		}
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("the bank schema: %w (run from the foldb module, or pass -schema FILE)", err)
	}
	return filepath.Abs(path)
}

// foldbVersion names the commit measured, when in a git checkout.
func foldbVersion() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "foldb (no git revision)"
	}
	return "foldb " + strings.TrimSpace(string(out))
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
