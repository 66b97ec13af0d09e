package state

import (
	"errors"
	"fmt"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"github.com/tidwall/gjson"

	"github.com/foldb/foldb/eventlog"
)

// Names bound in every expression besides the entity's own fields.
const (
	nameState    = "state"
	nameEvent    = "event"
	nameMeta     = "meta"
	nameType     = "type"
	nameStream   = "stream"
	nameID       = "id"
	nameVersion  = "version"
	namePosition = "position"
	nameTime     = "time"
)

var boundNames = map[string]bool{
	nameState: true, nameEvent: true, nameMeta: true, nameType: true, nameStream: true,
	nameID: true, nameVersion: true, namePosition: true, nameTime: true,
}

// program is a compiled expression with the list of names it reads, so that
// evaluating it binds only those (a field read with gjson costs far less than
// decoding the whole entity or event).
type program struct {
	src   string
	prog  *vm.Program
	needs needs
	copy  *copyMember // the expression only reads one member: no need to run it
	arith *intArith   // the expression is integer arithmetic on two members or literals
	// constant is set when the expression is a string or integer literal
	// (and no AsBool program): value is its result, known without running.
	constant bool
	value    any
	// tree is the parsed expression as written (names not rewritten),
	// for the query planner; lets tells that it declares variables.
	tree ast.Node
	lets bool
}

// copyMember is an expression that is one member of the entity
// ("balance"), the event ("event.amount") or its meta ("meta.user"): set
// copies its JSON as written, without binding or running anything.
type copyMember struct {
	from string // nameState (the entity), nameEvent or nameMeta
	key  string
}

// needs says which names an expression reads.
type needs struct {
	fields []flatName // entity fields named directly
	state  objectUse
	event  objectUse
	meta   objectUse
	scalar map[string]bool // type, stream, id, version, position, time
}

// flatName is a JSON member and the variable it is bound to.
type flatName struct{ name, key string }

// objectUse is how an expression reads state, event or meta: through
// constant members (event.amount, bound as flat variables) and/or as a whole.
type objectUse struct {
	wholeUses int
	members   []flatName
}

func (u *objectUse) whole() bool { return u.wholeUses > 0 }

func (u *objectUse) add(object, key string) {
	for _, m := range u.members {
		if m.name == key {
			return
		}
	}
	u.members = append(u.members, flatName{key, object + ":" + key})
}

func (n *needs) addField(f string) {
	for _, x := range n.fields {
		if x.name == f {
			return
		}
	}
	n.fields = append(n.fields, flatName{f, fieldPrefix + f})
}

func (n *needs) removeField(f string) {
	for i, x := range n.fields {
		if x.name == f {
			n.fields = append(n.fields[:i], n.fields[i+1:]...)
			return
		}
	}
}

// merge adds what o needs to n.
func (n *needs) merge(o *needs) {
	for _, f := range o.fields {
		n.addField(f.name)
	}
	for _, p := range []struct {
		name     string
		dst, src *objectUse
	}{{nameState, &n.state, &o.state}, {nameEvent, &n.event, &o.event}, {nameMeta, &n.meta, &o.meta}} {
		p.dst.wholeUses += p.src.wholeUses
		for _, m := range p.src.members {
			p.dst.add(p.name, m.name)
		}
	}
	for k := range o.scalar {
		if n.scalar == nil {
			n.scalar = map[string]bool{}
		}
		n.scalar[k] = true
	}
}

// Prefixes of the flat names expressions are rewritten to. An entity field
// "balance" becomes the variable "field:balance" and a constant member
// "event.amount" becomes "event:amount", so that evaluation binds a few flat
// names (no nested maps, no reflection), and a field may be named like a
// builtin function (count, len, sum, ...).
const (
	fieldPrefix = "field:"
)

