package sqldb

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CheckpointTable is the name of the checkpoint table in the target
// database.
const CheckpointTable = "foldb_checkpoints"

// maxRowsPerStatement bounds a multi-row statement below the database's
// parameter limit: past a thousand rows a longer statement saves little,
// and each prepared size costs memory in the driver (and, for PostgreSQL,
// in every server session).
const maxRowsPerStatement = 1000

// ErrTxDone is returned by a transaction's methods after Commit or
// Rollback.
var ErrTxDone = errors.New("sqldb: transaction already committed or rolled back")

// ErrCheckpointMoved is MoveCheckpoint's error when the checkpoint row is
// not at the position the projector last wrote.
var ErrCheckpointMoved = errors.New("sqldb: the checkpoint is not the one last written")

// dialect is what differs between the databases in the statements this
// package writes and the values it sends.
type dialect struct {
	maxParams   int                             // parameters one statement may have
	placeholder func(b *strings.Builder, n int) // writes parameter n, from 1
	columnType  func(Type) string
	// pkeyName names the primary key's constraint from the table's
	// IndexTag, "" for the database's default name.
	pkeyName func(t *Table) string
	// value is a row's value (of the Go type of Table's doc) as the
	// driver sends it.
	value func(v any) any
	// copyMin is the fewest rows Insert writes by the database's bulk
	// path; 0 for none.
	copyMin int
	// existsSQL counts the tables of name ? where an unqualified CREATE
	// TABLE makes them; checkpointDDL creates the checkpoint table.
	existsSQL, checkpointDDL string
	// The checkpoint table's statements with the dialect's parameters:
	// bound fills them.
	checkpointSelect, checkpointUpsert, checkpointMove, checkpointDelete string
}

// bound is d with its statements' parameters written in d's form.
func bound(d dialect) dialect {
	d.existsSQL = d.bind(d.existsSQL)
	d.checkpointSelect = d.bind(checkpointSelectSQL)
	d.checkpointUpsert = d.bind(checkpointUpsertSQL)
	d.checkpointMove = d.bind(checkpointMoveSQL)
	d.checkpointDelete = d.bind(checkpointDeleteSQL)
	return d
}

// bind writes each ? of query, which holds none but its parameters, as
// d's parameter.
func (d dialect) bind(query string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			d.placeholder(&b, n)
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// quoteIdent quotes an identifier for both databases: double quotes, a
// double quote inside doubled.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// checkName refuses names neither database can hold.
func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("sqldb: empty %s name", what)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("sqldb: %s name %q holds a NUL byte", what, name)
	}
	return nil
}

// indexName is the name of the index on column col.
func indexName(t *Table, col string) string { return t.IndexTag + "_" + col }

// checkTable refuses a table definition this package cannot write.
func checkTable(t *Table) error {
	if t == nil {
		return errors.New("sqldb: nil table")
	}
	if err := checkName("table", t.Name); err != nil {
		return err
	}
	if len(t.Columns) == 0 {
		return fmt.Errorf("sqldb: table %q has no columns", t.Name)
	}
	seen := make(map[string]bool, len(t.Columns)) // lower case: SQLite's names are
	names := make(map[string]bool, len(t.Columns))
	for _, c := range t.Columns {
		names[c.Name] = true
		if err := checkName("column", c.Name); err != nil {
			return fmt.Errorf("%w (table %q)", err, t.Name)
		}
		if seen[strings.ToLower(c.Name)] {
			return fmt.Errorf("sqldb: table %q has column %q twice", t.Name, c.Name)
		}
		seen[strings.ToLower(c.Name)] = true
		if !validType(c.Type) {
			return fmt.Errorf("sqldb: table %q column %q: unknown type %q", t.Name, c.Name, c.Type)
		}
	}
	if t.Key < -1 || t.Key >= len(t.Columns) {
		return fmt.Errorf("sqldb: table %q: key %d is not a column", t.Name, t.Key)
	}
	for _, ix := range t.Indexes {
		if !names[ix] {
			return fmt.Errorf("sqldb: table %q: index on %q, which is not a column", t.Name, ix)
		}
	}
	return nil
}

func validType(t Type) bool {
	for _, v := range Types {
		if t == v {
			return true
		}
	}
	return false
}

