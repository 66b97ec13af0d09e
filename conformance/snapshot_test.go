package conformance

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/redis/go-redis/v9"
)

// snapSchemaA folds Stocked events of any stream into items keyed by the
// event's sku, so that one append of many events makes many entities and a
// snapshot of them takes a moment to write; accounts fold their own
// streams; tally is one entity fed by every stream. Streams of other
// categories (shelf, own, shared, after) fold by merge patch.
const snapSchemaA = `entities:
  item:
    events: [Stocked]
    id: event.sku
    initial: {qty: 0}
    when:
      Stocked: {set: {qty: qty + event.qty, label: event.label}}
  account:
    streams: account
    initial: {balance: 0}
    when:
      Opened: {set: {name: event.name}}
      Credited: {set: {balance: balance + event.amount}}
  tally:
    events: [Stocked, Credited]
    id: '"all"'
    initial: {stocked: 0, credited: 0}
    when:
      Stocked: {set: {stocked: stocked + event.qty}}
      Credited: {set: {credited: credited + event.amount}}
`

// snapSchemaB folds the same events otherwise, and has no tally.
const snapSchemaB = `entities:
  item:
    events: [Stocked]
    id: event.sku
    initial: {count: 0}
    when:
      Stocked: {set: {count: count + 1, last: event.qty}}
  account:
    streams: account
    initial: {credits: 0}
    when:
      Opened: {set: {owner: event.name}}
      Credited: {set: {credits: credits + 1, big: event.amount >= 50}}
`

// writeSchemaFile writes a schema to a file of its own and returns its path.
func writeSchemaFile(t testing.TB, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "schema.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A server keeps its snapshots in <dir>/snapshots, named by the position
// they cover, and writes each under a temporary name first
// (snapshot/file.go).
var (
	snapshotNameRE = regexp.MustCompile(`^snapshot-(\d{20})\.fsnap$`)
	snapshotTempRE = regexp.MustCompile(`^\.tmp-snapshot-`)
)

func snapshotsDir(dir string) string { return filepath.Join(dir, "snapshots") }

// snapshotPath is the file of the snapshot at a position.
func snapshotPath(dir string, position int64) string {
	return filepath.Join(snapshotsDir(dir), fmt.Sprintf("snapshot-%020d.fsnap", position))
}

// snapshotFile is one file of a snapshots folder.
type snapshotFile struct {
	Path     string
	Position int64 // 0 for a temporary file
	Size     int64
}

// listSnapshots returns a data dir's snapshots, newest position first, and
// its temporary snapshot files.
func listSnapshots(t testing.TB, dir string) (final, temp []snapshotFile) {
	t.Helper()
	entries, err := os.ReadDir(snapshotsDir(dir))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue // renamed or removed under us
		}
		f := snapshotFile{Path: filepath.Join(snapshotsDir(dir), e.Name()), Size: fi.Size()}
		switch m := snapshotNameRE.FindStringSubmatch(e.Name()); {
		case m != nil:
			f.Position, _ = strconv.ParseInt(m[1], 10, 64)
			final = append(final, f)
		case snapshotTempRE.MatchString(e.Name()):
			temp = append(temp, f)
		default:
			t.Errorf("unexpected file %s in the snapshots folder", e.Name())
		}
	}
	slices.SortFunc(final, func(a, b snapshotFile) int { return cmp.Compare(b.Position, a.Position) })
	return final, temp
}

// snapshotPositions are the positions of a data dir's snapshots, newest first.
func snapshotPositions(t testing.TB, dir string) []int64 {
	t.Helper()
	final, _ := listSnapshots(t, dir)
	var out []int64
	for _, f := range final {
		out = append(out, f.Position)
	}
	return out
}

// logMessages returns the lines of a server's log with msg="<msg>".
func logMessages(s *Server, msg string) []string {
	var out []string
	for line := range strings.Lines(s.Log()) {
		if strings.Contains(line, ` msg="`+msg+`"`) || strings.Contains(line, ` msg=`+msg+` `) {
			out = append(out, strings.TrimRight(line, "\n"))
		}
	}
	return out
}

