package eventlog

import "github.com/cockroachdb/pebble/v2"

// The writer's pipeline. Under always, a round's fdatasync is most of its
// time, and the CPUs are idle meanwhile; so the writer hands the fsync to
// the syncer goroutine and stages the next round while it runs:
//
//	writer: stage+write N | stage+write N+1 | land N | stage+write N+2 | land N+1
//	syncer:                 fdatasync N ....           fdatasync N+1 ....
//
// A round is committed to Pebble's memtable (not durable, not visible)
// when it is written to the journal, so that the next round's EXPECT,
// idempotency and guards see it: the state stages it on top of the sealed
// round before (Applier.Seal), and the writer's version cache has it. It
// is landed (published, then answered) only after its own fdatasync, in
// order, so always still means "on disk before the reply and before any
// reader or subscriber sees it": reads stop at the published position
// (Log.Version, Read, Scan, ScanSubset). A failed fsync fails its round
// and every round staged after it (land checks Err), and the log refuses
// writes, as before.
//
// One round is fsynced at a time. While it is, the next round stays open:
// each submission that arrives is staged into it at once, so the staging
// overlaps the fsync and the round grows with the load; when the fsync
// ends, the round before is landed and the open one is closed (written,
// committed) and handed to the syncer. A submission with ops, one the
// watcher serves waiting readers with, and an Exclusive wait until nothing
// is in flight, and such a round is fsynced inline, so that what it reads
// of the log (OpBatch.Committed and the Log's reads) is everything before
// it.

// flight is a round on its way: open (being staged), then fsynced, then
// landed.
type flight struct {
	subs      []*submission
	start     uint64 // the newest position before the round
	last      uint64 // the newest position after the round
	events    int    // appends and ops submitted into it
	staged    int    // appends staged
	sync      bool   // the journal holds a record of it, not yet fsynced
	committed bool   // in the journal and Pebble's memtable
	err       error  // it failed while staged
	after     []func(error)
	afterErr  error

	inline bool // fsynced on the writer when it closes

	// While open (beginRound to endRound).
	batch  *pebble.Batch
	failed error // the log's error when it opened
	now    int64
}

// pipeline is the writer's rounds in flight.
type pipeline struct {
	open    *flight // being staged
	syncing *flight // its fdatasync runs on the syncer
	spare   []*flight
}

func (p *pipeline) idle() bool { return p.open == nil && p.syncing == nil }

func (p *pipeline) take() *flight {
	if n := len(p.spare); n > 0 {
		f := p.spare[n-1]
		p.spare = p.spare[:n-1]
		return f
	}
	return &flight{}
}

// syncer runs the journal's fdatasyncs that the writer hands it, one at a
// time, and reports each one's result.
func (l *Log) syncer() {
	defer l.writerWG.Done()
	for range l.syncReq {
		if l.beforeSync != nil {
			if err := l.beforeSync(); err != nil {
				l.synced <- err
				continue
			}
		}
		l.synced <- l.journal.sync()
	}
}

// writer is the log's one writer goroutine.
func (l *Log) writer() {
	defer l.writerWG.Done()
	if l.syncReq != nil {
		defer close(l.syncReq)
	}
	p := &l.pipe
	pipelined := l.syncReq != nil
	var next *submission // taken from subs, not yet placed
	closed := false
	for {
		if next == nil && !closed {
			next, closed = l.nextSub(p.open != nil && p.syncing == nil)
		}
		drain := false
		if next != nil {
			l.roundMu.Lock() // the watcher's waiters change under it (AppendNow)
			drain = next.fn != nil || l.needsDrain(next)
			l.roundMu.Unlock()
		}
		switch {
		case drain:
			// It needs an empty pipeline: close the open round first.
			if p.syncing != nil {
				l.landSyncing(<-l.synced)
				continue
			}
			s := next
			if p.open != nil && s.fn == nil {
				// Everything the open round was staged on is durable now:
				// the submission joins it, and it is fsynced inline.
				next = nil
				l.roundMu.Lock()
				l.inlineOpen()
				l.stageSub(p.open, s)
				l.roundMu.Unlock()
				continue
			}
			if p.open != nil {
				l.closeOpen(pipelined)
				continue
			}
			next = nil
			if s.fn != nil {
				l.roundMu.Lock()
				s.err = s.fn(l.last.Load())
				l.roundMu.Unlock()
				s.done <- struct{}{}
				continue
			}
			l.openRound(s, true) // fsynced inline, closed once gathered
		case next != nil:
			if p.open != nil && p.open.events >= l.opts.MaxRoundEvents {
				if p.syncing != nil {
					l.landSyncing(<-l.synced)
				} else {
					l.closeOpen(pipelined)
				}
				continue
			}
			s := next
			next = nil
			if p.open == nil {
				l.openRound(s, false)
			} else {
				l.roundMu.Lock()
				l.stageSub(p.open, s)
				l.roundMu.Unlock()
			}
		case p.open != nil && p.syncing == nil:
			l.closeOpen(pipelined) // nothing more queued: the round is gathered
		case p.syncing != nil:
			if closed {
				l.landSyncing(<-l.synced)
				continue
			}
			select {
			case s, ok := <-l.subs:
				if !ok {
					closed = true
					continue
				}
				next = s
			case err := <-l.synced:
				l.landSyncing(err)
			}
		case closed:
			return
		default:
			s, ok := <-l.subs
			if !ok {
				closed = true
				continue
			}
			next = s
		}
	}
}

