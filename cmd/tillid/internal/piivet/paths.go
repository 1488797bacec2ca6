package piivet

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/types"
	"strings"

	"golang.org/x/tools/go/types/typeutil"
)

// This file checks the field paths written as string constants in calls
// of pii.ColumnFor, (*pii.Protector).BlindIndexer and
// (*pii.Protector).LookupTerms, which pii resolves at run time (its
// fieldByPath, pii/column.go): a path naming no field, a field without a
// walked pii tag, or a field the call cannot use is an error there, and
// is reported here at the call.

// pathCalls are the functions that take a field path: the index of the
// value argument, of the path, and what the call needs of the field.
var pathCalls = map[string]struct {
	value, path int
	need        func(s *structState, i int, queries int) string
}{
	"ColumnFor":    {0, 1, columnNeeds},
	"BlindIndexer": {0, 1, indexerNeeds},
	"LookupTerms":  {1, 2, lookupNeeds},
}

// pointerCalls are the Protector methods whose second argument must be a
// non-nil pointer: pii returns ErrInvalidTarget for anything else.
var pointerCalls = map[string]bool{"Protect": true, "Reveal": true, "Rewrap": true, "RevealReport": true, "Erase": true}

func (c *checker) pathCall(call *ast.CallExpr) {
	fn, ok := typeutil.Callee(c.pass.TypesInfo, call).(*types.Func)
	if !ok || fn.Pkg() == nil || fn.Pkg().Path() != piiPath {
		return
	}
	if recv := fn.Signature().Recv(); recv != nil && pointerCalls[fn.Name()] && len(call.Args) == 2 &&
		namedIs(derefType(recv.Type()), piiPath, "Protector") {
		c.pointerArg(fn.Name(), call.Args[1])
		return
	}
	pc, ok := pathCalls[fn.Name()]
	recv := fn.Signature().Recv()
	if !ok || (recv == nil) != (fn.Name() == "ColumnFor") || len(call.Args) <= pc.path {
		return
	}
	if recv != nil && !namedIs(derefType(recv.Type()), piiPath, "Protector") {
		return
	}
	tv, ok := c.pass.TypesInfo.Types[call.Args[pc.path]]
	if !ok || tv.Value == nil || tv.Value.Kind() != constant.String {
		return
	}
	path := constant.StringVal(tv.Value)
	t := c.valueType(call.Args[pc.value])
	if t == nil {
		return
	}
	queries := -1 // unknown: a ...spread
	if fn.Name() == "LookupTerms" && !call.Ellipsis.IsValid() {
		queries = len(call.Args) - 3
	}
	if msg := resolvePath(t, path, func(s *structState, i int) string { return pc.need(s, i, queries) }); msg != "" {
		c.report(call.Args[pc.path].Pos(), fmt.Sprintf("%s(%q): %s", fn.Name(), path, msg))
	}
}

// pointerArg reports a value passed to Protect, Reveal, Rewrap,
// RevealReport or Erase that cannot be a pointer: pii changes the value in
// place, and refuses a copy at run time.
func (c *checker) pointerArg(name string, e ast.Expr) {
	tv, ok := c.pass.TypesInfo.Types[e]
	if !ok {
		return
	}
	if tv.IsNil() {
		c.report(e.Pos(), fmt.Sprintf("%s(nil): pii needs a pointer to the value to change", name))
		return
	}
	switch tv.Type.Underlying().(type) {
	case *types.Pointer, *types.Interface:
		return
	}
	if _, ok := types.Unalias(tv.Type).(*types.TypeParam); ok {
		return
	}
	c.report(e.Pos(), fmt.Sprintf("%s of a %s: pii changes the value in place and refuses a copy; pass a pointer (&v)", name, types.TypeString(tv.Type, c.typeChecker().qual)))
}

func derefType(t types.Type) types.Type {
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		return p.Elem()
	}
	return t
}

// valueType returns the static type of the value argument e, or what a
// reflect.TypeFor[T]() or reflect.TypeOf(x) passed as e stands for; nil
// when it is not known (an interface).
func (c *checker) valueType(e ast.Expr) types.Type {
	e = ast.Unparen(e)
	if call, ok := e.(*ast.CallExpr); ok {
		if fn, ok := typeutil.Callee(c.pass.TypesInfo, call).(*types.Func); ok && fn.Pkg() != nil && fn.Pkg().Path() == "reflect" {
			switch {
			case fn.Name() == "TypeFor":
				if ix, ok := ast.Unparen(call.Fun).(*ast.IndexExpr); ok {
					return c.pass.TypesInfo.TypeOf(ix.Index)
				}
				return nil
			case fn.Name() == "TypeOf" && len(call.Args) == 1:
				e = call.Args[0]
			}
		}
	}
	t := c.pass.TypesInfo.TypeOf(e)
	if t == nil {
		return nil
	}
	if _, ok := t.Underlying().(*types.Interface); ok {
		return nil
	}
	return t
}

