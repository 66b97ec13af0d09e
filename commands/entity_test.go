package commands

import (
	"reflect"
	"testing"
)

func TestParseMGet(t *testing.T) {
	for _, tc := range []struct {
		args []string
		typ  string
		ids  []string
	}{
		{args: []string{"account", "1"}, typ: "account", ids: []string{"1"}},
		{args: []string{"account", "1", "2", "1"}, typ: "account", ids: []string{"1", "2", "1"}},
		{args: []string{"", ""}, typ: "", ids: []string{""}},
	} {
		r, err := parseMGet(argv(append([]string{"ENTITY.MGET"}, tc.args...)...))
		var ids []string
		for _, id := range r.ids {
			ids = append(ids, string(id))
		}
		if err != nil || r.typ != tc.typ || !reflect.DeepEqual(ids, tc.ids) {
			t.Errorf("ENTITY.MGET %q = %q %q, %v; want %q %q", tc.args, r.typ, ids, err, tc.typ, tc.ids)
		}
	}
	// The request aliases the arguments: no copy on the read path.
	args := argv("ENTITY.MGET", "account", "1", "2")
	if n := testing.AllocsPerRun(100, func() { parseMGet(args) }); n != 0 {
		t.Errorf("parseMGet allocates %v times", n)
	}
}
