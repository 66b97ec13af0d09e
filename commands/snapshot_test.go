package commands

import "testing"

func TestParseBGSave(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{args: nil},
		{args: []string{"SCHEDULE"}},
		{args: []string{"schedule"}},
		{args: []string{"NOW"}, err: "ERR syntax error"},
		{args: []string{"SCHEDULE", "SCHEDULE"}, err: "ERR syntax error"},
	} {
		_, err := parseBGSave(argv(append([]string{"BGSAVE"}, tc.args...)...))
		if errText(err) != tc.err {
			t.Errorf("BGSAVE %q: %q, want %q", tc.args, errText(err), tc.err)
		}
	}
}
