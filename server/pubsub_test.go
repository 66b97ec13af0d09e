package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/foldb/foldb/internal/testkit"
)

// receive reads the next message of a subscription, failing after a while.
func receive(t *testing.T, ps *redis.PubSub) *redis.Message {
	t.Helper()
	select {
	case m := <-ps.Channel():
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10 s")
	}
	return nil
}

// TestPubSubEvents: every committed event on its stream's channel, in
// order, as JSON; entity changes on __entity__ channels; in RESP2 and RESP3.
func TestPubSubEvents(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, proto int) {
		cat := fmt.Sprint("acct", proto)
		ps := rc.PSubscribe(ctx, cat+":*", "__entity__:"+cat+":*")
		defer ps.Close()
		if _, err := ps.Receive(ctx); err != nil { // the first confirmation
			t.Fatal(err)
		}
		if _, err := ps.Receive(ctx); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			do(t, ts.R2, "EVENT.APPEND", fmt.Sprintf("%s:%d", cat, i%2), "Deposited", fmt.Sprintf(`{"amount":%d}`, i))
		}
		var positions []int
		entities := map[string]string{}
		changes := 0 // one a round: each append is a round of its own here
		for len(positions) < 3 || changes < 3 {
			m := receive(t, ps)
			if strings.HasPrefix(m.Channel, "__entity__:") {
				if m.Pattern != "__entity__:"+cat+":*" {
					t.Fatalf("entity message by pattern %q", m.Pattern)
				}
				entities[m.Channel] = m.Payload
				changes++
				continue
			}
			var ev struct {
				Position int             `json:"position"`
				Stream   string          `json:"stream"`
				Type     string          `json:"type"`
				Data     json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil {
				t.Fatalf("payload %q: %v", m.Payload, err)
			}
			if ev.Stream != m.Channel || ev.Type != "Deposited" || m.Pattern != cat+":*" {
				t.Fatalf("message %+v carries %+v", m, ev)
			}
			positions = append(positions, ev.Position)
		}
		for i := 1; i < len(positions); i++ {
			if positions[i] <= positions[i-1] {
				t.Fatalf("events out of position order: %v", positions)
			}
		}
		// The last change of each entity is its state now.
		for id, want := range map[string]string{"1": `{"amount":3}`, "0": `{"amount":2}`} {
			if got := entities["__entity__:"+cat+":"+id]; got != want {
				t.Fatalf("entity %s's last message %q, want %q", id, got, want)
			}
		}
	})
}

func TestPubSubPublish(t *testing.T) {
	ts := startServer(t)
	ts.EachProto(t, func(t *testing.T, rc *redis.Client, proto int) {
		ps := rc.Subscribe(ctx, "news")
		defer ps.Close()
		if _, err := ps.Receive(ctx); err != nil {
			t.Fatal(err)
		}
		if n := ts.R2.Publish(ctx, "news", "hello").Val(); n != 1 {
			t.Fatalf("PUBLISH reached %d", n)
		}
		if m := receive(t, ps); m.Channel != "news" || m.Payload != "hello" {
			t.Fatalf("got %+v", m)
		}
		doErrPrefix(t, ts.R2, "ERR channel 'account:1' carries only what the log commits", "PUBLISH", "account:1", "x")
		doErrPrefix(t, ts.R2, "ERR channel '__entity__:account:1' carries only", "PUBLISH", "__entity__:account:1", "x")
		if got := ts.R2.PubSubNumSub(ctx, "news", "none").Val(); got["news"] != 1 || got["none"] != 0 {
			t.Fatalf("NUMSUB %v", got)
		}
		if got := ts.R2.PubSubChannels(ctx, "n*").Val(); len(got) != 1 || got[0] != "news" {
			t.Fatalf("CHANNELS %v", got)
		}
	})
}

// TestPubSubSubscribedMode: a RESP2 connection in subscribed mode runs
// only the subscription commands, PING answers as a message, and
// unsubscribing from everything ends the mode.
func TestPubSubSubscribedMode(t *testing.T) {
	ts := startServer(t)
	r := ts.Raw(t)
	if got := fmt.Sprint(r.Do("SUBSCRIBE", "a", "b")); got != "[subscribe a 1]" {
		t.Fatalf("SUBSCRIBE: %s", got)
	}
	if got := fmt.Sprint(r.Read()); got != "[subscribe b 2]" {
		t.Fatalf("second confirmation: %s", got)
	}
	if got := r.Do("ENTITY.GET", "x", "1"); got != testkit.Err("ERR Can't execute 'entity.get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context") {
		t.Fatalf("ENTITY.GET in subscribed mode: %#v", got)
	}
	if got := fmt.Sprint(r.Do("PING")); got != "[pong ]" {
		t.Fatalf("PING: %s", got)
	}
	if got := fmt.Sprint(r.Do("PING", "hi")); got != "[pong hi]" {
		t.Fatalf("PING hi: %s", got)
	}
	if got := fmt.Sprint(r.Do("UNSUBSCRIBE")); got != "[unsubscribe a 1]" {
		t.Fatalf("UNSUBSCRIBE: %s", got)
	}
	if got := fmt.Sprint(r.Read()); got != "[unsubscribe b 0]" {
		t.Fatalf("UNSUBSCRIBE's second: %s", got)
	}
	if got := fmt.Sprint(r.Do("UNSUBSCRIBE")); got != "[unsubscribe <nil> 0]" {
		t.Fatalf("UNSUBSCRIBE of nothing: %s", got)
	}
	if got := r.Do("PING"); got != testkit.Simple("PONG") {
		t.Fatalf("PING after the mode: %#v", got)
	}
	if got := fmt.Sprint(r.Do("PSUBSCRIBE", "x*")); got != "[psubscribe x* 1]" {
		t.Fatalf("PSUBSCRIBE: %s", got)
	}
	if got := r.Do("RESET"); got != testkit.Simple("RESET") {
		t.Fatalf("RESET: %#v", got)
	}
	if n := ts.R2.PubSubNumPat(ctx).Val(); n != 0 {
		t.Fatalf("NUMPAT %d after RESET", n)
	}
}
