package snapshot

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/foldb/foldb/internal/dirsync"
	"github.com/foldb/foldb/state"
)

const (
	filePrefix = "snapshot-"
	fileSuffix = ".fsnap"
	tempPrefix = ".tmp-snapshot-"
)

// Info describes one snapshot file.
type Info struct {
	Path     string
	Position uint64
	Created  time.Time
	Size     int64
	Entities uint64
	Indexes  int           // index orders it holds; when read, those the schema declares (loaded, not built)
	Duration time.Duration // how long writing it took (0 when only read)
	Pause    time.Duration // how long writes paused for its capture
}

// Name is the file name of a snapshot at a position.
func Name(position uint64) string {
	return fmt.Sprintf("%s%020d%s", filePrefix, position, fileSuffix)
}

func parseName(name string) (uint64, bool) {
	if !strings.HasPrefix(name, filePrefix) || !strings.HasSuffix(name, fileSuffix) {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, filePrefix), fileSuffix), 10, 64)
	return n, err == nil
}

// Write writes a capture to dir as a snapshot file, crash-safely: a
// temporary file, fsync, rename, fsync of dir. dir is created if its
// parent (the data folder) exists; a data folder that was removed is not
// made again.
func Write(dir string, c *state.Capture) (Info, error) {
	start := time.Now()
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return Info{}, fmt.Errorf("snapshot: %w", err)
	}
	tmp, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return Info{}, err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	n, err := encode(tmp, c, start)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Info{}, fmt.Errorf("snapshot: write: %w", err)
	}
	final := filepath.Join(dir, Name(c.Position))
	if err := os.Rename(tmp.Name(), final); err != nil {
		return Info{}, fmt.Errorf("snapshot: rename: %w", err)
	}
	if err := dirsync.Sync(dir); err != nil {
		return Info{}, fmt.Errorf("snapshot: sync %s: %w", dir, err)
	}
	st, err := os.Stat(final)
	if err != nil {
		return Info{}, err
	}
	ix := 0
	for _, t := range c.Types {
		ix += len(t.Indexes)
	}
	return Info{Path: final, Position: c.Position, Created: start, Size: st.Size(), Entities: n, Indexes: ix, Duration: time.Since(start)}, nil
}

// List returns the snapshot files in dir by name, newest position first.
// It does not open them.
func List(dir string) ([]Info, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, e := range entries {
		pos, ok := parseName(e.Name())
		if !ok || e.IsDir() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, Info{Path: filepath.Join(dir, e.Name()), Position: pos, Size: fi.Size(), Created: fi.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Position > out[j].Position })
	return out, nil
}

// Prune deletes all but the newest keep snapshots and any temporary files
// left by a crash.
func Prune(dir string, keep int) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			errs = append(errs, os.Remove(filepath.Join(dir, e.Name())))
		}
	}
	list, err := List(dir)
	if err != nil {
		return err
	}
	for i := keep; i < len(list); i++ {
		errs = append(errs, os.Remove(list[i].Path))
	}
	return errors.Join(errs...)
}

// Read reads a whole snapshot into a store for schema. It fails if the
// snapshot is damaged, of a newer format or of another schema.
func Read(path string, schema *state.Schema) (*state.Store, Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Info{}, err
	}
	defer f.Close()
	fr := &frameReader{r: bufio.NewReaderSize(f, 1<<20)}
	h, err := readHeader(fr)
	if err != nil {
		return nil, Info{}, err
	}
	if h.SchemaHash != schema.Hash {
		return nil, Info{}, fmt.Errorf("%w: it was taken with schema %.12s, the schema in force is %.12s", ErrOtherSchema, h.SchemaHash, schema.Hash)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, Info{}, err
	}
	s, n, ix, err := decode(fr, h, schema, fi.Size())
	if err != nil {
		return nil, Info{}, err
	}
	return s, Info{Path: path, Position: h.Position, Created: h.Created, Entities: n, Indexes: ix, Size: fi.Size()}, nil
}

// ErrOtherSchema is returned for a snapshot taken under another schema.
var ErrOtherSchema = errors.New("snapshot: other schema")

// LoadNewest reads the newest snapshot in dir that is whole, of this
// schema and not past the log's last position. Every snapshot it skips gets
// a log line saying why. It returns nil when none will do.
func LoadNewest(dir string, schema *state.Schema, last uint64, logger *slog.Logger) (*state.Store, *Info) {
	list, err := List(dir)
	if err != nil {
		logger.Warn("cannot list snapshots; replaying the whole log", "dir", dir, "err", err)
		return nil, nil
	}
	for _, c := range list {
		if c.Position > last {
			logger.Warn("snapshot skipped: it is past the end of the log", "file", c.Path, "position", c.Position, "log_position", last)
			continue
		}
		start := time.Now()
		s, info, err := Read(c.Path, schema)
		if err != nil {
			logger.Warn("snapshot skipped", "file", c.Path, "reason", err.Error())
			continue
		}
		logger.Info("snapshot loaded", "file", c.Path, "position", info.Position, "entities", info.Entities, "indexes", info.Indexes, "seconds", fmt.Sprintf("%.2f", time.Since(start).Seconds()))
		return s, &info
	}
	return nil, nil
}
