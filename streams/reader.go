package streams

import (
	"errors"

	"github.com/foldb/foldb/eventlog"
)

// Reader reads views of a log.
type Reader struct {
	log *eventlog.Log
}

// NewReader returns a reader of l.
func NewReader(l *eventlog.Log) *Reader { return &Reader{log: l} }

// Last is the newest position of the log: what "$" means in XREAD and
// XGROUP CREATE.
func (r *Reader) Last() uint64 { return r.log.LastPosition() }

var errEnough = errors.New("streams: enough")

// Range returns up to count entries of the view (count <= 0: all) whose
// positions are in [from, to], in ascending order, or with rev in
// descending order starting at to. to == 0 means up to the newest.
//
// This first version filters a scan of the log; views other than a stream
// read the log from from on.
func (r *Reader) Range(v View, from, to uint64, count int, rev bool) ([]eventlog.Event, error) {
	if v.Kind == KindNone {
		return nil, nil
	}
	if to == 0 {
		to = r.log.LastPosition()
	}
	from = max(from, 1)
	if from > to {
		return nil, nil
	}
	var out []eventlog.Event
	err := r.log.Scan(from, to, func(e *eventlog.Event) error {
		if !v.Matches(e) {
			return nil
		}
		out = append(out, clone(e))
		if !rev && count > 0 && len(out) >= count {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	if rev {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
		if count > 0 && len(out) > count {
			out = out[:count]
		}
	}
	return out, nil
}

// Len counts the view's entries.
func (r *Reader) Len(v View) (uint64, error) {
	if v.Kind == KindStream {
		return r.log.Version(v.Name)
	}
	evs, err := r.Range(v, 1, 0, 0, false)
	return uint64(len(evs)), err
}

// clone copies an event out of the scan's memory.
func clone(e *eventlog.Event) eventlog.Event {
	c := *e
	c.Stream = string([]byte(e.Stream))
	c.ID = string([]byte(e.ID))
	c.Data = append([]byte(nil), e.Data...)
	if e.Meta != nil {
		c.Meta = append([]byte(nil), e.Meta...)
	}
	return c
}
