package state

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/foldb/foldb/internal/testkit"
)

func TestQueries(t *testing.T) {
	f := newFixture(t, testkit.BankSchema(t))
	for i := 1; i <= 20; i++ {
		f.mustAppend(fmt.Sprintf("account:%02d", i), "AccountOpened", fmt.Sprintf(`{"uuid":"u%d","name":"%c%d"}`, i, 'A'+i%3, i), "BalanceIncreased", fmt.Sprintf(`{"amount":%d}`, i*10))
	}
	f.mustAppend("account:99", "AccountOpened", `{"uuid":"x","name":"NoBalanceYet"}`)
	s := f.eng.Store()
	ids := func(es []Entity) string {
		var out []string
		for _, e := range es {
			out = append(out, e.ID())
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		q    Query
		want string
	}{
		{Query{Type: "account", Where: "balance > 150", Limit: -1}, "16,17,18,19,20"},
		{Query{Type: "account", Where: "balance > 100", SortBy: "balance", Desc: true, Limit: 3}, "20,19,18"},
		{Query{Type: "account", Where: "balance > 100", SortBy: "balance", Offset: 2, Limit: 2}, "13,14"},
		{Query{Type: "account", Where: "name startsWith 'B'", Limit: -1}, "01,04,07,10,13,16,19"},
		{Query{Type: "account", SortBy: "balance", Limit: 2}, "99,01"},
		{Query{Type: "account", Where: "id == '05'", Limit: -1}, "05"},
		{Query{Type: "account", Where: "version == 1", Limit: -1}, "99"},
		{Query{Type: "nothing", Limit: -1}, ""},
		{Query{Type: "account", Where: "missing > 1", Limit: -1}, ""},
	}
	for _, c := range cases {
		got, err := s.All(c.q)
		if err != nil {
			t.Fatalf("%+v: %v", c.q, err)
		}
		gotIDs := ids(got)
		if c.q.SortBy == "" { // unspecified order: compare the sets
			sort.Slice(got, func(i, j int) bool { return got[i].ID() < got[j].ID() })
			gotIDs = ids(got)
		}
		if gotIDs != c.want {
			t.Errorf("%+v: got %s, want %s", c.q, gotIDs, c.want)
		}
	}
	// Without SORTBY, LIMIT pages follow the one order of an unchanged
	// type: they are the unlimited result cut in pieces.
	all, _ := s.All(Query{Type: "account", Where: "balance > 100", Limit: -1})
	var paged []Entity
	for off := 0; off < len(all)+3; off += 3 {
		page, _ := s.All(Query{Type: "account", Where: "balance > 100", Offset: off, Limit: 3})
		paged = append(paged, page...)
	}
	if ids(paged) != ids(all) || len(all) != 10 {
		t.Errorf("pages %s, all %s", ids(paged), ids(all))
	}
	if n, _ := s.Count("account", "balance >= 100"); n != 11 {
		t.Fatalf("count %d", n)
	}
	if n, _ := s.Count("account", ""); n != 21 {
		t.Fatalf("count all %d", n)
	}
	var qe *QueryError
	if _, err := s.All(Query{Type: "account", Where: "balance >"}); !errors.As(err, &qe) {
		t.Fatalf("bad WHERE: %v", err)
	}
	// A WHERE whose result is not a boolean matches nothing.
	if got, err := s.All(Query{Type: "account", Where: "balance + 1", Limit: -1}); err != nil || len(got) != 0 {
		t.Fatalf("non-boolean WHERE: %d entities, %v", len(got), err)
	}
}

func BenchmarkGet(b *testing.B) {
	f := newFixture(b, testkit.BankSchema(b))
	for i := 0; i < 1000; i++ {
		f.mustAppend(fmt.Sprintf("account:%d", i), "AccountOpened", `{"uuid":"u","name":"n"}`)
	}
	s := f.eng.Store()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.Get("account", "500"); !ok {
			b.Fatal("missing")
		}
	}
}

