package commands

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// infoCommands is INFO, the server's figures by section.
func infoCommands() []*Command {
	return []*Command{
		{Name: "INFO", Arity: -1, Flags: FlagLoading | FlagStale, Group: "server", Since: "0.1.0", Syntax: "INFO [section ...]", Summary: "Returns information and figures about the server.", Run: handle(parseInfo, runInfo)},
	}
}

// infoSection is one section of INFO.
type infoSection struct {
	name    string
	dflt    bool // part of INFO without arguments
	write   func(c *Ctx, b *strings.Builder)
	heading string
}

func infoSections() []infoSection {
	return []infoSection{
		{name: "server", dflt: true, heading: "Server", write: infoServer},
		{name: "clients", dflt: true, heading: "Clients", write: infoClients},
		{name: "memory", dflt: true, heading: "Memory", write: infoMemory},
		{name: "persistence", dflt: true, heading: "Persistence", write: infoPersistence},
		{name: "stats", dflt: true, heading: "Stats", write: infoStats},
		{name: "replication", dflt: true, heading: "Replication", write: infoReplication},
		{name: "cpu", dflt: true, heading: "CPU", write: infoCPU},
		{name: "keyspace", dflt: true, heading: "Keyspace", write: infoKeyspace},
		{name: "projections", dflt: true, heading: "Projections", write: infoProjections},
		{name: "schema", dflt: true, heading: "Schema", write: infoSchema},
	}
}

// infoReq is the sections INFO asks for: all the default ones, or those named.
type infoReq struct {
	all  bool
	want map[string]bool
}

func parseInfo(args [][]byte) (infoReq, error) {
	r := infoReq{all: len(args) == 1, want: map[string]bool{}}
	for _, a := range args[1:] {
		s := strings.ToLower(string(a))
		if s == "all" || s == "everything" || s == "default" {
			r.all = true
		}
		r.want[s] = true
	}
	return r, nil
}

func runInfo(c *Ctx, r infoReq) {
	var b strings.Builder
	for _, s := range infoSections() {
		if (r.all && s.dflt) || r.want[s.name] {
			if b.Len() > 0 {
				b.WriteString("\r\n")
			}
			b.WriteString("# " + s.heading + "\r\n")
			s.write(c, &b)
		}
	}
	c.W.Verbatim("txt", b.String())
}

func field(b *strings.Builder, name string, v any) {
	fmt.Fprintf(b, "%s:%v\r\n", name, v)
}

// RedisVersion is the Redis version whose protocol and INFO fields foldb follows.
const RedisVersion = "7.2.0"

func infoServer(c *Ctx, b *strings.Builder) {
	st := c.Env.Server.Stats()
	exe, _ := os.Executable()
	field(b, "redis_version", RedisVersion)
	field(b, "foldb_version", Version)
	field(b, "redis_mode", "standalone")
	field(b, "os", runtime.GOOS+" "+runtime.GOARCH)
	field(b, "arch_bits", 64)
	field(b, "go_version", runtime.Version())
	field(b, "process_id", os.Getpid())
	field(b, "tcp_port", st.Port)
	field(b, "bind", st.Addr)
	field(b, "server_time_usec", time.Now().UnixMicro())
	field(b, "uptime_in_seconds", int64(time.Since(st.Started).Seconds()))
	field(b, "uptime_in_days", int64(time.Since(st.Started).Hours()/24))
	field(b, "executable", exe)
	field(b, "config_file", st.ConfigFile)
}

func infoClients(c *Ctx, b *strings.Builder) {
	st := c.Env.Server.Stats()
	field(b, "connected_clients", st.ConnectedClients)
	field(b, "maxclients", st.MaxClients)
	field(b, "blocked_clients", st.BlockedClients)
	field(b, "pubsub_clients", c.Env.Hub.Subscribers())
}