// loadedSnapshot is the file named by the "snapshot loaded" line of a
// server's start, or "" when it replayed the whole log.
func loadedSnapshot(t testing.TB, s *Server) string {
	t.Helper()
	lines := logMessages(s, "snapshot loaded")
	switch len(lines) {
	case 0:
		return ""
	case 1:
		m := regexp.MustCompile(` file=(\S+)`).FindStringSubmatch(lines[0])
		if m == nil {
			t.Fatalf("no file= in %q", lines[0])
		}
		return m[1]
	}
	t.Fatalf("%d 'snapshot loaded' lines:\n%s", len(lines), strings.Join(lines, "\n"))
	return ""
}

// skippedBecause returns the reason of the "snapshot skipped" line of a
// file, or "" when there is none.
func skippedBecause(s *Server, path string) string {
	for _, line := range logMessages(s, "snapshot skipped") {
		if strings.Contains(line, " file="+path+" ") {
			if _, reason, ok := strings.Cut(line, " reason="); ok {
				return reason
			}
			return line
		}
	}
	return ""
}

// entityState is every entity of every type: type -> id -> JSON.
type entityState map[string]map[string]string

// readEntities reads the whole state with ENTITY.TYPES and ENTITY.ALL.
func readEntities(t testing.TB, s *Server) entityState {
	t.Helper()
	ctx := context.Background()
	c := s.Client(2)
	types, err := c.Do(ctx, "ENTITY.TYPES").StringSlice()
	if err != nil {
		t.Fatalf("ENTITY.TYPES: %v", err)
	}
	st := entityState{}
	for _, typ := range types {
		flat, err := c.Do(ctx, "ENTITY.ALL", typ).StringSlice()
		if err != nil || len(flat)%2 != 0 {
			t.Fatalf("ENTITY.ALL %s: %d elements, %v", typ, len(flat), err)
		}
		m := make(map[string]string, len(flat)/2)
		for i := 0; i < len(flat); i += 2 {
			m[flat[i]] = flat[i+1]
		}
		st[typ] = m
	}
	return st
}

// diffEntities lists how got differs from want, at most a few lines of it.
func diffEntities(want, got entityState) []string {
	var out []string
	add := func(format string, args ...any) {
		if len(out) < 10 {
			out = append(out, fmt.Sprintf(format, args...))
		}
	}
	for typ, w := range want {
		g, ok := got[typ]
		if !ok {
			add("type %s (%d entities) is missing", typ, len(w))
			continue
		}
		if len(g) != len(w) {
			add("type %s has %d entities, want %d", typ, len(g), len(w))
		}
		for id, wj := range w {
			if gj, ok := g[id]; !ok {
				add("%s %s is missing, want %s", typ, id, wj)
			} else if gj != wj {
				add("%s %s is %s, want %s", typ, id, gj, wj)
			}
		}
		for id, gj := range g {
			if _, ok := w[id]; !ok {
				add("%s %s = %s should not be there", typ, id, gj)
			}
		}
	}
	for typ, g := range got {
		if _, ok := want[typ]; !ok {
			add("type %s (%d entities) should not be there", typ, len(g))
		}
	}
	return out
}

// stateView is what a server shows of its state: every entity with
// ENTITY.ALL, and a sample of them with ENTITY.GET WITHVERSION.
type stateView struct {
	all  entityState
	gets map[[2]string][]any // {type, id} -> [json, version]
}

