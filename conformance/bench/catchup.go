package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"
)

// catchupPage is the COUNT of the catch-up row's XRANGE pages.
const catchupPage = 1000

// Row 7: a consumer catching up on the log: -events entries read with
// XRANGE $all - + COUNT 1000 pages, each from "(<last id>" of the one
// before, as fast as one client goes, against Redis XRANGE over a stream
// that holds the same entries. foldb is loaded with pipelined XADDs
// (durability none); Redis gets every entry as foldb replies it, with its
// ID and fields, so both replies are the same bytes. The client reads the
// replies with a RESP reader of its own that allocates nothing, so that
// the figure is the servers', not a client library's.
func (b *bench) rowCatchup() ([]result, error) {
	events := b.cfg.events
	f, _, err := b.startFoldbLoaded(b.path("catchup-foldb"), "--durability", "none", "--snapshot-every", "0", "--snapshot-interval", "0")
	if err != nil {
		return nil, err
	}
	defer f.kill()
	r, err := b.startRedis(b.path("catchup-redis"), "--save", "", "--appendonly", "no")
	if err != nil {
		return nil, err
	}
	defer r.kill()
	err = b.load(&f.server, "foldb: XADD account:<id> * type <T> data <json>", events, split(events, loadWorkers, catchupEvent))
	if err != nil {
		return nil, err
	}
	if err := checkPosition(b, f, events); err != nil {
		return nil, err
	}
	if err := b.copyEntries(f, r, events); err != nil {
		return nil, err
	}
	if err := b.samePages(f, r); err != nil {
		return nil, err
	}
	xlen, err := b.timeXLen(f)
	if err != nil {
		return nil, err
	}

	what := fmt.Sprintf("catch-up read of %s entries, XRANGE pages of %d", count(int64(events)), catchupPage)
	show := func(v float64) string { return count(int64(v)) + " entries/s" }
	fs, rs, err := alternate(b, what, show,
		side[float64]{"foldb XRANGE $all", func(int) (float64, error) { return b.catchUp(&f.server, events) }},
		side[float64]{"redis XRANGE", func(int) (float64, error) { return b.catchUp(&r.server, events) }})
	if err != nil {
		return nil, err
	}
	res := throughput(7, fmt.Sprintf("catch-up read of %s events (XRANGE $all pages of %d) vs Redis XRANGE", count(int64(events)), catchupPage), fs, rs, 1.0, 2.0)
	res.unit = unitEventsPerSec
	res.detail = xlen
	if err := f.shutdown(b.ctx, "NOSAVE"); err != nil {
		return nil, err
	}
	return []result{res}, r.stop(b.ctx)
}

var catchupTypes = []string{"AccountOpened", "BalanceIncreased", "BalanceDecreased", "AddressChanged"}

// catchupEvent is the i-th append of the row: one event of 10,000
// accounts, with a JSON object of about 60 bytes.
func catchupEvent(i int) []any {
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	data := fmt.Sprintf(`{"amount":%d,"by":"teller-%03d","note":"%s"}`, rng.IntN(100000), rng.IntN(1000), keyID(i))
	return []any{"XADD", "account:" + strconv.Itoa(i%10000), "*", "type", catchupTypes[i%len(catchupTypes)], "data", data}
}

// timeXLen times foldb's XLEN of the row's category and of a type, which
// count their index runs.
func (b *bench) timeXLen(f *foldbServer) (string, error) {
	fc := f.client(1)
	defer fc.Close()
	var out []string
	for _, key := range []string{"$ce-account", "$et-" + catchupTypes[1]} {
		start := time.Now()
		n, err := fc.XLen(b.ctx, key).Result()
		if err != nil {
			return "", fmt.Errorf("foldb XLEN %s: %w", key, err)
		}
		out = append(out, fmt.Sprintf("XLEN %s = %s in %s", key, count(n), shortDuration(time.Since(start))))
	}
	b.progress("  foldb: %s", strings.Join(out, ", "))
	return "foldb " + strings.Join(out, ", "), nil
}