func infoMemory(c *Ctx, b *strings.Builder) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	rss := residentBytes()
	field(b, "used_memory", m.HeapAlloc)
	field(b, "used_memory_human", human(m.HeapAlloc))
	field(b, "used_memory_rss", rss)
	field(b, "used_memory_rss_human", human(rss))
	field(b, "go_heap_sys", m.HeapSys)
	indexBytes := 0
	for _, t := range c.Env.State.Store().Types() {
		indexBytes += t.IndexBytes
	}
	field(b, "index_bytes", indexBytes)
	field(b, "aggregate_column_bytes", c.Env.State.Store().ColumnBytes())
	field(b, "go_gc_cycles", m.NumGC)
	field(b, "mem_allocator", "go")
}

func infoPersistence(c *Ctx, b *strings.Builder) {
	li := c.Env.Server.LoadingInfo()
	loading := 0
	if li.Loading {
		loading = 1
	}
	field(b, "loading", loading)
	if li.Loading {
		field(b, "loading_start_time", li.Started.Unix())
		field(b, "loading_loaded_events", li.Done)
		field(b, "loading_total_events", li.Total)
		field(b, "loading_loaded_perc", perc(li.Done, li.Total))
		field(b, "loading_events_per_sec", int64(li.PerSec))
	}
	lst := c.Env.Log.Stats()
	d := c.Env.Log.Durability()
	field(b, "durability", d)
	field(b, "aof_enabled", 1)
	appendfsync := map[string]string{"always": "always", "everysec": "everysec", "none": "no"}[d.String()]
	field(b, "appendfsync", appendfsync)
	field(b, "log_last_position", lst.LastPosition)
	field(b, "log_disk_bytes", lst.DiskBytes)
	field(b, "log_commit_rounds", lst.Rounds)
	field(b, "log_appends", lst.Appends)
	field(b, "log_memtable_flushes", lst.Flushes)
	snap := c.Env.Snapshots.Status()
	field(b, "rdb_bgsave_in_progress", boolInt(snap.InProgress))
	if snap.InProgress {
		field(b, "rdb_current_bgsave_time_sec", int64(time.Since(snap.Started).Seconds()))
	}
	status := "ok"
	if snap.LastErr != "" {
		status = "err"
	}
	field(b, "rdb_last_bgsave_status", status)
	if l := c.Env.Snapshots.Latest(); l != nil {
		field(b, "rdb_last_save_time", l.Created.Unix())
		field(b, "snapshot_last_position", l.Position)
		field(b, "snapshot_last_size", l.Size)
		field(b, "snapshot_last_entities", l.Entities)
		field(b, "snapshot_last_duration_ms", l.Duration.Milliseconds())
		field(b, "snapshot_last_write_pause_us", l.Pause.Microseconds())
		field(b, "snapshot_last_path", l.Path)
	} else {
		field(b, "rdb_last_save_time", 0)
	}
	failed := "ok"
	err := c.Env.Log.Err()
	if err != nil {
		failed = "err"
	}
	field(b, "aof_last_write_status", failed)
	if err != nil {
		// One line: an INFO field ends at the line's end.
		field(b, "log_write_error", strings.Join(strings.Fields(err.Error()), " "))
	}
}

func infoStats(c *Ctx, b *strings.Builder) {
	st := c.Env.Server.Stats()
	field(b, "total_connections_received", st.ConnectionsTotal)
	field(b, "total_commands_processed", st.CommandsProcessed)
	field(b, "rejected_connections", st.RejectedConns)
	field(b, "total_net_input_bytes", st.TotalNetInputBytes)
	field(b, "protocol_errors", st.ProtocolErrors)
	field(b, "pubsub_channels", c.Env.Hub.NumChannels())
	field(b, "pubsub_patterns", c.Env.Hub.NumPat())
	field(b, "stream_consumer_groups", c.Env.Groups.Len())
	field(b, "stream_blocked_readers", c.Env.Readers.Len())
}

