package snapshot

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/state"
)

// Options say where snapshots go and when they are taken.
type Options struct {
	Dir  string
	Keep int // newest snapshots kept
	// Interval takes a snapshot this long after the last one if events came
	// since; 0 never does.
	Interval time.Duration
	// Every takes a snapshot once this many events came since the last one;
	// 0 never does.
	Every uint64
}

// DefaultOptions: keep 2, every 12 hours and every 1,000,000 events.
func DefaultOptions(dir string) Options {
	return Options{Dir: dir, Keep: 2, Interval: 12 * time.Hour, Every: 1_000_000}
}

// Validate reports the first option out of range.
func (o Options) Validate() error {
	switch {
	case o.Dir == "":
		return errors.New("snapshot: dir must be set")
	case o.Keep < 1:
		return fmt.Errorf("snapshot: snapshot-keep must be at least 1, not %d", o.Keep)
	case o.Interval < 0:
		return errors.New("snapshot: snapshot-interval must not be negative")
	}
	return nil
}

// ErrInProgress is returned by BGSave while a snapshot is being written.
var ErrInProgress = errors.New("snapshot: a snapshot is already being written")

// Manager takes snapshots of an engine's state on demand and on schedule.
type Manager struct {
	opts   Options
	log    *eventlog.Log
	eng    *state.Engine
	logger *slog.Logger

	saveMu   sync.Mutex // one snapshot at a time
	running  atomic.Bool
	last     atomic.Pointer[Info] // newest snapshot on disk
	lastErr  atomic.Pointer[string]
	started  atomic.Int64 // unix nanoseconds of the save in progress
	stop     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// NewManager returns a manager; it finds the newest snapshot on disk for
// LASTSAVE and SNAPSHOT.INFO and removes temporary files a crash left.
func NewManager(opts Options, log *eventlog.Log, eng *state.Engine, logger *slog.Logger) (*Manager, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	m := &Manager{opts: opts, log: log, eng: eng, logger: logger, stop: make(chan struct{})}
	if err := Prune(opts.Dir, opts.Keep); err != nil {
		logger.Warn("cleaning the snapshot folder failed", "err", err)
	}
	if list, err := List(opts.Dir); err == nil && len(list) > 0 {
		m.last.Store(&list[0])
	}
	return m, nil
}

// Dir is where snapshots are.
func (m *Manager) Dir() string { return m.opts.Dir }

// Latest is the newest snapshot on disk, or nil.
func (m *Manager) Latest() *Info { return m.last.Load() }

// SetLatest records the snapshot the state was loaded from at start, or
// nil when none could be used (every one was skipped, or there is none):
// then the newest file on disk counts for nothing, and the next clean
// shutdown or scheduled snapshot writes a good one.
func (m *Manager) SetLatest(i *Info) { m.last.Store(i) }

// Status is what INFO shows.
type Status struct {
	InProgress bool
	Started    time.Time
	LastErr    string
}

// Status reports the snapshot in progress and the last failure.
func (m *Manager) Status() Status {
	st := Status{InProgress: m.running.Load()}
	if st.InProgress {
		st.Started = time.Unix(0, m.started.Load())
	}
	if e := m.lastErr.Load(); e != nil {
		st.LastErr = *e
	}
	return st
}

// Save takes a snapshot and returns once it is durable.
func (m *Manager) Save() (Info, error) {
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	m.running.Store(true)
	m.started.Store(time.Now().UnixNano())
	defer m.running.Store(false)
	info, err := m.save()
	if err != nil {
		msg := err.Error()
		m.lastErr.Store(&msg)
		m.logger.Error("snapshot failed", "err", err)
		return info, err
	}
	m.lastErr.Store(nil)
	return info, nil
}

func (m *Manager) save() (Info, error) {
	var c *state.Capture
	var pause time.Duration
	err := m.log.Exclusive(func(uint64) error {
		t := time.Now()
		c = m.eng.Store().Capture()
		pause = time.Since(t)
		return nil
	})
	if err != nil {
		return Info{}, err
	}
	info, err := Write(m.opts.Dir, c)
	if err != nil {
		return info, err
	}
	info.Pause = pause
	m.last.Store(&info)
	m.logger.Info("snapshot saved", "file", info.Path, "position", info.Position, "entities", info.Entities,
		"indexes", info.Indexes, "bytes", info.Size, "seconds", fmt.Sprintf("%.2f", info.Duration.Seconds()), "write_pause_us", pause.Microseconds())
	if err := Prune(m.opts.Dir, m.opts.Keep); err != nil {
		m.logger.Warn("removing old snapshots failed", "err", err)
	}
	return info, nil
}

// BGSave starts a snapshot in the background; ErrInProgress if one is
// being written.
func (m *Manager) BGSave() error {
	if m.running.Load() {
		return ErrInProgress
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.Save()
	}()
	return nil
}

// Start takes snapshots on schedule, in the background, until Close.
func (m *Manager) Start() {
	m.wg.Add(1)
	go m.run()
}

func (m *Manager) run() {
	defer m.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			if m.due() {
				m.Save()
			}
		}
	}
}

// due says whether a scheduled snapshot is due: events came since the
// last one and either enough of them or enough time.
func (m *Manager) due() bool {
	var lastPos uint64
	var lastTime time.Time
	if l := m.last.Load(); l != nil {
		lastPos, lastTime = l.Position, l.Created
	}
	pos := m.log.LastPosition()
	if pos <= lastPos {
		return false
	}
	if m.opts.Every > 0 && pos-lastPos >= m.opts.Every {
		return true
	}
	if m.opts.Interval > 0 {
		if lastTime.IsZero() {
			lastTime = m.startedAt()
		}
		return time.Since(lastTime) >= m.opts.Interval
	}
	return false
}

var processStart = time.Now()

func (m *Manager) startedAt() time.Time { return processStart }

// Close stops the schedule and waits for a snapshot in progress.
func (m *Manager) Close() {
	m.stopOnce.Do(func() { close(m.stop) })
	m.wg.Wait()
}
