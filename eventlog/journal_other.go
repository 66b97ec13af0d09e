//go:build !linux

package eventlog

import "os"

// preallocate does nothing here: the segment grows as it is written.
func preallocate(f *os.File, size int64) error { return nil }

// fdatasync is a full fsync where fdatasync is not offered.
func fdatasync(f *os.File) error {
	if err := injectedSyncFault(f); err != nil {
		return err
	}
	return f.Sync()
}

// folderWatch is not offered here: a removed folder shows when a write to
// it fails.
type folderWatch struct{}

func watchFolder(string) *folderWatch { return nil }

func (w *folderWatch) removed(string) bool { return false }

func (w *folderWatch) close() {}
