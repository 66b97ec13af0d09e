package commands

import (
	"fmt"
	"strings"

	"github.com/foldb/foldb/state"
)

func entityCommands() []*Command {
	return []*Command{
		{
			Name: "ENTITY.GET", Arity: -3, Flags: FlagRead | FlagFast, Group: "entity", Since: "0.1.0",
			FirstKey: 1, LastKey: 1, Step: 1,
			Syntax:  "ENTITY.GET type id [WITHVERSION]",
			Summary: "Returns an entity's JSON, or nil; WITHVERSION returns [json, version], the version EVENT.APPEND EXPECT takes.",
			Run:     handle(parseGet, runGet),
		},
		{
			Name: "ENTITY.MGET", Arity: -3, Flags: FlagRead | FlagFast, Group: "entity", Since: "0.1.0",
			FirstKey: 1, LastKey: 1, Step: 1,
			Syntax:  "ENTITY.MGET type id [id ...]",
			Summary: "Returns the JSON of several entities of one type, nil for those that do not exist.",
			Run:     handle(parseMGet, runMGet),
		},
		{
			Name: "ENTITY.ALL", Arity: -2, Flags: FlagRead, Group: "entity", Since: "0.1.0",
			FirstKey: 1, LastKey: 1, Step: 1,
			Syntax:  "ENTITY.ALL type [WHERE expression] [SORTBY field [ASC|DESC]] [LIMIT offset count]",
			Summary: "Returns id, json pairs of the entities that match, sorted by a field or in an unspecified order that holds while the type is not written to.",
			Run:     handle(parseAll, runAll),
			Bounded: boundedAll, Plan: planAll,
		},
		{
			Name: "ENTITY.COUNT", Arity: -2, Flags: FlagRead, Group: "entity", Since: "0.1.0",
			FirstKey: 1, LastKey: 1, Step: 1,
			Syntax:  "ENTITY.COUNT type [WHERE expression]",
			Summary: "Counts the entities of a type, or those that match.",
			Run:     handle(parseEntityCount, runCount),
			Bounded: boundedCount, Plan: planCount,
		},
		{
			Name: "ENTITY.EXPLAIN", Arity: -2, Flags: FlagRead | FlagFast, Group: "entity", Since: "0.4.0",
			FirstKey: 1, LastKey: 1, Step: 1,
			Syntax:  "ENTITY.EXPLAIN type [WHERE expression] [SORTBY field [ASC|DESC]] [LIMIT offset count]",
			Summary: "Returns how ENTITY.ALL with these arguments runs: the index it walks or a scan, the index's ranges, how the order is made, whether WHERE runs on each entity read, and how many entities it reads at most.",
			Run:     handle(parseAll, runExplain),
		},
		{
			Name: "ENTITY.AGGREGATE", Arity: -4, Flags: FlagRead, Group: "entity", Since: "0.4.0",
			FirstKey: 1, LastKey: 1, Step: 1,
			Syntax:  "ENTITY.AGGREGATE type [WHERE expression] [GROUPBY field] REDUCE COUNT|SUM field|MIN field|MAX field|AVG field ...",
			Summary: "Groups the entities that match by a field and returns, per group, the count, sum, minimum, maximum or average of fields.",
			Run:     handle(parseAggregate, runAggregate),
			Bounded: boundedAggregate, Plan: planAggregate,
		},
		{
			Name: "ENTITY.TYPES", Arity: 1, Flags: FlagRead | FlagFast, Group: "entity", Since: "0.1.0",
			Syntax:  "ENTITY.TYPES",
			Summary: "Returns the names of the entity types that hold entities or were declared.",
			Run:     runTypes,
		},
		{
			Name: "DBSIZE", Arity: 1, Flags: FlagRead | FlagFast, Group: "server", Since: "0.1.0",
			Syntax:  "DBSIZE",
			Summary: "Returns the number of entities of all types.",
			Run:     runDBSize,
		},
	}
}

// inlineReads is the most entities a query's plan may read for the network
// loop to run it itself (Command.Bounded): a page of an index, a count of
// an index's range. Anything more goes to a goroutine, so that it holds up
// no other connection.
const inlineReads = 256

// boundedReads reports whether a query reads at most inlineReads entities.
// Arguments that do not parse, or a WHERE that does not compile, are
// bounded too: their reply is an error.
func boundedReads(env *Env, q state.Query, count bool) bool {
	n, err := env.State.Store().Reads(q, count)
	return err != nil || n <= inlineReads
}