func BenchmarkCountWhere(b *testing.B) {
	schema, _ := ParseSchema(testkit.BankSchema(b))
	s := NewStore(schema)
	const n = 100_000
	for i := range n {
		s.tableFor("account").idx.Set(packEntity(fmt.Sprint(i), 2, fmt.Appendf(nil, `{"balance":%d,"uuid":"%08d-aaaa-bbbb-cccc-dddddddddddd","name":"Account %d"}`, i%500, i, i)))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Count("account", "balance > 100"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entities/s")
}

// TestViewSharedUntilWrite: queries between two writes read one view of a
// table (viewTable gives it again), a write makes the next query's view
// new, and a view taken before the write still reads the state before it,
// entities and field indexes alike.
func TestViewSharedUntilWrite(t *testing.T) {
	f := newFixture(t, "entities:\n  account:\n    streams: account\n    indexes: [balance]\n    initial: {balance: 0}\n    when:\n      Opened: {set: {open: true}}\n      Deposited: {set: {balance: balance + event.amount}}\n")
	f.mustAppend("account:1", "Opened", `{}`, "Deposited", `{"amount":5}`)
	s := f.eng.Store()
	v1 := s.viewTable("account")
	if v2 := s.viewTable("account"); v2 != v1 {
		t.Fatal("two views with no write between are not the same")
	}
	f.mustAppend("account:1", "Deposited", `{"amount":10}`)
	v3 := s.viewTable("account")
	if v3 == v1 {
		t.Fatal("the view after a write is the one before it")
	}
	balanceOf := func(v *tableView) string {
		e, _ := v.idx.Get("1")
		return e.JSON()
	}
	if got := balanceOf(v1); !strings.Contains(got, `"balance":5`) {
		t.Fatalf("the view before the write reads %s", got)
	}
	if got := balanceOf(v3); !strings.Contains(got, `"balance":15`) {
		t.Fatalf("the view after the write reads %s", got)
	}
	if n1, n3 := v1.fidx[0].tree.Len(), v3.fidx[0].tree.Len(); n1 != 1 || n3 != 1 {
		t.Fatalf("index entries %d and %d, want 1 and 1", n1, n3)
	}
	es, err := s.All(Query{Type: "account", Where: "balance == 15", Limit: -1})
	if err != nil || len(es) != 1 {
		t.Fatalf("balance == 15 gives %d entities, %v", len(es), err)
	}
	if v4 := s.viewTable("account"); v4 != v3 {
		t.Fatal("a query changed the view")
	}
	// The view keeps the plans of its queries, a bounded number.
	for i := range 2 * maxPlans {
		if _, err := s.Count("account", fmt.Sprintf("balance >= %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(v3.plans); n == 0 || n > maxPlans {
		t.Fatalf("the view keeps %d plans, want 1 to %d", n, maxPlans)
	}
}

// TestPlanOfReadsAfterWrite: the plan Reads leaves for the query it
// checked is not used once a write has changed the table.
func TestPlanOfReadsAfterWrite(t *testing.T) {
	f := newFixture(t, "entities:\n  account:\n    streams: account\n    indexes: [balance]\n    initial: {balance: 0}\n    when:\n      Opened: {set: {open: true}}\n      Deposited: {set: {balance: balance + event.amount}}\n")
	f.mustAppend("account:1", "Opened", `{}`, "Deposited", `{"amount":5}`)
	s := f.eng.Store()
	q := Query{Type: "account", Where: "balance >= 5", SortBy: "balance", Limit: 10}
	if _, err := s.Reads(q, false); err != nil {
		t.Fatal(err)
	}
	f.mustAppend("account:2", "Opened", `{}`, "Deposited", `{"amount":7}`)
	es, err := s.All(q)
	if err != nil || len(es) != 2 {
		t.Fatalf("All after a write gives %d entities, %v; want 2", len(es), err)
	}
	if _, err := s.Reads(Query{Type: "account", Where: "balance >= 5", Limit: -1}, true); err != nil {
		t.Fatal(err)
	}
	f.mustAppend("account:3", "Opened", `{}`, "Deposited", `{"amount":9}`)
	if n, err := s.Count("account", "balance >= 5"); err != nil || n != 3 {
		t.Fatalf("Count after a write = %d, %v; want 3", n, err)
	}
}
