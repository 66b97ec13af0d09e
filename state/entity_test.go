package state

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

func TestEntityPacking(t *testing.T) {
	for _, id := range []string{"1", "", strings.Repeat("x", 200), "ü"} {
		for _, v := range []uint64{0, 1, 127, 128, 1 << 33, math.MaxUint64} {
			e := packEntity(id, v, []byte(`{"a":1}`))
			if e.ID() != id || e.Version() != v || e.JSON() != `{"a":1}` {
				t.Fatalf("pack %q %d: %q %d %q", id, v, e.ID(), e.Version(), e.JSON())
			}
			if n := len(binary.AppendUvarint(nil, uint64(len(id)))) + len(id) + len(binary.AppendUvarint(nil, v)) + len(`{"a":1}`); len(e) != n {
				t.Fatalf("pack %q %d: %d bytes, want %d", id, v, len(e), n)
			}
		}
	}
}
