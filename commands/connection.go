package commands

import (
	"fmt"
	"strings"
	"time"
)

// Version is foldb's version, set by the binary.
var Version = "0.1.0"

func connectionCommands() []*Command {
	client := &Command{
		Name: "CLIENT", Arity: -2, Flags: FlagLoading | FlagStale, Group: "connection", Since: "0.1.0",
		Syntax: "CLIENT subcommand [arguments]", Summary: "Inspects and configures connections.",
	}
	client.Subcommands = []*Command{
		{Name: "CLIENT SETNAME", Arity: 3, Flags: FlagLoading | FlagFast, Syntax: "CLIENT SETNAME name", Summary: "Names the connection.", Run: handle(parseSetName, runSetName)},
		{Name: "CLIENT GETNAME", Arity: 2, Flags: FlagLoading | FlagFast, Syntax: "CLIENT GETNAME", Summary: "Returns the connection's name.", Run: runGetName},
		{Name: "CLIENT SETINFO", Arity: 4, Flags: FlagLoading | FlagFast, Syntax: "CLIENT SETINFO LIB-NAME|LIB-VER value", Summary: "Records the client library's name or version.", Run: handle(parseSetInfo, runSetInfo)},
		{Name: "CLIENT ID", Arity: 2, Flags: FlagLoading | FlagFast, Syntax: "CLIENT ID", Summary: "Returns the connection's ID.", Run: func(c *Ctx, _ [][]byte) { c.W.Int(int64(c.Client.ID)) }},
		{Name: "CLIENT LIST", Arity: -2, Flags: FlagLoading | FlagAdmin, Syntax: "CLIENT LIST [ID id [id ...]]", Summary: "Lists the open connections.", Run: handle(parseClientList, runClientList)},
		{Name: "CLIENT INFO", Arity: 2, Flags: FlagLoading, Syntax: "CLIENT INFO", Summary: "Describes this connection.", Run: func(c *Ctx, _ [][]byte) { c.W.BulkString(clientLine(c.Client) + "\n") }},
		{Name: "CLIENT KILL", Arity: -3, Flags: FlagLoading | FlagAdmin, Syntax: "CLIENT KILL ip:port | CLIENT KILL [ID id] [ADDR ip:port] [LADDR ip:port] [SKIPME yes|no]", Summary: "Closes connections.", Run: handle(parseClientKill, runClientKill)},
	}
	return []*Command{
		{Name: "PING", Arity: -1, Flags: FlagFast | FlagLoading | FlagStale | FlagSubscribed, Group: "connection", Since: "0.1.0", Syntax: "PING [message]", Summary: "Replies PONG, or the message.", Run: handle(parsePing, runPing)},
		{Name: "ECHO", Arity: 2, Flags: FlagFast | FlagLoading | FlagStale, Group: "connection", Since: "0.1.0", Syntax: "ECHO message", Summary: "Replies the message.", Run: func(c *Ctx, args [][]byte) { c.W.Bulk(args[1]) }},
		{Name: "HELLO", Arity: -1, Flags: FlagFast | FlagLoading | FlagStale | FlagNoAuth, Group: "connection", Since: "0.1.0", Syntax: "HELLO [protover [AUTH username password] [SETNAME clientname]]", Summary: "Picks RESP2 or RESP3, authenticates and names the connection.", Run: handle(parseHello, runHello)},
		{Name: "AUTH", Arity: -2, Flags: FlagFast | FlagLoading | FlagStale | FlagNoAuth, Group: "connection", Since: "0.1.0", Syntax: "AUTH [username] password", Summary: "Authenticates the connection.", Run: handle(parseAuth, runAuth)},
		{Name: "SELECT", Arity: 2, Flags: FlagFast | FlagLoading | FlagStale, Group: "connection", Since: "0.1.0", Syntax: "SELECT 0", Summary: "Accepts database 0, the only one.", Run: handle(parseSelect, runSelect)},
		{Name: "QUIT", Arity: -1, Flags: FlagFast | FlagLoading | FlagStale | FlagNoAuth | FlagSubscribed | FlagUnqueued, Group: "connection", Since: "0.1.0", Syntax: "QUIT", Summary: "Closes the connection.", Run: func(c *Ctx, _ [][]byte) { c.W.OK(); c.Client.CloseAfter = true }},
		{Name: "RESET", Arity: 1, Flags: FlagFast | FlagLoading | FlagStale | FlagNoAuth | FlagSubscribed | FlagUnqueued, Group: "connection", Since: "0.1.0", Syntax: "RESET", Summary: "Resets the connection: RESP2, no name, not authenticated.", Run: runReset},
		client,
	}
}

type pingReq struct {
	msg  []byte // aliases the argument
	echo bool
}

