package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/internal/testkit"
	"github.com/foldb/foldb/server"
	"github.com/redis/go-redis/v9"
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

// TestReadsDoNotRelease: once memory was returned after the appends that
// landed, reads that allocate many times reclaimMin, with idle spells
// between them, return nothing more; appends after them make the next
// release.
func TestReadsDoNotRelease(t *testing.T) {
	ts := startServer(t, func(o *server.Options) { o.ReleaseMemoryAfter = 20 * time.Millisecond })
	rc := ts.R2
	data := `{"text":"` + strings.Repeat("x", 64<<10) + `"}`
	// Each read allocates its 64 KiB reply: 100 of them are 6 MiB.
	reads := func() {
		for i := range 100 {
			if err := rc.Do(ctx, "ENTITY.GET", "doc", fmt.Sprint(i)).Err(); err != nil && err != redis.Nil {
				t.Fatal(err)
			}
		}
	}
	// burst appends 25 MiB of events, more than reclaimMin, and waits for
	// the release that covers the last of them. A release may also come in
	// the middle of the burst, at a pause of the appends; the one after
	// it may then wait for reads to allocate reclaimMin.
	burst := func(from int) {
		t.Helper()
		pipe := rc.Pipeline()
		for i := range 400 {
			pipe.Do(ctx, "EVENT.APPEND", fmt.Sprintf("doc:%d", from+i), "Written", data)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		last := uint64(testkit.InfoInt(t, rc, "persistence", "log_last_position"))
		testkit.WaitFor(t, "the release after the burst", func() bool {
			if ts.ReleasedAt() == last {
				return true
			}
			reads()
			return false
		})
	}
	burst(0)
	if s, err := rc.Do(ctx, "ENTITY.GET", "doc", "1").Text(); err != nil || len(s) < 64<<10 {
		t.Fatalf("ENTITY.GET doc 1: %d bytes, %v; the reads would allocate little", len(s), err)
	}
	n := ts.Releases()
	for range 8 { // 50 MiB of reads
		reads()
		// The log has been idle for longer than release-memory-after since
		// the burst: wait until the release's goroutine has weighed a
		// release twice after these reads.
		looks := ts.IdleLooks()
		testkit.WaitFor(t, "the release weighed after the reads", func() bool { return ts.IdleLooks() >= looks+2 })
	}
	if got := ts.Releases(); got != n {
		t.Fatalf("%d releases after reads alone, want none", got-n)
	}
	burst(400)
}
