package resp

import (
	"io"
	"strconv"

	"github.com/tidwall/redcon"
)

// Writer buffers replies in RESP2 or RESP3 and writes them out on Flush.
// Replies are only appended to a buffer that is reused from one Flush to the
// next, so writing them allocates nothing once the buffer has grown to the
// size of a flush. A Writer is not safe for concurrent use.
type Writer struct {
	w       io.Writer
	buf     []byte
	off     int // buf[:off] is written already (FlushSome)
	proto   int
	err     error
	scratch [32]byte
}

// NewWriter returns a Writer to w that speaks RESP2, as every Redis
// connection does until HELLO 3.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, proto: 2}
}

// SetProto sets the protocol of the replies that follow: 3 for RESP3, any
// other value for RESP2.
func (w *Writer) SetProto(p int) {
	if p != 3 {
		p = 2
	}
	w.proto = p
}

// Proto returns 2 or 3.
func (w *Writer) Proto() int {
	return w.proto
}

// OK writes +OK.
func (w *Writer) OK() {
	w.buf = redcon.AppendOK(w.buf)
}

// Simple writes a simple string, with CR and LF in s replaced by spaces.
func (w *Writer) Simple(s string) {
	w.buf = redcon.AppendString(w.buf, s)
}

// Error writes an error reply. s starts with its code, such as "ERR" or
// "WRONGTYPE"; CR and LF in it are replaced by spaces.
func (w *Writer) Error(s string) {
	w.buf = redcon.AppendError(w.buf, s)
}

// Int writes an integer.
func (w *Writer) Int(n int64) {
	w.buf = redcon.AppendInt(w.buf, n)
}

// Bulk writes a bulk string. A nil b is an empty string, not a null.
func (w *Writer) Bulk(b []byte) {
	w.buf = redcon.AppendBulk(w.buf, b)
}

// BulkString writes a bulk string.
func (w *Writer) BulkString(s string) {
	w.buf = redcon.AppendBulkString(w.buf, s)
}

// Null writes a null: $-1 in RESP2, _ in RESP3.
func (w *Writer) Null() {
	if w.proto == 3 {
		w.buf = append(w.buf, "_\r\n"...)
		return
	}
	w.buf = redcon.AppendNull(w.buf)
}

// NullArray writes a null array: *-1 in RESP2, _ in RESP3.
func (w *Writer) NullArray() {
	if w.proto == 3 {
		w.buf = append(w.buf, "_\r\n"...)
		return
	}
	w.buf = append(w.buf, "*-1\r\n"...)
}

// Array starts an array of n elements; the caller writes them next.
func (w *Writer) Array(n int) {
	w.buf = redcon.AppendArray(w.buf, n)
}

// Push starts an out-of-band message of n elements (Pub/Sub): a RESP3
// push, or in RESP2 an array, as Redis sends.
func (w *Writer) Push(n int) {
	if w.proto == 3 {
		w.buf = appendPrefix(w.buf, '>', int64(n))
		return
	}
	w.buf = redcon.AppendArray(w.buf, n)
}

// Map starts a map of n key-value pairs; the caller writes 2n elements next,
// each key before its value. RESP2 has no maps, so there it is an array of
// 2n elements, as Redis sends.
func (w *Writer) Map(n int) {
	if w.proto == 3 {
		w.buf = appendPrefix(w.buf, '%', int64(n))
		return
	}
	w.buf = redcon.AppendArray(w.buf, 2*n)
}

// Set starts a set of n elements: an array in RESP2.
func (w *Writer) Set(n int) {
	if w.proto == 3 {
		w.buf = appendPrefix(w.buf, '~', int64(n))
		return
	}
	w.buf = redcon.AppendArray(w.buf, n)
}

// Double writes f as Redis 7.2 formats doubles: a RESP3 double, or in RESP2
// a bulk string of the same text. See appendDouble.
func (w *Writer) Double(f float64) {
	if w.proto == 3 {
		w.buf = append(w.buf, ',')
		w.buf = appendDouble(w.buf, f)
		w.buf = append(w.buf, '\r', '\n')
		return
	}
	w.buf = redcon.AppendBulk(w.buf, appendDouble(w.scratch[:0], f))
}

// Bool writes a RESP3 boolean, or in RESP2 the integer 1 or 0.
func (w *Writer) Bool(b bool) {
	if w.proto == 3 {
		if b {
			w.buf = append(w.buf, "#t\r\n"...)
		} else {
			w.buf = append(w.buf, "#f\r\n"...)
		}
		return
	}
	var n int64
	if b {
		n = 1
	}
	w.buf = redcon.AppendInt(w.buf, n)
}

// Verbatim writes s as a RESP3 verbatim string of the given three-letter
// format ("txt", "mkd"), or in RESP2 as a bulk string. As in Redis, a longer
// format is cut to three bytes and a shorter one padded with spaces.
func (w *Writer) Verbatim(format string, s string) {
	if w.proto != 3 {
		w.buf = redcon.AppendBulkString(w.buf, s)
		return
	}
	w.buf = appendPrefix(w.buf, '=', int64(len(s)+4))
	for i := range 3 {
		c := byte(' ')
		if i < len(format) {
			c = format[i]
		}
		w.buf = append(w.buf, c)
	}
	w.buf = append(w.buf, ':')
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
}

// Raw writes b as it is; it must be whole RESP.
func (w *Writer) Raw(b []byte) {
	w.buf = append(w.buf, b...)
}

// Buffered returns how many bytes wait for Flush.
func (w *Writer) Buffered() int {
	return len(w.buf) - w.off
}

// Flush writes the buffered replies. Once a write fails, Flush returns that
// error forever and the replies are dropped. A buffer that a big reply grew
// past 64 KiB is released after it is written, so an idle connection does
// not keep it.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == w.off {
		return nil
	}
	n, err := w.w.Write(w.buf[w.off:])
	if err == nil && n < len(w.buf)-w.off {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.fail(err)
		return err
	}
	w.reset()
	return nil
}

// FlushSome is Flush for an io.Writer that may take only part of the
// buffer without an error, as a non-blocking socket does: it writes once,
// keeps what was not taken for the next call and returns its length.
func (w *Writer) FlushSome() (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if len(w.buf) == w.off {
		return 0, nil
	}
	n, err := w.w.Write(w.buf[w.off:])
	if err != nil {
		w.fail(err)
		return 0, err
	}
	if w.off += n; w.off < len(w.buf) {
		return len(w.buf) - w.off, nil
	}
	w.reset()
	return 0, nil
}

func (w *Writer) fail(err error) {
	w.err = err
	w.buf, w.off = nil, 0
}

func (w *Writer) reset() {
	w.off = 0
	if cap(w.buf) > keepBuf {
		w.buf = nil
	} else {
		w.buf = w.buf[:0]
	}
}

// appendPrefix appends a RESP type byte, n and CRLF; redcon has it for the
// RESP2 types only.
func appendPrefix(b []byte, c byte, n int64) []byte {
	b = append(b, c)
	b = strconv.AppendInt(b, n, 10)
	return append(b, '\r', '\n')
}
