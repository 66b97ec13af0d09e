//go:build !amd64 && !arm64

package state

// prefetch does nothing where foldb has no assembly for it.
func prefetch(*byte) {}
