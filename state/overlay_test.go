package state

import (
	"errors"
	"fmt"
	"testing"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/internal/testkit"
)

// TestSealedRoundsStack: a round staged on top of a sealed, unpublished one
// sees its effects (guards included), readers see neither until each is
// published, publishing goes oldest first, and a type first seen in the
// later round keeps one table. Discard drops every unpublished round.
func TestSealedRoundsStack(t *testing.T) {
	s := liveBankStore(t)
	pos := uint64(0)
	stage := func(stream string, events ...string) error {
		var evs []eventlog.Event
		for i := 0; i < len(events); i += 2 {
			pos++
			evs = append(evs, eventlog.Event{Position: pos, Stream: stream, Version: pos, Type: events[i], Data: []byte(events[i+1]), Time: 1})
		}
		err := s.Stage(evs)
		if err != nil {
			pos -= uint64(len(evs))
		}
		return err
	}
	get := func(typ, id string) string {
		e, ok := s.Get(typ, id)
		if !ok {
			return "<nil>"
		}
		return e.JSON()
	}
	if err := stage("account:1", "AccountOpened", `{"uuid":"u-1","name":"Alice"}`, "BalanceIncreased", `{"amount":10}`); err != nil {
		t.Fatal(err)
	}
	s.Seal() // round N, its fsync running
	// Round N+1: the guard sees N's balance of 10.
	var rej *RejectedError
	if err := stage("account:1", "BalanceDecreased", `{"amount":11}`); !errors.As(err, &rej) {
		t.Fatalf("a withdrawal over N's balance: %v", err)
	}
	if err := stage("account:1", "BalanceDecreased", `{"amount":4}`); err != nil {
		t.Fatalf("a withdrawal within N's balance: %v", err)
	}
	s.Seal()
	if got := get("account", "1"); got != "<nil>" {
		t.Fatalf("readers see %s before N is published", got)
	}
	s.Publish(2)
	if got := get("account", "1"); got != `{"balance":10,"uuid":"u-1","name":"Alice"}` {
		t.Fatalf("after N: %s", got)
	}
	// Round N+2 on top of the sealed N+1.
	if err := stage("account:1", "BalanceDecreased", `{"amount":7}`); !errors.As(err, &rej) {
		t.Fatalf("N+2 does not see N+1's withdrawal: %v", err)
	}
	s.Publish(3)
	if got := get("account", "1"); got != `{"balance":6,"uuid":"u-1","name":"Alice"}` {
		t.Fatalf("after N+1: %s", got)
	}
	if s.Position() != 3 {
		t.Fatalf("position %d", s.Position())
	}
	// Discard drops the staged and the sealed rounds.
	if err := stage("account:2", "AccountOpened", `{"uuid":"u-2","name":"Bob"}`); err != nil {
		t.Fatal(err)
	}
	s.Seal()
	if err := stage("account:2", "BalanceIncreased", `{"amount":1}`); err != nil {
		t.Fatal(err)
	}
	s.Discard()
	if err := stage("account:2", "BalanceIncreased", `{"amount":1}`); err != nil {
		t.Fatal(err) // the account does not exist after the discard: the default fold
	}
	s.Seal()
	s.Publish(pos)
	if got := get("account", "2"); got == `{"balance":1,"uuid":"u-2","name":"Bob"}` {
		t.Fatalf("a discarded round's AccountOpened survived: %s", got)
	}
}

// TestSealedRoundsNewType: a type first staged in a round on top of a
// sealed one keeps its one table when the round below is published.
func TestSealedRoundsNewType(t *testing.T) {
	s := liveBankStore(t)
	pos := uint64(0)
	stage := func(stream, typ, data string) {
		t.Helper()
		pos++
		if err := s.Stage([]eventlog.Event{{Position: pos, Stream: stream, Version: pos, Type: typ, Data: []byte(data), Time: 1}}); err != nil {
			t.Fatal(err)
		}
		s.Seal()
	}
	stage("account:1", "AccountOpened", `{"uuid":"u-1","name":"Alice"}`)
	stage("account:1", "BalanceIncreased", `{"amount":1}`) // the bank's totals: a new type
	s.Publish(1)
	stage("account:1", "BalanceIncreased", `{"amount":2}`)
	s.Publish(2)
	s.Publish(3)
	e, ok := s.Get("bank", "totals")
	if !ok || e.JSON() != `{"deposits":3,"withdrawals":0}` {
		t.Fatalf("bank totals %v %q, want deposits 3", ok, e.JSON())
	}
}

