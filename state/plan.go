package state

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/expr-lang/expr/ast"
	"github.com/foldb/foldb/internal/btree"
)

// The planner: a query whose WHERE is a conjunction (&&) with predicates
// on indexed fields, or whose SORTBY is an indexed field, walks ranges of
// an index instead of every entity. The ranges hold every entity that the
// predicates they come from accept (exactly those, for the predicates
// marked exact), and the whole WHERE still runs on each candidate, unless
// the ranges are exactly the WHERE: then a count is the ranges' sizes.
// Results are what a scan gives, in the same order (order.go).

// pred is one conjunct of a WHERE usable on an index: a top-level field
// compared with literals.
type pred struct {
	field string
	ranges
	points bool // == or in: the ranges are single values
	exact  bool // the ranges hold exactly the entities the conjunct accepts
}

// keyRange is the keys k with lo <= k < hi (hi nil: no upper bound), and
// how to say it: the bounds as conditions on the field.
type keyRange struct {
	lo, hi         []byte
	loDesc, hiDesc string
}

// ranges is a sorted list of disjoint key ranges.
type ranges []keyRange

// conjuncts lists the &&-separated parts of an expression.
func conjuncts(n ast.Node, out []ast.Node) []ast.Node {
	if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
		return conjuncts(b.Right, conjuncts(b.Left, out))
	}
	return append(out, n)
}

// fieldOf names the top-level field an operand reads: `price`,
// `state.price` or `state["price"]`.
func fieldOf(n ast.Node) (string, bool) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		if boundNames[n.Value] || n.Value == "$env" {
			return "", false
		}
		return n.Value, true
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		prop, isConst := n.Property.(*ast.StringNode)
		if ok && isConst && id.Value == nameState && !n.Method && !n.Optional {
			return prop.Value, true
		}
	}
	return "", false
}

// literalOf is a literal operand: nil, a bool, an int, a float or a string.
func literalOf(n ast.Node) (any, bool) {
	switch n := n.(type) {
	case *ast.NilNode:
		return nil, true
	case *ast.BoolNode:
		return n.Value, true
	case *ast.IntegerNode:
		return n.Value, true
	case *ast.FloatNode:
		return n.Value, true
	case *ast.StringNode:
		return n.Value, true
	case *ast.UnaryNode:
		if n.Operator == "-" {
			switch x := n.Node.(type) {
			case *ast.IntegerNode:
				return -x.Value, true
			case *ast.FloatNode:
				return -x.Value, true
			}
		}
	}
	return nil, false
}

// literalKey encodes a literal as a field value; exact reports that the
// order of the encoding decides comparisons with it as expressions do:
// numbers compare as float64, which is exact for an int only below 2^53.
func literalKey(v any) (key []byte, exact bool) {
	switch x := v.(type) {
	case nil:
		return []byte{rankNull}, true
	case bool:
		if x {
			return []byte{rankTrue}, true
		}
		return []byte{rankFalse}, true
	case int:
		return appendNumberKey(nil, float64(x)), x > -(1<<53) && x < 1<<53
	case float64:
		return appendNumberKey(nil, x), !math.IsNaN(x)
	case string:
		return appendBytesKey([]byte{rankString}, x), true
	}
	return nil, false
}

func literalText(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case string:
		return strconv.Quote(x)
	}
	return fmt.Sprint(v)
}

