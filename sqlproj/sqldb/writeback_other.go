//go:build !linux

package sqldb

import "os"

// startWriteback does nothing where there is no sync_file_range: the
// checkpoint's sync writes all of it.
func startWriteback(*os.File) error { return nil }

const writebackSupported = false
