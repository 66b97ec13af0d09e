package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/foldb/foldb/internal/testkit"
	"github.com/redis/go-redis/v9"
)

// TestPubSubRedisCLI: redis-cli SUBSCRIBE account:1 and PSUBSCRIBE
// 'account:*', as processes, print every event appended afterwards (by
// four connections at once) of that stream or category, in position
// order, with the event's JSON as the payload; and redis-cli XREAD BLOCK 0
// STREAMS $ce-account $ waits for the next event of the category and
// prints that entry.
func TestPubSubRedisCLI(t *testing.T) {
	t.Parallel()
	cli := needTool(t, "redis-cli")
	s := startServer(t, "")
	port := strconv.Itoa(s.Port)
	c := s.Client(2)
	ctx := context.Background()
	appendOne := func(stream, typ, data string, opts ...any) {
		t.Helper()
		args := append(append([]any{"EVENT.APPEND", stream}, opts...), typ, data)
		if err := c.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	appendOne("account:1", "AccountOpened", `{"name":"before"}`) // before the subscriptions: not seen

	sub := startLines(t, cli, "-p", port, "SUBSCRIBE", "account:1")
	psub := startLines(t, cli, "-p", port, "PSUBSCRIBE", "account:*")
	sub.expect(t, "subscribe", "account:1", "1")
	psub.expect(t, "psubscribe", "account:*", "1")
	from := testkit.InfoInt(t, c, "persistence", "log_last_position") + 1

	// Four connections append at once, so that the order is the log's and
	// not the test's; to account:1..3 and to streams no subscription
	// matches (accounts:1 is another category).
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			wc := redis.NewClient(clientOptions(s.Addr, 2))
			defer wc.Close()
			for i := range 25 {
				stream := []string{"account:1", "account:2", "account:3", "other:1", "accounts:1"}[(w+i)%5]
				args := []any{"EVENT.APPEND", stream, "ID", fmt.Sprintf("w%d-%d", w, i), "META", fmt.Sprintf(`{"by":"w%d"}`, w),
					"Deposited", fmt.Sprintf(`{"amount":%d,"note":"a \"quoted\" é"}`, i)}
				if i%4 == 0 {
					args = append(args, "Noted", `{}`) // two events in one append
				}
				if err := wc.Do(ctx, args...).Err(); err != nil {
					t.Errorf("%v: %v", args, err)
					return
				}
			}
		})
	}
	wg.Wait()
	appendOne("account:1", "Last", `{}`)
	var forSub, forPsub []event
	for _, e := range readLog(t, c, from, 1000) {
		if e.Stream == "account:1" {
			forSub = append(forSub, e)
		}
		if strings.HasPrefix(e.Stream, "account:") {
			forPsub = append(forPsub, e)
		}
	}
	for _, e := range forSub {
		sub.expect(t, "message", "account:1", eventJSON(t, e))
	}
	for _, e := range forPsub {
		psub.expect(t, "pmessage", "account:*", e.Stream, eventJSON(t, e))
	}
	t.Logf("SUBSCRIBE printed %d events, PSUBSCRIBE %d, in position order", len(forSub), len(forPsub))

	// XREAD BLOCK 0 from $: the next event of the category, not of another.
	xread := startLines(t, cli, "-p", port, "XREAD", "BLOCK", "0", "STREAMS", "$ce-account", "$")
	testkit.WaitFor(t, "redis-cli's XREAD BLOCK 0 to block", func() bool {
		if xread.exited() {
			t.Fatalf("redis-cli XREAD BLOCK 0 STREAMS $ce-account $ returned before any append: %q", xread.rest(t))
		}
		return testkit.InfoField(t, testkit.Info(t, c, "clients"), "blocked_clients") == "1"
	})
	appendOne("other:2", "Deposited", `{"amount":1}`)
	appendOne("account:9", "AccountOpened", `{"name":"Nine"}`, "ID", "open-9")
	e := readLog(t, c, testkit.InfoInt(t, c, "persistence", "log_last_position"), 10)[0]
	xread.expect(t, "$ce-account", fmt.Sprint(e.Position, "-0"),
		"stream", "account:9", "version", "1", "type", "AccountOpened", "data", `{"name":"Nine"}`,
		"meta", "{}", "id", "open-9", "time", fmt.Sprint(e.Time))
	if err := xread.wait(t); err != nil {
		t.Errorf("redis-cli XREAD: %v", err)
	}
	if rest := xread.rest(t); rest != "" {
		t.Errorf("redis-cli XREAD printed more: %q", rest)
	}
}

