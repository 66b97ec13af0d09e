package eventlog

import "github.com/cockroachdb/pebble/v2"

// Op is the writer's second kind of submission, beside appends: a step
// that decides a change of state the writer's rounds own (consumer groups,
// package streams) and stores it under the op keys ('g', doc.go), in the
// round's batch. The writer runs a round's ops in submission order,
// interleaved with its appends as they were submitted, and answers an op
// only once its round is durable, exactly as an append: under always, its
// changes are in the fsynced journal before Err is set and the op is
// answered (an op that answers nothing yet may say so: OpBatch.Lazy).
// Ops are decided in one deterministic step on the writer, the way a
// replicated log would apply them.
type Op struct {
	// Stage decides the op. It runs on the writer goroutine (never two at
	// once), after the appends and ops submitted before it in the same
	// round.
	//
	// It must be deterministic and must not block: it may read the state
	// that only ops change, the log's committed events (up to
	// b.Committed(), with the Log's reads) and b.Now(), and it writes
	// what it changes with b.Set and b.Delete. It returns an error to
	// refuse the op: what it wrote into b is then dropped, and it must
	// leave the state it owns as it found it.
	Stage func(b *OpBatch) error
	// Err is the op's answer: nil once what it wrote is durable (or it
	// wrote nothing), Stage's error, or the error that failed its round
	// (ErrFailed, ErrClosed). After a failed round every op of it gets the
	// round's error, refused or not: what they saw included what the
	// round staged, which the log does not hold.
	Err error
}

// Watcher sees each round's new events before the round commits, so that
// it can serve the readers that wait for them in that same round: what it
// writes into b commits with the appends, in the same journal record and
// fsync, and the callbacks it leaves with b.AfterCommit run once that
// round is durable.
type Watcher interface {
	// Staged is called on the writer after a round's appends and ops are
	// staged, when the round appends events; events are those, in position
	// order (their Data and Meta alias the appends: valid during the call
	// only). Its contract is Op.Stage's, and it cannot refuse.
	Staged(b *OpBatch, events []Event)
	// Waiting reports whether readers wait that a round's events may
	// serve. Such a round reads the log up to OpBatch.Committed, so the
	// writer stages it only once every round before it is durable
	// (pipeline.go). It is called on the writer and must be cheap.
	Waiting() bool
}

// SetWatcher installs the watcher. Call it before the first append, or from
// inside Exclusive.
func (l *Log) SetWatcher(w Watcher) { l.watcher = w }

// Do runs the ops, in the given order and typically in one round, and
// returns when every one is answered (see Op.Err).
func (l *Log) Do(ops ...*Op) {
	s := submissionPool.Get().(*submission)
	s.ops = ops
	if err := l.submit(s); err != nil {
		failOps(ops, err)
	}
	s.ops = nil
	submissionPool.Put(s)
}

// DoAsync is Do without the wait: done is called once every op is
// answered, on the writer's goroutine (or on the caller's, when none could
// be queued). done must not block; the ops must stay untouched until it is
// called.
func (l *Log) DoAsync(ops []*Op, done func()) {
	s := submissionPool.Get().(*submission)
	s.ops, s.notify = ops, done
	if err := l.enqueue(s); err != nil {
		s.ops, s.notify = nil, nil
		submissionPool.Put(s)
		failOps(ops, err)
		done()
	}
}

func failOps(ops []*Op, err error) {
	for _, op := range ops {
		op.Err = err
	}
}

