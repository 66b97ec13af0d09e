package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/snapshot"
	"github.com/foldb/foldb/state"
	"github.com/foldb/foldb/streams"
)

// openOffline opens a data dir's log for a tool that writes (import); a
// running server holds Pebble's lock and the tool says so. Its durability
// is always: the events an import writes go straight to Pebble's flushed
// tables whatever the setting, and the consumer groups it restores are
// ops, fsynced with their round as a server under always fsyncs them.
func openOffline(dir string) (*eventlog.Log, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	opts := eventlog.DefaultOptions()
	opts.Durability = eventlog.DurabilityAlways
	l, err := eventlog.Open(dir, opts)
	return l, lockedHint(dir, err)
}

// openReadOnly opens a data dir's log for a tool that only reads (verify,
// export): nothing in the folder changes.
func openReadOnly(dir string) (*eventlog.Log, eventlog.ReadOnlyReport, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, eventlog.ReadOnlyReport{}, fmt.Errorf("data dir %s: %w", dir, err)
	}
	l, ro, err := eventlog.OpenReadOnly(dir, eventlog.DefaultOptions())
	return l, ro, lockedHint(dir, err)
}

// lockedHint adds what to do to the error of a folder a server holds.
func lockedHint(dir string, err error) error {
	if errors.Is(err, eventlog.ErrLocked) {
		return fmt.Errorf("%w (is a foldb server running on %s? stop it, or work on a copy)", err, dir)
	}
	return err
}

func toolLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func verifyCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check that the log is whole and that a replay equals the newest snapshot",
		Long: `Check a data directory (the server must be stopped). It is opened read-only:
nothing in it is written, created or deleted, and the journal a crash left is
read where it is, not applied.
  - every event record decodes, positions run 1..last without a gap, each
    stream's versions run from 1 without a gap and the index agrees; the
    journal's records pass their checksums, follow Pebble's last position
    and hold the events of their positions, which are checked with the rest;
  - the stored schema compiles;
  - a replay of the log up to the newest snapshot's position gives exactly
    the snapshot's entities.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return verify(cmd.OutOrStdout(), dir)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "./data", "data directory")
	return cmd
}

func verify(out io.Writer, dir string) error {
	l, ro, err := openReadOnly(dir)
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintf(out, "read-only: %s is read as it is; nothing in it is changed\n", dir)
	if ro.Format < eventlog.FormatVersion {
		fmt.Fprintf(out, "format: %d; a server's next open upgrades it to %d\n", ro.Format, eventlog.FormatVersion)
	}
	fmt.Fprintln(out, journalSummary(ro))
	bar := newProgress("verifying log", l.LastPosition())
	rep, err := l.Verify(bar.set)
	bar.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "log: %d events in %d streams, positions and versions whole\n", rep.Events, rep.Streams)
	text, err := l.Meta(state.MetaSchema)
	if err != nil {
		return err
	}
	schema, err := state.ParseSchema(string(text))
	if err != nil {
		return fmt.Errorf("the stored schema does not compile: %w", err)
	}
	fmt.Fprintf(out, "schema: %d declared entity types, hash %.12s\n", len(schema.Types), schema.Hash)
	list, err := snapshot.List(filepath.Join(dir, "snapshots"))
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(out, "snapshot: none")
		fmt.Fprintln(out, "OK")
		return nil
	}
	newest := list[0]
	snap, info, err := snapshot.Read(newest.Path, schema)
	if err != nil {
		return fmt.Errorf("newest snapshot %s: %w", newest.Path, err)
	}
	if info.Position > l.LastPosition() {
		return fmt.Errorf("newest snapshot %s is at position %d, past the log's end %d", newest.Path, info.Position, l.LastPosition())
	}
	replayed, err := state.Build(l, schema, info.Position, toolLogger())
	if err != nil {
		return err
	}
	if d := state.Diff(snap, replayed); d != "" {
		return fmt.Errorf("newest snapshot %s differs from a replay to position %d: %s", newest.Path, info.Position, d)
	}
	// The indexes the snapshot stored, as a restart makes them, against
	// those built after the replay.
	snap.Live()
	replayed.Live()
	if d := state.DiffIndexes(snap, replayed); d != "" {
		return fmt.Errorf("newest snapshot %s: its stored indexes differ from those of a replay to position %d: %s", newest.Path, info.Position, d)
	}
	fmt.Fprintf(out, "snapshot: %s (position %d, %d entities) equals a replay\n", filepath.Base(newest.Path), info.Position, info.Entities)
	fmt.Fprintln(out, "OK")
	return nil
}

// journalSummary says what the journal holds: nothing after a clean
// shutdown; after a crash, the events Pebble's tables lack, which verify
// read from it and a server's next open applies.
func journalSummary(ro eventlog.ReadOnlyReport) string {
	if len(ro.Segments) == 0 {
		return "journal: empty (closed cleanly)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "journal: %d segment(s)", len(ro.Segments))
	if n := ro.JournalEvents(); n > 0 {
		fmt.Fprintf(&b, ", %d events at positions %d-%d past Pebble's tables (which end at %d); they are checked here and a server's next open applies them",
			n, ro.Tables+1, ro.Tables+n, ro.Tables)
	} else {
		fmt.Fprintf(&b, ", no events past Pebble's tables (which end at %d)", ro.Tables)
	}
	for _, s := range ro.Segments {
		if s.Torn >= 0 {
			fmt.Fprintf(&b, "; %s ends with a record cut short at offset %d, never acknowledged, which the next open drops", s.Name, s.Torn)
		}
	}
	return b.String()
}

// exported is one event as a line of JSON.
type exported struct {
	Position uint64          `json:"position"`
	Stream   string          `json:"stream"`
	Version  uint64          `json:"version"`
	Type     string          `json:"type"`
	Data     json.RawMessage `json:"data"`
	Meta     json.RawMessage `json:"meta,omitempty"`
	ID       string          `json:"id,omitempty"`
	Time     int64           `json:"time"`
	// TypeVersion is the version of its type's shape the event was
	// written under, when above 1.
	TypeVersion uint32 `json:"typeversion,omitempty"`
}

func exportCommand() *cobra.Command {
	var dir string
	var from uint64
	var noGroups bool
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the log's events and consumer groups to stdout as JSON Lines",
		Long: `Write the log's events to stdout as JSON Lines, then one line per consumer
