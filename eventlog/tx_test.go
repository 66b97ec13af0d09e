package eventlog

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func expect(v uint64) Expect { return Expect{ExpectVersion, v} }

// TestAppendTx: a transaction's appends are written together, each seeing
// the ones before it; one refusal writes nothing of it and leaves the
// applier as it was; a watched stream that moved writes nothing.
func TestAppendTx(t *testing.T) {
	l := openTest(t, DefaultOptions())
	rec := &recorder{}
	l.SetApplier(rec)
	appendOne(l, Append{Stream: "a:1", Events: []Proposed{ev("Ok", `{}`)}})

	steps := []struct {
		name    string
		tx      func() *Tx
		refused int
		err     string // the refused append's error
		moved   bool
		results string // each append's version@position, "-" for none
		last    uint64
	}{
		{"two streams, the second EXPECT sees the first", func() *Tx {
			return &Tx{Appends: []*Append{
				{Stream: "a:1", Expect: expect(1), Events: []Proposed{ev("Ok", `{}`)}},
				{Stream: "b:1", Expect: Expect{Kind: ExpectNew}, Events: []Proposed{ev("Ok", `{}`), ev("Ok", `{}`)}},
				{Stream: "a:1", Expect: expect(2), Events: []Proposed{ev("Ok", `{}`)}},
			}}
		}, -1, "", false, "2@2 2@4 3@5", 5},
		{"a wrong version writes nothing", func() *Tx {
			return &Tx{Appends: []*Append{
				{Stream: "a:1", Events: []Proposed{ev("Ok", `{}`)}},
				{Stream: "b:1", Expect: expect(1), Events: []Proposed{ev("Ok", `{}`)}},
			}}
		}, 1, "expected 1 but b:1 is at version 2", false, "- -", 5},
		{"a guard's refusal writes nothing", func() *Tx {
			return &Tx{Appends: []*Append{
				{Stream: "a:1", Events: []Proposed{ev("Ok", `{}`)}},
				{Stream: "c:1", Events: []Proposed{ev("Ok", `{}`)}},
				{Stream: "b:1", Events: []Proposed{ev("Reject", `{}`)}},
			}}
		}, 2, "rejected", false, "- - -", 5},
		{"invalid data writes nothing", func() *Tx {
			return &Tx{Appends: []*Append{
				{Stream: "a:1", Events: []Proposed{ev("Ok", `{}`)}},
				{Stream: "b:1", Events: []Proposed{ev("Ok", `[1]`)}},
			}}
		}, 1, "event data must be a JSON object", false, "- -", 5},
		{"a watched stream that moved", func() *Tx {
			return &Tx{Watch: []Watched{{"a:1", 3}, {"b:1", 1}}, Appends: []*Append{
				{Stream: "a:1", Events: []Proposed{ev("Ok", `{}`)}},
			}}
		}, -1, "", true, "-", 5},
		{"watched streams that did not move", func() *Tx {
			return &Tx{Watch: []Watched{{"a:1", 3}, {"b:1", 2}, {"z:1", 0}}, Appends: []*Append{
				{Stream: "z:1", Expect: Expect{Kind: ExpectNew}, Events: []Proposed{ev("Ok", `{}`)}},
			}}
		}, -1, "", false, "1@6", 6},
		{"an ID seen earlier in the transaction is a duplicate", func() *Tx {
			return &Tx{Appends: []*Append{
				{Stream: "a:1", ID: "k", Events: []Proposed{ev("Ok", `{}`)}},
				{Stream: "a:1", ID: "k", Events: []Proposed{ev("Ok", `{}`)}},
			}}
		}, -1, "", false, "4@7 4@7", 7},
	}
	for _, st := range steps {
		tx := st.tx()
		l.AppendTx(tx)
		if tx.Refused != st.refused || tx.Moved != st.moved {
			t.Fatalf("%s: refused %d moved %v; want %d %v", st.name, tx.Refused, tx.Moved, st.refused, st.moved)
		}
		var results []string
		for i, a := range tx.Appends {
			switch {
			case i == st.refused:
				if a.Result.Err == nil || !strings.Contains(a.Result.Err.Error(), st.err) {
					t.Fatalf("%s: the refused append's error = %v; want %q", st.name, a.Result.Err, st.err)
				}
				results = append(results, "-")
			case st.refused >= 0:
				if !errors.Is(a.Result.Err, ErrAborted) {
					t.Fatalf("%s: append %d = %+v; want ErrAborted", st.name, i, a.Result)
				}
				results = append(results, "-")
			case a.Result.Err != nil:
				t.Fatalf("%s: append %d: %v", st.name, i, a.Result.Err)
			case st.moved:
				if a.Result != (Result{}) {
					t.Fatalf("%s: append %d of a moved transaction = %+v", st.name, i, a.Result)
				}
				results = append(results, "-")
			default:
				results = append(results, fmt.Sprintf("%d@%d", a.Result.Version, a.Result.Position))
			}
		}
		if got := strings.Join(results, " "); got != st.results {
			t.Fatalf("%s: results %v; want [%s]", st.name, got, st.results)
		}
		if last := l.LastPosition(); last != st.last {
			t.Fatalf("%s: last position %d; want %d", st.name, last, st.last)
		}
		if evs, _ := l.Range(1, 0, nil); uint64(len(evs)) != st.last {
			t.Fatalf("%s: the log holds %d events; want %d", st.name, len(evs), st.last)
		}
		rec.mu.Lock()
		published := len(rec.published)
		rec.mu.Unlock()
		if uint64(published) != st.last {
			t.Fatalf("%s: the applier published %d events; want %d: %v", st.name, published, st.last, rec.published)
		}
	}
}

