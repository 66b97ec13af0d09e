package snapshot

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/foldb/foldb/state"
)

const (
	fileMagic     = "FOLDBSNP"
	formatVersion = 2

	kindHeader   = 1
	kindType     = 2
	kindEntities = 3
	kindEnd      = 4
	kindIndex    = 5 // from format 2
	kindKeys     = 6 // from format 2

	maxFrame      = 64 << 20 // no frame a writer makes comes near this
	entitiesFrame = 1 << 20  // a writer closes an entities or keys frame past this
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

// batch gathers items into frames of one kind, each n:uvarint then the
// items, closing a frame once it passes entitiesFrame bytes.
type batch struct {
	fw   *frameWriter
	kind byte
	body []byte
	n    int
	err  error
}

// added counts an item appended to body.
func (b *batch) added() {
	b.n++
	if len(b.body) >= entitiesFrame {
		b.flush()
	}
}

func (b *batch) flush() {
	if b.n == 0 || b.err != nil {
		return
	}
	frame := binary.AppendUvarint(make([]byte, 0, len(b.body)+binary.MaxVarintLen64), uint64(b.n))
	frame = append(frame, b.body...)
	b.err = b.fw.frame(b.kind, frame)
	b.body, b.n = b.body[:0], 0
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
	b := &batch{fw: fw}
	for i := range c.Types {
		t := &c.Types[i]
		p := appendString(nil, t.Name)
		p = binary.AppendUvarint(p, uint64(t.Count))
		if err := fw.frame(kindType, p); err != nil {
			return total, err
		}
		// The indexes before the entities: a reader loads their trees on
		// other cores while it restores the entities.
		for j := range t.Indexes {
			if err := encodeIndex(b, t.Name, &t.Indexes[j]); err != nil {
				return total, err
			}
		}
		b.kind = kindEntities
		count := 0
		t.Scan(func(e state.Entity) bool {
			b.body = binary.AppendUvarint(b.body, uint64(len(e)))
			b.body = append(b.body, e...)
			count++
			b.added()
			return b.err == nil
		})
		b.flush()
		if b.err != nil {
			return total, b.err
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

// encodeIndex writes an index frame and its keys frames. A key is written
// as the length of the prefix it shares with the key before it and the
// rest: neighbours in order share much of their field values.
func encodeIndex(b *batch, typ string, ix *state.CapturedIndex) error {
	p := binary.AppendUvarint(nil, uint64(len(ix.Fields)))
	for _, f := range ix.Fields {
		p = appendString(p, f)
	}
	want := ix.Len()
	p = binary.AppendUvarint(p, uint64(want))
	if err := b.fw.frame(kindIndex, p); err != nil {
		return err
	}
	b.kind = kindKeys
	var prev []byte
	count := 0
	ix.Scan(func(k []byte) bool {
		shared := 0
		for shared < len(prev) && shared < len(k) && prev[shared] == k[shared] {
			shared++
		}
		b.body = binary.AppendUvarint(b.body, uint64(shared))
		b.body = binary.AppendUvarint(b.body, uint64(len(k)-shared))
		b.body = append(b.body, k[shared:]...)
		prev = append(prev[:0], k...)
		count++
		b.added()
		return b.err == nil
	})
	b.flush()
	if b.err != nil {
		return b.err
	}
	if count != want {
		return fmt.Errorf("snapshot: index %v of type %s changed while it was written (%d keys, %d expected)", ix.Fields, typ, count, want)
	}
	return nil
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

// decode reads the rest of a snapshot after its header into a store,
// returning it with the number of entities and of indexes it held that
// the schema declares. size is the file's size, which bounds how many entities a type frame may
// have the table laid out for. The keys of each index the schema declares
// are loaded on a goroutine of their own, started once the index's frames
// are read, while the frames after it are read and restored.
func decode(fr *frameReader, h Header, schema *state.Schema, size int64) (*state.Store, uint64, int, error) {
	r := state.NewRestorer(schema)
	var types, total uint64
	var want, got uint64
	inType := false
	lastName := ""
	var loads indexLoads
	defer loads.wait()
	var cur *indexLoad // the index whose keys frames come next; nil when none
	skipping := false  // keys frames of an index the schema does not declare come next
	for {
		kind, payload, err := fr.next()
		if err != nil {
			return nil, total, 0, err
		}
		if kind != kindKeys {
			if cur != nil {
				loads.start(cur)
				cur = nil
			}
			skipping = false
		}
		p := payloadReader{b: payload}
		switch kind {
		case kindType:
			if inType && got != want {
				return nil, total, 0, corrupt("type %s has %d entities, its frame said %d", lastName, got, want)
			}
			name := string(p.bytes())
			want, got = p.uvarint(), 0
			if err := p.done(); err != nil {
				return nil, total, 0, err
			}
			if types > 0 && name <= lastName {
				return nil, total, 0, corrupt("entity types out of order: %q after %q", name, lastName)
			}
			// Every entity takes at least minEntityBytes of the file.
			if err := r.Type(name, int(min(want, uint64(max(size, 0))/minEntityBytes))); err != nil {
				return nil, total, 0, corrupt("%v", err)
			}
			lastName, inType = name, true
			types++
		case kindEntities:
			if !inType {
				return nil, total, 0, corrupt("entities before their type")
			}
			n := p.uvarint()
			for i := uint64(0); i < n && p.err == nil; i++ {
				b := p.bytes()
				if p.err != nil {
					break
				}
				if err := r.Entity(state.Entity(b)); err != nil {
					return nil, total, 0, corrupt("%v", err)
				}
				got++
				total++
			}
			if err := p.done(); err != nil {
				return nil, total, 0, err
			}
		case kindIndex:
			if h.Format < 2 {
				return nil, total, 0, corrupt("an index frame in a snapshot of format %d", h.Format)
			}
			if !inType {
				return nil, total, 0, corrupt("an index before its type")
			}
			nf := p.uvarint()
			if nf == 0 || nf > uint64(len(p.b)) {
				return nil, total, 0, corrupt("an index of %d fields", nf)
			}
			fields := make([]string, nf)
			for i := range fields {
				fields[i] = string(p.bytes())
			}
			n := p.uvarint()
			if err := p.done(); err != nil {
				return nil, total, 0, err
			}
			if n != want {
				// Checked here too, not only at the end: n sizes the tree.
				return nil, total, 0, corrupt("index %v of type %s has %d keys for %d entities", fields, lastName, n, want)
			}
			l, err := r.Index(fields, int(min(n, uint64(max(size, 0)))))
			if err != nil {
				return nil, total, 0, corrupt("%v", err)
			}
			if l == nil {
				skipping = true // the schema does not declare it: built at Live if it declares others
				continue
			}
			cur = &indexLoad{loader: l, name: lastName + " " + strings.Join(fields, ","), want: n}
		case kindKeys:
			switch {
			case cur != nil:
				cur.frames = append(cur.frames, bytes.Clone(payload))
			case !skipping:
				return nil, total, 0, corrupt("keys before their index")
			}
		case kindEnd:
			if inType && got != want {
				return nil, total, 0, corrupt("type %s has %d entities, its frame said %d", lastName, got, want)
			}
			n, pos := p.uvarint(), p.uvarint()
			if err := p.done(); err != nil {
				return nil, total, 0, err
			}
			if n != total || pos != h.Position || types != h.Types {
				return nil, total, 0, corrupt("end frame says %d entities at %d in %d types; read %d at %d in %d", n, pos, h.Types, total, h.Position, types)
			}
			if _, err := fr.r.ReadByte(); err != io.EOF {
				return nil, total, 0, corrupt("bytes after the end frame")
			}
			if err := loads.wait(); err != nil {
				return nil, total, 0, err
			}
			s, err := r.Done(h.Position)
			if err != nil {
				return nil, total, 0, corrupt("%v", err)
			}
			return s, total, loads.n, nil
		default:
			return nil, total, 0, corrupt("unknown frame kind %d", kind)
		}
	}
}

// indexLoad is the keys of one stored index, to load into its tree.
type indexLoad struct {
	loader *state.IndexLoader
	name   string // type and fields, for errors
	want   uint64
	frames [][]byte // keys frames' payloads
}

// run decodes the keys and feeds them to the loader.
func (x *indexLoad) run() error {
	var key []byte
	var got uint64
	for _, f := range x.frames {
		p := payloadReader{b: f}
		n := p.uvarint()
		for i := uint64(0); i < n && p.err == nil; i++ {
			shared := p.uvarint()
			rest := p.bytes()
			if p.err != nil {
				break
			}
			if shared > uint64(len(key)) {
				return corrupt("index %s: a key shares %d bytes with one of %d", x.name, shared, len(key))
			}
			key = append(key[:shared], rest...)
			if err := x.loader.Key(key); err != nil {
				return corrupt("%v", err)
			}
			got++
		}
		if err := p.done(); err != nil {
			return err
		}
	}
	if got != x.want {
		return corrupt("index %s has %d keys, its frame said %d", x.name, got, x.want)
	}
	if err := x.loader.Close(); err != nil {
		return corrupt("%v", err)
	}
	return nil
}

// indexLoads runs index loads on goroutines.
type indexLoads struct {
	n    int // started
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

func (l *indexLoads) start(x *indexLoad) {
	l.n++
	l.wg.Go(func() {
		if err := x.run(); err != nil {
			l.mu.Lock()
			l.errs = append(l.errs, err)
			l.mu.Unlock()
		}
	})
}

// wait waits for the loads started and returns the first error.
func (l *indexLoads) wait() error {
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) > 0 {
		return l.errs[0]
	}
	return nil
}
