package sqlproj

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/foldb/foldb/sqlproj/sqldb"
)

// errNUL: a value with the NUL character.
var errNUL = errors.New("the value holds the NUL character, which PostgreSQL cannot store")

// column converts what a column's expression gave (nil, bool, int,
// float64, string, map[string]any, []any) to the Go type its SQL type
// takes (sqldb.Table). A value the type cannot hold is an error, and the
// row gets NULL there. So is text or JSON with the NUL character, which
// PostgreSQL's text and jsonb cannot hold: refused by every driver, so
// that one event cannot stop a projection and a table reads the same in
// either database.
func column(v any, t sqldb.Type) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch t {
	case sqldb.Text:
		switch x := v.(type) {
		case string:
			if strings.IndexByte(x, 0) >= 0 {
				return nil, errNUL
			}
			return x, nil
		case bool:
			return strconv.FormatBool(x), nil
		case int:
			return strconv.Itoa(x), nil
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		}
		b, err := json.Marshal(v)
		if err == nil && bytes.Contains(b, []byte(`\u0000`)) {
			return nil, errNUL
		}
		return string(b), err
	case sqldb.Integer:
		switch x := v.(type) {
		case int:
			return int64(x), nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
				return int64(x), nil
			}
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		case string:
			if n, err := strconv.ParseInt(x, 10, 64); err == nil {
				return n, nil
			}
		}
	case sqldb.Real:
		switch x := v.(type) {
		case int:
			return float64(x), nil
		case float64:
			return x, nil
		case string:
			if f, err := strconv.ParseFloat(x, 64); err == nil {
				return f, nil
			}
		}
	case sqldb.Boolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case sqldb.JSON:
		b, err := json.Marshal(v)
		if err == nil && bytes.Contains(b, []byte(`\u0000`)) {
			return nil, errNUL
		}
		return b, err
	case sqldb.Timestamp:
		switch x := v.(type) {
		case int:
			return time.UnixMilli(int64(x)).UTC(), nil
		case float64:
			return time.UnixMilli(int64(x)).UTC(), nil
		case string:
			if ts, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return ts.UTC(), nil
			}
		}
	}
	return nil, fmt.Errorf("%s is not a%s %s", describe(v), article(t), t)
}

func article(t sqldb.Type) string {
	if t == sqldb.Integer {
		return "n"
	}
	return ""
}

func describe(v any) string {
	b, err := json.Marshal(v)
	if err != nil || len(b) > 40 {
		return fmt.Sprintf("a %T", v)
	}
	return string(b)
}
