package inventory

import (
	"errors"
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"golang.org/x/tools/go/packages"

	"github.com/tillid/tillid/internal/tag"
)

// Register is the record of processing built from the types: every
// pii-tagged field reachable from the named struct types of the packages,
// in a stable order. Two builds from the same source are equal.
type Register struct {
	// Packages are the import paths of the packages read, sorted.
	Packages []string `json:"packages"`
	// Fields are sorted by Path.
	Fields []Field `json:"fields"`
	// Notes say what the register could not list as fields, or lists
	// elsewhere: aliases, type parameters, interfaces, recursion. Sorted.
	Notes []string `json:"notes,omitempty"`
}

// Field is one tagged field as a register entry.
type Field struct {
	// Path is the Go path from a top-level type: the package's import
	// path, the type and the fields down to this one, with [] for a slice
	// or array element and […] for a map value:
	// "example.com/shop.Order.Lines[].Buyer.Email".
	Path string `json:"path"`
	// Package and Type name the top-level type the path starts from.
	Package string `json:"package"`
	Type    string `json:"type"`
	// DeclaredIn is the package of the struct that declares the field,
	// when it is not Package (a type from another package or module).
	DeclaredIn string `json:"declared_in,omitempty"`
	// Position is the field's file:line, relative to the directory the
	// packages were loaded from when it is below it.
	Position string `json:"position"`
	// Action is the tag's action (encrypt, deterministic, index,
	// pseudonym, hash, tokenize, redact, subject) and Safeguard what it
	// does: encrypted, pseudonymised, tokenized, redacted, or identifier
	// for the subject field.
	Action    string `json:"action"`
	Safeguard string `json:"safeguard"`
	// Class is the class= data category, or "".
	Class string `json:"class,omitempty"`
	// Key is the key= keyset (default "default") of encrypting and
	// pseudonymising actions, or the token domain of tokenize.
	Key string `json:"key,omitempty"`
	// Purposes, Basis, Retain and From come from the field's tag, else
	// from the struct-level default of its struct, else from the structs
	// it is nested in.
	Purposes []string `json:"purposes,omitempty"`
	Basis    string   `json:"basis,omitempty"`
	Retain   string   `json:"retain,omitempty"`
	From     string   `json:"from,omitempty"`
	// Subject is the path, from the top-level type, of the field tagged
	// pii:"subject" that says whose data this is, or "".
	Subject string `json:"subject,omitempty"`
	// AAD is the aad= field the ciphertext is bound to, or "".
	AAD string `json:"aad,omitempty"`
	// Subjects are the categories of data subjects from the subjects=
	// default, or "".
	Subjects []string `json:"subjects,omitempty"`
}

// ErrInvalidTags is wrapped by Build's error when a tag is invalid.
var ErrInvalidTags = errors.New("inventory: invalid pii tags")

var safeguards = map[string]string{
	"encrypt": "encrypted", "deterministic": "encrypted", "index": "pseudonymised", "pseudonym": "pseudonymised",
	"hash": "pseudonymised", "tokenize": "tokenized", "redact": "redacted", SubjectAction: "identifier",
}

