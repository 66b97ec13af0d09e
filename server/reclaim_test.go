package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/server"
)

// TestReleaseMemoryAfterABurst: once appends stop for release-memory-after
// after a burst, the memtable is flushed (and freed memory returned);
// with the setting at 0 nothing is flushed.
func TestReleaseMemoryAfterABurst(t *testing.T) {
	for _, idle := range []time.Duration{50 * time.Millisecond, 0} {
		t.Run(fmt.Sprint(idle), func(t *testing.T) {
			ts := startServer(t, func(o *server.Options) { o.ReleaseMemoryAfter = idle })
			rc := ts.R2
			data := `{"text":"` + strings.Repeat("x", 16<<10) + `"}`
			flushes := func() int64 { return testkit.InfoInt(t, rc, "persistence", "log_memtable_flushes") }
			start := flushes() // opening a new folder may flush
			pipe := rc.Pipeline()
			// Half the memtable's worth of events: it does not fill.
			n := int(eventlog.DefaultOptions().MemTableSize/2) / len(data)
			for i := range n {
				pipe.Do(ctx, "EVENT.APPEND", fmt.Sprintf("doc:%d", i), "Written", data)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
			if idle == 0 {
				deadline := time.Now().Add(300 * time.Millisecond)
				for time.Now().Before(deadline) {
					if n := flushes(); n != start {
						t.Fatalf("%d flushes while idle with release-memory-after 0", n)
					}
					time.Sleep(20 * time.Millisecond)
				}
				return
			}
			testkit.WaitFor(t, "the idle flush", func() bool { return flushes() > start })
		})
	}
}

// TestReadsDoNotRelease: after a burst of appends memory is returned once;
// reads that allocate many times reclaimMin afterwards, with no append,
// return nothing more, and the next burst returns memory again.
func TestReadsDoNotRelease(t *testing.T) {
	ts := startServer(t, func(o *server.Options) { o.ReleaseMemoryAfter = 20 * time.Millisecond })
	rc := ts.R2
	data := `{"text":"` + strings.Repeat("x", 64<<10) + `"}`
	burst := func(from int) {
		pipe := rc.Pipeline()
		for i := range 400 { // 25 MiB of events, more than reclaimMin
			pipe.Do(ctx, "EVENT.APPEND", fmt.Sprintf("doc:%d", from+i), "Written", data)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	burst(0)
	testkit.WaitFor(t, "the release after the burst", func() bool { return ts.Releases() == 1 })
	// Each read allocates its 64 KiB reply: 800 of them are 50 MiB, with
	// idle spells between them.
	for i := range 800 {
		if err := rc.Do(ctx, "ENTITY.GET", "doc", fmt.Sprint(i%400)).Err(); err != nil && err.Error() != "redis: nil" {
			t.Fatal(err)
		}
		if i%100 == 99 {
			time.Sleep(30 * time.Millisecond) // idle for longer than release-memory-after
		}
	}
	if n := ts.Releases(); n != 1 {
		t.Fatalf("%d releases after reads alone, want the burst's 1", n)
	}
	burst(400)
	testkit.WaitFor(t, "the release after the second burst", func() bool { return ts.Releases() == 2 })
}
