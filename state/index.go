package state

import (
	"hash/maphash"
	"math"
	"slices"
	"sync/atomic"
	"unsafe"
)

// prefetchAhead is how many slots ahead of the one it reads a scan asks
// for an entity's memory.
const prefetchAhead = 16

// index holds one entity type's entities, keyed by id: a hash table split
// into pages by the top bits of the id's hash (extendible hashing), each
// page an open-addressing table with linear probing and a one-byte tag per
// slot. A page may have any number of slots: one grown by inserts has a
// power of two, one laid out for a restore the number its entities need.
//
// Lookups cost one hash and, nearly always, one entity comparison, so
// ENTITY.GET and the fold during replay do not depend on the number of
// entities. Pages are copied on write: freeze returns a read-only view of
// the whole index for the price of one flag, and the writer copies a page
// (at most maxSlots entries) the first time it changes it afterwards. A
// full page splits in two, so no write ever rehashes the whole index.
//
// One goroutine writes; readers of a frozen view need no lock. Readers of
// the live index are kept apart from the writer by the Store's lock.
type index struct {
	dir       []*page // 1<<depth entries; a page of local depth d fills 1<<(depth-d) neighbours
	depth     uint
	n         int
	gen       uint64 // pages of another generation are shared with a view
	dirShared bool
}

type page struct {
	gen   uint64
	depth uint
	n     int
	tags  []uint8 // 0 empty, else tagOf(hash)
	slots []Entity
	cols  atomic.Pointer[pageCols] // read out by aggregations (columns.go)
}

const (
	minSlots = 8
	maxSlots = 1024
)

var seed = maphash.MakeSeed()

func hashID(id string) uint64 { return maphash.String(seed, id) }

// tagOf is a slot's tag: bits 32 to 39 of the hash, which neither home
// (the low 32) nor the directory (the top bits, up to a depth of 24) uses.
func tagOf(h uint64) uint8 { return uint8(h>>32) | 1 }

// home is the slot where the probe for hash h starts in a page of n slots:
// the low 32 bits of h scaled to n by a multiply and a shift, which works
// for any n, where a mask needs a power of two.
func home(h uint64, n int) int { return int(uint64(uint32(h)) * uint64(n) >> 32) }

func newIndex() *index {
	return &index{dir: []*page{newPage(0, 0, minSlots)}}
}

// newIndexSized returns an empty index laid out for n entities, so that
// adding them neither doubles nor splits a page: restoring a snapshot then
// hashes each entity once instead of once per doubling and split. Each
// page gets the slots for the entities it should hold and six standard
// deviations more (a page's share of n random hashes varies), below the
// 7/8 that makes a page grow: about 0.7 full, where pages grown by inserts
// are 0.44 to 0.875 full and pages laid out at a power of two were 0.25 to
// 0.5.
func newIndexSized(n int) *index {
	need := func(m int) int { // slots for a page expected to hold m
		return max(minSlots, int(math.Ceil((float64(m)+6*math.Sqrt(float64(m))+1)*8/7)))
	}
	var depth uint
	for need(n>>depth) > maxSlots {
		depth++
	}
	slots := need(n >> depth)
	x := &index{dir: make([]*page, 1<<depth), depth: depth}
	for i := range x.dir {
		x.dir[i] = newPage(0, depth, slots)
	}
	return x
}

func newPage(gen uint64, depth uint, slots int) *page {
	return &page{gen: gen, depth: depth, tags: make([]uint8, slots), slots: make([]Entity, slots)}
}

// Len is the number of entities.
func (x *index) Len() int { return x.n }

func (x *index) pageOf(h uint64) (int, *page) {
	i := int(h >> (64 - x.depth)) // 0 at depth 0: a shift by 64 gives 0
	return i, x.dir[i]
}

// find returns the slot holding id, or -1.
func (p *page) find(id string, h uint64) int {
	n := len(p.slots)
	tag := tagOf(h)
	for i := home(h, n); ; i = p.next(i) {
		switch p.tags[i] {
		case 0:
			return -1
		case tag:
			if p.slots[i].ID() == id {
				return i
			}
		}
	}
}

// next is the slot a probe reads after slot i: the next one, or the first
// after the last.
func (p *page) next(i int) int {
	if i++; i == len(p.slots) {
		return 0
	}
	return i
}

// Get returns the entity with an id.
func (x *index) Get(id string) (Entity, bool) {
	e, ok, _ := x.lookup(id)
	return e, ok
}

// lookupBatch is the most ids a batch of lookups (getBatch) holds.
const lookupBatch = 16

// batch is a batch of ids to look up together (index.getBatch): the keys
// a walk of a field index gives, in its order, or the ids of an
// ENTITY.MGET.
type batch struct {
	n    int
	ends [lookupBatch]int // ids[i] is buf[ends[i-1]:ends[i]]
	buf  []byte
	ids  [lookupBatch]string
	h    [lookupBatch]uint64
	p    [lookupBatch]*page
	at   [lookupBatch]int
	out  [lookupBatch]Entity
}

