package commands

import "testing"

func TestParseShutdown(t *testing.T) {
	for _, tc := range []struct {
		args []string
		save bool
		err  string
	}{
		{args: nil, save: true},
		{args: []string{"SAVE"}, save: true},
		{args: []string{"nosave"}, save: false},
		{args: []string{"NOSAVE", "NOW", "FORCE"}, save: false},
		{args: []string{"now"}, save: true},
		{args: []string{"NOSAVE", "SAVE"}, save: true}, // the last one counts
		{args: []string{"ABORT"}, err: "ERR syntax error"},
		{args: []string{"SAVE", "LATER"}, err: "ERR syntax error"},
	} {
		save, err := parseShutdown(argv(append([]string{"SHUTDOWN"}, tc.args...)...))
		if errText(err) != tc.err || (err == nil && save != tc.save) {
			t.Errorf("SHUTDOWN %q = %v, %q; want %v, %q", tc.args, save, errText(err), tc.save, tc.err)
		}
	}
}
