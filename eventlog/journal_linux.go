package eventlog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

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
// A file that no folder holds any more (the data folder was removed) is
// an error even when the fdatasync succeeds: what it holds is lost at
// close.
func fdatasync(f *os.File) error {
	if err := injectedSyncFault(f); err != nil {
		return err
	}
	if err := onFd(f, unix.Fdatasync); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := onFd(f, func(fd int) error { return unix.Fstat(fd, &st) }); err != nil {
		return err
	}
	if st.Nlink == 0 {
		return fmt.Errorf("%s: %w (was the data folder removed?)", f.Name(), fs.ErrNotExist)
	}
	return nil
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
