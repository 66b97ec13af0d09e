//go:build amd64 || arm64

package state

// prefetch asks the CPU to bring the cache line at p in ahead of its use;
// it never faults, whatever p is.
//
//go:noescape
func prefetch(p *byte)
