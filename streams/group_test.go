package streams

import (
	"errors"
	"fmt"
	"github.com/foldb/foldb/internal/testkit"
	"slices"
	"strings"
	"testing"

	"github.com/foldb/foldb/eventlog"
)

// groupLog is a log with its groups, for the tests.
type groupLog struct {
	t   *testing.T
	dir string
	log *eventlog.Log
	gs  *Groups
}

func openGroupLog(t *testing.T, dir string) *groupLog {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	l, err := eventlog.Open(dir, eventlog.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	gs, err := OpenGroups(l, NewReader(l))
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	gl := &groupLog{t: t, dir: dir, log: l, gs: gs}
	t.Cleanup(gl.close)
	return gl
}

func (gl *groupLog) close() {
	gl.gs.Close()
	gl.log.Close()
}

// add appends one event per type to stream and returns the last position.
func (gl *groupLog) add(stream string, types ...string) uint64 {
	gl.t.Helper()
	a := &eventlog.Append{Stream: stream}
	for _, typ := range types {
		a.Events = append(a.Events, eventlog.Proposed{Type: typ, Data: []byte(`{}`)})
	}
	gl.log.Append(a)
	if a.Result.Err != nil {
		gl.t.Fatal(a.Result.Err)
	}
	return a.Result.Position
}

// do runs requests and fails the test on an error.
func (gl *groupLog) do(reqs ...Request) {
	gl.t.Helper()
	gl.gs.Do(reqs...)
	for _, r := range reqs {
		if err := r.Failed(); err != nil {
			gl.t.Fatalf("%T %+v: %v", r, r, err)
		}
	}
}

// fails runs a request that must fail with want (errors.Is, or the same text).
func (gl *groupLog) fails(r Request, want error) {
	gl.t.Helper()
	gl.gs.Do(r)
	if err := r.Failed(); err == nil || (!errors.Is(err, want) && err.Error() != want.Error()) {
		gl.t.Fatalf("%T %+v: error %v, want %v", r, r, err, want)
	}
}

func id(ms uint64) ID { return ID{Ms: ms} }

// read is XREADGROUP with ">" for every key.
func read(group, consumer string, count int, keys ...string) *ReadGroup {
	r := &ReadGroup{Group: group, Consumer: consumer, Count: count, Keys: keys}
	for range keys {
		r.From = append(r.From, ReadFrom{New: true})
	}
	return r
}

// positionsOf renders a read's reply as "key:pos,pos key:...".
func positionsOf(streams []StreamEntries) string {
	var parts []string
	for _, s := range streams {
		var ps []string
		for _, e := range s.Entries {
			ps = append(ps, fmt.Sprint(e.Position))
		}
		parts = append(parts, s.Key+":"+strings.Join(ps, ","))
	}
	return strings.Join(parts, " ")
}

func idsOf(ids []ID) string {
	var out []string
	for _, id := range ids {
		out = append(out, id.String())
	}
	return strings.Join(out, ",")
}

func eventPositions(evs []eventlog.Event) string {
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprint(e.Position))
	}
	return strings.Join(out, ",")
}

// groupsOf renders XINFO GROUPS key as "name consumers pending last read lag" lines.
func (gl *groupLog) groupsOf(key string) []string {
	gl.t.Helper()
	r := &InfoGroups{Key: key}
	gl.do(r)
	var out []string
	for _, g := range r.Groups {
		out = append(out, fmt.Sprintf("%s c=%d p=%d last=%s read=%d lag=%d", g.Name, g.Consumers, g.Pending, g.LastDelivered, g.EntriesRead, g.Lag))
	}
	return out
}

// consumersOf renders XINFO CONSUMERS without times: "name pending active".
func (gl *groupLog) consumersOf(key, group string) []string {
	gl.t.Helper()
	r := &InfoConsumers{Key: key, Group: group}
	gl.do(r)
	var out []string
	for _, c := range r.Consumers {
		out = append(out, fmt.Sprintf("%s p=%d active=%v", c.Name, c.Pending, c.Inactive >= 0))
	}
	return out
}

