package server

import (
	"fmt"
	"time"

	"github.com/foldb/foldb/eventlog"
)

// Options are every setting of a server. The binary maps its flags,
// environment and config file onto them; packages never read those sources.
type Options struct {
	Bind        string
	Port        int // 0 picks a free port
	Dir         string
	Durability  eventlog.Durability
	RequirePass string
	MaxClients  int
	// Timeout closes a connection idle for this long; 0 never does.
	Timeout time.Duration
	// ProtoMaxBulkLen is the longest argument a client may send.
	ProtoMaxBulkLen    int64
	MaxEventSize       int
	MaxEventsPerAppend int
	// SnapshotInterval takes a snapshot this long after the last one when
	// events came since (0: never on a timer).
	SnapshotInterval time.Duration
	// SnapshotEvery takes a snapshot after this many events (0: never by count).
	SnapshotEvery uint64
	// SnapshotKeep is how many snapshots are kept.
	SnapshotKeep int
	// SchemaFile is a schema (YAML or JSON) to load at start; it replaces the
	// one stored in the log, which is then rebuilt.
	SchemaFile string
	// ConfigFile is shown by INFO; the server does not read it.
	ConfigFile string
	// ConnGoroutines serves each connection on a goroutine of its own
	// instead of the network loop; systems other than Linux always do.
	ConnGoroutines bool
}

// DefaultOptions returns the defaults of DESIGN §5.
func DefaultOptions() Options {
	lo := eventlog.DefaultOptions()
	return Options{
		Bind:               "127.0.0.1",
		Port:               6380,
		Dir:                "./data",
		Durability:         eventlog.DurabilityAlways,
		MaxClients:         10000,
		ProtoMaxBulkLen:    512 << 20,
		MaxEventSize:       lo.MaxEventSize,
		MaxEventsPerAppend: lo.MaxEventsPerAppend,
		SnapshotInterval:   12 * time.Hour,
		SnapshotEvery:      1_000_000,
		SnapshotKeep:       2,
	}
}

// Validate reports the first setting that is out of range.
func (o Options) Validate() error {
	switch {
	case o.Port < 0 || o.Port > 65535:
		return fmt.Errorf("server: port %d is outside 0..65535", o.Port)
	case o.Dir == "":
		return fmt.Errorf("server: dir must be set")
	case o.MaxClients < 1:
		return fmt.Errorf("server: maxclients must be at least 1, not %d", o.MaxClients)
	case o.Timeout < 0:
		return fmt.Errorf("server: timeout must not be negative")
	case o.ProtoMaxBulkLen < 1<<20:
		return fmt.Errorf("server: proto-max-bulk-len must be at least 1mb, not %d", o.ProtoMaxBulkLen)
	case o.SnapshotKeep < 1:
		return fmt.Errorf("server: snapshot-keep must be at least 1, not %d", o.SnapshotKeep)
	case o.SnapshotInterval < 0:
		return fmt.Errorf("server: snapshot-interval must not be negative")
	case int64(o.MaxEventSize) > o.ProtoMaxBulkLen:
		return fmt.Errorf("server: max-event-size (%d) must not exceed proto-max-bulk-len (%d)", o.MaxEventSize, o.ProtoMaxBulkLen)
	}
	return o.logOptions().Validate()
}

func (o Options) logOptions() eventlog.Options {
	lo := eventlog.DefaultOptions()
	lo.Durability = o.Durability
	lo.MaxEventSize = o.MaxEventSize
	lo.MaxEventsPerAppend = o.MaxEventsPerAppend
	if lo.MaxRoundEvents < lo.MaxEventsPerAppend {
		lo.MaxRoundEvents = lo.MaxEventsPerAppend
	}
	return lo
}
