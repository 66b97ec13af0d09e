package server

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/internal/settings"
)

// table is every setting of a server. The binary's flags, FOLDB_*
// environment variables and config file keys, CONFIG GET and SET, `foldb
// config` and the settings list of docs/operations.md are all read from
// it; a default is the field's value in DefaultOptions. A new setting is an
// entry here and its field in Options (with its mapping onto the log's or
// the snapshots' options in options.go when it is theirs).
var table = settings.New(DefaultOptions(), []settings.Setting[Options]{
	{Name: "config", Doc: "read settings from this YAML file, keys as the setting names (a flag or FOLDB_CONFIG only)",
		Value: settings.String(func(o *Options) *string { return &o.ConfigFile }, false)},
	{Name: "bind", Doc: "address to listen on",
		Value: settings.String(func(o *Options) *string { return &o.Bind }, false)},
	{Name: "port", Doc: "TCP port (0: any free one; the start-up line says which)",
		Value: settings.Int(func(o *Options) *int { return &o.Port }, 0, 65535)},
	{Name: "dir", Doc: "data folder: the Pebble log, journal/ and snapshots/",
		Value: settings.String(func(o *Options) *string { return &o.Dir }, true)},
	{Name: "durability", Doc: "when appends are fsynced: always (before the reply), everysec or none",
		Value: settings.Enum(func(o *Options) *eventlog.Durability { return &o.Durability },
			eventlog.ParseDurability, eventlog.Durability.String, "always", "everysec", "none")},
	{Name: "requirepass", Doc: "password clients must give with AUTH (empty: none)", Runtime: true, Secret: true,
		Value: settings.String(func(o *Options) *string { return &o.RequirePass }, false)},
	{Name: "maxclients", Doc: "most connections at once", Runtime: true,
		Value: settings.Int(func(o *Options) *int { return &o.MaxClients }, 1, math.MaxInt)},
	{Name: "timeout", Doc: "close connections idle this many seconds (0: never)", Runtime: true,
		Value: settings.Seconds(func(o *Options) *time.Duration { return &o.Timeout })},
	{Name: "slowlog-log-slower-than", Doc: "run time in microseconds from which a command goes to SLOWLOG and the log, naming its plan when it is a query (-1: never, 0: every command that is not fast)", Runtime: true,
		Value: settings.Int(func(o *Options) *int { return &o.SlowlogSlowerThan }, -1, math.MaxInt)},
	{Name: "slowlog-max-len", Doc: "how many slow commands SLOWLOG keeps", Runtime: true,
		Value: settings.Int(func(o *Options) *int { return &o.SlowlogMaxLen }, 0, math.MaxInt)},
	{Name: "proto-max-bulk-len", Doc: "longest argument a client may send",
		Value: settings.Bytes(func(o *Options) *int64 { return &o.ProtoMaxBulkLen }, 1<<20)},
	{Name: "pubsub-output-limit", Doc: "bytes of messages a Pub/Sub subscriber may leave unread before it is disconnected (Redis's client-output-buffer-limit pubsub)",
		Value: settings.Bytes(func(o *Options) *int64 { return &o.PubSubOutputLimit }, 1<<10)},
	{Name: "aggregate-column-memory", Doc: "memory each entity type's table may hold in the columns that ENTITY.AGGREGATE keeps to read the next aggregation without the entities (0: none are kept)", Runtime: true,
		Value: settings.Bytes(func(o *Options) *int64 { return &o.AggregateColumnMemory }, 0)},
	{Name: "max-event-size", Doc: "largest event (type + data + meta)",
		Value: settings.Bytes(func(o *Options) *int { return &o.MaxEventSize }, 0)},
	{Name: "max-events-per-append", Doc: "most events in one EVENT.APPEND",
		Value: settings.Int(func(o *Options) *int { return &o.MaxEventsPerAppend }, 1, math.MaxInt)},
	{Name: "schema", Doc: "a schema file (YAML or JSON) to load at start; it is then stored with the log",
		Value: settings.String(func(o *Options) *string { return &o.SchemaFile }, false)},
	{Name: "snapshot-every", Doc: "take a snapshot after this many events (0: never)",
		Value: settings.Count(func(o *Options) *uint64 { return &o.SnapshotEvery })},
	{Name: "snapshot-interval", Doc: "take a snapshot this long after the last one if events came since (0: never)",
		Value: settings.Duration(func(o *Options) *time.Duration { return &o.SnapshotInterval })},
	{Name: "snapshot-keep", Doc: "how many snapshots to keep",
		Value: settings.Int(func(o *Options) *int { return &o.SnapshotKeep }, 1, math.MaxInt)},
	{Name: "release-memory-after", Doc: "return the memory a burst of appends left to the system once no append has come for this long (0: never)", Runtime: false,
		Value: settings.Duration(func(o *Options) *time.Duration { return &o.ReleaseMemoryAfter })},
	{Name: "log-level", Doc: "the least important messages that are logged",
		Value: settings.Enum(func(o *Options) *slog.Level { return &o.LogLevel },
			parseLogLevel, formatLogLevel, "debug", "info", "warn", "error")},

	// What Redis's tools ask for.
	{Name: "appendonly", Compat: true, Doc: "every append is logged",
		Value: settings.Derived(func(*Options) string { return "yes" })},
	{Name: "appendfsync", Compat: true, Doc: "the durability in Redis's words: always, everysec or no",
		Value: settings.Derived(func(o *Options) string {
			if d := o.Durability.String(); d != "none" {
				return d
			}
			return "no"
		})},
	{Name: "save", Compat: true, Doc: "no RDB schedule: snapshots follow snapshot-every and snapshot-interval",
		Value: settings.Derived(func(*Options) string { return "" })},
	{Name: "databases", Compat: true, Doc: "one keyspace",
		Value: settings.Derived(func(*Options) string { return "1" })},
})

