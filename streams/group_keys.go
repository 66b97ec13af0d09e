package streams

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/foldb/foldb/eventlog"
)

// Consumer groups are stored under the log's op keys (eventlog/doc.go),
// one group's keys after its number, gid, given when it is created:
//
//	gid:u64 1            -> group:    key, name (length-prefixed), last-delivered ms, seq, entries-read+1 (0: unknown)
//	gid:u64 2 cid:u64    -> consumer: name (length-prefixed), seen-time, active-time+1 (0: never)
//	gid:u64 3 pos:u64    -> pending:  cid, delivery time, delivery count
//
// Numbers in values are uvarints, times unix milliseconds. A pending
// entry is one key (entries of a view are always <position>-0, so the
// position names it), which XACK deletes. The kind byte only grows: a new
// layout of a record gets a new kind, and loading keeps reading the old.
const (
	kindGroup    = 1
	kindConsumer = 2
	kindPending  = 3
)

// ErrCorruptGroups is wrapped by what loading finds malformed.
var ErrCorruptGroups = errors.New("streams: corrupt consumer group record")

func groupPrefix(dst []byte, gid uint64) []byte { return binary.BigEndian.AppendUint64(dst, gid) }

func groupKey(dst []byte, gid uint64) []byte { return append(groupPrefix(dst, gid), kindGroup) }

func consumerKey(dst []byte, gid, cid uint64) []byte {
	return binary.BigEndian.AppendUint64(append(groupPrefix(dst, gid), kindConsumer), cid)
}

func pendingKey(dst []byte, gid, pos uint64) []byte {
	return binary.BigEndian.AppendUint64(append(groupPrefix(dst, gid), kindPending), pos)
}

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

func groupValue(dst []byte, g *group) []byte {
	dst = appendString(dst, g.key)
	dst = appendString(dst, g.name)
	dst = binary.AppendUvarint(dst, g.last.Ms)
	dst = binary.AppendUvarint(dst, g.last.Seq)
	return binary.AppendUvarint(dst, uint64(g.entriesRead+1))
}

func consumerValue(dst []byte, c *consumer) []byte {
	dst = appendString(dst, c.name)
	dst = binary.AppendUvarint(dst, uint64(c.seen))
	return binary.AppendUvarint(dst, uint64(c.active+1))
}

func pendingValue(dst []byte, p *pending) []byte {
	dst = binary.AppendUvarint(dst, p.owner.cid)
	dst = binary.AppendUvarint(dst, uint64(p.delivered))
	return binary.AppendUvarint(dst, p.count)
}

// decoder reads a record's fields; the first malformed one sets err.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("length %d past the end", n)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	return d.err
}

// load reads every group from the log's op keys, in key order: a group's
// record comes before its consumers, and they before its pending entries.
func (gs *Groups) load() error {
	var cur *group
	var byCID map[uint64]*consumer
	return gs.log.ScanOpKeys(func(k, v []byte) error {
		if len(k) < 9 {
			return fmt.Errorf("%w: key %x", ErrCorruptGroups, k)
		}
		gid, kind, rest := binary.BigEndian.Uint64(k), k[8], k[9:]
		corrupt := func(err error) error {
			return fmt.Errorf("%w: group %d, kind %d: %v", ErrCorruptGroups, gid, kind, err)
		}
		d := decoder{b: v}
		switch kind {
		case kindGroup:
			g := &group{gid: gid, consumers: map[string]*consumer{}}
			g.key, g.name = d.string(), d.string()
			g.last = ID{d.uvarint(), d.uvarint()}
			g.entriesRead = int64(d.uvarint()) - 1
			if err := d.done(); err != nil || len(rest) != 0 {
				return corrupt(err)
			}
			g.view = ParseKey(g.key)
			gs.addGroup(g)
			cur, byCID = g, map[uint64]*consumer{}
			gs.nextGID = max(gs.nextGID, gid+1)
		case kindConsumer, kindPending:
			if cur == nil || cur.gid != gid || len(rest) != 8 {
				return corrupt(errors.New("no group before it"))
			}
			n := binary.BigEndian.Uint64(rest)
			if kind == kindConsumer {
				c := &consumer{cid: n, name: d.string(), seen: int64(d.uvarint()), active: int64(d.uvarint()) - 1}
				if err := d.done(); err != nil {
					return corrupt(err)
				}
				cur.consumers[c.name] = c
				byCID[c.cid] = c
				cur.nextCID = max(cur.nextCID, c.cid+1)
				return nil
			}
			p := &pending{pos: n}
			owner := byCID[d.uvarint()]
			p.delivered, p.count = int64(d.uvarint()), d.uvarint()
			if err := d.done(); err != nil || owner == nil {
				return corrupt(fmt.Errorf("pending %d: %v (owner known: %v)", n, err, owner != nil))
			}
			p.owner = owner
			cur.pel.Set(n, p)
			owner.pel.Set(n, p)
		default:
			return corrupt(errors.New("unknown kind"))
		}
		return nil
	})
}

// stager writes a round's group changes into its batch.
type stager struct {
	gs  *Groups
	b   *eventlog.OpBatch
	now int64
	key []byte
	val []byte
}

func (s *stager) putGroup(g *group) {
	s.key, s.val = groupKey(s.key[:0], g.gid), groupValue(s.val[:0], g)
	s.b.Set(s.key, s.val)
}

func (s *stager) putConsumer(g *group, c *consumer) {
	s.key, s.val = consumerKey(s.key[:0], g.gid, c.cid), consumerValue(s.val[:0], c)
	s.b.Set(s.key, s.val)
}

func (s *stager) putPending(g *group, p *pending) {
	s.key, s.val = pendingKey(s.key[:0], g.gid, p.pos), pendingValue(s.val[:0], p)
	s.b.Set(s.key, s.val)
}

func (s *stager) deletePending(g *group, pos uint64) {
	s.key = pendingKey(s.key[:0], g.gid, pos)
	s.b.Delete(s.key)
}

func (s *stager) deleteConsumer(g *group, c *consumer) {
	s.key = consumerKey(s.key[:0], g.gid, c.cid)
	s.b.Delete(s.key)
}

func (s *stager) deleteGroup(g *group) {
	s.key = groupPrefix(s.key[:0], g.gid)
	s.b.DeletePrefix(s.key)
}
