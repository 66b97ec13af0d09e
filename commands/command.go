package commands

import "strings"

// commandCommands are COMMAND and its subcommands, which describe the table.
func commandCommands() []*Command {
	command := &Command{
		Name: "COMMAND", Arity: -1, Flags: FlagLoading | FlagStale, Group: "server", Since: "0.1.0",
		Syntax: "COMMAND [COUNT | LIST | INFO name ... | DOCS [name ...]]", Summary: "Describes foldb's commands.",
		Run: runCommandInfoAll,
	}
	command.Subcommands = []*Command{
		{Name: "COMMAND COUNT", Arity: 2, Flags: FlagLoading, Syntax: "COMMAND COUNT", Summary: "Returns the number of commands.", Run: func(c *Ctx, _ [][]byte) { c.W.Int(int64(len(c.Env.Table.All()))) }},
		{Name: "COMMAND LIST", Arity: -2, Flags: FlagLoading, Syntax: "COMMAND LIST", Summary: "Returns the command names.", Run: runCommandList},
		{Name: "COMMAND INFO", Arity: -2, Flags: FlagLoading, Syntax: "COMMAND INFO [name ...]", Summary: "Describes the named commands.", Run: runCommandInfo},
		{Name: "COMMAND DOCS", Arity: -2, Flags: FlagLoading, Syntax: "COMMAND DOCS [name ...]", Summary: "Returns the named commands' docs.", Run: runCommandDocs},
	}
	return []*Command{command}
}

// runCommandInfoAll is COMMAND without arguments: every command's entry.
func runCommandInfoAll(c *Ctx, _ [][]byte) {
	all := c.Env.Table.All()
	c.W.Array(len(all))
	for _, cmd := range all {
		writeCommandInfo(c, cmd)
	}
}

func runCommandList(c *Ctx, _ [][]byte) {
	all := c.Env.Table.All()
	c.W.Array(len(all))
	for _, cmd := range all {
		c.W.BulkString(lower(cmd.Name))
	}
}

func runCommandInfo(c *Ctx, args [][]byte) {
	if len(args) == 2 {
		runCommandInfoAll(c, args)
		return
	}
	c.W.Array(len(args) - 2)
	for _, name := range args[2:] {
		if cmd := c.Env.Table.Lookup(name); cmd != nil {
			writeCommandInfo(c, cmd)
		} else {
			c.W.NullArray()
		}
	}
}

// writeCommandInfo writes one COMMAND entry in Redis 7's ten-field shape.
func writeCommandInfo(c *Ctx, cmd *Command) {
	w := c.W
	w.Array(10)
	w.BulkString(redisName(cmd))
	w.Int(int64(cmd.Arity))
	flags := cmd.Flags.Names()
	w.Set(len(flags))
	for _, f := range flags {
		w.Simple(f)
	}
	w.Int(int64(cmd.FirstKey))
	w.Int(int64(cmd.LastKey))
	w.Int(int64(cmd.Step))
	w.Set(1)
	w.Simple("@" + cmd.Group)
	w.Array(0) // tips
	w.Array(0) // key specs
	w.Array(len(cmd.Subcommands))
	for _, s := range cmd.Subcommands {
		writeCommandInfo(c, s)
	}
}

func runCommandDocs(c *Ctx, args [][]byte) {
	var cmds []*Command
	if len(args) == 2 {
		cmds = c.Env.Table.All()
	} else {
		for _, name := range args[2:] {
			if cmd := c.Env.Table.Lookup(name); cmd != nil {
				cmds = append(cmds, cmd)
			}
		}
	}
	c.W.Map(len(cmds))
	for _, cmd := range cmds {
		c.W.BulkString(lower(cmd.Name))
		writeDocs(c, cmd, cmd.Group)
	}
}

func writeDocs(c *Ctx, cmd *Command, group string) {
	w := c.W
	n := 4
	if len(cmd.Subcommands) > 0 {
		n++
	}
	w.Map(n)
	w.BulkString("summary")
	w.BulkString(cmd.Summary)
	w.BulkString("since")
	w.BulkString(cmd.Since)
	w.BulkString("group")
	w.BulkString(group)
	w.BulkString("syntax")
	w.BulkString(cmd.Syntax)
	if len(cmd.Subcommands) > 0 {
		w.BulkString("subcommands")
		w.Map(len(cmd.Subcommands))
		for _, s := range cmd.Subcommands {
			w.BulkString(redisName(s))
			writeDocs(c, s, group)
		}
	}
}

// redisName is a command's name as Redis's COMMAND shows it: lower case,
// a subcommand after its container and a bar ("client|setname").
// redis-cli splits subcommand names at the bar.
func redisName(cmd *Command) string {
	return lower(strings.ReplaceAll(cmd.Name, " ", "|"))
}
