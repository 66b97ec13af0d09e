package commands

import (
	"errors"
	"fmt"
	"strings"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/resp"
	"github.com/foldb/foldb/state"
)

// ReplyError is an error whose text is the whole RESP error line, code first
// ("ERR syntax error"). Parse steps return these.
type ReplyError string

func (e ReplyError) Error() string { return string(e) }

func errorf(format string, args ...any) error { return ReplyError(fmt.Sprintf(format, args...)) }

// The error replies of this package and of dispatch. Every RESP error line
// foldb sends is one of these or comes from Reply.
var (
	errSyntax   = ReplyError("ERR syntax error")
	errNotInt   = ReplyError("ERR value is not an integer or out of range")
	errShutdown = ReplyError("ERR server is shutting down")

	errWrongPass       = ReplyError("WRONGPASS invalid username-password pair or user is disabled.")
	errHelloNoAuth     = ReplyError("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
	errAuthNoPassword  = ReplyError("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
	errDBIndex         = ReplyError("ERR DB index is out of range")
	errNoSuchClient    = ReplyError("ERR No such client")
	errSaveInProgress  = ReplyError("ERR Background save already in progress")
	errShutdownFailed  = ReplyError("ERR Errors trying to SHUTDOWN. Check logs.")
	errClientName      = ReplyError("ERR Client names cannot contain spaces, newlines or special characters.")
	errInvalidClientID = ReplyError("ERR Invalid client ID")

	// ErrNoAuth answers a command that needs AUTH first.
	ErrNoAuth = ReplyError("NOAUTH Authentication required.")
	// ErrLoading answers a command that needs the state while it loads.
	ErrLoading = ReplyError("LOADING foldb is loading the dataset in memory")
	// ErrMaxClients answers a connection over maxclients, which is then closed.
	ErrMaxClients = ReplyError("ERR max number of clients reached")
)

// ArityError is Redis's reply to a command or subcommand given the wrong
// number of arguments; a subcommand is named as Redis names it,
// "config|set".
func ArityError(name string) error {
	return errorf("ERR wrong number of arguments for '%s' command", lower(strings.ReplaceAll(name, " ", "|")))
}

// SubscribedOnlyError is Redis's reply to a command that a RESP2
// connection in subscribed mode may not send.
func SubscribedOnlyError(name string) error {
	name = strings.ReplaceAll(name, " ", "|") // a subcommand as Redis names it: pubsub|numpat
	return errorf("ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", lower(name))
}

// UnknownCommand is Redis's reply to a command it does not know.
func UnknownCommand(args [][]byte) error {
	var b strings.Builder
	for _, a := range args[1:] {
		if b.Len() >= 128 {
			break
		}
		fmt.Fprintf(&b, "'%.*s' ", 128-b.Len(), a)
	}
	return errorf("ERR unknown command '%.128s', with args beginning with: %s", args[0], b.String())
}

func unknownSubcommand(parent *Command, sub []byte) error {
	return errorf("ERR unknown subcommand '%.128s'. Try %s HELP.", sub, parent.Name)
}

func errConfigSet(name string, err error) error {
	return errorf("ERR CONFIG SET failed (possibly related to argument '%s') - %v", name, err)
}

// Reply turns an error from any package into the RESP error line a client
// gets. This is the one place where package errors become RESP codes.
func Reply(err error) string {
	var re ReplyError
	var pe *resp.ProtocolError
	var wv *eventlog.WrongVersionError
	var inv *eventlog.InvalidError
	var rej *state.RejectedError
	var ie *state.InvalidEventError
	var se *state.SchemaError
	var qe *state.QueryError
	switch {
	case errors.As(err, &re):
		return string(re)
	case errors.As(err, &pe):
		return "ERR " + pe.Error()
	case errors.As(err, &wv):
		return "WRONGVERSION " + wv.Detail()
	case errors.As(err, &inv):
		return "ERR " + inv.Msg
	case errors.As(err, &rej):
		return "REJECTED " + rej.Message
	case errors.As(err, &ie):
		return "ERR " + ie.Msg
	case errors.As(err, &se):
		return "ERR " + se.Detail()
	case errors.As(err, &qe):
		return "ERR " + qe.Msg
	case errors.Is(err, eventlog.ErrFailed):
		return "MISCONF " + err.Error()
	case errors.Is(err, eventlog.ErrClosed):
		return string(errShutdown)
	}
	return "ERR " + err.Error()
}

// Error writes err as an error reply.
func (c *Ctx) Error(err error) { c.W.Error(Reply(err)) }