// eventJSON is the payload foldb publishes for e (docs/commands.md, "Pub/Sub").
func eventJSON(t *testing.T, e event) string {
	t.Helper()
	quote := func(s string) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSuffix(b.String(), "\n")
	}
	return fmt.Sprintf(`{"position":%d,"stream":%s,"version":%d,"type":%s,"data":%s,"meta":%s,"id":%s,"time":%d}`,
		e.Position, quote(e.Stream), e.Version, quote(e.Type), e.Data, e.Meta, quote(e.ID), e.Time)
}

// lineProc is a process whose stdout a test reads line by line.
type lineProc struct {
	name  string
	cmd   *exec.Cmd
	lines chan string // closed at the end of stdout
	done  chan struct{}
	err   error // from Wait, once done is closed
	mu    sync.Mutex
	errb  bytes.Buffer
}

func startLines(t *testing.T, path string, args ...string) *lineProc {
	t.Helper()
	p := &lineProc{name: strings.Join(args, " "), cmd: exec.Command(path, args...), lines: make(chan string, 1<<16), done: make(chan struct{})}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.errb}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// expect reads the next lines and wants them to be want.
func (p *lineProc) expect(t *testing.T, want ...string) {
	t.Helper()
	for i, w := range want {
		select {
		case got, ok := <-p.lines:
			if !ok {
				t.Fatalf("%s ended (%v, stderr %q) where %q was due (line %d of %q)", p.name, p.wait(t), p.stderr(), w, i+1, want)
			}
			if got != w {
				t.Fatalf("%s printed %q where %q was due (line %d of %q)", p.name, got, w, i+1, want)
			}
		case <-time.After(testkit.WaitTimeout):
			t.Fatalf("%s printed nothing within %v where %q was due", p.name, testkit.WaitTimeout, w)
		}
	}
}

func (p *lineProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to exit and returns its exit error.
func (p *lineProc) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(testkit.WaitTimeout):
		t.Fatalf("%s did not exit within %v", p.name, testkit.WaitTimeout)
		return nil
	}
}

// rest is what the process printed that was not read yet, once it exited.
func (p *lineProc) rest(t *testing.T) string {
	t.Helper()
	p.wait(t)
	var b strings.Builder
	for l := range p.lines {
		b.WriteString(l + "\n")
	}
	return b.String()
}

