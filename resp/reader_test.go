package resp

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// chunkReader returns data in pieces of random sizes from 1 to max.
type chunkReader struct {
	data []byte
	rng  *rand.Rand
	max  int
}

func newChunkReader(data []byte, seed uint64, max int) *chunkReader {
	return &chunkReader{data: data, rng: rand.New(rand.NewPCG(seed, 1)), max: max}
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(1+c.rng.IntN(c.max), len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// readAll returns the commands r reads with blocking calls, as strings, and
// the error that stopped it.
func readAll(r *Reader) ([][]string, error) {
	var cmds [][]string
	for {
		argv, err := r.Next(true)
		if err != nil {
			return cmds, err
		}
		cmds = append(cmds, strs(argv))
	}
}

func strs(argv [][]byte) []string {
	s := make([]string, len(argv))
	for i, a := range argv {
		s[i] = string(a)
	}
	return s
}

func equalCmds(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

// tiny makes the limits small enough to reach in a table.
var tiny = Limits{MaxBulkLen: 10, MaxMultibulk: 4, MaxInline: 8}

type readerTest struct {
	name string
	in   string
	lim  Limits
	want [][]string
	// err is the protocol error's text, "partial" for a command cut off by
	// the end of input, or "" for a clean io.EOF.
	err string
}

var readerTests = []readerTest{
	// Multibulk.
	{name: "ping", in: "*1\r\n$4\r\nPING\r\n", want: [][]string{{"PING"}}},
	{name: "set", in: "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n", want: [][]string{{"SET", "k", "value"}}},
	{name: "empty bulk", in: "*2\r\n$3\r\nGET\r\n$0\r\n\r\n", want: [][]string{{"GET", ""}}},
	{name: "binary bulk", in: "*1\r\n$6\r\na\r\n\x00\nb\r\n", want: [][]string{{"a\r\n\x00\nb"}}},
	{name: "pipelined", in: "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n*1\r\n$4\r\nQUIT\r\n",
		want: [][]string{{"PING"}, {"ECHO", "hi"}, {"QUIT"}}},
	{name: "zero and negative counts skipped", in: "*0\r\n*-1\r\n*-100\r\n*1\r\n$1\r\nx\r\n", want: [][]string{{"x"}}},
	{name: "no CRLF after payload", in: "*2\r\n$3\r\nfooXY$3\r\nbar\r\n", want: [][]string{{"foo", "bar"}}},
	{name: "any byte after count CR", in: "*1\rX$1\r\nx\r\n", want: [][]string{{"x"}}},
	{name: "any byte after length CR", in: "*1\r\n$1\rXx\r\n", want: [][]string{{"x"}}},
	{name: "longest bulk", in: "*1\r\n$10\r\n0123456789\r\n", lim: tiny, want: [][]string{{"0123456789"}}},
	{name: "most args", in: "*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n", lim: tiny, want: [][]string{{"a", "b", "c", "d"}}},
	{name: "mixed with inline", in: "PING\r\n*1\r\n$4\r\nPING\r\nECHO x\n", want: [][]string{{"PING"}, {"PING"}, {"ECHO", "x"}}},
	{name: "cut in payload", in: "*2\r\n$3\r\nfoo\r\n$3\r\nba", want: nil, err: "partial"},
	{name: "cut after payload", in: "*1\r\n$3\r\nfoo", err: "partial"},
	{name: "cut before LF of count", in: "*1\r", err: "partial"},
	{name: "announced, not sent", in: "*1\r\n$536870912\r\nabc", err: "partial"},
	{name: "cut inline", in: "PING", err: "partial"},

	// Inline.
	{name: "inline LF", in: "PING\n", want: [][]string{{"PING"}}},
	{name: "inline spaces", in: "  SET  a \t b  \r\n", want: [][]string{{"SET", "a", "b"}}},
	{name: "empty lines skipped", in: "\r\n\n   \r\n\t\n", err: ""},
	{name: "vertical tab leads", in: "\v\fGET\tk\n", want: [][]string{{"GET", "k"}}},
	{name: "vertical tab inside", in: "a\vb\n", want: [][]string{{"a\vb"}}},
	{name: "CR inside separates", in: "a\rb\r\n", want: [][]string{{"a", "b"}}},
	{name: "only last CR dropped", in: "a\r\r\n", want: [][]string{{"a"}}},
	{name: "double quotes", in: `SET "a b" c` + "\n", want: [][]string{{"SET", "a b", "c"}}},
	{name: "escapes", in: `"\n\r\t\b\a\\\"\q\'"` + "\n", want: [][]string{{"\n\r\t\b\a\\\"q'"}}},
	{name: "hex", in: `"\x41\x4a\x00\xfF"` + "\n", want: [][]string{{"AJ\x00\xff"}}},
	{name: "bad hex", in: `"\xZZ" "\x4" "\x"` + "\n", want: [][]string{{"xZZ", "x4", "x"}}},
	{name: "single quotes", in: `'it\'s' 'a\nb' 'x\\y' 'q"'` + "\n", want: [][]string{{"it's", `a\nb`, `x\\y`, `q"`}}},
	{name: "empty quoted", in: `"" ''` + "\n", want: [][]string{{"", ""}}},
	{name: "quote mid argument", in: `a"b c" d'e f'` + "\n", want: [][]string{{"ab c", "de f"}}},
	{name: "blanks after quote", in: "\"a\"\t\"b\"\v'c'\f\r\n", want: [][]string{{"a", "b", "c"}}},
	{name: "quote then CR", in: "\"a\"\r\r\n", want: [][]string{{"a"}}},
	{name: "quoted CR kept", in: "\"a\rb\"\n", want: [][]string{{"a\rb"}}},
	{name: "longest inline", in: "12345678\n", lim: tiny, want: [][]string{{"12345678"}}},
	{name: "NUL stalls inline", in: "GET a\x00b\n", err: "partial"},

	// Errors.
	{name: "unbalanced double", in: `SET "abc` + "\n", err: "Protocol error: unbalanced quotes in request"},
	{name: "unbalanced single", in: "SET 'abc\r\n", err: "Protocol error: unbalanced quotes in request"},
	{name: "escaped closing quote", in: `"a\"` + "\n", err: "Protocol error: unbalanced quotes in request"},
	{name: "text after double quote", in: `"a"b` + "\n", err: "Protocol error: unbalanced quotes in request"},
	{name: "text after single quote", in: `'a'b` + "\n", err: "Protocol error: unbalanced quotes in request"},
	{name: "commands before an error", in: "PING\n*1\r\n$1\r\nx\r\n\"\n", want: [][]string{{"PING"}, {"x"}},
		err: "Protocol error: unbalanced quotes in request"},
	{name: "too big inline", in: "123456789", lim: tiny, err: "Protocol error: too big inline request"},
	{name: "too big inline with CRLF", in: "12345678\r\n", lim: tiny, err: "Protocol error: too big inline request"},
	{name: "NUL inline too big", in: "a\x00\n4567890", lim: tiny, err: "Protocol error: too big inline request"},
	{name: "too big mbulk count", in: "*12345678", lim: tiny, err: "Protocol error: too big mbulk count string"},
	{name: "NUL in count", in: "*1\x00\r\n67890", lim: tiny, err: "Protocol error: too big mbulk count string"},
	{name: "too big bulk count", in: "*1\r\n$12345678", lim: tiny, err: "Protocol error: too big bulk count string"},
	{name: "too big bulk count before $ check", in: "*1\r\nx12345678", lim: tiny, err: "Protocol error: too big bulk count string"},
	{name: "count not a number", in: "*abc\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "count empty", in: "*\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "count minus zero", in: "*-0\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "count leading zero", in: "*01\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "count plus", in: "*+1\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "count space", in: "*1 \r\n", err: "Protocol error: invalid multibulk length"},
	{name: "count overflow", in: "*99999999999999999999\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "count over limit", in: "*1048577\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "count at limit", in: "*1048576\r\n", err: "partial"},
	{name: "count over tiny", in: "*5\r\n", lim: tiny, err: "Protocol error: invalid multibulk length"},
	{name: "count over INT_MAX", in: "*2147483648\r\n", lim: Limits{MaxMultibulk: math.MaxInt}, err: "Protocol error: invalid multibulk length"},
	{name: "bulk negative", in: "*1\r\n$-1\r\n", err: "Protocol error: invalid bulk length"},
	{name: "bulk not a number", in: "*1\r\n$abc\r\n", err: "Protocol error: invalid bulk length"},
	{name: "bulk empty", in: "*1\r\n$\r\n", err: "Protocol error: invalid bulk length"},
	{name: "bulk leading zero", in: "*1\r\n$03\r\nabc\r\n", err: "Protocol error: invalid bulk length"},
	{name: "bulk over limit", in: "*1\r\n$536870913\r\n", err: "Protocol error: invalid bulk length"},
	{name: "bulk over tiny", in: "*1\r\n$11\r\n", lim: tiny, err: "Protocol error: invalid bulk length"},
	{name: "bulk int64 max", in: "*1\r\n$9223372036854775807\r\n", err: "Protocol error: invalid bulk length"},
	{name: "expected dollar", in: "*1\r\nx\r\n", err: "Protocol error: expected '$', got 'x'"},
	{name: "expected dollar, payload", in: "*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", err: "Protocol error: expected '$', got 'f'"},
	{name: "expected dollar, CR", in: "*1\r\n\r\n", err: "Protocol error: expected '$', got ' '"},
	{name: "expected dollar, star", in: "*2\r\n*1\r\n", err: "Protocol error: expected '$', got '*'"},

	// Unauthenticated.
	{name: "unauth count", in: "*11\r\n", lim: UnauthenticatedLimits(), err: "Protocol error: unauthenticated multibulk length"},
	{name: "unauth count ok", in: "*10\r\n", lim: UnauthenticatedLimits(), err: "partial"},
	{name: "unauth count invalid first", in: "*1048577\r\n", lim: UnauthenticatedLimits(), err: "Protocol error: invalid multibulk length"},
	{name: "unauth bulk", in: "*1\r\n$16385\r\n", lim: UnauthenticatedLimits(), err: "Protocol error: unauthenticated bulk length"},
	{name: "unauth bulk ok", in: "*1\r\n$16384\r\n", lim: UnauthenticatedLimits(), err: "partial"},
	{name: "unauth bulk invalid first", in: "*1\r\n$536870913\r\n", lim: UnauthenticatedLimits(), err: "Protocol error: invalid bulk length"},
	{name: "unauth inline", in: "a b c d e f g h i j k l\n", lim: UnauthenticatedLimits(),
		want: [][]string{{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}}},
}

func checkRead(t *testing.T, tt readerTest, cmds [][]string, err error) {
	t.Helper()
	if !equalCmds(cmds, tt.want) {
		t.Errorf("commands %q, want %q", cmds, tt.want)
	}
	switch tt.err {
	case "":
		if err != io.EOF {
			t.Errorf("error %v, want EOF", err)
		}
	case "partial":
		if err != io.ErrUnexpectedEOF {
			t.Errorf("error %v, want unexpected EOF", err)
		}
	default:
		var perr *ProtocolError
		if !errors.As(err, &perr) || perr.Error() != tt.err {
			t.Errorf("error %#v, want protocol error %q", err, tt.err)
		}
	}
}

func TestReader(t *testing.T) {
	for _, tt := range readerTests {
		t.Run(tt.name, func(t *testing.T) {
			readers := map[string]func() io.Reader{
				"whole":    func() io.Reader { return strings.NewReader(tt.in) },
				"one byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(tt.in)) },
				"data+EOF": func() io.Reader { return iotest.DataErrReader(strings.NewReader(tt.in)) },
			}
			for seed := range uint64(8) {
				readers["chunks"+string(rune('0'+seed))] = func() io.Reader { return newChunkReader([]byte(tt.in), seed, 7) }
			}
			for name, rd := range readers {
				t.Run(name, func(t *testing.T) {
					r := NewReader(rd(), tt.lim)
					cmds, err := readAll(r)
					checkRead(t, tt, cmds, err)
					if _, ok := err.(*ProtocolError); ok {
						if _, again := r.Next(true); again != err {
							t.Errorf("after %v, Next returned %v", err, again)
						}
					}
				})
			}
		})
	}
}

// TestReaderNonBlocking gathers pipelined commands with Next(false) and checks
// that all of them are intact when used together, as a server uses them.
func TestReaderNonBlocking(t *testing.T) {
	first := "*2\r\n$3\r\nGET\r\n$1\r\na\r\n" +
		"SET \"x\\x41y\" 'b\\'c'\r\n" +
		"\r\n*0\r\n" +
		"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$4\r\n\r\nxy\r\n" +
		"ECHO \"q\\n\"\n" +
		"*2\r\n$4\r\nECHO\r\n$5\r\nhel"
	second := "lo\r\nPING\r\n"
	want := [][]string{{"GET", "a"}, {"SET", "xAy", "b'c"}, {"SET", "b", "\r\nxy"}, {"ECHO", "q\n"}}

	rd := &scriptReader{chunks: []string{first, second}}
	r := NewReader(rd, DefaultLimits())
	var got [][][]byte
	argv, err := r.Next(true)
	for ; argv != nil && err == nil; argv, err = r.Next(false) {
		got = append(got, append([][]byte(nil), argv...))
	}
	if err != nil {
		t.Fatal(err)
	}
	if rd.reads != 1 {
		t.Fatalf("%d reads, want 1", rd.reads)
	}
	cmds := make([][]string, len(got))
	for i, argv := range got {
		cmds[i] = strs(argv)
	}
	if !equalCmds(cmds, want) {
		t.Fatalf("gathered %q, want %q", cmds, want)
	}
	if r.Buffered() != len("*2\r\n$4\r\nECHO\r\n$5\r\nhel") {
		t.Errorf("Buffered %d with a partial ECHO", r.Buffered())
	}

	cmds, err = readAll(r)
	if want := [][]string{{"ECHO", "hello"}, {"PING"}}; !equalCmds(cmds, want) || err != io.EOF {
		t.Fatalf("then %q, %v; want %q, EOF", cmds, err, want)
	}
}

// scriptReader returns each chunk in one Read.
type scriptReader struct {
	chunks []string
	reads  int
}

func (s *scriptReader) Read(p []byte) (int, error) {
	if len(s.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.chunks[0])
	if s.chunks[0] = s.chunks[0][n:]; s.chunks[0] == "" {
		s.chunks = s.chunks[1:]
	}
	s.reads++
	return n, nil
}

func TestReaderArgCapacity(t *testing.T) {
	r := NewReader(strings.NewReader("*2\r\n$1\r\na\r\n$1\r\nb\r\nSET x y\r\n"), DefaultLimits())
	for range 2 {
		argv, err := r.Next(true)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range argv {
			if cap(a) != len(a) {
				t.Errorf("arg %d %q has capacity %d", i, a, cap(a))
			}
		}
	}
}

// TestReaderAnnouncedBulk checks that a huge announced bulk costs only what
// was sent.
func TestReaderAnnouncedBulk(t *testing.T) {
	for _, in := range []string{
		"*1\r\n$536870912\r\n0123456789",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n0123456789",
		"*1048576\r\n$1\r\nx\r\n",
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r := NewReader(strings.NewReader(in), DefaultLimits())
		if _, err := r.Next(true); err != io.ErrUnexpectedEOF {
			t.Fatalf("%q: %v", in, err)
		}
		runtime.ReadMemStats(&after)
		if len(r.buf) > minBuf {
			t.Errorf("%q: buffer grew to %d", in, len(r.buf))
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Errorf("%q: allocated %d bytes", in, n)
		}
	}
}

// TestReaderBigBulk feeds a big bulk in small reads: the buffer follows the
// bytes, ends no bigger than the command, and is let go afterwards.
func TestReaderBigBulk(t *testing.T) {
	const size = 8 << 20
	payload := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	var in []byte
	in = append(in, "*2\r\n$3\r\nSET\r\n$8388608\r\n"...)
	cmdLen := len(in) + size + 2
	in = append(in, payload...)
	in = append(in, "\r\n*1\r\n$4\r\nPING\r\n"...)

	rd := newChunkReader(in, 1, 16<<10)
	r := NewReader(rd, DefaultLimits())
	argv, err := r.Next(true)
	if err != nil {
		t.Fatal(err)
	}
	if len(argv) != 2 || string(argv[0]) != "SET" || !bytes.Equal(argv[1], payload) {
		t.Fatalf("got %d args", len(argv))
	}
	if len(r.buf) > cmdLen {
		t.Errorf("buffer %d, command %d", len(r.buf), cmdLen)
	}
	if argv, err := r.Next(true); err != nil || len(argv) != 1 || string(argv[0]) != "PING" {
		t.Fatalf("then %q, %v", argv, err)
	}
	if _, err := r.Next(true); err != io.EOF {
		t.Fatal(err)
	}
	if len(r.buf) != minBuf {
		t.Errorf("buffer %d after the big command, want %d", len(r.buf), minBuf)
	}
}

func TestReaderManyArgsShrink(t *testing.T) {
	var in []byte
	in = append(in, "*5000\r\n"...)
	for range 5000 {
		in = append(in, "$1\r\nx\r\n"...)
	}
	in = append(in, "PING\r\n"...)
	r := NewReader(iotest.HalfReader(bytes.NewReader(in)), DefaultLimits())
	if argv, err := r.Next(true); err != nil || len(argv) != 5000 {
		t.Fatalf("%d args, %v", len(argv), err)
	}
	if argv, err := r.Next(true); err != nil || len(argv) != 1 {
		t.Fatalf("%q, %v", argv, err)
	}
	if _, err := r.Next(true); err != io.EOF {
		t.Fatal(err)
	}
	if cap(r.argv) > keepArgs || cap(r.spans) > keepArgs {
		t.Errorf("kept %d argv and %d spans", cap(r.argv), cap(r.spans))
	}
}

// errOnce fails its first read, then reads from rd.
type errOnce struct {
	rd     io.Reader
	err    error
	failed bool
}

func (e *errOnce) Read(p []byte) (int, error) {
	if !e.failed {
		e.failed = true
		return 0, e.err
	}
	return e.rd.Read(p)
}

func TestReaderReadErrors(t *testing.T) {
	timeout := errors.New("timeout")
	r := NewReader(&errOnce{rd: strings.NewReader("PING\r\n"), err: timeout}, DefaultLimits())
	if _, err := r.Next(true); err != timeout {
		t.Fatalf("got %v, want the read error", err)
	}
	if argv, err := r.Next(true); err != nil || string(argv[0]) != "PING" {
		t.Fatalf("after a read error: %q, %v", argv, err)
	}

	r = NewReader(iotest.TimeoutReader(strings.NewReader("*1\r\n$4\r\nPI")), DefaultLimits())
	if _, err := r.Next(true); err != iotest.ErrTimeout {
		t.Fatalf("got %v, want timeout", err)
	}
	if r.Buffered() != 10 {
		t.Fatalf("Buffered %d after timeout", r.Buffered())
	}

	r = NewReader(zeroReader{}, DefaultLimits())
	if _, err := r.Next(true); err != io.ErrNoProgress {
		t.Fatalf("got %v, want ErrNoProgress", err)
	}
	if argv, err := r.Next(false); argv != nil || err != nil {
		t.Fatalf("non-blocking on empty: %q, %v", argv, err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

// TestReaderSetLimits lifts the unauthenticated limits after the command
// that authenticates, as a server does after AUTH.
func TestReaderSetLimits(t *testing.T) {
	in := "AUTH pw\r\n*11\r\n" + strings.Repeat("$1\r\nx\r\n", 11)
	r := NewReader(strings.NewReader(in), UnauthenticatedLimits())
	if argv, err := r.Next(true); err != nil || string(argv[0]) != "AUTH" {
		t.Fatalf("%q, %v", argv, err)
	}
	r.SetLimits(DefaultLimits())
	if argv, err := r.Next(true); err != nil || len(argv) != 11 {
		t.Fatalf("%d args, %v", len(argv), err)
	}
}

func TestReaderZeroAllocs(t *testing.T) {
	for _, cmd := range []string{
		"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n",
		"*3\r\n$12\r\nEVENT.APPEND\r\n$8\r\nstream-1\r\n$18\r\n{\"type\":\"created\"}\r\n",
		"SET \"a\\x41\" 'b'\r\n",
	} {
		r := NewReader(&cyclicReader{data: []byte(strings.Repeat(cmd, 50))}, DefaultLimits())
		for range 1000 {
			r.Next(true)
		}
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := r.Next(true); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%q: %v allocs per command", cmd, allocs)
		}
	}
}

func TestParseInt(t *testing.T) {
	for _, tt := range []struct {
		in string
		n  int64
		ok bool
	}{
		{"0", 0, true},
		{"7", 7, true},
		{"-7", -7, true},
		{"1234567890", 1234567890, true},
		{"9223372036854775807", math.MaxInt64, true},
		{"-9223372036854775808", math.MinInt64, true},
		{"9223372036854775808", 0, false},
		{"-9223372036854775809", 0, false},
		{"18446744073709551616", 0, false},
		{"-0", 0, false},
		{"00", 0, false},
		{"01", 0, false},
		{"+1", 0, false},
		{"-", 0, false},
		{"", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"1a", 0, false},
		{"-00000000000000000001", 0, false},
	} {
		n, ok := parseInt([]byte(tt.in))
		if n != tt.n || ok != tt.ok {
			t.Errorf("parseInt(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.n, tt.ok)
		}
	}
}

func TestLimits(t *testing.T) {
	if err := DefaultLimits().Validate(); err != nil {
		t.Error(err)
	}
	if err := UnauthenticatedLimits().Validate(); err != nil {
		t.Error(err)
	}
	for _, l := range []Limits{
		{MaxBulkLen: -1},
		{MaxMultibulk: -1},
		{MaxMultibulk: math.MaxInt32 + 1},
		{MaxInline: -1},
		{UnauthMaxBulkLen: -1},
		{UnauthMaxMultibulk: -1},
	} {
		if l.Validate() == nil {
			t.Errorf("%+v is valid", l)
		}
	}
	if got := (Limits{}).withDefaults(); got != DefaultLimits() {
		t.Errorf("zero limits are %+v", got)
	}
}
