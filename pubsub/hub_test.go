package pubsub

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foldb/foldb/eventlog"
)

type sink struct {
	proto int
	mu    sync.Mutex
	msgs  []string
}

func (s *sink) Deliver(m []byte) { s.mu.Lock(); s.msgs = append(s.msgs, string(m)); s.mu.Unlock() }
func (s *sink) Proto() int       { return s.proto }
func (s *sink) got() []string    { s.mu.Lock(); defer s.mu.Unlock(); return slices.Clone(s.msgs) }

func TestPublishCounts(t *testing.T) {
	h := New()
	a, b := &sink{proto: 2}, &sink{proto: 3}
	sa, sb := h.NewSub(a), h.NewSub(b)
	if n := sa.Subscribe("news"); n != 1 {
		t.Fatalf("Subscribe count %d", n)
	}
	if n := sa.PSubscribe("n*"); n != 2 {
		t.Fatalf("PSubscribe count %d", n)
	}
	sb.Subscribe("news")
	if n := h.Publish("news", []byte("hi")); n != 3 {
		t.Fatalf("Publish reached %d, want 3 (a twice, b once)", n)
	}
	want2 := "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
	wantP := "*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
	if got := a.got(); !slices.Equal(got, []string{want2, wantP}) {
		t.Fatalf("RESP2 subscriber got %q", got)
	}
	want3 := ">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
	if got := b.got(); !slices.Equal(got, []string{want3}) {
		t.Fatalf("RESP3 subscriber got %q", got)
	}
	if h.NumSub("news") != 2 || h.NumPat() != 1 || h.NumChannels() != 1 {
		t.Fatalf("NumSub %d NumPat %d NumChannels %d", h.NumSub("news"), h.NumPat(), h.NumChannels())
	}
	if got := h.ActiveChannels("ne*"); !slices.Equal(got, []string{"news"}) {
		t.Fatalf("ActiveChannels %q", got)
	}
	sa.Close()
	if sa.Count() != 0 || h.NumSub("news") != 1 || h.NumPat() != 0 {
		t.Fatalf("after Close: count %d NumSub %d NumPat %d", sa.Count(), h.NumSub("news"), h.NumPat())
	}
	if n := sb.Unsubscribe("news"); n != 0 || h.NumChannels() != 0 || h.subs.Load() != 0 {
		t.Fatalf("after Unsubscribe: %d, channels %d, subs %d", n, h.NumChannels(), h.subs.Load())
	}
	if n := h.Publish("news", []byte("x")); n != 0 {
		t.Fatalf("Publish with nobody reached %d", n)
	}
}

func TestEntityListeners(t *testing.T) {
	for _, c := range []struct {
		pattern string
		want    bool
	}{
		{"*", true}, {"__*", true}, {"__entity__:account:*", true}, {"__entity__:account:1", true},
		{"account:*", false}, {"news", false}, {"_x*", false}, {"?_entity__:*", true},
	} {
		h := New()
		s := h.NewSub(&sink{proto: 2})
		s.PSubscribe(c.pattern)
		if got := h.WantsEntityChanges(); got != c.want {
			t.Errorf("pattern %q: WantsEntityChanges %v, want %v", c.pattern, got, c.want)
		}
		s.Close()
		if h.WantsEntityChanges() {
			t.Errorf("pattern %q: still wanted after Close", c.pattern)
		}
	}
	h := New()
	s := h.NewSub(&sink{proto: 2})
	s.Subscribe("__entity__:account:1")
	if !h.WantsEntityChanges() {
		t.Fatal("an entity channel subscription is not counted")
	}
}

func TestReserved(t *testing.T) {
	for ch, want := range map[string]bool{
		"account:42": true, "__entity__:account:42": true, "__entity__:": true,
		"news": false, "account:": false, ":x": false, "": false,
	} {
		if got := Reserved(ch); got != want {
			t.Errorf("Reserved(%q) = %v, want %v", ch, got, want)
		}
	}
}

type fakeLog struct {
	events []eventlog.Event
	mu     sync.Mutex
	read   []uint64 // every position a Scan gave
}