func parsePing(args [][]byte) (pingReq, error) {
	switch len(args) {
	case 1:
		return pingReq{}, nil
	case 2:
		return pingReq{msg: args[1], echo: true}, nil
	}
	return pingReq{}, ArityError("PING")
}

func runPing(c *Ctx, r pingReq) {
	if c.Client.Subscribed() && c.W.Proto() == 2 {
		// In subscribed mode a RESP2 reply must look like a message.
		c.W.Array(2)
		c.W.BulkString("pong")
		c.W.Bulk(r.msg)
		return
	}
	if r.echo {
		c.W.Bulk(r.msg)
		return
	}
	c.W.Simple("PONG")
}

type helloReq struct {
	proto      int // 0: unchanged
	user, pass string
	auth       bool
	name       string
	setName    bool
}

func parseHello(args [][]byte) (helloReq, error) {
	var r helloReq
	if len(args) == 1 {
		return r, nil
	}
	n, err := parseInt(args[1])
	if err != nil {
		return r, errorf("ERR Protocol version is not an integer or out of range")
	}
	if n != 2 && n != 3 {
		return r, errorf("NOPROTO unsupported protocol version")
	}
	r.proto = int(n)
	for i := 2; i < len(args); i++ {
		switch {
		case isWord(args[i], "AUTH") && i+2 < len(args):
			r.auth, r.user, r.pass = true, string(args[i+1]), string(args[i+2])
			i += 2
		case isWord(args[i], "SETNAME") && i+1 < len(args):
			if err := checkClientName(args[i+1]); err != nil {
				return r, err
			}
			r.setName, r.name = true, string(args[i+1])
			i++
		default:
			return r, errorf("ERR Syntax error in HELLO option '%.128s'", args[i])
		}
	}
	return r, nil
}

func runHello(c *Ctx, r helloReq) {
	srv := c.Env.Server
	if r.auth {
		if !srv.CheckPassword(r.user, r.pass) {
			c.Error(errWrongPass)
			return
		}
		c.Client.Authed = true
	} else if srv.AuthRequired() && !c.Client.Authed {
		c.Error(errHelloNoAuth)
		return
	}
	if r.setName {
		c.Client.SetName(r.name)
	}
	if r.proto != 0 {
		c.Client.setProto(r.proto)
		c.W.SetProto(r.proto)
	}
	w := c.W
	w.Map(7)
	w.BulkString("server")
	w.BulkString("foldb")
	w.BulkString("version")
	w.BulkString(Version)
	w.BulkString("proto")
	w.Int(int64(c.Client.Proto))
	w.BulkString("id")
	w.Int(int64(c.Client.ID))
	w.BulkString("mode")
	w.BulkString("standalone")
	w.BulkString("role")
	w.BulkString("master")
	w.BulkString("modules")
	w.Array(0)
}

type authReq struct {
	user, pass string
	legacy     bool // AUTH <password>, without a user name
}

func parseAuth(args [][]byte) (authReq, error) {
	switch len(args) {
	case 2:
		return authReq{user: "default", pass: string(args[1]), legacy: true}, nil
	case 3:
		return authReq{user: string(args[1]), pass: string(args[2])}, nil
	}
	return authReq{}, errSyntax
}

func runAuth(c *Ctx, r authReq) {
	// As in Redis, only the one-argument form complains that no password is
	// set; AUTH default <anything> then succeeds.
	if !c.Env.Server.AuthRequired() && r.legacy {
		c.Error(errAuthNoPassword)
		return
	}
	if !c.Env.Server.CheckPassword(r.user, r.pass) {
		c.Error(errWrongPass)
		return
	}
	c.Client.Authed = true
	c.W.OK()
}

// parseSelect accepts database 0, the only one.
func parseSelect(args [][]byte) (struct{}, error) {
	n, err := parseInt(args[1])
	switch {
	case err != nil:
		return struct{}{}, err
	case n != 0:
		return struct{}{}, errDBIndex
	}
	return struct{}{}, nil
}

func runSelect(c *Ctx, _ struct{}) { c.W.OK() }

func runReset(c *Ctx, _ [][]byte) {
	c.leaveSubscribed()
	c.Client.setProto(2)
	c.W.SetProto(2)
	c.Client.SetName("")
	c.Client.Authed = !c.Env.Server.AuthRequired()
	c.Client.Multi, c.Client.Watched = nil, nil
	c.W.Simple("RESET")
}

func checkClientName(b []byte) error {
	for _, ch := range b {
		if ch < '!' || ch > '~' {
			return errClientName
		}
	}
	return nil
}

func parseSetName(args [][]byte) (string, error) {
	return string(args[2]), checkClientName(args[2])
}

func runSetName(c *Ctx, name string) { c.Client.SetName(name); c.W.OK() }

func runGetName(c *Ctx, _ [][]byte) {
	if n := c.Client.Name(); n != "" {
		c.W.BulkString(n)
		return
	}
	c.W.Null()
}