var flipped = map[string]string{"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}

// predOf recognises a usable conjunct.
func predOf(n ast.Node) (pred, bool) {
	b, ok := n.(*ast.BinaryNode)
	if !ok {
		return pred{}, false
	}
	switch b.Operator {
	case "in":
		f, ok := fieldOf(b.Left)
		arr, isArr := b.Right.(*ast.ArrayNode)
		if !ok || !isArr {
			return pred{}, false
		}
		p := pred{field: f, points: true, exact: true}
		strs, empty := true, false
		for _, el := range arr.Nodes {
			v, ok := literalOf(el)
			if !ok {
				return pred{}, false
			}
			str, isStr := v.(string)
			strs, empty = strs && isStr, empty || (isStr && str == "")
			k, exact := literalKey(v)
			p.exact = p.exact && exact
			p.ranges = append(p.ranges, keyRange{lo: k, hi: prefixEnd(k), loDesc: "== " + literalText(v)})
		}
		if strs && empty {
			// expr looks a list of strings up as a set of strings, where
			// nil is found as "".
			p.ranges = append(p.ranges, keyRange{lo: []byte{rankNull}, hi: []byte{rankNull + 1}, loDesc: "== nil"})
		}
		slices.SortFunc(p.ranges, func(a, b keyRange) int { return bytes.Compare(a.lo, b.lo) })
		p.ranges = slices.CompactFunc(p.ranges, func(a, b keyRange) bool { return bytes.Equal(a.lo, b.lo) })
		return p, true
	case "startsWith":
		f, ok := fieldOf(b.Left)
		s, isStr := b.Right.(*ast.StringNode)
		if !ok || !isStr {
			return pred{}, false
		}
		lo := appendEscaped([]byte{rankString}, s.Value)
		return pred{field: f, exact: true, ranges: ranges{{lo: lo, hi: prefixEnd(lo), loDesc: "startsWith " + strconv.Quote(s.Value)}}}, true
	case "==", "!=", "<", "<=", ">", ">=":
	default:
		return pred{}, false
	}
	op := b.Operator
	f, ok := fieldOf(b.Left)
	litNode := b.Right
	if !ok {
		if f, ok = fieldOf(b.Right); !ok {
			return pred{}, false
		}
		litNode, op = b.Left, flipped[op]
	}
	v, ok := literalOf(litNode)
	if !ok {
		return pred{}, false
	}
	k, exact := literalKey(v)
	text := literalText(v)
	switch op {
	case "==":
		return pred{field: f, points: true, exact: exact, ranges: ranges{{lo: k, hi: prefixEnd(k), loDesc: "== " + text}}}, true
	case "!=":
		if !exact { // values that compare unequal may have this key
			return pred{field: f, ranges: ranges{{}}}, true
		}
		return pred{field: f, exact: exact, ranges: ranges{
			{lo: nil, hi: k, hiDesc: "below " + text},
			{lo: prefixEnd(k), hi: nil, loDesc: "above " + text},
		}}, true
	}
	// An order comparison holds only between two numbers or two strings.
	var rank byte
	switch v.(type) {
	case int, float64:
		rank = rankNumber
	case string:
		rank = rankString
	default:
		return pred{}, false
	}
	start, end := []byte{rank}, []byte{rank + 1}
	r := keyRange{lo: start, hi: end}
	if !exact { // a value above or below may have the literal's key
		op = map[string]string{"<": "<=", "<=": "<=", ">": ">=", ">=": ">="}[op]
	}
	switch op {
	case "<":
		r.hi, r.hiDesc = k, "< "+text
	case "<=":
		r.hi, r.hiDesc = prefixEnd(k), "<= "+text
	case ">":
		r.lo, r.loDesc = prefixEnd(k), "> "+text
	case ">=":
		r.lo, r.loDesc = k, ">= "+text
	}
	return pred{field: f, exact: exact, ranges: ranges{r}}, true
}

// cmpHi compares two upper bounds, nil being above everything.
func cmpHi(a, b []byte) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return bytes.Compare(a, b)
}

// intersect returns the keys in both a and b.
func intersect(a, b ranges) ranges {
	var out ranges
	for i, j := 0, 0; i < len(a) && j < len(b); {
		r := a[i]
		if bytes.Compare(b[j].lo, r.lo) > 0 {
			r.lo, r.loDesc = b[j].lo, b[j].loDesc
		}
		if cmpHi(b[j].hi, r.hi) < 0 {
			r.hi, r.hiDesc = b[j].hi, b[j].hiDesc
		}
		if r.hi == nil || bytes.Compare(r.lo, r.hi) < 0 {
			out = append(out, r)
		}
		if cmpHi(a[i].hi, b[j].hi) < 0 {
			i++
		} else {
			j++
		}
	}
	return out
}

// maxPlanRanges bounds the ranges a compound index's points multiply into.
const maxPlanRanges = 256

// plan is how a query runs: over ranges of an index, or a scan.
type plan struct {
	fi      *indexView // nil: scan
	ranges  ranges     // whole keys of fi
	descs   []string   // each range as conditions
	ordered bool       // walking the ranges gives SORTBY's order
	exact   bool       // the ranges are exactly the WHERE's matches
	est     int        // keys in the ranges
	cost    float64    // entities the query reads, as choosePlan estimates it
	// uncounted: est is offset+limit, not the ranges' keys, which
	// choosePlan did not need to count (countRanges does)
	uncounted bool
	// want is how many entities a walk gives before its reader stops,
	// when that is known (0: not known)
	want int
}

// indexView is a read-only copy of one field index.
type indexView struct {
	def  *IndexDef
	tree *btree.BTreeG[ikey]
}

