package testkit

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

// ReplyTimeout bounds every read and write of a RawConn.
const ReplyTimeout = 10 * time.Second

// RawConn is a bare TCP connection for what a client library would not send
// or would hide: malformed and pipelined requests, the exact type of each
// reply (simple string or bulk, RESP3 map or flat array), connections that
// the server closes, commands sent before any handshake.
type RawConn struct {
	t      testing.TB
	Conn   net.Conn
	Reader *bufio.Reader // what was read from Conn and not yet taken
}

// Reply types of RawConn.Read beside int64 (:), nil (_, $-1, *-1), bool (#),
// float64 (,) and []any (* and > push).
type (
	Simple   string // +...
	Err      string // -...
	Bulk     string // $...
	Verbatim string // =...: the text without its "txt:" format
	Map      []any  // %...: key, value, key, value
	Set      []any  // ~...
)

// Get returns the value of the first key of m that is the string key,
// sent as a bulk or simple string.
func (m Map) Get(key string) (any, bool) {
	for i := 0; i+1 < len(m); i += 2 {
		switch k := m[i].(type) {
		case Bulk:
			if string(k) == key {
				return m[i+1], true
			}
		case Simple:
			if string(k) == key {
				return m[i+1], true
			}
		}
	}
	return nil, false
}

// Has reports whether m's value of key (see Get) is value.
func (m Map) Has(key string, value any) bool {
	v, ok := m.Get(key)
	return ok && v == value
}

// Dial connects to addr; the test's cleanup closes the connection.
func Dial(t testing.TB, addr string) *RawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, ReplyTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &RawConn{t: t, Conn: nc, Reader: bufio.NewReader(nc)}
}

// Command is args as one multibulk request, for a test that writes several
// at once.
func Command(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

// Send writes one command as a multibulk request and reads nothing: send
// several to pipeline them, then Read their replies.
func (r *RawConn) Send(args ...string) {
	r.t.Helper()
	r.Write(Command(args...))
}

// Write sends s as it is.
func (r *RawConn) Write(s string) {
	r.t.Helper()
	r.Conn.SetWriteDeadline(time.Now().Add(ReplyTimeout))
	if _, err := io.WriteString(r.Conn, s); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// WriteBehind writes s from a goroutine of its own, for a test that reads
// the replies while the requests are still going out; a failed write fails
// the test without stopping it there.
func (r *RawConn) WriteBehind(s string) {
	go func() {
		r.Conn.SetWriteDeadline(time.Now().Add(ReplyTimeout))
		if _, err := io.WriteString(r.Conn, s); err != nil {
			r.t.Errorf("write: %v", err)
		}
	}()
}

// Do sends a command and reads its reply.
func (r *RawConn) Do(args ...string) any {
	r.t.Helper()
	r.Send(args...)
	return r.Read()
}

// Read reads one reply (see the reply types); a closed connection or a
// malformed reply fails the test.
func (r *RawConn) Read() any {
	r.t.Helper()
	r.Conn.SetReadDeadline(time.Now().Add(ReplyTimeout))
	v, err := r.readValue()
	if err != nil {
		r.t.Fatalf("reading a reply: %v", err)
	}
	return v
}

// Line reads one line as it came, without its CRLF.
func (r *RawConn) Line() string {
	r.t.Helper()
	r.Conn.SetReadDeadline(time.Now().Add(ReplyTimeout))
	l, err := r.Reader.ReadString('\n')
	if err != nil {
		r.t.Fatalf("reading a reply line: %v (read %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		r.t.Fatalf("reply line %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// WaitClosed waits until the server closes the connection, dropping
// whatever comes before.
func (r *RawConn) WaitClosed() {
	r.t.Helper()
	r.Conn.SetReadDeadline(time.Now().Add(ReplyTimeout))
	_, err := io.Copy(io.Discard, r.Reader)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.t.Fatal("the server did not close the connection")
	}
}

// ExpectClosed reads what is left and wants exactly rest, then the end of
// the connection.
func (r *RawConn) ExpectClosed(rest string) {
	r.t.Helper()
	r.Conn.SetReadDeadline(time.Now().Add(ReplyTimeout))
	got, err := io.ReadAll(r.Reader)
	if err != nil && !IsReset(err) {
		r.t.Fatalf("waiting for the server to close the connection: %v (read %q)", err, got)
	}
	if string(got) != rest {
		r.t.Fatalf("before the close, got %q, want %q", got, rest)
	}
}

// IsReset reports whether err is a connection that the server closed with
// unread input in its buffer.
func IsReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && strings.Contains(ne.Err.Error(), "connection reset")
}

func (r *RawConn) readValue() (any, error) {
	line, err := r.Reader.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("malformed reply line %q", line)
	}
	kind, rest := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return Simple(rest), nil
	case '-':
		return Err(rest), nil
	case ':':
		return strconv.ParseInt(rest, 10, 64)
	case '_':
		return nil, nil
	case '#':
		return rest == "t", nil
	case ',':
		return strconv.ParseFloat(rest, 64)
	case '$', '=':
		n, err := strconv.Atoi(rest)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r.Reader, b); err != nil {
			return nil, err
		}
		if kind == '=' {
			if n < 4 {
				return nil, fmt.Errorf("verbatim string of %d bytes has no format", n)
			}
			return Verbatim(b[4:n]), nil
		}
		return Bulk(b[:n]), nil
	case '*', '%', '~', '>':
		n, err := strconv.Atoi(rest)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		if kind == '%' {
			n *= 2
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = r.readValue(); err != nil {
				return nil, err
			}
		}
		switch kind {
		case '%':
			return Map(out), nil
		case '~':
			return Set(out), nil
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown reply type %q", line)
}
