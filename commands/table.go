// Package commands is foldb's one command table: every command's name, arity,
// flags, docs, parse step and run step. Dispatch (in package server) with
// its NOAUTH and LOADING checks and its choice of where a command runs,
// COMMAND and COMMAND DOCS all read this table; there is no second list of
// commands anywhere.
//
// table.go holds the table and All, which assembles it from one file per
// command family: connection.go (PING, HELLO, AUTH, CLIENT, ...),
// event.go, entity.go, schema.go, snapshot.go, command.go (COMMAND),
// config.go (CONFIG), info.go (INFO) and server.go (TIME, SHUTDOWN).
// errors.go holds every error reply and Reply, which turns other packages'
// errors into RESP codes; args.go the helpers that parse steps share;
// ctx.go what a command runs with (Ctx, Env, Client) and what it may ask of
// its connection's server (Conn: blocking and pushes).
//
// A command's arguments are parsed into a typed request by a parse
// function that table tests cover; the run step never looks at raw
// arguments again.
package commands

import (
	"sort"
	"strings"

	"github.com/foldb/foldb/eventlog"
)

// Flags describe a command to dispatch and to COMMAND.
type Flags uint32

const (
	// FlagRead: reads state or the log.
	FlagRead Flags = 1 << iota
	// FlagWrite: appends to the log.
	FlagWrite
	// FlagAdmin: changes the server (SHUTDOWN, CONFIG SET, SCHEMA.LOAD, ...).
	FlagAdmin
	// FlagLoading: answers while the state is loading (otherwise -LOADING).
	FlagLoading
	// FlagNoAuth: answers before AUTH where a password is set (otherwise -NOAUTH).
	FlagNoAuth
	// FlagFast: constant time, no I/O, no waiting: the network loop runs
	// these commands itself (server/loop_linux.go), so one that could wait
	// on the disk or a lock would hold up every connection.
	FlagFast
	// FlagStale is accepted for COMMAND's flag list only.
	FlagStale
	// FlagSubscribed: allowed on a RESP2 connection in subscribed mode
	// ((P)SUBSCRIBE, (P)UNSUBSCRIBE, PING, QUIT, RESET), as in Redis.
	// COMMAND does not show it: Redis has no such flag name.
	FlagSubscribed
	// FlagUnqueued: runs at once on a connection in MULTI, where other
	// commands are queued (MULTI, EXEC, DISCARD, WATCH, QUIT, RESET), as
	// in Redis. COMMAND does not show it.
	FlagUnqueued
	// FlagNoMulti: refused inside a transaction.
	FlagNoMulti
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{FlagWrite, "write"}, {FlagRead, "readonly"}, {FlagAdmin, "admin"},
	{FlagLoading, "loading"}, {FlagNoAuth, "no_auth"}, {FlagFast, "fast"}, {FlagStale, "stale"}, {FlagNoMulti, "no_multi"},
}

