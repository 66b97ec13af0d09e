package state

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/foldb/foldb/internal/testkit"
)

// TestFolds: what changes a type's fold and what does not.
func TestFolds(t *testing.T) {
	bank := testkit.BankSchema(t)
	base, err := ParseSchema(bank)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name         string
		text         string
		keep         []string // the types kept
		keepsDefault bool
	}{
		{"the same schema, other comments", "# a comment\n" + bank, []string{"account", "bank"}, true},
		{"an index", strings.Replace(bank, "    streams: account\n", "    streams: account\n    indexes: [balance]\n", 1), []string{"account", "bank"}, true},
		{"a guard and its message", strings.Replace(strings.Replace(bank, "balance >= event.amount", "balance >= event.amount + 1", 1), "insufficient funds", "not enough", 1), []string{"account", "bank"}, true},
		// The default projection's tables of audit:<id> and wallet:<id>
		// streams are not kept: those names are declared now.
		{"a new entity type of its own events", bank + "  audit:\n    events: [Audited]\n    id: '\"all\"'\n", []string{"account", "bank"}, true},
		{"a new entity type of a category", bank + "  wallet:\n    streams: wallet\n", []string{"account", "bank"}, true},
		{"an entity type removed", strings.Replace(bank, "  bank:", "  bonk:", 1), []string{"account"}, false},
		{"a set expression", strings.Replace(bank, "deposits: deposits + event.amount", "deposits: deposits + event.amount * 2", 1), []string{"account"}, true},
		{"an initial value", strings.Replace(bank, "initial: {balance: 0}", "initial: {balance: 1}", 1), []string{"bank"}, true},
		{"a shape without defaults", bank + "events:\n  BalanceIncreased:\n    data: {amount: {type: integer}}\n", []string{"account", "bank"}, true},
		{"a shape's version", bank + "events:\n  BalanceIncreased: {version: 2}\n", []string{"account", "bank"}, true},
		{"a default", bank + "events:\n  BalanceIncreased:\n    data: {note: {type: string, default: x}}\n", nil, false},
		{"an upcast step", bank + "events:\n  BalanceIncreased:\n    version: 2\n    upcast: {1: {set: {amount: event.cents}}}\n", nil, false},
		{"strict", bank + "strict: true\nevents:\n  BalanceIncreased: {}\n  BalanceDecreased: {}\n  AccountOpened: {}\n  AccountClosed: {}\n", []string{"account", "bank"}, true},
	}
	for _, c := range cases {
		next, err := ParseSchema(c.text)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		keep, dflt := reusable(base, next)
		var got []string
		for _, ty := range next.Types {
			if keep[ty.Name] {
				got = append(got, ty.Name)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(c.keep) || dflt != c.keepsDefault {
			t.Errorf("%s: kept %v and the default projection %v, want %v and %v", c.name, got, dflt, c.keep, c.keepsDefault)
		}
	}
}

// TestSchemaChangeKeepsTypes: a change that keeps some types' folds
// starts them from forks of the old tables (sharing their pages) and
// rebuilds the others; with appends going on meanwhile, the state equals a
// cold start with the new schema.
func TestSchemaChangeKeepsTypes(t *testing.T) {
	parallelReplayMin = 1 // shards, so that the default projection's owner is tested
	defer func() { parallelReplayMin = 1 << 14 }()
	bank := testkit.BankSchema(t)
	f := newFixture(t, bank)
	for i := range 300 {
		f.mustAppend(fmt.Sprintf("account:%d", i%30), "BalanceIncreased", `{"amount":2}`)
		f.mustAppend(fmt.Sprintf("note:%d", i%7), "Noted", fmt.Sprintf(`{"n":%d}`, i))
	}
	old := f.eng.Store()
	next := strings.Replace(bank, "    streams: account\n", "    streams: account\n    indexes: [balance]\n", 1)
	next = strings.Replace(next, "deposits: deposits + event.amount", "deposits: deposits + 2 * event.amount", 1)

	stop := appendWhile(func(i int) {
		f.mustAppend(fmt.Sprintf("account:%d", i%30), "BalanceIncreased", `{"amount":1}`)
		f.mustAppend(fmt.Sprintf("note:%d", i%7), "Noted", `{"late":true}`)
	})
	err := f.eng.SetSchema(next)
	stop()
	if err != nil {
		t.Fatal(err)
	}
	s := f.eng.Store()
	if s == old {
		t.Fatal("not swapped")
	}
	if st, _ := f.eng.SchemaStatus(); st.TypesKept != 1 || st.TypesRebuilt != 1 || !st.DefaultKept {
		t.Fatalf("status %+v: want account and the default projection kept, bank rebuilt", st)
	}
	want := dump(s)
	if n, _ := s.ProjectionErrors(); n != 0 {
		t.Fatalf("projection errors: %d", n)
	}
	f.reopen(&next)
	if got := dump(f.eng.Store()); got != want {
		t.Fatalf("a cold start differs:\n%s\nwant\n%s", got, want)
	}
	if got, ok := f.eng.Store().Get("bank", "totals"); !ok || !strings.Contains(got.JSON(), `"withdrawals":0`) {
		t.Fatalf("totals %v", got)
	}
	if r, err := f.eng.Store().All(Query{Type: "account", Where: "balance > 0", SortBy: "balance", Limit: 3}); err != nil || len(r) != 3 {
		t.Fatalf("the new index: %v %v", r, err)
	}

	// A change that keeps account keeps its index too (a copy of the
	// tree), and appends meanwhile move its keys.
	guarded := strings.Replace(next, "balance >= event.amount", "balance >= event.amount + 0", 1)
	before := f.eng.Store()
	stop = appendWhile(func(i int) {
		f.mustAppend(fmt.Sprintf("account:%d", i%30), "BalanceIncreased", `{"amount":3}`)
	})
	err = f.eng.SetSchema(guarded)
	stop()
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := f.eng.SchemaStatus(); st.TypesKept != 2 || st.TypesRebuilt != 0 {
		t.Fatalf("status %+v: want every type kept", st)
	}
	after := f.eng.Store()
	if after.tables["account"].fidx[0] == before.tables["account"].fidx[0] {
		t.Fatal("the kept index is the old store's own")
	}
	want = dump(after)
	f.reopen(&guarded)
	if got := dump(f.eng.Store()); got != want {
		t.Fatalf("a cold start after a change that keeps every type differs:\n%s\nwant\n%s", got, want)
	}
	if d := DiffIndexes(after, f.eng.Store()); d != "" {
		t.Fatalf("the kept index differs from one built by a cold start: %s", d)
	}
	next = guarded

	// A type declared for a category the default projection held: its
	// default table goes, the type is built, the rest is kept.
	third := next + "  note:\n    streams: note\n    initial: {count: 0}\n    when:\n      Noted: {set: {count: count + 1}}\n"
	if err := f.eng.SetSchema(third); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.eng.SchemaStatus(); st.TypesKept != 2 || st.TypesRebuilt != 1 || !st.DefaultKept {
		t.Fatalf("status %+v: want account and bank kept, note built", st)
	}
	want = dump(f.eng.Store())
	if !strings.Contains(want, `note/1@`) || !strings.Contains(want, `"count":`) {
		t.Fatalf("the note type:\n%s", want)
	}
	f.reopen(&third)
	if got := dump(f.eng.Store()); got != want {
		t.Fatalf("a cold start differs:\n%s\nwant\n%s", got, want)
	}
}

// TestForkIsolation: writes to a fork and to its original do not show in
// each other, at any size (pages split and the directory doubles).
func TestForkIsolation(t *testing.T) {
	x := newIndex()
	for i := range 5000 {
		x.Set(packEntity(fmt.Sprint(i), 1, []byte(`{"a":1}`)))
	}
	f := x.fork()
	for i := range f.dir {
		if f.dir[i] != x.dir[i] {
			t.Fatalf("page %d is not shared right after the fork", i)
		}
	}
	for i := range 10000 {
		f.Set(packEntity(fmt.Sprint(i), 2, []byte(`{"f":1}`)))
		if i%3 == 0 {
			x.Delete(fmt.Sprint(i))
		}
	}
	if x.Len() != 5000-1667 || f.Len() != 10000 {
		t.Fatalf("lengths %d, %d", x.Len(), f.Len())
	}
	for i := range 10000 {
		e, ok := x.Get(fmt.Sprint(i))
		if want := i < 5000 && i%3 != 0; ok != want || (ok && e.Version() != 1) {
			t.Fatalf("original %d: %v %v", i, ok, e)
		}
		if e, ok := f.Get(fmt.Sprint(i)); !ok || e.Version() != 2 {
			t.Fatalf("fork %d: %v %v", i, ok, e)
		}
	}
}

// appendWhile calls appendOne with 0, 1, 2, ... on a goroutine until the
// stop it returns is called, which waits for the goroutine to end.
func appendWhile(appendOne func(i int)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			appendOne(i)
		}
	})
	return func() { close(done); wg.Wait() }
}
