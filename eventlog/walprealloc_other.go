//go:build !linux

package eventlog

import "errors"

func fallocateExtend(fd uintptr, offset, length int64) error {
	return errors.ErrUnsupported
}
