package state

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"

	"go.yaml.in/yaml/v3"
)

// A schema change rebuilds from the log only the entity types whose fold
// it changes. A type's fold is what its entities are folded from and how:
// its declaration without what does not touch history (its indexes, and
// its handlers' guards, which are not checked when the log is folded),
// and the defaults and upcast steps of the event shapes. A type whose fold
// is the same under both schemas holds the same entities for the same
// log, so the new state starts with a copy-on-write fork of the old
// state's table (index.fork), as of a position between two rounds, and
// folds only the events after it. The default projection (the streams of
// undeclared categories) is one more unit: its tables are kept when the
// shapes' fold is the same and the new schema declares every name the old
// one did (a category it declares now loses its default table).

// setFolds works out each type's fold and the default projection's.
func (s *Schema) setFolds(nodes map[string]*yaml.Node) {
	shapes := sha256.New()
	s.foldShapes(shapes)
	shapeSum := shapes.Sum(nil)
	for _, t := range s.Types {
		h := sha256.New()
		h.Write(shapeSum)
		h.Write([]byte("type " + t.Name + "\n"))
		if n := nodes[t.Name]; n != nil {
			var decl any
			if err := n.Decode(&decl); err == nil {
				stripFold(decl)
				b, _ := json.Marshal(decl)
				h.Write(b)
			}
		}
		t.fold = hex.EncodeToString(h.Sum(nil))
	}
	s.defaultFold = hex.EncodeToString(shapeSum)
}

// foldShapes writes the shapes that change how events are folded: those
// with defaults or upcast steps.
func (s *Schema) foldShapes(h hash.Hash) {
	for _, sh := range s.Events {
		if len(sh.defaults) > 0 || len(sh.upcasts) > 0 {
			sh.fingerprint(h)
		}
	}
}

// stripFold removes from a decoded entity declaration what does not
// change its fold: indexes, and each handler's require and message.
func stripFold(decl any) {
	m, ok := decl.(map[string]any)
	if !ok {
		return
	}
	delete(m, "indexes")
	when, _ := m["when"].(map[string]any)
	for _, h := range when {
		if hm, ok := h.(map[string]any); ok {
			delete(hm, "require")
			delete(hm, "message")
		}
	}
}

// reusable is what of the old state a new schema can keep: the names of
// the types whose fold is the same, and whether the default projection's
// is.
func reusable(old, next *Schema) (types map[string]bool, dflt bool) {
	oldFold := map[string]string{}
	for _, t := range old.Types {
		oldFold[t.Name] = t.fold
	}
	types = map[string]bool{}
	for _, t := range next.Types {
		if f, ok := oldFold[t.Name]; ok && f == t.fold {
			types[t.Name] = true
		}
	}
	dflt = old.defaultFold == next.defaultFold
	for name := range old.declared {
		dflt = dflt && next.declared[name]
	}
	return types, dflt
}

// subSchema is a copy of s that folds only the types not in keep, and no
// default projection when noDefault (the rebuild of a change that reuses
// the rest).
func (s *Schema) subSchema(keep map[string]bool) *Schema {
	sub := *s
	sub.byCategory = map[string][]*EntityType{}
	sub.byEvent = map[string][]*EntityType{}
	for cat, ts := range s.byCategory {
		for _, t := range ts {
			if !keep[t.Name] {
				sub.byCategory[cat] = append(sub.byCategory[cat], t)
			}
		}
	}
	for typ, ts := range s.byEvent {
		for _, t := range ts {
			if !keep[t.Name] {
				sub.byEvent[typ] = append(sub.byEvent[typ], t)
			}
		}
	}
	sub.Types = nil
	for _, t := range s.Types {
		if !keep[t.Name] {
			sub.Types = append(sub.Types, t)
		}
	}
	return &sub
}

// forkTables returns copy-on-write forks of the tables of s that the
// schema next keeps: the types in keep, and when dflt the default
// projection's tables (those of no declared type of s) of the categories
// next does not declare. Call it where no round is staged (inside
// eventlog.Log.Exclusive), so that they are as of s's position, which it
// returns.
func (s *Store) forkTables(next *Schema, keep map[string]bool, dflt bool) (map[string]*table, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*table{}
	for name, t := range s.tables {
		declared := s.schema.typeNamed(name) != nil
		if (declared && keep[name]) || (!declared && dflt && !next.declared[name]) {
			nt := &table{name: name, idx: t.idx.fork()}
			if et := next.typeNamed(name); et != nil {
				nt.fidx = forkIndexes(t.fidx, et.Indexes)
			}
			out[name] = nt
		}
	}
	return out, s.pos
}

// forkIndexes returns copy-on-write copies of the indexes among have that
// the kept type still declares (want), so that a change that keeps a type
// keeps its indexes too; buildIndexes builds the others.
func forkIndexes(have []*fieldIndex, want []*IndexDef) []*fieldIndex {
	var out []*fieldIndex
	for _, def := range want {
		for _, f := range have {
			if f.def.Name() == def.Name() {
				out = append(out, &fieldIndex{def: def, tree: f.tree.Copy(), keyBytes: f.keyBytes})
			}
		}
	}
	return out
}
