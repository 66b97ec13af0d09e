package commands

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

func adminCommands() []*Command {
	command := &Command{
		Name: "COMMAND", Arity: -1, Flags: FlagLoading | FlagStale, Group: "server", Since: "0.1.0",
		Syntax: "COMMAND [COUNT | LIST | INFO name ... | DOCS [name ...]]", Summary: "Describes foldb's commands.",
	}
	command.Subcommands = []*Command{
		{Name: "COMMAND COUNT", Arity: 2, Flags: FlagLoading, Syntax: "COMMAND COUNT", Summary: "Returns the number of commands.", Run: func(c *Ctx, _ [][]byte) { c.W.Int(int64(len(c.Env.Table.All()))) }},
		{Name: "COMMAND LIST", Arity: -2, Flags: FlagLoading, Syntax: "COMMAND LIST", Summary: "Returns the command names.", Run: runCommandList},
		{Name: "COMMAND INFO", Arity: -2, Flags: FlagLoading, Syntax: "COMMAND INFO [name ...]", Summary: "Describes the named commands.", Run: runCommandInfo},
		{Name: "COMMAND DOCS", Arity: -2, Flags: FlagLoading, Syntax: "COMMAND DOCS [name ...]", Summary: "Returns the named commands' docs.", Run: runCommandDocs},
	}
	subs := dispatchSub(command)
	command.Run = func(c *Ctx, args [][]byte) {
		if len(args) == 1 {
			all := c.Env.Table.All()
			c.W.Array(len(all))
			for _, cmd := range all {
				writeCommandInfo(c, cmd)
			}
			return
		}
		subs(c, args)
	}
	config := &Command{
		Name: "CONFIG", Arity: -2, Flags: FlagLoading | FlagAdmin, Group: "server", Since: "0.1.0",
		Syntax: "CONFIG GET pattern [pattern ...] | CONFIG SET name value [name value ...] | CONFIG RESETSTAT", Summary: "Reads and changes settings.",
	}
	config.Subcommands = []*Command{
		{Name: "CONFIG GET", Arity: -3, Flags: FlagLoading | FlagAdmin, Syntax: "CONFIG GET pattern [pattern ...]", Summary: "Returns the settings that match the patterns.", Run: runConfigGet},
		{Name: "CONFIG SET", Arity: -4, Flags: FlagLoading | FlagAdmin, Syntax: "CONFIG SET name value [name value ...]", Summary: "Changes settings at run time.", Run: handle(parseConfigSet, runConfigSet)},
		{Name: "CONFIG RESETSTAT", Arity: 2, Flags: FlagLoading | FlagAdmin, Syntax: "CONFIG RESETSTAT", Summary: "Accepted for compatibility; counters are kept.", Run: func(c *Ctx, _ [][]byte) { c.W.OK() }},
	}
	config.Run = dispatchSub(config)
	return []*Command{
		command, config,
		{Name: "INFO", Arity: -1, Flags: FlagLoading | FlagStale, Group: "server", Since: "0.1.0", Syntax: "INFO [section ...]", Summary: "Returns information and figures about the server.", Run: runInfo},
		{Name: "TIME", Arity: 1, Flags: FlagLoading | FlagStale | FlagFast, Group: "server", Since: "0.1.0", Syntax: "TIME", Summary: "Returns the server's clock: seconds and microseconds.", Run: runTime},
		{Name: "SHUTDOWN", Arity: -1, Flags: FlagLoading | FlagStale | FlagAdmin | FlagNoAuth, Group: "server", Since: "0.1.0", Syntax: "SHUTDOWN [NOSAVE | SAVE]", Summary: "Stops the server after the appends in flight, taking a snapshot unless NOSAVE.", Run: handle(parseShutdown, runShutdown)},
	}
}

func runCommandList(c *Ctx, _ [][]byte) {
	all := c.Env.Table.All()
	c.W.Array(len(all))
	for _, cmd := range all {
		c.W.BulkString(lower(cmd.Name))
	}
}

func runCommandInfo(c *Ctx, args [][]byte) {
	if len(args) == 2 {
		all := c.Env.Table.All()
		c.W.Array(len(all))
		for _, cmd := range all {
			writeCommandInfo(c, cmd)
		}
		return
	}
	c.W.Array(len(args) - 2)
	for _, name := range args[2:] {
		if cmd := c.Env.Table.Lookup(name); cmd != nil {
			writeCommandInfo(c, cmd)
		} else {
			c.W.NullArray()
		}
	}
}

// writeCommandInfo writes one COMMAND entry in Redis 7's ten-field shape.
func writeCommandInfo(c *Ctx, cmd *Command) {
	w := c.W
	w.Array(10)
	w.BulkString(lower(cmd.Name))
	w.Int(int64(cmd.Arity))
	flags := cmd.Flags.Names()
	w.Set(len(flags))
	for _, f := range flags {
		w.Simple(f)
	}
	w.Int(int64(cmd.FirstKey))
	w.Int(int64(cmd.LastKey))
	w.Int(int64(cmd.Step))
	w.Set(1)
	w.Simple("@" + cmd.Group)
	w.Array(0) // tips
	w.Array(0) // key specs
	w.Array(len(cmd.Subcommands))
	for _, s := range cmd.Subcommands {
		writeCommandInfo(c, s)
	}
}

