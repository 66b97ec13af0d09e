package commands

import (
	"fmt"
	"slices"
	"strings"

	"github.com/foldb/foldb/streams"
)

// --- XINFO ---

type xinfoStreamReq struct {
	view  streams.View
	full  bool
	count int64 // FULL's COUNT: 0 for all
	// optErr is an error in the options, which Redis gives only for a
	// key that exists.
	optErr error
}

func parseXInfoStream(args [][]byte) (xinfoStreamReq, error) {
	r := xinfoStreamReq{view: streams.ParseKey(string(args[2])), count: 10}
	syntax := errorf("ERR unknown subcommand or wrong number of arguments for '%.128s'. Try XINFO HELP.", args[1])
	switch opts := args[3:]; {
	case len(opts) == 0:
	case len(opts) != 1 && len(opts) != 3, !isWord(opts[0], "FULL"):
		r.optErr = syntax
	case len(opts) == 1:
		r.full = true
	case !isWord(opts[1], "COUNT"):
		r.optErr = syntax
	default:
		n, ok := parseLongLong(opts[2])
		if !ok {
			r.optErr = errNotInt
			break
		}
		r.full = true
		if n >= 0 {
			r.count = n
		}
	}
	return r, nil
}

func runXInfoStream(c *Ctx, r xinfoStreamReq) {
	rd := streams.NewReader(c.Env.Log)
	eb := getEntries(c)
	defer eb.release()
	// The first and last entries, which also say whether the key exists.
	if err := rd.Scan(r.view, 1, 0, 1, false, eb.add); err != nil {
		c.Error(err)
		return
	}
	if eb.n == 0 {
		c.Error(errNoSuchKey)
		return
	}
	if r.optErr != nil {
		c.Error(r.optErr)
		return
	}
	first, firstEnd := eb.last, len(eb.b)
	if err := rd.Scan(r.view, 1, 0, 1, true, eb.add); err != nil {
		c.Error(err)
		return
	}
	last := eb.last
	length, err := rd.Len(r.view)
	if err != nil {
		c.Error(err)
		return
	}
	w := c.W
	if r.full {
		w.Map(9)
	} else {
		w.Map(10)
	}
	var id [48]byte
	w.BulkString("length")
	w.Int(int64(length))
	// There is no radix tree: the log is its own index.
	w.BulkString("radix-tree-keys")
	w.Int(0)
	w.BulkString("radix-tree-nodes")
	w.Int(0)
	w.BulkString("last-generated-id")
	w.Bulk(streams.EntryID(last).AppendTo(id[:0]))
	w.BulkString("max-deleted-entry-id")
	w.BulkString("0-0")
	w.BulkString("entries-added")
	w.Int(int64(length))
	w.BulkString("recorded-first-entry-id")
	w.Bulk(streams.EntryID(first).AppendTo(id[:0]))
	if !r.full {
		w.BulkString("groups")
		w.Int(int64(streamGroupCount(c, r.view)))
		w.BulkString("first-entry")
		w.Raw(eb.b[:firstEnd])
		w.BulkString("last-entry")
		w.Raw(eb.b[firstEnd:])
		return
	}
	eb.reset()
	w.BulkString("entries")
	if err := rd.Scan(r.view, 1, 0, limit(r.count), false, eb.add); err != nil {
		// The reply has begun: an error in place of the entries keeps
		// its shape for the client's parser.
		w.Error(Reply(err))
	} else {
		eb.write(c, 0, len(eb.b), eb.n)
	}
	w.BulkString("groups")
	writeStreamGroupsFull(c, r.view, int(r.count))
}

// writeHelp writes a container command's HELP as Redis does: a line per
// subcommand (its syntax without the command's name, then its summary
// indented), HELP last.
func writeHelp(c *Ctx, parent *Command) {
	subs := slices.Clone(parent.Subcommands)
	slices.SortFunc(subs, func(a, b *Command) int {
		if ah, bh := a.subName() == "HELP", b.subName() == "HELP"; ah || bh {
			return boolInt(ah) - boolInt(bh)
		}
		return strings.Compare(a.Name, b.Name)
	})
	c.W.Array(1 + 2*len(subs))
	c.W.Simple(fmt.Sprintf("%s <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", parent.Name))
	for _, s := range subs {
		c.W.Simple(strings.TrimPrefix(s.Syntax, parent.Name+" "))
		c.W.Simple("    " + s.Summary)
	}
}
