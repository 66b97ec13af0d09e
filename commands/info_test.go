package commands

import (
	"reflect"
	"testing"
)

func TestHuman(t *testing.T) {
	for n, want := range map[uint64]string{0: "0B", 1023: "1023B", 1024: "1.00K", 1536: "1.50K", 5 << 20: "5.00M", 3 << 30: "3.00G"} {
		if got := human(n); got != want {
			t.Errorf("human(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseInfo(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want infoReq
	}{
		{args: nil, want: infoReq{all: true, want: map[string]bool{}}},
		{args: []string{"Memory"}, want: infoReq{want: map[string]bool{"memory": true}}},
		{args: []string{"server", "CLIENTS"}, want: infoReq{want: map[string]bool{"server": true, "clients": true}}},
		{args: []string{"everything"}, want: infoReq{all: true, want: map[string]bool{"everything": true}}},
		{args: []string{"ALL", "nosuch"}, want: infoReq{all: true, want: map[string]bool{"all": true, "nosuch": true}}},
		{args: []string{"default"}, want: infoReq{all: true, want: map[string]bool{"default": true}}},
	} {
		got, err := parseInfo(argv(append([]string{"INFO"}, tc.args...)...))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("INFO %q = %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
	}
}
