// Package dirsync makes a folder's entries durable.
package dirsync

import (
	"errors"
	"os"
)

// Sync fsyncs a folder, so that the files created, renamed or removed in it
// survive a power loss as its entries.
func Sync(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
