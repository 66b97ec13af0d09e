package resp

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

func TestWriter(t *testing.T) {
	for _, tt := range []struct {
		name         string
		write        func(w *Writer)
		resp2, resp3 string
	}{
		{"ok", (*Writer).OK, "+OK\r\n", "+OK\r\n"},
		{"simple", func(w *Writer) { w.Simple("PONG") }, "+PONG\r\n", "+PONG\r\n"},
		{"simple newlines", func(w *Writer) { w.Simple("a\r\nb") }, "+a  b\r\n", "+a  b\r\n"},
		{"error", func(w *Writer) { w.Error("WRONGVERSION stream is at 3") },
			"-WRONGVERSION stream is at 3\r\n", "-WRONGVERSION stream is at 3\r\n"},
		{"error newlines", func(w *Writer) { w.Error("ERR a\nb\rc") }, "-ERR a b c\r\n", "-ERR a b c\r\n"},
		{"int", func(w *Writer) { w.Int(-42) }, ":-42\r\n", ":-42\r\n"},
		{"int min", func(w *Writer) { w.Int(math.MinInt64) }, ":-9223372036854775808\r\n", ":-9223372036854775808\r\n"},
		{"bulk", func(w *Writer) { w.Bulk([]byte("a\r\nb")) }, "$4\r\na\r\nb\r\n", "$4\r\na\r\nb\r\n"},
		{"bulk nil", func(w *Writer) { w.Bulk(nil) }, "$0\r\n\r\n", "$0\r\n\r\n"},
		{"bulk string", func(w *Writer) { w.BulkString("hello") }, "$5\r\nhello\r\n", "$5\r\nhello\r\n"},
		{"null", (*Writer).Null, "$-1\r\n", "_\r\n"},
		{"null array", (*Writer).NullArray, "*-1\r\n", "_\r\n"},
		{"array", func(w *Writer) { w.Array(2); w.Int(1); w.BulkString("x") }, "*2\r\n:1\r\n$1\r\nx\r\n", "*2\r\n:1\r\n$1\r\nx\r\n"},
		{"empty array", func(w *Writer) { w.Array(0) }, "*0\r\n", "*0\r\n"},
		{"map", func(w *Writer) { w.Map(1); w.BulkString("k"); w.Int(1) }, "*2\r\n$1\r\nk\r\n:1\r\n", "%1\r\n$1\r\nk\r\n:1\r\n"},
		{"big map", func(w *Writer) { w.Map(12) }, "*24\r\n", "%12\r\n"},
		{"set", func(w *Writer) { w.Set(2) }, "*2\r\n", "~2\r\n"},
		{"double", func(w *Writer) { w.Double(1.5) }, "$3\r\n1.5\r\n", ",1.5\r\n"},
		{"double integral", func(w *Writer) { w.Double(3) }, "$1\r\n3\r\n", ",3\r\n"},
		{"double inf", func(w *Writer) { w.Double(math.Inf(1)) }, "$3\r\ninf\r\n", ",inf\r\n"},
		{"double -inf", func(w *Writer) { w.Double(math.Inf(-1)) }, "$4\r\n-inf\r\n", ",-inf\r\n"},
		{"double nan", func(w *Writer) { w.Double(math.NaN()) }, "$3\r\nnan\r\n", ",nan\r\n"},
		{"bool true", func(w *Writer) { w.Bool(true) }, ":1\r\n", "#t\r\n"},
		{"bool false", func(w *Writer) { w.Bool(false) }, ":0\r\n", "#f\r\n"},
		{"verbatim", func(w *Writer) { w.Verbatim("txt", "Some string") }, "$11\r\nSome string\r\n", "=15\r\ntxt:Some string\r\n"},
		{"verbatim short format", func(w *Writer) { w.Verbatim("md", "x") }, "$1\r\nx\r\n", "=5\r\nmd :x\r\n"},
		{"verbatim long format", func(w *Writer) { w.Verbatim("markdown", "") }, "$0\r\n\r\n", "=4\r\nmar:\r\n"},
		{"raw", func(w *Writer) { w.Raw([]byte("+QUEUED\r\n")) }, "+QUEUED\r\n", "+QUEUED\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for proto, want := range map[int]string{2: tt.resp2, 3: tt.resp3} {
				var out bytes.Buffer
				w := NewWriter(&out)
				w.SetProto(proto)
				tt.write(w)
				if w.Buffered() != len(want) {
					t.Errorf("RESP%d: Buffered %d, want %d", proto, w.Buffered(), len(want))
				}
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				if out.String() != want {
					t.Errorf("RESP%d: %q, want %q", proto, out.String(), want)
				}
				if w.Buffered() != 0 {
					t.Errorf("RESP%d: %d buffered after Flush", proto, w.Buffered())
				}
			}
		})
	}
}

func TestWriterProto(t *testing.T) {
	w := NewWriter(io.Discard)
	for _, tt := range []struct{ set, want int }{{0, 2}, {3, 3}, {2, 2}, {4, 2}} {
		if w.SetProto(tt.set); w.Proto() != tt.want {
			t.Errorf("SetProto(%d): Proto %d, want %d", tt.set, w.Proto(), tt.want)
		}
	}
}

