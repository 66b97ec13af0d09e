package state

import (
	"errors"
	"fmt"
	"testing"

	"github.com/foldb/foldb/internal/testkit"
)

func TestSchemaChangeRebuildsAndSurvivesRestart(t *testing.T) {
	f := newFixture(t, "")
	f.mustAppend("account:1", "BalanceIncreased", `{"amount":3}`)
	f.mustAppend("account:1", "BalanceIncreased", `{"amount":4}`)
	if got := f.get("account", "1"); got != `{"amount":4}` {
		t.Fatalf("merge patch: %s", got)
	}
	// A broken schema changes nothing.
	if err := f.eng.SetSchema("entities:\n  account:\n    when:\n      BalanceIncreased: {set: {balance: balance +}}\n"); err == nil {
		t.Fatal("broken schema accepted")
	}
	if got := f.get("account", "1"); got != `{"amount":4}` {
		t.Fatalf("after refused schema: %s", got)
	}
	if err := f.eng.SetSchema(testkit.BankSchema(t)); err != nil {
		t.Fatal(err)
	}
	if got := f.get("account", "1"); got != `{"balance":7}` {
		t.Fatalf("after rebuild: %s", got)
	}
	f.reopen(nil)
	if got := f.get("account", "1"); got != `{"balance":7}` {
		t.Fatalf("after restart: %s", got)
	}
	if f.eng.Store().Schema().Hash == EmptySchema().Hash {
		t.Fatal("schema not stored")
	}
}

// TestSchemaChangeUnderLoad: appends go on while the state is rebuilt;
// the new state has every one of them.
func TestSchemaChangeUnderLoad(t *testing.T) {
	f := newFixture(t, "")
	for i := 0; i < 2000; i++ {
		f.mustAppend(fmt.Sprintf("account:%d", i%10), "BalanceIncreased", `{"amount":1}`)
	}
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			f.mustAppend(fmt.Sprintf("account:%d", n%10), "BalanceIncreased", `{"amount":1}`)
			n++
		}
	}()
	if err := f.eng.SetSchema(testkit.BankSchema(t)); err != nil {
		t.Fatal(err)
	}
	close(stop)
	n := <-done
	total := 0
	for i := 0; i < 10; i++ {
		e, ok := f.eng.Store().Get("account", fmt.Sprint(i))
		if !ok {
			t.Fatalf("account %d missing", i)
		}
		var bal int
		fmt.Sscanf(e.JSON(), `{"balance":%d}`, &bal)
		total += bal
	}
	if total != 2000+n {
		t.Fatalf("balances sum to %d, want %d", total, 2000+n)
	}
}

// TestSchemaChangeBusy: while a change builds, another is refused with
// ErrSchemaChanging and the status says building; the first one ends in
// force.
func TestSchemaChangeBusy(t *testing.T) {
	f := newFixture(t, "")
	f.mustAppend("account:1", "BalanceIncreased", `{"amount":3}`)
	started, release := make(chan struct{}), make(chan struct{})
	changeHook = func() { close(started); <-release }
	defer func() { changeHook = nil }()
	ok, err := f.eng.SetSchemaAsync(testkit.BankSchema(t))
	if err != nil || !ok {
		t.Fatalf("SetSchemaAsync: %v %v", ok, err)
	}
	<-started
	if st, _ := f.eng.SchemaStatus(); st.State != "building" {
		t.Fatalf("status %+v", st)
	}
	if err := f.eng.SetSchema("entities:\n  other: {}\n"); !errors.Is(err, ErrSchemaChanging) {
		t.Fatalf("a second change: %v", err)
	}
	if _, err := f.eng.SetSchemaAsync("entities:\n  other: {}\n"); !errors.Is(err, ErrSchemaChanging) {
		t.Fatalf("a second change, async: %v", err)
	}
	close(release)
	testkit.WaitFor(t, "the change to finish", func() bool { st, _ := f.eng.SchemaStatus(); return st.State == "done" })
	if got := f.get("account", "1"); got != `{"balance":3}` {
		t.Fatalf("after the change: %s", got)
	}
}
