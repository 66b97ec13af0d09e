package eventlog

import (
	"fmt"
	"io"
	"log/slog"
)

// Durability says when an append is acknowledged relative to fsync.
type Durability uint8

const (
	// DurabilityAlways replies only after the events are fsynced. Concurrent
	// appends share one fsync.
	DurabilityAlways Durability = iota
	// DurabilityEverySec replies after the events are written to the OS and
	// fsyncs once a second: a process crash loses nothing answered, a machine
	// crash can lose about a second of appends.
	DurabilityEverySec
	// DurabilityNone replies after the events are written to the OS and
	// leaves fsync to the OS (and to a clean shutdown): a process crash loses
	// nothing answered, a machine crash can lose whatever the OS had not
	// written back.
	DurabilityNone
)

// ParseDurability reads the setting's text form: always, everysec or none.
func ParseDurability(s string) (Durability, error) {
	switch s {
	case "always":
		return DurabilityAlways, nil
	case "everysec":
		return DurabilityEverySec, nil
	case "none", "no":
		return DurabilityNone, nil
	}
	return 0, fmt.Errorf("eventlog: unknown durability %q (want always, everysec or none)", s)
}

func (d Durability) String() string {
	switch d {
	case DurabilityAlways:
		return "always"
	case DurabilityEverySec:
		return "everysec"
	case DurabilityNone:
		return "none"
	}
	return fmt.Sprintf("durability(%d)", d)
}

// Options configure a Log. Start from DefaultOptions.
type Options struct {
	Durability Durability
	// MaxEventSize bounds one event: its type, data and meta together.
	MaxEventSize int
	// MaxEventsPerAppend bounds the events of one append.
	MaxEventsPerAppend int
	// MaxRoundEvents bounds how many events one commit round gathers.
	MaxRoundEvents int
	// CacheSize is Pebble's block cache, in bytes.
	CacheSize int64
	// MemTableSize is Pebble's memtable size, in bytes. Pebble keeps a
	// flushed memtable's memory for the next one, so up to about twice
	// this stays resident once the log has been written.
	MemTableSize uint64
	// Logger gets the log's own messages; nil discards them.
	Logger *slog.Logger
}

// DefaultOptions returns the options a server starts with.
func DefaultOptions() Options {
	return Options{
		Durability:         DurabilityAlways,
		MaxEventSize:       1 << 20,
		MaxEventsPerAppend: 1000,
		MaxRoundEvents:     10000,
		CacheSize:          64 << 20,
		MemTableSize:       8 << 20,
	}
}

// Validate reports the first option that is out of range.
func (o Options) Validate() error {
	switch {
	case o.Durability > DurabilityNone:
		return fmt.Errorf("eventlog: unknown durability %d", o.Durability)
	case o.MaxEventSize < 64:
		return fmt.Errorf("eventlog: max-event-size must be at least 64 bytes, not %d", o.MaxEventSize)
	case o.MaxEventsPerAppend < 1:
		return fmt.Errorf("eventlog: max-events-per-append must be at least 1, not %d", o.MaxEventsPerAppend)
	case o.MaxRoundEvents < o.MaxEventsPerAppend:
		return fmt.Errorf("eventlog: the commit round (%d events) must hold at least one append (%d events)", o.MaxRoundEvents, o.MaxEventsPerAppend)
	case o.CacheSize < 0:
		return fmt.Errorf("eventlog: cache size must not be negative")
	}
	return nil
}

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
