package piivet

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"reflect"
	"strconv"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/inspect"
	"golang.org/x/tools/go/ast/inspector"

	"github.com/tillid/tillid/cmd/tillid/internal/inventory"
	"github.com/tillid/tillid/internal/tag"
)

// Analyzer reports untagged personal data, invalid pii tags and tagged
// structs passed to fmt, log or log/slog without pii.Redacted. It needs no
// facts, so it runs alone under go vet -vettool, unitchecker or the
// checker package. It is safe for concurrent use on different passes.
var Analyzer = &analysis.Analyzer{
	Name:     "piivet",
	Doc:      "report untagged personal data, invalid pii tags and tagged structs logged without pii.Redacted",
	URL:      "https://pkg.go.dev/github.com/tillid/tillid/cmd/tillid",
	Requires: []*analysis.Analyzer{inspect.Analyzer},
	Run:      run,
}

func run(pass *analysis.Pass) (any, error) {
	insp := pass.ResultOf[inspect.Analyzer].(*inspector.Inspector)
	skipNames := map[*token.File]bool{}
	for _, f := range pass.Files {
		tf := pass.Fset.File(f.Pos())
		if tf != nil && (ast.IsGenerated(f) || strings.HasSuffix(tf.Name(), "_test.go")) {
			skipNames[tf] = true
		}
	}
	c := &checker{pass: pass}
	insp.WithStack([]ast.Node{(*ast.StructType)(nil), (*ast.CallExpr)(nil), (*ast.TypeSpec)(nil)}, func(n ast.Node, push bool, stack []ast.Node) bool {
		if !push {
			return true
		}
		switch n := n.(type) {
		case *ast.TypeSpec:
			c.typeSpec(n)
		case *ast.StructType:
			c.structType(n, structName(stack), !skipNames[pass.Fset.File(n.Pos())])
		case *ast.CallExpr:
			c.call(n)
			c.pathCall(n)
		}
		return true
	})
	return nil, nil
}

// maxDepth bounds the walks through nested and embedded types.
const maxDepth = 64

type checker struct {
	pass     *analysis.Pass
	tagged   inventory.TaggedTypes
	reported map[reportKey]bool
}

// structName names the struct type at the top of stack by the type and the
// fields it is nested in: Order, or OrderBilling for the anonymous struct of
// Order's Billing field.
func structName(stack []ast.Node) string {
	var b strings.Builder
	for _, n := range stack {
		switch n := n.(type) {
		case *ast.TypeSpec:
			b.Reset()
			b.WriteString(n.Name.Name)
		case *ast.Field:
			for _, id := range n.Names {
				b.WriteString(id.Name)
			}
		}
	}
	return b.String()
}

func (c *checker) structType(st *ast.StructType, name string, checkNames bool) {
	ctx := contextOf(name)
	var refused map[*ast.Field]bool
	if st2, ok := c.pass.TypesInfo.TypeOf(st).(*types.Struct); ok {
		refused = c.checkTags(st, st2)
	}
	if !checkNames {
		return
	}
	for _, f := range st.Fields.List {
		typ := c.pass.TypesInfo.TypeOf(f.Type)
		if _, hasTag := piiTag(f); hasTag || typ == nil || refused[f] {
			continue
		}
		for _, id := range fieldIdents(f) {
			if !id.IsExported() {
				continue
			}
			if class, ok := classifyField(ctx, id.Name, typ); ok {
				c.pass.Reportf(id.Pos(), "%s looks like personal data (%s) but has no pii tag: tag it, as in pii:\"encrypt,class=%s\", or write pii:\"-\" if it is not personal", id.Name, class, class)
			}
		}
	}
}

