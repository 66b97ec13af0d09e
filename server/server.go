// Package server is foldb's network side: the listener, connections,
// authentication, limits, LOADING, and an orderly shutdown. It reads
// commands with package resp and runs them from the one command table of
// package commands.
package server

import (
	"cmp"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foldb/foldb/commands"
	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/pubsub"
	"github.com/foldb/foldb/resp"
	"github.com/foldb/foldb/snapshot"
	"github.com/foldb/foldb/sqlproj"
	"github.com/foldb/foldb/state"
	"github.com/foldb/foldb/streams"
)

// Server is one foldb server: a log, its state and a listener.
type Server struct {
	log   *slog.Logger
	table *commands.Table
	env   *commands.Env
	elog  *eventlog.Log
	// appends is elog as the connections use it (a fake in the loop's tests).
	appends appendLog
	state   *state.Engine
	snaps   *snapshot.Manager
	// schemaText is the --schema file's text, loaded at start; nil without one.
	schemaText *string
	// groups are the streams' consumer groups, stored in the log.
	groups *streams.Groups
	// readers are the XREADs blocked until their streams have entries.
	readers *streams.Readers
	// hub is Pub/Sub: the log's events and entity changes, and PUBLISH.
	hub *pubsub.Hub
	// projections are the SQL projectors (docs/projections.md).
	projections *sqlproj.Manager

	optsMu sync.Mutex // guards opts for CONFIG SET
	opts   Options

	ln      net.Listener
	lp      *loop // nil: a goroutine per connection
	started time.Time
	// outputLimit is each connection's limit on bytes waiting to be
	// written, past which a Push closes it.
	outputLimit int

	mu      sync.Mutex
	clients map[uint64]*conn
	connWG  sync.WaitGroup
	nextID  atomic.Uint64

	loading atomic.Bool
	loaded  chan error
	// loadDone is closed when the load goroutine has returned.
	loadDone chan struct{}
	loadErr  error

	shutdownOnce sync.Once
	stopping     atomic.Bool
	releases     atomic.Int64  // memory returned after a burst (reclaim)
	releasedAt   atomic.Uint64 // the log's position at the last of them (reclaim's, read by tests)
	idleLooks    atomic.Int64  // the times reclaim found the log idle
	done         chan struct{}
	closeErr     error

	connectionsTotal atomic.Uint64
	rejectedConns    atomic.Uint64
	protocolErrors   atomic.Uint64
	commandsDone     atomic.Uint64 // by closed connections
	netInput         atomic.Uint64
	blockedClients   atomic.Int64 // connections waiting in a BLOCK
}

// New opens the data directory; Start begins serving.
func New(opts Options, logger *slog.Logger) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	var schemaText *string
	if opts.SchemaFile != "" {
		b, err := os.ReadFile(opts.SchemaFile)
		if err != nil {
			return nil, fmt.Errorf("server: schema: %w", err)
		}
		text := string(b)
		if _, err := state.ParseSchema(text); err != nil {
			return nil, fmt.Errorf("%s: %w", opts.SchemaFile, err)
		}
		schemaText = &text
	}
	lo := opts.logOptions()
	lo.Logger = logger
	elog, err := eventlog.Open(opts.Dir, lo)
	if err != nil {
		return nil, err
	}
	groups, err := streams.OpenGroups(elog, streams.NewReader(elog))
	if err != nil {
		elog.Close()
		return nil, err
	}
	s := &Server{
		log:         logger,
		opts:        opts,
		elog:        elog,
		groups:      groups,
		appends:     elog,
		outputLimit: int(opts.PubSubOutputLimit),
		state:       state.NewEngine(elog, logger),
		schemaText:  schemaText,
		table:       commands.All(),
		clients:     make(map[uint64]*conn),
		done:        make(chan struct{}),
	}
	s.snaps, err = snapshot.NewManager(opts.snapshotOptions(), elog, s.state, logger)
	if err != nil {
		elog.Close()
		return nil, err
	}
	s.hub = pubsub.New()
	s.readers = streams.NewReaders(elog.LastPosition())
	s.env = &commands.Env{Log: elog, State: s.state, Snapshots: s.snaps, Groups: groups, Readers: s.readers, Table: s.table, Server: s, Hub: s.hub,
		SlowLog: commands.NewSlowLog()}
	s.env.SlowLog.Configure(int64(opts.SlowlogSlowerThan), opts.SlowlogMaxLen)
	s.env.AggregateColumnMemory.Store(opts.AggregateColumnMemory)
	po := opts.projectionOptions()
	po.Logger = logger
	s.projections = sqlproj.New(elog, s.state, po)
	s.env.Projections = projections{s.projections}
	s.state.AddChangeListener(&state.ChangeListener{Wants: s.hub.WantsEntityChanges, Changes: s.entityChanges})
	// A round's streams are collected when a reader waits or anyone is
	// subscribed: the feed reads back only the rounds a subscriber can hear.
	groups.OnPublish(func(p *streams.Published) {
		s.readers.Published(p)
		s.hub.Committed(p.First, p.Last, p.Streams, p.Every)
	}, func() bool { return s.readers.Waiting() || s.hub.Subscribed() })
	s.hub.Start(elog, elog.LastPosition(), logger)
	return s, nil
}

