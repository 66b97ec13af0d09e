package testkit

import "fmt"

// EventFields are an event's fields in the order of a reply
// (docs/commands.md: "An event in a reply").
var EventFields = []string{"position", "stream", "version", "type", "data", "meta", "id", "time"}

// EventOf checks one event of a go-redis reply and returns its fields by
// name: in RESP2 a flat field/value array with the fields in the order of
// EventFields, in RESP3 a map of those fields; position, version and time
// integers, the others strings. proto 0 takes either shape.
func EventOf(v any, proto int) (map[string]any, error) {
	out := make(map[string]any, len(EventFields))
	switch e := v.(type) {
	case []any:
		if proto == 3 {
			return nil, fmt.Errorf("RESP3 event is a flat array: %#v", v)
		}
		if len(e) != 2*len(EventFields) {
			return nil, fmt.Errorf("event is %#v, want a flat array of %d", v, 2*len(EventFields))
		}
		for i, name := range EventFields {
			if e[2*i] != name {
				return nil, fmt.Errorf("event field %d is %v, want %s", i, e[2*i], name)
			}
			out[name] = e[2*i+1]
		}
	case map[any]any:
		if proto == 2 {
			return nil, fmt.Errorf("RESP2 event is a map: %#v", v)
		}
		if len(e) != len(EventFields) {
			return nil, fmt.Errorf("event is %#v, want a map of %d", v, len(EventFields))
		}
		for _, name := range EventFields {
			f, ok := e[name]
			if !ok {
				return nil, fmt.Errorf("event has no %s: %v", name, e)
			}
			out[name] = f
		}
	default:
		return nil, fmt.Errorf("event is a %T: %#v", v, v)
	}
	for _, name := range []string{"position", "version", "time"} {
		if _, ok := out[name].(int64); !ok {
			return nil, fmt.Errorf("event field %s is %T %#v, want an integer", name, out[name], out[name])
		}
	}
	for _, name := range []string{"stream", "type", "data", "meta", "id"} {
		if _, ok := out[name].(string); !ok {
			return nil, fmt.Errorf("event field %s is %T %#v, want a string", name, out[name], out[name])
		}
	}
	return out, nil
}