func (p *lineProc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errb.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// TestPubSubSlowSubscriber: with --pubsub-output-limit 1mb, a subscriber
// to account:* that never reads is disconnected once its messages pass
// the limit, while the appends (pipelined from four connections, 1 KiB
// events, many times the limit in all) are all answered; a subscriber
// that reads gets every event in order; and foldb's memory does not grow
// with what the slow one left unread: the same load, run once before the
// slow subscriber comes, brings the log's own memory to its steady state.
func TestPubSubSlowSubscriber(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--pubsub-output-limit", "1mb")
	c := s.Client(2)
	ctx := context.Background()

	// A subscriber that reads: it gets every event, in order.
	fast := testkit.Dial(t, s.Addr)
	if got := fmt.Sprint(fast.Do("PSUBSCRIBE", "account:*")); got != "[psubscribe account:* 1]" {
		t.Fatalf("PSUBSCRIBE: %s", got)
	}
	var fastGot atomic.Int64
	fastDone := make(chan error, 1)
	go func() { fastDone <- readPositions(fast.Conn, &fastGot) }()

	const loadBytes = 32 << 20 // of events, per phase: the limit many times over
	load := appendPadded(t, s.Addr, loadBytes, nil)
	rss0 := s.RSS()
	t.Logf("warm-up: %s; foldb's RSS %d MiB, Go heap %s bytes", load, rss0>>20, testkit.InfoField(t, testkit.Info(t, c, "memory"), "used_memory"))

	// A small receive buffer: the kernel holds little of what foldb sends,
	// so the rest waits in foldb.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
		return err
	}}
	nc, err := d.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	slow := bufio.NewReader(nc)
	nc.SetDeadline(time.Now().Add(testkit.ReplyTimeout))
	if _, err := io.WriteString(nc, testkit.Command("CLIENT", "ID")+testkit.Command("PSUBSCRIBE", "account:*")); err != nil {
		t.Fatal(err)
	}
	idReply := mustReadReply(t, slow)
	id, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(idReply.raw, ":"), "\r\n"), 10, 64)
	if err != nil {
		t.Fatalf("CLIENT ID replied %q", idReply.raw)
	}
	if got := mustReadReply(t, slow).raw; got != "*3\r\n$10\r\npsubscribe\r\n$9\r\naccount:*\r\n:1\r\n" {
		t.Fatalf("PSUBSCRIBE replied %q", got)
	}
	listed := func() bool {
		list, err := c.ClientList(ctx).Result()
		if err != nil {
			t.Fatalf("CLIENT LIST: %v", err)
		}
		return strings.Contains(list, fmt.Sprintf("id=%d ", id))
	}
	if !listed() {
		t.Fatalf("CLIENT LIST does not show the subscriber, id %d", id)
	}

	var slowGone atomic.Bool
	loaded := make(chan appendLoad, 1)
	go func() { loaded <- appendPadded(t, s.Addr, loadBytes, &slowGone) }()
	pollUntil(t, 70*time.Second, "the slow subscriber to be disconnected", func() bool {
		if gone := !listed(); gone {
			slowGone.Store(true)
		}
		return slowGone.Load()
	})
	load2 := <-loaded
	if t.Failed() {
		return
	}
	t.Logf("with the slow subscriber: %s", load2)

	// The socket ends after what the kernel and foldb had sent.
	nc.SetReadDeadline(time.Now().Add(testkit.ReplyTimeout))
	drained, err := io.Copy(io.Discard, slow)
	if err != nil && !testkit.IsReset(err) {
		t.Errorf("the slow subscriber's socket did not end: %v after %d bytes", err, drained)
	}
	t.Logf("the slow subscriber's socket held %d KiB when it ended", drained>>10)
	if drained > load2.bytes/2 {
		t.Errorf("the slow subscriber could read %d bytes of the %d appended: it was not cut off", drained, load2.bytes)
	}

	// Under -race the reading subscriber can itself fall more than the
	// limit behind the pipelined load (its client and foldb both run
	// several times slower), and is then rightly cut off too: there only
	// the slow one's cut-off and the appends are checked.
	if !raceEnabled {
		testkit.WaitForWithin(t, padLimit, "the reading subscriber to get every event", func() bool {
			select {
			case err := <-fastDone:
				t.Fatalf("the reading subscriber stopped after %d events: %v", fastGot.Load(), err)
			default:
			}
			return fastGot.Load() == load.events+load2.events
		})
	}
	rss1 := s.RSS()
	t.Logf("foldb's RSS: %d MiB after the warm-up, %d MiB after the load with the slow subscriber (Go heap %s bytes)",
		rss0>>20, rss1>>20, testkit.InfoField(t, testkit.Info(t, c, "memory"), "used_memory"))
	// Had foldb kept what the slow subscriber left unread, it would hold
	// more than the events themselves.
	switch {
	case raceEnabled:
		t.Log("the RSS is not checked under -race: the race detector's memory grows with the heap, and the heap of a -race foldb swings by hundreds of MiB under this load with or without subscribers")
	case rss1-rss0 > loadBytes:
		t.Errorf("foldb's RSS grew by %d MiB while %d MiB of events went out", (rss1-rss0)>>20, load2.bytes>>20)
	}
}

// appendLoad is what appendPadded did.
type appendLoad struct {
	events, bytes int64
	took, slowest time.Duration // slowest: of a pipeline
}

