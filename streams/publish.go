package streams

import (
	"slices"

	"github.com/foldb/foldb/eventlog"
)

// Published is what a committed round appended: the positions First to
// Last and the views its events are in, for readers that wait without a
// group (XREAD ... BLOCK): such a reader needs no durable state, only to
// know when to read again.
type Published struct {
	First, Last uint64
	// Streams, Categories and Types are the names of the views the events
	// are in, each once, in the order of their first event ($all holds
	// every event). When Every is set they are not collected (no reader
	// waited when the round was staged) and the round counts as touching
	// every view.
	Streams, Categories, Types []string
	Every                      bool
}

// Touches reports whether the round appended to the view.
func (p *Published) Touches(v View) bool {
	if p.Every {
		return true
	}
	switch v.Kind {
	case KindAll:
		return true
	case KindStream:
		return slices.Contains(p.Streams, v.Name)
	case KindCategory:
		return slices.Contains(p.Categories, v.Name)
	case KindType:
		return slices.Contains(p.Types, v.Name)
	}
	return false
}

// OnPublish has fn told of every round that appends events, once the
// round is durable (never of one that failed), on the log's writer
// goroutine or the goroutine that ran the round (eventlog.Log.AppendNow);
// fn must not block. The groups, as the log's watcher, see every round's
// events; nil stops the calls.
//
// views, when not nil, says whether anyone may want the round's views
// (Published.Every otherwise); it is asked on the commit path and must be
// cheap.
func (gs *Groups) OnPublish(fn func(*Published), views func() bool) {
	gs.log.Exclusive(func(uint64) error {
		gs.publish, gs.publishViews = fn, views
		return nil
	})
}

// stagePublish leaves the round's Published for after its commit.
func (gs *Groups) stagePublish(b *eventlog.OpBatch, events []eventlog.Event) {
	fn := gs.publish
	p := &Published{First: events[0].Position, Last: events[len(events)-1].Position}
	p.Every = gs.publishViews != nil && !gs.publishViews()
	if !p.Every {
		var streams, cats, types names
		for i := range events {
			e := &events[i]
			cat, _ := eventlog.SplitStream(e.Stream)
			streams.add(e.Stream)
			cats.add(cat)
			types.add(e.Type)
		}
		p.Streams, p.Categories, p.Types = streams.list, cats.list, types.list
	}
	b.AfterCommit(func(err error) {
		if err == nil {
			fn(p)
		}
	})
}

// names collects distinct names in the order of their first sight: by a
// look along the list while it is short, through a set once it is not, so
// that a round of many streams costs no more per event than a small one.
type names struct {
	list []string
	set  map[string]struct{}
}

// namesListed is the longest list names searches without its set.
const namesListed = 16

func (n *names) add(s string) {
	if n.set == nil {
		if slices.Contains(n.list, s) {
			return
		}
		n.list = append(n.list, s)
		if len(n.list) > namesListed {
			n.set = make(map[string]struct{}, 2*len(n.list))
			for _, x := range n.list {
				n.set[x] = struct{}{}
			}
		}
		return
	}
	if _, ok := n.set[s]; !ok {
		n.set[s] = struct{}{}
		n.list = append(n.list, s)
	}
}
