package resp

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/redcon"
)

// refParse is a model of the Reader for tests: it parses a whole input at
// once, straight from Redis's C code, with no buffering, state or in-place
// unescaping. It returns the commands, the protocol error's text or "", and
// whether input was left over.
func refParse(in []byte, lim Limits) (cmds [][]string, perr string, partial bool) {
	lim = lim.withDefaults()
	// line finds delim as strchr does, and applies the size rule.
	line := func(rest []byte, delim byte, tooBig string) (int, string, bool) {
		i := refStrchr(rest, delim)
		if i < 0 || i > lim.MaxInline {
			if len(rest) > lim.MaxInline {
				return -1, tooBig, false
			}
			return -1, "", true
		}
		return i, "", false
	}
	q := 0
	for q < len(in) {
		rest := in[q:]
		if rest[0] != '*' {
			nl, e, more := line(rest, '\n', "Protocol error: too big inline request")
			if nl < 0 {
				return cmds, e, more
			}
			l := rest[:nl]
			if len(l) > 0 && l[len(l)-1] == '\r' {
				l = l[:len(l)-1]
			}
			args, ok := refSplitArgs(string(l))
			if !ok {
				return cmds, "Protocol error: unbalanced quotes in request", false
			}
			if len(args) > 0 {
				cmds = append(cmds, args)
			}
			q += nl + 1
			continue
		}
		cr, e, more := line(rest, '\r', "Protocol error: too big mbulk count string")
		if cr < 0 {
			return cmds, e, more
		}
		if cr+1 >= len(rest) {
			return cmds, "", true
		}
		n, ok := refAtoi(rest[1:cr])
		if !ok || n > int64(min(lim.MaxMultibulk, 1<<31-1)) {
			return cmds, "Protocol error: invalid multibulk length", false
		}
		if lim.UnauthMaxMultibulk > 0 && n > int64(lim.UnauthMaxMultibulk) {
			return cmds, "Protocol error: unauthenticated multibulk length", false
		}
		p := q + cr + 2
		args := []string{}
		for range max(n, 0) {
			rest = in[p:]
			cr, e, more := line(rest, '\r', "Protocol error: too big bulk count string")
			if cr < 0 {
				return cmds, e, more
			}
			if cr+1 >= len(rest) {
				return cmds, "", true
			}
			if rest[0] != '$' {
				got := strings.NewReplacer("\r", " ", "\n", " ").Replace(string(rest[:1]))
				return cmds, "Protocol error: expected '$', got '" + got + "'", false
			}
			bl, ok := refAtoi(rest[1:cr])
			if !ok || bl < 0 || bl > lim.MaxBulkLen {
				return cmds, "Protocol error: invalid bulk length", false
			}
			if lim.UnauthMaxBulkLen > 0 && bl > lim.UnauthMaxBulkLen {
				return cmds, "Protocol error: unauthenticated bulk length", false
			}
			p += cr + 2
			if int64(len(in)-p) < bl+2 {
				return cmds, "", true
			}
			args = append(args, string(in[p:p+int(bl)]))
			p += int(bl) + 2
		}
		if n > 0 {
			cmds = append(cmds, args)
		}
		q = p
	}
	return cmds, "", false
}

// refStrchr is C's strchr over a buffer that a NUL byte would end.
func refStrchr(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
		if x == 0 {
			return -1
		}
	}
	return -1
}

// refAtoi accepts what string2ll accepts: the canonical decimal form of an
// int64.
func refAtoi(b []byte) (int64, bool) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil && strconv.FormatInt(n, 10) == string(b)
}

// refSplitArgs is sdssplitargs, transcribed.
func refSplitArgs(line string) ([]string, bool) {
	at := func(i int) byte {
		if i < len(line) {
			return line[i]
		}
		return 0
	}
	isspace := func(c byte) bool { return strings.IndexByte(" \t\n\v\f\r", c) >= 0 && c != 0 }
	var argv []string
	p := 0
	for {
		for at(p) != 0 && isspace(at(p)) {
			p++
		}
		if at(p) == 0 {
			return argv, true
		}
		var cur strings.Builder
		inq, insq, done := false, false, false
		for !done {
			if inq {
				if at(p) == '\\' && at(p+1) == 'x' && isHex(at(p+2)) && isHex(at(p+3)) {
					v, _ := strconv.ParseUint(line[p+2:p+4], 16, 8)
					cur.WriteByte(byte(v))
					p += 3
				} else if at(p) == '\\' && at(p+1) != 0 {
					p++
					c := at(p)
					switch c {
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case 't':
						c = '\t'
					case 'b':
						c = '\b'
					case 'a':
						c = '\a'
					}
					cur.WriteByte(c)
				} else if at(p) == '"' {
					if at(p+1) != 0 && !isspace(at(p+1)) {
						return nil, false
					}
					done = true
				} else if at(p) == 0 {
					return nil, false
				} else {
					cur.WriteByte(at(p))
				}
			} else if insq {
				if at(p) == '\\' && at(p+1) == '\'' {
					p++
					cur.WriteByte('\'')
				} else if at(p) == '\'' {
					if at(p+1) != 0 && !isspace(at(p+1)) {
						return nil, false
					}
					done = true
				} else if at(p) == 0 {
					return nil, false
				} else {
					cur.WriteByte(at(p))
				}
			} else {
				switch at(p) {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					cur.WriteByte(at(p))
				}
			}
			if at(p) != 0 {
				p++
			}
		}
		argv = append(argv, cur.String())
	}
}

