package state

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Aggregate groups the entities a WHERE selects by a field and reduces
// each group (ENTITY.AGGREGATE). It reads what the query planner gives for
// the WHERE: an index's ranges or every entity.
type Aggregate struct {
	Type     string
	Where    string
	GroupBy  string // a top-level field; "": one group of all
	Reducers []Reducer
}

// Reducer is one figure of a group: COUNT, or SUM, MIN, MAX, AVG of a
// top-level field.
type Reducer struct {
	Op    string // "COUNT", "SUM", "MIN", "MAX", "AVG"
	Field string // "" for COUNT
}

// Name is how a reply names the figure: count, sum(price), ...
func (r Reducer) Name() string {
	if r.Op == "COUNT" {
		return "count"
	}
	return fmt.Sprintf("%s(%s)", lowerASCII(r.Op), r.Field)
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// AggRow is one group: its field's value as JSON ("" when missing; the
// row of all when there is no GROUPBY), and one value per reducer, in the
// reducers' order: an int64 for COUNT; for SUM and AVG a float64 (nil
// when no entity of the group has a number there); for MIN and MAX the JSON
// of the least or greatest value in the order of values (order.go), ""
// when none has the field (of equal values, 2 and 2.0, the least JSON
// text).
type AggRow struct {
	Group  string
	Values []any
}

type aggAcc struct {
	group  string
	key    string // the group's order key
	count  int64
	sums   []float64
	nums   []int64 // numbers summed, per reducer
	minmax []string
	mmKeys []string
}

// Aggregate runs an aggregation. Groups come in the order of their values
// (order.go).
func (s *Store) Aggregate(a Aggregate) ([]AggRow, error) {
	m, err := newMatcher(a.Where)
	if err != nil {
		return nil, err
	}
	groups := map[string]*aggAcc{}
	newAcc := func(group, key string) *aggAcc {
		n := len(a.Reducers)
		return &aggAcc{group: group, key: key, sums: make([]float64, n), nums: make([]int64, n), minmax: make([]string, n), mmKeys: make([]string, n)}
	}
	if tv := s.viewTable(a.Type); tv != nil {
		p := choosePlan(tv, m.prog, Query{Type: a.Type, Limit: -1}, false)
		if p.exact {
			m = &matcher{}
		}
		var buf []byte
		p.source(tv, false)(func(e Entity) bool {
			if !m.match(e) {
				return true
			}
			obj := stringBytes(e.JSON())
			var raw []byte
			if a.GroupBy != "" {
				raw = member(obj, a.GroupBy)
			}
			buf = appendOrderKey(buf[:0], raw)
			g := groups[string(buf)]
			if g == nil {
				g = newAcc(string(raw), string(buf))
				groups[g.key] = g
			}
			g.count++
			for i, r := range a.Reducers {
				if r.Op == "COUNT" {
					continue
				}
				v := member(obj, r.Field)
				switch r.Op {
				case "SUM", "AVG":
					switch x := rawValue(v).(type) {
					case int:
						g.sums[i] += float64(x)
						g.nums[i]++
					case float64:
						g.sums[i] += x
						g.nums[i]++
					}
				case "MIN", "MAX":
					if v == nil {
						continue
					}
					buf = appendOrderKey(buf[:0], v)
					better := g.mmKeys[i] == "" || (r.Op == "MIN" && string(buf) < g.mmKeys[i]) || (r.Op == "MAX" && string(buf) > g.mmKeys[i]) ||
						(string(buf) == g.mmKeys[i] && string(v) < g.minmax[i]) // equal values (2, 2.0): the shorter text, whatever the order read
					if better {
						g.mmKeys[i], g.minmax[i] = string(buf), string(v)
					}
				}
			}
			return true
		})
	}
	if a.GroupBy == "" && len(groups) == 0 {
		groups[""] = newAcc("", "")
	}
	accs := make([]*aggAcc, 0, len(groups))
	for _, g := range groups {
		accs = append(accs, g)
	}
	slices.SortFunc(accs, func(x, y *aggAcc) int {
		if x.key < y.key {
			return -1
		}
		if x.key > y.key {
			return 1
		}
		return 0
	})
	rows := make([]AggRow, len(accs))
	for j, g := range accs {
		row := AggRow{Group: g.group, Values: make([]any, len(a.Reducers))}
		for i, r := range a.Reducers {
			switch r.Op {
			case "COUNT":
				row.Values[i] = g.count
			case "SUM", "AVG":
				if g.nums[i] == 0 {
					row.Values[i] = nil
					continue
				}
				v := g.sums[i]
				if r.Op == "AVG" {
					v /= float64(g.nums[i])
				}
				row.Values[i] = v
			default:
				row.Values[i] = g.minmax[i]
			}
		}
		rows[j] = row
	}
	return rows, nil
}

// FormatNumber writes a SUM or AVG as ENTITY.AGGREGATE replies it: whole
// numbers without a fraction, others in the shortest form that reads back.
func FormatNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
