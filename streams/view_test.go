package streams

import (
	"strings"
	"testing"

	"github.com/foldb/foldb/eventlog"
)

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		key     string
		kind    Kind
		name    string
		derived bool
	}{
		{"account:42", KindStream, "account:42", false},
		{"a:b:c", KindStream, "a:b:c", false},
		{"$all", KindAll, "", true},
		{"$ALL", KindNone, "", false}, // keys are case-sensitive, as Redis's
		{"$all:1", KindStream, "$all:1", false},
		{"$ce-account", KindCategory, "account", true},
		{"$ce-", KindNone, "", false},
		{"$et-Opened", KindType, "Opened", true},
		{"$et-", KindNone, "", false},
		{"account", KindNone, "", false},
		{":42", KindNone, "", false},
		{"account:", KindNone, "", false},
		{"", KindNone, "", false},
		{"x:" + strings.Repeat("y", 2000), KindNone, "", false}, // longer than a stream name may be
	} {
		v := ParseKey(tc.key)
		if v.Kind != tc.kind || v.Name != tc.name || v.Key != tc.key || v.Derived() != tc.derived {
			t.Errorf("ParseKey(%q) = %+v (derived %v); want kind %d name %q (derived %v)", tc.key, v, v.Derived(), tc.kind, tc.name, tc.derived)
		}
	}
}

func TestMatches(t *testing.T) {
	e := &eventlog.Event{Stream: "account:1", Type: "Opened"}
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"$all", true}, {"account:1", true}, {"account:2", false}, {"$ce-account", true}, {"$ce-acc", false},
		{"$et-Opened", true}, {"$et-Closed", false}, {"nothing", false},
	} {
		if got := ParseKey(tc.key).Matches(e); got != tc.want {
			t.Errorf("%s matches %v", tc.key, got)
		}
	}
}