// Build builds the register of pkgs, as loaded by Load (their types and
// positions; nothing is run). dir is the directory positions are made
// relative to. Every named struct type of pkgs that holds tagged fields is
// listed from its top, unless another such type of pkgs holds it, in which
// case its fields are listed under that type's paths. When a tag is
// invalid, Build returns no register and an error wrapping ErrInvalidTags
// that lists every invalid tag with its position. Tags are checked against
// the shared schema, and with WithTypeCheck against their fields' types.
func Build(pkgs []*packages.Package, dir string, opts ...Option) (*Register, error) {
	b := &builder{dir: dir, checked: map[*types.Struct]bool{}}
	for _, o := range opts {
		o.apply(b)
	}
	var named []*types.TypeName
	seenPkg := map[string]bool{}
	for _, p := range pkgs {
		if p.Types == nil || seenPkg[p.PkgPath] || strings.HasSuffix(p.PkgPath, ".test") {
			continue
		}
		seenPkg[p.PkgPath] = true
		b.fset = p.Fset
		b.reg.Packages = append(b.reg.Packages, p.PkgPath)
		scope := p.Types.Scope()
		for _, name := range scope.Names() {
			if tn, ok := scope.Lookup(name).(*types.TypeName); ok {
				named = append(named, tn)
			}
		}
	}
	sort.Strings(b.reg.Packages)
	sort.Slice(named, func(i, j int) bool { return qualified(named[i]) < qualified(named[j]) })

	// Candidates: the structs that hold tags. A candidate held by another
	// is listed under it.
	var cands []*types.TypeName
	for _, tn := range named {
		if tn.IsAlias() {
			b.alias(tn, seenPkg)
			continue
		}
		if _, ok := tn.Type().Underlying().(*types.Struct); ok && b.tagged.Holds(tn.Type()) {
			cands = append(cands, tn)
		}
	}
	heldBy := map[*types.TypeName]bool{}
	for _, c := range cands {
		for _, inner := range reachable(c.Type()) {
			if inner != c && inner.Pkg() != nil && seenPkg[inner.Pkg().Path()] {
				heldBy[inner] = true
			}
		}
	}
	covered := map[*types.TypeName]bool{}
	expand := func(tn *types.TypeName) {
		b.walkRoot(tn, qualified(tn)+typeParams(tn))
		covered[tn] = true
		for _, inner := range reachable(tn.Type()) {
			covered[inner] = true
		}
	}
	for _, c := range cands {
		if !heldBy[c] {
			expand(c)
		}
	}
	for _, c := range cands { // held only in a cycle of candidates: list it too
		if !covered[c] {
			expand(c)
		}
	}
	for _, p := range pkgs {
		if p.Types != nil && !strings.HasSuffix(p.PkgPath, ".test") && p.TypesInfo != nil {
			b.fset = p.Fset
			b.local(p)
		}
	}
	if len(b.errs) > 0 {
		sort.Strings(b.errs)
		return nil, fmt.Errorf("%w (%d; nothing was registered):\n  %s", ErrInvalidTags, len(b.errs), strings.Join(b.errs, "\n  "))
	}
	sort.SliceStable(b.reg.Fields, func(i, j int) bool { return b.reg.Fields[i].Path < b.reg.Fields[j].Path })
	sort.Strings(b.reg.Notes)
	b.reg.Notes = compact(b.reg.Notes)
	if b.reg.Fields == nil {
		b.reg.Fields = []Field{}
	}
	return &b.reg, nil
}

type builder struct {
	dir    string
	fset   *token.FileSet
	reg    Register
	errs   []string
	tagged TaggedTypes
	// check is WithTypeCheck's function, and checked the structs it saw.
	check   func(*types.Struct) []FieldProblem
	checked map[*types.Struct]bool
}

// Option is a setting of Build.
type Option interface{ apply(*builder) }

type optionFunc func(*builder)

func (f optionFunc) apply(b *builder) { f(b) }

// FieldProblem is what a type check says of one field of a struct: the
// field's index in the struct and the message. Nested is set for a
// problem that lies in a struct the field holds (a purpose that Forget
// would not reach), which Build reports at that struct's field itself.
type FieldProblem struct {
	Field   int
	Message string
	Nested  bool
}

// WithTypeCheck makes Build refuse, as invalid tags, what check says of
// the fields of each struct type it lists (once per type): what package
// pii refuses at run time of a tag on its field's Go type, such as
// encrypt on an int. tillid inventory passes the analyzer's mirror of
// pii's plan (piivet.CheckStruct).
func WithTypeCheck(check func(st *types.Struct) []FieldProblem) Option {
	return optionFunc(func(b *builder) { b.check = check })
}

