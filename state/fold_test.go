package state

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/internal/testkit"
)

func TestBankProjectionAndGuards(t *testing.T) {
	f := newFixture(t, testkit.BankSchema(t))
	f.mustAppend("account:1", "AccountOpened", `{"uuid":"u-1","name":"Alice"}`)
	f.mustAppend("account:1", "BalanceIncreased", `{"amount":100}`)
	f.mustAppend("account:2", "AccountOpened", `{"uuid":"u-2","name":"Bob"}`, "BalanceIncreased", `{"amount":5}`)
	if got := f.get("account", "1"); got != `{"balance":100,"uuid":"u-1","name":"Alice"}` {
		t.Fatalf("account 1: %s", got)
	}
	r := f.append("account:1", nil, "BalanceDecreased", `{"amount":500}`)
	var rej *RejectedError
	if !errors.As(r.Err, &rej) || rej.Message != "insufficient funds" {
		t.Fatalf("overdraft: %v", r.Err)
	}
	// A rejected event in a multi-event append rejects all of it.
	r = f.append("account:1", nil, "BalanceIncreased", `{"amount":1}`, "BalanceDecreased", `{"amount":1000}`)
	if !errors.As(r.Err, &rej) {
		t.Fatalf("multi-event overdraft: %v", r.Err)
	}
	// The guard sees the earlier events of the same append.
	f.mustAppend("account:1", "BalanceIncreased", `{"amount":50}`, "BalanceDecreased", `{"amount":150}`)
	if got := f.get("account", "1"); got != `{"balance":0,"uuid":"u-1","name":"Alice"}` {
		t.Fatalf("after exact withdrawal: %s", got)
	}
	if got := f.get("bank", "totals"); got != `{"deposits":155,"withdrawals":150}` {
		t.Fatalf("totals: %s", got)
	}
	// A guard that errors rejects with the expression's error.
	r = f.append("account:1", nil, "BalanceDecreased", `{"amt":1}`)
	if !errors.As(r.Err, &rej) || !strings.Contains(rej.Message, "require event.amount > 0 && balance >= event.amount") {
		t.Fatalf("guard on a missing field: %v", r.Err)
	}
	if f.log.LastPosition() != 6 {
		t.Fatalf("rejected appends were written: last position %d", f.log.LastPosition())
	}
	e, _ := f.eng.Store().Get("account", "1")
	if e.Version() != 4 {
		t.Fatalf("account 1 version %d, want 4", e.Version())
	}
	b, _ := f.eng.Store().Get("bank", "totals")
	if b.Version() != 4 {
		t.Fatalf("totals version %d, want 4 events folded", b.Version())
	}
	f.mustAppend("account:2", "AccountClosed", `{}`)
	if got := f.get("account", "2"); got != "<nil>" {
		t.Fatalf("closed account still there: %s", got)
	}
	// A restart replays to the same state.
	before := dump(f.eng.Store())
	f.reopen(nil)
	if after := dump(f.eng.Store()); after != before {
		t.Fatalf("replay differs:\n%s\n%s", before, after)
	}
}

func TestDefaultProjection(t *testing.T) {
	f := newFixture(t, testkit.BankSchema(t))
	f.mustAppend("order:7", "Placed", `{"total":10,"items":{"a":1,"b":2}}`)
	f.mustAppend("order:7", "Changed", `{"items":{"b":null,"c":3},"note":"x"}`)
	if got := f.get("order", "7"); got != `{"total":10,"items":{"a":1,"c":3},"note":"x"}` {
		t.Fatalf("order 7: %s", got)
	}
	e, _ := f.eng.Store().Get("order", "7")
	if e.Version() != 2 {
		t.Fatalf("version %d", e.Version())
	}
	types := f.eng.Store().Types()
	if len(types) != 1 || types[0].Name != "order" || types[0].Count != 1 {
		t.Fatalf("types %v", types)
	}
}

