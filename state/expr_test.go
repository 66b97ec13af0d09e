package state

import (
	"fmt"
	"testing"

	"github.com/foldb/foldb/eventlog"
)

// TestArithAsTheVM: integer arithmetic worked out without the VM gives the
// JSON the VM's result gives, and steps aside for what is not two ints.
func TestArithAsTheVM(t *testing.T) {
	exprs := []struct {
		src        string
		reads, evs bool // reads the entity's balance, the event's (or meta's) value
	}{
		{"balance + event.amount", true, true}, {"balance - event.amount", true, true},
		{"event.amount * balance", true, true}, {"state.balance + 1", true, false},
		{"meta.n - balance", true, true}, {"2 * event.amount", false, true}, {"1 + 2", false, false},
		{"event['amount'] + balance", true, true},
	}
	values := []string{
		"0", "7", "-3", "-0", "1000000", "9223372036854775807", "-9223372036854775808",
		"99999999999999999999", "1.5", "2.0", "1e3", `"5"`, "null", "true", "[1]", `{"a":1}`, "",
	}
	obj := func(key, v string) []byte {
		if v == "" {
			return []byte(`{"other":1}`)
		}
		return []byte(fmt.Sprintf(`{"x":"y",%q:%s}`, key, v))
	}
	ev := newEvaluator()
	for _, x := range exprs {
		src := x.src
		p, err := compile(src, false)
		if err != nil {
			t.Fatal(err)
		}
		if p.arith == nil {
			t.Fatalf("%s: not recognised as integer arithmetic", src)
		}
		for _, a := range values {
			for _, b := range values {
				entity := obj("balance", a)
				e := &eventlog.Event{Type: "T", Data: obj("amount", b), Meta: obj("n", b)}
				got, ok := p.arith.eval(entity, e)
				isInt := func(v string, read bool) bool {
					_, ok := rawValue([]byte(v)).(int)
					return ok || !read
				}
				if want := isInt(a, x.reads) && isInt(b, x.evs); ok != want {
					t.Fatalf("%s with %s, %s: fast path taken %v, want %v", src, a, b, ok, want)
				}
				if !ok {
					continue
				}
				out, err := ev.eval(p, &input{entity: entity, ev: e})
				if err != nil {
					t.Fatalf("%s with %s, %s: the VM failed: %v", src, a, b, err)
				}
				want, _ := appendValue(nil, out)
				if s := fmt.Sprint(got); s != string(want) {
					t.Errorf("%s with %s, %s: %s, the VM %s", src, a, b, s, want)
				}
			}
		}
	}
	for _, src := range []string{"balance", "balance + 1.5", "balance / 2", "-balance + 1", "f(a) + 1", "let a = 1; a + 1", "balance + id"} {
		p, err := compile(src, false)
		if err != nil {
			t.Fatal(err)
		}
		if p.arith != nil {
			t.Errorf("%s: taken for integer arithmetic", src)
		}
	}
}

// TestConstantID: a literal is known without running, and only a literal.
func TestConstantID(t *testing.T) {
	for _, c := range []struct {
		src  string
		want any
	}{{`"totals"`, "totals"}, {`'x'`, "x"}, {`42`, 42}, {`""`, ""}} {
		p, err := compile(c.src, false)
		if err != nil {
			t.Fatal(err)
		}
		out, err := newEvaluator().eval(p, &input{ev: &eventlog.Event{}})
		if !p.constant || p.value != c.want || out != c.want || err != nil {
			t.Errorf("%s: constant %v value %v; the VM %v %v", c.src, p.constant, p.value, out, err)
		}
	}
	for _, src := range []string{`"a" + "b"`, `event.id`, `1.5`, `-1`} {
		if p, err := compile(src, false); err != nil || p.constant {
			t.Errorf("%s: taken for a literal (%v)", src, err)
		}
	}
	if p, err := compile(`true`, true); err != nil || p.constant {
		t.Errorf("a boolean program is never a constant (%v)", err)
	}
}
