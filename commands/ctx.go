package commands

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/resp"
	"github.com/foldb/foldb/snapshot"
	"github.com/foldb/foldb/state"
	"github.com/foldb/foldb/streams"
)

// Ctx is what a command runs with: the reply writer, its connection and the
// server's shared parts.
type Ctx struct {
	W      *resp.Writer
	Client *Client
	Env    *Env
}

// Env holds what every command may use. It is shared by all connections.
type Env struct {
	Log       *eventlog.Log
	State     *state.Engine
	Snapshots *snapshot.Manager
	Groups    *streams.Groups
	Table     *Table
	Server    Server
}

// Server is what the server package offers to commands that act on the
// server itself.
type Server interface {
	// Loading reports whether the state is still being loaded.
	Loading() bool
	// LoadingInfo describes the load in progress for INFO.
	LoadingInfo() LoadingInfo
	// CheckPassword reports whether user/pass authenticate.
	CheckPassword(user, pass string) bool
	// AuthRequired reports whether a password is set.
	AuthRequired() bool
	// Clients lists the open connections.
	Clients() []*Client
	// ConfigGet returns the settings whose names match a glob pattern, as
	// name/value pairs.
	ConfigGet(pattern string) [][2]string
	// ConfigSet changes a setting at run time.
	ConfigSet(name, value string) error
	// Shutdown stops the server; with save, it takes a snapshot first.
	Shutdown(save bool) error
	// Stats are the server's counters for INFO.
	Stats() ServerStats
}

// LoadingInfo is the progress of a state load.
type LoadingInfo struct {
	Loading  bool
	Started  time.Time
	Done     uint64 // events applied
	Total    uint64 // events to apply
	PerSec   float64
	Snapshot string // snapshot the load started from, if any
}

// ServerStats are counters kept by the server.
type ServerStats struct {
	Started            time.Time
	Addr               string
	Port               int
	ConfigFile         string
	ConnectedClients   int
	MaxClients         int
	ConnectionsTotal   uint64
	RejectedConns      uint64
	CommandsProcessed  uint64
	ProtocolErrors     uint64
	TotalNetInputBytes uint64
	Version            string
}

// Client is one connection's state. Fields that other connections read
// (CLIENT LIST, CLIENT KILL) are guarded by mu or atomic.
type Client struct {
	ID      uint64
	Addr    string
	LAddr   string
	Created time.Time

	mu      sync.Mutex
	name    string
	libName string
	libVer  string

	Proto       int  // 2 or 3; written by the connection under mu, read by others under mu
	Authed      bool // read and written only by the connection
	CloseAfter  bool // QUIT: close once the reply is written
	lastActive  atomic.Int64
	lastCmd     atomic.Pointer[string]
	killed      atomic.Bool
	kill        func()
	commandsRun atomic.Uint64
}

// NewClient returns a client; kill closes its connection.
func NewClient(id uint64, addr, laddr string, kill func()) *Client {
	c := &Client{ID: id, Addr: addr, LAddr: laddr, Created: time.Now(), Proto: 2, kill: kill}
	c.lastActive.Store(c.Created.UnixNano())
	return c
}

// Name is the name set with CLIENT SETNAME or HELLO SETNAME.
func (c *Client) Name() string { c.mu.Lock(); defer c.mu.Unlock(); return c.name }

// SetName sets the connection's name.
func (c *Client) SetName(n string) { c.mu.Lock(); c.name = n; c.mu.Unlock() }

// setProto is called by the connection itself; CLIENT LIST on other
// connections reads Proto under mu.
func (c *Client) setProto(p int) { c.mu.Lock(); c.Proto = p; c.mu.Unlock() }

// Touch records a command for CLIENT LIST's cmd field; name must not
// change afterwards (a command table entry's name). It takes no lock and
// reads no clock: it runs for every command.
func (c *Client) Touch(name *string) {
	c.commandsRun.Add(1)
	c.lastCmd.Store(name)
}

// Active records activity at a time, for CLIENT LIST's idle field. The
// connection calls it once per batch of commands read, not per command.
func (c *Client) Active(now time.Time) { c.lastActive.Store(now.UnixNano()) }

// LastActive is when Active was last called.
func (c *Client) LastActive() time.Time { return time.Unix(0, c.lastActive.Load()) }

// Kill closes the connection from another goroutine.
func (c *Client) Kill() {
	if c.killed.CompareAndSwap(false, true) && c.kill != nil {
		c.kill()
	}
}

// CommandsRun counts the commands the connection has run.
func (c *Client) CommandsRun() uint64 { return c.commandsRun.Load() }

// Killed reports whether Kill was called.
func (c *Client) Killed() bool { return c.killed.Load() }
