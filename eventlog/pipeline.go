package eventlog

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
// At most one round is fsynced and one waits, staged, for the syncer:
// the rounds then grow with the load instead of their number. A round
// with ops, or one the watcher serves waiting readers in, is staged only
// once nothing is in flight, so that what it reads of the log
// (OpBatch.Committed and the Log's reads) is everything before it.

// flight is a staged round on its way to being landed.
type flight struct {
	subs      []*submission
	last      uint64 // the newest position after the round
	staged    int    // appends staged
	sync      bool   // the journal holds a record of it, not yet fsynced
	committed bool   // in the journal and Pebble's memtable
	err       error  // it failed while staged
	after     []func(error)
	afterErr  error
}

// pipeline is the writer's rounds in flight.
type pipeline struct {
	syncing *flight // its fdatasync runs on the syncer
	ready   *flight // staged, waiting for syncing to land
	// spare flights and their submission slices, reused
	spare []*flight
}

func (p *pipeline) idle() bool { return p.syncing == nil && p.ready == nil }

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
	w := &l.w
	p := &l.pipe
	var pending *submission // an Exclusive that ended the previous gather
	for {
		var first *submission
		switch {
		case pending != nil:
			first, pending = pending, nil
		case p.ready != nil:
			l.landSyncing(<-l.synced) // nothing is staged until a slot frees
			continue
		case p.syncing != nil:
			select {
			case s, ok := <-l.subs:
				if !ok {
					l.drain()
					return
				}
				first = s
			case err := <-l.synced:
				l.landSyncing(err)
				continue
			}
		default:
			s, ok := <-l.subs
			if !ok {
				return
			}
			first = s
		}
		if first.fn != nil {
			l.drain()
			l.roundMu.Lock()
			first.err = first.fn(l.last.Load())
			l.roundMu.Unlock()
			first.done <- struct{}{}
			continue
		}
		subs := append(w.subs[:0], first)
		n := len(first.appends) + len(first.ops)
	gather:
		for n < l.opts.MaxRoundEvents {
			select {
			case s, ok := <-l.subs:
				if !ok {
					break gather
				}
				if s.fn != nil {
					pending = s
					break gather
				}
				subs = append(subs, s)
				n += len(s.appends) + len(s.ops)
			default:
				break gather
			}
		}
		syncNow := l.syncReq == nil
		if l.needsDrain(subs) {
			l.drain()
			syncNow = true // as before the pipeline: nothing to overlap with
		}
		f := p.take()
		f.subs = append(f.subs[:0], subs...)
		clear(subs)
		w.subs = subs[:0]
		l.roundMu.Lock()
		l.stageRound(f.subs, f, syncNow)
		if f.sync {
			l.flying.Store(true)
		}
		l.roundMu.Unlock()
		switch {
		case f.sync && p.syncing == nil && p.ready == nil:
			p.syncing = f
			l.syncReq <- struct{}{}
		case p.idle():
			l.finish(f, nil)
		default:
			p.ready = f // answered after the round before it, in order
		}
	}
}

// needsDrain reports whether a round must wait for the rounds in flight:
// it has ops, or the watcher serves waiting readers with it.
func (l *Log) needsDrain(subs []*submission) bool {
	if l.watcher != nil && l.watcher.Waiting() {
		return true
	}
	for _, s := range subs {
		if len(s.ops) > 0 {
			return true
		}
	}
	return false
}

// drain lands every round in flight.
func (l *Log) drain() {
	for !l.pipe.idle() {
		if l.pipe.syncing == nil { // only a ready round that needs no fsync
			f := l.pipe.ready
			l.pipe.ready = nil
			l.finish(f, nil)
			continue
		}
		l.landSyncing(<-l.synced)
	}
}

// landSyncing lands the round whose fdatasync ended with err, then starts
// the next one's.
func (l *Log) landSyncing(err error) {
	p := &l.pipe
	f := p.syncing
	p.syncing = nil
	if err != nil {
		err = l.fail(err)
	}
	l.finish(f, err)
	for p.ready != nil && p.syncing == nil {
		next := p.ready
		p.ready = nil
		if next.sync && l.Err() == nil { // after a failure it fails unsynced
			p.syncing = next
			l.syncReq <- struct{}{}
			break
		}
		l.finish(next, nil)
	}
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
			s.appends, s.ops, s.notify = nil, nil, nil
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
