package state

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Store is the whole state in memory: every entity of every type, folded
// from the log up to Position by one Schema.
//
// One goroutine writes (the log's writer, or the loader before the store is
// published); any number read. Writes go through Stage, which folds an
// append's events into an overlay (overlay.go) and never touches what
// readers see, and Publish, which moves the overlay into the types' indexes
// (copy-on-write hash tables, index.go) under the write lock. Loading folds
// straight into the indexes with Apply (fold.go). Apply is deterministic and does no I/O: the same events in the same
// order give the same state, byte for byte.
type Store struct {
	schema *Schema

	mu     sync.RWMutex // readers: RLock; Publish and views: Lock
	tables map[string]*table
	pos    uint64

	// Owned by the writing goroutine.
	direct    bool // apply straight to the indexes (loading), no overlay
	eval      *evaluator
	overlay   map[entKey]Entity   // the round being staged; "" marks a deletion
	sealed    []map[entKey]Entity // rounds staged, not yet published, oldest first (Seal)
	spare     []map[entKey]Entity
	undo      []undoEntry
	inTx      bool // a transaction's appends are staged: undo spans them (BeginTx)
	newTables map[string]*table
	routes    map[routeKey]*route
	buf       []byte
	vals      []byte
	fields    []field
	ends      []int
	defaults  defaulter // the event as folded, when its type declares defaults (shape.go)
	upcast    *upcaster // the event as folded, when it was written under an older version (upcast.go)

	projectionErrors atomic.Uint64
	firstProjErr     atomic.Pointer[string]
	// upcastErrors counts stored events an upcast step failed on; a
	// replay that meets one fails (upcastFailure).
	upcastErrors   atomic.Uint64
	firstUpcastErr atomic.Pointer[UpcastError]

	// noDefault: the store folds no undeclared category (a replay shard
	// that does not own the default projection; see split).
	noDefault bool
	// indexesOn: the declared field indexes are built and every write
	// keeps them up to date (fieldindex.go).
	indexesOn bool
}

// table is one entity type's published entities: by id in idx, and in
// the order of each declared index in fidx (nil until the store's indexes
// are built).
type table struct {
	name string
	idx  *index
	fidx []*fieldIndex

	// stored are the declared indexes a snapshot held, in the schema's
	// order (nil where it held none), as of the snapshot's position. The
	// replay of the log after it does not keep them up to date; its writes
	// note in touched, the first time they write an id, the entity the id
	// had as of the snapshot ("" for none), and buildIndexes patches those
	// ids into them instead of building them (fieldindex.go). Both are nil
	// once the indexes are built, or when the snapshot held none.
	stored  []*fieldIndex
	touched map[string]Entity

	// view is the last view viewTable gave, given again while it is current
	view *tableView
}

// RejectedError is an append refused by a guard, or by a projection that
// failed on it; nothing of the append was written.
type RejectedError struct{ Message string }

func (e *RejectedError) Error() string { return "state: rejected: " + e.Message }

// NewStore returns an empty store for a schema, in direct mode (for loading).
func NewStore(schema *Schema) *Store {
	return &Store{
		schema:    schema,
		tables:    map[string]*table{},
		direct:    true,
		eval:      newEvaluator(),
		overlay:   map[entKey]Entity{},
		newTables: map[string]*table{},
		routes:    map[routeKey]*route{},
	}
}

// newTable returns an empty table; with its indexes when the store keeps
// them.
func (s *Store) newTable(name string) *table {
	t := &table{name: name, idx: newIndex()}
	if s.indexesOn {
		if et := s.schema.typeNamed(name); et != nil {
			for _, def := range et.Indexes {
				t.fidx = append(t.fidx, newFieldIndex(def))
			}
		}
	}
	return t
}

// Schema is the schema the store folds by.
func (s *Store) Schema() *Schema { return s.schema }

// Position is the newest event folded in and published.
func (s *Store) Position() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pos
}

// upcastFailure is the error a replay that met events its upcast steps
// failed on returns: a schema under which a stored event cannot be read
// is not put in force.
func (s *Store) upcastFailure() error {
	n := s.upcastErrors.Load()
	if n == 0 {
		return nil
	}
	return fmt.Errorf("state: %d stored events do not upcast; the first: %w", n, s.firstUpcastErr.Load())
}

// ProjectionErrors counts events a projection failed on while loading (they
// were skipped for that entity), with the first failure's text.
func (s *Store) ProjectionErrors() (uint64, string) {
	var first string
	if p := s.firstProjErr.Load(); p != nil {
		first = *p
	}
	return s.projectionErrors.Load(), first
}