func runCommandDocs(c *Ctx, args [][]byte) {
	var cmds []*Command
	if len(args) == 2 {
		cmds = c.Env.Table.All()
	} else {
		for _, name := range args[2:] {
			if cmd := c.Env.Table.Lookup(name); cmd != nil {
				cmds = append(cmds, cmd)
			}
		}
	}
	c.W.Map(len(cmds))
	for _, cmd := range cmds {
		c.W.BulkString(lower(cmd.Name))
		writeDocs(c, cmd, cmd.Group)
	}
}

func writeDocs(c *Ctx, cmd *Command, group string) {
	w := c.W
	n := 4
	if len(cmd.Subcommands) > 0 {
		n++
	}
	w.Map(n)
	w.BulkString("summary")
	w.BulkString(cmd.Summary)
	w.BulkString("since")
	w.BulkString(cmd.Since)
	w.BulkString("group")
	w.BulkString(group)
	w.BulkString("syntax")
	w.BulkString(cmd.Syntax)
	if len(cmd.Subcommands) > 0 {
		w.BulkString("subcommands")
		w.Map(len(cmd.Subcommands))
		for _, s := range cmd.Subcommands {
			w.BulkString(lower(s.Name))
			writeDocs(c, s, group)
		}
	}
}

func runConfigGet(c *Ctx, args [][]byte) {
	seen := map[string]bool{}
	var pairs [][2]string
	for _, p := range args[2:] {
		for _, kv := range c.Env.Server.ConfigGet(strings.ToLower(string(p))) {
			if !seen[kv[0]] {
				seen[kv[0]] = true
				pairs = append(pairs, kv)
			}
		}
	}
	c.W.Map(len(pairs))
	for _, kv := range pairs {
		c.W.BulkString(kv[0])
		c.W.BulkString(kv[1])
	}
}

func parseConfigSet(args [][]byte) ([][2]string, error) {
	if len(args)%2 != 0 {
		return nil, errArity("config|set")
	}
	var kv [][2]string
	for i := 2; i < len(args); i += 2 {
		kv = append(kv, [2]string{strings.ToLower(string(args[i])), string(args[i+1])})
	}
	return kv, nil
}

func runConfigSet(c *Ctx, kv [][2]string) {
	for _, p := range kv {
		if err := c.Env.Server.ConfigSet(p[0], p[1]); err != nil {
			c.W.Error(fmt.Sprintf("ERR CONFIG SET failed (possibly related to argument '%s') - %v", p[0], err))
			return
		}
	}
	c.W.OK()
}

func runTime(c *Ctx, _ [][]byte) {
	now := time.Now()
	c.W.Array(2)
	c.W.BulkString(fmt.Sprint(now.Unix()))
	c.W.BulkString(fmt.Sprint(now.Nanosecond() / 1000))
}

func parseShutdown(args [][]byte) (bool, error) {
	save := true
	for _, a := range args[1:] {
		switch {
		case isWord(a, "NOSAVE"):
			save = false
		case isWord(a, "SAVE"):
			save = true
		case isWord(a, "NOW"), isWord(a, "FORCE"):
		default:
			return false, errSyntax
		}
	}
	return save, nil
}

func runShutdown(c *Ctx, save bool) {
	if c.Env.Server.AuthRequired() && !c.Client.Authed {
		c.Error(errNoAuth)
		return
	}
	if err := c.Env.Server.Shutdown(save); err != nil {
		c.W.Error("ERR Errors trying to SHUTDOWN. Check logs.")
		return
	}
	// Like Redis, a successful SHUTDOWN closes the connection without a reply.
	c.Client.CloseAfter = true
}

// ErrNoAuth is the reply to a command that needs AUTH first.
var errNoAuth = ReplyError("NOAUTH Authentication required.")

// ErrNoAuth returns the NOAUTH reply line.
func ErrNoAuth() string { return string(errNoAuth) }

// ErrLoading returns the LOADING reply line.
func ErrLoading() string { return "LOADING foldb is loading the dataset in memory" }

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
	}
}

func runInfo(c *Ctx, args [][]byte) {
	want := map[string]bool{}
	all := len(args) == 1
	for _, a := range args[1:] {
		s := strings.ToLower(string(a))
		if s == "all" || s == "everything" || s == "default" {
			all = true
		}
		want[s] = true
	}
	var b strings.Builder
	for _, s := range infoSections() {
		if (all && s.dflt) || want[s.name] {
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
	field(b, "blocked_clients", 0)
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
		pct := 0.0
		if li.Total > 0 {
			pct = 100 * float64(li.Done) / float64(li.Total)
		}
		field(b, "loading_loaded_perc", fmt.Sprintf("%.2f", pct))
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
	if err := c.Env.Log.Err(); err != nil {
		failed = "err"
	}
	field(b, "aof_last_write_status", failed)
}

func infoStats(c *Ctx, b *strings.Builder) {
	st := c.Env.Server.Stats()
	field(b, "total_connections_received", st.ConnectionsTotal)
	field(b, "total_commands_processed", st.CommandsProcessed)
	field(b, "rejected_connections", st.RejectedConns)
	field(b, "total_net_input_bytes", st.TotalNetInputBytes)
	field(b, "protocol_errors", st.ProtocolErrors)
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
		fmt.Fprintf(b, "entity_%s:count=%d\r\n", t.Name, t.Count)
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

// All returns foldb's whole command table.
func All() *Table {
	var cmds []*Command
	cmds = append(cmds, connectionCommands()...)
	cmds = append(cmds, adminCommands()...)
	cmds = append(cmds, eventCommands()...)
	cmds = append(cmds, streamCommands()...)
	cmds = append(cmds, entityCommands()...)
	cmds = append(cmds, schemaCommands()...)
	cmds = append(cmds, snapshotCommands()...)
	return NewTable(cmds...)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
