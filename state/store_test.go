package state

import (
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"

	"github.com/foldb/foldb/eventlog"
)

type fixture struct {
	t   testing.TB
	dir string
	log *eventlog.Log
	eng *Engine
}

func newFixture(t testing.TB, schema string) *fixture {
	f := &fixture{t: t, dir: t.TempDir()}
	f.open(&schema)
	return f
}

func (f *fixture) open(schema *string) {
	f.t.Helper()
	if err := f.load(schema); err != nil {
		f.t.Fatal(err)
	}
}

// load opens the log and loads the state with schema, returning Load's
// error.
func (f *fixture) load(schema *string) error {
	f.t.Helper()
	opts := eventlog.DefaultOptions()
	opts.Durability = eventlog.DurabilityNone
	l, err := eventlog.Open(f.dir, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.log = l
	f.t.Cleanup(func() { l.Close() })
	f.eng = NewEngine(l, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return f.eng.Load(schema, nil)
}

// tryReopen reopens with schema, returning Load's error.
func (f *fixture) tryReopen(schema *string) error {
	f.t.Helper()
	f.log.Close()
	return f.load(schema)
}

func (f *fixture) reopen(schema *string) {
	f.t.Helper()
	f.log.Close()
	f.open(schema)
}

func (f *fixture) append(stream string, expect *uint64, events ...string) eventlog.Result {
	f.t.Helper()
	a := &eventlog.Append{Stream: stream}
	if expect != nil {
		a.Expect = eventlog.Expect{Kind: eventlog.ExpectVersion, Version: *expect}
	}
	for i := 0; i < len(events); i += 2 {
		a.Events = append(a.Events, eventlog.Proposed{Type: events[i], Data: []byte(events[i+1])})
	}
	f.log.Append(a)
	return a.Result
}

func (f *fixture) mustAppend(stream string, events ...string) {
	f.t.Helper()
	if r := f.append(stream, nil, events...); r.Err != nil {
		f.t.Fatalf("append %s %v: %v", stream, events, r.Err)
	}
}

func (f *fixture) get(typ, id string) string {
	e, ok := f.eng.Store().Get(typ, id)
	if !ok {
		return "<nil>"
	}
	return e.JSON()
}

// dump lists every entity with its version, for comparisons.
func dump(s *Store) string {
	var lines []string
	for _, tc := range s.Types() {
		all, _ := s.All(Query{Type: tc.Name, Limit: -1})
		for _, e := range all {
			lines = append(lines, fmt.Sprintf("%s/%s@%d %s\n", tc.Name, e.ID(), e.Version(), e.JSON()))
		}
	}
	sort.Strings(lines) // ENTITY.ALL without SORTBY has no set order
	return strings.Join(lines, "")
}