// copyEntries adds every entry of foldb's $all to Redis's stream $all,
// with the same ID and fields, in pipelines.
func (b *bench) copyEntries(f *foldbServer, r *redisServer, events int) error {
	fc, rc := f.client(1), r.client(1)
	defer fc.Close()
	defer rc.Close()
	start := time.Now()
	from, copied := "-", 0
	for copied < events {
		page, err := fc.XRangeN(b.ctx, "$all", from, "+", catchupPage).Result()
		if err != nil {
			return fmt.Errorf("foldb XRANGE $all %s + COUNT %d: %w", from, catchupPage, err)
		}
		if len(page) == 0 {
			return fmt.Errorf("foldb XRANGE $all %s +: nothing after %d entries, want %d", from, copied, events)
		}
		pipe := rc.Pipeline()
		for _, m := range page {
			args := []any{"XADD", "$all", m.ID}
			for _, k := range []string{"stream", "version", "type", "data", "meta", "id", "time"} {
				v, ok := m.Values[k]
				if !ok {
					return fmt.Errorf("foldb entry %s has no %s field: %v", m.ID, k, m.Values)
				}
				args = append(args, k, v)
			}
			pipe.Do(b.ctx, args...)
		}
		if _, err := pipe.Exec(b.ctx); err != nil {
			return fmt.Errorf("redis XADD $all: %w", err)
		}
		copied += len(page)
		from = "(" + page[len(page)-1].ID
	}
	b.progress("  redis: XADD $all <id> with foldb's fields: %s entries in %.1fs", count(int64(copied)), time.Since(start).Seconds())
	if n, err := rc.XLen(b.ctx, "$all").Result(); err != nil || n != int64(events) {
		return fmt.Errorf("redis XLEN $all is %d (%v), want %d", n, err, events)
	}
	return nil
}

// samePages checks that the first page and a page further on are the same
// bytes from both servers.
func (b *bench) samePages(f *foldbServer, r *redisServer) error {
	for _, from := range []string{"-", "(" + strconv.Itoa(b.cfg.events/2) + "-0"} {
		var pages [2][]byte
		for i, s := range []*server{&f.server, &r.server} {
			c, err := dialCatchup(s)
			if err != nil {
				return err
			}
			pages[i], err = c.rawPage(from)
			c.Close()
			if err != nil {
				return fmt.Errorf("%s XRANGE $all %s + COUNT %d: %w", s.name, from, catchupPage, err)
			}
		}
		if !bytes.Equal(pages[0], pages[1]) {
			n := min(len(pages[0]), len(pages[1]), 300)
			return fmt.Errorf("XRANGE $all %s + COUNT %d differs: foldb %d bytes %q..., redis %d bytes %q...",
				from, catchupPage, len(pages[0]), pages[0][:n], len(pages[1]), pages[1][:n])
		}
	}
	return nil
}

// catchUp reads every entry of $all in pages and returns entries/s.
func (b *bench) catchUp(s *server, events int) (float64, error) {
	c, err := dialCatchup(s)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	read, from := 0, []byte("-")
	for {
		if b.ctx.Err() != nil {
			return 0, errInterrupted
		}
		n, last, err := c.page(from)
		if err != nil {
			return 0, fmt.Errorf("%s XRANGE $all %s + COUNT %d: %w", s.name, from, catchupPage, err)
		}
		read += n
		if n < catchupPage {
			break
		}
		from = append(append(from[:0], '('), last...)
	}
	took := time.Since(start)
	if read != events {
		return 0, fmt.Errorf("%s: the pages held %d entries, want %d", s.name, read, events)
	}
	return float64(read) / took.Seconds(), nil
}