// createSQL is the statements that create t and its indexes.
func createSQL(d dialect, t *Table) []string {
	var b strings.Builder
	b.WriteString("CREATE TABLE ")
	b.WriteString(quoteIdent(t.Name))
	b.WriteString(" (")
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(c.Name))
		b.WriteByte(' ')
		b.WriteString(d.columnType(c.Type))
		if i == t.Key {
			b.WriteString(" NOT NULL")
		}
	}
	if t.Key >= 0 {
		b.WriteString(", ")
		if name := d.pkeyName(t); name != "" {
			b.WriteString("CONSTRAINT ")
			b.WriteString(quoteIdent(name))
			b.WriteByte(' ')
		}
		b.WriteString("PRIMARY KEY (")
		b.WriteString(quoteIdent(t.Columns[t.Key].Name))
		b.WriteByte(')')
	}
	b.WriteByte(')')
	stmts := []string{b.String()}
	for _, col := range t.Indexes {
		stmts = append(stmts, "CREATE INDEX "+quoteIdent(indexName(t, col))+" ON "+quoteIdent(t.Name)+" ("+quoteIdent(col)+")")
	}
	return stmts
}

// The statements a transaction sends many rows through.
const (
	opInsert = 'i'
	opUpsert = 'u'
	opDelete = 'd'
)

// rowsPerStatement is how many rows of cols parameters each one
// statement takes.
func rowsPerStatement(d dialect, cols int) int {
	return max(1, min(maxRowsPerStatement, d.maxParams/cols))
}

// pieces splits n rows into statements: full ones of per rows, then the
// rest as powers of two, so that a table needs a few statement sizes, not
// one per remainder, for each to be prepared once and kept.
func pieces(n, per int) []int {
	var p []int
	for ; n >= per; n -= per {
		p = append(p, per)
	}
	for bit := 1 << 30; bit > 0; bit >>= 1 {
		if n&bit != 0 {
			p = append(p, bit)
		}
	}
	return p
}

// rowsSQL is the statement of op for rows rows of t: a multi-row INSERT
// (an upsert by t's key for opUpsert), or for opDelete a DELETE of rows
// keys.
func rowsSQL(d dialect, op byte, t *Table, rows int) string {
	var b strings.Builder
	n := 0
	param := func() {
		n++
		d.placeholder(&b, n)
	}
	if op == opDelete {
		b.WriteString("DELETE FROM ")
		b.WriteString(quoteIdent(t.Name))
		b.WriteString(" WHERE ")
		b.WriteString(quoteIdent(t.Columns[t.Key].Name))
		b.WriteString(" IN (")
		for i := range rows {
			if i > 0 {
				b.WriteByte(',')
			}
			param()
		}
		b.WriteByte(')')
		return b.String()
	}
	b.WriteString("INSERT INTO ")
	b.WriteString(quoteIdent(t.Name))
	b.WriteString(" (")
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(c.Name))
	}
	b.WriteString(") VALUES ")
	for r := range rows {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for i := range t.Columns {
			if i > 0 {
				b.WriteByte(',')
			}
			param()
		}
		b.WriteByte(')')
	}
	if op == opUpsert {
		b.WriteString(" ON CONFLICT (")
		b.WriteString(quoteIdent(t.Columns[t.Key].Name))
		b.WriteString(") DO ")
		if len(t.Columns) == 1 {
			b.WriteString("NOTHING")
		} else {
			b.WriteString("UPDATE SET ")
			first := true
			for i, c := range t.Columns {
				if i == t.Key {
					continue
				}
				if !first {
					b.WriteString(", ")
				}
				first = false
				b.WriteString(quoteIdent(c.Name))
				b.WriteString(" = excluded.")
				b.WriteString(quoteIdent(c.Name))
			}
		}
	}
	return b.String()
}

// stmtKey names a statement of rowsSQL: what it is made of.
func stmtKey(op byte, t *Table, rows int) string {
	var b strings.Builder
	b.WriteByte(op)
	b.WriteString(strconv.Itoa(rows))
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(t.Key))
	b.WriteByte(0)
	b.WriteString(t.Name)
	for _, c := range t.Columns {
		b.WriteByte(0)
		b.WriteString(c.Name)
	}
	return b.String()
}

// cache keeps prepared statements (or their text) by stmtKey. It is
// emptied when full: a database sees few statement shapes, and a rebuild
// leaves old ones behind.
type cache[V any] struct {
	mu    sync.Mutex
	m     map[string]V
	max   int
	evict func(V)
}

func newCache[V any](max int, evict func(V)) *cache[V] {
	return &cache[V]{m: make(map[string]V), max: max, evict: evict}
}

// get returns the value of key, making it with make when missing.
func (c *cache[V]) get(key string, make func() (V, error)) (V, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[key]; ok {
		return v, nil
	}
	v, err := make()
	if err != nil {
		return v, err
	}
	if len(c.m) >= c.max {
		c.clear()
	}
	c.m[key] = v
	return v, nil
}

func (c *cache[V]) clear() {
	for k, v := range c.m {
		if c.evict != nil {
			c.evict(v)
		}
		delete(c.m, k)
	}
}