// checkTags reports the invalid pii tags of the struct type st, whose type
// is s: what the shared schema refuses, then what pii's plan refuses of
// the fields' Go types (types.go), and, at each untagged field holding an
// instance of a generic struct, what pii refuses in that instance. It
// returns the fields it reported.
func (c *checker) checkTags(st *ast.StructType, s *types.Struct) map[*ast.Field]bool {
	var fields []*ast.Field // by field index
	var idents []token.Pos
	for _, f := range st.Fields.List {
		n := max(len(f.Names), 1)
		for k := range n {
			fields = append(fields, f)
			if len(f.Names) > 0 {
				idents = append(idents, f.Names[k].Pos())
			} else {
				idents = append(idents, f.Type.Pos())
			}
		}
	}
	if len(fields) != s.NumFields() {
		return nil
	}
	reported := map[int]bool{}
	report := func(i int, format string, args ...any) {
		pos := idents[i]
		if fields[i].Tag != nil {
			pos = fields[i].Tag.Pos()
		}
		reported[i] = true
		c.report(pos, fmt.Sprintf(format, args...))
	}
	defaults := 0
	for i, f := range fields {
		raw, ok := piiTag(f)
		if !ok {
			continue
		}
		if v := s.Field(i); v.Name() == "_" {
			defaults++
			if msg := checkDefaults(raw, defaults); msg != "" {
				report(i, "%s", msg)
			}
		} else if msg := checkTag(raw, v); msg != "" {
			report(i, "%s", msg)
		} else if msg := deprecatedAction(raw); msg != "" {
			report(i, "%s", msg)
		}
	}
	tc := c.typeChecker()
	for _, p := range tc.typeProblems(s) {
		if !reported[p.field] {
			report(p.field, "%s", p.msg)
		}
	}
	for i := range s.NumFields() {
		if f := s.Field(i); fields[i].Tag == nil && (f.Exported() || f.Embedded()) {
			if n := c.usedStruct(f.Type()); n != nil {
				c.checkInstance(idents[i], n, map[string]bool{})
			}
		}
	}
	out := map[*ast.Field]bool{}
	for i := range reported {
		out[fields[i]] = true
	}
	return out
}

// report reports msg at pos once: the names of one field share its tag.
func (c *checker) report(pos token.Pos, msg string) {
	key := reportKey{pos, msg}
	if c.reported[key] {
		return
	}
	if c.reported == nil {
		c.reported = map[reportKey]bool{}
	}
	c.reported[key] = true
	c.pass.Report(analysis.Diagnostic{Pos: pos, Message: msg})
}

type reportKey struct {
	pos token.Pos
	msg string
}

func (c *checker) typeChecker() *typeChecker {
	return &typeChecker{qual: func(p *types.Package) string {
		if p == c.pass.Pkg {
			return ""
		}
		return p.Name()
	}}
}

// typeSpec checks a type declared as an instance of a generic struct
// (type X = Box[int], type X Box[int]), which pii plans as that instance.
func (c *checker) typeSpec(spec *ast.TypeSpec) {
	if spec.TypeParams != nil {
		return
	}
	if _, ok := spec.Type.(*ast.StructType); ok {
		return
	}
	if n := c.usedStruct(c.pass.TypesInfo.TypeOf(spec.Type)); n != nil {
		c.checkInstance(spec.Name.Pos(), n, map[string]bool{})
	}
}

// instanceOf returns the instance of a generic struct type, with type
// arguments free of type parameters, that a value of type t is or holds
// through pointers, slices, arrays and maps; nil for none.
func instanceOf(t types.Type) *types.Named {
	if t == nil {
		return nil
	}
	for depth := 0; depth < maxDepth; depth++ {
		e := elemOf(t)
		if e == nil {
			break
		}
		t = e
	}
	n, ok := types.Unalias(t).(*types.Named)
	if !ok || n.TypeArgs().Len() == 0 || isValue(n) || hasTypeParam(n, 0) {
		return nil
	}
	if _, ok := n.Underlying().(*types.Struct); !ok {
		return nil
	}
	return n
}

// usedStruct returns the named struct type that a value of type t is or
// holds through pointers, slices, arrays and maps when it must be checked
// where it is used: an instance of a generic struct (see instanceOf), or a
// struct of another module, whose declaration this run may not check.
func (c *checker) usedStruct(t types.Type) *types.Named {
	if n := instanceOf(t); n != nil {
		return n
	}
	for e := t; e != nil; e = elemOf(e) {
		t = e
	}
	if n, ok := types.Unalias(t).(*types.Named); ok && c.foreign(n) {
		if _, ok := n.Underlying().(*types.Struct); ok && !hasTypeParam(n, 0) {
			return n
		}
	}
	return nil
}

// foreign reports whether n is declared outside the module of the package
// analysed (not at all when the driver does not say the module).
func (c *checker) foreign(n *types.Named) bool {
	pkg := n.Obj().Pkg()
	if pkg == nil || c.pass.Module == nil || c.pass.Module.Path == "" {
		return false
	}
	m, p := c.pass.Module.Path, pkg.Path()
	return p != m && !strings.HasPrefix(p, m+"/") && isModulePath(p)
}

