package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

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

// eventFields are an event's fields in reply order.
var eventFields = []string{"position", "stream", "version", "type", "data", "meta", "id", "time"}

// parseEvent decodes one event of a go-redis reply: a flat field/value
// array (RESP2) or a map (RESP3). It checks that every field is there, in
// order for RESP2, with its type, and that data and meta are JSON objects.
func parseEvent(v any) (event, error) {
	var e event
	fields := map[string]any{}
	switch v := v.(type) {
	case []any:
		if len(v) != 2*len(eventFields) {
			return e, fmt.Errorf("event has %d elements, want %d", len(v), 2*len(eventFields))
		}
		for i, name := range eventFields {
			if v[2*i] != name {
				return e, fmt.Errorf("event field %d is %v, want %s", i, v[2*i], name)
			}
			fields[name] = v[2*i+1]
		}
	case map[any]any:
		if len(v) != len(eventFields) {
			return e, fmt.Errorf("event has %d fields, want %d", len(v), len(eventFields))
		}
		for k, x := range v {
			s, ok := k.(string)
			if !ok {
				return e, fmt.Errorf("event field name %v is a %T", k, k)
			}
			fields[s] = x
		}
	default:
		return e, fmt.Errorf("event is a %T: %v", v, v)
	}
	var err error
	str := func(name string) string {
		s, ok := fields[name].(string)
		if !ok && err == nil {
			err = fmt.Errorf("event field %s is %T %v, want a string", name, fields[name], fields[name])
		}
		return s
	}
	num := func(name string) int64 {
		n, ok := fields[name].(int64)
		if !ok && err == nil {
			err = fmt.Errorf("event field %s is %T %v, want an integer", name, fields[name], fields[name])
		}
		return n
	}
	e = event{
		Position: num("position"), Stream: str("stream"), Version: num("version"), Type: str("type"),
		Data: str("data"), Meta: str("meta"), ID: str("id"), Time: num("time"),
	}
	if err != nil {
		return e, err
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