// ScanOpKeys calls fn with every op key (without its prefix) and value, in
// key order, as Pebble holds them: what the ops of committed rounds wrote.
// key and value are valid only during the call. It is for loading the
// ops' state; call it before the first op or from inside Exclusive, so
// that no round changes the keys meanwhile. On a log opened read-only it
// sees the journal's rounds past Pebble's tables too, as the next open
// would apply them.
func (l *Log) ScanOpKeys(fn func(key, value []byte) error) error {
	it, err := l.newIter(&pebble.IterOptions{LowerBound: []byte{prefixOp}, UpperBound: []byte{prefixOp + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if err := fn(it.Key()[1:], v); err != nil {
			return err
		}
	}
	return it.Error()
}

// OpBatch is what an op's Stage and the Watcher write into: the round's
// Pebble batch, seen through the op keys, and the round's clock and
// starting point. It is valid only during the call it is given to.
type OpBatch struct {
	batch     *pebble.Batch
	now       int64
	committed uint64
	// The current op's writes, added to batch when it is not refused:
	// kind, key and value of each, end to end in buf.
	buf    []byte
	writes []opWrite
	key    []byte
	// wrote: the round's batch has op keys, so the round must commit even
	// without events. durable: an op of the round answers (one that is not
	// Lazy, writing or not) or the watcher wrote, so under always the round
	// needs an fsync. lazy: the current op called Lazy.
	wrote, durable, lazy bool
	after                []func(error)
}

type opWrite struct {
	kind       byte
	at, kl, vl int
}

const (
	opSet byte = iota
	opDelete
	opDeletePrefix
)

// Now is the round's clock (unix milliseconds), the time of every append
// and op of the round.
func (b *OpBatch) Now() int64 { return b.now }

// Committed is the newest position committed before the round: what the
// log's reads show an op. Events the round appends are not among them.
func (b *OpBatch) Committed() uint64 { return b.committed }

// Set stores value under the op key key.
func (b *OpBatch) Set(key, value []byte) { b.add(opSet, key, value) }

// Delete removes the op key key.
func (b *OpBatch) Delete(key []byte) { b.add(opDelete, key, nil) }

// DeletePrefix removes every op key that starts with prefix (non-empty).
func (b *OpBatch) DeletePrefix(prefix []byte) { b.add(opDeletePrefix, prefix, nil) }

// AfterCommit leaves fn to be called once the round has committed (err
// nil: durable) or failed (err), on the goroutine that ran the round,
// after the round; fn must not block. A refused op's callbacks are
// dropped with its writes.
func (b *OpBatch) AfterCommit(fn func(err error)) { b.after = append(b.after, fn) }

// Lazy says that the current op answers nothing yet, so its writes need
// not be durable before it is answered: a reader that found nothing and
// registers to wait. Under always, a round of lazy ops only, appending no
// event, is written to the journal without an fsync and lands at once.
// The next round that answers anything is fsynced, even one that writes
// nothing (a read of the state the lazy op changed), and the journal is
// written in order, so that fsync makes the lazy writes durable with it:
// no answer ever shows a lazy write a crash could take back. Whatever
// later answers the op writes again, in a round of its own.
func (b *OpBatch) Lazy() { b.lazy = true }

func (b *OpBatch) add(kind byte, key, value []byte) {
	b.writes = append(b.writes, opWrite{kind, len(b.buf), len(key), len(value)})
	b.buf = append(append(b.buf, key...), value...)
}

// begin starts a round.
func (b *OpBatch) begin(batch *pebble.Batch, now int64, committed uint64) {
	b.batch, b.now, b.committed = batch, now, committed
	b.wrote, b.durable, b.lazy = false, false, false
	b.buf, b.writes = b.buf[:0], b.writes[:0]
}

// run stages one op and adds its writes to the batch unless it is refused.
func (b *OpBatch) run(op *Op) error {
	after := len(b.after)
	err := op.Stage(b)
	if err != nil {
		b.buf, b.writes = b.buf[:0], b.writes[:0]
		clear(b.after[after:])
		b.after = b.after[:after]
	}
	b.flush()
	b.durable = b.durable || !b.lazy // it answers, writing or not
	b.lazy = false
	return err
}

// flush adds the writes made since the last flush to the batch. Every key
// gets the op prefix, so that ops never touch the log's own keys.
func (b *OpBatch) flush() {
	for _, w := range b.writes {
		b.key = append(append(b.key[:0], prefixOp), b.buf[w.at:w.at+w.kl]...)
		switch w.kind {
		case opSet:
			b.batch.Set(b.key, b.buf[w.at+w.kl:w.at+w.kl+w.vl], nil)
		case opDelete:
			b.batch.Delete(b.key, nil)
		case opDeletePrefix:
			end := prefixEnd(b.key)
			b.batch.DeleteRange(b.key, end, nil)
		}
		b.wrote = true
		b.durable = b.durable || !b.lazy
	}
	b.buf, b.writes = b.buf[:0], b.writes[:0]
}

// takeAfter returns the round's callbacks and forgets them, so that they
// can run after the round without racing the next one.
func (b *OpBatch) takeAfter() []func(error) {
	if len(b.after) == 0 {
		return nil
	}
	after := b.after
	b.after = nil
	return after
}

func runAfter(after []func(error), err error) {
	for _, fn := range after {
		fn(err)
	}
}