// Start listens and serves in the background.
func (s *Server) Start() error {
	addr := net.JoinHostPort(s.opts.Bind, strconv.Itoa(s.opts.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.elog.Close()
		return fmt.Errorf("server: listen on %s: %w", addr, err)
	}
	s.ln = ln
	if useLoop && !s.opts.ConnGoroutines {
		if s.lp, err = newLoop(s); err != nil {
			ln.Close()
			s.elog.Close()
			return fmt.Errorf("server: network loop: %w", err)
		}
		go s.lp.run()
	}
	s.started = time.Now()
	s.log.Info("foldb started",
		"version", commands.Version,
		"addr", ln.Addr().String(),
		"dir", s.opts.Dir,
		"durability", s.opts.Durability.String(),
		"events", s.elog.LastPosition())
	s.loading.Store(true)
	s.loaded = make(chan error, 1)
	s.loadDone = make(chan struct{})
	go s.reclaim(s.opts.ReleaseMemoryAfter) // read before accept: CONFIG SET writes opts
	go s.load()
	go s.accept()
	return nil
}

// load builds the state while the server answers LOADING to data commands.
// A state that cannot be built (a stored schema that no longer compiles, an
// unreadable log) stops the server: serving without it would be wrong.
func (s *Server) load() {
	var loaded *snapshot.Info
	defer close(s.loadDone)
	defer loadingGC()()
	err := s.state.Load(s.schemaText, func(schema *state.Schema, last uint64) *state.Store {
		st, info := snapshot.LoadNewest(s.snaps.Dir(), schema, last, s.log)
		loaded = info
		return st
	})
	if errors.Is(err, state.ErrStopped) {
		s.loaded <- err
		return
	}
	if err != nil {
		s.log.Error("loading the state failed; shutting down", "err", err)
		s.loadErr = err
		s.loaded <- err
		s.Shutdown(false)
		return
	}
	s.snaps.SetLatest(loaded)
	if err := s.projections.Start(); err != nil {
		s.log.Warn("the SQL projections did not start", "err", err)
	}
	s.loading.Store(false)
	s.snaps.Start()
	s.loaded <- nil
}

// Loaded returns a channel that gets the load's result once the state is
// built (nil: serving).
func (s *Server) Loaded() <-chan error { return s.loaded }

// Snapshots is the server's snapshot manager.
func (s *Server) Snapshots() *snapshot.Manager { return s.snaps }

// State is the server's state engine.
func (s *Server) State() *state.Engine { return s.state }

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Log is the server's event log.
func (s *Server) Log() *eventlog.Log { return s.elog }

// Done is closed when the server has shut down.
func (s *Server) Done() <-chan struct{} { return s.done }

// Wait blocks until the server has shut down and returns what closing failed with.
func (s *Server) Wait() error {
	<-s.done
	return s.closeErr
}

func (s *Server) accept() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.stopping.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("accept failed", "err", err)
			time.Sleep(10 * time.Millisecond) // back off from EMFILE and the like
			continue
		}
		s.connectionsTotal.Add(1)
		s.mu.Lock()
		full := len(s.clients) >= s.maxClients()
		s.mu.Unlock()
		if full {
			s.rejectedConns.Add(1)
			w := resp.NewWriter(nc)
			w.Error(commands.Reply(commands.ErrMaxClients))
			w.Flush()
			nc.Close()
			continue
		}
		var c *conn
		if s.lp != nil {
			if c, err = s.lp.adopt(nc); err != nil {
				s.log.Warn("accept failed", "err", err)
				nc.Close()
				continue
			}
		} else {
			c = s.newConn(nc)
		}
		s.mu.Lock()
		if s.stopping.Load() {
			s.mu.Unlock()
			c.close()
			continue
		}
		s.clients[c.client.ID] = c
		s.connWG.Add(1)
		s.mu.Unlock()
		if s.lp != nil {
			s.lp.post(c)
		} else {
			go c.serve()
		}
	}
}

