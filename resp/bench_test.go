package resp

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
)

// cyclicReader returns data over and over, filling each read.
type cyclicReader struct {
	data []byte
	off  int
}

func (c *cyclicReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m := copy(p[n:], c.data[c.off:])
		n += m
		c.off = (c.off + m) % len(c.data)
	}
	return n, nil
}

func benchmarkReader(b *testing.B, cmd string) {
	r := NewReader(&cyclicReader{data: []byte(strings.Repeat(cmd, 100))}, DefaultLimits())
	b.SetBytes(int64(len(cmd)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Next(true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReaderGet(b *testing.B) {
	benchmarkReader(b, "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n")
}

func BenchmarkReaderEventAppend(b *testing.B) {
	json := `{"type":"order.created","id":"0f8fad5b-d9cb-469f","amount":125,"currency":"EUR","items":[1,2,3,4,5]}`
	benchmarkReader(b, "*3\r\n$12\r\nEVENT.APPEND\r\n$12\r\norders-12345\r\n$"+strconv.Itoa(len(json))+"\r\n"+json+"\r\n")
}

func BenchmarkReaderInline(b *testing.B) {
	benchmarkReader(b, "SET key \"a value\\n\"\r\n")
}

// BenchmarkReaderBigBulk reads a 16 MiB bulk arriving in 16 KiB reads.
func BenchmarkReaderBigBulk(b *testing.B) {
	const size = 16 << 20
	in := []byte("*1\r\n$" + strconv.Itoa(size) + "\r\n")
	in = append(in, bytes.Repeat([]byte{'x'}, size)...)
	in = append(in, '\r', '\n')
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(&limitedReader{data: in, n: 16 << 10}, DefaultLimits())
		if _, err := r.Next(true); err != nil {
			b.Fatal(err)
		}
	}
}

// limitedReader returns data at most n bytes at a time.
type limitedReader struct {
	data []byte
	n    int
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if len(l.data) == 0 {
		return 0, io.EOF
	}
	m := copy(p[:min(len(p), l.n)], l.data)
	l.data = l.data[m:]
	return m, nil
}

func BenchmarkWriterBulk(b *testing.B) {
	w := NewWriter(io.Discard)
	v := bytes.Repeat([]byte{'v'}, 100)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w.Bulk(v)
		if i++; i%64 == 0 {
			w.Flush()
		}
	}
}

func BenchmarkWriterArray(b *testing.B) {
	w := NewWriter(io.Discard)
	w.SetProto(3)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w.Array(3)
		w.BulkString("orders-12345")
		w.Int(42)
		w.Double(1.5)
		if i++; i%64 == 0 {
			w.Flush()
		}
	}
}
