package streams

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/foldb/foldb/eventlog"
)

// restoreSource is a log with groups on three keys: pending entries of two
// consumers, one acknowledged, a consumer never given an entry and a group
// whose entries-read is unknown.
func restoreSource(t *testing.T) *groupLog {
	gl := openGroupLog(t, "")
	gl.add("order:1", "Placed", "Paid")
	gl.add("order:2", "Placed")
	gl.add("account:1", "Opened")
	gl.do(
		&GroupCreate{Key: "$ce-order", Group: "billing", EntriesRead: -1},
		&GroupCreate{Key: "$all", Group: "audit", ID: id(2), EntriesRead: -1},
		&GroupCreate{Key: "order:1", Group: "mail", EntriesRead: -1},
		read("billing", "w1", 2, "$ce-order"),
		read("billing", "w2", 5, "$ce-order"),
		&ConsumerCreate{Key: "$ce-order", Group: "billing", Consumer: "idle"},
		&Ack{Key: "$ce-order", Group: "billing", IDs: []ID{id(1)}},
		read("audit", "a", 1, "$all"),
	)
	return gl
}

// copyEvents imports src's events into a new log, keeping their
// positions, as foldb import does.
func copyEvents(t *testing.T, src *groupLog) *groupLog {
	t.Helper()
	evs, err := src.log.Range(1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	dst := openGroupLog(t, "")
	if err := dst.log.Import(evs, true); err != nil {
		t.Fatal(err)
	}
	return dst
}

func readGroups(t *testing.T, l *eventlog.Log) []GroupState {
	t.Helper()
	got, err := ReadGroups(l)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestRestoreGroups: groups read from one log and restored into a copy of
// its events read back the same, answer XINFO GROUPS and XPENDING as the
// originals do, and are there after a restart.
func TestRestoreGroups(t *testing.T) {
	src := restoreSource(t)
	want := readGroups(t, src.log)
	if len(want) != 3 || want[0].Key != "$all" || want[1].Name != "billing" || len(want[1].Consumers) != 3 || len(want[1].Pending) != 2 {
		t.Fatalf("groups read %+v", want)
	}
	dst := copyEvents(t, src)
	dst.do(&Restore{Groups: want})
	if got := readGroups(t, dst.log); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored\n%+v\nwant\n%+v", got, want)
	}
	for _, key := range []string{"$all", "$ce-order", "order:1"} {
		a, b := &InfoGroups{Key: key}, &InfoGroups{Key: key}
		src.do(a)
		dst.do(b)
		if !reflect.DeepEqual(a.Groups, b.Groups) {
			t.Errorf("XINFO GROUPS %s: %+v, want %+v", key, b.Groups, a.Groups)
		}
	}
	a, b := &PendingSummary{Key: "$ce-order", Group: "billing"}, &PendingSummary{Key: "$ce-order", Group: "billing"}
	src.do(a)
	dst.do(b)
	if !reflect.DeepEqual(a, b) || b.Count != 2 {
		t.Errorf("XPENDING: %+v, want %+v", b, a)
	}
	// The restored groups go on as the originals: the next read gets the
	// next entry, and the consumers' numbers do not collide.
	next := read("billing", "w3", 1, "$ce-order")
	dst.do(next, &ConsumerCreate{Key: "$ce-order", Group: "billing", Consumer: "w4"})
	if positionsOf(next.Streams) != "" {
		t.Fatalf("read after the restore: %s", positionsOf(next.Streams))
	}
	dir := dst.dir
	dst.close()
	again := openGroupLog(t, dir)
	got := readGroups(t, again.log)
	if len(got) != 3 || len(got[1].Consumers) != 5 {
		t.Fatalf("after a restart: %+v", got)
	}
	got[1].Consumers = got[1].Consumers[:3]
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after a restart\n%+v\nwant\n%+v", got, want)
	}
}

// TestRestoreRefuses: a group that cannot be created as given refuses the
// whole request, saying which group and why, and creates none.
func TestRestoreRefuses(t *testing.T) {
	src := restoreSource(t)
	good := readGroups(t, src.log)
	dst := copyEvents(t, src)
	dst.do(&GroupCreate{Key: "order:2", Group: "taken", EntriesRead: -1})
	cases := map[string]struct {
		change func(*GroupState)
		want   string
	}{
		"no such key":        {func(g *GroupState) { g.Key = "nope" }, "names no stream"},
		"exists":             {func(g *GroupState) { g.Key, g.Name = "order:2", "taken" }, "already exists"},
		"twice":              {func(g *GroupState) { g.Key, g.Name = "$all", "audit" }, "already exists"}, // as group 0
		"entries-read":       {func(g *GroupState) { g.EntriesRead = -2 }, "entries-read -2"},
		"consumer twice":     {func(g *GroupState) { g.Consumers = append(g.Consumers, g.Consumers[0]) }, "given twice"},
		"seen-time":          {func(g *GroupState) { g.Consumers[0].Seen = -1 }, "seen-time -1"},
		"pending seq":        {func(g *GroupState) { g.Pending[0].ID.Seq = 1 }, "<position>-0"},
		"pending order":      {func(g *GroupState) { g.Pending[0], g.Pending[1] = g.Pending[1], g.Pending[0] }, "2-0: not after 3-0"},
		"pending past log":   {func(g *GroupState) { g.Pending[len(g.Pending)-1].ID = id(99) }, "past the log's newest position 4"},
		"pending owner":      {func(g *GroupState) { g.Pending[0].Consumer = "ghost" }, "'ghost' is not one of"},
		"pending not of key": {func(g *GroupState) { g.Pending[len(g.Pending)-1].ID = id(4) }, "not an entry of the key"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			groups := cloneGroups(good)
			i := 1 // billing of $ce-order, pending at 2 and 3
			c.change(&groups[i])
			r := &Restore{Groups: groups}
			dst.gs.Do(r)
			var re *RestoreError
			if !errors.As(r.Err, &re) || re.Index != i || !strings.Contains(r.Err.Error(), c.want) {
				t.Fatalf("error %v, want group %d and %q", r.Err, i, c.want)
			}
			if got := readGroups(t, dst.log); len(got) != 1 || got[0].Name != "taken" {
				t.Fatalf("a refused restore left %+v", got)
			}
		})
	}
}

// cloneGroups is a deep copy of groups, so that a case changes only its own.
func cloneGroups(groups []GroupState) []GroupState {
	out := make([]GroupState, len(groups))
	for i, g := range groups {
		g.Consumers = append([]ConsumerState(nil), g.Consumers...)
		g.Pending = append([]PendingFull(nil), g.Pending...)
		out[i] = g
	}
	return out
}
