package commands

import (
	"github.com/foldb/foldb/pubsub"
)

// Pub/Sub: clients subscribe to channels and patterns; the log's events
// are published on their streams' channels and entity changes on
// __entity__:<type>:<id> by the hub's feed (package pubsub). Clients may
// PUBLISH on any other channel.

func pubsubCommands() []*Command {
	ps := &Command{
		Name: "PUBSUB", Arity: -2, Flags: FlagLoading | FlagStale, Group: "pubsub", Since: "0.2.0",
		Syntax: "PUBSUB CHANNELS|NUMSUB|NUMPAT|HELP [arguments]", Summary: "Inspects the Pub/Sub subscriptions.",
	}
	ps.Subcommands = []*Command{
		{Name: "PUBSUB CHANNELS", Arity: -2, Flags: FlagLoading | FlagStale, Syntax: "PUBSUB CHANNELS [pattern]", Summary: "Lists the channels with at least one subscriber.", Run: handle(parsePubsubChannels, runPubsubChannels)},
		{Name: "PUBSUB NUMSUB", Arity: -2, Flags: FlagLoading | FlagStale, Syntax: "PUBSUB NUMSUB [channel ...]", Summary: "Counts the subscribers of channels.", Run: runPubsubNumsub},
		{Name: "PUBSUB NUMPAT", Arity: 2, Flags: FlagLoading | FlagStale, Syntax: "PUBSUB NUMPAT", Summary: "Counts the subscribed patterns.", Run: func(c *Ctx, _ [][]byte) { c.W.Int(int64(c.Env.Hub.NumPat())) }},
		{Name: "PUBSUB HELP", Arity: 2, Flags: FlagLoading | FlagStale, Syntax: "PUBSUB HELP", Summary: "Prints this help.", Run: func(c *Ctx, _ [][]byte) { writeHelp(c, ps) }},
	}
	sub := FlagLoading | FlagStale | FlagSubscribed | FlagFast | FlagNoMulti
	return []*Command{
		{Name: "SUBSCRIBE", Arity: -2, Flags: sub, Group: "pubsub", Since: "0.2.0", Syntax: "SUBSCRIBE channel [channel ...]",
			Summary: "Receives the messages of channels: a stream's name carries its events, __entity__:<type>:<id> an entity's changes.",
			Run:     func(c *Ctx, args [][]byte) { subscribe(c, args[1:], "subscribe", (*pubsub.Sub).Subscribe) }},
		{Name: "PSUBSCRIBE", Arity: -2, Flags: sub, Group: "pubsub", Since: "0.2.0", Syntax: "PSUBSCRIBE pattern [pattern ...]",
			Summary: "Receives the messages of every channel that matches a glob pattern (account:* follows a category).",
			Run:     func(c *Ctx, args [][]byte) { subscribe(c, args[1:], "psubscribe", (*pubsub.Sub).PSubscribe) }},
		{Name: "UNSUBSCRIBE", Arity: -1, Flags: sub, Group: "pubsub", Since: "0.2.0", Syntax: "UNSUBSCRIBE [channel ...]",
			Summary: "Stops receiving channels' messages; without a channel, every channel's.",
			Run: func(c *Ctx, args [][]byte) {
				unsubscribe(c, args[1:], "unsubscribe", (*pubsub.Sub).Channels, (*pubsub.Sub).Unsubscribe)
			}},
		{Name: "PUNSUBSCRIBE", Arity: -1, Flags: sub, Group: "pubsub", Since: "0.2.0", Syntax: "PUNSUBSCRIBE [pattern ...]",
			Summary: "Stops receiving patterns' messages; without a pattern, every pattern's.",
			Run: func(c *Ctx, args [][]byte) {
				unsubscribe(c, args[1:], "punsubscribe", (*pubsub.Sub).Patterns, (*pubsub.Sub).PUnsubscribe)
			}},
		{Name: "PUBLISH", Arity: 3, Flags: FlagLoading | FlagStale | FlagFast, Group: "pubsub", Since: "0.2.0", Syntax: "PUBLISH channel message",
			Summary:  "Sends a message to a channel's subscribers and returns how many received it; refused on event and entity channels.",
			FirstKey: 1, LastKey: 1, Step: 1, Run: handle(parsePublish, runPublish)},
		ps,
	}
}

