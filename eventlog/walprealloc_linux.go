package eventlog

import (
	"errors"
	"syscall"
)

// fallocateExtend is fallocate(2) with mode 0: the range is allocated and
// the file size grows to cover it.
func fallocateExtend(fd uintptr, offset, length int64) error {
	for {
		err := syscall.Fallocate(int(fd), 0, offset, length)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