// compile compiles an expression once; asBool makes a non-boolean result an error.
func compile(src string, asBool bool) (*program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("empty expression")
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, firstLine(err)
	}
	declared := map[string]bool{}
	ast.Walk(&tree.Node, declaredNames(declared))
	r := &renamer{declared: declared}
	opts := []expr.Option{expr.Env(map[string]any{}), expr.AllowUndefinedVariables(), expr.Patch(r)}
	if asBool {
		opts = append(opts, expr.AsBool())
	}
	p, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, firstLine(err)
	}
	out := &program{src: src, prog: p, needs: r.needs, copy: copyOf(tree.Node, declared), arith: arithOf(tree.Node, declared),
		tree: tree.Node, lets: len(declared) > 0}
	if !asBool {
		switch n := tree.Node.(type) {
		case *ast.StringNode:
			out.constant, out.value = true, n.Value
		case *ast.IntegerNode:
			out.constant, out.value = true, n.Value
		}
	}
	return out, nil
}

// copyOf recognises an expression that is one member read.
func copyOf(n ast.Node, declared map[string]bool) *copyMember {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		if !boundNames[n.Value] && !declared[n.Value] && n.Value != "$env" {
			return &copyMember{from: nameState, key: n.Value}
		}
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		prop, isConst := n.Property.(*ast.StringNode)
		if ok && isConst && !n.Method && !n.Optional && (id.Value == nameState || id.Value == nameEvent || id.Value == nameMeta) {
			return &copyMember{from: id.Value, key: prop.Value}
		}
	}
	return nil
}

// intArith is an expression that adds, subtracts or multiplies two
// operands, each a member read (as copyOf recognises) or an integer
// literal: "balance + event.amount". When both operands hold integers it is
// worked out as the VM would (int arithmetic, wrapping on overflow) without
// binding or running anything; otherwise the program runs.
type intArith struct {
	op   byte // '+', '-' or '*'
	x, y intOperand
}

// intOperand is a member read, or an integer literal when member is nil.
type intOperand struct {
	member *copyMember
	lit    int
}

// arithOf recognises an intArith.
func arithOf(n ast.Node, declared map[string]bool) *intArith {
	b, ok := n.(*ast.BinaryNode)
	if !ok || (b.Operator != "+" && b.Operator != "-" && b.Operator != "*") {
		return nil
	}
	operand := func(n ast.Node) (intOperand, bool) {
		if lit, ok := n.(*ast.IntegerNode); ok {
			return intOperand{lit: lit.Value}, true
		}
		c := copyOf(n, declared)
		return intOperand{member: c}, c != nil
	}
	x, okx := operand(b.Left)
	y, oky := operand(b.Right)
	if !okx || !oky {
		return nil
	}
	return &intArith{op: b.Operator[0], x: x, y: y}
}

// eval works the expression out for an entity and an event; ok is false
// when an operand is not an integer, and the program must run instead.
func (a *intArith) eval(entity []byte, ev *eventlog.Event) (v int, ok bool) {
	x, ok := a.x.value(entity, ev)
	if !ok {
		return 0, false
	}
	y, ok := a.y.value(entity, ev)
	if !ok {
		return 0, false
	}
	switch a.op {
	case '+':
		return x + y, true
	case '-':
		return x - y, true
	}
	return x * y, true
}

func (o *intOperand) value(entity []byte, ev *eventlog.Event) (int, bool) {
	if o.member == nil {
		return o.lit, true
	}
	return intValue(o.member.raw(entity, ev))
}

type declaredNames map[string]bool

func (d declaredNames) Visit(node *ast.Node) {
	if v, ok := (*node).(*ast.VariableDeclaratorNode); ok {
		d[v.Name] = true
	}
}

// renamer rewrites identifiers to flat names and records what they need.
// ast.Walk visits children before their parent, so a callee identifier is
// renamed first and put back when its CallNode is visited.
type renamer struct {
	declared map[string]bool
	needs    needs
}

