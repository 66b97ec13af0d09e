package main

import (
	"errors"
	"fmt"

	"github.com/foldb/foldb/streams"
)

// A consumer group in an export is one line after the events, an object
// with the one field "group", which no event line has:
//
//	{"group":{"key":"$ce-order","name":"billing","last-delivered-id":"3-0","entries-read":3,
//	  "consumers":[{"name":"w1","seen-time":1733097600000,"active-time":1733097600000}],
//	  "pending":[{"id":"2-0","consumer":"w1","delivery-time":1733097600000,"delivery-count":1}]}}
//
// The names are XINFO STREAM FULL's. entries-read is null when unknown,
// active-time -1 when the consumer was never given an entry. Lag and the
// counts of pending entries are not written: they follow from the rest.

// groupLine is an export line that holds a group.
type groupLine struct {
	Group *exportedGroup `json:"group"`
}

type exportedGroup struct {
	Key           string             `json:"key"`
	Name          string             `json:"name"`
	LastDelivered string             `json:"last-delivered-id"`
	EntriesRead   *int64             `json:"entries-read"`
	Consumers     []exportedConsumer `json:"consumers"`
	Pending       []exportedPending  `json:"pending"`
}

type exportedConsumer struct {
	Name   string `json:"name"`
	Seen   int64  `json:"seen-time"`
	Active int64  `json:"active-time"`
}

type exportedPending struct {
	ID        string `json:"id"`
	Consumer  string `json:"consumer"`
	Delivered int64  `json:"delivery-time"`
	Count     uint64 `json:"delivery-count"`
}

func exportGroup(g *streams.GroupState) groupLine {
	x := &exportedGroup{Key: g.Key, Name: g.Name, LastDelivered: g.LastDelivered.String(),
		Consumers: []exportedConsumer{}, Pending: []exportedPending{}}
	if g.EntriesRead >= 0 {
		x.EntriesRead = &g.EntriesRead
	}
	for _, c := range g.Consumers {
		x.Consumers = append(x.Consumers, exportedConsumer{Name: c.Name, Seen: c.Seen, Active: c.Active})
	}
	for _, p := range g.Pending {
		x.Pending = append(x.Pending, exportedPending{ID: p.ID.String(), Consumer: p.Consumer, Delivered: p.Delivered, Count: p.Count})
	}
	return groupLine{Group: x}
}

// state is the group a line gives; what it cannot be given without the
// log (a pending entry of the key, a group that exists) streams.Restore
// checks.
func (x *exportedGroup) state() (streams.GroupState, error) {
	g := streams.GroupState{Key: x.Key, Name: x.Name, EntriesRead: -1}
	if x.Key == "" {
		return g, errors.New("a group without a key")
	}
	var err error
	if g.LastDelivered, err = strictID(x.LastDelivered); err != nil {
		return g, fmt.Errorf("last-delivered-id: %w", err)
	}
	if x.EntriesRead != nil {
		if *x.EntriesRead < 0 {
			return g, fmt.Errorf("entries-read %d", *x.EntriesRead)
		}
		g.EntriesRead = *x.EntriesRead
	}
	for _, c := range x.Consumers {
		g.Consumers = append(g.Consumers, streams.ConsumerState{Name: c.Name, Seen: c.Seen, Active: c.Active})
	}
	for _, p := range x.Pending {
		id, err := strictID(p.ID)
		if err != nil {
			return g, fmt.Errorf("pending: %w", err)
		}
		g.Pending = append(g.Pending, streams.PendingFull{ID: id, Consumer: p.Consumer, Delivered: p.Delivered, Count: p.Count})
	}
	return g, nil
}

// strictID parses an ID as the export writes it, <ms>-<seq>.
func strictID(s string) (streams.ID, error) {
	id, err := streams.ParseID(s, 0)
	if err != nil || id.String() != s {
		return id, fmt.Errorf("%q is not an ID <ms>-<seq>", s)
	}
	return id, nil
}