// Names are the flag names COMMAND shows.
func (f Flags) Names() []string {
	var out []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// Command is one entry of the table.
type Command struct {
	Name  string // upper case, as users write it: "EVENT.APPEND"
	Arity int    // Redis convention: n means exactly n arguments with the name, -n at least n
	Flags Flags
	Group string // for COMMAND DOCS: "event", "entity", "connection", "server", ...
	// Syntax and Summary are the docs COMMAND DOCS and the README show.
	Syntax  string
	Summary string
	Since   string
	// FirstKey, LastKey and Step locate stream or entity arguments for COMMAND (0: none).
	FirstKey, LastKey, Step int

	// Run parses the arguments (args[0] is the command name) and runs the command,
	// writing exactly one reply. A container whose arity needs a
	// subcommand (CLIENT, CONFIG) has none: Resolve hands dispatch the
	// subcommand's entry.
	Run func(c *Ctx, args [][]byte)
	// Prepare is set for commands whose work can join other pipelined
	// commands of the same connection into one round (EVENT.APPEND). It
	// parses and returns the deferred work; the server collects the pending
	// work of consecutive commands, runs it together and then writes each
	// reply in order. A command with Prepare has no Run, unless Gather is
	// set: then Prepare applies when Gather says so, and Run otherwise.
	Prepare func(c *Ctx, args [][]byte) Pending
	// Gather, with Prepare and Run, says whether the command joins the
	// pipelined appends (Prepare) on this connection now: EXEC does when
	// its transaction holds only appends.
	Gather func(cl *Client) bool
	// InTx is set for a consumer-group command that a transaction can
	// hold (XACK): it parses the command while MULTI queues it (an error
	// refuses it, which aborts the transaction), and EXEC commits the ops
	// it returns with the transaction's appends, in the same round, then
	// answers it with its Reply.
	InTx func(c *Ctx, args [][]byte) (TxPart, error)
	// Bounded is set for a command whose cost its arguments decide (a
	// query): it reports whether these arguments keep the command cheap
	// enough for the network loop to run it itself, as it runs FlagFast
	// commands, instead of handing it to a goroutine. It is asked only of
	// an authenticated connection while the state is live, and must itself
	// be cheap: it plans, it does not run.
	Bounded func(env *Env, args [][]byte) bool
	// Plan, for a query, says how it runs with these arguments (the index
	// it walks or a scan, and how many entities it reads), for the log's
	// line about a slow command.
	Plan func(env *Env, args [][]byte) string

	// Subcommands, for container commands such as CLIENT and CONFIG. Each
	// is an entry of its own: dispatch obeys its flags, not the
	// container's.
	Subcommands []*Command
}

// Pending is the deferred part of a command that has Prepare.
type Pending interface {
	// Appends are the appends to run; nil when the command failed to parse.
	Appends() []*eventlog.Append
	// Tx is the transaction to run in place of appends (EXEC), or nil.
	Tx() *eventlog.Tx
	// Reply writes the command's reply once its appends have results.
	Reply(c *Ctx)
}

// TxPart is a queued command that commits with a transaction's appends
// (Command.InTx).
type TxPart interface {
	// Ops are what the log stages after the transaction's appends.
	Ops() []*eventlog.Op
	// Reply writes the command's reply once the ops are answered.
	Reply(c *Ctx)
}

// Table finds commands by name, case-insensitively.
type Table struct {
	byName map[string]*Command
	list   []*Command
}

// NewTable builds a table from commands.
func NewTable(cmds ...*Command) *Table {
	t := &Table{byName: make(map[string]*Command, len(cmds))}
	for _, c := range cmds {
		t.byName[strings.ToLower(c.Name)] = c
		t.list = append(t.list, c)
		for _, s := range c.Subcommands {
			if s.Group == "" {
				s.Group = c.Group
			}
		}
	}
	sort.Slice(t.list, func(i, j int) bool { return t.list[i].Name < t.list[j].Name })
	return t
}

// Lookup finds a command by the name a client sent, without allocating for
// names of ordinary length.
func (t *Table) Lookup(name []byte) *Command {
	var buf [32]byte
	if len(name) > len(buf) {
		return t.byName[strings.ToLower(string(name))]
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return t.byName[string(buf[:len(name)])]
}

// Prepares reports whether cmd joins the pipelined appends on this
// connection (Prepare) rather than running (Run).
func (c *Command) Prepares(cl *Client) bool {
	return c.Prepare != nil && (c.Gather == nil || c.Gather(cl))
}

// All returns every command, sorted by name.
func (t *Table) All() []*Command { return t.list }

// Resolve finds the entry that runs args: the command named by args[0] or,
// for a container given a subcommand (CLIENT SETNAME), the subcommand's
// entry, whose flags dispatch then obeys. It checks the arity, as Redis
// does before NOAUTH or LOADING; err is the reply for a command that
// cannot run (unknown command or subcommand, wrong arity).
func (t *Table) Resolve(args [][]byte) (*Command, error) {
	cmd := t.Lookup(args[0])
	switch {
	case cmd == nil:
		return nil, UnknownCommand(args)
	case !cmd.ArityOK(len(args)):
		return nil, ArityError(cmd.Name)
	case cmd.Subcommands == nil || len(args) == 1:
		return cmd, nil
	}
	sub := cmd.Sub(args[1])
	switch {
	case sub == nil:
		return nil, unknownSubcommand(cmd, args[1])
	case !sub.ArityOK(len(args)):
		return nil, ArityError(sub.Name)
	}
	return sub, nil
}

// Sub finds a subcommand by name, case-insensitively.
func (c *Command) Sub(name []byte) *Command {
	for _, s := range c.Subcommands {
		if isWord(name, s.subName()) {
			return s
		}
	}
	return nil
}

// subName is "SETNAME" for "CLIENT SETNAME".
func (c *Command) subName() string {
	if i := strings.IndexByte(c.Name, ' '); i >= 0 {
		return c.Name[i+1:]
	}
	return c.Name
}

// ArityOK reports whether n arguments (with the name) fit the arity.
func (c *Command) ArityOK(n int) bool {
	if c.Arity >= 0 {
		return n == c.Arity
	}
	return n >= -c.Arity
}

// All returns foldb's whole command table.
func All() *Table {
	var cmds []*Command
	for _, family := range [][]*Command{
		connectionCommands(), commandCommands(), configCommands(), infoCommands(), serverCommands(),
		eventCommands(), entityCommands(), schemaCommands(), snapshotCommands(), pubsubCommands(), groupCommands(), streamCommands(), projectionCommands(), slowlogCommands(), multiCommands(),
	} {
		cmds = append(cmds, family...)
	}
	return NewTable(cmds...)
}