// add appends an id to the batch, which copies it.
func (b *batch) add(id string) {
	b.buf = append(b.buf, id...)
	b.ends[b.n] = len(b.buf)
	b.n++
}

func (b *batch) reset() { b.n, b.buf = 0, b.buf[:0] }

// getBatch looks up the batch's ids: out[i] is the entity of ids[i], or ""
// when there is none. One lookup reads four places one after the other
// (the page, its tags, its slots, the entity), each nearly always a cache
// miss when the ids come from an index or a client, whose neighbours are
// anywhere in the table. A batch takes each step for every id before the next step,
// asking first for the memory that step reads, so that the misses of the
// batch overlap instead of adding up.
func (x *index) getBatch(b *batch) {
	from := 0
	for i := range b.n {
		b.ids[i] = bytesView(b.buf[from:b.ends[i]])
		from = b.ends[i]
		h := hashID(b.ids[i])
		_, p := x.pageOf(h)
		b.h[i], b.p[i] = h, p
		prefetch((*byte)(unsafe.Pointer(p)))
	}
	for i := range b.n {
		p := b.p[i]
		j := home(b.h[i], len(p.slots))
		b.at[i] = j
		prefetch(&p.tags[j])
		prefetch((*byte)(unsafe.Pointer(&p.slots[j])))
	}
	for i := range b.n {
		p, tag, j := b.p[i], tagOf(b.h[i]), b.at[i]
		for p.tags[j] != 0 && p.tags[j] != tag {
			j = p.next(j)
		}
		b.at[i] = j
		if p.tags[j] != 0 {
			prefetchEntity(p.slots[j])
		}
	}
	for i := range b.n {
		p, j := b.p[i], b.at[i]
		if p.tags[j] != 0 && p.slots[j].ID() == b.ids[i] {
			b.out[i] = p.slots[j]
			continue
		}
		b.out[i] = "" // another id with the same tag: the whole probe
		if k := p.find(b.ids[i], b.h[i]); k >= 0 {
			b.out[i] = p.slots[k]
		}
	}
}

// spot is where a lookup found an id, or would insert it: the id's hash,
// its directory slot and its slot in the page (-1: not there). setAt
// writes there without searching again, provided the index is not written
// in between.
type spot struct {
	h    uint64
	dir  int
	slot int
}

// lookup is Get, and where the id is.
func (x *index) lookup(id string) (Entity, bool, spot) {
	h := hashID(id)
	i, p := x.pageOf(h)
	j := p.find(id, h)
	if j >= 0 {
		return p.slots[j], true, spot{h, i, j}
	}
	return "", false, spot{h, i, -1}
}

// setAt is Set of an entity whose id lookup returned at, with no write to
// the index since.
func (x *index) setAt(at spot, e Entity) {
	p := x.writable(at.dir) // a copy keeps every entity in its slot
	if at.slot >= 0 {
		p.slots[at.slot] = e
		return
	}
	p.insert(e, at.h)
	x.n++
	if p.n*8 > len(p.slots)*7 {
		x.grow(at.dir, p)
	}
}

// writable returns the page at directory slot i, copied first if a view
// shares it.
func (x *index) writable(i int) *page {
	if x.dirShared {
		x.dir = slices.Clone(x.dir)
		x.dirShared = false
	}
	p := x.dir[i]
	if p.gen == x.gen {
		return p
	}
	c := &page{gen: x.gen, depth: p.depth, n: p.n, tags: slices.Clone(p.tags), slots: slices.Clone(p.slots)}
	x.setRange(i, p.depth, c)
	return c
}

// setRange points the directory slots of the page of local depth d that
// holds slot i at p.
func (x *index) setRange(i int, d uint, p *page) {
	span := 1 << (x.depth - d)
	start := i &^ (span - 1)
	for j := start; j < start+span; j++ {
		x.dir[j] = p
	}
}

// Set stores e under its id, replacing any entity with that id.
func (x *index) Set(e Entity) {
	_, _, at := x.lookup(e.ID())
	x.setAt(at, e)
}

// insert puts an entity not in the page into its first free slot.
func (p *page) insert(e Entity, h uint64) {
	i := home(h, len(p.slots))
	for p.tags[i] != 0 {
		i = p.next(i)
	}
	p.tags[i] = tagOf(h)
	p.slots[i] = e
	p.n++
}