func infoReplication(c *Ctx, b *strings.Builder) {
	field(b, "role", "master")
	field(b, "connected_slaves", 0)
}

func infoCPU(c *Ctx, b *strings.Builder) {
	field(b, "gomaxprocs", runtime.GOMAXPROCS(0))
	field(b, "goroutines", runtime.NumGoroutine())
}

// infoKeyspace shows entity counts: db0 as Redis tools expect it, then one
// line per entity type.
func infoKeyspace(c *Ctx, b *strings.Builder) {
	types := c.Env.State.Store().Types()
	total := 0
	for _, t := range types {
		total += t.Count
	}
	if total > 0 {
		fmt.Fprintf(b, "db0:keys=%d,expires=0,avg_ttl=0\r\n", total)
	}
	for _, t := range types {
		fmt.Fprintf(b, "entity_%s:count=%d", t.Name, t.Count)
		if t.Indexes > 0 {
			fmt.Fprintf(b, ",indexes=%d,index_bytes=%d", t.Indexes, t.IndexBytes)
		}
		b.WriteString("\r\n")
	}
}

// infoProjections is a line per SQL projection, in the keyspace's shape.
func infoProjections(c *Ctx, b *strings.Builder) {
	p := c.Env.Projections
	if p == nil {
		return
	}
	names := p.Names()
	field(b, "projections", len(names))
	for _, n := range names {
		st, err := p.Status(n, false)
		if err != nil {
			continue
		}
		fmt.Fprintf(b, "projection_%s:state=%s,database=%s,table=%s,position=%d,lag_events=%d,lag_ms=%d,generation=%d,value_errors=%d,failing=%d",
			st.Name, st.State, st.Database, st.Table, st.Position, st.Lag, st.LagMillis, st.Generation, st.ValueErrors, boolInt(st.State == "retrying"))
		if st.Building {
			fmt.Fprintf(b, ",build_done=%d,build_total=%d", st.BuildDone, st.BuildTotal)
		}
		b.WriteString("\r\n")
	}
}

func human(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2fK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

// residentBytes reads the process's RSS from /proc (0 where there is none).
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, rss uint64
	fmt.Sscan(string(b), &size, &rss)
	return rss * uint64(os.Getpagesize())
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// infoSchema describes the schema in force and the newest schema change,
// with its progress while it runs (SCHEMA.STATUS has the same).
func infoSchema(c *Ctx, b *strings.Builder) {
	store := c.Env.State.Store()
	if store == nil {
		return
	}
	sc := store.Schema()
	field(b, "schema_hash", short(sc.Hash))
	field(b, "schema_entity_types", len(sc.Types))
	field(b, "schema_event_shapes", len(sc.Events))
	field(b, "schema_sql_projections", len(sc.SQL))
	st, p := c.Env.State.SchemaStatus()
	field(b, "schema_change_state", st.State)
	if st.State == "none" {
		return
	}
	field(b, "schema_change_hash", short(st.Hash))
	field(b, "schema_change_start_time", st.Started.Unix())
	if p != nil {
		field(b, "schema_change_step", strings.ReplaceAll(p.What, " ", "-"))
		field(b, "schema_change_events_done", p.Done)
		field(b, "schema_change_events_total", p.Total)
		field(b, "schema_change_perc", perc(p.Done, p.Total))
		field(b, "schema_change_events_per_sec", int64(p.PerSec()))
	}
	if st.Err != "" {
		field(b, "schema_change_error", strings.Join(strings.Fields(st.Err), " "))
	}
}

// perc is done out of total as INFO writes a percentage: "42.00".
func perc(done, total uint64) string {
	pct := 0.0
	if total > 0 {
		pct = 100 * float64(done) / float64(total)
	}
	return fmt.Sprintf("%.2f", pct)
}

// short is a hash's first 12 hex digits, as SCHEMA.STATUS gives it.
func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}