// isModulePath reports whether an import path can be a module's (the
// standard library's have no dot in their first element).
func isModulePath(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return strings.Contains(first, ".")
}

// checkInstance reports at pos what pii refuses in the struct type n
// where it is used: for an instance of a generic struct, what its
// declaration could not show (what depends on the type arguments); for a
// struct of another module, all of it. It does the same for the instances
// and structs of other modules n holds.
func (c *checker) checkInstance(pos token.Pos, n *types.Named, seen map[string]bool) {
	tc := c.typeChecker()
	key := tc.str(n)
	if seen[key] || len(seen) > maxDepth {
		return
	}
	seen[key] = true
	st := n.Underlying().(*types.Struct)
	inDecl := map[int]bool{}
	if o, ok := n.Origin().Underlying().(*types.Struct); ok && n.TypeArgs().Len() > 0 && !c.foreign(n) {
		for _, p := range tc.typeProblems(o) {
			inDecl[p.field] = true
		}
	}
	for _, p := range tc.typeProblems(st) {
		if !inDecl[p.field] {
			c.report(pos, fmt.Sprintf("%s: field %s: %s", key, st.Field(p.field).Name(), p.msg))
		}
	}
	for i := range st.NumFields() {
		f := st.Field(i)
		if _, tagged := reflect.StructTag(st.Tag(i)).Lookup("pii"); !tagged && (f.Exported() || f.Embedded()) {
			if m := c.usedStruct(f.Type()); m != nil {
				c.checkInstance(pos, m, seen)
			}
		}
	}
}

// fieldIdents returns the names of f, or for an embedded field an
// identifier of its type's name at the type's position.
func fieldIdents(f *ast.Field) []*ast.Ident {
	if len(f.Names) > 0 {
		return f.Names
	}
	e := f.Type
	if s, ok := e.(*ast.StarExpr); ok {
		e = s.X
	}
	switch e := e.(type) {
	case *ast.Ident:
		return []*ast.Ident{e}
	case *ast.SelectorExpr:
		return []*ast.Ident{e.Sel}
	}
	return nil
}

// piiTag returns the pii key of f's struct tag, and whether it has one.
func piiTag(f *ast.Field) (string, bool) {
	if f.Tag == nil {
		return "", false
	}
	s, err := strconv.Unquote(f.Tag.Value)
	if err != nil {
		return "", false
	}
	return lookupPII(s)
}

// checkDefaults returns what is wrong with the n-th struct-level default
// (a blank field's tag) of a struct, or "".
func checkDefaults(raw string, n int) string {
	if n > 1 {
		return "a struct has one struct-level pii default (a blank field); merge this one into the first"
	}
	t, err := tag.Parse(raw)
	if err == nil {
		_, err = inventory.ParseDefaults(t)
	}
	if err != nil {
		return fmt.Sprintf("invalid struct-level pii default: %v", err)
	}
	return ""
}

// checkTag returns what the shared schema refuses in the tag raw of field
// v, and a tag on an unexported field, which pii cannot reach; "" when
// the tag passes (its fit to v's type is types.go's).
func checkTag(raw string, v *types.Var) string {
	if !v.Exported() {
		if v.Embedded() {
			return fmt.Sprintf("pii tag on unexported embedded field %s: tag its fields instead", v.Name())
		}
		return fmt.Sprintf("pii tag on unexported field %s: pii cannot reach it; export the field or remove the tag", v.Name())
	}
	if _, _, err := inventory.CheckTag(raw); err != nil {
		return fmt.Sprintf("invalid pii tag %q: %v", raw, err)
	}
	return ""
}

func lookupPII(structTag string) (string, bool) { return reflect.StructTag(structTag).Lookup("pii") }

// deprecatedAction returns a note when a valid tag's action is a
// deprecated alias (the schema's AliasOf: hash for pseudonym), naming the
// action to write instead; "" otherwise.
func deprecatedAction(raw string) string {
	t, err := tag.Parse(raw)
	if err != nil {
		return ""
	}
	a, ok := tag.LookupAction(t.Action.Name)
	if !ok || a.AliasOf == "" {
		return ""
	}
	return fmt.Sprintf("pii action %q is deprecated: write %q instead (it reads and writes the same stored values)", a.Name, a.AliasOf)
}
