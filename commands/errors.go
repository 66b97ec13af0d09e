package commands

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/foldb/foldb/eventlog"
	"github.com/foldb/foldb/state"
)

// ReplyError is an error whose text is the whole RESP error line, code first
// ("ERR syntax error"). Parse steps return these.
type ReplyError string

func (e ReplyError) Error() string { return string(e) }

func errorf(format string, args ...any) error { return ReplyError(fmt.Sprintf(format, args...)) }

var (
	errSyntax   = ReplyError("ERR syntax error")
	errNotInt   = ReplyError("ERR value is not an integer or out of range")
	errShutdown = ReplyError("ERR server is shutting down")
)

func errArity(name string) error {
	return errorf("ERR wrong number of arguments for '%s' command", lower(name))
}

// Reply turns an error from any package into the RESP error line a client
// gets. This is the one place where package errors become RESP codes.
func Reply(err error) string {
	var re ReplyError
	var wv *eventlog.WrongVersionError
	var inv *eventlog.InvalidError
	var rej *state.RejectedError
	var se *state.SchemaError
	var qe *state.QueryError
	switch {
	case errors.As(err, &re):
		return string(re)
	case errors.As(err, &wv):
		return "WRONGVERSION " + wv.Detail()
	case errors.As(err, &inv):
		return "ERR " + inv.Msg
	case errors.As(err, &rej):
		return "REJECTED " + rej.Message
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

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func parseUint(b []byte) (uint64, error) {
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, errNotInt
	}
	return n, nil
}

func parseInt(b []byte) (int64, error) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, errNotInt
	}
	return n, nil
}

func isWord(arg []byte, word string) bool {
	if len(arg) != len(word) {
		return false
	}
	for i := range arg {
		c := arg[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != word[i] {
			return false
		}
	}
	return true
}
