package commands

func schemaCommands() []*Command {
	return []*Command{
		{
			Name: "SCHEMA.LOAD", Arity: 2, Flags: FlagWrite | FlagAdmin, Group: "schema", Since: "0.1.0",
			Syntax:  "SCHEMA.LOAD yaml-or-json",
			Summary: "Validates a schema, rebuilds the state from the log with it and stores it; the old state serves reads meanwhile. A schema that does not compile changes nothing.",
			Run:     runSchemaLoad,
		},
		{
			Name: "SCHEMA.GET", Arity: 1, Flags: FlagRead | FlagFast, Group: "schema", Since: "0.1.0",
			Syntax:  "SCHEMA.GET",
			Summary: "Returns the schema text in force (empty when none is loaded).",
			Run:     runSchemaGet,
		},
	}
}

func runSchemaLoad(c *Ctx, args [][]byte) {
	if err := c.Env.State.SetSchema(string(args[1])); err != nil {
		c.Error(err)
		return
	}
	c.W.OK()
}

func runSchemaGet(c *Ctx, _ [][]byte) {
	c.W.BulkString(c.Env.State.Store().Schema().Text)
}