func (s *Server) maxClients() int {
	s.optsMu.Lock()
	defer s.optsMu.Unlock()
	return s.opts.MaxClients
}

func (s *Server) options() Options {
	s.optsMu.Lock()
	defer s.optsMu.Unlock()
	return s.opts
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.clients, c.client.ID)
	s.mu.Unlock()
	s.commandsDone.Add(c.client.CommandsRun())
	s.connWG.Done()
}

// Shutdown stops the server: it stops accepting, lets every connection
// finish the command it is running (appends in flight are committed and
// answered), closes the connections and closes the log cleanly. It returns
// once the shutdown has begun; Wait waits for its end.
//
// With save, it first takes a snapshot (when the state is loaded and there
// are events since the newest one); if that fails, the server goes on and
// the error is returned, as Redis's SHUTDOWN does.
func (s *Server) Shutdown(save bool) error {
	if save && !s.loading.Load() && !s.stopping.Load() && s.elog.Err() == nil {
		if l := s.snaps.Latest(); l == nil || l.Position < s.elog.LastPosition() {
			if _, err := s.snaps.Save(); err != nil {
				return err
			}
		}
	}
	s.shutdownOnce.Do(func() {
		s.stopping.Store(true)
		s.log.Info("shutting down")
		if s.ln != nil {
			s.ln.Close()
		}
		go s.finishShutdown()
	})
	return nil
}

func (s *Server) finishShutdown() {
	s.groups.Close() // blocked XREADGROUPs answer, so their connections can finish
	s.closeConnections()
	s.hub.Stop()
	s.projections.Close()
	if s.loadDone != nil {
		s.state.Stop()
		<-s.loadDone
	}
	s.snaps.Close()
	s.closeErr = errors.Join(s.loadErr, s.elog.Close())
	if s.closeErr != nil {
		s.log.Error("closing the log failed", "err", s.closeErr)
	} else {
		s.log.Info("stopped", "events", s.elog.LastPosition())
	}
	close(s.done)
}

// closeConnections lets every connection finish its command and closes it,
// then stops the network loop.
func (s *Server) closeConnections() {
	s.mu.Lock()
	for _, c := range s.clients {
		c.interrupt()
	}
	s.mu.Unlock()
	waited := make(chan struct{})
	go func() { s.connWG.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		s.log.Warn("connections still busy after 10s; closing them")
		s.mu.Lock()
		for _, c := range s.clients {
			c.close()
		}
		s.mu.Unlock()
		<-waited
	}
	if s.lp != nil {
		s.lp.stop()
	}
}

// appendLog is what connections need of the event log: the network loop
// commits a turn's appends (and the transactions of its EXECs) with
// AppendNowTx or AppendAsyncTx, a goroutine (serve, or an offloaded
// command's) with AppendBatch. *eventlog.Log is the one the
// server uses; the loop's tests use a fake, to drive the loop without Pebble.
type appendLog interface {
	AppendBatch(appends []*eventlog.Append, txs []*eventlog.Tx)
	AppendNowTx(appends []*eventlog.Append, txs []*eventlog.Tx) bool
	AppendAsyncTx(appends []*eventlog.Append, txs []*eventlog.Tx, done func())
}