func (l appendLoad) String() string {
	return fmt.Sprintf("%d events (%d MiB) appended in %v, the slowest pipeline of %d appends took %v",
		l.events, l.bytes>>20, l.took.Round(time.Millisecond), padPipeline, l.slowest.Round(time.Millisecond))
}

const (
	padWorkers   = 4
	padPipeline  = 10 // appends
	padPerAppend = 10 // events
)

// appendPadded appends events of about 1 KiB to new account streams from
// four connections, in pipelines, until minBytes of event data are in and
// until also holds (nil: at once), for at most padLimit. Every append
// must be answered.
// padLimit bounds appendPadded: a guard against appends that stall, not a
// measure of their speed, so wide enough for a -race build on a busy
// machine, where a phase has taken most of a minute.
const padLimit = 3 * time.Minute

func appendPadded(t *testing.T, addr string, minBytes int64, also *atomic.Bool) appendLoad {
	data := fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 1<<10-10))
	var events, bytesIn, slowest atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range padWorkers {
		wg.Go(func() {
			ctx := context.Background()
			wc := redis.NewClient(clientOptions(addr, 2))
			defer wc.Close()
			prefix := fmt.Sprintf("account:%d-%d", start.UnixNano(), w)
			for n := 0; bytesIn.Load() < minBytes || (also != nil && !also.Load()); n++ {
				if time.Since(start) > padLimit {
					t.Errorf("worker %d: still appending after %s", w, padLimit)
					return
				}
				pipe := wc.Pipeline()
				for i := range padPipeline {
					args := []any{"EVENT.APPEND", fmt.Sprintf("%s-%d-%d", prefix, n, i)}
					for range padPerAppend {
						args = append(args, "Padded", data)
					}
					pipe.Do(ctx, args...)
				}
				t0 := time.Now()
				if _, err := pipe.Exec(ctx); err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				for d := int64(time.Since(t0)); ; {
					if old := slowest.Load(); d <= old || slowest.CompareAndSwap(old, d) {
						break
					}
				}
				events.Add(padPipeline * padPerAppend)
				bytesIn.Add(padPipeline * padPerAppend * int64(len(data)))
			}
		})
	}
	wg.Wait()
	return appendLoad{events: events.Load(), bytes: bytesIn.Load(), took: time.Since(start), slowest: time.Duration(slowest.Load())}
}

// readPositions reads the pmessages of a subscriber to account:* until the
// connection ends, counting them in got, and checks that the events come
// in position order with no gap.
func readPositions(nc net.Conn, got *atomic.Int64) error {
	r := bufio.NewReaderSize(nc, 1<<20)
	var last int64
	for {
		nc.SetReadDeadline(time.Now().Add(time.Minute))
		m, err := readReply(r)
		if err != nil {
			return err
		}
		if len(m.elems) != 4 || m.elems[0].str() != "pmessage" {
			return fmt.Errorf("not a pmessage: %q", m.raw)
		}
		var e struct{ Position int64 }
		if err := json.Unmarshal([]byte(m.elems[3].str()), &e); err != nil {
			return fmt.Errorf("payload %q: %v", m.elems[3].str(), err)
		}
		if last != 0 && e.Position != last+1 {
			return fmt.Errorf("position %d after %d", e.Position, last)
		}
		last = e.Position
		got.Add(1)
	}
}

// respReply is one reply as it came over the wire, with its elements when
// it is an aggregate (array, push, map, set: a map's keys and values in
// turn).
type respReply struct {
	raw   string
	elems []respReply
}

// str is a bulk or simple string's text.
func (r respReply) str() string {
	switch r.raw[0] {
	case '$', '=':
		_, rest, _ := strings.Cut(r.raw, "\r\n")
		return strings.TrimSuffix(rest, "\r\n")
	}
	return strings.TrimSuffix(r.raw[1:], "\r\n")
}

