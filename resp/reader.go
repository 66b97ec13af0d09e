package resp

import (
	"bytes"
	"errors"
	"io"
	"math"
)

const (
	// minBuf is the input buffer a Reader starts with, Redis's PROTO_IOBUF_LEN.
	minBuf = 16 << 10
	// keepBuf is the largest buffer kept once the unfinished command in it
	// fits in minBuf/2; a bigger one is dropped for a fresh minBuf one.
	keepBuf = 64 << 10
	// keepArgs is the most argument slots kept from one command to the next.
	keepArgs = 1024
	// maxEmptyReads is how many (0, nil) reads in a row are taken as a
	// broken io.Reader, as in bufio.
	maxEmptyReads = 100
)

// ProtocolError is a request that breaks the protocol. Its text is what
// Redis sends after "-ERR ". A Reader that returned one returns it forever:
// Redis replies with the error and closes the connection.
type ProtocolError struct {
	msg string
}

func (e *ProtocolError) Error() string { return e.msg }

var (
	errTooBigInline   = &ProtocolError{"Protocol error: too big inline request"}
	errTooBigMbulk    = &ProtocolError{"Protocol error: too big mbulk count string"}
	errTooBigBulk     = &ProtocolError{"Protocol error: too big bulk count string"}
	errUnbalanced     = &ProtocolError{"Protocol error: unbalanced quotes in request"}
	errInvalidMbulk   = &ProtocolError{"Protocol error: invalid multibulk length"}
	errInvalidBulk    = &ProtocolError{"Protocol error: invalid bulk length"}
	errUnauthMbulk    = &ProtocolError{"Protocol error: unauthenticated multibulk length"}
	errUnauthBulk     = &ProtocolError{"Protocol error: unauthenticated bulk length"}
	errInvalidRead    = errors.New("resp: reader returned an invalid count")
	errExpectedDollar = "Protocol error: expected '$', got '"
)

// expectedDollar is the error for a bulk that starts with c. Redis replaces
// CR and LF in error texts by spaces.
func expectedDollar(c byte) *ProtocolError {
	if c == '\r' || c == '\n' {
		c = ' '
	}
	return &ProtocolError{errExpectedDollar + string([]byte{c}) + "'"}
}

// Reader reads requests, inline or multibulk, with the semantics and limits
// of Redis's processInlineBuffer and processMultibulkBuffer. It keeps the
// state of a partly received command, so each read costs in proportion to
// the bytes it brings, and its buffer grows only as bytes arrive, never to a
// length a client merely announced. A Reader is not safe for concurrent use.
type Reader struct {
	rd  io.Reader
	lim Limits

	buf   []byte
	start int // buf[start:end] is read but not yet returned as commands
	end   int
	pos   int // where parsing of the command at start goes on
	scan  int // buf[pos:scan] holds no terminator of the line at pos, or MaxInt

	inMulti bool   // the count line of the command at start is parsed
	want    int    // bulks still to come
	bulkLen int64  // length of the bulk at pos, or -1 before its length line
	spans   []span // bulks parsed so far
	argv    [][]byte

	err  error // the protocol error that ended the Reader
	rerr error // returned by rd along with data; reported by the next read
}

// span is a bulk at buf[start+off:start+off+n]. Offsets from start survive
// the moves of a partly received command to the front of the buffer.
type span struct{ off, n int }

// NewReader returns a Reader of rd with the given limits.
func NewReader(rd io.Reader, lim Limits) *Reader {
	return &Reader{rd: rd, lim: lim.withDefaults(), bulkLen: -1}
}

// SetLimits changes the limits for every line not yet parsed, as after AUTH.
func (r *Reader) SetLimits(lim Limits) {
	r.lim = lim.withDefaults()
}

// Buffered returns how many bytes were read but not yet returned as
// commands.
func (r *Reader) Buffered() int {
	return r.end - r.start
}