// Close shuts down and waits.
func (s *Server) Close() error {
	s.Shutdown(false)
	return s.Wait()
}

// The methods below implement commands.Server.

// Loading reports whether state is still loading.
func (s *Server) Loading() bool { return s.loading.Load() }

// LoadingInfo describes the load in progress.
func (s *Server) LoadingInfo() commands.LoadingInfo {
	li := commands.LoadingInfo{Loading: s.loading.Load()}
	if p := s.state.Progress(); p != nil {
		li.Started, li.Done, li.Total, li.PerSec = p.Started, p.Done, p.Total, p.PerSec()
	}
	return li
}

// AuthRequired reports whether requirepass is set.
func (s *Server) AuthRequired() bool { return s.options().RequirePass != "" }

// CheckPassword checks the default user's password in constant time.
func (s *Server) CheckPassword(user, pass string) bool {
	want := s.options().RequirePass
	if user != "default" {
		return false
	}
	if want == "" {
		return true
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(pass)) == 1
}

// Clients lists the open connections by ID.
func (s *Server) Clients() []*commands.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*commands.Client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, c.client)
	}
	slices.SortFunc(out, func(a, b *commands.Client) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Stats returns the server's counters.
func (s *Server) Stats() commands.ServerStats {
	opts := s.options()
	s.mu.Lock()
	n := len(s.clients)
	cmds := s.commandsDone.Load()
	for _, c := range s.clients {
		cmds += c.client.CommandsRun()
	}
	s.mu.Unlock()
	port := 0
	if a, ok := s.ln.Addr().(*net.TCPAddr); ok {
		port = a.Port
	}
	return commands.ServerStats{
		Started:            s.started,
		Addr:               opts.Bind,
		Port:               port,
		ConfigFile:         opts.ConfigFile,
		ConnectedClients:   n,
		BlockedClients:     int(s.blockedClients.Load()),
		MaxClients:         opts.MaxClients,
		ConnectionsTotal:   s.connectionsTotal.Load(),
		RejectedConns:      s.rejectedConns.Load(),
		CommandsProcessed:  cmds,
		ProtocolErrors:     s.protocolErrors.Load(),
		TotalNetInputBytes: s.netInput.Load(),
		Version:            commands.Version,
	}
}

func (s *Server) limits(authed bool) resp.Limits {
	opts := s.options()
	l := resp.DefaultLimits()
	l.MaxBulkLen = opts.ProtoMaxBulkLen
	if !authed && opts.RequirePass != "" {
		l = l.Unauthenticated()
	}
	return l
}

// loadingGCPercent is the garbage collector's target while the state is
// built at start-up, unless GOGC is set. A replay allocates a folded entity
// for every event and keeps only the last of each, so a collection at
// every doubling of the heap (Go's default, 100) spends about a sixth of
// the replay's time (BENCHMARKS.md).
const loadingGCPercent = 400

// loadingGC raises the collector's target for the load and returns what
// restores it; the restore then collects and hands the load's garbage back
// to the OS off the serving path, so that the RSS settles where it would
// have. Loads that overlap (servers in one process, as in tests) share the
// raise; the last to finish restores the setting.
func loadingGC() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	gcLoads.Lock()
	defer gcLoads.Unlock()
	if gcLoads.n == 0 {
		gcLoads.old = debug.SetGCPercent(loadingGCPercent)
	}
	gcLoads.n++
	var once sync.Once
	return func() {
		once.Do(func() {
			gcLoads.Lock()
			defer gcLoads.Unlock()
			if gcLoads.n--; gcLoads.n == 0 {
				debug.SetGCPercent(gcLoads.old)
				go debug.FreeOSMemory()
			}
		})
	}
}

var gcLoads struct {
	sync.Mutex
	n   int // loads under way
	old int // the GC percent before the first of them
}

// entityChanges hands a round's entity changes to Pub/Sub's entity channels.
func (s *Server) entityChanges(last uint64, changes []state.Change) {
	out := make([]pubsub.EntityChange, len(changes))
	for i, c := range changes {
		out[i] = pubsub.EntityChange{Type: c.Type, ID: c.ID, JSON: c.JSON}
	}
	s.hub.EntityChanges(last, out)
}
