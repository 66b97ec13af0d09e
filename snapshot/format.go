package snapshot

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/foldb/foldb/state"
)

const (
	fileMagic     = "FOLDBSNP"
	formatVersion = 1

	kindHeader   = 1
	kindType     = 2
	kindEntities = 3
	kindEnd      = 4

	maxFrame      = 64 << 20 // no frame a writer makes comes near this
	entitiesFrame = 1 << 20  // a writer closes an entities frame past this
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by every error about a snapshot's content.
var ErrCorrupt = errors.New("snapshot: corrupt")

// ErrNewerFormat is returned for a snapshot written by a newer foldb.
var ErrNewerFormat = errors.New("snapshot: newer format")

// Header is what a snapshot's first frame says.
type Header struct {
	Format     uint64
	Position   uint64
	SchemaHash string
	Created    time.Time
	Types      uint64
}

// frameWriter writes checksummed frames.
type frameWriter struct {
	w *bufio.Writer
}

func (f *frameWriter) frame(kind byte, payload []byte) error {
	var hdr [1 + binary.MaxVarintLen64]byte
	hdr[0] = kind
	n := 1 + binary.PutUvarint(hdr[1:], uint64(len(payload)))
	crc := crc32.Update(0, castagnoli, hdr[:n])
	crc = crc32.Update(crc, castagnoli, payload)
	if _, err := f.w.Write(hdr[:n]); err != nil {
		return err
	}
	if _, err := f.w.Write(payload); err != nil {
		return err
	}
	var c [4]byte
	binary.LittleEndian.PutUint32(c[:], crc)
	_, err := f.w.Write(c[:])
	return err
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encode writes a capture to w in the snapshot format and returns the
// number of entities written.
func encode(w io.Writer, c *state.Capture, created time.Time) (uint64, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	fw := &frameWriter{w: bw}
	if _, err := bw.WriteString(fileMagic); err != nil {
		return 0, err
	}
	h := binary.AppendUvarint(nil, formatVersion)
	h = binary.AppendUvarint(h, c.Position)
	h = appendString(h, c.SchemaHash)
	h = binary.AppendUvarint(h, uint64(created.UnixMilli()))
	h = binary.AppendUvarint(h, uint64(len(c.Types)))
	if err := fw.frame(kindHeader, h); err != nil {
		return 0, err
	}
	var total uint64
	var body []byte
	for i := range c.Types {
		t := &c.Types[i]
		p := appendString(nil, t.Name)
		p = binary.AppendUvarint(p, uint64(t.Count))
		if err := fw.frame(kindType, p); err != nil {
			return total, err
		}
		var err error
		n := 0
		body = body[:0]
		flush := func() {
			if n == 0 || err != nil {
				return
			}
			frame := binary.AppendUvarint(make([]byte, 0, len(body)+binary.MaxVarintLen64), uint64(n))
			frame = append(frame, body...)
			err = fw.frame(kindEntities, frame)
			body, n = body[:0], 0
		}
		count := 0
		t.Scan(func(e state.Entity) bool {
			body = binary.AppendUvarint(body, uint64(len(e)))
			body = append(body, e...)
			n++
			count++
			if len(body) >= entitiesFrame {
				flush()
			}
			return err == nil
		})
		flush()
		if err != nil {
			return total, err
		}
		if count != t.Count {
			return total, fmt.Errorf("snapshot: type %s changed while it was written (%d entities, %d expected)", t.Name, count, t.Count)
		}
		total += uint64(count)
	}
	e := binary.AppendUvarint(nil, total)
	e = binary.AppendUvarint(e, c.Position)
	if err := fw.frame(kindEnd, e); err != nil {
		return total, err
	}
	return total, bw.Flush()
}

// frameReader reads and checks frames.
type frameReader struct {
	r   *bufio.Reader
	buf []byte
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

func (f *frameReader) next() (byte, []byte, error) {
	kind, err := f.r.ReadByte()
	if err == io.EOF {
		return 0, nil, corrupt("truncated: no end frame")
	}
	if err != nil {
		return 0, nil, err
	}
	var hdr [1 + binary.MaxVarintLen64]byte
	hdr[0] = kind
	n, err := binary.ReadUvarint(f.r)
	if err != nil {
		return 0, nil, corrupt("truncated frame header")
	}
	if n > maxFrame {
		return 0, nil, corrupt("frame of %d bytes", n)
	}
	hl := 1 + binary.PutUvarint(hdr[1:], n)
	if cap(f.buf) < int(n)+4 {
		f.buf = make([]byte, int(n)+4)
	}
	buf := f.buf[:int(n)+4]
	if _, err := io.ReadFull(f.r, buf); err != nil {
		return 0, nil, corrupt("truncated frame")
	}
	payload := buf[:n]
	crc := crc32.Update(0, castagnoli, hdr[:hl])
	crc = crc32.Update(crc, castagnoli, payload)
	if binary.LittleEndian.Uint32(buf[n:]) != crc {
		return 0, nil, corrupt("checksum mismatch in a frame of kind %d", kind)
	}
	return kind, payload, nil
}

type payloadReader struct {
	b   []byte
	err error
}

func (p *payloadReader) uvarint() uint64 {
	if p.err != nil {
		return 0
	}
	v, n := binary.Uvarint(p.b)
	if n <= 0 {
		p.err = corrupt("bad varint")
		return 0
	}
	p.b = p.b[n:]
	return v
}

func (p *payloadReader) bytes() []byte {
	n := p.uvarint()
	if p.err != nil {
		return nil
	}
	if n > uint64(len(p.b)) {
		p.err = corrupt("length %d past the end of its frame", n)
		return nil
	}
	v := p.b[:n]
	p.b = p.b[n:]
	return v
}

func (p *payloadReader) done() error {
	if p.err == nil && len(p.b) != 0 {
		p.err = corrupt("%d stray bytes in a frame", len(p.b))
	}
	return p.err
}

// readHeader reads the magic and the header frame.
func readHeader(fr *frameReader) (Header, error) {
	var h Header
	magic := make([]byte, len(fileMagic))
	if _, err := io.ReadFull(fr.r, magic); err != nil || string(magic) != fileMagic {
		return h, corrupt("not a foldb snapshot")
	}
	kind, payload, err := fr.next()
	if err != nil {
		return h, err
	}
	if kind != kindHeader {
		return h, corrupt("first frame is of kind %d, not the header", kind)
	}
	p := payloadReader{b: payload}
	h.Format = p.uvarint()
	if p.err == nil && h.Format > formatVersion {
		return h, fmt.Errorf("%w: format %d, this foldb reads up to %d", ErrNewerFormat, h.Format, formatVersion)
	}
	h.Position = p.uvarint()
	h.SchemaHash = string(p.bytes())
	h.Created = time.UnixMilli(int64(p.uvarint()))
	h.Types = p.uvarint()
	return h, p.done()
}

// minEntityBytes is the least an entity takes in a snapshot: its length,
// its id's length, its version and "{}".
const minEntityBytes = 5

// decode reads the rest of a snapshot after its header into a store.
// size is the file's size, which bounds how many entities a type frame may
// have the table laid out for.
func decode(fr *frameReader, h Header, schema *state.Schema, size int64) (*state.Store, uint64, error) {
	r := state.NewRestorer(schema)
	var types, total uint64
	var want, got uint64
	inType := false
	lastName := ""
	for {
		kind, payload, err := fr.next()
		if err != nil {
			return nil, total, err
		}
		p := payloadReader{b: payload}
		switch kind {
		case kindType:
			if inType && got != want {
				return nil, total, corrupt("type %s has %d entities, its frame said %d", lastName, got, want)
			}
			name := string(p.bytes())
			want, got = p.uvarint(), 0
			if err := p.done(); err != nil {
				return nil, total, err
			}
			if types > 0 && name <= lastName {
				return nil, total, corrupt("entity types out of order: %q after %q", name, lastName)
			}
			// Every entity takes at least minEntityBytes of the file.
			if err := r.Type(name, int(min(want, uint64(max(size, 0))/minEntityBytes))); err != nil {
				return nil, total, corrupt("%v", err)
			}
			lastName, inType = name, true
			types++
		case kindEntities:
			if !inType {
				return nil, total, corrupt("entities before their type")
			}
			n := p.uvarint()
			for i := uint64(0); i < n && p.err == nil; i++ {
				b := p.bytes()
				if p.err != nil {
					break
				}
				if err := r.Entity(state.Entity(b)); err != nil {
					return nil, total, corrupt("%v", err)
				}
				got++
				total++
			}
			if err := p.done(); err != nil {
				return nil, total, err
			}
		case kindEnd:
			if inType && got != want {
				return nil, total, corrupt("type %s has %d entities, its frame said %d", lastName, got, want)
			}
			n, pos := p.uvarint(), p.uvarint()
			if err := p.done(); err != nil {
				return nil, total, err
			}
			if n != total || pos != h.Position || types != h.Types {
				return nil, total, corrupt("end frame says %d entities at %d in %d types; read %d at %d in %d", n, pos, h.Types, total, h.Position, types)
			}
			if _, err := fr.r.ReadByte(); err != io.EOF {
				return nil, total, corrupt("bytes after the end frame")
			}
			s, err := r.Done(h.Position)
			if err != nil {
				return nil, total, corrupt("%v", err)
			}
			return s, total, nil
		default:
			return nil, total, corrupt("unknown frame kind %d", kind)
		}
	}
}
