package testkit

import "testing"

func TestEventOf(t *testing.T) {
	flat := []any{"position", int64(1), "stream", "a:1", "version", int64(1), "type", "T", "data", "{}", "meta", "{}", "id", "", "time", int64(5)}
	m := map[any]any{}
	for i := 0; i < len(flat); i += 2 {
		m[flat[i]] = flat[i+1]
	}
	for _, tc := range []struct {
		v     any
		proto int
		ok    bool
	}{
		{flat, 2, true}, {flat, 0, true}, {flat, 3, false},
		{m, 3, true}, {m, 0, true}, {m, 2, false},
		{flat[:14], 2, false},
		{append(append([]any{}, flat[2:4]...), append(append([]any{}, flat[:2]...), flat[4:]...)...), 2, false}, // out of order
		{"x", 0, false},
	} {
		e, err := EventOf(tc.v, tc.proto)
		if (err == nil) != tc.ok {
			t.Errorf("EventOf(%v, %d) = %v, %v", tc.v, tc.proto, e, err)
		}
		if err == nil && (e["stream"] != "a:1" || e["time"] != int64(5)) {
			t.Errorf("EventOf(%v, %d) = %v", tc.v, tc.proto, e)
		}
	}
	bad := withField(m, "version", "1")
	if _, err := EventOf(bad, 3); err == nil {
		t.Error("a version that is a string was accepted")
	}
}

// withField is a copy of m with k set to v.
func withField(m map[any]any, k string, v any) map[any]any {
	out := map[any]any{}
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}