// nextSub takes a queued submission without waiting while gathering (a
// round is open and nothing is being fsynced); the writer's loop blocks
// where it must.
func (l *Log) nextSub(gathering bool) (*submission, bool) {
	if !gathering {
		return nil, false
	}
	select {
	case s, ok := <-l.subs:
		if !ok {
			return nil, true
		}
		return s, false
	default:
		return nil, false
	}
}

// openRound opens a round with s; an inline round (ops, or readers
// waiting) is fsynced when it closes, on the writer.
func (l *Log) openRound(s *submission, inline bool) {
	f := l.pipe.take()
	f.inline = inline
	l.roundMu.Lock()
	l.flying.Store(true)
	l.beginRound(f)
	l.stageSub(f, s)
	l.roundMu.Unlock()
	l.pipe.open = f
}

// inlineOpen makes the open round one that is fsynced inline, once
// nothing is in flight beneath it: its ops read the log up to the newest
// durable position, where it starts.
func (l *Log) inlineOpen() {
	f := l.pipe.open
	f.inline = true
	l.w.ob.committed = l.last.Load()
}

// closeOpen closes the open round: it is written and committed, and
// either handed to the syncer or, when it needs no fsync of its own (or
// had it inline), landed at once. Called when nothing is being fsynced.
func (l *Log) closeOpen(pipelined bool) {
	p := &l.pipe
	f := p.open
	p.open = nil
	l.roundMu.Lock()
	l.endRound(f, !pipelined || f.inline)
	l.roundMu.Unlock()
	if f.sync {
		p.syncing = f
		l.syncReq <- struct{}{}
		return
	}
	l.finish(f, nil)
}

// needsDrain reports whether a submission must wait for the rounds in
// flight: it has ops (of its own or in a transaction), or the watcher
// serves waiting readers with it.
func (l *Log) needsDrain(s *submission) bool {
	if len(s.ops) > 0 || (l.watcher != nil && l.watcher.Waiting()) {
		return true
	}
	for _, tx := range s.txs {
		if len(tx.Ops) > 0 {
			return true
		}
	}
	return false
}

// landSyncing lands the round whose fdatasync ended with err.
func (l *Log) landSyncing(err error) {
	p := &l.pipe
	f := p.syncing
	p.syncing = nil
	if err != nil {
		err = l.fail(err)
	}
	l.finish(f, err)
}

// finish lands f, runs its callbacks and answers its submissions.
func (l *Log) finish(f *flight, err error) {
	l.roundMu.Lock()
	l.land(f, err)
	if l.pipe.idle() {
		l.flying.Store(false)
	}
	l.roundMu.Unlock()
	runAfter(f.after, f.afterErr)
	for i, s := range f.subs {
		f.subs[i] = nil
		if notify := s.notify; notify != nil {
			s.appends, s.txs, s.ops, s.notify = nil, nil, nil, nil
			submissionPool.Put(s)
			notify()
			continue
		}
		s.done <- struct{}{}
	}
	subs := f.subs[:0]
	*f = flight{subs: subs}
	l.pipe.spare = append(l.pipe.spare, f)
}
