package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/redis/go-redis/v9"
)

// event is an event as EVENT.READ and EVENT.RANGE reply it.
type event struct {
	Position int64
	Stream   string
	Version  int64
	Type     string
	Data     string
	Meta     string
	ID       string
	Time     int64
}

// parseEvent decodes one event of a go-redis reply in either protocol
// (testkit.EventOf checks its fields and their types) and checks that data
// and meta are JSON objects.
func parseEvent(v any) (event, error) {
	f, err := testkit.EventOf(v, 0)
	if err != nil {
		return event{}, err
	}
	e := event{
		Position: f["position"].(int64), Stream: f["stream"].(string), Version: f["version"].(int64), Type: f["type"].(string),
		Data: f["data"].(string), Meta: f["meta"].(string), ID: f["id"].(string), Time: f["time"].(int64),
	}
	for _, j := range []struct{ name, text string }{{"data", e.Data}, {"meta", e.Meta}} {
		var obj map[string]any
		if err := json.Unmarshal([]byte(j.text), &obj); err != nil || obj == nil {
			return e, fmt.Errorf("event at position %d: %s %q is not a JSON object: %v", e.Position, j.name, j.text, err)
		}
	}
	return e, nil
}

// parseEvents decodes an EVENT.READ or EVENT.RANGE reply.
func parseEvents(v any) ([]event, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("events reply is a %T: %v", v, v)
	}
	out := make([]event, 0, len(list))
	for _, x := range list {
		e, err := parseEvent(x)
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}

// readLog reads the whole log with EVENT.RANGE in pages of page events and
// checks what holds for any log: positions run 1, 2, ... with no gap, every
// event decodes, and each stream's versions run 1, 2, ... in position order.
func readLog(t testing.TB, c *redis.Client, from int64, page int) []event {
	t.Helper()
	ctx := context.Background()
	var all []event
	next := from
	for {
		v, err := c.Do(ctx, "EVENT.RANGE", next, "COUNT", page).Result()
		if err != nil {
			t.Fatalf("EVENT.RANGE %d COUNT %d: %v", next, page, err)
		}
		evs, err := parseEvents(v)
		if err != nil {
			t.Fatalf("EVENT.RANGE %d COUNT %d: %v", next, page, err)
		}
		for _, e := range evs {
			if e.Position != next {
				t.Fatalf("EVENT.RANGE: position %d where %d was due (a gap or a reordering)", e.Position, next)
			}
			next++
		}
		all = append(all, evs...)
		if len(evs) < page {
			break
		}
	}
	if from == 1 {
		versions := map[string]int64{}
		for _, e := range all {
			if e.Version != versions[e.Stream]+1 {
				t.Fatalf("position %d: %s version %d follows version %d", e.Position, e.Stream, e.Version, versions[e.Stream])
			}
			versions[e.Stream] = e.Version
		}
		for stream, v := range versions {
			got, err := c.Do(ctx, "EVENT.VERSION", stream).Int64()
			if err != nil || got != v {
				t.Fatalf("EVENT.VERSION %s = %d, %v; the log holds %d events of it", stream, got, err, v)
			}
		}
	}
	return all
}