type setInfoReq struct {
	lib bool // LIB-NAME, else LIB-VER
	val string
}

func parseSetInfo(args [][]byte) (setInfoReq, error) {
	r := setInfoReq{val: string(args[3])}
	switch {
	case isWord(args[2], "LIB-NAME"):
		r.lib = true
	case isWord(args[2], "LIB-VER"):
	default:
		return r, errorf("ERR Unrecognized option '%.128s'", args[2])
	}
	if err := checkClientName(args[3]); err != nil {
		return r, errorf("ERR %s cannot contain spaces, newlines or special characters.", strings.ToLower(string(args[2])))
	}
	return r, nil
}

func runSetInfo(c *Ctx, r setInfoReq) {
	c.Client.mu.Lock()
	if r.lib {
		c.Client.libName = r.val
	} else {
		c.Client.libVer = r.val
	}
	c.Client.mu.Unlock()
	c.W.OK()
}

func parseClientList(args [][]byte) ([]uint64, error) {
	if len(args) == 2 {
		return nil, nil
	}
	if len(args) >= 4 && isWord(args[2], "ID") {
		var ids []uint64
		for _, a := range args[3:] {
			id, err := parseUint(a)
			if err != nil {
				return nil, errInvalidClientID
			}
			ids = append(ids, id)
		}
		return ids, nil
	}
	if len(args) == 4 && isWord(args[2], "TYPE") && isWord(args[3], "NORMAL") {
		return nil, nil
	}
	return nil, errSyntax
}

func runClientList(c *Ctx, ids []uint64) {
	var b strings.Builder
	for _, cl := range c.Env.Server.Clients() {
		if ids != nil && !containsID(ids, cl.ID) {
			continue
		}
		b.WriteString(clientLine(cl))
		b.WriteByte('\n')
	}
	c.W.BulkString(b.String())
}

func containsID(ids []uint64, id uint64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// clientLine is one CLIENT LIST line, with Redis's field names.
func clientLine(cl *Client) string {
	cl.mu.Lock()
	name, lib, ver, proto := cl.name, cl.libName, cl.libVer, cl.Proto
	cl.mu.Unlock()
	cmd := "NULL"
	if p := cl.lastCmd.Load(); p != nil {
		cmd = *p
	}
	now := time.Now()
	idle := now.Sub(time.Unix(0, cl.lastActive.Load()))
	return fmt.Sprintf("id=%d addr=%s laddr=%s fd=-1 name=%s age=%d idle=%d flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 cmd=%s user=default resp=%d lib-name=%s lib-ver=%s",
		cl.ID, cl.Addr, cl.LAddr, name, int(now.Sub(cl.Created).Seconds()), int(idle.Seconds()), lower(strings.ReplaceAll(cmd, " ", "|")), proto, lib, ver)
}

type killReq struct {
	legacy bool // CLIENT KILL ip:port
	id     uint64
	hasID  bool
	addr   string
	laddr  string
	skipMe bool
}

func parseClientKill(args [][]byte) (killReq, error) {
	r := killReq{skipMe: true}
	if len(args) == 3 {
		r.legacy, r.addr = true, string(args[2])
		return r, nil
	}
	if len(args)%2 != 0 {
		return r, errSyntax
	}
	for i := 2; i < len(args); i += 2 {
		v := args[i+1]
		switch {
		case isWord(args[i], "ID"):
			id, err := parseUint(v)
			if err != nil || id == 0 {
				return r, errorf("ERR client-id should be greater than 0")
			}
			r.id, r.hasID = id, true
		case isWord(args[i], "ADDR"):
			r.addr = string(v)
		case isWord(args[i], "LADDR"):
			r.laddr = string(v)
		case isWord(args[i], "SKIPME"):
			switch {
			case isWord(v, "YES"):
				r.skipMe = true
			case isWord(v, "NO"):
				r.skipMe = false
			default:
				return r, errSyntax
			}
		default:
			return r, errSyntax
		}
	}
	return r, nil
}

func runClientKill(c *Ctx, r killReq) {
	killed := 0
	for _, cl := range c.Env.Server.Clients() {
		if r.legacy {
			if cl.Addr != r.addr {
				continue
			}
			if cl == c.Client {
				c.Client.CloseAfter = true // reply first, as Redis does
			} else {
				cl.Kill()
			}
			c.W.OK()
			return
		}
		switch {
		case r.hasID && cl.ID != r.id,
			r.addr != "" && cl.Addr != r.addr,
			r.laddr != "" && cl.LAddr != r.laddr,
			r.skipMe && cl == c.Client:
			continue
		}
		if cl == c.Client {
			c.Client.CloseAfter = true
		} else {
			cl.Kill()
		}
		killed++
	}
	if r.legacy {
		c.Error(errNoSuchClient)
		return
	}
	c.W.Int(int64(killed))
}
