package commands

import "strings"

// configCommands are CONFIG's subcommands, which read and change the
// server's settings through Server.ConfigGet and ConfigSet.
func configCommands() []*Command {
	config := &Command{
		Name: "CONFIG", Arity: -2, Flags: FlagLoading | FlagAdmin, Group: "server", Since: "0.1.0",
		Syntax: "CONFIG GET pattern [pattern ...] | CONFIG SET name value [name value ...] | CONFIG RESETSTAT", Summary: "Reads and changes settings.",
	}
	config.Subcommands = []*Command{
		{Name: "CONFIG GET", Arity: -3, Flags: FlagLoading | FlagAdmin, Syntax: "CONFIG GET pattern [pattern ...]", Summary: "Returns the settings that match the patterns.", Run: handle(parseConfigGet, runConfigGet)},
		{Name: "CONFIG SET", Arity: -4, Flags: FlagLoading | FlagAdmin, Syntax: "CONFIG SET name value [name value ...]", Summary: "Changes settings at run time.", Run: handle(parseConfigSet, runConfigSet)},
		{Name: "CONFIG RESETSTAT", Arity: 2, Flags: FlagLoading | FlagAdmin, Syntax: "CONFIG RESETSTAT", Summary: "Accepted for compatibility; counters are kept.", Run: func(c *Ctx, _ [][]byte) { c.W.OK() }},
	}
	return []*Command{config}
}

// parseConfigGet returns the patterns, in lower case.
func parseConfigGet(args [][]byte) ([]string, error) {
	patterns := make([]string, 0, len(args)-2)
	for _, p := range args[2:] {
		patterns = append(patterns, strings.ToLower(string(p)))
	}
	return patterns, nil
}

func runConfigGet(c *Ctx, patterns []string) {
	seen := map[string]bool{}
	var pairs [][2]string
	for _, p := range patterns {
		for _, kv := range c.Env.Server.ConfigGet(p) {
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
		return nil, ArityError("CONFIG SET")
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
			c.Error(errConfigSet(p[0], err))
			return
		}
	}
	c.W.OK()
}