// local lists the struct types declared inside functions, which are in
// no package scope, under pkg.Func.Type (pkg.Type.Method.Type for
// methods), and notes anonymous struct types with tagged fields outside
// named types (var x struct{...}), whose fields have no path to list.
func (b *builder) local(p *packages.Package) {
	var scan func(n ast.Node, fn string)
	scan = func(n ast.Node, fn string) {
		ast.Inspect(n, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.TypeSpec:
				tn, ok := p.TypesInfo.Defs[n.Name].(*types.TypeName)
				if ok && !tn.IsAlias() && b.tagged.Holds(tn.Type()) && fn != "" {
					b.walkRoot(tn, p.PkgPath+"."+fn+"."+tn.Name()+typeParams(tn))
				}
				return false
			case *ast.StructType:
				if st, ok := p.TypesInfo.TypeOf(n).(*types.Struct); ok && tagsOwn(st) {
					b.reg.Notes = append(b.reg.Notes, fmt.Sprintf("%s: an anonymous struct type with pii-tagged fields: they have no Go path to list; give the type a name", b.position(n.Pos())))
				}
				return false
			}
			return true
		})
	}
	for _, f := range p.Syntax {
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Body == nil {
					continue
				}
				fn := d.Name.Name
				if d.Recv != nil && len(d.Recv.List) == 1 {
					if n := named(p.TypesInfo.TypeOf(d.Recv.List[0].Type)); n != nil {
						fn = n.Obj().Name() + "." + fn
					}
				}
				scan(d.Body, fn)
			case *ast.GenDecl:
				if d.Tok == token.VAR {
					scan(d, "")
				}
			}
		}
	}
}

// tagsOwn reports whether a field of st itself has a pii tag other than
// "-" (a named type it holds is listed under its own name).
func tagsOwn(st *types.Struct) bool {
	for i := range st.NumFields() {
		if raw, ok := reflect.StructTag(st.Tag(i)).Lookup("pii"); ok && raw != "-" {
			return true
		}
	}
	return false
}

func named(t types.Type) *types.Named {
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		t = p.Elem()
	}
	n, _ := types.Unalias(t).(*types.Named)
	return n
}

func qualified(tn *types.TypeName) string {
	if tn.Pkg() == nil {
		return tn.Name()
	}
	return tn.Pkg().Path() + "." + tn.Name()
}

// typeParams writes a generic type's parameters: "[K, V]".
func typeParams(tn *types.TypeName) string {
	n, ok := tn.Type().(*types.Named)
	if !ok || n.TypeParams().Len() == 0 {
		return ""
	}
	names := make([]string, n.TypeParams().Len())
	for i := range names {
		names[i] = n.TypeParams().At(i).Obj().Name()
	}
	return "[" + strings.Join(names, ", ") + "]"
}

func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// alias notes a type alias, and lists what it names when that is not a
// named type of the packages read (an anonymous struct, or a type of
// another module), so that nothing it holds goes unlisted.
func (b *builder) alias(tn *types.TypeName, ours map[string]bool) {
	target := types.Unalias(tn.Type())
	if !b.tagged.Holds(target) {
		return
	}
	if n, ok := target.(*types.Named); ok && n.Obj().Pkg() != nil && ours[n.Obj().Pkg().Path()] {
		b.reg.Notes = append(b.reg.Notes, fmt.Sprintf("%s is an alias of %s: its fields are listed under that type", qualified(tn), types.TypeString(target, nil)))
		return
	}
	b.reg.Notes = append(b.reg.Notes, fmt.Sprintf("%s is an alias of %s, listed under the alias", qualified(tn), types.TypeString(target, nil)))
	b.walkRoot(tn, qualified(tn))
}