// checkRows checks that every row has a value of the right Go type for
// each column (or nil), and that key columns are not nil.
func checkRows(t *Table, rows [][]any) error {
	for _, row := range rows {
		if len(row) != len(t.Columns) {
			return fmt.Errorf("sqldb: table %q: a row of %d values for %d columns", t.Name, len(row), len(t.Columns))
		}
		for i, v := range row {
			if err := checkValue(t, i, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkValue checks value v of column i of t.
func checkValue(t *Table, i int, v any) error {
	c := t.Columns[i]
	if isNull(v) {
		if i == t.Key {
			return fmt.Errorf("sqldb: table %q: key column %q is NULL", t.Name, c.Name)
		}
		return nil
	}
	ok := false
	switch c.Type {
	case Text:
		_, ok = v.(string)
	case Integer:
		_, ok = v.(int64)
	case Real:
		_, ok = v.(float64)
	case Boolean:
		_, ok = v.(bool)
	case JSON:
		var b []byte
		switch x := v.(type) {
		case []byte:
			b, ok = x, true
		case json.RawMessage:
			b, ok = x, true
		}
		if ok && !json.Valid(b) {
			return fmt.Errorf("sqldb: table %q column %q: not one JSON value: %.40q", t.Name, c.Name, b)
		}
	case Timestamp:
		_, ok = v.(time.Time)
	}
	if !ok {
		return fmt.Errorf("sqldb: table %q column %q of type %s: a %T value", t.Name, c.Name, c.Type, v)
	}
	return nil
}

// isNull: nil, or a nil JSON value.
func isNull(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case []byte:
		return x == nil
	case json.RawMessage:
		return x == nil
	}
	return false
}

// lastByKey drops the rows whose key a later row has, keeping the order
// of the others: one statement may not upsert a key twice in PostgreSQL,
// and the later row is the one that counts.
func lastByKey(t *Table, rows [][]any) [][]any {
	if len(rows) < 2 {
		return rows
	}
	seen := make(map[any]struct{}, len(rows))
	dup := false
	for _, row := range rows {
		k := keyOf(row[t.Key])
		if _, ok := seen[k]; ok {
			dup = true
			break
		}
		seen[k] = struct{}{}
	}
	if !dup {
		return rows
	}
	clear(seen)
	out := make([][]any, 0, len(rows))
	for i := len(rows) - 1; i >= 0; i-- {
		k := keyOf(rows[i][t.Key])
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			out = append(out, rows[i])
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// instant is a time.Time as a map key: the same instant in any location.
type instant struct{ sec, nsec int64 }

// keyOf is v as a comparable map key.
func keyOf(v any) any {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case json.RawMessage:
		return string(x)
	case time.Time:
		return instant{x.Unix(), int64(x.Nanosecond())}
	}
	return v
}

// checkCheckpoint refuses a checkpoint the table cannot hold.
func checkCheckpoint(c Checkpoint) error {
	if c.Projection == "" {
		return errors.New("sqldb: checkpoint of no projection")
	}
	if c.Position > 1<<63-1 || c.Generation > 1<<63-1 {
		return fmt.Errorf("sqldb: checkpoint of %q: position %d or generation %d is over the 63 bits of a bigint", c.Projection, c.Position, c.Generation)
	}
	return nil
}

// ddl writes the statements that make, rename, empty and drop tables,
// which are the same in both databases but for the dialect; exec runs one
// in the transaction.
type ddl struct {
	d    dialect
	exec func(query string, args ...any) error
}

func (w ddl) createTable(t *Table) error {
	if err := checkTable(t); err != nil {
		return err
	}
	for _, q := range createSQL(w.d, t) {
		if err := w.exec(q); err != nil {
			return fmt.Errorf("sqldb: create table %q: %w", t.Name, err)
		}
	}
	return nil
}

func (w ddl) dropTable(name string) error {
	if err := checkName("table", name); err != nil {
		return err
	}
	if err := w.exec("DROP TABLE IF EXISTS " + quoteIdent(name)); err != nil {
		return fmt.Errorf("sqldb: drop table %q: %w", name, err)
	}
	return nil
}

func (w ddl) renameTable(from, to string) error {
	if err := checkName("table", from); err != nil {
		return err
	}
	if err := checkName("table", to); err != nil {
		return err
	}
	if err := w.exec("ALTER TABLE " + quoteIdent(from) + " RENAME TO " + quoteIdent(to)); err != nil {
		return fmt.Errorf("sqldb: rename table %q to %q: %w", from, to, err)
	}
	return nil
}

func (w ddl) clear(name string) error {
	if err := checkName("table", name); err != nil {
		return err
	}
	if err := w.exec("DELETE FROM " + quoteIdent(name)); err != nil {
		return fmt.Errorf("sqldb: clear %q: %w", name, err)
	}
	return nil
}