// resolvePath mirrors pii's findFieldByPath over the type t: the dotted
// path goes through direct struct fields (through pointers) to a field
// with a walked tag, which need then checks. A struct on the way whose
// tags pii refuses is left alone: the tag is reported where it is.
func resolvePath(t types.Type, path string, need func(s *structState, i int) string) string {
	for {
		p, ok := types.Unalias(t).Underlying().(*types.Pointer)
		if !ok {
			break
		}
		t = p.Elem()
	}
	parts := strings.Split(path, ".")
	for k, name := range parts {
		st, ok := t.Underlying().(*types.Struct)
		if !ok {
			if k == 0 {
				return fmt.Sprintf("%s is not a struct", types.TypeString(t, nil))
			}
			return ""
		}
		if hasTypeParam(t, 0) || len((&typeChecker{}).typeProblems(st)) > 0 {
			return ""
		}
		s := newStructState(st)
		i := directField(st, name)
		if i < 0 {
			if obj, _, _ := types.LookupFieldOrMethod(t, true, nil, name); obj != nil {
				return fmt.Sprintf("%s has no field %s of its own; a path names the embedded field too, as in Embedded.%s", typeLabel(t), name, name)
			}
			return fmt.Sprintf("%s has no field %s", typeLabel(t), name)
		}
		if k == len(parts)-1 {
			if !s.valid(i) || !facts[s.action(i)].walked {
				return fmt.Sprintf("%s.%s has no pii tag that stores a value", typeLabel(t), name)
			}
			return need(s, i)
		}
		outer := typeLabel(t)
		t = st.Field(i).Type()
		for {
			p, ok := types.Unalias(t).Underlying().(*types.Pointer)
			if !ok {
				break
			}
			t = p.Elem()
		}
		if _, ok := t.Underlying().(*types.Struct); !ok {
			return fmt.Sprintf("%s.%s is not a struct field; a path goes through struct fields only", outer, name)
		}
	}
	return ""
}

func typeLabel(t types.Type) string {
	if n, ok := types.Unalias(t).(*types.Named); ok {
		return n.Obj().Name()
	}
	return "struct"
}

// subjectKeyed reports whether field i of s is sealed under its subject's
// keys: an encrypt or deterministic field bound to a subject field.
func subjectKeyed(s *structState, i int) bool {
	if !facts[s.action(i)].sealed {
		return false
	}
	_, named := s.tags[i].t.Option("subject")
	return named || len(s.subjects) == 1
}

func columnNeeds(s *structState, i int, _ int) string {
	switch {
	case s.action(i) == "redact":
		return "the field is tagged redact, which stores nothing"
	case subjectKeyed(s, i):
		return "the field is sealed under its subject's keys, which a Column does not reach; use Protect, Reveal and Rewrap on the struct"
	}
	return ""
}

func indexerNeeds(s *structState, i int, _ int) string {
	switch s.action(i) {
	case "index", "pseudonym", "hash":
		return ""
	}
	return fmt.Sprintf("the field is tagged %s; a BlindIndexer is for index and pseudonym fields", s.action(i))
}

func lookupNeeds(s *structState, i int, queries int) string {
	act := s.action(i)
	switch act {
	case "index", "pseudonym", "hash", "deterministic":
	default:
		return fmt.Sprintf("the field is tagged %s; LookupTerms works on index, pseudonym and deterministic fields", act)
	}
	want := 1
	if act == "index" {
		want = len(strings.Split(s.tags[i].t.Action.Value, "+"))
	}
	if queries >= 0 && queries != want {
		return fmt.Sprintf("the field takes %d query value(s), got %d", want, queries)
	}
	if act != "deterministic" {
		return ""
	}
	if _, ok := s.tags[i].t.Option("aad"); ok {
		return "the field is bound to its record with aad=, so its stored form differs per record and cannot be looked up; drop aad= or add an index field"
	}
	if subjectKeyed(s, i) {
		return "the field is sealed under its subject's key, so its stored form differs per subject and cannot be looked up; add an index field"
	}
	if leaf := s.st.Field(i).Type(); isValue(leaf) {
		return "LookupTerms supports string and []byte fields, not pii.Value"
	}
	return ""
}
