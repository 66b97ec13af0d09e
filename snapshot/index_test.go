package snapshot

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/state"
)

// indexedBank is the bank schema with the three indexes of BENCHMARKS.md's
// "The bank with three indexes" on account.
func indexedBank(t testing.TB) string {
	t.Helper()
	s := testkit.BankSchema(t)
	out := strings.Replace(s, "    streams: account\n", "    streams: account\n    indexes: [balance, name, [name, balance]]\n", 1)
	if out == s {
		t.Fatal("the bank schema has no `streams: account` line")
	}
	return out
}

// v1Snapshot was written by foldb 8829551 (format 1, no indexes) from 300
// random appends (randomAppend, seed 11) under testdata/v1/schema.yaml,
// which is indexedBank; testdata/v1/dump.txt is its state.
var v1Snapshot = filepath.Join("testdata", "v1", "snapshot-00000000000000000235.fsnap")

// indexOrders lists every index of every type with its keys in order.
func indexOrders(s *state.Store) string {
	var b strings.Builder
	for _, ct := range s.Capture().Types {
		for _, ix := range ct.Indexes {
			fmt.Fprintf(&b, "%s %v:", ct.Name, ix.Fields)
			ix.Scan(func(k []byte) bool { fmt.Fprintf(&b, " %x", k); return true })
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// accountQueries lists the answers to queries that the account indexes
// serve: sorted walks, ranges, prefixes, counts.
func accountQueries(t testing.TB, s *state.Store) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []state.Query{
		{Type: "account", SortBy: "balance", Limit: -1},
		{Type: "account", SortBy: "balance", Desc: true, Limit: 7},
		{Type: "account", SortBy: "name", Limit: -1},
		{Type: "account", SortBy: "name", Desc: true, Offset: 3, Limit: 5},
		{Type: "account", Where: "balance >= 50 && balance < 150", SortBy: "balance", Limit: -1},
		{Type: "account", Where: `name startsWith "n1"`, SortBy: "name", Limit: -1},
		{Type: "account", Where: `name == "n12" && balance > 0`, Limit: -1},
		{Type: "account", Where: `name >= "n2" && name < "n4"`, SortBy: "balance", Limit: 10},
		{Type: "account", Where: "balance == 0", Limit: -1},
	} {
		all, err := s.All(q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		fmt.Fprintf(&b, "%+v:", q)
		for _, e := range all {
			fmt.Fprintf(&b, " %s@%d%s", e.ID(), e.Version(), e.JSON())
		}
		n, err := s.Count("account", q.Where)
		if err != nil {
			t.Fatalf("count %q: %v", q.Where, err)
		}
		fmt.Fprintf(&b, " count %d\n", n)
	}
	return b.String()
}

func fullReplayStore(t testing.TB, l *eventlog.Log) *state.Store {
	eng := state.NewEngine(l, quiet)
	if err := eng.Load(nil, nil); err != nil {
		t.Fatal(err)
	}
	return eng.Store()
}

// restart loads the state from the newest snapshot and the log's tail and
// returns it with what the snapshot's read said.
func (e *env) restart() (*state.Store, *Info) {
	e.t.Helper()
	var info *Info
	eng := state.NewEngine(e.log, quiet)
	err := eng.Load(nil, func(schema *state.Schema, last uint64) *state.Store {
		s, i := LoadNewest(filepath.Join(e.dir, "snapshots"), schema, last, quiet)
		info = i
		return s
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return eng.Store(), info
}

// TestStoredIndexesEqualRebuild: over random histories with a snapshot at
// a random point and a random tail after it (accounts opened, their
// balances and names changed, accounts closed), a restart that loads the
// indexes from the snapshot and patches the tail's entities into them has
// the indexes, in the same order, and the query answers of a full replay,
// which builds them cold.
func TestStoredIndexesEqualRebuild(t *testing.T) {
	for seed := uint64(1); seed <= 12; seed++ {
		e := newEnv(t, indexedBank(t))
		e.accounts = 60 + int(seed)*20
		rng := rand.New(rand.NewPCG(seed, 5))
		for i := range 4 * e.accounts {
			e.randomAppend(rng, i)
		}
		if saved := e.save(); saved.Indexes != 3 {
			t.Fatalf("seed %d: a snapshot of %d indexes", seed, saved.Indexes)
		}
		tail := []int{0, 1, 5, 20, rng.IntN(e.accounts), 3 * e.accounts}[seed%6]
		for i := range tail {
			e.randomAppend(rng, 10_000+i)
		}
		s, info := e.restart()
		if info == nil || info.Indexes != 3 {
			t.Fatalf("seed %d: snapshot not loaded with its indexes: %+v", seed, info)
		}
		want := fullReplayStore(t, e.log)
		if got, w := dump(s), dump(want); got != w {
			t.Fatalf("seed %d (tail %d): entities differ from a full replay:\n%s\n---\n%s", seed, tail, got, w)
		}
		if got, w := indexOrders(s), indexOrders(want); got != w {
			t.Fatalf("seed %d (tail %d): index orders differ from a full replay's:\n%s\n---\n%s", seed, tail, got, w)
		}
		if got, w := accountQueries(t, s), accountQueries(t, want); got != w {
			t.Fatalf("seed %d (tail %d): query answers differ from a full replay's:\n%s\n---\n%s", seed, tail, got, w)
		}
	}
}

// TestStoredIndexesAfterParallelReplay: a tail long enough to be replayed
// over several goroutines (each its own share of the types) over a few of
// many accounts, so that the stored indexes are patched, not built.
// (state's TestRestoredIndexesPatched says which way each of its cases
// goes.)
func TestStoredIndexesAfterParallelReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("appends 50,000 events")
	}
	e := newEnv(t, indexedBank(t))
	const opened, tail = 30_000, 20_000
	for i := range opened {
		e.log.Append(&eventlog.Append{Stream: fmt.Sprintf("account:%d", i), Events: []eventlog.Proposed{
			{Type: "AccountOpened", Data: fmt.Appendf(nil, `{"name":"n%d"}`, i%997)},
			{Type: "BalanceIncreased", Data: fmt.Appendf(nil, `{"amount":%d}`, 1+i%500)},
		}})
	}
	e.save()
	rng := rand.New(rand.NewPCG(4, 4))
	for i := range tail {
		a := &eventlog.Append{Stream: fmt.Sprintf("account:%d", rng.IntN(opened/20))}
		switch rng.IntN(20) {
		case 0:
			a.Events = []eventlog.Proposed{{Type: "AccountClosed", Data: []byte(`{}`)}}
		case 1:
			a.Stream = fmt.Sprintf("account:%d", opened+i) // a new account
			a.Events = []eventlog.Proposed{{Type: "AccountOpened", Data: fmt.Appendf(nil, `{"name":"n%d"}`, rng.IntN(997))}}
		default:
			a.Events = []eventlog.Proposed{{Type: "BalanceIncreased", Data: fmt.Appendf(nil, `{"amount":%d}`, 1+rng.IntN(100))}}
		}
		e.log.Append(a)
	}
	var logged bytes.Buffer
	eng := state.NewEngine(e.log, slog.New(slog.NewTextHandler(&logged, nil)))
	var info *Info
	err := eng.Load(nil, func(schema *state.Schema, last uint64) *state.Store {
		s, i := LoadNewest(filepath.Join(e.dir, "snapshots"), schema, last, quiet)
		info = i
		return s
	})
	if err != nil {
		t.Fatal(err)
	}
	if info == nil || info.Indexes != 3 {
		t.Fatalf("snapshot not loaded with its indexes: %+v", info)
	}
	s, want := eng.Store(), fullReplayStore(t, e.log)
	if state.Diff(s, want) != "" {
		t.Fatal(state.Diff(s, want))
	}
	if indexOrders(s) != indexOrders(want) {
		t.Fatal("index orders differ from a full replay's")
	}
	if accountQueries(t, s) != accountQueries(t, want) {
		t.Fatal("query answers differ from a full replay's")
	}
}

// TestFormat1SnapshotLoads: a snapshot of format 1, which holds no
// indexes, still loads, and its indexes are built at Live; saved again, it
// is of format 2 with the same indexes stored.
func TestFormat1SnapshotLoads(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("testdata", "v1", "schema.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if string(text) != indexedBank(t) {
		t.Fatal("testdata/v1/schema.yaml is not indexedBank")
	}
	schema, err := state.ParseSchema(string(text))
	if err != nil {
		t.Fatal(err)
	}
	s, info, err := Read(v1Snapshot, schema)
	if err != nil {
		t.Fatal(err)
	}
	if info.Indexes != 0 || info.Position != 235 {
		t.Fatalf("read %+v", info)
	}
	s.Live()
	wantDump, _ := os.ReadFile(filepath.Join("testdata", "v1", "dump.txt"))
	if dump(s) != string(wantDump) {
		t.Fatalf("state differs from the one saved:\n%s", dump(s))
	}
	for _, tc := range s.Types() {
		if tc.Name == "account" && tc.Indexes != 3 {
			t.Fatalf("%d indexes built", tc.Indexes)
		}
	}
	saved, err := Write(t.TempDir(), s.Capture())
	if err != nil {
		t.Fatal(err)
	}
	again, info, err := Read(saved.Path, schema)
	if err != nil || info.Indexes != 3 {
		t.Fatalf("read again: %+v, %v", info, err)
	}
	f, _ := os.Open(saved.Path)
	defer f.Close()
	if h, err := readHeader(&frameReader{r: bufio.NewReader(f)}); err != nil || h.Format != formatVersion || formatVersion != 2 {
		t.Fatalf("saved again as format %d (%v)", h.Format, err)
	}
	again.Live()
	if dump(again) != dump(s) || indexOrders(again) != indexOrders(s) || accountQueries(t, again) != accountQueries(t, s) {
		t.Fatal("state read back differs")
	}
}

// readUnchecked reads a snapshot as Read does, without comparing its schema
// hash with the schema's: for a schema whose index declarations differ.
func readUnchecked(t *testing.T, path string, schema *state.Schema) (*state.Store, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fr := &frameReader{r: bufio.NewReader(f)}
	h, err := readHeader(fr)
	if err != nil {
		t.Fatal(err)
	}
	s, _, ix, err := decode(fr, h, schema, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return s, ix
}

// TestOtherIndexDeclarationsRebuild: a snapshot's indexes are used only
// where the schema in force declares the same index on the type; the
// others are built. Through Read a schema that changes only its indexes
// does not even get that far: its hash differs, and the snapshot is
// skipped for a full replay.
func TestOtherIndexDeclarationsRebuild(t *testing.T) {
	e := newEnv(t, indexedBank(t))
	e.accounts = 80
	rng := rand.New(rand.NewPCG(8, 8))
	for i := range 400 {
		e.randomAppend(rng, i)
	}
	info := e.save()
	other := strings.Replace(indexedBank(t), "indexes: [balance, name, [name, balance]]", "indexes: [name, [balance, name], uuid]", 1)
	schema, err := state.ParseSchema(other)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Read(info.Path, schema); err == nil || !strings.Contains(err.Error(), "other schema") {
		t.Fatalf("a snapshot of other indexes read: %v", err)
	}
	s, loaded := readUnchecked(t, info.Path, schema)
	if loaded != 1 {
		t.Fatalf("%d indexes loaded; only name is declared by both", loaded)
	}
	s.Live()
	want, err := state.Build(e.log, schema, e.log.LastPosition(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	want.Live()
	if got, w := indexOrders(s), indexOrders(want); got != w || !strings.Contains(got, "account [balance name]:") || !strings.Contains(got, "account [uuid]:") {
		t.Fatalf("indexes differ from a build under the new declarations:\n%s\n---\n%s", got, w)
	}
}

// benchAccounts is the number of accounts BenchmarkRestore restores
// (FOLDB_BENCH_N, default a million).
func benchAccounts() int {
	var n int
	if _, err := fmt.Sscan(os.Getenv("FOLDB_BENCH_N"), &n); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// account packs an account as conformance/bench's bank holds it, in
// state.Entity's form.
func account(i int) state.Entity {
	id := fmt.Sprint(i + 1)
	b := []byte{byte(len(id))}
	b = append(b, id...)
	b = append(b, 2) // version
	b = fmt.Appendf(b, `{"balance":%d,"uuid":"%08x-aaaa-4bbb-8ccc-%012x","name":"Customer %d"}`, 100+i*7919%100000, uint32(i*2654435761), i, i)
	return state.Entity(b)
}

// BenchmarkRestore writes a snapshot of the bank's accounts, with its
// three indexes and without, then reads one and makes the store live, as a restart does: with the three indexes loaded from the
// snapshot ("stored"), with them built after the read as from a format 1
// snapshot ("built"), and with the schema without indexes ("none"). The
// "tail=" cases fold that many balance events over random accounts in
// between, as the replay of the log after the snapshot does (on one
// goroutine here). The collector's target is the server's while it loads
// (server.loadingGCPercent), unless GOGC is set.
func BenchmarkRestore(b *testing.B) {
	n := benchAccounts()
	plain, err := state.ParseSchema(testkit.BankSchema(b))
	if err != nil {
		b.Fatal(err)
	}
	indexed, err := state.ParseSchema(indexedBank(b))
	if err != nil {
		b.Fatal(err)
	}
	r := state.NewRestorer(indexed)
	r.Type("account", n)
	for i := range n {
		if err := r.Entity(account(i)); err != nil {
			b.Fatal(err)
		}
	}
	s, err := r.Done(uint64(2 * n))
	if err != nil {
		b.Fatal(err)
	}
	s.Live()
	c := s.Capture()
	dir := b.TempDir()
	stored, err := Write(filepath.Join(dir, "stored"), c)
	if err != nil {
		b.Fatal(err)
	}
	c.Types[0].Indexes = nil
	built, err := Write(filepath.Join(dir, "built"), c)
	if err != nil {
		b.Fatal(err)
	}
	c.SchemaHash = plain.Hash
	none, err := Write(filepath.Join(dir, "none"), c)
	if err != nil {
		b.Fatal(err)
	}
	// Writing a snapshot with and without the indexes (SAVE's time, with
	// fsync; the disk is this machine's).
	withIndexes := s.Capture()
	for _, w := range []struct {
		name string
		c    *state.Capture
	}{{"write/indexes=3", withIndexes}, {"write/indexes=0", c}} {
		b.Run(w.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Write(filepath.Join(dir, "w"), w.c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	s, c, withIndexes = nil, nil, nil
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	rng := rand.New(rand.NewPCG(1, 1))
	events := make([]eventlog.Event, 300_000)
	for i := range events {
		events[i] = eventlog.Event{Position: uint64(2*n + i + 1), Stream: fmt.Sprintf("account:%d", 1+rng.IntN(n)),
			Type: "BalanceIncreased", Data: []byte(`{"amount":3}`), Version: uint64(3 + i)}
	}
	for _, tail := range []int{0, 10_000, 100_000, 300_000} {
		for _, bc := range []struct {
			name   string
			info   Info
			schema *state.Schema
		}{
			{"none", none, plain},
			{"stored", stored, indexed},
			{"built", built, indexed},
		} {
			b.Run(fmt.Sprintf("%s/tail=%d", bc.name, tail), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					s, _, err := Read(bc.info.Path, bc.schema)
					if err != nil {
						b.Fatal(err)
					}
					for i := range events[:tail] {
						s.Apply(&events[i])
					}
					s.Live()
				}
				b.ReportMetric(float64(bc.info.Size), "file-bytes")
			})
		}
	}
}

// TestIndexOfOtherCountRefused: an index frame whose count of keys is not
// its type's count of entities makes the snapshot damaged, before any key
// is read (the count sizes the tree), whatever the checksums say.
func TestIndexOfOtherCountRefused(t *testing.T) {
	e := newEnv(t, indexedBank(t))
	e.accounts = 40
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range 200 {
		e.randomAppend(rng, i)
	}
	info := e.save()
	in, err := os.ReadFile(info.Path)
	if err != nil {
		t.Fatal(err)
	}
	fr := &frameReader{r: bufio.NewReader(bytes.NewReader(in[len(fileMagic):]))}
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	bw.WriteString(fileMagic)
	fw := &frameWriter{w: bw}
	changed := false
	for {
		kind, payload, err := fr.next()
		if err != nil {
			t.Fatal(err)
		}
		if kind == kindIndex && !changed {
			p := payloadReader{b: payload}
			nf := p.uvarint()
			b := binary.AppendUvarint(nil, nf)
			for range nf {
				b = appendString(b, string(p.bytes()))
			}
			payload = binary.AppendUvarint(b, p.uvarint()+1)
			changed = true
		}
		if err := fw.frame(kind, payload); err != nil {
			t.Fatal(err)
		}
		if kind == kindEnd {
			break
		}
	}
	bw.Flush()
	path := filepath.Join(t.TempDir(), filepath.Base(info.Path))
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	schema, _ := state.ParseSchema(indexedBank(t))
	if _, _, err := Read(path, schema); err == nil || !strings.Contains(err.Error(), "keys for") {
		t.Fatalf("an index of one key more than its entities read: %v", err)
	}
}