// subscribe adds each name and confirms it, as Redis does, with one
// message per name: [kind, name, count].
func subscribe(c *Ctx, names [][]byte, kind string, add func(*pubsub.Sub, string) int) {
	s := c.subscriptions()
	for _, n := range names {
		count := add(s, string(n))
		c.W.Push(3)
		c.W.BulkString(kind)
		c.W.Bulk(n)
		c.W.Int(int64(count))
	}
}

// unsubscribe removes each name, or every one when none is given, and
// confirms each; with nothing to remove it confirms with a null name. A
// connection left with no subscription leaves subscribed mode.
func unsubscribe(c *Ctx, names [][]byte, kind string, all func(*pubsub.Sub) []string, remove func(*pubsub.Sub, string) int) {
	s := c.Client.Sub
	list := make([]string, 0, len(names))
	for _, n := range names {
		list = append(list, string(n))
	}
	if len(list) == 0 && s != nil {
		list = all(s)
	}
	counts := make([]int, len(list))
	for i, n := range list {
		if s != nil {
			counts[i] = remove(s, n)
		}
	}
	if s != nil && s.Count() == 0 {
		// The messages queued so far go out before these replies.
		c.leaveSubscribed()
	}
	if len(list) == 0 {
		c.W.Push(3)
		c.W.BulkString(kind)
		c.W.Null()
		c.W.Int(int64(subCount(s)))
		return
	}
	for i, n := range list {
		c.W.Push(3)
		c.W.BulkString(kind)
		c.W.BulkString(n)
		c.W.Int(int64(counts[i]))
	}
}

func subCount(s *pubsub.Sub) int {
	if s == nil {
		return 0
	}
	return s.Count()
}

// subscriptions returns the connection's subscriptions, made on its first
// SUBSCRIBE or PSUBSCRIBE, which puts it in subscribed mode: the hub's
// messages are pushed to it between replies. When the connection closes,
// its subscriptions go with it.
func (c *Ctx) subscriptions() *pubsub.Sub {
	if c.Client.Sub == nil {
		var s *pubsub.Sub
		p := c.Conn.Subscribe(func() { s.Close() })
		s = c.Env.Hub.NewSub(sink{p, c.Client})
		c.Client.Sub = s
	}
	return c.Client.Sub
}

// leaveSubscribed drops every subscription and takes the connection out of
// subscribed mode (UNSUBSCRIBE of the last one, RESET).
func (c *Ctx) leaveSubscribed() {
	if s := c.Client.Sub; s != nil {
		s.Close()
		c.Client.Sub = nil
		c.Conn.Unsubscribe()
	}
}

// sink hands the hub's messages to the connection.
type sink struct {
	p      Pusher
	client *Client
}

func (s sink) Deliver(msg []byte) { s.p.Push(msg) }
func (s sink) Proto() int         { return s.client.Protocol() }

// Subscribed reports whether the connection is in subscribed mode: it
// subscribes to a channel or a pattern. Under RESP2 such a connection
// may only run commands flagged FlagSubscribed.
func (c *Client) Subscribed() bool { return c.Sub != nil && c.Sub.Count() > 0 }

type publishReq struct {
	channel string
	message []byte
}

func parsePublish(args [][]byte) (publishReq, error) {
	ch := string(args[1])
	if pubsub.Reserved(ch) {
		return publishReq{}, errorf("ERR channel '%.128s' carries only what the log commits (a stream's events or an entity's changes); PUBLISH is refused on it", ch)
	}
	return publishReq{ch, args[2]}, nil
}

func runPublish(c *Ctx, r publishReq) {
	n := c.Env.Hub.Publish(r.channel, r.message)
	if c.Client.Subscribed() {
		c.Conn.TakePushes() // its own message, if any, comes first
	}
	c.W.Int(int64(n))
}

func parsePubsubChannels(args [][]byte) (string, error) {
	switch len(args) {
	case 2:
		return "", nil
	case 3:
		return string(args[2]), nil
	}
	return "", ArityError("PUBSUB CHANNELS")
}

func runPubsubChannels(c *Ctx, pattern string) {
	chans := c.Env.Hub.ActiveChannels(pattern)
	c.W.Array(len(chans))
	for _, ch := range chans {
		c.W.BulkString(ch)
	}
}

func runPubsubNumsub(c *Ctx, args [][]byte) {
	c.W.Array(2 * (len(args) - 2))
	for _, ch := range args[2:] {
		c.W.Bulk(ch)
		c.W.Int(int64(c.Env.Hub.NumSub(string(ch))))
	}
}