// pendingOf renders XPENDING's extended form without idle: "id owner deliveries".
func (gl *groupLog) pendingOf(key, group string) []string {
	gl.t.Helper()
	r := &PendingRange{Key: key, Group: group, End: MaxID, Count: 1 << 30}
	gl.do(r)
	var out []string
	for _, p := range r.Entries {
		out = append(out, fmt.Sprintf("%s %s %d", p.ID, p.Consumer, p.Deliveries))
	}
	return out
}

func want(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// TestGroupReadAndCounters follows Redis 7's replies step by step
// (redis-cli on a stream s with entries 1-0, 2-0, 3-0): creation with 0,
// $ and an ID, entries-read and lag as Redis estimates them, deliveries,
// reads of a consumer's history, and the PEL.
func TestGroupReadAndCounters(t *testing.T) {
	gl := openGroupLog(t, "")
	gl.add("s:1", "A", "B", "C")
	gl.do(
		&GroupCreate{Key: "s:1", Group: "g", EntriesRead: -1},
		&GroupCreate{Key: "s:1", Group: "g2", Dollar: true, EntriesRead: -1},
		&GroupCreate{Key: "s:1", Group: "g3", ID: id(2), EntriesRead: -1},
	)
	want(t, "groups", gl.groupsOf("s:1"),
		"g c=0 p=0 last=0-0 read=-1 lag=3",
		"g2 c=0 p=0 last=3-0 read=-1 lag=0",
		"g3 c=0 p=0 last=2-0 read=-1 lag=-1")

	r := read("g", "c", 1, "s:1")
	gl.do(r)
	if got := positionsOf(r.Streams); got != "s:1:1" {
		t.Fatalf("first read %q", got)
	}
	r3 := read("g3", "c", 1, "s:1")
	gl.do(r3)
	if got := positionsOf(r3.Streams); got != "s:1:3" {
		t.Fatalf("g3 read %q", got)
	}
	want(t, "groups after reads", gl.groupsOf("s:1"),
		"g c=1 p=1 last=1-0 read=1 lag=2",
		"g2 c=0 p=0 last=3-0 read=-1 lag=0",
		"g3 c=1 p=1 last=3-0 read=3 lag=0")

	r9 := read("g", "c9", 0, "s:1")
	gl.do(r9)
	if got := positionsOf(r9.Streams); got != "s:1:2,3" {
		t.Fatalf("c9 read %q", got)
	}
	again := read("g", "c9", 0, "s:1")
	gl.do(again)
	if again.Streams != nil {
		t.Fatalf("nothing new, got %q", positionsOf(again.Streams))
	}
	hist := &ReadGroup{Group: "g", Consumer: "c9", Keys: []string{"s:1"}, From: []ReadFrom{{ID: id(2)}}}
	gl.do(hist)
	if got := positionsOf(hist.Streams); got != "s:1:3" {
		t.Fatalf("history after 2-0: %q", got)
	}
	empty := &ReadGroup{Group: "g", Consumer: "c10", Keys: []string{"s:1"}, From: []ReadFrom{{}}}
	gl.do(empty)
	if len(empty.Streams) != 1 || empty.Streams[0].Key != "s:1" || len(empty.Streams[0].Entries) != 0 {
		t.Fatalf("history of a new consumer: %+v", empty.Streams)
	}
	want(t, "consumers", gl.consumersOf("s:1", "g"), "c p=1 active=true", "c10 p=0 active=false", "c9 p=2 active=true")
	want(t, "pending", gl.pendingOf("s:1", "g"), "1-0 c 1", "2-0 c9 1", "3-0 c9 2")

	sum := &PendingSummary{Key: "s:1", Group: "g"}
	gl.do(sum)
	if sum.Count != 3 || sum.Min != id(1) || sum.Max != id(3) || fmt.Sprint(sum.Consumers) != "[{c 1} {c9 2}]" {
		t.Fatalf("summary %+v", sum)
	}
	ac := &AutoClaim{Key: "s:1", Group: "g", Consumer: "c5", Count: 1}
	gl.do(ac)
	if ac.Next != id(2) || eventPositions(ac.Entries) != "1" {
		t.Fatalf("XAUTOCLAIM COUNT 1: next %s, entries %s", ac.Next, eventPositions(ac.Entries))
	}
	want(t, "pending after XAUTOCLAIM", gl.pendingOf("s:1", "g"), "1-0 c5 2", "2-0 c9 1", "3-0 c9 2")
}

// TestGroupErrors: the refusals of each request, and that a refused
// request changes nothing.
func TestGroupErrors(t *testing.T) {
	gl := openGroupLog(t, "")
	gl.add("s:1", "A")
	gl.do(&GroupCreate{Key: "s:1", Group: "g", EntriesRead: -1})
	noGroup := &NoGroupError{Key: "s:1", Group: "nope"}
	gl.fails(&GroupCreate{Key: "s:1", Group: "g", EntriesRead: -1}, ErrBusyGroup)
	gl.fails(&GroupCreate{Key: "nostream", Group: "g", EntriesRead: -1}, ErrNoKey)
	gl.fails(&GroupCreate{Key: "nostream", Group: "g", MkStream: true, EntriesRead: -1}, ErrMkStream)
	gl.fails(&GroupSetID{Key: "s:1", Group: "nope"}, noGroup)
	gl.fails(&GroupSetID{Key: "nostream", Group: "g"}, ErrNoKey)
	gl.fails(&ConsumerCreate{Key: "s:1", Group: "nope", Consumer: "c"}, noGroup)
	gl.fails(&ConsumerDelete{Key: "s:1", Group: "nope", Consumer: "c"}, noGroup)
	gl.fails(&GroupDestroy{Key: "nostream", Group: "g"}, ErrNoKey)
	gl.fails(&PendingSummary{Key: "s:1", Group: "nope"}, noGroup)
	gl.fails(&PendingRange{Key: "s:1", Group: "nope", End: MaxID, Count: 1}, noGroup)
	gl.fails(&Claim{Key: "s:1", Group: "nope", Consumer: "c", RetryCount: -1}, noGroup)
	gl.fails(&AutoClaim{Key: "s:1", Group: "nope", Consumer: "c"}, noGroup)
	gl.fails(&InfoGroups{Key: "nostream"}, ErrNoKey)
	gl.fails(&InfoConsumers{Key: "s:1", Group: "nope"}, noGroup)
	gl.fails(&InfoConsumers{Key: "nostream", Group: "g"}, ErrNoKey)
	// One key without the group refuses the whole read: nothing delivered.
	gl.fails(read("g", "c", 0, "s:1", "s:2"), &NoGroupError{Key: "s:2", Group: "g"})
	// A malformed ID of XACK is answered only when the group exists;
	// XCLAIM's after NOGROUP.
	bad := errors.New("bad id")
	ack := &Ack{Key: "s:1", Group: "nope", Invalid: bad}
	gl.do(ack)
	gl.fails(&Ack{Key: "s:1", Group: "g", Invalid: bad}, bad)
	gl.fails(&Claim{Key: "s:1", Group: "g", Consumer: "c", Invalid: bad}, bad)
	want(t, "groups", gl.groupsOf("s:1"), "g c=0 p=0 last=0-0 read=-1 lag=1")

	destroy := &GroupDestroy{Key: "s:1", Group: "nope"}
	gl.do(destroy)
	if destroy.Destroyed {
		t.Fatal("destroyed a group that does not exist")
	}
	if got := gl.groupsOf("s:2"); got != nil {
		t.Fatalf("a stream without groups: %q", got)
	}
}

// TestGroupAckAndConsumers: XACK removes pending entries once; XGROUP
// CREATECONSUMER and DELCONSUMER; DESTROY removes everything, and a group
// made again under the name starts afresh.
func TestGroupAckAndConsumers(t *testing.T) {
	gl := openGroupLog(t, "")
	gl.add("s:1", "A", "B", "C", "D")
	gl.do(&GroupCreate{Key: "s:1", Group: "g", EntriesRead: 0})
	gl.do(read("g", "c1", 2, "s:1"), read("g", "c2", 2, "s:1"))
	ack := &Ack{Key: "s:1", Group: "g", IDs: []ID{id(1), id(1), {Ms: 2, Seq: 1}, id(3), id(9)}}
	gl.do(ack)
	if ack.Acked != 2 {
		t.Fatalf("acked %d, want 2 (1-0 and 3-0, each once)", ack.Acked)
	}
	want(t, "pending", gl.pendingOf("s:1", "g"), "2-0 c1 1", "4-0 c2 1")
	cc := &ConsumerCreate{Key: "s:1", Group: "g", Consumer: "c3"}
	gl.do(cc)
	again := &ConsumerCreate{Key: "s:1", Group: "g", Consumer: "c3"}
	gl.do(again)
	if !cc.Created || again.Created {
		t.Fatalf("CREATECONSUMER: %v then %v", cc.Created, again.Created)
	}
	del := &ConsumerDelete{Key: "s:1", Group: "g", Consumer: "c2"}
	gl.do(del)
	if del.Pending != 1 {
		t.Fatalf("DELCONSUMER returned %d, want 1", del.Pending)
	}
	want(t, "consumers", gl.consumersOf("s:1", "g"), "c1 p=1 active=true", "c3 p=0 active=false")
	want(t, "pending after DELCONSUMER", gl.pendingOf("s:1", "g"), "2-0 c1 1")
	want(t, "groups", gl.groupsOf("s:1"), "g c=2 p=1 last=4-0 read=4 lag=0")

	d := &GroupDestroy{Key: "s:1", Group: "g"}
	gl.do(d)
	if !d.Destroyed {
		t.Fatal("DESTROY did not")
	}
	gl.do(&GroupCreate{Key: "s:1", Group: "g", EntriesRead: -1})
	want(t, "groups made again", gl.groupsOf("s:1"), "g c=0 p=0 last=0-0 read=-1 lag=4")
	want(t, "consumers made again", gl.consumersOf("s:1", "g"))
}

// TestGroupSetIDAndRedelivery: SETID moves the last-delivered ID back, and
// the entries delivered again move to the new reader with a delivery
// count of 1, as Redis does; NOACK delivers without pending entries.
func TestGroupSetIDAndRedelivery(t *testing.T) {
	gl := openGroupLog(t, "")
	gl.add("s:1", "A", "B", "C")
	gl.do(&GroupCreate{Key: "s:1", Group: "g", EntriesRead: -1})
	gl.do(read("g", "c1", 0, "s:1"))
	gl.do(&ReadGroup{Group: "g", Consumer: "c1", Keys: []string{"s:1"}, From: []ReadFrom{{}}})
	want(t, "pending", gl.pendingOf("s:1", "g"), "1-0 c1 2", "2-0 c1 2", "3-0 c1 2")
	gl.do(&GroupSetID{Key: "s:1", Group: "g", ID: id(1), EntriesRead: -1})
	// Entries-read is unknown after SETID: Redis estimates it for the
	// first entry's ID, not for one in the middle.
	want(t, "after SETID", gl.groupsOf("s:1"), "g c=1 p=3 last=1-0 read=-1 lag=2")
	r := read("g", "c2", 1, "s:1")
	gl.do(r)
	if positionsOf(r.Streams) != "s:1:2" {
		t.Fatalf("read after SETID: %s", positionsOf(r.Streams))
	}
	want(t, "after a read in the middle", gl.groupsOf("s:1"), "g c=2 p=3 last=2-0 read=-1 lag=-1")
	want(t, "pending moved", gl.pendingOf("s:1", "g"), "1-0 c1 2", "2-0 c2 1", "3-0 c1 2")
	noack := read("g", "c3", 0, "s:1")
	noack.NoAck = true
	gl.do(noack)
	if positionsOf(noack.Streams) != "s:1:3" {
		t.Fatalf("NOACK read: %s", positionsOf(noack.Streams))
	}
	want(t, "NOACK leaves the PEL", gl.pendingOf("s:1", "g"), "1-0 c1 2", "2-0 c2 1", "3-0 c1 2")
	want(t, "NOACK consumer never active", gl.consumersOf("s:1", "g"), "c1 p=2 active=true", "c2 p=1 active=true", "c3 p=0 active=false")
	// Entries-read was unknown after SETID; delivering the view's last
	// entry makes it known again.
	want(t, "groups", gl.groupsOf("s:1"), "g c=3 p=3 last=3-0 read=3 lag=0")
	gl.do(&GroupSetID{Key: "s:1", Group: "g", Dollar: true, EntriesRead: 3})
	gl.add("s:1", "D")
	gl.add("other:1", "X")
	want(t, "SETID $ with ENTRIESREAD", gl.groupsOf("s:1"), "g c=3 p=3 last=3-0 read=3 lag=1")
}

// TestClaim: XCLAIM's min-idle-time, IDLE, TIME, RETRYCOUNT, JUSTID,
// FORCE and LASTID.
func TestClaim(t *testing.T) {
	gl := openGroupLog(t, "")
	gl.add("s:1", "A", "B", "C", "D")
	gl.add("t:1", "X") // position 5: not the view's
	gl.do(&GroupCreate{Key: "s:1", Group: "g", EntriesRead: -1})
	gl.do(read("g", "c1", 2, "s:1"))

	// Fresh entries are not idle enough; one made idle by IDLE is.
	young := &Claim{Key: "s:1", Group: "g", Consumer: "c2", MinIdle: 60000, IDs: []ID{id(1), id(2)}, RetryCount: -1}
	gl.do(young)
	if len(young.Entries) != 0 {
		t.Fatalf("claimed young entries: %s", eventPositions(young.Entries))
	}
	aged := &Claim{Key: "s:1", Group: "g", Consumer: "c1", IDs: []ID{id(1)}, Delivery: DeliveryIdle, Idle: 120000, RetryCount: -1, JustID: true}
	gl.do(aged)
	if idsOf(aged.Claimed) != "1-0" {
		t.Fatalf("JUSTID claimed %q", idsOf(aged.Claimed))
	}
	old := &Claim{Key: "s:1", Group: "g", Consumer: "c2", MinIdle: 60000, IDs: []ID{id(1), id(2)}, RetryCount: -1}
	gl.do(old)
	if eventPositions(old.Entries) != "1" {
		t.Fatalf("claimed %q, want the idle one", eventPositions(old.Entries))
	}
	// JUSTID left the count at 1; the claim made it 2. RETRYCOUNT sets it.
	want(t, "pending", gl.pendingOf("s:1", "g"), "1-0 c2 2", "2-0 c1 1")
	gl.do(&Claim{Key: "s:1", Group: "g", Consumer: "c3", IDs: []ID{id(2)}, RetryCount: 7, Delivery: DeliveryAt, Time: 1})
	idle := &PendingRange{Key: "s:1", Group: "g", MinIdle: 1000000, End: MaxID, Count: 10}
	gl.do(idle)
	if len(idle.Entries) != 1 || idle.Entries[0].ID != id(2) || idle.Entries[0].Deliveries != 7 || idle.Entries[0].Consumer != "c3" {
		t.Fatalf("TIME 1 made 2-0 idle since 1970, RETRYCOUNT 7: %+v", idle.Entries)
	}
	// FORCE makes pending an entry of the view that was not; never one of
	// another view, an ID beyond the log, or one with a sequence.
	force := &Claim{Key: "s:1", Group: "g", Consumer: "c4", IDs: []ID{id(4), id(5), id(99), {Ms: 3, Seq: 1}}, RetryCount: -1, Force: true}
	gl.do(force)
	if eventPositions(force.Entries) != "4" {
		t.Fatalf("FORCE claimed %q", eventPositions(force.Entries))
	}
	noForce := &Claim{Key: "s:1", Group: "g", Consumer: "c4", IDs: []ID{id(3)}, RetryCount: -1}
	gl.do(noForce)
	if len(noForce.Entries) != 0 {
		t.Fatal("claimed an entry that was not pending, without FORCE")
	}
	want(t, "pending after FORCE", gl.pendingOf("s:1", "g"), "1-0 c2 2", "2-0 c3 7", "4-0 c4 2")
	// LASTID moves the last-delivered ID forward only.
	gl.do(&Claim{Key: "s:1", Group: "g", Consumer: "c4", RetryCount: -1, LastID: id(3)})
	gl.do(&Claim{Key: "s:1", Group: "g", Consumer: "c4", RetryCount: -1, LastID: id(1)})
	want(t, "groups", gl.groupsOf("s:1"), "g c=4 p=3 last=3-0 read=2 lag=2")
}

// TestAutoClaimCursor: XAUTOCLAIM walks the PEL from start in COUNT steps
// and returns the next ID, 0-0 at the end; min-idle-time skips count
// against its ten attempts per COUNT.
func TestAutoClaimCursor(t *testing.T) {
	gl := openGroupLog(t, "")
	gl.add("s:1", "A", "B", "C", "D", "E")
	gl.do(&GroupCreate{Key: "s:1", Group: "g", EntriesRead: -1})
	gl.do(read("g", "c1", 0, "s:1"))
	cursor := ID{}
	var got []string
	for range 5 {
		ac := &AutoClaim{Key: "s:1", Group: "g", Consumer: "c2", Start: cursor, Count: 2, JustID: true}
		gl.do(ac)
		got = append(got, idsOf(ac.Claimed)+" next "+ac.Next.String())
		cursor = ac.Next
		if cursor == (ID{}) {
			break
		}
	}
	want(t, "cursor walk", got, "1-0,2-0 next 3-0", "3-0,4-0 next 5-0", "5-0 next 0-0")
	// JUSTID did not count deliveries.
	want(t, "pending", gl.pendingOf("s:1", "g"), "1-0 c2 1", "2-0 c2 1", "3-0 c2 1", "4-0 c2 1", "5-0 c2 1")
	none := &AutoClaim{Key: "s:1", Group: "g", Consumer: "c3", MinIdle: 3600000, Count: 1}
	gl.do(none)
	if len(none.Entries) != 0 || none.Next != (ID{}) {
		t.Fatalf("nothing idle: %s next %s", eventPositions(none.Entries), none.Next)
	}
	// An exclusive start (the next ID) and a range of XPENDING by consumer.
	pr := &PendingRange{Key: "s:1", Group: "g", Start: ID{Ms: 2, Seq: 1}, End: id(4), Count: 10, Consumer: "c2", ByConsumer: true}
	gl.do(pr)
	if len(pr.Entries) != 2 || pr.Entries[0].ID != id(3) || pr.Entries[1].ID != id(4) {
		t.Fatalf("XPENDING (2-0 4-0: %+v", pr.Entries)
	}
	nobody := &PendingRange{Key: "s:1", Group: "g", End: MaxID, Count: 10, Consumer: "c9", ByConsumer: true}
	gl.do(nobody)
	if len(nobody.Entries) != 0 {
		t.Fatalf("an unknown consumer's pending entries: %+v", nobody.Entries)
	}
}

// TestGroupViews: groups on $all, a category and a type read the log's
// events of that view; the same key twice in one read reads on.
func TestGroupViews(t *testing.T) {
	gl := openGroupLog(t, "")
	gl.add("a:1", "T1", "T2")
	gl.add("b:1", "T1")
	gl.add("a:2", "T2")
	for _, key := range []string{"$all", "$ce-a", "$et-T1"} {
		gl.do(&GroupCreate{Key: key, Group: "g", EntriesRead: -1})
	}
	r := read("g", "c", 0, "$all", "$ce-a", "$et-T1")
	gl.do(r)
	if got := positionsOf(r.Streams); got != "$all:1,2,3,4 $ce-a:1,2,4 $et-T1:1,3" {
		t.Fatalf("views %q", got)
	}
	want(t, "$ce-a", gl.groupsOf("$ce-a"), "g c=1 p=3 last=4-0 read=3 lag=0")
	gl.do(&GroupSetID{Key: "$all", Group: "g", EntriesRead: -1})
	twice := read("g", "c", 2, "$all", "$all")
	gl.do(twice)
	if got := positionsOf(twice.Streams); got != "$all:1,2 $all:3,4" {
		t.Fatalf("a key twice: %q", got)
	}
}

// TestGroupsSurviveReopen: every change is stored: a clean close and a
// reopen, and a crash image of the open log, show the state as answered.
func TestGroupsSurviveReopen(t *testing.T) {
	gl := openGroupLog(t, "")
	gl.add("s:1", "A", "B", "C", "D")
	gl.do(
		&GroupCreate{Key: "s:1", Group: "g", EntriesRead: -1},
		&GroupCreate{Key: "s:1", Group: "h", Dollar: true, EntriesRead: 2},
		&GroupCreate{Key: "s:1", Group: "gone", EntriesRead: -1},
	)
	gl.do(read("g", "c1", 2, "s:1"), read("g", "c2", 1, "s:1"), read("gone", "x", 0, "s:1"))
	gl.do(&Ack{Key: "s:1", Group: "g", IDs: []ID{id(2)}})
	gl.do(&Claim{Key: "s:1", Group: "g", Consumer: "c3", IDs: []ID{id(3)}, RetryCount: 5, Delivery: DeliveryAt, Time: 1000})
	gl.do(&ConsumerCreate{Key: "s:1", Group: "h", Consumer: "idle"})
	gl.do(&GroupDestroy{Key: "s:1", Group: "gone"})
	state := gl.state("s:1")
	crash := testkit.CrashImage(t, gl.dir)
	gl.close()
	for _, dir := range []string{gl.dir, crash} {
		again := openGroupLog(t, dir)
		if got := again.state("s:1"); got != state {
			t.Fatalf("after reopening %s:\n%s\nwant\n%s", dir, got, state)
		}
		// Numbers given after the reopen do not reuse a group's.
		again.do(&GroupCreate{Key: "s:1", Group: "new", EntriesRead: -1})
		again.do(read("new", "n", 1, "s:1"))
		want(t, "a group made after the reopen", again.pendingOf("s:1", "new"), "1-0 n 1")
		if got := again.state("s:1"); !strings.HasPrefix(got, state[:strings.Index(state, "\n")]) {
			t.Fatalf("the new group changed the others:\n%s", got)
		}
		again.close()
	}
}

// state renders everything about a key's groups, times included.
func (gl *groupLog) state(key string) string {
	gl.t.Helper()
	var b strings.Builder
	info := &InfoGroups{Key: key}
	gl.do(info)
	for _, g := range info.Groups {
		fmt.Fprintf(&b, "%+v\n", g)
	}
	for _, g := range info.Groups {
		c := &InfoConsumers{Key: key, Group: g.Name}
		p := &PendingRange{Key: key, Group: g.Name, End: MaxID, Count: 1 << 30}
		gl.do(c, p)
		for _, c := range c.Consumers {
			fmt.Fprintf(&b, "%s %s pending %d\n", g.Name, c.Name, c.Pending)
		}
		gs := gl.gs
		var times []string
		gl.log.Exclusive(func(uint64) error {
			grp := gs.lookup(key, g.Name)
			for _, c := range grp.sortedConsumers() {
				times = append(times, fmt.Sprintf("%s seen %d active %d", c.name, c.seen, c.active))
			}
			grp.pel.Scan(func(pos uint64, p *pending) bool {
				times = append(times, fmt.Sprintf("%d %s delivered %d count %d", pos, p.owner.name, p.delivered, p.count))
				return true
			})
			return nil
		})
		fmt.Fprintf(&b, "%s %s\n", g.Name, strings.Join(times, "; "))
	}
	return b.String()
}
