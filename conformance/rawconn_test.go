package conformance

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawConn is a bare TCP connection for what a client library would not
// send or would hide: malformed requests, exact reply lines, closes.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	r  *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, replyTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, r: bufio.NewReader(nc)}
}

// write sends bytes as they are.
func (c *rawConn) write(s string) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(replyTimeout))
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// command sends args as a multibulk request.
func (c *rawConn) command(args ...string) {
	c.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	c.write(b.String())
}

// do sends a command and returns its reply (see reply).
func (c *rawConn) do(args ...string) any {
	c.t.Helper()
	c.command(args...)
	return c.reply()
}

// line reads one reply line, without its CRLF.
func (c *rawConn) line() string {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(replyTimeout))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading a reply line: %v (read %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("reply line %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// respErr is an error reply.
type respErr string

// reply reads one RESP2 or RESP3 reply: string (simple, bulk, verbatim),
// respErr, int64, nil, []any, or [][2]any for a map.
func (c *rawConn) reply() any {
	c.t.Helper()
	l := c.line()
	if l == "" {
		c.t.Fatal("empty reply line")
	}
	body := l[1:]
	count := func() int {
		n, err := strconv.Atoi(body)
		if err != nil {
			c.t.Fatalf("bad length in reply line %q", l)
		}
		return n
	}
	switch l[0] {
	case '+':
		return body
	case '-':
		return respErr(body)
	case ':':
		return int64(count())
	case '_':
		return nil
	case '$', '=':
		n := count()
		if n < 0 {
			return nil
		}
		buf := make([]byte, n+2)
		c.nc.SetReadDeadline(time.Now().Add(replyTimeout))
		if _, err := io.ReadFull(c.r, buf); err != nil {
			c.t.Fatalf("reading a bulk of %d bytes: %v", n, err)
		}
		s := string(buf[:n])
		if l[0] == '=' {
			s = s[4:] // "txt:"
		}
		return s
	case '*', '~', '>':
		n := count()
		if n < 0 {
			return nil
		}
		out := make([]any, n)
		for i := range out {
			out[i] = c.reply()
		}
		return out
	case '%':
		n := count()
		out := make([][2]any, n)
		for i := range out {
			out[i] = [2]any{c.reply(), c.reply()}
		}
		return out
	}
	c.t.Fatalf("unknown reply line %q", l)
	return nil
}

// expectClosed reads what is left and wants exactly rest, then end of file.
func (c *rawConn) expectClosed(rest string) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(replyTimeout))
	got, err := io.ReadAll(c.r)
	if err != nil && !isReset(err) {
		c.t.Fatalf("waiting for the server to close the connection: %v (read %q)", err, got)
	}
	if string(got) != rest {
		c.t.Fatalf("before the close, got %q, want %q", got, rest)
	}
}

// equalReply compares replies of rawConn.reply.
func equalReply(a, b any) bool {
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok != bok {
		return false
	}
	if !aok {
		return a == b
	}
	if len(as) != len(bs) {
		return false
	}
	for i := range as {
		if !equalReply(as[i], bs[i]) {
			return false
		}
	}
	return true
}

// hasPair reports whether a RESP3 map holds key with value.
func hasPair(m [][2]any, key string, value any) bool {
	for _, kv := range m {
		if kv[0] == key {
			return kv[1] == value
		}
	}
	return false
}

// isReset is a connection the server closed with unread input in its buffer.
func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && strings.Contains(ne.Err.Error(), "connection reset")
}
