package main

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzGroupLine: a group line either is refused or gives a group that
// exports as a line giving the same group again.
func FuzzGroupLine(f *testing.F) {
	f.Add(`{"group":{"key":"$ce-order","name":"billing","last-delivered-id":"3-0","entries-read":3,"consumers":[{"name":"w1","seen-time":5,"active-time":-1}],"pending":[{"id":"2-0","consumer":"w1","delivery-time":5,"delivery-count":1}]}}`)
	f.Add(`{"group":{"key":"$all","name":"","last-delivered-id":"0-0","entries-read":null,"consumers":[],"pending":[]}}`)
	f.Add(`{"group":{"key":"a:1","last-delivered-id":"18446744073709551615-18446744073709551615"}}`)
	f.Add(`{"group":{"key":"a:1","last-delivered-id":"012-0"}}`)
	f.Fuzz(func(t *testing.T, line string) {
		var x groupLine
		if json.Unmarshal([]byte(line), &x) != nil || x.Group == nil {
			return
		}
		g, err := x.Group.state()
		if err != nil {
			return
		}
		out, err := json.Marshal(exportGroup(&g))
		if err != nil {
			t.Fatal(err)
		}
		var y groupLine
		if err := json.Unmarshal(out, &y); err != nil || y.Group == nil {
			t.Fatalf("%s does not decode: %v", out, err)
		}
		again, err := y.Group.state()
		if err != nil || !reflect.DeepEqual(again, g) {
			t.Fatalf("%s gives %+v (%v), want %+v", out, again, err, g)
		}
	})
}