// Next returns the arguments of the next command. Empty inline lines and
// multibulk counts of zero or less are skipped, as Redis skips them.
//
// With block false Next never reads: it returns (nil, nil) when no complete
// command is buffered. With block true it reads from rd until a command is
// complete or reading fails. A read error is returned as it came, except
// that io.EOF inside a command becomes io.ErrUnexpectedEOF; nothing buffered
// is lost, so a caller may call again after a timeout. A protocol error is a
// *ProtocolError and ends the Reader.
//
// The arguments alias the Reader's buffer. They stay valid, and unchanged,
// until the next call with block true: calls with block false never move or
// overwrite the bytes of commands they returned, so a caller can gather
// several pipelined commands and use them all before blocking again. Each
// argument's capacity ends at its length, so appending to one copies it.
// The outer slice is reused by the next call of either kind.
func (r *Reader) Next(block bool) ([][]byte, error) {
	for {
		if r.err != nil {
			return nil, r.err
		}
		argv, err := r.parse()
		if err != nil {
			r.err = err
			return nil, err
		}
		if argv != nil || !block {
			return argv, nil
		}
		if err := r.fill(); err != nil {
			return nil, err
		}
	}
}

// parse returns the next complete command in the buffer, or nil.
func (r *Reader) parse() ([][]byte, error) {
	for {
		if !r.inMulti {
			if r.start == r.end {
				return nil, nil
			}
			if r.buf[r.start] != '*' {
				argv, ok, err := r.inline()
				if !ok {
					return nil, err
				}
				if len(argv) > 0 {
					return argv, nil
				}
				continue
			}
			if ok, err := r.count(); !ok {
				return nil, err
			}
			if !r.inMulti {
				continue
			}
		}
		for r.want > 0 {
			if ok, err := r.bulk(); !ok {
				return nil, err
			}
		}
		r.argv = r.argv[:0]
		for _, s := range r.spans {
			a := r.start + s.off
			r.argv = append(r.argv, r.buf[a:a+s.n:a+s.n])
		}
		r.start, r.inMulti = r.pos, false
		return r.argv, nil
	}
}

// line finds the terminator of the line at pos: the first delim, as long as
// no NUL byte comes before it (Redis looks with strchr) and it is among the
// line's first MaxInline+1 bytes. It returns its index, or -1 while the line
// is incomplete, or tooBig once more than MaxInline bytes wait without one.
//
// Redis checks the size only when a read brings no terminator, so a line
// a little over MaxInline that arrives in one read can pass there; here the
// outcome does not depend on how the bytes were split into reads.
func (r *Reader) line(delim byte, tooBig *ProtocolError) (int, error) {
	r.scan = max(r.scan, r.pos)
	end := r.end
	if end-r.pos > r.lim.MaxInline {
		end = r.pos + r.lim.MaxInline + 1
	}
	if r.scan < end {
		seg := r.buf[r.scan:end]
		i := bytes.IndexByte(seg, delim)
		before := seg
		if i >= 0 {
			before = seg[:i]
		}
		switch {
		case bytes.IndexByte(before, 0) >= 0:
			r.scan = math.MaxInt // this line can never end
		case i >= 0:
			r.scan += i
			return r.scan, nil
		default:
			r.scan = end
		}
	}
	if r.end-r.pos > r.lim.MaxInline {
		return -1, tooBig
	}
	return -1, nil
}

// inline parses the inline command at start, splitting its line in place.
func (r *Reader) inline() ([][]byte, bool, error) {
	nl, err := r.line('\n', errTooBigInline)
	if nl < 0 {
		return nil, false, err
	}
	end := nl
	if end > r.pos && r.buf[end-1] == '\r' {
		end--
	}
	argv, ok := splitArgs(r.argv[:0], r.buf[r.pos:end])
	if !ok {
		return nil, false, errUnbalanced
	}
	r.argv = argv
	r.start, r.pos = nl+1, nl+1
	return argv, true, nil
}