// readView reads a server's state, checking that ENTITY.GET agrees with
// ENTITY.ALL.
func readView(t testing.TB, s *Server) stateView {
	t.Helper()
	v := stateView{all: readEntities(t, s), gets: map[[2]string][]any{}}
	c := s.Client(2)
	for typ, m := range v.all {
		ids := slices.Sorted(maps.Keys(m))
		for i := 0; i < len(ids); i += max(1, len(ids)/100) {
			key := [2]string{typ, ids[i]}
			got, err := c.Do(context.Background(), "ENTITY.GET", typ, ids[i], "WITHVERSION").Slice()
			if err != nil || len(got) != 2 || got[0] != m[ids[i]] {
				t.Fatalf("ENTITY.GET %s %s WITHVERSION = %v, %v; ENTITY.ALL has %s", typ, ids[i], got, err, m[ids[i]])
			}
			v.gets[key] = got
		}
	}
	return v
}

// checkSameView fails the test if a server's state differs from want.
func checkSameView(t testing.TB, want stateView, s *Server, what string) {
	t.Helper()
	if d := diffEntities(want.all, readEntities(t, s)); len(d) > 0 {
		t.Fatalf("%s differs:\n%s", what, strings.Join(d, "\n"))
	}
	c := s.Client(2)
	for key, w := range want.gets {
		got, err := c.Do(context.Background(), "ENTITY.GET", key[0], key[1], "WITHVERSION").Slice()
		if err != nil || !reflect.DeepEqual(got, w) {
			t.Fatalf("%s: ENTITY.GET %s %s WITHVERSION = %v, %v; want %v", what, key[0], key[1], got, err, w)
		}
	}
	t.Logf("%s: %d types, %d entities equal, %d of them checked with ENTITY.GET", what, len(want.all), stateSize(want.all), len(want.gets))
}

func stateSize(st entityState) int {
	n := 0
	for _, m := range st {
		n += len(m)
	}
	return n
}

// copyDataDir copies a stopped server's data dir, leaving out the snapshots
// when withSnapshots is false.
func copyDataDir(t testing.TB, src, dst string, withSnapshots bool) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			if rel == "snapshots" && !withSnapshots {
				return filepath.SkipDir
			}
			return os.MkdirAll(to, 0o755)
		}
		if d.Name() == "LOCK" {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(to)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatalf("copying %s: %v", src, err)
	}
}

// verifyDir runs foldb verify on a stopped server's data dir: the log is
// whole and a replay equals the newest snapshot.
func verifyDir(t testing.TB, dir string) {
	t.Helper()
	out, _ := runTool(t, binary, "verify", "--dir", dir)
	if !strings.Contains(out, "equals a replay") || !strings.HasSuffix(out, "OK\n") {
		t.Fatalf("foldb verify --dir %s:\n%s", dir, out)
	}
}

// saveSnapshot takes a snapshot with SNAPSHOT.SAVE and returns its position.
func saveSnapshot(t testing.TB, s *Server) int64 {
	t.Helper()
	c := s.Client(3)
	if err := c.Do(context.Background(), "SNAPSHOT.SAVE").Err(); err != nil {
		t.Fatalf("SNAPSHOT.SAVE: %v", err)
	}
	return testkit.InfoInt(t, c, "everything", "snapshot_last_position")
}