// catchupConn is one connection of the catch-up client.
type catchupConn struct {
	net.Conn
	rd   *bufio.Reader
	req  []byte
	last []byte
	raw  *bytes.Buffer // when set, the reply's bytes are copied here
}

func dialCatchup(s *server) (*catchupConn, error) {
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		return nil, err
	}
	c := &catchupConn{Conn: nc}
	c.rd = bufio.NewReaderSize(readerFunc(c.read), 256<<10)
	return c, nil
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func (c *catchupConn) read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.raw != nil {
		c.raw.Write(p[:n])
	}
	return n, err
}

// page sends XRANGE $all <from> + COUNT 1000 and reads the reply: the
// number of entries and the last one's ID (valid until the next call).
func (c *catchupConn) page(from []byte) (int, []byte, error) {
	c.req = c.req[:0]
	for _, a := range [][]byte{[]byte("XRANGE"), []byte("$all"), from, []byte("+"), []byte("COUNT"), []byte(strconv.Itoa(catchupPage))} {
		if len(c.req) == 0 {
			c.req = append(c.req, "*6\r\n"...)
		}
		c.req = append(c.req, '$')
		c.req = strconv.AppendInt(c.req, int64(len(a)), 10)
		c.req = append(c.req, "\r\n"...)
		c.req = append(c.req, a...)
		c.req = append(c.req, "\r\n"...)
	}
	if _, err := c.Write(c.req); err != nil {
		return 0, nil, err
	}
	n, err := c.header('*')
	if err != nil {
		return 0, nil, err
	}
	for range n {
		if k, err := c.header('*'); err != nil || k != 2 {
			return 0, nil, fmt.Errorf("an entry of %d elements (%v)", k, err)
		}
		id, err := c.bulk()
		if err != nil {
			return 0, nil, err
		}
		c.last = append(c.last[:0], id...)
		if err := c.skip(); err != nil {
			return 0, nil, err
		}
	}
	return n, c.last, nil
}

// rawPage is page's reply as bytes.
func (c *catchupConn) rawPage(from string) ([]byte, error) {
	c.raw = new(bytes.Buffer)
	defer func() { c.raw = nil }()
	if _, _, err := c.page([]byte(from)); err != nil {
		return nil, err
	}
	if c.rd.Buffered() > 0 {
		return nil, errors.New("more bytes than the reply")
	}
	return c.raw.Bytes(), nil
}

// line reads one line of the reply, without its CRLF.
func (c *catchupConn) line() ([]byte, error) {
	l, err := c.rd.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(l) < 3 || l[len(l)-2] != '\r' {
		return nil, fmt.Errorf("bad reply line %q", l)
	}
	if l[0] == '-' {
		return nil, fmt.Errorf("error reply: %s", l[1:len(l)-2])
	}
	return l[:len(l)-2], nil
}

// header reads a line of type typ ('*' or '$') and returns its count.
func (c *catchupConn) header(typ byte) (int, error) {
	l, err := c.line()
	if err != nil {
		return 0, err
	}
	if l[0] != typ {
		return 0, fmt.Errorf("reply line %q, want %c", l, typ)
	}
	n, err := strconv.Atoi(string(l[1:]))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad count in %q", l)
	}
	return n, nil
}

// bulk reads a bulk string (valid until the next read).
func (c *catchupConn) bulk() ([]byte, error) {
	n, err := c.header('$')
	if err != nil {
		return nil, err
	}
	b, err := c.rd.Peek(n + 2)
	if err != nil {
		return nil, err
	}
	_, err = c.rd.Discard(n + 2)
	return b[:n], err
}

// skip reads past one value: an array of bulk strings (an entry's fields).
func (c *catchupConn) skip() error {
	n, err := c.header('*')
	if err != nil {
		return err
	}
	for range n {
		k, err := c.header('$')
		if err != nil {
			return err
		}
		if _, err := c.rd.Discard(k + 2); err != nil {
			return err
		}
	}
	return nil
}
