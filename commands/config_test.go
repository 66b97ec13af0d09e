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

func TestParseConfigGet(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{args: []string{"timeout"}, want: []string{"timeout"}},
		{args: []string{"MaxClients", "*"}, want: []string{"maxclients", "*"}},
		{args: []string{"TIME*", "timeout"}, want: []string{"time*", "timeout"}},
	} {
		got, err := parseConfigGet(argv(append([]string{"CONFIG", "GET"}, tc.args...)...))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("CONFIG GET %q = %q, %v; want %q", tc.args, got, err, tc.want)
		}
	}
}
