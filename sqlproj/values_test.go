package sqlproj

import (
	"testing"
	"time"

	"github.com/foldb/foldb/sqlproj/sqldb"
)

func TestColumn(t *testing.T) {
	for _, tc := range []struct {
		v    any
		t    sqldb.Type
		want any
		err  bool
	}{
		{nil, sqldb.Integer, nil, false},
		{"a", sqldb.Text, "a", false},
		{3, sqldb.Text, "3", false},
		{map[string]any{"a": 1}, sqldb.Text, `{"a":1}`, false},
		{"a\x00b", sqldb.Text, nil, true},
		{map[string]any{"a": "\x00"}, sqldb.Text, nil, true},
		{map[string]any{"a": "\x00"}, sqldb.JSON, nil, true},
		{`\u0000`, sqldb.Text, `\u0000`, false}, // the six characters, not NUL
		{2.0, sqldb.Integer, int64(2), false},
		{2.5, sqldb.Integer, nil, true},
		{"12", sqldb.Integer, int64(12), false},
		{"x", sqldb.Real, nil, true},
		{true, sqldb.Boolean, true, false},
		{1, sqldb.Boolean, nil, true},
		{1000, sqldb.Timestamp, time.UnixMilli(1000).UTC(), false},
		{"not a time", sqldb.Timestamp, nil, true},
	} {
		got, err := column(tc.v, tc.t)
		if (err != nil) != tc.err {
			t.Errorf("column(%#v, %s): error %v, want error %v", tc.v, tc.t, err, tc.err)
			continue
		}
		if b, ok := got.([]byte); ok {
			got = string(b)
		}
		if tm, ok := tc.want.(time.Time); ok {
			if g, ok := got.(time.Time); !ok || !g.Equal(tm) {
				t.Errorf("column(%#v, %s) = %#v, want %v", tc.v, tc.t, got, tm)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("column(%#v, %s) = %#v, want %#v", tc.v, tc.t, got, tc.want)
		}
	}
}