group, {"group":{...}}: its key, name, last-delivered ID, entries-read,
consumers and pending entries (--no-groups leaves them out). The data
directory is opened read-only, as by verify: what a crash left in the
journal is exported too, and nothing in the directory is changed.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, _, err := openReadOnly(dir)
			if err != nil {
				return err
			}
			defer l.Close()
			w := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<20)
			bar := newProgress("exporting", l.LastPosition())
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false)
			n := uint64(0)
			err = l.Scan(max(from, 1), 0, func(e *eventlog.Event) error {
				n++
				if n%65536 == 0 {
					bar.set(n)
				}
				return enc.Encode(exported{Position: e.Position, Stream: e.Stream, Version: e.Version, Type: e.Type,
					Data: e.Data, Meta: e.Meta, ID: e.ID, Time: e.Time, TypeVersion: e.TypeVersion})
			})
			bar.done()
			if err != nil {
				return err
			}
			if !noGroups {
				groups, err := streams.ReadGroups(l)
				if err != nil {
					return err
				}
				for i := range groups {
					if err := enc.Encode(exportGroup(&groups[i])); err != nil {
						return err
					}
				}
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "./data", "data directory")
	cmd.Flags().Uint64Var(&from, "from", 1, "first position to export")
	cmd.Flags().BoolVar(&noGroups, "no-groups", false, "leave the consumer groups out")
	return cmd
}