// count parses the count line of the multibulk command at start. Like
// Redis it needs one byte after the CR and skips it, whatever it is.
func (r *Reader) count() (bool, error) {
	cr, err := r.line('\r', errTooBigMbulk)
	if cr < 0 || cr+1 >= r.end {
		return false, err
	}
	n, ok := parseInt(r.buf[r.pos+1 : cr])
	if !ok || n > int64(r.lim.MaxMultibulk) {
		return false, errInvalidMbulk
	}
	if r.lim.UnauthMaxMultibulk > 0 && n > int64(r.lim.UnauthMaxMultibulk) {
		return false, errUnauthMbulk
	}
	r.pos = cr + 2
	if n <= 0 {
		r.start = r.pos
		return true, nil
	}
	r.inMulti, r.want, r.bulkLen, r.spans = true, int(n), -1, r.spans[:0]
	return true, nil
}

// bulk parses the next bulk of the multibulk command at start. Like Redis it
// skips the two bytes after the payload without looking at them.
func (r *Reader) bulk() (bool, error) {
	if r.bulkLen < 0 {
		cr, err := r.line('\r', errTooBigBulk)
		if cr < 0 || cr+1 >= r.end {
			return false, err
		}
		if c := r.buf[r.pos]; c != '$' {
			return false, expectedDollar(c)
		}
		n, ok := parseInt(r.buf[r.pos+1 : cr])
		if !ok || n < 0 || n > r.lim.MaxBulkLen {
			return false, errInvalidBulk
		}
		if r.lim.UnauthMaxBulkLen > 0 && n > r.lim.UnauthMaxBulkLen {
			return false, errUnauthBulk
		}
		r.pos, r.bulkLen = cr+2, n
	}
	if int64(r.end-r.pos) < r.bulkLen+2 {
		return false, nil
	}
	n := int(r.bulkLen)
	r.spans = append(r.spans, span{r.pos - r.start, n})
	r.pos += n + 2
	r.bulkLen = -1
	r.want--
	return true, nil
}

// fill reads once into the buffer. Only blocking calls get here, so the
// commands returned before may be moved over.
func (r *Reader) fill() error {
	if err := r.rerr; err != nil {
		r.rerr = nil
		return r.readError(err)
	}
	r.compact()
	if r.end == len(r.buf) {
		r.grow()
	}
	for range maxEmptyReads {
		n, err := r.rd.Read(r.buf[r.end:])
		if n < 0 || n > len(r.buf)-r.end {
			return errInvalidRead
		}
		r.end += n
		if n > 0 {
			r.rerr = err
			return nil
		}
		if err != nil {
			return r.readError(err)
		}
	}
	return io.ErrNoProgress
}

func (r *Reader) readError(err error) error {
	if err == io.EOF && r.end > r.start {
		return io.ErrUnexpectedEOF
	}
	return err
}

// compact moves the unfinished command to the front of the buffer, and
// trades a big buffer for a small one once that command fits in it.
func (r *Reader) compact() {
	live := r.end - r.start
	if len(r.buf) == 0 || (len(r.buf) > keepBuf && live <= minBuf/2) {
		buf := make([]byte, minBuf)
		copy(buf, r.buf[r.start:r.end])
		r.buf = buf
	} else if r.start > 0 {
		copy(r.buf, r.buf[r.start:r.end])
	}
	r.pos -= r.start
	r.scan -= r.start
	r.start, r.end = 0, live
	if cap(r.argv) > keepArgs {
		r.argv = nil
	}
	if !r.inMulti && cap(r.spans) > keepArgs {
		r.spans = nil
	}
}

// grow doubles the full buffer, but not past the end of a bulk whose length
// is known: the buffer follows the bytes that came, not the ones announced.
func (r *Reader) grow() {
	size := 2 * len(r.buf)
	if r.inMulti && r.bulkLen >= 0 {
		size = int(min(int64(size), int64(r.pos)+r.bulkLen+2))
	}
	buf := make([]byte, size)
	copy(buf, r.buf[:r.end])
	r.buf = buf
}

// parseInt is Redis's string2ll: an optional '-', then digits without a
// leading zero (or a lone "0"), at most 20 bytes, within int64.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1)/10 || v*10 > 1<<64-1-d {
			return 0, false
		}
		v = v*10 + d
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v-1) - 1, true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}
