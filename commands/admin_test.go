package commands

import (
	"reflect"
	"testing"
)

func TestParseConfigSet(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want [][2]string
		err  string
	}{
		{args: []string{"timeout", "30"}, want: [][2]string{{"timeout", "30"}}},
		{args: []string{"TIMEOUT", "30", "MaxClients", "Big"}, want: [][2]string{{"timeout", "30"}, {"maxclients", "Big"}}},
		{args: []string{"save", ""}, want: [][2]string{{"save", ""}}},
		{args: []string{"timeout", "30", "maxclients"}, err: "ERR wrong number of arguments for 'config|set' command"},
	} {
		got, err := parseConfigSet(argv(append([]string{"CONFIG", "SET"}, tc.args...)...))
		if errText(err) != tc.err || (err == nil && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("CONFIG SET %q = %v, %q; want %v, %q", tc.args, got, errText(err), tc.want, tc.err)
		}
	}
}

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

func TestHuman(t *testing.T) {
	for n, want := range map[uint64]string{0: "0B", 1023: "1023B", 1024: "1.00K", 1536: "1.50K", 5 << 20: "5.00M", 3 << 30: "3.00G"} {
		if got := human(n); got != want {
			t.Errorf("human(%d) = %q, want %q", n, got, want)
		}
	}
}
