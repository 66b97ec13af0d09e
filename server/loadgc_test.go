package server

import (
	"runtime/debug"
	"testing"
)

// TestLoadingGC: the load raises the GC target; overlapping loads share the
// raise and the last one restores the setting, whichever order they end in.
// With GOGC set the setting is left alone.
func TestLoadingGC(t *testing.T) {
	gcPercent := func() int {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	t.Setenv("GOGC", "")
	before := debug.SetGCPercent(77)
	defer debug.SetGCPercent(before)

	a := loadingGC()
	if got := gcPercent(); got != loadingGCPercent {
		t.Fatalf("during a load: GC percent %d, want %d", got, loadingGCPercent)
	}
	b := loadingGC()
	a()
	a() // a second call changes nothing
	if got := gcPercent(); got != loadingGCPercent {
		t.Fatalf("one of two loads done: GC percent %d, want %d", got, loadingGCPercent)
	}
	b()
	if got := gcPercent(); got != 77 {
		t.Fatalf("after the loads: GC percent %d, want 77", got)
	}

	t.Setenv("GOGC", "150")
	loadingGC()()
	if got := gcPercent(); got != 77 {
		t.Fatalf("with GOGC set: GC percent %d, want it left at 77", got)
	}
}
