package eventlog

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// preallocate makes f size bytes long with its blocks allocated
// (fallocate mode 0), so that writes inside it change no file length and
// their fdatasync has only the data to write. On ext4 that made the
// fdatasync of a small round markedly cheaper on the bench machine
// (BENCHMARKS.md, "WAL preallocated into its length"). A file system
// without fallocate keeps a growing file.
func preallocate(f *os.File, size int64) error {
	err := onFd(f, func(fd int) error { return unix.Fallocate(fd, 0, 0, size) })
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return nil
	}
	return err
}

// fdatasync writes f's data, and the metadata needed to read it, to disk.
func fdatasync(f *os.File) error {
	if err := injectedSyncFault(f); err != nil {
		return err
	}
	return onFd(f, unix.Fdatasync)
}

// folderWatch tells whether the journal's segment being written, or its
// folder, was deleted (the data folder removed under a running server):
// the fdatasync of a file that no folder holds succeeds, but what it holds
// is lost at close. It is an inotify watch on the folder, read without
// waiting after each fdatasync: the kernel queues the event during the
// unlink or rmdir, so every removal that ended before the read is seen,
// for one system call that finds nothing (an fstat of the segment after
// each fdatasync cost the one-client append about a quarter of its rate
// on the bench machine).
type folderWatch struct {
	mu   sync.Mutex
	fd   int
	gone bool
	buf  [4096]byte
}

// watchFolder starts watching dir; nil when inotify is not available.
func watchFolder(dir string) *folderWatch {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_DELETE|unix.IN_DELETE_SELF); err != nil {
		unix.Close(fd)
		return nil
	}
	return &folderWatch{fd: fd}
}

// removed reports whether the segment named current, or the folder, was
// deleted since the watch began. The events of older segments (the
// retirer deletes them) are passed over.
func (w *folderWatch) removed(current string) bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for !w.gone {
		n, err := unix.Read(w.fd, w.buf[:])
		if err != nil || n <= 0 {
			return w.gone // EAGAIN: nothing more
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&w.buf[off]))
			name := w.buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if ev.Mask&(unix.IN_DELETE_SELF|unix.IN_IGNORED) != 0 || string(name) == current {
				w.gone = true
			}
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
	}
	return true
}

func (w *folderWatch) close() {
	if w != nil {
		unix.Close(w.fd)
	}
}

// onFd makes a system call on f's descriptor, again while it is
// interrupted.
func onFd(f *os.File, call func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if cerr = call(int(fd)); !errors.Is(cerr, unix.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	return cerr
}