// stockLoad appends appends×1000 Stocked events, 1000 to an append, to
// streams shelf:<k> over 4 pipelined connections; each event stocks item
// sku (k*1000+j) of the schemas above. It returns the appends, answered.
func stockLoad(t testing.TB, s *Server, first, appends int) []*appendRec {
	t.Helper()
	const perAppend, conns, window = 1000, 4, 4
	recs := make([]*appendRec, appends)
	for i := range recs {
		k := first + i
		r := &appendRec{stream: fmt.Sprintf("shelf:%d", k), id: fmt.Sprintf("stock-%d", k), outcome: answered}
		for j := range perAppend {
			tok := fmt.Sprintf("%s.%d", r.id, j)
			sku := k*perAppend + j
			label := strings.Repeat(fmt.Sprintf("item %08d of shelf %d ", sku, k), 10)
			data := fmt.Sprintf(`{"token":%q,"sku":"%08d","qty":%d,"label":%q}`, tok, sku, 1+sku%7, label)
			r.tokens, r.types, r.data = append(r.tokens, tok), append(r.types, "Stocked"), append(r.data, data)
		}
		recs[i] = r
	}
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for w := range conns {
		wg.Go(func() {
			ctx := context.Background()
			c := redis.NewClient(clientOptions(s.Addr, 2))
			defer c.Close()
			var mine []*appendRec
			for i := w; i < len(recs); i += conns {
				mine = append(mine, recs[i])
			}
			for len(mine) > 0 {
				batch := mine[:min(window, len(mine))]
				mine = mine[len(batch):]
				pipe := c.Pipeline()
				cmds := make([]*redis.Cmd, len(batch))
				for i, r := range batch {
					args := []any{"EVENT.APPEND", r.stream, "ID", r.id}
					for j := range r.data {
						args = append(args, r.types[j], r.data[j])
					}
					cmds[i] = pipe.Do(ctx, args...)
				}
				pipe.Exec(ctx)
				for i, cmd := range cmds {
					v, err := cmd.Int64Slice()
					if err != nil || len(v) != 2 {
						errs <- fmt.Errorf("EVENT.APPEND %s (%d events) = %v, %v", batch[i].stream, perAppend, v, err)
						return
					}
					batch[i].version, batch[i].position = v[0], v[1]
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return recs
}

// snapshotKillAppends is how many appends of 1000 events TestSnapshotKill
// loads. Under -race, 20,000 items of 270 bytes make a 6 MB snapshot that
// the server writes in about 50 ms, long enough to kill it in the middle
// (the test checks that it did); more would cost several seconds per
// 20,000 events, as every check reads or replays the whole log. A binary
// without -race is about 5 times as fast at both.
func snapshotKillAppends() int {
	if raceEnabled {
		return 20
	}
	return 100
}

// TestSnapshotKill: a server holding 20,000 entities (100,000 without
// -race) is killed with SIGKILL while 8 connections append, once in the
// middle of writing a snapshot (BGSAVE) and once right after SNAPSHOT.SAVE
// replied. After a restart every answered append is there as it was
// answered (the checks of TestCrashDuringAppends), the restarted state
// equals a full replay of the log (a second server on a copy without
// snapshots), and foldb verify finds the log whole and the snapshot of the
// clean shutdown equal to a replay.
func TestSnapshotKill(t *testing.T) {
	schema := writeSchemaFile(t, snapSchemaA)
	base := t.TempDir()
	s := startServer(t, base, "--schema", schema)
	loadStart := time.Now()
	bulk := stockLoad(t, s, 0, snapshotKillAppends())
	loaded := time.Since(loadStart)
	basePos := saveSnapshot(t, s)
	t.Logf("%d events appended in %v; SNAPSHOT.SAVE at %d took %s ms, %s bytes",
		basePos, loaded.Round(time.Millisecond), basePos, s.Info("snapshot_last_duration_ms"), s.Info("snapshot_last_size"))
	s.Stop()

	t.Run("during BGSAVE", func(t *testing.T) {
		dir := t.TempDir()
		copyDataDir(t, base, dir, true)
		s, recs := killUnderLoad(t, dir, schema, func(c *redis.Client) {
			if v, err := c.Do(context.Background(), "BGSAVE").Result(); err != nil || v != "Background saving started" {
				t.Fatalf("BGSAVE = %v, %v", v, err)
			}
			// The kill must come while the snapshot is half written: a
			// temporary file with its first buffers in it.
			testkit.WaitForWithin(t, 20*time.Second, "BGSAVE to write a temporary snapshot file", func() bool {
				_, temp := listSnapshots(t, dir)
				return len(temp) == 1 && temp[0].Size > 0
			})
		})
		final, temp := listSnapshots(t, dir)
		if len(temp) != 1 || len(final) != 1 || final[0].Position != basePos {
			t.Fatalf("the snapshot was not half written when the server was killed: snapshots %v, temporary files %v; make the state bigger", final, temp)
		}
		t.Logf("killed with %d of a snapshot written in %s", temp[0].Size, filepath.Base(temp[0].Path))
		s2 := s.Restart()
		if got, want := loadedSnapshot(t, s2), final[0].Path; got != want {
			t.Errorf("the restart loaded snapshot %q, want the one before the kill, %s", got, want)
		}
		if _, temp := listSnapshots(t, dir); len(temp) != 0 {
			t.Errorf("the half-written snapshot %v is still there after the restart", temp)
		}
		checkRestarted(t, s2, append(slices.Clone(bulk), recs...))
	})

	t.Run("right after SAVE", func(t *testing.T) {
		dir := t.TempDir()
		copyDataDir(t, base, dir, true)
		s, recs := killUnderLoad(t, dir, schema, func(c *redis.Client) {
			if err := c.Do(context.Background(), "SNAPSHOT.SAVE").Err(); err != nil {
				t.Fatalf("SNAPSHOT.SAVE: %v", err)
			}
		})
		final, temp := listSnapshots(t, dir)
		if len(final) == 0 || final[0].Position <= basePos || len(temp) != 0 {
			t.Fatalf("after SNAPSHOT.SAVE replied: snapshots %v, temporary files %v; want a new one past %d", final, temp, basePos)
		}
		s2 := s.Restart()
		if got, want := loadedSnapshot(t, s2), final[0].Path; got != want {
			t.Errorf("the restart loaded snapshot %q, want the one SNAPSHOT.SAVE wrote, %s", got, want)
		}
		t.Logf("the restart replayed the %d events committed between the snapshot and the kill", s2.StartEvents()-final[0].Position)
		checkRestarted(t, s2, append(slices.Clone(bulk), recs...))
	})
}

// killUnderLoad starts a server on dir, runs 8 appending connections (the
// workers of TestCrashDuringAppends), calls during once they are under
// way, then kills the server with SIGKILL while they go on. It returns the
// killed server and every append the workers sent.
func killUnderLoad(t *testing.T, dir, schema string, during func(*redis.Client)) (*Server, []*appendRec) {
	t.Helper()
	s := startServer(t, dir, "--schema", schema)
	c := s.Client(2)
	start := testkit.InfoInt(t, c, "everything", "log_last_position")
	a := startAppenders(s.Addr, 8)
	testkit.WaitForWithin(t, 20*time.Second, "the workers to append 200 events", func() bool {
		return testkit.InfoInt(t, c, "everything", "log_last_position") >= start+200
	})
	during(c)
	all, counts := a.stop(t, s.Kill)
	t.Logf("workers: %d appends, %d answered, %d refused, %d unanswered at the kill", len(all), counts[answered], counts[refused], counts[unanswered])
	if counts[answered] == 0 {
		t.Fatal("no append was answered")
	}
	return s, all
}

// checkRestarted checks a server restarted after a kill: the appends, then
// its state against a full replay and foldb verify.
func checkRestarted(t *testing.T, s *Server, recs []*appendRec) {
	t.Helper()
	checkAppends(t, s, recs)
	if t.Failed() {
		t.FailNow()
	}
	want := readView(t, s)
	last := testkit.InfoInt(t, s.Client(2), "everything", "log_last_position")
	s.Stop()
	if got := snapshotPositions(t, s.Dir); len(got) == 0 || got[0] != last {
		t.Errorf("after a clean shutdown at %d the snapshots are at %v", last, got)
	}
	t.Run("foldb verify", func(t *testing.T) {
		verifyDir(t, s.Dir)
	})

	replayDir := t.TempDir()
	copyDataDir(t, s.Dir, replayDir, false)
	replay := startServer(t, replayDir)
	if f := loadedSnapshot(t, replay); f != "" {
		t.Fatalf("a copy without snapshots loaded %s", f)
	}
	checkSameView(t, want, replay, "the state of a full replay")
}

// TestSnapshotDamaged: a snapshot with one flipped byte, or cut short, is
// skipped at start with a log line saying why; the server starts from the
// older snapshot, or replays the whole log when that one is damaged too,
// and its state is what it was before. It then no longer counts the
// damaged file as its newest snapshot: the clean shutdown writes a whole
// one that the next start loads.
func TestSnapshotDamaged(t *testing.T) {
	schema := writeSchemaFile(t, snapSchemaA)
	base := t.TempDir()
	s := startServer(t, base, "--schema", schema)
	stockLoad(t, s, 0, 3)
	older := saveSnapshot(t, s)
	stockLoad(t, s, 3, 2)
	want := readView(t, s)
	last := testkit.InfoInt(t, s.Client(2), "everything", "log_last_position")
	s.Stop() // takes a snapshot at last
	if got := snapshotPositions(t, base); !slices.Equal(got, []int64{last, older}) {
		t.Fatalf("after SNAPSHOT.SAVE at %d and a clean shutdown at %d the snapshots are at %v", older, last, got)
	}

	flip := func(t *testing.T, path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x20
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	truncate := func(t *testing.T, path string) {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, fi.Size()/2); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, newest, older string)
		// skipped are the reasons the start must log for the newest and
		// the older snapshot ("" where it must not skip it).
		skipped [2]string
		loaded  int64 // the snapshot's position, 0 for a full replay
	}{
		{"flipped byte in the newest", func(t *testing.T, newest, _ string) { flip(t, newest) }, [2]string{"checksum mismatch", ""}, older},
		{"newest truncated", func(t *testing.T, newest, _ string) { truncate(t, newest) }, [2]string{"truncated", ""}, older},
		{"both damaged", func(t *testing.T, newest, older string) { flip(t, newest); truncate(t, older) }, [2]string{"checksum mismatch", "truncated"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDataDir(t, base, dir, true)
			files := [2]string{snapshotPath(dir, last), snapshotPath(dir, older)}
			tc.damage(t, files[0], files[1])
			s := startServer(t, dir)
			for i, reason := range tc.skipped {
				got := skippedBecause(s, files[i])
				if reason == "" && got != "" || !strings.Contains(got, reason) {
					t.Errorf("the start logged %q for %s, want a line saying %q", got, files[i], reason)
				}
			}
			wantLoaded := ""
			if tc.loaded != 0 {
				wantLoaded = files[1]
			}
			if got := loadedSnapshot(t, s); got != wantLoaded {
				t.Errorf("the start loaded snapshot %q, want %q", got, wantLoaded)
			}
			checkSameView(t, want, s, "the state after the restart")

			// The server knows the damaged file is no snapshot: SNAPSHOT.INFO
			// shows the one it loaded (none after a full replay), and the
			// clean shutdown writes a whole snapshot at the log's end.
			info, err := s.Client(3).Do(context.Background(), "SNAPSHOT.INFO").Result()
			if tc.loaded == 0 {
				if err != redis.Nil {
					t.Errorf("SNAPSHOT.INFO after a full replay = %v, %v; want nil: the only snapshots on disk are damaged", info, err)
				}
			} else if m, ok := info.(map[any]any); !ok || m["position"] != tc.loaded || m["path"] != files[1] {
				t.Errorf("SNAPSHOT.INFO = %v, %v; want the loaded snapshot at %d, %s", info, err, tc.loaded, files[1])
			}
			s.Stop()
			s = s.Restart()
			if got := loadedSnapshot(t, s); got != files[0] || len(logMessages(s, "snapshot skipped")) > 0 {
				t.Errorf("the start after the clean shutdown loaded %q and skipped %q; want %s loaded, none skipped",
					got, logMessages(s, "snapshot skipped"), files[0])
			}
			checkSameView(t, want, s, "the state after the next restart")
		})
	}
}

// schemaChangeEvents are the appends of TestSnapshotSchemaChange: 10
// accounts opened and credited 5 times, and 30 items stocked 3 times on 3
// shelves. part picks the first (0) or the second half (1).
func schemaChangeEvents(part int) [][]string {
	var out [][]string
	for i := range 10 {
		if part == 0 {
			out = append(out, []string{fmt.Sprintf("account:%d", i), "Opened", fmt.Sprintf(`{"name":"owner %d"}`, i)})
		}
		for j := range 5 {
			if j%2 == part {
				out = append(out, []string{fmt.Sprintf("account:%d", i), "Credited", fmt.Sprintf(`{"amount":%d}`, 10*i+j)})
			}
		}
	}
	for n := range 90 {
		if n%2 == part {
			out = append(out, []string{fmt.Sprintf("shelf:%d", n%3), "Stocked", fmt.Sprintf(`{"sku":"s%02d","qty":%d,"label":"batch %d"}`, n%30, n%7+1, n/30)})
		}
	}
	return out
}

// foldSchemaChange is what each schema ("A" or "B") makes of events of
// schemaChangeEvents, computed here: type -> id -> object.
func foldSchemaChange(schema string, events [][]string) map[string]map[string]map[string]any {
	st := map[string]map[string]map[string]any{"account": {}, "item": {}, "shelf": {}}
	if schema == "A" {
		st["tally"] = map[string]map[string]any{"all": {"stocked": 0.0, "credited": 0.0}}
	}
	for _, ev := range events {
		var data map[string]any
		if err := json.Unmarshal([]byte(ev[2]), &data); err != nil {
			panic(err)
		}
		_, id, _ := strings.Cut(ev[0], ":")
		switch ev[1] {
		case "Opened":
			if schema == "A" {
				st["account"][id] = map[string]any{"balance": 0.0, "name": data["name"]}
			} else {
				st["account"][id] = map[string]any{"credits": 0.0, "owner": data["name"]}
			}
		case "Credited":
			a, amount := st["account"][id], data["amount"].(float64)
			if schema == "A" {
				a["balance"] = a["balance"].(float64) + amount
				st["tally"]["all"]["credited"] = st["tally"]["all"]["credited"].(float64) + amount
			} else {
				a["credits"] = a["credits"].(float64) + 1
				a["big"] = amount >= 50
			}
		case "Stocked":
			st["shelf"][id] = data // merge patch of objects with the same members
			sku, qty := data["sku"].(string), data["qty"].(float64)
			it, ok := st["item"][sku]
			switch {
			case schema == "A" && !ok:
				it = map[string]any{"qty": 0.0}
			case !ok:
				it = map[string]any{"count": 0.0}
			}
			if schema == "A" {
				it["qty"], it["label"] = it["qty"].(float64)+qty, data["label"]
				st["tally"]["all"]["stocked"] = st["tally"]["all"]["stocked"].(float64) + qty
			} else {
				it["count"], it["last"] = it["count"].(float64)+1, qty
			}
			st["item"][sku] = it
		}
	}
	return st
}

// checkFolded fails the test unless a server's state is the fold of events
// by schema ("A" or "B").
func checkFolded(t testing.TB, s *Server, schema string, events [][]string) {
	t.Helper()
	want := foldSchemaChange(schema, events)
	got := readEntities(t, s)
	var diffs []string
	for typ, ents := range got {
		if _, ok := want[typ]; !ok {
			diffs = append(diffs, fmt.Sprintf("type %s should not be there", typ))
		}
		for id, text := range ents {
			var obj map[string]any
			if err := json.Unmarshal([]byte(text), &obj); err != nil || !reflect.DeepEqual(obj, want[typ][id]) {
				diffs = append(diffs, fmt.Sprintf("%s %s is %s, want %v", typ, id, text, want[typ][id]))
			}
		}
	}
	for typ, ents := range want {
		for id, obj := range ents {
			if _, ok := got[typ][id]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s %s is missing, want %v", typ, id, obj))
			}
		}
	}
	if len(diffs) > 0 {
		t.Fatalf("the state is not schema %s's fold of the log:\n%s", schema, strings.Join(diffs[:min(len(diffs), 10)], "\n"))
	}
}

// appendEach appends events one by one.
func appendEach(t testing.TB, s *Server, events [][]string) {
	t.Helper()
	c := s.Client(2)
	for _, ev := range events {
		if err := c.Do(context.Background(), "EVENT.APPEND", ev[0], ev[1], ev[2]).Err(); err != nil {
			t.Fatalf("EVENT.APPEND %v: %v", ev, err)
		}
	}
}

// TestSnapshotSchemaChange: snapshots taken under schema A are skipped when
// the server starts with --schema B, with a log line saying they are of
// another schema, and the state is B's fold of the whole log. B is stored
// with the log: a start without --schema keeps it, and loads the snapshot
// that B's clean shutdown wrote.
func TestSnapshotSchemaChange(t *testing.T) {
	schemaA, schemaB := writeSchemaFile(t, snapSchemaA), writeSchemaFile(t, snapSchemaB)
	base := t.TempDir()
	s := startServer(t, base, "--schema", schemaA)
	appendEach(t, s, schemaChangeEvents(0))
	older := saveSnapshot(t, s)
	appendEach(t, s, schemaChangeEvents(1))
	all := append(schemaChangeEvents(0), schemaChangeEvents(1)...)
	checkFolded(t, s, "A", all)
	last := testkit.InfoInt(t, s.Client(2), "everything", "log_last_position")
	s.Stop() // takes a snapshot at last
	if got := snapshotPositions(t, base); !slices.Equal(got, []int64{last, older}) {
		t.Fatalf("after SNAPSHOT.SAVE at %d and a clean shutdown at %d the snapshots are at %v", older, last, got)
	}

	// startB starts the server with --schema B, checks that it skipped both
	// snapshots of A and folded the log by B.
	startB := func(t *testing.T, dir string) *Server {
		s := startServer(t, dir, "--schema", schemaB)
		for _, pos := range []int64{last, older} {
			path := snapshotPath(dir, pos)
			if got := skippedBecause(s, path); !strings.Contains(got, "other schema") {
				t.Errorf("the start with --schema B logged %q for A's snapshot %s, want a line saying it is of another schema", got, path)
			}
		}
		if got := loadedSnapshot(t, s); got != "" {
			t.Errorf("the start with --schema B loaded A's snapshot %s", got)
		}
		checkFolded(t, s, "B", all)
		return s
	}
	// restart restarts without --schema: B is in force, from B's snapshot
	// at pos, and the state is B's fold of events.
	restart := func(t *testing.T, dir string, pos int64, events [][]string) *Server {
		s := startServer(t, dir)
		if got, err := s.Client(2).Do(context.Background(), "SCHEMA.GET").Text(); err != nil || got != snapSchemaB {
			t.Fatalf("SCHEMA.GET after a restart without --schema = %q, %v; want schema B", got, err)
		}
		checkFolded(t, s, "B", events)
		path := snapshotPath(dir, pos)
		if got := loadedSnapshot(t, s); got != path || len(logMessages(s, "snapshot skipped")) > 0 {
			t.Errorf("the restart under B loaded %q and skipped %q; want B's snapshot %s loaded, none skipped", got, logMessages(s, "snapshot skipped"), path)
		}
		return s
	}

	t.Run("appends under B", func(t *testing.T) {
		dir := t.TempDir()
		copyDataDir(t, base, dir, true)
		s := startB(t, dir)
		// One more event, so that B's clean shutdown snapshot is past A's.
		more := [][]string{{"account:3", "Credited", `{"amount":77}`}}
		appendEach(t, s, more)
		s.Stop()
		s = restart(t, dir, last+1, append(slices.Clone(all), more...))
		s.Stop()
	})

	t.Run("no appends under B", func(t *testing.T) {
		dir := t.TempDir()
		copyDataDir(t, base, dir, true)
		s := startB(t, dir)
		s.Stop()
		s = restart(t, dir, last, all)
		s.Stop()
	})
}
