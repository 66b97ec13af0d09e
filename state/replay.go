package state

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/foldb/foldb/eventlog"
)

// replay folds events from..to into s (direct mode), publishing progress
// from p onwards and logging it every couple of seconds. A published
// Progress is never written again, so readers need no lock. It returns the
// number of events folded.
func (e *Engine) replay(s *Store, from, to uint64, p Progress) (uint64, error) {
	e.progress.Store(&p)
	if to < from {
		return 0, nil
	}
	if e.stopped.Load() {
		return 0, ErrStopped
	}
	k := min(runtime.GOMAXPROCS(0), len(s.schema.Types)+1)
	if to-from < parallelReplayMin {
		k = 1
	}
	shards := []*Store{s}
	if k > 1 {
		shards = s.split(k)
	}
	lastLog := time.Now()
	var n uint64
	err := e.scanAhead(from, to, shards, func(done uint64) error {
		n = done
		if e.stopped.Load() {
			return ErrStopped
		}
		np := p
		np.Done = p.Done + n
		e.progress.Store(&np)
		if time.Since(lastLog) >= 2*time.Second {
			lastLog = time.Now()
			pct := 100 * float64(np.Done) / float64(max(np.Total, 1))
			e.logger.Info(p.What, "events", np.Done, "of", np.Total, "percent", fmt.Sprintf("%.1f", pct), "events_per_sec", int64(np.PerSec()))
		}
		return nil
	})
	if k > 1 {
		s.merge(shards)
	}
	if err == nil {
		err = s.upcastFailure()
	}
	return n, err
}

// parallelReplayMin is the fewest events worth a parallel replay.
var parallelReplayMin uint64 = 1 << 14 // a variable for the tests

// readBatch is a run of events read ahead, their bytes copied into buf.
type readBatch struct {
	events []eventlog.Event
	buf    []byte
	left   atomic.Int32 // shards yet to fold it
}

const readBatchEvents = 512

// scanAhead folds events from..to into shards, each on a goroutine of its
// own, while another goroutine reads and decodes the log a few batches
// ahead: a replay keeps every CPU busy. Every shard folds every event (it
// skips the projections it does not own). progress is called on the
// calling goroutine after each batch with the events all shards have
// folded; an error from it stops the replay.
func (e *Engine) scanAhead(from, to uint64, shards []*Store, progress func(done uint64) error) error {
	const ahead = 8
	full := make([]chan *readBatch, len(shards))
	for i := range full {
		full[i] = make(chan *readBatch, ahead)
	}
	free := make(chan *readBatch, ahead)
	for range ahead {
		free <- &readBatch{}
	}
	folded := make(chan *readBatch, ahead*len(shards))
	quit := make(chan struct{}) // closed when the fold stops early

	var readErr error
	go func() {
		defer func() {
			for _, c := range full {
				close(c)
			}
		}()
		send := func(b *readBatch) bool {
			b.left.Store(int32(len(shards)))
			for _, c := range full {
				select {
				case c <- b:
				case <-quit:
					return false
				}
			}
			return true
		}
		b := <-free
		readErr = e.log.Scan(from, to, func(ev *eventlog.Event) error {
			b.add(ev)
			if len(b.events) < readBatchEvents {
				return nil
			}
			if !send(b) {
				return ErrStopped
			}
			select {
			case b = <-free:
			case <-quit:
				return ErrStopped
			}
			b.events, b.buf = b.events[:0], b.buf[:0]
			return nil
		})
		if readErr == nil && len(b.events) > 0 {
			send(b)
		}
	}()

	var wg sync.WaitGroup
	for i, sh := range shards {
		wg.Go(func() {
			for b := range full[i] {
				for j := range b.events {
					sh.Apply(&b.events[j])
				}
				if b.left.Add(-1) == 0 {
					folded <- b
				}
			}
		})
	}
	go func() { wg.Wait(); close(folded) }()

	var err error
	done := uint64(0)
	for b := range folded {
		if err != nil {
			continue
		}
		done += uint64(len(b.events))
		if err = progress(done); err != nil {
			close(quit) // once: err stays set, so progress runs no more
			continue
		}
		free <- b
	}
	if err != nil {
		return err
	}
	return readErr
}

// add copies an event into the batch. Its strings and slices point into
// buf; when buf grows they keep pointing into the old array, which holds
// the same bytes and is never written again.
func (b *readBatch) add(ev *eventlog.Event) {
	c := *ev
	c.Stream = bytesView(b.copy([]byte(ev.Stream)))
	c.ID = bytesView(b.copy([]byte(ev.ID)))
	c.Data = b.copy(ev.Data)
	if ev.Meta != nil {
		c.Meta = b.copy(ev.Meta)
	}
	b.events = append(b.events, c)
}

func (b *readBatch) copy(p []byte) []byte {
	start := len(b.buf)
	b.buf = append(b.buf, p...)
	return b.buf[start:len(b.buf):len(b.buf)]
}

func bytesView(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// split divides a store in direct mode into k shards that fold disjoint
// sets of projections, for a parallel replay: the declared types are dealt
// out in turn, the default projection goes to the last shard, and each
// shard takes the tables of what it owns out of s. A projection reads only
// its own entity and the event, so the shards can fold the same events at
// once; merge puts the tables back.
func (s *Store) split(k int) []*Store {
	shards := make([]*Store, k)
	for i := range shards {
		sub := *s.schema
		sub.byCategory = map[string][]*EntityType{}
		sub.byEvent = map[string][]*EntityType{}
		sh := NewStore(&sub)
		sh.noDefault = s.noDefault || i != k-1
		sh.indexesOn = s.indexesOn
		sh.pos = s.pos
		shards[i] = sh
	}
	owner := map[*EntityType]*Store{}
	for i, t := range s.schema.Types {
		owner[t] = shards[i%k]
	}
	for cat, ts := range s.schema.byCategory {
		for _, t := range ts {
			sc := owner[t].schema
			sc.byCategory[cat] = append(sc.byCategory[cat], t)
		}
	}
	for typ, ts := range s.schema.byEvent {
		for _, t := range ts {
			sc := owner[t].schema
			sc.byEvent[typ] = append(sc.byEvent[typ], t)
		}
	}
	byName := map[string]*Store{}
	for t, sh := range owner {
		byName[t.Name] = sh
	}
	for name, t := range s.tables {
		sh, ok := byName[name]
		if !ok {
			sh = shards[k-1] // a default projection's category
		}
		sh.tables[name] = t
	}
	clear(s.tables)
	return shards
}

// merge takes the shards' tables and counts back into s.
func (s *Store) merge(shards []*Store) {
	for _, sh := range shards {
		for name, t := range sh.tables {
			s.tables[name] = t
		}
		s.pos = max(s.pos, sh.pos)
		if n := sh.projectionErrors.Load(); n > 0 {
			s.projectionErrors.Add(n)
			s.firstProjErr.CompareAndSwap(nil, sh.firstProjErr.Load())
		}
		if n := sh.upcastErrors.Load(); n > 0 {
			s.upcastErrors.Add(n)
			s.firstUpcastErr.CompareAndSwap(nil, sh.firstUpcastErr.Load())
		}
	}
}