// planText is a query's plan in a few words: "index category,price
// (category == "c1"), reads at most 10 of 1000000 entities" or "scan of
// 1000000 entities, WHERE on each".
func planText(env *Env, q state.Query, count bool) string {
	store := env.State.Store()
	ex, err := store.Explain(q, count)
	if err != nil {
		return err.Error()
	}
	reads, _ := store.Reads(q, count)
	var b strings.Builder
	if ex.Index == "" {
		fmt.Fprintf(&b, "scan of %d entities", ex.Entities)
	} else {
		fmt.Fprintf(&b, "index %s (%s), reads at most %d of %d entities", ex.Index, strings.Join(ex.Ranges, " | "), reads, ex.Entities)
	}
	if ex.Filter {
		b.WriteString(", WHERE on each")
	}
	if ex.Order == "sort" {
		b.WriteString(", sorted")
	}
	return b.String()
}

func planAll(env *Env, args [][]byte) string {
	q, err := parseAll(args)
	if err != nil {
		return err.Error()
	}
	return planText(env, q, false)
}

func planCount(env *Env, args [][]byte) string {
	r, err := parseEntityCount(args)
	if err != nil {
		return err.Error()
	}
	return planText(env, state.Query{Type: r.typ, Where: r.where, Limit: -1}, true)
}

func planAggregate(env *Env, args [][]byte) string {
	a, err := parseAggregate(args)
	if err != nil {
		return err.Error()
	}
	return planText(env, state.Query{Type: a.Type, Where: a.Where, Limit: -1}, false)
}

func boundedAll(env *Env, args [][]byte) bool {
	q, err := parseAll(args)
	return err != nil || boundedReads(env, q, false)
}

func boundedCount(env *Env, args [][]byte) bool {
	r, err := parseEntityCount(args)
	return err != nil || boundedReads(env, state.Query{Type: r.typ, Where: r.where, Limit: -1}, true)
}

func boundedAggregate(env *Env, args [][]byte) bool {
	a, err := parseAggregate(args)
	return err != nil || boundedReads(env, state.Query{Type: a.Type, Where: a.Where, Limit: -1}, false)
}

type getReq struct {
	typ, id     string
	withVersion bool
}

func parseGet(args [][]byte) (getReq, error) {
	r := getReq{typ: argView(args[1]), id: argView(args[2])}
	switch {
	case len(args) == 3:
	case len(args) == 4 && isWord(args[3], "WITHVERSION"):
		r.withVersion = true
	default:
		return r, errSyntax
	}
	return r, nil
}

func runGet(c *Ctx, r getReq) {
	store := c.Env.State.Store()
	e, ok := store.Get(r.typ, r.id)
	if !r.withVersion {
		if ok {
			c.W.BulkString(e.JSON())
		} else {
			c.W.Null()
		}
		return
	}
	c.W.Array(2)
	if ok {
		c.W.BulkString(e.JSON())
		c.W.Int(int64(e.Version()))
		return
	}
	c.W.Null()
	// A missing entity of a stream-fed type may still have a stream (it was
	// deleted): EXPECT needs that stream's version.
	var version uint64
	if stream, ok := store.Schema().StreamOf(r.typ, r.id); ok {
		v, err := c.Env.Log.Version(stream)
		if err == nil {
			version = v
		}
	}
	c.W.Int(int64(version))
}

// mgetReq aliases the arguments (argView): valid until the command returns.
type mgetReq struct {
	typ string
	ids [][]byte
}

func parseMGet(args [][]byte) (mgetReq, error) {
	return mgetReq{typ: argView(args[1]), ids: args[2:]}, nil
}

func runMGet(c *Ctx, r mgetReq) {
	ids := make([]string, len(r.ids))
	for i, id := range r.ids {
		ids[i] = argView(id)
	}
	es := c.Env.State.Store().GetMany(r.typ, ids)
	c.W.Array(len(es))
	for _, e := range es {
		if e != "" {
			c.W.BulkString(e.JSON())
		} else {
			c.W.Null()
		}
	}
}

func parseAll(args [][]byte) (state.Query, error) {
	q := state.Query{Type: string(args[1]), Limit: -1}
	var seenWhere, seenSort, seenLimit bool
	for i := 2; i < len(args); i++ {
		switch {
		case isWord(args[i], "WHERE") && i+1 < len(args) && !seenWhere:
			q.Where, seenWhere = string(args[i+1]), true
			i++
		case isWord(args[i], "SORTBY") && i+1 < len(args) && !seenSort:
			q.SortBy, seenSort = string(args[i+1]), true
			i++
			if i+1 < len(args) {
				switch {
				case isWord(args[i+1], "ASC"):
					i++
				case isWord(args[i+1], "DESC"):
					q.Desc = true
					i++
				}
			}
		case isWord(args[i], "LIMIT") && i+2 < len(args) && !seenLimit:
			off, err1 := parseInt(args[i+1])
			n, err2 := parseInt(args[i+2])
			if err1 != nil || err2 != nil || off < 0 || n < 0 {
				return q, errorf("ERR LIMIT takes an offset and a count, both 0 or more")
			}
			q.Offset, q.Limit, seenLimit = int(off), int(n), true
			i += 2
		default:
			return q, errSyntax
		}
	}
	return q, nil
}