// readReply reads one RESP2 or RESP3 reply.
func readReply(r *bufio.Reader) (respReply, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return respReply{}, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return respReply{}, fmt.Errorf("malformed reply line %q", line)
	}
	out := respReply{raw: line}
	n, _ := strconv.Atoi(line[1 : len(line)-2])
	switch line[0] {
	case '+', '-', ':', '_', '#', ',', '(':
		return out, nil
	case '$', '=', '!':
		if n < 0 {
			return out, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return out, err
		}
		out.raw += string(b)
		return out, nil
	case '%', '|':
		n *= 2
	case '*', '>', '~':
	default:
		return out, fmt.Errorf("unknown reply type %q", line)
	}
	for range max(n, 0) {
		e, err := readReply(r)
		if err != nil {
			return out, err
		}
		out.raw += e.raw
		out.elems = append(out.elems, e)
	}
	return out, nil
}

func mustReadReply(t *testing.T, r *bufio.Reader) respReply {
	t.Helper()
	v, err := readReply(r)
	if err != nil {
		t.Fatalf("reading a reply: %v (read %q)", err, v.raw)
	}
	return v
}

// pubsubStep is one step of TestPubSubLikeRedis: connection on (0: the
// subscriber, 1: the other) sends args (none: it sends nothing), then
// read[0] replies are read from connection 0 and read[1] from connection
// 1, the sender's first.
type pubsubStep struct {
	on        int
	args      []string
	read      [2]int
	unordered bool // the reply's elements in any order (Redis's are a hash table's)
}

// pubsubSteps are the steps compared in protocol proto, with channels and
// patterns named after prefix.
func pubsubSteps(proto int, p string) []pubsubStep {
	a, b := 0, 1
	steps := []pubsubStep{
		{on: a, args: []string{"UNSUBSCRIBE"}, read: [2]int{1, 0}},
		{on: a, args: []string{"PUNSUBSCRIBE", p + "x"}, read: [2]int{1, 0}},
		{on: a, args: []string{"SUBSCRIBE"}, read: [2]int{1, 0}},
		{on: a, args: []string{"SUBSCRIBE", p + "news", p + "sports"}, read: [2]int{2, 0}},
		{on: a, args: []string{"SUBSCRIBE", p + "news"}, read: [2]int{1, 0}},
		{on: a, args: []string{"PSUBSCRIBE", p + "n*", p + "s?orts"}, read: [2]int{2, 0}},
		{on: a, args: []string{"PING"}, read: [2]int{1, 0}},
		{on: a, args: []string{"PING", "hello"}, read: [2]int{1, 0}},
		{on: a, args: []string{"ECHO", "hi"}, read: [2]int{1, 0}}, // RESP2: refused in subscribed mode
		{on: a, args: []string{"PUBSUB", "NUMPAT"}, read: [2]int{1, 0}},
		{on: b, args: []string{"PUBLISH", p + "news", "hello"}, read: [2]int{2, 1}},
		{on: b, args: []string{"PUBLISH", p + "sports", ""}, read: [2]int{2, 1}},
		{on: b, args: []string{"PUBLISH", p + "nothing", "x"}, read: [2]int{1, 1}},
		{on: b, args: []string{"PUBLISH", p + "zzz", "x"}, read: [2]int{0, 1}},
		{on: b, args: []string{"PUBSUB", "CHANNELS"}, read: [2]int{0, 1}, unordered: true},
		{on: b, args: []string{"PUBSUB", "CHANNELS", p + "s*"}, read: [2]int{0, 1}},
		{on: b, args: []string{"PUBSUB", "CHANNELS", "nomatch*"}, read: [2]int{0, 1}},
		{on: b, args: []string{"PUBSUB", "NUMSUB", p + "news", p + "sports", p + "zzz"}, read: [2]int{0, 1}},
		{on: b, args: []string{"PUBSUB", "NUMSUB"}, read: [2]int{0, 1}},
		{on: b, args: []string{"PUBSUB", "NUMPAT"}, read: [2]int{0, 1}},
		{on: b, args: []string{"PUBSUB", "FOO"}, read: [2]int{0, 1}},
		{on: b, args: []string{"PUBLISH", p + "news"}, read: [2]int{0, 1}},
		{on: a, args: []string{"UNSUBSCRIBE", p + "news"}, read: [2]int{1, 0}},
		{on: a, args: []string{"UNSUBSCRIBE", p + "zzz"}, read: [2]int{1, 0}},
		{on: a, args: []string{"UNSUBSCRIBE"}, read: [2]int{1, 0}},
		{on: a, args: []string{"UNSUBSCRIBE"}, read: [2]int{1, 0}},
		{on: b, args: []string{"PUBLISH", p + "news", "by pattern"}, read: [2]int{1, 1}},
		{on: a, args: []string{"PUNSUBSCRIBE", p + "n*"}, read: [2]int{1, 0}},
		{on: a, args: []string{"PUNSUBSCRIBE"}, read: [2]int{1, 0}},
		{on: a, args: []string{"PUNSUBSCRIBE"}, read: [2]int{1, 0}},
		{on: a, args: []string{"PING"}, read: [2]int{1, 0}},
		{on: a, args: []string{"ECHO", "out of subscribed mode"}, read: [2]int{1, 0}},
		{on: a, args: []string{"SUBSCRIBE", p + "a", p + "b"}, read: [2]int{2, 0}},
		{on: a, args: []string{"PSUBSCRIBE", p + "x*"}, read: [2]int{1, 0}},
		{on: a, args: []string{"PUBLISH", p + "a", "to itself"}, read: [2]int{2, 0}}, // RESP2: refused
		{on: b, args: []string{"PUBLISH", p + "xa", "many"}, read: [2]int{1, 1}},
		{on: a, args: []string{"PUNSUBSCRIBE", p + "x*", p + "y*"}, read: [2]int{2, 0}},
		{on: a, args: []string{"RESET"}, read: [2]int{1, 0}},
		{on: b, args: []string{"PUBSUB", "NUMSUB", p + "a", p + "b"}, read: [2]int{0, 1}},
		{on: b, args: []string{"PUBSUB", "NUMPAT"}, read: [2]int{0, 1}},
		{on: b, args: []string{"PUBLISH", p + "a", "after RESET"}, read: [2]int{0, 1}},
		{on: a, args: []string{"PING"}, read: [2]int{1, 0}},
		{on: a, args: []string{"SUBSCRIBE", p + "q"}, read: [2]int{1, 0}},
		{on: a, args: []string{"QUIT"}, read: [2]int{1, 0}},
	}
	if proto == 2 {
		for i, st := range steps {
			if st.on == a && st.args[0] == "PUBLISH" {
				steps[i].read = [2]int{1, 0} // the refusal only
			}
		}
	}
	return steps
}