func TestRefParse(t *testing.T) {
	for _, tt := range readerTests {
		cmds, perr, partial := refParse([]byte(tt.in), tt.lim)
		var err error
		switch {
		case perr != "":
			err = &ProtocolError{perr}
		case partial:
			err = io.ErrUnexpectedEOF
		default:
			err = io.EOF
		}
		t.Run(tt.name, func(t *testing.T) { checkRead(t, tt, cmds, err) })
	}
}

func addSeeds(f *testing.F) {
	for _, tt := range readerTests {
		f.Add([]byte(tt.in), uint64(len(tt.in)), uint8(8))
	}
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\nSET a 'b c'\r\n"), uint64(7), uint8(200))
}

// FuzzReader checks the Reader against refParse under random reads, with
// blocking and non-blocking calls mixed, and checks that the arguments of
// commands gathered without blocking all stay intact until the next
// blocking call.
func FuzzReader(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte, seed uint64, small uint8) {
		lim := DefaultLimits()
		if small != 0 {
			lim = Limits{MaxBulkLen: int64(small), MaxMultibulk: int(small%16) + 1, MaxInline: int(small%32) + 1}
			if small%3 == 0 {
				lim = lim.Unauthenticated()
				lim.UnauthMaxMultibulk, lim.UnauthMaxBulkLen = int(small%5)+1, int64(small%7)+1
			}
		}
		wantCmds, wantErr, partial := refParse(bytes.Clone(in), lim)

		rng := rand.New(rand.NewPCG(seed, 2))
		r := NewReader(newChunkReader(bytes.Clone(in), seed, 1+int(seed%64)), lim)
		var cmds [][]string
		var held [][]byte // args returned since the last blocking call
		var heldCopies []string
		var err error
		for {
			block := rng.IntN(3) == 0
			if block {
				for i, a := range held {
					if string(a) != heldCopies[i] {
						t.Fatalf("arg %q changed to %q before a blocking call", heldCopies[i], a)
					}
				}
				held, heldCopies = held[:0], heldCopies[:0]
			}
			var argv [][]byte
			argv, err = r.Next(block)
			if err != nil {
				break
			}
			if argv == nil {
				if block {
					t.Fatal("blocking Next returned no command and no error")
				}
				argv, err = r.Next(true)
				held, heldCopies = held[:0], heldCopies[:0]
				if err != nil {
					break
				}
			}
			if len(argv) == 0 {
				t.Fatal("empty command")
			}
			cmds = append(cmds, strs(argv))
			for _, a := range argv {
				held = append(held, a)
				heldCopies = append(heldCopies, string(a))
			}
		}
		if !equalCmds(cmds, wantCmds) {
			t.Fatalf("commands %q, want %q", cmds, wantCmds)
		}
		var perr *ProtocolError
		switch {
		case wantErr != "":
			if !errors.As(err, &perr) || perr.Error() != wantErr {
				t.Fatalf("error %v, want %q", err, wantErr)
			}
		case partial:
			if err != io.ErrUnexpectedEOF {
				t.Fatalf("error %v, want unexpected EOF", err)
			}
		case err != io.EOF:
			t.Fatalf("error %v, want EOF", err)
		}
		if len(r.buf) > max(minBuf, 2*len(in)) {
			t.Fatalf("buffer of %d for %d bytes of input", len(r.buf), len(in))
		}
	})
}

// FuzzRoundTrip encodes arguments as multibulk commands and reads them back
// under random reads.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("SET\x00key\x00value"), uint64(1))
	f.Add([]byte("\r\n\x00\x00*1\r\n$3\r\n\x00\"'"), uint64(2))
	f.Add([]byte{}, uint64(3))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 3))
		var args []string
		for _, a := range bytes.Split(data, []byte{0}) {
			args = append(args, string(a))
		}
		cmds := [][]string{args}
		for range rng.IntN(4) {
			cmds = append(cmds, args[rng.IntN(len(args)):])
		}
		var in []byte
		for _, c := range cmds {
			in = redcon.AppendArray(in, len(c))
			for _, a := range c {
				in = redcon.AppendBulkString(in, a)
			}
		}
		r := NewReader(newChunkReader(in, seed, 1+int(seed%100)), DefaultLimits())
		got, err := readAll(r)
		if err != io.EOF {
			t.Fatal(err)
		}
		if !equalCmds(got, cmds) {
			t.Fatalf("read %q, wrote %q", got, cmds)
		}
	})
}
