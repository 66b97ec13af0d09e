// Package streams shows the event log as Redis streams: a stream key names
// a view of the log (one stream, every event, a category, an event type),
// and an entry's ID is the event's position. Consumer groups (durable
// reading positions and pending entries) build on the views.
//
// It sits below package commands and above package eventlog.
package streams

import (
	"strings"

	"github.com/foldb/foldb/eventlog"
)

// Kind is what a stream key names.
type Kind uint8

const (
	// KindNone: the key names no stream (it reads as an empty stream).
	KindNone Kind = iota
	// KindStream: one stream, "<category>:<id>".
	KindStream
	// KindAll: every event, "$all".
	KindAll
	// KindCategory: every stream "<category>:*", "$ce-<category>".
	KindCategory
	// KindType: every event of one type, "$et-<type>".
	KindType
)

// Key prefixes and names of the views.
const (
	AllKey         = "$all"
	CategoryPrefix = "$ce-"
	TypePrefix     = "$et-"
)

// View is the part of the log a stream key names.
type View struct {
	Kind Kind
	Key  string // the key as the client wrote it
	Name string // the stream, category or type; "" for KindAll and KindNone
}

// ParseKey says what a stream key names. It never fails: a key that names
// no stream is a view of KindNone, which reads as empty.
func ParseKey(key string) View {
	v := View{Key: key}
	switch {
	case key == AllKey:
		v.Kind = KindAll
	case strings.HasPrefix(key, CategoryPrefix) && len(key) > len(CategoryPrefix):
		v.Kind, v.Name = KindCategory, key[len(CategoryPrefix):]
	case strings.HasPrefix(key, TypePrefix) && len(key) > len(TypePrefix):
		v.Kind, v.Name = KindType, key[len(TypePrefix):]
	case eventlog.ValidateStream(key) == nil:
		v.Kind, v.Name = KindStream, key
	}
	return v
}

// Derived reports whether the view is one of the log's own ($all, $ce-,
// $et-), which no client appends to directly.
func (v View) Derived() bool {
	return v.Kind == KindAll || v.Kind == KindCategory || v.Kind == KindType
}

// Matches reports whether an event belongs to the view.
func (v View) Matches(e *eventlog.Event) bool {
	switch v.Kind {
	case KindAll:
		return true
	case KindStream:
		return e.Stream == v.Name
	case KindCategory:
		c, _ := eventlog.SplitStream(e.Stream)
		return c == v.Name
	case KindType:
		return e.Type == v.Name
	}
	return false
}