func TestAppendDouble(t *testing.T) {
	for _, tt := range []struct {
		f    float64
		want string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "-0"},
		{1, "1"},
		{-1, "-1"},
		{1.5, "1.5"},
		{-1.5, "-1.5"},
		{0.1, "0.1"},
		{-0.1, "-0.1"},
		{123.456, "123.456"},
		{1234567.5, "1234567.5"},
		{0.001, "0.001"},
		{1.5e-5, "0.000015"},
		{1.25e-5, "1.25e-5"},
		{1e-7, "1e-7"},
		{1e-10, "1e-10"},
		{1.7976931348623157e308, "1.7976931348623157e+308"},
		{5e-324, "5e-324"},
		{1e300, "1e+300"},
		{1e100, "1e+100"},
		{1e20, "1e+20"},
		{1 << 62, "4611686018427387904"},
		{-(1 << 62), "-4611686018427387904"},
		{1<<62 + 1024, "4611686018427389000"},
		{12345678901234567890, "12345678901234567000"},
		{3.0000000000000004, "3.0000000000000004"},
		{1e15 + 0.5, "1000000000000000.5"},
	} {
		if got := string(appendDouble(nil, tt.f)); got != tt.want {
			t.Errorf("appendDouble(%v) = %q, want %q", tt.f, got, tt.want)
		}
	}
}

type failWriter struct{ n int }

func (f failWriter) Write(p []byte) (int, error) {
	if f.n >= 0 {
		return min(f.n, len(p)), nil
	}
	return 0, errors.New("broken pipe")
}

func TestWriterFlushErrors(t *testing.T) {
	w := NewWriter(failWriter{n: 2})
	w.OK()
	if err := w.Flush(); err != io.ErrShortWrite {
		t.Fatalf("short write: %v", err)
	}
	w.OK()
	if err := w.Flush(); err != io.ErrShortWrite {
		t.Fatalf("after a failed Flush: %v", err)
	}

	w = NewWriter(failWriter{n: -1})
	w.OK()
	if err := w.Flush(); err == nil || err.Error() != "broken pipe" {
		t.Fatalf("got %v", err)
	}
	if err := NewWriter(failWriter{n: -1}).Flush(); err != nil {
		t.Fatalf("empty Flush: %v", err)
	}
}

func TestWriterReleasesBigBuffer(t *testing.T) {
	w := NewWriter(io.Discard)
	w.BulkString(strings.Repeat("x", 1<<20))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if cap(w.buf) > keepBuf {
		t.Errorf("kept %d bytes", cap(w.buf))
	}
}

func TestWriterZeroAllocs(t *testing.T) {
	for _, proto := range []int{2, 3} {
		w := NewWriter(io.Discard)
		w.SetProto(proto)
		v := []byte("value")
		write := func() {
			w.Array(11)
			w.OK()
			w.Simple("PONG")
			w.Error("ERR no")
			w.Int(12345)
			w.Bulk(v)
			w.BulkString("s")
			w.Null()
			w.Map(1)
			w.Double(0.1)
			w.Double(1e300)
			w.Bool(true)
			w.Verbatim("txt", "v")
			w.Flush()
		}
		write()
		if allocs := testing.AllocsPerRun(1000, write); allocs != 0 {
			t.Errorf("RESP%d: %v allocs", proto, allocs)
		}
	}
}

// stingyWriter takes at most n bytes a call, as a full non-blocking socket
// takes part of a write.
type stingyWriter struct {
	n   int
	got []byte
}

func (s *stingyWriter) Write(p []byte) (int, error) {
	n := min(s.n, len(p))
	s.got = append(s.got, p[:n]...)
	return n, nil
}

func TestWriterFlushSome(t *testing.T) {
	sw := &stingyWriter{n: 4}
	w := NewWriter(sw)
	w.BulkString("hello") // $5\r\nhello\r\n: 11 bytes
	flush := func(want int) {
		t.Helper()
		if left, err := w.FlushSome(); err != nil || left != want || w.Buffered() != want {
			t.Fatalf("FlushSome = %d, %v (Buffered %d); want %d left", left, err, w.Buffered(), want)
		}
	}
	flush(7)
	flush(3)
	w.OK() // a reply added while part of the buffer is out
	flush(4)
	flush(0)
	if got := string(sw.got); got != "$5\r\nhello\r\n+OK\r\n" {
		t.Fatalf("wrote %q", got)
	}
	if w.off != 0 || len(w.buf) != 0 {
		t.Fatalf("not reset: off %d, len %d", w.off, len(w.buf))
	}

	w = NewWriter(failWriter{n: -1})
	w.OK()
	if _, err := w.FlushSome(); err == nil {
		t.Fatal("no error from a failed write")
	}
	if _, err := w.FlushSome(); err == nil {
		t.Fatal("the error is not kept")
	}
}
