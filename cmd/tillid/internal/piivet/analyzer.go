package piivet

import (
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
	insp.WithStack([]ast.Node{(*ast.StructType)(nil), (*ast.CallExpr)(nil)}, func(n ast.Node, push bool, stack []ast.Node) bool {
		if !push {
			return true
		}
		switch n := n.(type) {
		case *ast.StructType:
			c.structType(n, structName(stack), !skipNames[pass.Fset.File(n.Pos())])
		case *ast.CallExpr:
			c.call(n)
		}
		return true
	})
	return nil, nil
}

// maxDepth bounds the walks through nested and embedded types.
const maxDepth = 64

type checker struct {
	pass   *analysis.Pass
	tagged inventory.TaggedTypes
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
	var st2 *types.Struct
	if t, ok := c.pass.TypesInfo.Types[st]; ok {
		st2, _ = t.Type.(*types.Struct)
	}
	defaults := 0
	for _, f := range st.Fields.List {
		typ := c.pass.TypesInfo.TypeOf(f.Type)
		raw, hasTag := piiTag(f)
		if hasTag {
			if isBlank(f) {
				defaults++
				c.checkDefaults(f, raw, defaults, st2)
				continue
			}
			c.checkTag(f, raw, typ, st2)
			continue
		}
		if !checkNames || typ == nil {
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

func isBlank(f *ast.Field) bool { return len(f.Names) == 1 && f.Names[0].Name == "_" }

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

func (c *checker) checkDefaults(f *ast.Field, raw string, n int, st *types.Struct) {
	if n > 1 {
		c.pass.Reportf(f.Tag.Pos(), "a struct has one struct-level pii default (a blank field); merge this one into the first")
		return
	}
	t, err := tag.Parse(raw)
	var p inventory.Processing
	if err == nil {
		p, err = inventory.ParseDefaults(t)
	}
	if err != nil {
		c.pass.Reportf(f.Tag.Pos(), "invalid struct-level pii default: %v", err)
		return
	}
	c.checkFrom(f.Tag.Pos(), raw, p.From, st)
}

// unsupportedKind returns what makes t impossible to protect (a channel, a
// function, an unsafe.Pointer), looking through pointers, slices, arrays
// and map values, or "".
func unsupportedKind(t types.Type) string {
	for {
		switch u := t.Underlying().(type) {
		case *types.Pointer:
			t = u.Elem()
		case *types.Slice:
			t = u.Elem()
		case *types.Array:
			t = u.Elem()
		case *types.Map:
			t = u.Elem()
		case *types.Chan:
			return "a channel"
		case *types.Signature:
			return "a function"
		case *types.Basic:
			if u.Kind() == types.UnsafePointer {
				return "an unsafe.Pointer"
			}
			return ""
		default:
			return ""
		}
	}
}

// storesMapKeys are the actions that protect a map's values and would
// store its keys as they are, which package pii refuses without plainkeys
// (redact stores nothing).
var storesMapKeys = map[string]bool{"encrypt": true, "deterministic": true, "pseudonym": true, "hash": true, "tokenize": true}

// holdsMap reports whether t is a map, or a pointer, slice or array
// reaching one.
func holdsMap(t types.Type) bool {
	for range maxDepth {
		switch u := t.Underlying().(type) {
		case *types.Map:
			return true
		case *types.Pointer:
			t = u.Elem()
		case *types.Slice:
			t = u.Elem()
		case *types.Array:
			t = u.Elem()
		default:
			return false
		}
	}
	return false
}

func (c *checker) checkTag(f *ast.Field, raw string, typ types.Type, st *types.Struct) {
	pos := f.Tag.Pos()
	t, p, err := inventory.CheckTag(raw)
	if err != nil {
		c.pass.Reportf(pos, "invalid pii tag %q: %v", raw, err)
		return
	}
	if t.Action.Name == "-" {
		return
	}
	for _, id := range fieldIdents(f) {
		if !id.IsExported() {
			c.pass.Reportf(pos, "pii tag on unexported field %s: pii cannot reach it; export the field or remove the tag", id.Name)
			return
		}
	}
	if typ != nil {
		if kind := unsupportedKind(typ); kind != "" {
			c.pass.Reportf(pos, "pii tag %q on %s: pii protects strings, []byte and pii.Value fields, not %s", raw, types.TypeString(typ, types.RelativeTo(c.pass.Pkg)), kind)
			return
		}
		if _, plainKeys := t.Option("plainkeys"); storesMapKeys[t.Action.Name] && !plainKeys && holdsMap(typ) {
			c.pass.Reportf(pos, "pii tag %q on %s would store the map's keys as they are; use a slice of structs with the key and the value as fields, both tagged, or add the option plainkeys if the keys are not personal data", raw, types.TypeString(typ, types.RelativeTo(c.pass.Pkg)))
			return
		}
	}
	if st == nil {
		return
	}
	var refs []string
	if t.Action.Name == "index" && t.Action.HasValue {
		for _, src := range strings.Split(t.Action.Value, "+") {
			refs = append(refs, "index="+src)
		}
	}
	if o, ok := t.Option("aad"); ok {
		refs = append(refs, "aad="+o.Value)
	}
	for _, ref := range refs {
		_, name, _ := strings.Cut(ref, "=")
		if _, ok := fieldType(st, name, 0); !ok {
			c.pass.Reportf(pos, "pii tag %q: %s names no field of this struct", raw, ref)
		}
	}
	c.checkFrom(pos, raw, p.From, st)
}

// fieldType returns the type of st's field called name, promoted fields of
// embedded structs included, and whether there is one.
func fieldType(st *types.Struct, name string, depth int) (types.Type, bool) {
	if depth > maxDepth {
		return nil, false
	}
	for i := range st.NumFields() {
		f := st.Field(i)
		if f.Name() == name {
			return f.Type(), true
		}
		if f.Embedded() {
			t := f.Type()
			if p, ok := t.Underlying().(*types.Pointer); ok {
				t = p.Elem()
			}
			if inner, ok := t.Underlying().(*types.Struct); ok {
				if ft, ok := fieldType(inner, name, depth+1); ok {
					return ft, true
				}
			}
		}
	}
	return nil, false
}

// isTime reports whether t can hold the time a retention period counts
// from: time.Time, sql.NullTime or pii.Value[time.Time], or a pointer to
// one.
func isTime(t types.Type) bool {
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		t = p.Elem()
	}
	n := named(t)
	if n == nil || n.Obj().Pkg() == nil {
		return false
	}
	switch path, name := n.Obj().Pkg().Path(), n.Obj().Name(); {
	case path == "time" && name == "Time", path == "database/sql" && name == "NullTime":
		return true
	case path == "github.com/tillid/tillid/pii" && name == "Value":
		return n.TypeArgs().Len() == 1 && isTime(n.TypeArgs().At(0))
	}
	return false
}

// checkFrom reports a from= that names no field of st, or one that holds
// no time.
func (c *checker) checkFrom(pos token.Pos, raw, from string, st *types.Struct) {
	if st == nil || from == "" {
		return
	}
	ft, ok := fieldType(st, from, 0)
	switch {
	case !ok:
		c.pass.Reportf(pos, "pii tag %q: from=%s names no field of this struct", raw, from)
	case !isTime(ft):
		c.pass.Reportf(pos, "pii tag %q: from=%s is a %s; retention counts from a time.Time, sql.NullTime or pii.Value[time.Time]", raw, from, types.TypeString(ft, types.RelativeTo(c.pass.Pkg)))
	}
}

func lookupPII(structTag string) (string, bool) { return reflect.StructTag(structTag).Lookup("pii") }
