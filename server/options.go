package server

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/snapshot"
	"github.com/foldb/foldb/sqlproj"
	"github.com/foldb/foldb/sqlproj/sqldb"
)

// Options are every setting of a server. The table of settings
// (config.go) maps the binary's flags, environment and config file onto
// them; packages never read those sources.
type Options struct {
	Bind        string
	Port        int // 0 picks a free port
	Dir         string
	Durability  eventlog.Durability
	RequirePass string
	MaxClients  int
	// Timeout closes a connection idle for this long; 0 never does.
	Timeout time.Duration
	// SlowlogSlowerThan is the run time in microseconds from which SLOWLOG
	// records a command and the log says so (< 0: never, 0: every one).
	SlowlogSlowerThan int
	// SlowlogMaxLen is how many entries SLOWLOG keeps.
	SlowlogMaxLen int
	// ProtoMaxBulkLen is the longest argument a client may send.
	ProtoMaxBulkLen int64
	// PubSubOutputLimit is how many bytes of pushed messages and unsent
	// replies a subscribed connection may have waiting before it is closed.
	PubSubOutputLimit int64
	// AggregateColumnMemory bounds the memory that ENTITY.AGGREGATE's
	// columns hold in each entity type's table (0: none are kept).
	AggregateColumnMemory int64
	MaxEventSize          int
	MaxEventsPerAppend    int
	// SnapshotInterval takes a snapshot this long after the last one when
	// events came since (0: never on a timer).
	SnapshotInterval time.Duration
	// SnapshotEvery takes a snapshot after this many events (0: never by count).
	SnapshotEvery uint64
	// ReleaseMemoryAfter returns the memory a burst of appends left behind
	// to the system once no append has come for this long (0: never;
	// reclaim.go).
	ReleaseMemoryAfter time.Duration
	// SnapshotKeep is how many snapshots are kept.
	SnapshotKeep int
	// SchemaFile is a schema (YAML or JSON) to load at start; it replaces the
	// one stored in the log, which is then rebuilt.
	SchemaFile string
	// ConfigFile is shown by INFO; the server does not read it.
	ConfigFile string
	// LogLevel is the level of the logger the binary hands to New; the
	// server does not read it.
	LogLevel slog.Level
	// Databases are the databases SQL projections may name, by name
	// (docs/projections.md). "sqlite", an SQLite file in Dir, is there
	// unless the settings name another; a relative SQLite path is in Dir.
	Databases map[string]sqldb.Config
	// ConnGoroutines serves each connection on a goroutine of its own
	// instead of the network loop; systems other than Linux always do.
	ConnGoroutines bool
}

// DefaultOptions returns the defaults of every setting; the log's and the
// snapshots' come from their packages.
func DefaultOptions() Options {
	lo := eventlog.DefaultOptions()
	so := snapshot.DefaultOptions("")
	return Options{
		Bind:                  "127.0.0.1",
		Port:                  6380,
		Dir:                   "./data",
		Durability:            lo.Durability,
		MaxClients:            10000,
		SlowlogSlowerThan:     10_000,
		SlowlogMaxLen:         128,
		ProtoMaxBulkLen:       512 << 20,
		PubSubOutputLimit:     defaultOutputLimit,
		AggregateColumnMemory: 256 << 20,
		MaxEventSize:          lo.MaxEventSize,
		MaxEventsPerAppend:    lo.MaxEventsPerAppend,
		SnapshotInterval:      so.Interval,
		SnapshotEvery:         so.Every,
		SnapshotKeep:          so.Keep,
		ReleaseMemoryAfter:    time.Second,
		LogLevel:              slog.LevelInfo,
	}
}

// Validate reports the first setting that is out of range: out of its own
// bounds in the table of settings, or of what the log and the snapshots
// take.
func (o Options) Validate() error {
	if err := table.Check(&o); err != nil {
		return err
	}
	if int64(o.MaxEventSize) > o.ProtoMaxBulkLen {
		return fmt.Errorf("server: max-event-size (%d) must not exceed proto-max-bulk-len (%d)", o.MaxEventSize, o.ProtoMaxBulkLen)
	}
	if err := o.snapshotOptions().Validate(); err != nil {
		return err
	}
	for name, db := range o.Databases {
		if err := validDatabase(name, db); err != nil {
			return err
		}
	}
	return o.logOptions().Validate()
}

func validDatabase(name string, db sqldb.Config) error {
	switch {
	case name == "":
		return fmt.Errorf("server: a database needs a name")
	case db.Driver == "sqlite" && db.Path == "":
		return fmt.Errorf("server: database %s: an sqlite database needs a path", name)
	case db.Driver == "postgres" && db.DSN == "":
		return fmt.Errorf("server: database %s: a postgres database needs a dsn", name)
	case db.Driver != "sqlite" && db.Driver != "postgres":
		return fmt.Errorf("server: database %s: driver %q is not sqlite or postgres", name, db.Driver)
	}
	return nil
}

// projectionOptions are the SQL projectors' settings: the databases, with
// the embedded default and SQLite paths in the data folder.
func (o Options) projectionOptions() sqlproj.Options {
	po := sqlproj.DefaultOptions()
	po.Databases[sqlproj.DefaultDatabase] = sqldb.Config{Driver: "sqlite", Path: "sqlite.db"}
	for name, db := range o.Databases {
		po.Databases[name] = db
	}
	for name, db := range po.Databases {
		if db.Driver == "sqlite" && !filepath.IsAbs(db.Path) {
			db.Path = filepath.Join(o.Dir, db.Path)
			po.Databases[name] = db
		}
	}
	po.Open = sqldb.Open
	return po
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

func (o Options) snapshotOptions() snapshot.Options {
	so := snapshot.DefaultOptions(filepath.Join(o.Dir, "snapshots"))
	so.Keep, so.Interval, so.Every = o.SnapshotKeep, o.SnapshotInterval, o.SnapshotEvery
	return so
}