// TestAppendTxBesideAppends: a refused transaction in the same round as
// other appends leaves them written, without a gap in positions.
func TestAppendTxBesideAppends(t *testing.T) {
	l := openTest(t, DefaultOptions())
	rec := &recorder{}
	l.SetApplier(rec)
	done := make(chan struct{})
	for i := range 20 {
		go func() {
			defer func() { done <- struct{}{} }()
			if i%2 == 0 {
				l.Append(&Append{Stream: fmt.Sprint("s:", i), Events: []Proposed{ev("Ok", `{}`)}})
				return
			}
			l.AppendTx(&Tx{Appends: []*Append{
				{Stream: fmt.Sprint("t:", i), Events: []Proposed{ev("Ok", `{}`)}},
				{Stream: fmt.Sprint("t:", i), Events: []Proposed{ev("Reject", `{}`)}},
			}})
		}()
	}
	for range 20 {
		<-done
	}
	evs, err := l.Range(1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 10 || l.LastPosition() != 10 {
		t.Fatalf("the log holds %d events, last %d; want the 10 plain appends", len(evs), l.LastPosition())
	}
	for i, e := range evs {
		if e.Position != uint64(i+1) || e.Stream[0] != 's' {
			t.Fatalf("event %d = %s@%d", i, e.Stream, e.Position)
		}
	}
}

// TestAppendTxOps: a transaction's ops commit with its appends, after
// them; an aborted or moved transaction stages none of them; a
// transaction of ops alone commits them; they survive a restart.
func TestAppendTxOps(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	l.SetApplier(rec)
	seen := uint64(0)
	op := setOp("ack", "1")
	op.Stage = func(b *OpBatch) error { seen = b.Committed(); b.Set([]byte("ack"), []byte("1")); return nil }
	tx := &Tx{Appends: []*Append{{Stream: "a:1", Events: []Proposed{ev("Ok", `{}`)}}}, Ops: []*Op{op}}
	l.AppendTx(tx)
	if tx.Refused != -1 || tx.Appends[0].Result.Err != nil || op.Err != nil || seen != 0 {
		t.Fatalf("committed: refused %d, %+v, op %v, committed before %d", tx.Refused, tx.Appends[0].Result, op.Err, seen)
	}
	refusedOp := setOp("ack", "2")
	tx = &Tx{Appends: []*Append{{Stream: "a:1", Expect: expect(7), Events: []Proposed{ev("Ok", `{}`)}}}, Ops: []*Op{refusedOp}}
	l.AppendTx(tx)
	if tx.Refused != 0 || !errors.Is(refusedOp.Err, ErrAborted) {
		t.Fatalf("refused: %d, op %v", tx.Refused, refusedOp.Err)
	}
	movedOp := setOp("ack", "3")
	tx = &Tx{Watch: []Watched{{"a:1", 0}}, Appends: []*Append{{Stream: "a:1", Events: []Proposed{ev("Ok", `{}`)}}}, Ops: []*Op{movedOp}}
	l.AppendTx(tx)
	if !tx.Moved || !errors.Is(movedOp.Err, ErrAborted) {
		t.Fatalf("moved: %v, op %v", tx.Moved, movedOp.Err)
	}
	alone := setOp("other", "x")
	tx = &Tx{Refused: -1, Ops: []*Op{alone}}
	l.AppendTx(tx)
	if alone.Err != nil {
		t.Fatal(alone.Err)
	}
	if got := strings.Join(opKeys(t, l), " "); got != "ack=1 other=x" {
		t.Fatalf("op keys %q", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := strings.Join(opKeys(t, l), " "); got != "ack=1 other=x" || l.LastPosition() != 1 {
		t.Fatalf("after a restart: op keys %q, last %d", got, l.LastPosition())
	}
}