func TestIDExpressionAndBoundNames(t *testing.T) {
	f := newFixture(t, `
entities:
  customer_orders:
    events: [OrderPlaced]
    id: event.customer
    initial: {count: 0}
    when:
      OrderPlaced: {set: {count: count + 1, last: stream, at: position, v: version, kind: type, by: 'meta?.user'}}
`)
	f.mustAppend("order:1", "OrderPlaced", `{"customer":"c1"}`)
	f.mustAppend("order:2", "OrderPlaced", `{"customer":"c1"}`)
	f.mustAppend("order:3", "OrderPlaced", `{"customer":42}`)
	if got := f.get("customer_orders", "c1"); got != `{"count":2,"last":"order:2","at":2,"v":1,"kind":"OrderPlaced","by":null}` {
		t.Fatalf("c1: %s", got)
	}
	if got := f.get("customer_orders", "42"); !strings.HasPrefix(got, `{"count":1`) {
		t.Fatalf("numeric id: %s", got)
	}
	r := f.append("order:4", nil, "OrderPlaced", `{}`)
	var rej *RejectedError
	if !errors.As(r.Err, &rej) || !strings.Contains(rej.Message, "id event.customer") {
		t.Fatalf("missing id: %v", r.Err)
	}
}

// TestConcurrentGuards: many writers withdraw from one account at once;
// the balance never goes below zero and every accepted withdrawal counts.
func TestConcurrentGuards(t *testing.T) {
	f := newFixture(t, testkit.BankSchema(t))
	f.mustAppend("account:1", "AccountOpened", `{"uuid":"u","name":"A"}`, "BalanceIncreased", `{"amount":1000}`)
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				r := f.append("account:1", nil, "BalanceDecreased", `{"amount":7}`)
				if r.Err == nil {
					mu.Lock()
					accepted++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if accepted != 1000/7 {
		t.Fatalf("accepted %d withdrawals of 7 from 1000", accepted)
	}
	if got := f.get("account", "1"); got != fmt.Sprintf(`{"balance":%d,"uuid":"u","name":"A"}`, 1000-7*accepted) {
		t.Fatalf("balance: %s", got)
	}
}

// BenchmarkApplyBank folds bank events already read into one store on one
// goroutine: the fold of a replay without the log and the shards.
func BenchmarkApplyBank(b *testing.B) {
	schema, _ := ParseSchema(testkit.BankSchema(b))
	const accounts = 5000
	var events []eventlog.Event
	add := func(i int, typ, data string) {
		events = append(events, eventlog.Event{Position: uint64(len(events) + 1), Stream: fmt.Sprintf("account:%d", i), Type: typ, Data: []byte(data)})
	}
	for i := range accounts {
		add(i, "AccountOpened", fmt.Sprintf(`{"uuid":"%08d-aaaa-bbbb-cccc-dddddddddddd","name":"Customer %d"}`, i, i))
		add(i, "BalanceIncreased", `{"amount":1000}`)
	}
	for round := range 3 {
		for i := range accounts {
			if round%2 == 0 {
				add(i, "BalanceIncreased", `{"amount":100}`)
			} else {
				add(i, "BalanceDecreased", `{"amount":30}`)
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		s := NewStore(schema)
		for i := range events {
			s.Apply(&events[i])
		}
	}
	b.ReportMetric(float64(len(events))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestSetCopiesMembers: a set expression that only reads one member copies
// its JSON as written (no float rounding, escapes kept), null when missing;
// the others still run.
func TestSetCopiesMembers(t *testing.T) {
	f := newFixture(t, `
entities:
  item:
    streams: item
    when:
      Put: {set: {name: event.name, tags: event.tags, price: event.price, gone: event.nope, again: name, big: event.big, n: 'len(event.tags)'}}
      Check:
        require: event.amount > 0
        message: must be positive
`)
	f.mustAppend("item:1", "Put", `{"name":"a\"b","tags":[1, 2],"price":1.50,"big":12345678901234567890}`)
	want := `{"name":"a\"b","tags":[1, 2],"price":1.50,"gone":null,"again":null,"big":12345678901234567890,"n":2}`
	if got := f.get("item", "1"); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	f.mustAppend("item:1", "Put", `{"name":"c","tags":[]}`)
	if got := f.get("item", "1"); !strings.Contains(got, `"again":"a\"b"`) {
		t.Fatalf("a copy of an entity field reads the state before the event: %s", got)
	}
	r := f.append("item:1", nil, "Check", `{"amount":"x"}`)
	var rej *RejectedError
	if !errors.As(r.Err, &rej) || strings.Contains(rej.Message, "\n") || !strings.Contains(rej.Message, "require event.amount > 0") {
		t.Fatalf("a guard that fails to run: %q", r.Err)
	}
}