func runAll(c *Ctx, q state.Query) {
	es, err := c.Env.State.Store().All(q)
	if err != nil {
		c.Error(err)
		return
	}
	c.W.Map(len(es))
	for _, e := range es {
		c.W.BulkString(e.ID())
		c.W.BulkString(e.JSON())
	}
}

type countReq struct{ typ, where string }

func parseEntityCount(args [][]byte) (countReq, error) {
	r := countReq{typ: string(args[1])}
	switch {
	case len(args) == 2:
	case len(args) == 4 && isWord(args[2], "WHERE"):
		r.where = string(args[3])
	default:
		return r, errSyntax
	}
	return r, nil
}

func runCount(c *Ctx, r countReq) {
	n, err := c.Env.State.Store().Count(r.typ, r.where)
	if err != nil {
		c.Error(err)
		return
	}
	c.W.Int(int64(n))
}

func runTypes(c *Ctx, _ [][]byte) {
	names := c.Env.State.Store().TypeNames()
	c.W.Array(len(names))
	for _, n := range names {
		c.W.BulkString(n)
	}
}

func runDBSize(c *Ctx, _ [][]byte) {
	total := 0
	for _, t := range c.Env.State.Store().Types() {
		total += t.Count
	}
	c.W.Int(int64(total))
}

func parseAggregate(args [][]byte) (state.Aggregate, error) {
	a := state.Aggregate{Type: string(args[1])}
	var seenWhere, seenGroup, seenReduce bool
	for i := 2; i < len(args); i++ {
		switch {
		case isWord(args[i], "WHERE") && i+1 < len(args) && !seenWhere:
			a.Where, seenWhere = string(args[i+1]), true
			i++
		case isWord(args[i], "GROUPBY") && i+1 < len(args) && !seenGroup:
			a.GroupBy, seenGroup = string(args[i+1]), true
			i++
		case isWord(args[i], "REDUCE") && !seenReduce:
			seenReduce = true
			for i+1 < len(args) {
				op := strings.ToUpper(string(args[i+1]))
				if op == "COUNT" {
					a.Reducers = append(a.Reducers, state.Reducer{Op: op})
					i++
					continue
				}
				if op != "SUM" && op != "MIN" && op != "MAX" && op != "AVG" {
					break
				}
				if i+2 >= len(args) {
					return a, errorf("ERR REDUCE %s takes a field", op)
				}
				a.Reducers = append(a.Reducers, state.Reducer{Op: op, Field: string(args[i+2])})
				i += 2
			}
		default:
			return a, errSyntax
		}
	}
	if len(a.Reducers) == 0 {
		return a, errorf("ERR REDUCE takes one or more of COUNT, SUM field, MIN field, MAX field, AVG field")
	}
	return a, nil
}

// runAggregate replies an array of groups, each a map (a flat array under
// RESP2): the GROUPBY field's value as JSON (nil when missing), then each
// reducer's figure under its name.
func runAggregate(c *Ctx, a state.Aggregate) {
	a.ColumnMemory = c.Env.AggregateColumnMemory.Load()
	rows, err := c.Env.State.Store().Aggregate(a)
	if err != nil {
		c.Error(err)
		return
	}
	n := len(a.Reducers)
	if a.GroupBy != "" {
		n++
	}
	c.W.Array(len(rows))
	for _, row := range rows {
		c.W.Map(n)
		if a.GroupBy != "" {
			c.W.BulkString(a.GroupBy)
			if row.Group == "" {
				c.W.Null()
			} else {
				c.W.BulkString(row.Group)
			}
		}
		for i, r := range a.Reducers {
			c.W.BulkString(r.Name())
			switch v := row.Values[i].(type) {
			case int64:
				c.W.Int(v)
			case float64:
				c.W.BulkString(state.FormatNumber(v))
			case string:
				if v == "" {
					c.W.Null()
				} else {
					c.W.BulkString(v)
				}
			default:
				c.W.Null()
			}
		}
	}
}

func runExplain(c *Ctx, q state.Query) {
	ex, err := c.Env.State.Store().Explain(q, false)
	if err != nil {
		c.Error(err)
		return
	}
	c.W.Map(6)
	c.W.BulkString("index")
	if ex.Index == "" {
		c.W.BulkString("scan")
	} else {
		c.W.BulkString(ex.Index)
	}
	c.W.BulkString("ranges")
	c.W.Array(len(ex.Ranges))
	for _, r := range ex.Ranges {
		c.W.BulkString(r)
	}
	c.W.BulkString("order")
	c.W.BulkString(ex.Order)
	c.W.BulkString("filter")
	if ex.Filter {
		c.W.BulkString("where")
	} else {
		c.W.BulkString("none")
	}
	c.W.BulkString("estimate")
	c.W.Int(int64(ex.Estimate))
	c.W.BulkString("entities")
	c.W.Int(int64(ex.Entities))
}
