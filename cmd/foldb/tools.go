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
)

// openOffline opens a data dir's log for a tool; a running server holds
// Pebble's lock and the tool says so.
func openOffline(dir string) (*eventlog.Log, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	opts := eventlog.DefaultOptions()
	opts.Durability = eventlog.DurabilityNone
	l, err := eventlog.Open(dir, opts)
	if err != nil && strings.Contains(err.Error(), "lock") {
		return nil, fmt.Errorf("%w (is a foldb server running on %s? stop it, or work on a copy)", err, dir)
	}
	return l, err
}

func toolLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func verifyCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check that the log is whole and that a replay equals the newest snapshot",
		Long: `Check a data directory (the server must be stopped):
  - every event record decodes, positions run 1..last without a gap, each
    stream's versions run from 1 without a gap and the index agrees;
  - the stored schema compiles;
  - a replay of the log up to the newest snapshot's position gives exactly
    the snapshot's entities.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			l, err := openOffline(dir)
			if err != nil {
				return err
			}
			defer l.Close()
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
			fmt.Fprintf(out, "snapshot: %s (position %d, %d entities) equals a replay\n", filepath.Base(newest.Path), info.Position, info.Entities)
			fmt.Fprintln(out, "OK")
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "./data", "data directory")
	return cmd
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
}

func exportCommand() *cobra.Command {
	var dir string
	var from uint64
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the log's events to stdout as JSON Lines",
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := openOffline(dir)
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
					Data: e.Data, Meta: e.Meta, ID: e.ID, Time: e.Time})
			})
			bar.done()
			if err != nil {
				return err
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "./data", "data directory")
	cmd.Flags().Uint64Var(&from, "from", 1, "first position to export")
	return cmd
}

func importCommand() *cobra.Command {
	var dir string
	var appendMode bool
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Read JSON Lines events from stdin into a data directory, in order",
		Long: `Read events as foldb export writes them, one JSON object a line, and append
them in the file's order. Into an empty data directory every event keeps its
position, version, ID and time (a line's position and version must be the
ones it gets: a whole export). A non-empty directory is refused unless
--append is given: then events get the next positions and versions.`,
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
			n, err := importLines(l, bufio.NewReaderSize(cr, 1<<20), keep, func() { bar.set(cr.n) })
			bar.done()
			if cerr := l.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("after %d events: %w", n, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "imported %d events into %s\n", n, dir)
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

// importLines reads JSON Lines and imports them in batches.
func importLines(l *eventlog.Log, r *bufio.Reader, keep bool, tick func()) (uint64, error) {
	const batch = 10000
	var events []eventlog.Event
	var n, line uint64
	flush := func() error {
		if len(events) == 0 {
			return nil
		}
		err := l.Import(events, keep)
		n += uint64(len(events))
		events = events[:0]
		tick()
		return err
	}
	dec := json.NewDecoder(r)
	for {
		var x exported
		err := dec.Decode(&x)
		if errors.Is(err, io.EOF) {
			break
		}
		line++
		if err != nil {
			return n, fmt.Errorf("line %d: %w", line, err)
		}
		e := eventlog.Event{Position: x.Position, Stream: x.Stream, Version: x.Version, Type: x.Type,
			Data: x.Data, Meta: x.Meta, ID: x.ID, Time: x.Time}
		if len(e.Meta) == 0 || string(e.Meta) == "null" {
			e.Meta = nil
		}
		if e.Time == 0 {
			e.Time = time.Now().UnixMilli()
		}
		events = append(events, e)
		if len(events) >= batch {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
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
