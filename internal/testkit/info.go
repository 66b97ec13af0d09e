package testkit

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Info returns the text of INFO with the given sections.
func Info(t testing.TB, rc *redis.Client, sections ...string) string {
	t.Helper()
	info, err := rc.Info(context.Background(), sections...).Result()
	if err != nil {
		t.Fatalf("INFO %s: %v", strings.Join(sections, " "), err)
	}
	return info
}

// InfoField returns the value of one field of an INFO text, failing the
// test when it has none.
func InfoField(t testing.TB, info, name string) string {
	t.Helper()
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), name+":"); ok {
			return v
		}
	}
	t.Fatalf("INFO has no %s field:\n%s", name, info)
	return ""
}

// InfoInt returns a numeric field of INFO section.
func InfoInt(t testing.TB, rc *redis.Client, section, name string) int64 {
	t.Helper()
	v := InfoField(t, Info(t, rc, section), name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("INFO %s is %q, not an integer", name, v)
	}
	return n
}