func importCommand() *cobra.Command {
	var dir string
	var appendMode bool
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Read JSON Lines events and consumer groups from stdin into a data directory",
		Long: `Read events as foldb export writes them, one JSON object a line, and append
them in the file's order. Into an empty data directory every event keeps its
position, version, ID and time (a line's position and version must be the
ones it gets: a whole export), and the consumer groups that follow the
events are restored as they were, in one fsynced step after the events.
A non-empty directory is refused unless --append is given: then events get
the next positions and versions, and the groups are skipped with a warning
that names them, since their IDs would point at other entries.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			l, err := openOffline(dir)
			if err != nil {
				return err
			}
			keep := l.LastPosition() == 0
			if !keep && !appendMode {
				l.Close()
				return fmt.Errorf("%s already holds %d events; use --append to add these after them", dir, l.LastPosition())
			}
			in := cmd.InOrStdin()
			var total uint64
			if f, ok := in.(*os.File); ok {
				if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
					total = uint64(st.Size())
				}
			}
			cr := &countingReader{r: in}
			bar := newProgress("importing (bytes)", total)
			imp, err := importLines(l, bufio.NewReaderSize(cr, 1<<20), keep, func() { bar.set(cr.n) })
			bar.done()
			restored := 0
			if err == nil && len(imp.groups) > 0 {
				if keep {
					err = restoreGroups(l, imp)
					restored = len(imp.groups)
				} else {
					warnSkippedGroups(cmd.ErrOrStderr(), imp.groups)
				}
			}
			if cerr := l.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("after %d events: %w", imp.events, err)
			}
			if restored > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "imported %d events and %d consumer groups into %s\n", imp.events, restored, dir)
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "imported %d events into %s\n", imp.events, dir)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "./data", "data directory")
	cmd.Flags().BoolVar(&appendMode, "append", false, "append to a data directory that already holds events")
	return cmd
}

type countingReader struct {
	r io.Reader
	n uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n)
	return n, err
}

// importLine is one line of an export: an event, or a consumer group
// (tools_groups.go), which has none of an event's fields.
type importLine struct {
	exported
	Group *exportedGroup `json:"group"`
}

// imported is what importLines read: how many events it imported, and
// the groups that came after them, each with its line.
type imported struct {
	events     uint64
	groups     []streams.GroupState
	groupLines []uint64
}

// importLines reads JSON Lines, imports the events in batches and returns
// the groups, which it leaves to the caller.
func importLines(l *eventlog.Log, r *bufio.Reader, keep bool, tick func()) (imported, error) {
	const batch = 10000
	var imp imported
	var events []eventlog.Event
	var line uint64
	flush := func() error {
		if len(events) == 0 {
			return nil
		}
		err := l.Import(events, keep)
		imp.events += uint64(len(events))
		events = events[:0]
		tick()
		return err
	}
	dec := json.NewDecoder(r)
	for {
		var x importLine
		err := dec.Decode(&x)
		if errors.Is(err, io.EOF) {
			break
		}
		line++
		if err != nil {
			return imp, fmt.Errorf("line %d: %w", line, err)
		}
		if x.Group != nil {
			if x.Stream != "" || x.Type != "" || x.Data != nil || x.Position != 0 {
				return imp, fmt.Errorf("line %d: a line holds a group and an event", line)
			}
			g, err := x.Group.state()
			if err != nil {
				return imp, fmt.Errorf("line %d: consumer group %q of %q: %w", line, x.Group.Name, x.Group.Key, err)
			}
			imp.groups = append(imp.groups, g)
			imp.groupLines = append(imp.groupLines, line)
			continue
		}
		if len(imp.groups) > 0 {
			return imp, fmt.Errorf("line %d: an event after the consumer groups; groups come after every event, as foldb export writes them", line)
		}
		e := eventlog.Event{Position: x.Position, Stream: x.Stream, Version: x.Version, Type: x.Type,
			Data: x.Data, Meta: x.Meta, ID: x.ID, Time: x.Time, TypeVersion: x.TypeVersion}
		if len(e.Meta) == 0 || string(e.Meta) == "null" {
			e.Meta = nil
		}
		if e.Time == 0 {
			e.Time = time.Now().UnixMilli()
		}
		events = append(events, e)
		if len(events) >= batch {
			if err := flush(); err != nil {
				return imp, err
			}
		}
	}
	return imp, flush()
}

// restoreGroups creates the groups an import read, once its events are
// in: through the log's writer, as a server stores them, so that a server
// started on the folder loads exactly these.
func restoreGroups(l *eventlog.Log, imp imported) error {
	gs, err := streams.OpenGroups(l, streams.NewReader(l))
	if err != nil {
		return err
	}
	defer gs.Close()
	r := &streams.Restore{Groups: imp.groups}
	gs.Do(r)
	var re *streams.RestoreError
	if errors.As(r.Err, &re) {
		return fmt.Errorf("line %d: %w", imp.groupLines[re.Index], r.Err)
	}
	return r.Err
}

// warnSkippedGroups says which groups an import --append left out, and
// why: the events got new positions, so each group's last-delivered ID
// and pending entries would name other entries than they did.
func warnSkippedGroups(w io.Writer, groups []streams.GroupState) {
	fmt.Fprintf(w, "warning: skipped %d consumer group(s): with --append the events get new positions, so the groups' IDs would point at other entries; create them where their workers should resume (XGROUP CREATE key group id), or export with --no-groups\n", len(groups))
	for _, g := range groups {
		fmt.Fprintf(w, "  skipped %s of %s (last-delivered-id %s in the export, %d pending)\n", g.Name, g.Key, g.LastDelivered, len(g.Pending))
	}
}

// progress draws a progress bar on stderr when stderr is a terminal.
type progress struct {
	what    string
	total   uint64
	tty     bool
	started time.Time
	last    time.Time
}

func newProgress(what string, total uint64) *progress {
	st, err := os.Stderr.Stat()
	tty := err == nil && st.Mode()&os.ModeCharDevice != 0
	return &progress{what: what, total: total, tty: tty, started: time.Now()}
}

func (p *progress) set(done uint64) {
	if !p.tty || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	rate := float64(done) / time.Since(p.started).Seconds()
	if p.total == 0 {
		fmt.Fprintf(os.Stderr, "\r%s %d (%.0f/s)   ", p.what, done, rate)
		return
	}
	frac := min(float64(done)/float64(p.total), 1)
	const width = 30
	bar := strings.Repeat("=", int(frac*width)) + strings.Repeat(" ", width-int(frac*width))
	fmt.Fprintf(os.Stderr, "\r%s [%s] %5.1f%% %d/%d (%.0f/s)   ", p.what, bar, 100*frac, done, p.total, rate)
}

func (p *progress) done() {
	if p.tty && !p.last.IsZero() {
		fmt.Fprintln(os.Stderr)
	}
}
