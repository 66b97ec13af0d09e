package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// field is a top-level member to write into a JSON object: raw is its JSON
// value; del removes the member instead.
type field struct {
	name string
	raw  []byte
	del  bool
}

// setFields returns obj (a JSON object) with the given members replaced,
// added (at the end, in order) or removed, appended to dst. Members keep
// their order.
func setFields(dst, obj []byte, fields []field) []byte {
	dst = append(dst, '{')
	first := true
	var used uint64 // bit i: fields[i] written (fields beyond 64 use a slow path)
	var usedSlow []bool
	if len(fields) > 64 {
		usedSlow = make([]bool, len(fields))
	}
	isUsed := func(i int) bool {
		if usedSlow != nil {
			return usedSlow[i]
		}
		return used&(1<<i) != 0
	}
	for m := scanMembers(obj); ; {
		k, v, ok := m.next()
		if !ok {
			break
		}
		idx := -1
		for i := range fields {
			if keyIs(k, fields[i].name) {
				idx = i
			}
		}
		if idx >= 0 {
			if usedSlow != nil {
				usedSlow[idx] = true
			} else {
				used |= 1 << idx
			}
			if fields[idx].del {
				continue
			}
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, k...)
		dst = append(dst, ':')
		if idx >= 0 {
			dst = append(dst, fields[idx].raw...)
		} else {
			dst = append(dst, v...)
		}
	}
	for i := range fields {
		if isUsed(i) || fields[i].del {
			continue
		}
		// A later duplicate of the same name wins, as when set in order.
		dup := false
		for j := i + 1; j < len(fields); j++ {
			if fields[j].name == fields[i].name {
				dup = true
			}
		}
		if dup {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, fields[i].name)
		dst = append(dst, ':')
		dst = append(dst, fields[i].raw...)
	}
	return append(dst, '}')
}

// mergePatch applies an RFC 7386 JSON merge patch to target and appends the
// result to dst. Both are JSON objects (target may be nil: empty).
func mergePatch(dst, target, patch []byte) []byte {
	p := gjson.ParseBytes(patch)
	if !p.IsObject() {
		return append(dst, patch...)
	}
	t := gjson.ParseBytes(target)
	if !t.IsObject() {
		t = gjson.Parse("{}")
	}
	dst = append(dst, '{')
	first := true
	sep := func() {
		if !first {
			dst = append(dst, ',')
		}
		first = false
	}
	// Members of the target, patched where the patch names them.
	t.ForEach(func(k, v gjson.Result) bool {
		pv := p.Get(gjson.Escape(k.Str))
		if !pv.Exists() {
			sep()
			dst = append(dst, k.Raw...)
			dst = append(dst, ':')
			dst = append(dst, v.Raw...)
			return true
		}
		if pv.Type == gjson.Null {
			return true
		}
		sep()
		dst = append(dst, k.Raw...)
		dst = append(dst, ':')
		if pv.IsObject() {
			var inner []byte
			if v.IsObject() {
				inner = []byte(v.Raw)
			}
			dst = mergePatch(dst, inner, []byte(pv.Raw))
		} else {
			dst = append(dst, pv.Raw...)
		}
		return true
	})
	// Members only the patch has.
	p.ForEach(func(k, v gjson.Result) bool {
		if t.Get(gjson.Escape(k.Str)).Exists() || v.Type == gjson.Null {
			return true
		}
		sep()
		dst = append(dst, k.Raw...)
		dst = append(dst, ':')
		if v.IsObject() {
			dst = mergePatch(dst, nil, []byte(v.Raw))
		} else {
			dst = append(dst, v.Raw...)
		}
		return true
	})
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, fmt.Sprintf(`\u%04x`, c)...)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

var errNotJSON = errors.New("not a JSON value")

// appendValue appends an expression result as JSON.
func appendValue(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case uint64:
		return strconv.AppendUint(dst, x, 10), nil
	case float64:
		return appendFloat(dst, x)
	case float32:
		return appendFloat(dst, float64(x))
	case string:
		return appendJSONString(dst, x), nil
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValue(dst, e); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			var err error
			if dst, err = appendValue(dst, x[k]); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("%w: %T", errNotJSON, v)
	}
	return append(dst, b...), nil
}

// appendFloat writes a float the way encoding/json does, and integral
// values without a fraction ("5", not "5.0").
func appendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, fmt.Errorf("%w: %v", errNotJSON, f)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(dst, f, format, -1, 64), nil
}

// toValue turns a JSON value into what expressions work with: int for
// integral numbers that fit, float64 for other numbers, string, bool, nil,
// map[string]any and []any.
func toValue(r gjson.Result) any {
	switch r.Type {
	case gjson.Null:
		return nil
	case gjson.False:
		return false
	case gjson.True:
		return true
	case gjson.Number:
		if isIntLiteral(r.Raw) {
			if n, err := strconv.ParseInt(r.Raw, 10, 64); err == nil {
				return int(n)
			}
		}
		return r.Num
	case gjson.String:
		return r.Str
	case gjson.JSON:
		if r.IsArray() {
			out := []any{}
			r.ForEach(func(_, v gjson.Result) bool {
				out = append(out, toValue(v))
				return true
			})
			return out
		}
		out := map[string]any{}
		r.ForEach(func(k, v gjson.Result) bool {
			out[k.Str] = toValue(v)
			return true
		})
		return out
	}
	return nil
}

func isIntLiteral(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && !(i == 0 && c == '-') {
			return false
		}
	}
	return true
}
