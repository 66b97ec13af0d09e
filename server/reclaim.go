package server

import (
	"errors"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/foldb/foldb/eventlog"
)

// reclaimMin is how many bytes must have been allocated since the last
// release for an idle spell to release memory again.
const reclaimMin = 16 << 20

// reclaim returns memory to the system after a burst of appends. Go keeps
// the heap a load grew to, with the garbage the load left (the tables'
// growth, Pebble's flushed memtables, request buffers), and its scavenger
// hands it back only slowly, so right after a load the process holds far
// more than its state; and Pebble's memtable holds the last appends until
// it fills. Once no append has landed for idle, after appends landed and at
// least reclaimMin bytes were allocated since the last release, it flushes
// the memtable to Pebble's tables (freeing it), runs a collection and
// returns the freed pages (debug.FreeOSMemory), on this goroutine: the
// loop and the writer go on meanwhile. It ends with the server.
//
// Reads alone never release: they allocate too (a query's plan and
// results), and under a steady load of reads a release after every
// reclaimMin of them would force a full collection of the whole state
// again and again, each taking a CPU from the queries for as long as it
// marks, and hand back pages the next reads fault in again.
func (s *Server) reclaim(idle time.Duration) {
	if idle <= 0 {
		return
	}
	tick := time.NewTicker(max(idle/4, 10*time.Millisecond))
	defer tick.Stop()
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	allocated := func() uint64 {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return sample[0].Value.Uint64()
	}
	released := allocated()
	last, lastChange := s.elog.LastPosition(), time.Now()
	s.releasedAt.Store(last) // nothing to release of what was there before
	for {
		select {
		case <-s.done:
			return
		case now := <-tick.C:
			if pos := s.elog.LastPosition(); pos != last {
				last, lastChange = pos, now
				continue
			}
			if now.Sub(lastChange) < idle || s.loading.Load() || s.stopping.Load() || s.elog.Err() != nil {
				continue
			}
			s.idleLooks.Add(1)
			if last == s.releasedAt.Load() {
				continue // nothing appended since the last release
			}
			if a := allocated(); a-released >= reclaimMin {
				if err := s.elog.Flush(); err != nil && !errors.Is(err, eventlog.ErrClosed) {
					s.log.Warn("flushing the log's memtable to release memory failed", "err", err)
				}
				debug.FreeOSMemory()
				released = allocated()
				s.releasedAt.Store(last)
				s.releases.Add(1)
			}
		}
	}
}
