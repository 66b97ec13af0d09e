package server

import (
	"fmt"
	"path"
	"strconv"
	"time"
)

// setting is one name CONFIG GET knows; set is nil for settings that only
// change with a restart.
type setting struct {
	name string
	get  func(o *Options) string
	set  func(o *Options, v string) error
}

func settings() []setting {
	return []setting{
		{name: "bind", get: func(o *Options) string { return o.Bind }},
		{name: "port", get: func(o *Options) string { return strconv.Itoa(o.Port) }},
		{name: "dir", get: func(o *Options) string { return o.Dir }},
		{name: "durability", get: func(o *Options) string { return o.Durability.String() }},
		// appendonly, appendfsync and save are what Redis tools (redis-benchmark) ask for.
		{name: "appendonly", get: func(o *Options) string { return "yes" }},
		{name: "appendfsync", get: func(o *Options) string {
			if d := o.Durability.String(); d != "none" {
				return d
			}
			return "no"
		}},
		{name: "save", get: func(o *Options) string { return "" }},
		{name: "databases", get: func(o *Options) string { return "1" }},
		{name: "requirepass", get: func(o *Options) string { return o.RequirePass },
			set: func(o *Options, v string) error { o.RequirePass = v; return nil }},
		{name: "maxclients", get: func(o *Options) string { return strconv.Itoa(o.MaxClients) },
			set: func(o *Options, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return fmt.Errorf("argument must be a positive integer")
				}
				o.MaxClients = n
				return nil
			}},
		{name: "timeout", get: func(o *Options) string { return strconv.Itoa(int(o.Timeout / time.Second)) },
			set: func(o *Options, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return fmt.Errorf("argument must be a whole number of seconds, 0 or more")
				}
				o.Timeout = time.Duration(n) * time.Second
				return nil
			}},
		{name: "proto-max-bulk-len", get: func(o *Options) string { return strconv.FormatInt(o.ProtoMaxBulkLen, 10) }},
		{name: "snapshot-interval", get: func(o *Options) string { return o.SnapshotInterval.String() }},
		{name: "snapshot-every", get: func(o *Options) string { return strconv.FormatUint(o.SnapshotEvery, 10) }},
		{name: "snapshot-keep", get: func(o *Options) string { return strconv.Itoa(o.SnapshotKeep) }},
		{name: "schema", get: func(o *Options) string { return o.SchemaFile }},
		{name: "max-event-size", get: func(o *Options) string { return strconv.Itoa(o.MaxEventSize) }},
		{name: "max-events-per-append", get: func(o *Options) string { return strconv.Itoa(o.MaxEventsPerAppend) }},
	}
}

// ConfigGet returns the settings whose names match a glob pattern.
func (s *Server) ConfigGet(pattern string) [][2]string {
	opts := s.options()
	var out [][2]string
	for _, st := range settings() {
		if ok, _ := path.Match(pattern, st.name); ok {
			out = append(out, [2]string{st.name, st.get(&opts)})
		}
	}
	return out
}

// ConfigSet changes a setting that can change at run time.
func (s *Server) ConfigSet(name, value string) error {
	for _, st := range settings() {
		if st.name != name {
			continue
		}
		if st.set == nil {
			return fmt.Errorf("%s can only be changed with a restart", name)
		}
		s.optsMu.Lock()
		o := s.opts
		err := st.set(&o, value)
		if err == nil {
			err = o.Validate()
		}
		if err == nil {
			s.opts = o
		}
		s.optsMu.Unlock()
		if err == nil && name == "timeout" {
			s.rearmIdleTimeouts(o.Timeout)
		}
		return err
	}
	return fmt.Errorf("unknown setting")
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