// reachable returns the named types a value of type t holds through its
// fields (nested, embedded, pointers, slices, arrays, maps), t excluded.
func reachable(t types.Type) []*types.TypeName {
	var out []*types.TypeName
	seen := map[types.Type]bool{}
	var visit func(t types.Type, depth int)
	visit = func(t types.Type, depth int) {
		if depth > maxDepth || seen[t] {
			return
		}
		seen[t] = true
		if n, ok := types.Unalias(t).(*types.Named); ok && depth > 0 {
			out = append(out, n.Origin().Obj())
		}
		switch u := t.Underlying().(type) {
		case *types.Pointer:
			visit(u.Elem(), depth+1)
		case *types.Slice:
			visit(u.Elem(), depth+1)
		case *types.Array:
			visit(u.Elem(), depth+1)
		case *types.Map:
			visit(u.Elem(), depth+1)
		case *types.Struct:
			for i := range u.NumFields() {
				visit(u.Field(i).Type(), depth+1)
			}
		}
	}
	visit(t, 0)
	return out
}

// maxDepth bounds walks through nested types.
const maxDepth = 64

func (b *builder) position(pos token.Pos) string {
	p := b.fset.Position(pos)
	if !p.IsValid() {
		return ""
	}
	name := p.Filename
	if b.dir != "" {
		if rel, err := filepath.Rel(b.dir, name); err == nil && !strings.HasPrefix(rel, "..") {
			name = rel
		}
	}
	return fmt.Sprintf("%s:%d", filepath.ToSlash(name), p.Line)
}

// walk is one walk from a top-level type.
type walk struct {
	root    *types.TypeName
	pkgPath string
	stack   []types.Type
}

func (b *builder) walkRoot(tn *types.TypeName, path string) {
	w := &walk{root: tn, pkgPath: tn.Pkg().Path()}
	b.walkStruct(w, types.Unalias(tn.Type()), path, Processing{}, false, "")
}

