package eventlog

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// When the disk fails under the log (ENOSPC, EIO, the data folder removed),
// the log fails once: every later write returns ErrFailed, naming the first
// cause, and reads go on from what Pebble still reaches. The causes are a
// journal write or fdatasync (round), Pebble's background flushes and
// compactions (BackgroundError), a table Pebble cannot read
// (DataCorruption) and a Pebble Fatalf caused by the operating system.
//
// Pebble retries a failed flush or compaction at once and forever; the
// errors it reports are logged at most once every errorLogEvery, and once
// the log has failed each retry is held back by failedRetryPause, so that
// a folder that is gone costs neither the CPU nor the disk the log would
// fill. Waits on a Pebble flush end when the log fails (flushOrFail): such
// a flush never completes.

const (
	// errorLogEvery is how often a repeating Pebble error is logged.
	errorLogEvery = 10 * time.Second
	// failedRetryPause holds back each of Pebble's retries after the log
	// has failed. Pebble calls BackgroundError holding its mutex, which
	// Close and Metrics also take: this bounds what they wait for.
	failedRetryPause = 100 * time.Millisecond
)

// errorLimiter logs an error the first time, then at most once every
// errorLogEvery, with how many were left out since the last one logged.
type errorLimiter struct {
	mu      sync.Mutex
	last    time.Time
	dropped int
}

func (e *errorLimiter) log(l *slog.Logger, msg string, args ...any) {
	e.mu.Lock()
	now := time.Now()
	if !e.last.IsZero() && now.Sub(e.last) < errorLogEvery {
		e.dropped++
		e.mu.Unlock()
		return
	}
	dropped := e.dropped
	e.last, e.dropped = now, 0
	e.mu.Unlock()
	if dropped > 0 {
		args = append(args, "left_out", dropped)
	}
	l.Error(msg, args...)
}

// listen has the log fail on Pebble's background errors and damaged
// tables, instead of Pebble's default of logging each one (and of a Fatalf,
// which panics, for a damaged table).
func (l *Log) listen(el *pebble.EventListener) {
	el.BackgroundError = func(err error) {
		retry := l.Err() != nil
		l.pebbleError(fmt.Sprintf("background error: %v", err), err)
		if retry {
			time.Sleep(failedRetryPause)
		}
	}
	el.DataCorruption = func(info pebble.DataCorruptionInfo) {
		l.pebbleError(fmt.Sprintf("unreadable table %s: %v", info.Path, info.Details), info.Details)
	}
}

// pebbleError logs one of Pebble's errors, rate-limited, and fails the log
// with it when cause is not nil.
func (l *Log) pebbleError(msg string, cause error) {
	l.pebbleErrors.log(l.log, msg, "component", "pebble")
	if cause != nil {
		l.fail(fmt.Errorf("pebble, data folder %s: %w", l.dir, cause))
	}
}

// osError returns the first of args that is, or wraps, an error of the
// operating system: what a failing disk gives.
func osError(args []any) error {
	for _, a := range args {
		err, ok := a.(error)
		if !ok {
			continue
		}
		var errno syscall.Errno
		var pe *fs.PathError
		var le *os.LinkError
		if errors.As(err, &errno) || errors.As(err, &pe) || errors.As(err, &le) {
			return err
		}
	}
	return nil
}

// flushOrFail flushes Pebble's memtables and waits for it, or for the log
// to fail: a flush that cannot write never ends. Once the log is closing,
// it returns ErrClosed without starting one (Pebble panics on a flush of a
// closed DB).
func (l *Log) flushOrFail() error {
	if err := l.Err(); err != nil {
		return err
	}
	l.flushMu.Lock()
	if l.dbClosing {
		l.flushMu.Unlock()
		return ErrClosed
	}
	done, err := l.db.AsyncFlush()
	l.flushMu.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-l.failedCh:
		return l.Err()
	}
}

// syncFault, when set, is called before each journal fdatasync and its
// error returned instead: tests inject a failing fsync with it.
var syncFault atomic.Pointer[func(*os.File) error]

func injectedSyncFault(f *os.File) error {
	if fn := syncFault.Load(); fn != nil {
		return (*fn)(f)
	}
	return nil
}
