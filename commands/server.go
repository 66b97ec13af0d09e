package commands

import (
	"fmt"
	"time"
)

// serverCommands are the server's clock and its stop.
func serverCommands() []*Command {
	return []*Command{
		{Name: "TIME", Arity: 1, Flags: FlagLoading | FlagStale | FlagFast, Group: "server", Since: "0.1.0", Syntax: "TIME", Summary: "Returns the server's clock: seconds and microseconds.", Run: runTime},
		{Name: "SHUTDOWN", Arity: -1, Flags: FlagLoading | FlagStale | FlagAdmin | FlagNoAuth, Group: "server", Since: "0.1.0", Syntax: "SHUTDOWN [NOSAVE | SAVE]", Summary: "Stops the server after the appends in flight, taking a snapshot unless NOSAVE.", Run: handle(parseShutdown, runShutdown)},
	}
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
		c.Error(ErrNoAuth)
		return
	}
	if err := c.Env.Server.Shutdown(save); err != nil {
		c.Error(errShutdownFailed)
		return
	}
	// Like Redis, a successful SHUTDOWN closes the connection without a reply.
	c.Client.CloseAfter = true
}