// grow doubles a full page's slots (up to maxSlots), or splits it in two
// once it has maxSlots, doubling the directory when the page is as deep as
// it.
func (x *index) grow(i int, p *page) {
	if len(p.slots) < maxSlots {
		np := newPage(x.gen, p.depth, min(2*len(p.slots), maxSlots))
		p.each(func(e Entity) { np.insert(e, hashID(e.ID())) })
		x.setRange(i, p.depth, np)
		return
	}
	if p.depth == x.depth {
		dir := make([]*page, 2*len(x.dir))
		for j, q := range x.dir {
			dir[2*j], dir[2*j+1] = q, q
		}
		x.dir = dir
		x.depth++
		i *= 2
	}
	d := p.depth + 1
	lo, hi := newPage(x.gen, d, maxSlots), newPage(x.gen, d, maxSlots)
	bit := uint64(1) << (64 - d)
	p.each(func(e Entity) {
		h := hashID(e.ID())
		if h&bit == 0 {
			lo.insert(e, h)
		} else {
			hi.insert(e, h)
		}
	})
	span := 1 << (x.depth - p.depth)
	start := i &^ (span - 1)
	for j := start; j < start+span/2; j++ {
		x.dir[j] = lo
	}
	for j := start + span/2; j < start+span; j++ {
		x.dir[j] = hi
	}
}

// Delete removes the entity with an id, if there is one.
func (x *index) Delete(id string) {
	h := hashID(id)
	i, p := x.pageOf(h)
	if p.find(id, h) < 0 {
		return
	}
	p = x.writable(i)
	j := p.find(id, h)
	// Backward-shift deletion: move later entries of the probe run into
	// the hole when their home slot allows it, so that no tombstone is needed.
	n := len(p.slots)
	dist := func(from, to int) int { // probe steps from slot from to slot to
		if to >= from {
			return to - from
		}
		return to - from + n
	}
	for k := p.next(j); p.tags[k] != 0; k = p.next(k) {
		if dist(home(hashID(p.slots[k].ID()), n), k) >= dist(j, k) {
			p.tags[j], p.slots[j] = p.tags[k], p.slots[k]
			j = k
		}
	}
	p.tags[j], p.slots[j] = 0, ""
	p.n--
	x.n--
}

// scan calls fn for each entity of the page until it returns false, and
// reports whether it went through them all. It asks for each entity's
// memory prefetchAhead slots before it reads it.
func (p *page) scan(fn func(Entity) bool) bool {
	for j, t := range p.tags {
		if j+prefetchAhead < len(p.slots) {
			prefetchEntity(p.slots[j+prefetchAhead])
		}
		if t != 0 && !fn(p.slots[j]) {
			return false
		}
	}
	return true
}

func (p *page) each(fn func(Entity)) {
	for i, t := range p.tags {
		if t != 0 {
			fn(p.slots[i])
		}
	}
}

// freeze returns a read-only view of the index as it is now; later writes
// copy what they change.
func (x *index) freeze() *index {
	x.gen++
	x.dirShared = true
	return &index{dir: x.dir, depth: x.depth, n: x.n} // read only: never written

}

// fork returns a writable copy of the index as it is now, for another
// store: the two share every page until one of them writes it (each then
// copies what it changes, as after freeze). The fork's generation is the
// index's new one, which no page it shares has.
func (x *index) fork() *index {
	v := x.freeze()
	return &index{dir: v.dir, depth: v.depth, n: v.n, gen: x.gen, dirShared: true}
}

// Parts divides the index into at most k parts of about the same number
// of directory entries, each a scan of its own pages, for scans on several
// goroutines at once.
func (x *index) Parts(k int) []func(func(Entity) bool) {
	pages := x.pageParts(k)
	parts := make([]func(func(Entity) bool), len(pages))
	for w, pp := range pages {
		parts[w] = func(fn func(Entity) bool) {
			pp(func(p *page) bool { return p.scan(fn) })
		}
	}
	return parts
}

// pageParts is Parts page by page. A page that fills several directory
// entries belongs to the part of its first one.
func (x *index) pageParts(k int) []func(func(*page) bool) {
	k = max(min(k, len(x.dir)), 1)
	parts := make([]func(func(*page) bool), k)
	for w := range k {
		lo, hi := w*len(x.dir)/k, (w+1)*len(x.dir)/k
		parts[w] = func(fn func(*page) bool) {
			for i := lo; i < hi; {
				p := x.dir[i]
				span := 1 << (x.depth - p.depth)
				if first := i &^ (span - 1); first != i {
					i = first + span // the part before has it
					continue
				}
				if !fn(p) {
					return
				}
				i += span
			}
		}
	}
	return parts
}

// Scan calls fn for each entity, in no particular order, until it returns
// false.
func (x *index) Scan(fn func(Entity) bool) {
	x.eachPage(func(p *page) bool { return p.scan(fn) })
}

// eachPage calls fn for each page until it returns false.
func (x *index) eachPage(fn func(*page) bool) {
	for i := 0; i < len(x.dir); {
		p := x.dir[i]
		if !fn(p) {
			return
		}
		i += 1 << (x.depth - p.depth)
	}
}

// prefetchEntity asks for the memory of an entity a scan will read soon:
// its first cache line and, for a longer one, its last.
func prefetchEntity(e Entity) {
	p := unsafe.StringData(string(e))
	prefetch(p)
	if len(e) > 64 {
		prefetch((*byte)(unsafe.Add(unsafe.Pointer(p), len(e)-1)))
	}
}