func (f *fakeLog) Scan(from, to uint64, fn func(e *eventlog.Event) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.events {
		if p := f.events[i].Position; p >= from && p <= to {
			f.read = append(f.read, p)
			if err := fn(&f.events[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFeed: events go out on their stream's channel as JSON, entity
// changes after the events of their round, in position order, and nothing
// committed before Start.
func TestFeed(t *testing.T) {
	lg := &fakeLog{}
	for i := 1; i <= 6; i++ {
		lg.events = append(lg.events, eventlog.Event{
			Position: uint64(i), Stream: fmt.Sprintf("account:%d", i%2), Version: uint64(i),
			Type: "Deposited", Data: []byte(fmt.Sprintf(`{"n":%d}`, i)), Time: 1000,
		})
	}
	h := New()
	s := &sink{proto: 2}
	sub := h.NewSub(s)
	sub.PSubscribe("account:*")
	sub.PSubscribe("__entity__:*")
	h.Start(lg, 2, nil)
	defer h.Stop()
	if !h.WantsEntityChanges() {
		t.Fatal("a __entity__:* pattern does not ask for entity changes")
	}
	h.EntityChanges(4, []EntityChange{{Type: "account", ID: "0", JSON: `{"n":4}`}})
	h.Committed(3, 4, nil, true)
	h.EntityChanges(6, []EntityChange{{Type: "account", ID: "1", JSON: ""}})
	h.Committed(5, 6, []string{"account:0", "account:1"}, false)
	waitFor(t, "6 messages", func() bool { return len(s.got()) == 6 })
	var order []string
	for _, m := range s.got() {
		var channel, payload string
		// *4 $8 pmessage $n pattern $n channel $n payload
		var parts []string
		for len(m) > 0 {
			i := 0
			for m[i] != '\n' {
				i++
			}
			parts = append(parts, m[:i-1])
			m = m[i+1:]
		}
		channel, payload = parts[6], parts[8]
		if channel[0] == '_' {
			order = append(order, channel+"="+payload)
			continue
		}
		var ev struct {
			Position uint64          `json:"position"`
			Stream   string          `json:"stream"`
			Data     json.RawMessage `json:"data"`
			Meta     json.RawMessage `json:"meta"`
		}
		if err := json.Unmarshal([]byte(payload), &ev); err != nil {
			t.Fatalf("payload %q: %v", payload, err)
		}
		if ev.Stream != channel || string(ev.Meta) != "{}" {
			t.Fatalf("event %+v on channel %s", ev, channel)
		}
		order = append(order, fmt.Sprint(ev.Position))
	}
	want := []string{"3", "4", "__entity__:account:0={\"n\":4}", "5", "6", "__entity__:account:1="}
	if !slices.Equal(order, want) {
		t.Fatalf("order %q, want %q", order, want)
	}
}

func TestEventJSON(t *testing.T) {
	e := eventlog.Event{Position: 7, Stream: "a:\"b\"\n", Version: 2, Type: "T\x01", Data: []byte(`{"x":1}`),
		Meta: []byte(`{"m":true}`), ID: "id-\xff", Time: 12}
	b := AppendEventJSON(nil, &e)
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if got["stream"] != "a:\"b\"\n" || got["type"] != "T\x01" || got["id"] != "id-\ufffd" || got["position"] != 7.0 {
		t.Fatalf("decoded %v from %s", got, b)
	}
}

// TestFeedSkipsUnheard: rounds committed while nobody subscribed do not
// wake the feed and are never published, even once a subscriber comes.
func TestFeedSkipsUnheard(t *testing.T) {
	lg := &fakeLog{}
	for i := 1; i <= 4; i++ {
		lg.events = append(lg.events, eventlog.Event{
			Position: uint64(i), Stream: "account:1", Version: uint64(i),
			Type: "Deposited", Data: []byte(`{}`), Time: 1000,
		})
	}
	h := New()
	h.Start(lg, 0, nil)
	h.Committed(1, 1, nil, true)
	h.Committed(2, 3, nil, true)
	s := &sink{proto: 2}
	h.NewSub(s).Subscribe("account:1")
	h.Committed(4, 4, []string{"account:1"}, false)
	waitFor(t, "a message", func() bool { return len(s.got()) >= 1 })
	h.Stop()
	got := s.got()
	if len(got) != 1 || !strings.Contains(got[0], `"position":4`) {
		t.Fatalf("published %q, want only position 4", got)
	}
}

// TestFeedReadsOnlyHeardRounds: with subscriptions that take none of a
// round's streams (another channel, entity changes only), the round is not
// read back from the log; the rounds a subscriber takes are, in order, with
// the entity changes after the events before them.
func TestFeedReadsOnlyHeardRounds(t *testing.T) {
	lg := &fakeLog{}
	for i := 1; i <= 6; i++ {
		lg.events = append(lg.events, eventlog.Event{
			Position: uint64(i), Stream: fmt.Sprintf("account:%d", i%3), Version: 1,
			Type: "Deposited", Data: []byte(`{}`), Time: 1000,
		})
	}
	h := New()
	h.Start(lg, 0, nil)
	defer h.Stop()
	idle, entities := &sink{proto: 2}, &sink{proto: 2}
	h.NewSub(idle).Subscribe("idle")
	h.NewSub(entities).PSubscribe("__entity__:*")
	h.EntityChanges(2, []EntityChange{{Type: "account", ID: "1", JSON: `{}`}})
	h.Committed(1, 2, []string{"account:1", "account:2"}, false)
	waitFor(t, "the entity change", func() bool { return len(entities.got()) == 1 })

	heard := &sink{proto: 2}
	h.NewSub(heard).Subscribe("account:1")
	h.Committed(3, 3, []string{"account:0"}, false) // nobody takes account:0
	h.Committed(4, 5, []string{"account:1", "account:2"}, false)
	h.Committed(6, 6, []string{"account:0"}, false)
	h.EntityChanges(6, []EntityChange{{Type: "account", ID: "0", JSON: `{}`}})
	h.Committed(6, 6, nil, false) // a round of entity changes only
	waitFor(t, "the second entity change", func() bool { return len(entities.got()) == 2 })
	waitFor(t, "position 4", func() bool { return len(heard.got()) == 1 })
	lg.mu.Lock()
	read := slices.Clone(lg.read)
	lg.mu.Unlock()
	if !slices.Equal(read, []uint64{4, 5}) {
		t.Fatalf("the feed read positions %v from the log, want [4 5]", read)
	}
	if got := heard.got(); !strings.Contains(got[0], `"position":4`) || len(idle.got()) != 0 {
		t.Fatalf("account:1 got %q, idle %q", got, idle.got())
	}
}