// rank counts the keys below k (k nil: all of them), by a binary search of
// positions: O(log² n) with the tree's counted nodes.
func (v *indexView) rank(k []byte) int {
	n := v.tree.Len()
	if k == nil {
		return n
	}
	probe := probeKey(k)
	lo, hi := 0, n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		item, _ := v.tree.GetAt(mid)
		if lessKey(item, probe) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// shortRange is the most keys count walks before it counts by ranks.
const shortRange = 32

// count counts the keys in a range: a short range (a point of a unique
// field, most often) by walking it, which is one descent of the tree
// instead of the two binary searches of positions.
func (v *indexView) count(r keyRange) int {
	n := 0
	var hi ikey
	if r.hi != nil {
		hi = probeKey(r.hi)
	}
	v.tree.Ascend(probeKey(r.lo), func(k ikey) bool {
		if r.hi != nil && !lessKey(k, hi) {
			return false
		}
		n++
		return n <= shortRange
	})
	if n <= shortRange {
		return n
	}
	lo := 0
	if len(r.lo) > 0 {
		lo = v.rank(r.lo)
	}
	return max(v.rank(r.hi)-lo, 0)
}

// planFor works out the plan of one index for the WHERE's predicates and
// the SORTBY field: an equality prefix of the index's fields, then ranges
// of the next field. ok is false when the index serves neither.
func planFor(v *indexView, preds []pred, nConj int, sortBy string) (p plan, ok bool) {
	type prefix struct {
		key   []byte
		descs []string
	}
	prefixes := []prefix{{}}
	used := 0
	allExact := true
	var last ranges // ranges of the field after the points (when lastField is set)
	lastField := ""
	pointFields := 0
	for _, f := range v.def.Fields {
		var rs ranges
		have, points := false, true
		for _, pr := range preds {
			if pr.field != f {
				continue
			}
			if !have {
				rs, have = pr.ranges, true
			} else {
				rs = intersect(rs, pr.ranges)
			}
			points = points && pr.points
			allExact = allExact && pr.exact
			used++
		}
		if !have {
			break
		}
		if !points || len(prefixes)*len(rs) > maxPlanRanges {
			last, lastField = rs, f
			break
		}
		var next []prefix
		for _, pf := range prefixes {
			for _, r := range rs {
				next = append(next, prefix{key: append(slices.Clip(pf.key), r.lo...), descs: append(slices.Clip(pf.descs), f+" "+r.loDesc)})
			}
		}
		prefixes = next
		pointFields++
	}
	sortPos := slices.Index(v.def.Fields, sortBy)
	p.ordered = sortBy == "" || (sortPos == len(v.def.Fields)-1 && sortPos <= pointFields && len(prefixes) == 1)
	if used == 0 && (sortBy == "" || !p.ordered) {
		return p, false
	}
	p.fi = v
	p.exact = allExact && used == nConj
	for _, pf := range prefixes {
		if lastField == "" {
			end := prefixEnd(pf.key)
			if len(pf.key) == 0 {
				end = nil
			}
			p.ranges = append(p.ranges, keyRange{lo: pf.key, hi: end})
			p.descs = append(p.descs, descText(pf.descs))
			continue
		}
		for _, r := range last {
			kr := keyRange{lo: append(slices.Clip(pf.key), r.lo...)}
			if r.hi != nil {
				kr.hi = append(slices.Clip(pf.key), r.hi...)
			} else if len(pf.key) > 0 {
				kr.hi = prefixEnd(pf.key)
			}
			ds := slices.Clip(pf.descs)
			if r.loDesc != "" {
				ds = append(ds, lastField+" "+r.loDesc)
			}
			if r.hiDesc != "" {
				ds = append(ds, lastField+" "+r.hiDesc)
			}
			p.ranges = append(p.ranges, kr)
			p.descs = append(p.descs, descText(ds))
		}
	}
	return p, true
}

// countRanges sets est to the number of keys in the ranges.
func (p *plan) countRanges() {
	p.est = 0
	for _, r := range p.ranges {
		p.est += p.fi.count(r)
	}
}

func descText(ds []string) string {
	if len(ds) == 0 {
		return "all"
	}
	return strings.Join(ds, " && ")
}

// choosePlan picks the cheapest plan of a query over a table view: the
// fewest entities read, where an ordered walk with a LIMIT stops after
// about (offset+limit) × range / matches of them, the matches being at
// most the smallest range of any plan. count: the query counts.
func choosePlan(tv *tableView, w *where, q Query, count bool) plan {
	n := tv.idx.Len()
	keep := -1
	if q.Limit >= 0 && !count {
		keep = q.Offset + q.Limit
	}
	scan := plan{est: n, ordered: q.SortBy == "", cost: float64(n)}
	if w == nil && q.SortBy == "" && keep >= 0 {
		scan.cost = float64(min(n, keep)) // the first entities of the table
	}
	if !scan.ordered {
		scan.cost++ // a sort
	}
	if len(tv.fidx) == 0 {
		return scan
	}
	var preds []pred
	nConj := 0
	if w != nil {
		if w.lets {
			return scan
		}
		cs := conjuncts(w.tree, nil)
		nConj = len(cs)
		for _, c := range cs {
			if pr, ok := predOf(c); ok {
				preds = append(preds, pr)
			}
		}
	}
	sortBy := q.SortBy
	if count {
		sortBy = ""
	}
	var cands []plan
	for _, v := range tv.fidx {
		if p, ok := planFor(v, preds, nConj, sortBy); ok {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		return scan
	}
	// A walk of ranges that are exactly the WHERE, in SORTBY's order, reads
	// no more than offset+limit entities: nothing does better, and counting
	// the ranges (two searches of positions each) would cost more than the
	// walk. Its est is the bound, as Reads gives it; Explain counts.
	if keep >= 0 {
		for _, p := range cands {
			if p.exact && p.ordered {
				p.est, p.cost, p.uncounted = keep, float64(keep), true
				return p
			}
		}
	}
	matches := n
	for i := range cands {
		cands[i].countRanges()
		matches = min(matches, cands[i].est)
	}
	cost := func(p plan) float64 {
		if count && p.exact {
			return float64(len(p.ranges))
		}
		c := float64(p.est)
		if p.ordered && keep >= 0 && matches > 0 {
			c = min(c, float64(keep)*float64(p.est)/float64(matches))
		}
		if !p.ordered {
			c += 1 // a sort
		}
		return c
	}
	best := scan
	for _, p := range cands {
		if p.cost = cost(p); p.cost < best.cost {
			best = p
		}
	}
	return best
}

// walk calls fn with the entity of each key in the plan's ranges, in the
// index's order or its reverse, until fn returns false.
func (p *plan) walk(tv *tableView, desc bool, fn func(Entity) bool) {
	nFields := len(p.fi.def.Fields)
	// The keys' entities are looked up a batch at a time (index.getBatch),
	// the first batch no larger than what the query keeps when that is
	// known.
	var b batch
	var keys [lookupBatch]ikey
	nk := 0
	var key []byte
	size := lookupBatch
	if p.want > 0 {
		size = min(p.want, lookupBatch)
	}
	goOn := true
	flush := func() bool {
		n := nk
		// A key longer than its inline bytes keeps the rest, with the id,
		// in a string of its own: ask for them all before reading any.
		for _, k := range keys[:n] {
			if k.rest != "" {
				prefetch(unsafe.StringData(k.rest))
			}
		}
		nk = 0
		for _, k := range keys[:n] {
			key = k.appendTo(key[:0])
			id := bytesView(key)
			for range nFields {
				id = id[skipOrderKey(id):]
			}
			b.add(id)
		}
		tv.idx.getBatch(&b)
		b.reset()
		size = lookupBatch
		for i := range n {
			if b.out[i] == "" {
				continue // cannot happen: the views are of one moment
			}
			if !fn(b.out[i]) {
				return false
			}
		}
		return true
	}
	visit := func(k ikey) bool {
		keys[nk] = k
		nk++
		if nk == size {
			goOn = flush()
		}
		return goOn
	}
	tree := p.fi.tree
	if !desc {
		for _, r := range p.ranges {
			hi := probeKey(r.hi)
			tree.Ascend(probeKey(r.lo), func(k ikey) bool {
				if r.hi != nil && !lessKey(k, hi) {
					return false
				}
				return visit(k)
			})
			if !goOn {
				return
			}
		}
	} else {
		for i := len(p.ranges) - 1; i >= 0; i-- {
			r := p.ranges[i]
			lo, hi := probeKey(r.lo), probeKey(r.hi)
			iter := func(k ikey) bool {
				if lessKey(k, lo) {
					return false
				}
				if r.hi != nil && !lessKey(k, hi) {
					return true // the pivot itself
				}
				return visit(k)
			}
			if r.hi == nil {
				tree.Reverse(iter)
			} else {
				tree.Descend(hi, iter)
			}
			if !goOn {
				return
			}
		}
	}
	if nk > 0 {
		flush()
	}
}
