// Package server is foldb's network side: the listener, connections,
// authentication, limits, LOADING, and an orderly shutdown. It reads
// commands with package resp and runs them from the one command table of
// package commands.
package server

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foldb/foldb/commands"
	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/resp"
)

// Server is one foldb server: a log, its state and a listener.
type Server struct {
	log   *slog.Logger
	table *commands.Table
	env   *commands.Env
	elog  *eventlog.Log

	optsMu sync.Mutex // guards opts for CONFIG SET
	opts   Options

	ln      net.Listener
	started time.Time

	mu      sync.Mutex
	clients map[uint64]*conn
	connWG  sync.WaitGroup
	nextID  atomic.Uint64

	loading atomic.Bool

	shutdownOnce sync.Once
	stopping     atomic.Bool
	done         chan struct{}
	closeErr     error

	connectionsTotal atomic.Uint64
	rejectedConns    atomic.Uint64
	protocolErrors   atomic.Uint64
	commandsDone     atomic.Uint64 // by closed connections
	netInput         atomic.Uint64
}

// New opens the data directory; Start begins serving.
func New(opts Options, logger *slog.Logger) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	lo := opts.logOptions()
	lo.Logger = logger
	elog, err := eventlog.Open(opts.Dir, lo)
	if err != nil {
		return nil, err
	}
	s := &Server{
		log:     logger,
		opts:    opts,
		elog:    elog,
		table:   commands.All(),
		clients: make(map[uint64]*conn),
		done:    make(chan struct{}),
	}
	s.env = &commands.Env{Log: elog, Table: s.table, Server: s}
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
	s.started = time.Now()
	s.log.Info("foldb started",
		"version", commands.Version,
		"addr", ln.Addr().String(),
		"dir", s.opts.Dir,
		"durability", s.opts.Durability.String(),
		"events", s.elog.LastPosition())
	go s.accept()
	return nil
}

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
			nc.Write([]byte("-ERR max number of clients reached\r\n"))
			nc.Close()
			continue
		}
		c := s.newConn(nc)
		s.mu.Lock()
		if s.stopping.Load() {
			s.mu.Unlock()
			nc.Close()
			continue
		}
		s.clients[c.client.ID] = c
		s.connWG.Add(1)
		s.mu.Unlock()
		go c.serve()
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
func (s *Server) Shutdown(save bool) error {
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
			c.nc.Close()
		}
		s.mu.Unlock()
		<-waited
	}
	s.closeErr = s.elog.Close()
	if s.closeErr != nil {
		s.log.Error("closing the log failed", "err", s.closeErr)
	} else {
		s.log.Info("stopped", "events", s.elog.LastPosition())
	}
	close(s.done)
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
	return commands.LoadingInfo{Loading: s.loading.Load()}
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
	sortClients(out)
	return out
}

func sortClients(cs []*commands.Client) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && cs[j].ID < cs[j-1].ID; j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
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
