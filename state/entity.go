package state

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"strings"
)

// Entity is one entity packed into a single immutable string:
//
//	uvarint len(id) | id | uvarint version | JSON object
//
// One allocation and one 16-byte header per entity keep 1M entities small,
// and ENTITY.GET writes the JSON bytes as they are held. An Entity is never
// changed in place: an update stores a new one, so a reader may keep using
// the one it got without a lock.
type Entity string

// appendEntityHead appends what comes before an entity's JSON: with the
// JSON appended after it, string(dst) is the packed entity, made with one
// allocation and one copy.
func appendEntityHead(dst []byte, id string, version uint64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(id)))
	dst = append(dst, id...)
	return binary.AppendUvarint(dst, version)
}

func packEntity(id string, version uint64, json []byte) Entity {
	var b strings.Builder
	b.Grow(uvarintLen(uint64(len(id))) + len(id) + uvarintLen(version) + len(json)) // exactly: one allocation, nothing spare
	var tmp [binary.MaxVarintLen64]byte
	b.Write(tmp[:binary.PutUvarint(tmp[:], uint64(len(id)))])
	b.WriteString(id)
	b.Write(tmp[:binary.PutUvarint(tmp[:], version)])
	b.Write(json)
	return Entity(b.String())
}

// ID is the entity's id within its type.
func (e Entity) ID() string {
	n, w := uvarintString(string(e))
	return string(e)[w : w+int(n)]
}

func (e Entity) afterID() string {
	n, w := uvarintString(string(e))
	return string(e)[w+int(n):]
}

// Version is the entity's version: for an entity fed by one stream, the
// stream's version as of the last event folded in (what EXPECT takes);
// otherwise the number of events folded into it.
func (e Entity) Version() uint64 {
	v, _ := uvarintString(e.afterID())
	return v
}

// JSON is the entity's state, a JSON object.
func (e Entity) JSON() string {
	rest := e.afterID()
	_, w := uvarintString(rest)
	return rest[w:]
}

// uvarintLen is the length of x as a uvarint.
func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

func uvarintString(s string) (uint64, int) {
	if len(s) > 0 && s[0] < 0x80 {
		return uint64(s[0]), 1
	}
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			return x | uint64(c)<<shift, i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, len(s)
}

// check verifies that e is well formed: its lengths fit and its JSON is an
// object.
func (e Entity) check() error {
	s := string(e)
	n, w := uvarintString(s)
	if w == 0 || w > len(s) || n > uint64(len(s)-w) {
		return fmt.Errorf("state: malformed entity: bad id length")
	}
	rest := s[w+int(n):]
	_, w2 := uvarintString(rest)
	if w2 == 0 || w2 > len(rest) {
		return fmt.Errorf("state: malformed entity %q: bad version", s[w:w+int(n)])
	}
	if j := rest[w2:]; len(j) < 2 || j[0] != '{' || j[len(j)-1] != '}' {
		return fmt.Errorf("state: malformed entity %q: its state is not a JSON object", s[w:w+int(n)])
	}
	return nil
}