func (r *renamer) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		name := n.Value
		if r.declared[name] || name == "$env" || strings.Contains(name, ":") {
			return
		}
		switch {
		case name == nameState || name == nameEvent || name == nameMeta:
			r.use(name).wholeUses++
		case boundNames[name]:
			if r.needs.scalar == nil {
				r.needs.scalar = map[string]bool{}
			}
			r.needs.scalar[name] = true
		default:
			r.needs.addField(name)
			n.Value = fieldPrefix + name
		}
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		prop, isConst := n.Property.(*ast.StringNode)
		if !ok || !isConst || n.Method || r.declared[id.Value] {
			return
		}
		if id.Value != nameState && id.Value != nameEvent && id.Value != nameMeta {
			return
		}
		// The identifier was counted as a whole use when it was visited;
		// this member access is what it really needs.
		u := r.use(id.Value)
		u.wholeUses--
		u.add(id.Value, prop.Value)
		flat := &ast.IdentifierNode{Value: id.Value + ":" + prop.Value}
		ast.Patch(node, flat)
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok && strings.HasPrefix(id.Value, fieldPrefix) {
			id.Value = strings.TrimPrefix(id.Value, fieldPrefix)
			r.needs.removeField(id.Value)
		}
	}
}

func (r *renamer) use(name string) *objectUse {
	switch name {
	case nameState:
		return &r.needs.state
	case nameEvent:
		return &r.needs.event
	}
	return &r.needs.meta
}

// input is what an expression is evaluated against.
type input struct {
	entity   []byte // the entity's JSON object (initial state for a new one)
	entityID string
	version  uint64          // the entity's version (queries)
	ev       *eventlog.Event // nil in queries
}

// evaluator binds names and runs programs. It is not safe for concurrent
// use; each goroutine that evaluates has its own.
type evaluator struct {
	vm  vm.VM
	env map[string]any
}

func newEvaluator() *evaluator { return &evaluator{env: make(map[string]any, 8)} }

// bind fills the environment with what n needs from in. It does not clear
// the names other programs bound: a program reads only the names its needs
// list, and bind sets every one of those, to nil when missing. The
// environment so holds at most the names of the programs one evaluator
// runs (a schema's, or one WHERE's).
func (e *evaluator) bind(n *needs, in *input) {
	env := e.env
	for _, f := range n.fields {
		env[f.key] = rawValue(member(in.entity, f.name))
	}
	bindObject(env, nameState, in.entity, &n.state)
	if in.ev != nil {
		bindObject(env, nameEvent, in.ev.Data, &n.event)
		meta := in.ev.Meta
		if meta == nil {
			meta = emptyObject
		}
		bindObject(env, nameMeta, meta, &n.meta)
	}
	for name := range n.scalar {
		switch name {
		case nameID:
			env[nameID] = in.entityID
		case nameVersion:
			if in.ev != nil {
				env[nameVersion] = int(in.ev.Version)
			} else {
				env[nameVersion] = int(in.version)
			}
		}
		if in.ev == nil {
			continue
		}
		switch name {
		case nameType:
			env[nameType] = in.ev.Type
		case nameStream:
			env[nameStream] = in.ev.Stream
		case namePosition:
			env[namePosition] = int(in.ev.Position)
		case nameTime:
			env[nameTime] = int(in.ev.Time)
		}
	}
}

var emptyObject = []byte("{}")

// bindObject binds the members of a JSON object an expression reads as flat
// variables, and the whole object where it is used as a whole.
func bindObject(env map[string]any, name string, obj []byte, u *objectUse) {
	for _, m := range u.members {
		env[m.key] = rawValue(member(obj, m.name))
	}
	if u.whole() {
		m, _ := toValue(gjson.ParseBytes(obj)).(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		env[name] = m
	}
}

// run evaluates p against the bound environment.
func (e *evaluator) run(p *program) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return e.vm.Run(p.prog, e.env)
}

// eval binds and runs one program.
func (e *evaluator) eval(p *program, in *input) (any, error) {
	e.bind(&p.needs, in)
	return e.run(p)
}

// firstLine keeps the first line of an expr error: the rest is a drawing of
// the source that a one-line RESP error cannot show.
func firstLine(err error) error {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return errors.New(msg)
}
