package state

import (
	"math"
	"slices"
	"sync/atomic"
	"unsafe"
)

// A page's columns are the values of one field for each of its entities,
// read out of the entities' JSON by an aggregation and kept with the page,
// so that the next aggregation over the same fields reads neither the
// JSON nor the entities' memory: a GROUPBY with its reducers over a page
// whose columns are there costs a few array reads (and, for a MIN or MAX,
// a comparison) per entity.
//
// Columns never go stale, for a page a reader can see is never written
// again: readers see the index through views (freeze), and the writer
// copies a page of an older generation before it changes it, the copy
// starting with no columns. A page written since the last aggregation
// therefore has none, and the next aggregation builds that page's alone.

// colKind is what a column holds for each entity.
type colKind uint8

const (
	colValues  colKind = iota // the value as written, coded by a dictionary of the page's values: a GROUPBY, MIN or MAX
	colNumbers                // the value as a number, NaN when it is none or missing: a SUM or AVG
)

type colKey struct {
	field string
	kind  colKind
}

// column is one field's values over a page's entities, in the order of
// their slots.
type column struct {
	codes []uint16  // colValues: per entity, 0 when the field is missing, else 1 + its value's place in dict
	dict  []string  // colValues: the page's distinct values of the field, as written
	nums  []float64 // colNumbers: per entity, NaN when the value is not a number
	// hashes are the dictionary's values' hashes: an aggregation finds a
	// value's group by it, without hashing the value for each page.
	hashes []uint64
	// keys are the dictionary's values' order keys (order.go), for a MIN
	// or MAX.
	keys []string
	size int // bytes's
}

// bytes is an estimate of the memory a column holds.
func (c *column) bytes() int { return c.size }

// measure sets the column's size, once it is built.
func (c *column) measure() {
	c.size = 2*len(c.codes) + 8*len(c.nums) + 8*len(c.hashes) + int(unsafe.Sizeof(""))*(len(c.dict)+len(c.keys)) + int(unsafe.Sizeof(column{}))
	for i, v := range c.dict {
		c.size += len(v) + len(c.keys[i])
	}
}

// pageCols is a page's columns: keys[i]'s is cols[i]. A set stored in a
// page is never changed: a reader that adds a column stores a new set.
type pageCols struct {
	keys []colKey
	cols []*column
}

func (pc *pageCols) column(k colKey) *column {
	if pc != nil {
		for i, have := range pc.keys {
			if have == k {
				return pc.cols[i]
			}
		}
	}
	return nil
}

// maxPageColumns bounds the columns a page keeps: a reader that would add
// one more starts the set again with only the columns it needs, so that
// aggregations over many fields cannot grow the memory without bound.
const maxPageColumns = 8

// columnsOf returns the page's columns for keys, in their order, building
// and storing those it lacks, into out's memory, and takes what they hold
// from budget. ok is false when the budget is short of what they would
// take: the page is then read by its entities. Columns whose dictionaries
// take the budget past its end serve this aggregation and are not kept.
func (p *page) columnsOf(keys []colKey, out []*column, sc *colScratch, budget *atomic.Int64) (cols []*column, ok bool) {
	out = out[:0]
	have := p.cols.Load()
	var missing []colKey
	for _, k := range keys {
		c := have.column(k)
		if c == nil && !slices.Contains(missing, k) { // MIN f and MAX f read one column
			missing = append(missing, k)
		}
		out = append(out, c)
	}
	if len(missing) == 0 {
		return out, true
	}
	need := 0
	for _, k := range missing {
		need += columnBytesAbout(k.kind, p.n)
	}
	if budget.Add(-int64(need)) < 0 {
		budget.Add(int64(need))
		return out, false
	}
	built := p.buildColumns(missing, sc)
	took := 0
	for _, c := range built {
		took += c.bytes()
	}
	keep := budget.Add(int64(need-took)) >= 0 // the dictionaries may take more
	if !keep {
		budget.Add(int64(took))
	}
	next := &pageCols{keys: missing, cols: built}
	if have != nil && len(have.keys)+len(missing) <= maxPageColumns {
		next.keys = append(slices.Clone(have.keys), missing...)
		next.cols = append(slices.Clone(have.cols), built...)
	}
	keep = keep && len(next.keys) <= maxPageColumns
	for i := range out {
		if out[i] == nil {
			out[i] = next.column(keys[i])
		}
	}
	// Another reader may have stored its own set meanwhile: either set is
	// right, and the next aggregation adds what this one lacks.
	if keep {
		p.cols.CompareAndSwap(have, next)
	}
	return out, true
}