// TestPubSubLikeRedis runs the same Pub/Sub steps on two connections
// against Redis 7 and foldb and compares every reply and message byte for
// byte, in RESP2 and after HELLO 3 (whose own reply names the server and
// is not compared). The channels are the clients' own: foldb refuses
// PUBLISH on a channel named like a stream, which TestPubSubStreamChannels
// tests.
func TestPubSubLikeRedis(t *testing.T) {
	t.Parallel()
	redisAddr, version := startRedisServer(t)
	t.Logf("Redis %s", version)
	s := startServer(t, "")
	for _, proto := range testkit.Protocols {
		t.Run(fmt.Sprint("RESP", proto), func(t *testing.T) {
			dial := func(addr string) [2]*bufio.ReadWriter {
				var conns [2]*bufio.ReadWriter
				for i := range conns {
					nc, err := net.DialTimeout("tcp", addr, testkit.ReplyTimeout)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { nc.Close() })
					nc.SetDeadline(time.Now().Add(time.Minute))
					conns[i] = bufio.NewReadWriter(bufio.NewReader(nc), bufio.NewWriter(nc))
					if proto == 3 {
						sendCommand(t, conns[i], "HELLO", "3")
						if h := mustReadReply(t, conns[i].Reader); h.raw[0] != '%' {
							t.Fatalf("HELLO 3 replied %q", h.raw)
						}
					}
				}
				return conns
			}
			rc, fc := dial(redisAddr), dial(s.Addr)
			for i, st := range pubsubSteps(proto, fmt.Sprintf("p%d.", proto)) {
				want := runPubSubStep(t, rc, st)
				got := runPubSubStep(t, fc, st)
				if !slices.Equal(got, want) {
					t.Errorf("step %d, connection %d: %q:\n foldb %q\n redis %q", i, st.on, st.args, got, want)
				}
			}
			// QUIT closed the subscriber.
			for name, conn := range map[string][2]*bufio.ReadWriter{"redis": rc, "foldb": fc} {
				if rest, err := io.ReadAll(conn[0]); err != nil || len(rest) > 0 {
					t.Errorf("%s after QUIT: %q, %v", name, rest, err)
				}
			}
		})
	}
}

