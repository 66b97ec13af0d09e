package snapshot

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/state"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type env struct {
	t        testing.TB
	dir      string
	log      *eventlog.Log
	eng      *state.Engine
	accounts int // randomAppend's accounts
}

func newEnv(t testing.TB, schema string) *env {
	e := &env{t: t, dir: t.TempDir(), accounts: 20}
	opts := eventlog.DefaultOptions()
	opts.Durability = eventlog.DurabilityNone
	l, err := eventlog.Open(filepath.Join(e.dir, "log"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	e.log = l
	e.eng = state.NewEngine(l, quiet)
	if err := e.eng.Load(&schema, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// randomAppend appends one random event of the bank's kinds (or an
// undeclared stream's, folded by merge patch).
func (e *env) randomAppend(rng *rand.Rand, i int) {
	acc := fmt.Sprintf("account:%d", rng.IntN(e.accounts))
	a := &eventlog.Append{Stream: acc}
	switch rng.IntN(7) {
	case 0:
		a.Events = []eventlog.Proposed{{Type: "AccountOpened", Data: []byte(fmt.Sprintf(`{"name":"n%d"}`, i))}}
	case 1:
		a.Events = []eventlog.Proposed{{Type: "AccountClosed", Data: []byte(`{}`)}}
	case 2:
		a.Stream = fmt.Sprintf("note:%d", rng.IntN(5))
		a.Events = []eventlog.Proposed{{Type: "Noted", Data: []byte(fmt.Sprintf(`{"k%d":%d,"gone":null}`, rng.IntN(4), i))}}
	default:
		typ := "BalanceIncreased"
		if rng.IntN(2) == 0 {
			typ = "BalanceDecreased"
		}
		a.Events = []eventlog.Proposed{{Type: typ, Data: []byte(fmt.Sprintf(`{"amount":%d}`, rng.IntN(100)))}}
	}
	e.log.Append(a)
}

func (e *env) save() Info {
	e.t.Helper()
	var c *state.Capture
	e.log.Exclusive(func(uint64) error { c = e.eng.Store().Capture(); return nil })
	info, err := Write(filepath.Join(e.dir, "snapshots"), c)
	if err != nil {
		e.t.Fatal(err)
	}
	return info
}

// dump lists every entity with its version, sorted (ENTITY.ALL without
// SORTBY has no set order).
func dump(s *state.Store) string {
	var lines []string
	for _, tc := range s.Types() {
		all, _ := s.All(state.Query{Type: tc.Name, Limit: -1})
		for _, en := range all {
			lines = append(lines, fmt.Sprintf("%s/%s@%d %s\n", tc.Name, en.ID(), en.Version(), en.JSON()))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "")
}

// restartWithSnapshots loads the state as a restart does: newest valid
// snapshot, then the log's tail.
func (e *env) restartWithSnapshots(logger *slog.Logger) *state.Engine {
	eng := state.NewEngine(e.log, quiet)
	err := eng.Load(nil, func(schema *state.Schema, last uint64) *state.Store {
		s, _ := LoadNewest(filepath.Join(e.dir, "snapshots"), schema, last, logger)
		return s
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return eng
}

func fullReplay(t testing.TB, l *eventlog.Log) string {
	eng := state.NewEngine(l, quiet)
	if err := eng.Load(nil, nil); err != nil {
		t.Fatal(err)
	}
	return dump(eng.Store())
}

// TestSnapshotPlusTailEqualsReplay: over random histories and random
// snapshot points, state from the newest snapshot plus the log's tail is
// the state a full replay gives.
func TestSnapshotPlusTailEqualsReplay(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		e := newEnv(t, testkit.BankSchema(t))
		rng := rand.New(rand.NewPCG(seed, 99))
		n := 100 + rng.IntN(300)
		for i := 0; i < n; i++ {
			e.randomAppend(rng, i)
			if rng.IntN(60) == 0 {
				e.save()
			}
		}
		if rng.IntN(2) == 0 {
			e.save() // sometimes a snapshot right at the end: empty tail
		}
		got := dump(e.restartWithSnapshots(quiet).Store())
		if want := fullReplay(t, e.log); got != want {
			t.Fatalf("seed %d: snapshot+tail differs from full replay:\n%s\n---\n%s", seed, got, want)
		}
	}
}

func TestRoundTripKeepsEverything(t *testing.T) {
	e := newEnv(t, testkit.BankSchema(t))
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 500; i++ {
		e.randomAppend(rng, i)
	}
	info := e.save()
	schema := e.eng.Store().Schema()
	s, got, err := Read(info.Path, schema)
	if err != nil {
		t.Fatal(err)
	}
	if dump(s) != dump(e.eng.Store()) || got.Position != e.log.LastPosition() || got.Entities != info.Entities {
		t.Fatalf("read back differs: %+v vs %+v", got, info)
	}
}

// TestDamagedSnapshotsAreSkipped flips a byte in, and truncates, every part
// of a snapshot, with and without stored indexes: each damaged copy is
// refused, and a restart with it falls back to the older snapshot or a full
// replay with the right state.
func TestDamagedSnapshotsAreSkipped(t *testing.T) {
	for _, schema := range []string{testkit.BankSchema(t), indexedBank(t)} {
		e := newEnv(t, schema)
		rng := rand.New(rand.NewPCG(3, 3))
		for i := 0; i < 200; i++ {
			e.randomAppend(rng, i)
		}
		info := e.save()
		good, err := os.ReadFile(info.Path)
		if err != nil {
			t.Fatal(err)
		}
		schema := e.eng.Store().Schema()
		damaged := filepath.Join(t.TempDir(), Name(info.Position))
		for i := 0; i < len(good); i++ {
			bad := bytes.Clone(good)
			bad[i] ^= 1 << (i % 8)
			os.WriteFile(damaged, bad, 0o600)
			if _, _, err := Read(damaged, schema); err == nil {
				t.Fatalf("flipped bit at byte %d of %d accepted", i, len(good))
			}
		}
		for _, n := range []int{0, 4, 8, 9, 20, len(good) / 2, len(good) - 5, len(good) - 1} {
			os.WriteFile(damaged, good[:n], 0o600)
			if _, _, err := Read(damaged, schema); err == nil {
				t.Fatalf("truncation to %d bytes accepted", n)
			}
		}
		// A restart over a damaged newest snapshot logs why and is still right.
		for i := 0; i < 50; i++ {
			e.randomAppend(rng, i)
		}
		newest := e.save()
		bad := bytes.Clone(good)
		bad[len(bad)/2] ^= 0x40
		os.WriteFile(newest.Path, bad, 0o600)
		var logged bytes.Buffer
		eng := e.restartWithSnapshots(slog.New(slog.NewTextHandler(&logged, nil)))
		if !strings.Contains(logged.String(), "snapshot skipped") || !strings.Contains(logged.String(), "checksum mismatch") {
			t.Fatalf("no log line says why the snapshot was skipped:\n%s", logged.String())
		}
		if got, want := dump(eng.Store()), fullReplay(t, e.log); got != want {
			t.Fatal("state after skipping a damaged snapshot differs from a full replay")
		}
		if got, want := indexOrders(eng.Store()), indexOrders(fullReplayStore(t, e.log)); got != want {
			t.Fatal("indexes after skipping a damaged snapshot differ from a full replay's")
		}
	}
}

func TestForeignSnapshotsAreSkipped(t *testing.T) {
	e := newEnv(t, testkit.BankSchema(t))
	rng := rand.New(rand.NewPCG(5, 5))
	for i := 0; i < 100; i++ {
		e.randomAppend(rng, i)
	}
	info := e.save()
	// Another schema: the snapshot is not used.
	other, _ := state.ParseSchema("entities:\n  account:\n    initial: {balance: 1}\n")
	if _, _, err := Read(info.Path, other); !errors.Is(err, ErrOtherSchema) {
		t.Fatalf("other schema: %v", err)
	}
	// A newer format: refused with its own error.
	var buf bytes.Buffer
	buf.WriteString(fileMagic)
	fw := &frameWriter{w: bufio.NewWriter(&buf)}
	h := binary.AppendUvarint(nil, formatVersion+1)
	h = binary.AppendUvarint(h, 1)
	h = appendString(h, e.eng.Store().Schema().Hash)
	h = binary.AppendUvarint(h, 0)
	h = binary.AppendUvarint(h, 0)
	fw.frame(kindHeader, h)
	fw.w.Flush()
	newer := filepath.Join(t.TempDir(), Name(1))
	os.WriteFile(newer, buf.Bytes(), 0o600)
	if _, _, err := Read(newer, e.eng.Store().Schema()); !errors.Is(err, ErrNewerFormat) {
		t.Fatalf("newer format: %v", err)
	}
	// A snapshot past the log's end (from another data dir) is skipped.
	var logged bytes.Buffer
	s, _ := LoadNewest(filepath.Dir(info.Path), e.eng.Store().Schema(), info.Position-1, slog.New(slog.NewTextHandler(&logged, nil)))
	if s != nil || !strings.Contains(logged.String(), "past the end of the log") {
		t.Fatalf("snapshot past the log used: %s", logged.String())
	}
}

func TestSchemaChangeBetweenRuns(t *testing.T) {
	bankSchema := testkit.BankSchema(t)
	e := newEnv(t, bankSchema)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < 100; i++ {
		e.randomAppend(rng, i)
	}
	e.save()
	changed := strings.Replace(bankSchema, "initial: {balance: 0}", "initial: {balance: 0, vip: false}", 1)
	eng := state.NewEngine(e.log, quiet)
	var logged bytes.Buffer
	lg := slog.New(slog.NewTextHandler(&logged, nil))
	err := eng.Load(&changed, func(schema *state.Schema, last uint64) *state.Store {
		s, _ := LoadNewest(filepath.Join(e.dir, "snapshots"), schema, last, lg)
		return s
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logged.String(), "other schema") {
		t.Fatalf("old-schema snapshot not skipped: %s", logged.String())
	}
	if got, want := dump(eng.Store()), fullReplay(t, e.log); got != want || !strings.Contains(got, `"vip":false`) {
		t.Fatalf("state after a schema change is not a replay with the new schema:\n%s", got)
	}
}

func TestPruneKeepsNewest(t *testing.T) {
	e := newEnv(t, testkit.BankSchema(t))
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 5; i++ {
		e.randomAppend(rng, i)
		e.save()
	}
	dir := filepath.Join(e.dir, "snapshots")
	os.WriteFile(filepath.Join(dir, tempPrefix+"crashed"), []byte("x"), 0o600)
	if err := Prune(dir, 2); err != nil {
		t.Fatal(err)
	}
	list, _ := List(dir)
	if len(list) != 2 || list[0].Position != 5 || list[1].Position != 4 {
		t.Fatalf("kept %+v", list)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("temporary file left: %d entries", len(entries))
	}
}

// FuzzRead reads damaged snapshots with stored indexes; a format 1
// snapshot of the same schema is a seed too.
func FuzzRead(f *testing.F) {
	e := newEnv(f, indexedBank(f))
	rng := rand.New(rand.NewPCG(2, 2))
	for i := 0; i < 60; i++ {
		e.randomAppend(rng, i)
	}
	info := e.save()
	good, _ := os.ReadFile(info.Path)
	schema := e.eng.Store().Schema()
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(fileMagic))
	if v1, err := os.ReadFile(v1Snapshot); err == nil {
		f.Add(v1)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), Name(1))
		os.WriteFile(path, data, 0o600)
		s, _, err := Read(path, schema)
		if err == nil && !bytes.Equal(data, good) {
			// Accepting other bytes is only fine if they decode to a sane store.
			s.Live()
			_ = dump(s)
		}
	})
}

func BenchmarkWrite(b *testing.B) {
	e := newEnv(b, testkit.BankSchema(b))
	for i := 0; i < 20000; i++ {
		e.log.Append(&eventlog.Append{Stream: fmt.Sprintf("account:%d", i), Events: []eventlog.Proposed{
			{Type: "AccountOpened", Data: []byte(fmt.Sprintf(`{"name":"name %d"}`, i))},
		}})
	}
	var c *state.Capture
	e.log.Exclusive(func(uint64) error { c = e.eng.Store().Capture(); return nil })
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Write(dir, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	e := newEnv(b, testkit.BankSchema(b))
	for i := 0; i < 20000; i++ {
		e.log.Append(&eventlog.Append{Stream: fmt.Sprintf("account:%d", i), Events: []eventlog.Proposed{
			{Type: "AccountOpened", Data: []byte(fmt.Sprintf(`{"name":"name %d"}`, i))},
		}})
	}
	info := e.save()
	schema := e.eng.Store().Schema()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Read(info.Path, schema); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(20000*b.N)/b.Elapsed().Seconds(), "entities/s")
}
