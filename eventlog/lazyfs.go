package eventlog

import (
	"errors"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// lazyWALFS gives durabilities everysec and none their meaning on top of
// Pebble. The log always commits with pebble.Sync, so Pebble has written a
// round's WAL records to the OS (write(2)) before the log replies: a process
// crash (kill -9, OOM) loses nothing answered, as with Redis, which writes
// its AOF before replying. What the durability changes is the fsync: this
// file system turns the WAL files' syncs into no-ops, and the log fsyncs
// them itself once a second (everysec) or never (none). A machine crash can
// then lose what the OS had not written back: about a second of appends
// under everysec.
//
// Only WAL files are affected; tables, the manifest and the directory are
// synced as Pebble asks.
type lazyWALFS struct {
	vfs.FS

	mu    sync.Mutex
	files map[*lazyWALFile]struct{}
	// syncOnClose fsyncs a WAL file when Pebble closes it (everysec: a
	// rotated WAL must not escape the once-a-second sync).
	syncOnClose bool
}

func newLazyWALFS(fs vfs.FS, syncOnClose bool) *lazyWALFS {
	return &lazyWALFS{FS: fs, files: map[*lazyWALFile]struct{}{}, syncOnClose: syncOnClose}
}

func isWAL(name string) bool { return strings.HasSuffix(name, ".log") }

func (fs *lazyWALFS) wrap(f vfs.File, name string, err error) (vfs.File, error) {
	if err != nil || !isWAL(name) {
		return f, err
	}
	lf := &lazyWALFile{File: f, fs: fs}
	fs.mu.Lock()
	fs.files[lf] = struct{}{}
	fs.mu.Unlock()
	return lf, nil
}

func (fs *lazyWALFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	return fs.wrap(f, name, err)
}

func (fs *lazyWALFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	return fs.wrap(f, newname, err)
}

// SyncWAL fsyncs every open WAL file: the once-a-second sync of everysec,
// and the last sync of a clean close.
func (fs *lazyWALFS) SyncWAL() error {
	fs.mu.Lock()
	files := make([]*lazyWALFile, 0, len(fs.files))
	for f := range fs.files {
		files = append(files, f)
	}
	fs.mu.Unlock()
	var errs []error
	for _, f := range files {
		errs = append(errs, f.realSync())
	}
	return errors.Join(errs...)
}

type lazyWALFile struct {
	vfs.File
	fs     *lazyWALFS
	syncMu sync.Mutex
	closed bool
}

func (f *lazyWALFile) Sync() error                { return nil }
func (f *lazyWALFile) SyncData() error            { return nil }
func (f *lazyWALFile) SyncTo(int64) (bool, error) { return true, nil }

func (f *lazyWALFile) realSync() error {
	f.syncMu.Lock()
	defer f.syncMu.Unlock()
	if f.closed {
		return nil
	}
	return f.File.SyncData()
}

func (f *lazyWALFile) Close() error {
	f.fs.mu.Lock()
	delete(f.fs.files, f)
	f.fs.mu.Unlock()
	f.syncMu.Lock()
	defer f.syncMu.Unlock()
	var err error
	if f.fs.syncOnClose {
		err = f.File.SyncData()
	}
	f.closed = true
	return errors.Join(err, f.File.Close())
}