func sendCommand(t *testing.T, rw *bufio.ReadWriter, args ...string) {
	t.Helper()
	if _, err := rw.WriteString(testkit.Command(args...)); err != nil {
		t.Fatal(err)
	}
	if err := rw.Flush(); err != nil {
		t.Fatal(err)
	}
}

// runPubSubStep sends a step's command and returns the replies it reads.
func runPubSubStep(t *testing.T, conns [2]*bufio.ReadWriter, st pubsubStep) []string {
	t.Helper()
	sendCommand(t, conns[st.on], st.args...)
	var out []string
	for _, i := range []int{st.on, 1 - st.on} {
		for range st.read[i] {
			r := mustReadReply(t, conns[i].Reader)
			if st.unordered {
				var elems []string
				for _, e := range r.elems {
					elems = append(elems, e.raw)
				}
				slices.Sort(elems)
				out = append(out, strings.Join(elems, ""))
				continue
			}
			out = append(out, r.raw)
		}
	}
	return out
}

// TestPubSubStreamChannels: what foldb does where Redis has no rule. A
// channel named like a stream or an entity is subscribed to as any other,
// counted by PUBSUB as any other, but PUBLISH on it is refused and reaches
// no one: only the log publishes there.
func TestPubSubStreamChannels(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	for _, proto := range testkit.Protocols {
		t.Run(fmt.Sprint("RESP", proto), func(t *testing.T) {
			sub := testkit.Dial(t, s.Addr)
			other := testkit.Dial(t, s.Addr)
			if proto == 3 {
				sub.Do("HELLO", "3")
				other.Do("HELLO", "3")
			}
			stream := fmt.Sprint("account:", proto)
			entity := "__entity__:account:" + fmt.Sprint(proto)
			if got := fmt.Sprint(sub.Do("SUBSCRIBE", stream, entity, "mine")); got != fmt.Sprintf("[subscribe %s 1]", stream) {
				t.Fatalf("SUBSCRIBE: %s", got)
			}
			sub.Read()
			sub.Read()
			for _, ch := range []string{stream, entity} {
				want := fmt.Sprintf("ERR channel '%s' carries only what the log commits", ch)
				if got, ok := other.Do("PUBLISH", ch, "forged").(testkit.Err); !ok || !strings.HasPrefix(string(got), want) {
					t.Errorf("PUBLISH %s: %#v, want %q...", ch, got, want)
				}
			}
			if got := fmt.Sprint(other.Do("PUBSUB", "NUMSUB", stream, entity)); got != fmt.Sprintf("[%s 1 %s 1]", stream, entity) {
				t.Errorf("PUBSUB NUMSUB: %s", got)
			}
			if got := fmt.Sprint(other.Do("PUBSUB", "CHANNELS", "*"+fmt.Sprint(proto))); got != fmt.Sprintf("[%s %s]", entity, stream) {
				t.Errorf("PUBSUB CHANNELS: %s", got)
			}
			// The next message is the client's own, not a forged event.
			if got := other.Do("PUBLISH", "mine", "own"); got != int64(1) {
				t.Errorf("PUBLISH mine: %#v", got)
			}
			if got := fmt.Sprint(sub.Read()); got != "[message mine own]" {
				t.Errorf("after the refused PUBLISHes the subscriber got %s", got)
			}
		})
	}
}
