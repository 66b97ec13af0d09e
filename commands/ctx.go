package commands

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/pubsub"
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
	// Conn is the connection's server, for a command whose connection
	// waits (Block) or receives pushed messages (Subscribe).
	Conn Conn
	// Woken and TimedOut say why a command that blocked its connection runs
	// again: its Wait was woken, or its deadline passed. Both are false on
	// a command's first run.
	Woken, TimedOut bool
}

// Conn is what a connection's server offers a command beyond its reply.
// The network loop and the goroutine per connection both implement it.
// Its methods are for the command's own run, on the goroutine that runs it;
// the Wait and the Pusher they return are for any goroutine.
type Conn interface {
	// Block ends the command without a reply and parks the connection: it
	// runs none of its further commands (they stay unread or buffered, in
	// order) until the wait ends, which happens once, by the first of:
	//   - Wait.Wake: the command runs again with the same arguments and
	//     Ctx.Woken set; it may block again, keeping the first deadline;
	//   - Wait.Reply: the bytes given are the command's reply;
	//   - the deadline (the zero time: none): the command runs again with
	//     Ctx.TimedOut set and must reply without blocking;
	//   - the connection closes (its client left, CLIENT KILL, shutdown).
	// Then ended, when not nil, is called on the connection's server
	// goroutine before anything else happens to the connection; it must
	// not block. A blocked connection costs nothing while it waits: no
	// goroutine, no polling.
	//
	// A command calls Block at most once per run, and writes no reply
	// when it does.
	Block(deadline time.Time, ended func()) Wait
	// Subscribe makes the connection take pushed messages between its
	// replies, until Unsubscribe or its close, and exempts it from the idle
	// timeout, as Redis does for a client in Pub/Sub. It goes on reading
	// and running commands. Every call returns the same Pusher while the
	// connection stays subscribed; every ended given is called once, when
	// it stops being subscribed, on the connection's server goroutine.
	Subscribe(ended func()) Pusher
	// TakePushes writes the pushes queued so far ahead of what the command
	// writes next: a PUBLISH to the connection's own channel delivers the
	// message before its reply, as Redis does.
	TakePushes()
	// Unsubscribe ends the subscription: pushes queued before it are
	// written ahead of what the command writes next, later ones are
	// refused. Call it before writing the reply.
	Unsubscribe()
}

// Wait is one wait of a blocked connection (Conn.Block). Its methods are
// safe from any goroutine and never block; each reports whether it ended
// the wait, false when the wait had already ended, so that a caller handing
// out one event (XREADGROUP) can give it to another waiter instead.
type Wait interface {
	// Wake makes the command run again (Ctx.Woken).
	Wake() bool
	// Reply makes reply, whole RESP in the connection's protocol, the
	// command's reply; Reply copies it.
	Reply(reply []byte) bool
}

// Pusher hands messages to a subscribed connection (Conn.Subscribe).
type Pusher interface {
	// Push queues msg, whole RESP (a RESP3 push or a RESP2 array), to be
	// written between the connection's replies; Push copies it. It is safe
	// from any goroutine and never blocks. It reports false when the
	// connection takes no more pushes: unsubscribed, closed, or over its
	// output limit. When the bytes waiting to be written to the connection
	// would pass that limit, the connection is closed and msg dropped, as
	// Redis's client-output-buffer-limit does.
	Push(msg []byte) bool
}

// Env holds what every command may use. It is shared by all connections.
type Env struct {
	Log       *eventlog.Log
	State     *state.Engine
	Snapshots *snapshot.Manager
	Groups    *streams.Groups
	Readers   *streams.Readers
	Table     *Table
	Server    Server
	Hub       *pubsub.Hub
	// Projections are the SQL projectors.
	Projections Projections
	// SlowLog keeps the commands that ran too long (SLOWLOG).
	SlowLog *SlowLog
	// AggregateColumnMemory is the setting aggregate-column-memory.
	AggregateColumnMemory atomic.Int64
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
	Loading bool
	Started time.Time
	Done    uint64 // events applied
	Total   uint64 // events to apply
	PerSec  float64
}

// ServerStats are counters kept by the server.
type ServerStats struct {
	Started            time.Time
	Addr               string
	Port               int
	ConfigFile         string
	ConnectedClients   int
	BlockedClients     int // waiting in XREAD or XREADGROUP BLOCK
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

	Proto      int  // 2 or 3; written by the connection under mu, read by others under mu
	Authed     bool // read and written only by the connection
	CloseAfter bool // QUIT: close once the reply is written
	// Sub is the connection's Pub/Sub subscriptions, made on its first
	// SUBSCRIBE; only its commands touch it.
	Sub *pubsub.Sub
	// Blocked is what a command that blocked the connection keeps for its
	// runs after a wake-up (XREAD's resolved positions); only it touches it.
	Blocked any
	// Multi is the transaction the connection queues, from MULTI to EXEC
	// or DISCARD; nil outside one. Watched are the streams it watches
	// (WATCH), with the versions they had. Only its commands touch them.
	Multi       *Multi
	Watched     []eventlog.Watched
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

// Protocol is the connection's protocol, 2 or 3, for other goroutines.
func (c *Client) Protocol() int { c.mu.Lock(); defer c.mu.Unlock(); return c.Proto }

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