// columnBytesAbout is what a column of a kind over n entities is likely to
// hold, before it is built: its codes or numbers (a dictionary adds its
// values).
func columnBytesAbout(kind colKind, n int) int {
	if kind == colValues {
		return 2 * n
	}
	return 8 * n
}

// colScratch is the memory a reader reuses from one page's build to the
// next: a map per dictionary, from a value to its code.
type colScratch struct {
	codes []map[string]uint16
}

// buildColumns reads the columns of keys out of the page's entities,
// in keys' order.
func (p *page) buildColumns(keys []colKey, sc *colScratch) []*column {
	var names []string
	field := make([]int, len(keys)) // each key's field's place in names
	for i, k := range keys {
		field[i] = slices.Index(names, k.field)
		if field[i] < 0 {
			field[i], names = len(names), append(names, k.field)
		}
	}
	nan := math.NaN()
	cols := make([]*column, len(keys))
	for len(sc.codes) < len(keys) {
		sc.codes = append(sc.codes, map[string]uint16{})
	}
	codes := sc.codes[:len(keys)]
	for i, k := range keys {
		switch k.kind {
		case colValues:
			cols[i] = &column{codes: make([]uint16, p.n)}
			clear(codes[i])
		case colNumbers:
			cols[i] = &column{nums: make([]float64, p.n)}
			for j := range cols[i].nums {
				cols[i].nums[j] = nan
			}
		}
	}
	vals := make([][]byte, len(names))
	at := -1 // the entity's place among the page's entities
	for j, t := range p.tags {
		if j+prefetchAhead < len(p.slots) {
			prefetchEntity(p.slots[j+prefetchAhead])
		}
		if t == 0 {
			continue
		}
		at++
		membersOf(stringBytes(p.slots[j].JSON()), names, vals)
		for i, k := range keys {
			v := vals[field[i]]
			c := cols[i]
			switch k.kind {
			case colValues:
				if v == nil {
					continue
				}
				code, ok := codes[i][bytesView(v)]
				if !ok {
					c.dict = append(c.dict, bytesView(v))
					code = uint16(len(c.dict))
					codes[i][bytesView(v)] = code
				}
				c.codes[at] = code
			case colNumbers:
				if f, ok := numberOf(v); ok {
					c.nums[at] = f
				}
			}
		}
	}
	for _, c := range cols {
		c.packDict()
		var keys []byte
		ends := make([]int, 0, len(c.dict))
		for _, v := range c.dict {
			c.hashes = append(c.hashes, hashID(v))
			keys = appendOrderKey(keys, stringBytes(v))
			ends = append(ends, len(keys))
		}
		start := 0
		for _, end := range ends {
			c.keys = append(c.keys, bytesView(keys[start:end]))
			start = end
		}
		c.measure()
	}
	return cols
}

// packDict copies the dictionary's values, which point into the
// entities, into one block of the column's own: an aggregation reads
// them for each page, and the entities' memory is not in the cache.
func (c *column) packDict() {
	n := 0
	for _, v := range c.dict {
		n += len(v)
	}
	if n == 0 {
		return
	}
	buf := make([]byte, 0, n)
	for i, v := range c.dict {
		buf = append(buf, v...)
		c.dict[i] = bytesView(buf[len(buf)-len(v):])
	}
}

// columnBytes is an estimate of the memory the page's columns hold.
func (p *page) columnBytes() int {
	have := p.cols.Load()
	if have == nil {
		return 0
	}
	n := 0
	for _, c := range have.cols {
		n += c.bytes()
	}
	return n
}

// dropColumns lets go of the columns of every page of the index.
func (x *index) dropColumns() {
	x.eachPage(func(p *page) bool {
		p.cols.Store(nil)
		return true
	})
}

// ColumnBytes estimates the memory the index's pages hold in columns.
func (x *index) ColumnBytes() int {
	n := 0
	x.eachPage(func(p *page) bool {
		n += p.columnBytes()
		return true
	})
	return n
}