// Settings is the table of every setting of a server.
func Settings() *settings.Table[Options] { return table }

func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

func formatLogLevel(l slog.Level) string { return strings.ToLower(l.String()) }

// ConfigGet returns the settings whose names match a glob pattern.
func (s *Server) ConfigGet(pattern string) [][2]string {
	opts := s.options()
	var out [][2]string
	for _, st := range table.Match(pattern) {
		out = append(out, [2]string{st.Name, st.Get(&opts)})
	}
	return out
}

// ConfigSet changes a setting that can change at run time. Its errors are
// worded for CONFIG SET's reply, as Redis words them.
func (s *Server) ConfigSet(name, value string) error {
	st := table.Lookup(name)
	switch {
	case st == nil:
		return errors.New("unknown setting")
	case !st.Runtime:
		return fmt.Errorf("%s can only be changed with a restart", name)
	}
	s.optsMu.Lock()
	old := s.opts
	o := old
	err := st.Set(&o, value)
	if err == nil {
		err = o.Validate()
	}
	if err == nil {
		s.opts = o
	}
	s.optsMu.Unlock()
	var inv *settings.InvalidError
	if errors.As(err, &inv) && inv.Name == name {
		return fmt.Errorf("argument must be %s", inv.Want)
	}
	if err != nil {
		return err
	}
	if o.Timeout != old.Timeout {
		s.rearmIdleTimeouts(o.Timeout)
	}
	s.env.SlowLog.Configure(int64(o.SlowlogSlowerThan), o.SlowlogMaxLen)
	s.env.AggregateColumnMemory.Store(o.AggregateColumnMemory)
	if o.AggregateColumnMemory < old.AggregateColumnMemory {
		s.env.State.Store().DropColumns() // the next aggregations build within the new bound
	}
	return nil
}

func (s *Server) idleTimeout() time.Duration {
	s.optsMu.Lock()
	defer s.optsMu.Unlock()
	return s.opts.Timeout
}

// rearmIdleTimeouts applies a changed idle timeout to the goroutine-served
// connections that already wait for a command, as Redis's clientsCron does
// (the network loop reads the timeout at each sweep itself); a busy one sets
// its own deadline before its next read. It holds mu, as the shutdown does
// while it interrupts, so it never replaces an interrupt's deadline. It
// must not run under optsMu: accept takes optsMu inside mu.
func (s *Server) rearmIdleTimeouts(t time.Duration) {
	d := idleDeadline(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.clients {
		c.rearmIdle(d)
	}
}