// walkStruct lists the tagged fields of the struct t at path. def is what
// the containers say by default; outer is set when an enclosing struct has
// a subject field, and subjectPrefix is t's path from the top-level type.
// As in pii (pii.Inventory), a field is bound to a subject field of its
// own struct only, and only when it is sealed under the subject's keys
// (encrypt, deterministic): a nested struct is not under its container's
// subject, and a sealed field there that names a purpose, with no subject
// field of its own, is an error, as pii.Validate says.
func (b *builder) walkStruct(w *walk, t types.Type, path string, def Processing, outer bool, subjectPrefix string) {
	st, ok := t.Underlying().(*types.Struct)
	if !ok {
		return
	}
	for _, s := range w.stack {
		if types.Identical(s, t) {
			b.reg.Notes = append(b.reg.Notes, fmt.Sprintf("%s: recursive type %s, whose fields are listed once above this path", path, types.TypeString(t, nil)))
			return
		}
	}
	w.stack = append(w.stack, t)
	defer func() { w.stack = w.stack[:len(w.stack)-1] }()
	if b.check != nil && !b.checked[st] {
		b.checked[st] = true
		for _, p := range b.check(st) {
			if !p.Nested {
				f := st.Field(p.Field)
				b.errs = append(b.errs, fmt.Sprintf("%s: %s.%s: %s", b.position(f.Pos()), path, f.Name(), p.Message))
			}
		}
	}

	declaredIn := ""
	if n, ok := t.(*types.Named); ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() != w.pkgPath {
		declaredIn = n.Obj().Pkg().Path()
	}
	// The struct's own default and subject come first.
	subject := ""
	var own Processing
	for i := range st.NumFields() {
		f := st.Field(i)
		raw, ok := reflect.StructTag(st.Tag(i)).Lookup("pii")
		if !ok {
			continue
		}
		if f.Name() == "_" {
			pt, err := tag.Parse(raw)
			if err == nil {
				own, err = ParseDefaults(pt)
			}
			if err != nil {
				b.errs = append(b.errs, fmt.Sprintf("%s: %s: struct-level default: %v", b.position(f.Pos()), path, err))
				continue
			}
			def = own.Merge(def)
		} else if pt, err := tag.Parse(raw); err == nil && pt.Action.Name == SubjectAction {
			subject = subjectPrefix + f.Name()
		}
	}
	for i := range st.NumFields() {
		f := st.Field(i)
		fpath := path + "." + f.Name()
		raw, tagged := reflect.StructTag(st.Tag(i)).Lookup("pii")
		if f.Name() == "_" {
			continue
		}
		if !tagged {
			b.descend(w, f.Type(), fpath, def, outer || subject != "", subjectPrefix+f.Name()+".")
			continue
		}
		t, p, err := CheckTag(raw)
		if err != nil {
			b.errs = append(b.errs, fmt.Sprintf("%s: %s: %v", b.position(f.Pos()), fpath, err))
			continue
		}
		if t.Action.Name == "-" {
			continue
		}
		if !f.Exported() {
			b.errs = append(b.errs, fmt.Sprintf("%s: %s: pii tag on unexported field %s", b.position(f.Pos()), fpath, f.Name()))
			continue
		}
		sealed := t.Action.Name == "encrypt" || t.Action.Name == "deterministic"
		if ownPurposes := p.Merge(own).Purposes; sealed && outer && subject == "" && len(ownPurposes) > 0 {
			b.errs = append(b.errs, fmt.Sprintf("%s: %s: the field names purpose=%s, but its struct is nested in a record with a subject field and has none of its own, so Forget and Withdraw do not reach it; add a `pii:\"subject\"` field to the nested struct, or drop purpose=", b.position(f.Pos()), fpath, strings.Join(ownPurposes, "+")))
			continue
		}
		p = p.Merge(def)
		row := Field{
			Path: fpath, Package: w.pkgPath, Type: w.root.Name(), DeclaredIn: declaredIn,
			Position: b.position(f.Pos()), Action: t.Action.Name, Safeguard: safeguards[t.Action.Name],
			Purposes: p.Purposes, Basis: p.Basis, Retain: p.Retain, From: p.From,
			Subjects: p.Subjects,
		}
		if sealed {
			row.Subject = subject
		}
		if o, ok := t.Option("class"); ok {
			row.Class = o.Value
		}
		if o, ok := t.Option("subject"); ok && sealed {
			row.Subject = subjectPrefix + o.Value
		}
		if o, ok := t.Option("aad"); ok {
			row.AAD = o.Value
		}
		switch t.Action.Name {
		case "encrypt", "deterministic", "index", "pseudonym", "hash":
			row.Key = "default"
			if o, ok := t.Option("key"); ok {
				row.Key = o.Value
			}
		case "tokenize":
			row.Key = t.Action.Value
		}
		b.reg.Fields = append(b.reg.Fields, row)
	}
}

// descend walks into an untagged field's type: structs, through pointers,
// slices, arrays and map values, and notes what cannot be known from the
// types (type parameters, interfaces holding values at run time).
func (b *builder) descend(w *walk, t types.Type, path string, def Processing, outer bool, subjectPrefix string) {
	for range maxDepth {
		switch u := types.Unalias(t).(type) {
		case *types.Pointer:
			t = u.Elem()
			continue
		case *types.Slice:
			t, path = u.Elem(), path+"[]"
			continue
		case *types.Array:
			t, path = u.Elem(), path+"[]"
			continue
		case *types.Map:
			t, path = u.Elem(), path+"[…]"
			continue
		case *types.TypeParam:
			b.reg.Notes = append(b.reg.Notes, fmt.Sprintf("%s: type parameter %s: what it holds is listed where the type is instantiated", path, u.Obj().Name()))
			return
		}
		break
	}
	t = types.Unalias(t)
	switch t.Underlying().(type) {
	case *types.Struct:
		if b.tagged.Holds(t) {
			b.walkStruct(w, t, path, def, outer, subjectPrefix)
		}
	case *types.Interface:
		if !isError(t) {
			b.reg.Notes = append(b.reg.Notes, fmt.Sprintf("%s: an interface (%s): pii walks the value it holds at run time, which the source does not show", path, types.TypeString(t, nil)))
		}
	}
}

func isError(t types.Type) bool {
	return types.Identical(t, types.Universe.Lookup("error").Type())
}
