// Package settings keeps a program's settings as one table, as Redis's
// config.c keeps one standardConfig array: an entry gives a setting's
// name, its type and bounds, whether it may change at run time, one line of
// documentation, and the field of an options struct that holds it. Its
// default is that field in the options' defaults. A program's flags,
// environment variables, config file keys, CONFIG GET and SET and the
// settings list of its docs are all read from the table, so a setting is
// added by adding its entry and its field, nowhere else.
//
// The package knows nothing of where values come from: the program layers
// its flags, environment and file and hands each text to [Setting.Set].
package settings

import (
	"errors"
	"fmt"
	"path"
)

// Setting is one entry of a table over the options struct O.
type Setting[O any] struct {
	// Name is the flag, the config file key and CONFIG's name; the
	// environment variable is derived from it (FOLDB_MAX_EVENT_SIZE).
	Name string
	// Doc is one line for --help and the docs: what the setting does. Its
	// type and unit come from Value.
	Doc string
	// Runtime settings may be changed by CONFIG SET; the others take a
	// restart.
	Runtime bool
	// Compat settings are answered by CONFIG GET because Redis's tools ask
	// for them (redis-benchmark asks for save and appendonly). They are no
	// flag, environment variable or file key, and cannot be set.
	Compat bool
	// Secret values are not printed by tools that list settings.
	Secret bool
	// Value is the setting's type and the field that holds it: Int,
	// Bytes, Seconds, Duration, String, Enum, ... (kinds.go).
	Value Value[O]
}

// Value is a setting's type over the options struct O: how its text is
// parsed, checked and shown, and which field holds it.
type Value[O any] interface {
	// get is the field's value as CONFIG GET shows it; set parses it back.
	get(o *O) string
	// set parses text and stores it, or returns a *wantError.
	set(o *O, text string) error
	// check reports a field's value that is out of bounds, as a *wantError.
	check(o *O) error
	// typeName names the type for --help and the docs.
	typeName() string
	// pretty is text as a person writes it (512mb rather than 536870912).
	pretty(text string) string
}

// wantError says what a value should have been: "a positive integer".
type wantError struct{ want string }

func (e *wantError) Error() string { return "must be " + e.want }

// InvalidError is a value a setting does not take.
type InvalidError struct {
	Name  string
	Value string
	// Want says what it takes: "a positive integer", "one of always,
	// everysec, none".
	Want string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("settings: %s must be %s, not %q", e.Name, e.Want, e.Value)
}

// Get returns the setting's value in o, as CONFIG GET shows it.
func (s *Setting[O]) Get(o *O) string { return s.Value.get(o) }

// Set parses text into o's field, or returns an *InvalidError.
func (s *Setting[O]) Set(o *O, text string) error {
	if s.Compat {
		return fmt.Errorf("settings: %s cannot be set", s.Name)
	}
	if err := s.Value.set(o, text); err != nil {
		return s.invalid(text, err)
	}
	return nil
}

// Check returns an *InvalidError when o's field is out of the setting's
// bounds.
func (s *Setting[O]) Check(o *O) error {
	if err := s.Value.check(o); err != nil {
		return s.invalid(s.Value.get(o), err)
	}
	return nil
}

func (s *Setting[O]) invalid(text string, err error) error {
	var w *wantError
	if errors.As(err, &w) {
		return &InvalidError{Name: s.Name, Value: text, Want: w.want}
	}
	return fmt.Errorf("settings: %s: %w", s.Name, err)
}

// Type names the setting's type: int, bytes, seconds, duration, string,
// or its choices (always|everysec|none).
func (s *Setting[O]) Type() string { return s.Value.typeName() }

// Pretty returns text as a person would write it: sizes in mb or gb when
// they are whole ones. It parses back to the same value.
func (s *Setting[O]) Pretty(text string) string { return s.Value.pretty(text) }

// Table is a program's settings, in the order they are listed.
type Table[O any] struct {
	defaults O
	list     []*Setting[O]
	byName   map[string]*Setting[O]
}

// New makes a table over O whose defaults are the fields of defaults. It
// panics on an entry without a name, doc or value, on a name given twice,
// on a compat entry that claims to change at run time, and on defaults
// that fail the entries' bounds: those are mistakes in the table.
func New[O any](defaults O, list []Setting[O]) *Table[O] {
	t := &Table[O]{defaults: defaults, byName: make(map[string]*Setting[O], len(list))}
	for i := range list {
		s := &list[i]
		switch {
		case s.Name == "" || s.Doc == "" || s.Value == nil:
			panic(fmt.Sprintf("settings: entry %d (%q) needs a name, a doc and a value", i, s.Name))
		case t.byName[s.Name] != nil:
			panic("settings: " + s.Name + " is in the table twice")
		case s.Compat && (s.Runtime || s.Secret):
			panic("settings: " + s.Name + " is compat: it cannot be set or secret")
		}
		if err := s.Check(&t.defaults); err != nil {
			panic(fmt.Sprintf("settings: the default of %s: %v", s.Name, err))
		}
		t.byName[s.Name] = s
		t.list = append(t.list, s)
	}
	return t
}

// Settings returns every entry in the table's order.
func (t *Table[O]) Settings() []*Setting[O] { return t.list }

// Lookup returns the setting of that name, or nil.
func (t *Table[O]) Lookup(name string) *Setting[O] { return t.byName[name] }

// Match returns the settings whose names match a glob pattern (path.Match:
// *, ?, [...]), in the table's order.
func (t *Table[O]) Match(pattern string) []*Setting[O] {
	var out []*Setting[O]
	for _, s := range t.list {
		if ok, _ := path.Match(pattern, s.Name); ok {
			out = append(out, s)
		}
	}
	return out
}

// Defaults returns the options every setting defaults to.
func (t *Table[O]) Defaults() O { return t.defaults }

// Default returns a setting's default, as Get shows it.
func (t *Table[O]) Default(s *Setting[O]) string { return s.Get(&t.defaults) }

// Check returns the first setting of o that is out of its bounds, as an
// *InvalidError. It checks each value alone; what depends on several is
// left to the options' own Validate.
func (t *Table[O]) Check(o *O) error {
	for _, s := range t.list {
		if err := s.Check(o); err != nil {
			return err
		}
	}
	return nil
}