// liveBankStore is an empty store for the bank schema, staging as the log's
// writer does.
func liveBankStore(t *testing.T) *Store {
	t.Helper()
	schema, err := ParseSchema(testkit.BankSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	s := NewStore(schema)
	s.Live()
	return s
}

// TestStageTx: a transaction's appends stage on top of each other (the
// second withdrawal sees the first); EndTx(false) removes all of them,
// EndTx(true) keeps them; a rejected append inside a transaction removes
// only itself until the transaction ends.
func TestStageTx(t *testing.T) {
	s := liveBankStore(t)
	pos := uint64(0)
	versions := map[string]uint64{}
	stage := func(stream, typ, data string) error {
		pos++
		versions[stream]++
		err := s.Stage([]eventlog.Event{{Position: pos, Stream: stream, Version: versions[stream], Type: typ, Data: []byte(data), Time: 1}})
		if err != nil {
			pos--
			versions[stream]--
		}
		return err
	}
	balance := func(id string) string {
		t.Helper()
		tbl := s.tableFor("account")
		e, ok, _ := s.lookup(tbl, id)
		if !ok {
			return "<nil>"
		}
		return e.JSON()
	}
	if err := stage("account:1", "BalanceIncreased", `{"amount":10}`); err != nil {
		t.Fatal(err)
	}
	before := balance("1")

	s.BeginTx()
	if err := stage("account:1", "BalanceDecreased", `{"amount":6}`); err != nil {
		t.Fatal(err)
	}
	if err := stage("account:2", "BalanceIncreased", `{"amount":6}`); err != nil {
		t.Fatal(err)
	}
	var rej *RejectedError
	if err := stage("account:1", "BalanceDecreased", `{"amount":6}`); !errors.As(err, &rej) {
		t.Fatalf("a second withdrawal in the transaction does not see the first: %v", err)
	}
	if got := balance("1"); got != `{"balance":4}` {
		t.Fatalf("inside the transaction, after a rejected append: %s", got)
	}
	s.EndTx(false)
	pos, versions["account:1"], versions["account:2"] = 1, 1, 0 // nothing of it was written
	if got, other := balance("1"), balance("2"); got != before || other != "<nil>" {
		t.Fatalf("after EndTx(false): %s and %s; want %s and <nil>", got, other, before)
	}

	s.BeginTx()
	if err := stage("account:1", "BalanceDecreased", `{"amount":6}`); err != nil {
		t.Fatal(err)
	}
	if err := stage("account:2", "BalanceIncreased", `{"amount":6}`); err != nil {
		t.Fatal(err)
	}
	s.EndTx(true)
	s.Publish(pos)
	if a, b := balance("1"), balance("2"); a != `{"balance":4}` || b != `{"balance":6}` {
		t.Fatalf("after EndTx(true) and Publish: %s and %s", a, b)
	}
}

// BenchmarkStageBank stages, seals and publishes one deposit at a time
// into a live store of the bank, as the log's writer does for a round of
// one append: the fold of an append without the log.
func BenchmarkStageBank(b *testing.B) {
	schema, err := ParseSchema(testkit.BankSchema(b))
	if err != nil {
		b.Fatal(err)
	}
	benchStage(b, schema, "BalanceIncreased", `{"amount":100}`)
}

// BenchmarkStageBankShaped is BenchmarkStageBank with shapes declared for
// the bank's events and a default that every deposit lacks: the cost of
// checking an event and of folding it with a default filled in.
func BenchmarkStageBankShaped(b *testing.B) {
	schema, err := ParseSchema(testkit.BankSchema(b) + bankEvents)
	if err != nil {
		b.Fatal(err)
	}
	benchStage(b, schema, "BalanceIncreased", `{"amount":100}`)
}

// benchStage opens accounts in a live store of schema, then stages one
// event of typ with data per round, round robin over the accounts.
func benchStage(b *testing.B, schema *Schema, typ, data string) {
	const accounts = 1000
	s := NewStore(schema)
	s.Live()
	pos := uint64(0)
	ev := make([]eventlog.Event, 1)
	streams := make([]string, accounts)
	versions := make([]uint64, accounts)
	stage := func(i int, typ string, data []byte) {
		pos++
		versions[i]++
		ev[0] = eventlog.Event{Position: pos, Stream: streams[i], Version: versions[i], Type: typ, Data: data, Time: 1}
		if err := s.Stage(ev); err != nil {
			b.Fatal(err)
		}
		s.Seal()
		s.Publish(pos)
	}
	for i := range accounts {
		streams[i] = fmt.Sprintf("account:%d", i)
		stage(i, "AccountOpened", fmt.Appendf(nil, `{"uuid":"%08d-aaaa-bbbb-cccc-dddddddddddd","name":"Customer %d"}`, i, i))
	}
	raw := []byte(data)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		stage(i, typ, raw)
		if i++; i == accounts {
			i = 0
		}
	}
}
