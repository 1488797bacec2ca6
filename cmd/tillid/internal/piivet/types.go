package piivet

import (
	"fmt"
	"go/types"
	"reflect"
	"slices"
	"strings"

	"github.com/tillid/tillid/cmd/tillid/internal/inventory"
	"github.com/tillid/tillid/internal/tag"
	"github.com/tillid/tillid/keys"
)

// This file mirrors on go/types what package pii's plan refuses at run
// time once a tag has passed the shared schema of internal/tag: whether
// the field's Go type suits its action (the check of each action row in
// pii/encrypt.go, deterministic.go, index.go, pseudonym.go, tokenize.go,
// redact.go and leafNode in pii/plan.go), mask= (pii/mask.go), aad=
// (recordField), from= (pii/purpose.go), subject fields and subject=
// (pii/subject.go), retention and hold (pii/retention.go, pii/hold.go),
// purposes in nested structs (pii/nested_subject.go), untagged pii.Value
// and pii.Text fields and structs with tagged fields as map keys. The tag
// syntax and schema are not mirrored: both sides call internal/tag.
// parity_test.go runs the same structs through pii.Validate and through
// the analyzer and fails when the two disagree.

const piiPath = "github.com/tillid/tillid/pii"

// problem is one thing pii refuses in a struct: field is the index of the
// struct field it is about.
type problem struct {
	field int
	msg   string
	// nested: the problem lies in a struct the field holds.
	nested bool
}

// CheckStruct returns what package pii's plan refuses in the struct type
// st beyond the tag schema (what depends on the fields' Go types), at
// most one problem per field, by field index; qual writes type names in
// the messages (nil: package paths). Fields whose types mention a type
// parameter are left to the instances. It is safe for concurrent use.
func CheckStruct(st *types.Struct, qual types.Qualifier) []inventory.FieldProblem {
	var out []inventory.FieldProblem
	for _, p := range (&typeChecker{qual: qual}).typeProblems(st) {
		out = append(out, inventory.FieldProblem{Field: p.field, Message: p.msg, Nested: p.nested})
	}
	return out
}

// fieldTag is the parsed tag of one struct field.
type fieldTag struct {
	raw  string
	t    tag.Tag
	proc tag.Processing // the field's own processing options
	err  error          // tag.Parse or tag.CheckStatic (nil for "_")
}

// actionFacts is what the mirror needs of one row of pii's action table.
type actionFacts struct {
	// walked: the row has a type check, so the plan walks the field (not
	// "-", subject or hold).
	walked bool
	// sealed: in a struct with a subject field the value is sealed under
	// the subject's key (encrypt, deterministic).
	sealed bool
	// source is how an index reads the field as a source.
	source sourceUse
}

type sourceUse uint8

const (
	sourceRefused sourceUse = iota
	sourcePlain
	sourceOpened
	sourceRedacted
)

var facts = map[string]actionFacts{
	"encrypt":         {walked: true, sealed: true, source: sourceOpened},
	"deterministic":   {walked: true, sealed: true, source: sourceOpened},
	"index":           {walked: true, source: sourceRefused},
	"pseudonym":       {walked: true, source: sourceRefused},
	"hash":            {walked: true, source: sourceRefused},
	"tokenize":        {walked: true, source: sourceRefused},
	"redact":          {walked: true, source: sourceRedacted},
	tag.SubjectAction: {source: sourcePlain},
	tag.HoldAction:    {source: sourcePlain},
	"-":               {source: sourcePlain},
}

// maskFits is which Go types a mask shows (pii/mask.go's maskTable).
type maskFits uint8

const (
	fitsAny maskFits = iota + 1
	fitsText
	fitsDate
)

type maskFacts struct {
	fits    maskFits
	classes []string // nil: any class
	emailOK bool
}

var masks = map[string]maskFacts{
	"email":    {fitsText, []string{"contact", "identity"}, true},
	"phone":    {fitsText, []string{"contact"}, false},
	"card":     {fitsText, []string{"financial"}, false},
	"card-6-4": {fitsText, []string{"financial"}, false},
	"iban":     {fitsText, []string{"financial"}, false},
	"cpr":      {fitsText, []string{"national_id", "identity"}, false},
	"ssn":      {fitsText, []string{"national_id", "identity"}, false},
	"name":     {fitsText, []string{"identity", "contact"}, true},
	"first":    {fitsText, nil, true},
	"text":     {fitsAny, nil, true},
	"year":     {fitsDate, nil, true},
	"month":    {fitsDate, nil, true},
}

// Rules that arrive with an option of the shared schema: they hold
// exactly when the schema has the option, so the mirror follows the
// schema it is built with.
var (
	// mapsNeedPlainKeys: a map field of encrypt, deterministic,
	// pseudonym or tokenize would store its keys in clear, so pii refuses
	// it unless the tag says plainkeys.
	mapsNeedPlainKeys = accepts("encrypt", "plainkeys")
	// subjectHidden: the subject ID is personal data that views show by
	// view= only and Redacted hides, so a struct with a subject field
	// counts as holding a tagged field (a map key of it is refused), and
	// mask= is checked on it.
	subjectHidden = accepts(tag.SubjectAction, "view")
	// strictSubjects: the schema refuses purpose= on the subject field,
	// and with it came two plan rules: a sealed field in a nested struct
	// without a purpose of its own does not take an enclosing struct's
	// default purpose, and a struct of several subject fields needs a
	// subject= somewhere to say whose data each field holds.
	strictSubjects = refuses("subject,purpose=x")
)

func accepts(action, option string) bool {
	a, ok := tag.LookupAction(action)
	return ok && slices.Contains(a.Options, option)
}

func refuses(raw string) bool {
	t, err := tag.Parse(raw)
	return err == nil && tag.CheckStatic(t) != nil
}

// Interfaces pii looks for, built here so that the package checked need
// not import them (methods match by name and signature).
var (
	byteSlice         = types.NewSlice(types.Typ[types.Byte])
	errorType         = types.Universe.Lookup("error").Type()
	textMarshaler     = iface("MarshalText", nil, []types.Type{byteSlice, errorType})
	textUnmarshaler   = iface("UnmarshalText", []types.Type{byteSlice}, []types.Type{errorType})
	binaryMarshaler   = iface("MarshalBinary", nil, []types.Type{byteSlice, errorType})
	binaryUnmarshaler = iface("UnmarshalBinary", []types.Type{byteSlice}, []types.Type{errorType})
	jsonMarshaler     = iface("MarshalJSON", nil, []types.Type{byteSlice, errorType})
	lowCardinality    = iface("PIILowCardinality", nil, nil)
)

func iface(name string, params, results []types.Type) *types.Interface {
	vars := func(ts []types.Type) *types.Tuple {
		vs := make([]*types.Var, len(ts))
		for i, t := range ts {
			vs[i] = types.NewParam(0, nil, "", t)
		}
		return types.NewTuple(vs...)
	}
	sig := types.NewSignatureType(nil, nil, nil, vars(params), vars(results), false)
	it := types.NewInterfaceType([]*types.Func{types.NewFunc(0, nil, name, sig)}, nil)
	it.Complete()
	return it
}

func implements(t types.Type, it *types.Interface) bool {
	if hasTypeParam(t, 0) {
		return false
	}
	return types.Implements(t, it)
}

// namedIs reports whether t is the named type path.name (an instance of
// it, for a generic type).
func namedIs(t types.Type, path, name string) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == path && n.Obj().Name() == name
}

func isValue(t types.Type) bool      { return namedIs(t, piiPath, "Value") }
func isNullString(t types.Type) bool { return namedIs(t, "database/sql", "NullString") }
func isTimeType(t types.Type) bool   { return namedIs(t, "time", "Time") }
func isNullTime(t types.Type) bool   { return namedIs(t, "database/sql", "NullTime") }

// valueArg returns T of a pii.Value[T].
func valueArg(t types.Type) types.Type {
	return types.Unalias(t).(*types.Named).TypeArgs().At(0)
}

func basicKind(t types.Type) types.BasicKind {
	if b, ok := t.Underlying().(*types.Basic); ok {
		return b.Kind()
	}
	return types.Invalid
}

func isStringKind(t types.Type) bool { return basicKind(t) == types.String }

// isByteSlice reports whether t is of reflect kind slice of uint8.
func isByteSlice(t types.Type) bool {
	s, ok := t.Underlying().(*types.Slice)
	return ok && basicKind(s.Elem()) == types.Uint8
}

func isMap(t types.Type) bool {
	_, ok := t.Underlying().(*types.Map)
	return ok
}

func isByteArray(t types.Type) bool {
	a, ok := t.Underlying().(*types.Array)
	return ok && basicKind(a.Elem()) == types.Uint8
}

// isIntKind reports the integer kinds pii takes as IDs (uintptr aside).
func isIntKind(k types.BasicKind) bool {
	return k >= types.Int && k <= types.Uint64
}

// isScalarKind reports the bool, integer and float kinds a pii.Value
// encodes itself.
func isScalarKind(k types.BasicKind) bool {
	return k == types.Bool || isIntKind(k) || k == types.Float32 || k == types.Float64
}

// elemOf returns the element of a pointer, slice, array or map type (the
// value, for a map), or nil.
func elemOf(t types.Type) types.Type {
	switch u := t.Underlying().(type) {
	case *types.Pointer:
		return u.Elem()
	case *types.Slice:
		return u.Elem()
	case *types.Array:
		return u.Elem()
	case *types.Map:
		return u.Elem()
	}
	return nil
}

// hasTypeParam reports whether t mentions a type parameter, so that what
// pii would say of it is known only per instance.
func hasTypeParam(t types.Type, depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch u := types.Unalias(t).(type) {
	case *types.TypeParam:
		return true
	case *types.Named:
		for a := range u.TypeArgs().Types() {
			if hasTypeParam(a, depth+1) {
				return true
			}
		}
		return false
	case *types.Pointer:
		return hasTypeParam(u.Elem(), depth+1)
	case *types.Slice:
		return hasTypeParam(u.Elem(), depth+1)
	case *types.Array:
		return hasTypeParam(u.Elem(), depth+1)
	case *types.Map:
		return hasTypeParam(u.Key(), depth+1) || hasTypeParam(u.Elem(), depth+1)
	case *types.Chan:
		return hasTypeParam(u.Elem(), depth+1)
	case *types.Struct:
		for i := range u.NumFields() {
			if hasTypeParam(u.Field(i).Type(), depth+1) {
				return true
			}
		}
	}
	return false
}

// typeChecker checks structs against pii's plan; qual writes type names.
type typeChecker struct {
	qual types.Qualifier
}

func (c *typeChecker) str(t types.Type) string { return types.TypeString(t, c.qual) }

// parseTags parses the pii tag of every field of st; nil for untagged.
func parseTags(st *types.Struct) []*fieldTag {
	out := make([]*fieldTag, st.NumFields())
	for i := range st.NumFields() {
		raw, ok := reflect.StructTag(st.Tag(i)).Lookup("pii")
		if !ok {
			continue
		}
		ft := &fieldTag{raw: raw}
		if st.Field(i).Name() != "_" {
			ft.t, ft.err = tag.Parse(raw)
			if ft.err == nil {
				ft.err = tag.CheckStatic(ft.t)
			}
			if ft.err == nil {
				ft.proc = tag.ProcessingOf(ft.t)
			}
		}
		out[i] = ft
	}
	return out
}

// directField returns the index of st's own field called name (not one
// promoted from an embedded struct), or -1; pii's FieldByName with an
// index of length 1.
func directField(st *types.Struct, name string) int {
	for i := range st.NumFields() {
		if st.Field(i).Name() == name {
			return i
		}
	}
	return -1
}

// structState is one struct being checked: its tags and its default.
type structState struct {
	st       *types.Struct
	tags     []*fieldTag
	defaults tag.Processing
	// subjects are the indexes of the fields tagged subject.
	subjects []int
}

func newStructState(st *types.Struct) *structState {
	s := &structState{st: st, tags: parseTags(st)}
	for i, ft := range s.tags {
		switch {
		case ft == nil:
		case st.Field(i).Name() == "_":
			if t, err := tag.Parse(ft.raw); err == nil && s.defaults.IsZero() {
				if d, err := tag.ParseDefaults(t); err == nil {
					s.defaults = d
				}
			}
		case ft.err == nil && ft.t.Action.Name == tag.SubjectAction:
			s.subjects = append(s.subjects, i)
		}
	}
	return s
}

// valid reports whether field i has a tag that parses and passes the
// schema, on an exported field: the fields whose types the plan checks.
func (s *structState) valid(i int) bool {
	ft := s.tags[i]
	return ft != nil && ft.err == nil && s.st.Field(i).Name() != "_" && s.st.Field(i).Exported()
}

func (s *structState) action(i int) string { return s.tags[i].t.Action.Name }

// walksUntagged reports whether field i is untagged and walked by pii's
// plan into what it holds (exported, or embedded).
func (s *structState) walksUntagged(i int) bool {
	f := s.st.Field(i)
	return s.tags[i] == nil && (f.Exported() || f.Embedded())
}

// typeProblems returns what pii's plan refuses in st, field by field, that
// depends on Go types: each field's own checks, then the struct's
// (from=, subjects, retention, nested purposes, map keys). Fields whose
// types mention a type parameter are left to their instances.
func (c *typeChecker) typeProblems(st *types.Struct) []problem {
	s := newStructState(st)
	var out []problem
	bad := map[int]bool{}
	add := func(i int, format string, args ...any) {
		if !bad[i] {
			bad[i] = true
			out = append(out, problem{field: i, msg: fmt.Sprintf(format, args...)})
		}
	}
	for i := range st.NumFields() {
		f := st.Field(i)
		if s.tags[i] == nil {
			if f.Exported() || f.Embedded() {
				if msg := c.untagged(f.Type()); msg != "" {
					add(i, "%s", msg)
				}
			}
			continue
		}
		if !s.valid(i) || hasTypeParam(f.Type(), 0) {
			continue
		}
		if msg := c.field(s, i); msg != "" {
			add(i, "pii tag %q: %s", s.tags[i].raw, msg)
		}
	}
	for _, p := range c.structRules(s) {
		if !bad[p.field] {
			bad[p.field] = true
			out = append(out, p)
		}
	}
	return out
}

// untagged is what pii refuses in an untagged field of type t: a pii.Text
// or pii.Value (also in pointers, slices, arrays and maps), which would be
// stored as it is, and a map keyed by a struct with tagged fields.
func (c *typeChecker) untagged(t types.Type) string {
	if namedIs(t, piiPath, "Text") {
		return "pii.Text field has no pii tag; add one, such as `pii:\"encrypt\"`"
	}
	for e, depth := t, 0; e != nil && depth < maxDepth; e, depth = elemOf(e), depth+1 {
		if isValue(e) {
			return fmt.Sprintf("%s field has no pii tag; add one, such as `pii:\"encrypt\"`", c.str(t))
		}
		if m, ok := e.Underlying().(*types.Map); ok {
			k := m.Key()
			for {
				if kp, ok := k.Underlying().(*types.Pointer); ok {
					k = kp.Elem()
				} else if ka, ok := k.Underlying().(*types.Array); ok {
					k = ka.Elem()
				} else {
					break
				}
			}
			if _, ok := k.Underlying().(*types.Struct); ok && holdsWalked(k, 0, map[types.Type]bool{}) {
				return fmt.Sprintf("map keys of type %s hold tagged fields, and a map key cannot be protected in place; key the map by an ID instead", c.str(k))
			}
		}
	}
	return ""
}

// holdsWalked reports whether a value of struct type t reaches, through
// untagged fields, a field whose action pii walks (pii's plan.tagged).
func holdsWalked(t types.Type, depth int, seen map[types.Type]bool) bool {
	if depth > maxDepth || seen[t] {
		return false
	}
	seen[t] = true
	for e := t; e != nil; e = elemOf(e) {
		t = e
	}
	st, ok := t.Underlying().(*types.Struct)
	if !ok {
		return false
	}
	for _, ft := range parseTags(st) {
		if ft != nil && ft.err == nil && (facts[ft.t.Action.Name].walked || subjectHidden && ft.t.Action.Name == tag.SubjectAction) {
			return true
		}
	}
	for i := range st.NumFields() {
		if (st.Field(i).Exported() || st.Field(i).Embedded()) && reflect.StructTag(st.Tag(i)).Get("pii") == "" &&
			holdsWalked(st.Field(i).Type(), depth+1, seen) {
			return true
		}
	}
	return false
}

// field returns what the plan refuses in valid field i: its mask=, its
// type for its action and its aad= field.
func (c *typeChecker) field(s *structState, i int) string {
	ft, f := s.tags[i], s.st.Field(i)
	act, t := s.action(i), f.Type()
	_, normalize := ft.t.Option("normalize")
	_, lowCard := ft.t.Option("lowcardinality")
	_, plainKeys := ft.t.Option("plainkeys")
	if o, ok := ft.t.Option("mask"); ok {
		if msg := c.mask(t, f.Name(), ft, o.Value); msg != "" {
			return msg
		}
	}
	leaf := func(bytes, value bool) string { return c.leaf(t, act, bytes, value, normalize, plainKeys) }
	switch act {
	case "encrypt":
		if msg := leaf(true, true); msg != "" {
			return msg
		}
	case "deterministic":
		if msg := leaf(true, true); msg != "" {
			return msg
		}
		if msg := c.lowCardinality(t, act, lowCard); msg != "" {
			return msg
		}
	case "pseudonym", "hash":
		if isValue(t) {
			return act + " is for string and []byte fields; a pii.Value cannot hold a one-way pseudonym"
		}
		if msg := leaf(true, false); msg != "" {
			return msg
		}
		if msg := c.lowCardinality(t, act, lowCard); msg != "" {
			return msg
		}
	case "tokenize":
		if msg := leaf(false, false); msg != "" {
			return msg
		}
	case "index":
		if msg := c.index(s, i, lowCard); msg != "" {
			return msg
		}
	case "redact":
	default: // -, subject, hold: checked with the struct
		return ""
	}
	if o, ok := ft.t.Option("aad"); ok {
		return c.aad(s, o.Value)
	}
	return ""
}

// leaf mirrors pii's leafNode: the leaves an action transforms are
// strings, sql.NullString, and where the action takes them []byte and
// pii.Value, alone or in pointers, slices, arrays and maps (maps only with
// plainkeys, when the schema has that option).
func (c *typeChecker) leaf(t types.Type, act string, bytes, value, normalize, plainKeys bool) string {
	for depth := 0; depth < maxDepth; depth++ {
		switch {
		case isNullString(t), isStringKind(t):
			return ""
		case isValue(t):
			if !value {
				return act + " is for string fields; a pii.Value cannot hold it"
			}
			if normalize {
				return "normalize= is for string and []byte fields, not pii.Value"
			}
			return c.valueArg(valueArg(t))
		case isByteSlice(t):
			if !bytes {
				return fmt.Sprintf("%s is for string fields (and sql.NullString, pointers, slices and maps of strings), not %s", act, c.str(t))
			}
			if implements(t, jsonMarshaler) {
				return fmt.Sprintf("%s marshals itself to JSON and would not hold a ciphertext; use []byte or pii.Value", c.str(t))
			}
			return ""
		case isByteArray(t):
			return fmt.Sprintf("%s is not supported on %s: a fixed-size array cannot hold a longer stored value; use []byte", act, c.str(t))
		case isMap(t) && mapsNeedPlainKeys && !plainKeys:
			return fmt.Sprintf("%s of %s would store the map's keys as they are; use a slice of structs with the key and the value as fields, both tagged, or add the option plainkeys if the keys are not personal data", act, c.str(t))
		}
		e := elemOf(t)
		if e == nil {
			break
		}
		t = e
	}
	switch u := t.Underlying().(type) {
	case *types.Struct:
		if bytes {
			return fmt.Sprintf("%s on struct type %s: tag its fields instead, or use pii.Value if it implements encoding.BinaryMarshaler or TextMarshaler", act, c.str(t))
		}
	case *types.Basic:
		if value && isScalarKind(u.Kind()) {
			return fmt.Sprintf("%s is not supported on %s; use pii.Value[%s]", act, c.str(t), c.str(t))
		}
	}
	if !bytes {
		return fmt.Sprintf("%s is for string fields (and sql.NullString, pointers, slices and maps of strings), not %s", act, c.str(t))
	}
	return fmt.Sprintf("%s is not supported on %s; use a string, []byte or pii.Value field", act, c.str(t))
}

// valueArg mirrors pii.Value's piiCheck: T encodes itself (Binary or
// Text Marshaler with the matching Unmarshaler on *T), or is a string,
// bool, integer, float or []byte kind.
func (c *typeChecker) valueArg(t types.Type) string {
	pt := types.NewPointer(t)
	switch {
	case implements(pt, binaryMarshaler) && implements(pt, binaryUnmarshaler),
		implements(pt, textMarshaler) && implements(pt, textUnmarshaler),
		isStringKind(t), isScalarKind(basicKind(t)), isByteSlice(t):
		return ""
	}
	return fmt.Sprintf("pii.Value[%s]: %s is neither a string, bool, integer or float kind nor implements encoding.BinaryMarshaler or TextMarshaler (with the matching Unmarshaler on its pointer)", c.str(t), c.str(t))
}

// isLowCard mirrors pii's isLowCardinality, and counts pii.Value of bool
// and 8- and 16-bit integers.
func isLowCard(t types.Type) bool {
	for depth := 0; depth < maxDepth; depth++ {
		e := elemOf(t)
		if e == nil {
			break
		}
		if implements(t, lowCardinality) {
			return true
		}
		t = e
	}
	return implements(t, lowCardinality) || implements(types.NewPointer(t), lowCardinality)
}

func (c *typeChecker) lowCardinality(t types.Type, act string, accepted bool) string {
	if accepted {
		return ""
	}
	low := isLowCard(t)
	leaf := t
	for e := elemOf(leaf); e != nil; e = elemOf(leaf) {
		leaf = e
	}
	if isValue(leaf) {
		switch basicKind(valueArg(leaf)) {
		case types.Bool, types.Int8, types.Uint8, types.Int16, types.Uint16:
			low = true
		}
	}
	if low {
		return fmt.Sprintf("%s of %s reveals which of its few values a record holds (frequency analysis); use encrypt, or add the option lowcardinality to accept that", act, c.str(t))
	}
	return ""
}

// index mirrors pii's checkIndex and indexSourceOf.
func (c *typeChecker) index(s *structState, i int, lowCard bool) string {
	t := s.st.Field(i).Type()
	spec := s.tags[i].t.Action.Value
	if !(isStringKind(t) || isByteSlice(t) && !implements(t, jsonMarshaler)) {
		return fmt.Sprintf("index=%s: a blind index field must be a string or []byte, not %s", spec, c.str(t))
	}
	for _, src := range strings.Split(spec, "+") {
		j := directField(s.st, src)
		if j < 0 || !s.st.Field(j).Exported() {
			return fmt.Sprintf("index=%s names no exported field %s of this struct (the source must be a field of the same struct)", spec, src)
		}
		if st := s.tags[j]; st != nil && s.st.Field(j).Name() != "_" {
			if st.err != nil {
				return fmt.Sprintf("index source %s has an invalid tag", src)
			}
			if facts[st.t.Action.Name].source == sourceRefused {
				return fmt.Sprintf("index source %s is tagged %s; index the original field instead", src, st.t.Action.Name)
			}
		}
		ty := s.st.Field(j).Type()
		if hasTypeParam(ty, 0) {
			continue
		}
		ok := isNullString(ty) || isStringKind(ty) || isByteSlice(ty)
		if p, isPtr := ty.Underlying().(*types.Pointer); isPtr && isStringKind(p.Elem()) {
			ok = true
		}
		if !ok {
			return fmt.Sprintf("index source %s is a %s; sources are strings, []byte, *string or sql.NullString", src, c.str(ty))
		}
		if !lowCard && isLowCard(ty) {
			return fmt.Sprintf("index source %s (%s) has few possible values, so its index would reveal them by frequency; add the option lowcardinality to accept that", src, c.str(ty))
		}
	}
	return ""
}

// mask mirrors pii's checkMask.
func (c *typeChecker) mask(t types.Type, name string, ft *fieldTag, kind string) string {
	m, ok := masks[kind]
	if !ok {
		return "" // the schema refused it
	}
	if o, ok := ft.t.Option("class"); ok && m.classes != nil && !slices.Contains(m.classes, o.Value) {
		return fmt.Sprintf("mask=%s does not fit class=%s; use a mask for %s data (such as mask=text), or fix the class", kind, o.Value, o.Value)
	}
	norm, _ := ft.t.Option("normalize")
	if (strings.Contains(strings.ToLower(name), "email") || strings.Contains(norm.Value, "email")) && !m.emailOK {
		return fmt.Sprintf("mask=%s on an email address; use mask=email", kind)
	}
	leaf := t
	for depth := 0; depth < maxDepth && !isByteSlice(leaf); depth++ {
		e := elemOf(leaf)
		if e == nil {
			break
		}
		leaf = e
	}
	if isValue(leaf) {
		leaf = valueArg(leaf)
	}
	text := isStringKind(leaf) || isNullString(leaf) || isByteSlice(leaf)
	switch {
	case m.fits == fitsAny, m.fits == fitsText && text, m.fits == fitsDate && (text || isTimeType(leaf)):
		return ""
	case isTimeType(leaf):
		return fmt.Sprintf("mask=%s does not fit %s; use mask=year, month or text", kind, c.str(t))
	}
	return fmt.Sprintf("mask=%s does not fit %s; use mask=text", kind, c.str(t))
}

// isIDType mirrors pii's isIDType: a string, an integer or an
// encoding.TextMarshaler.
func isIDType(t types.Type) bool {
	return isStringKind(t) || isIntKind(basicKind(t)) || implements(t, textMarshaler)
}

// aad mirrors pii's recordField.
func (c *typeChecker) aad(s *structState, name string) string {
	j := directField(s.st, name)
	if j < 0 {
		return fmt.Sprintf("aad=%s names no field of this struct (the record ID must be a field of the same struct)", name)
	}
	f := s.st.Field(j)
	if !f.Exported() {
		return fmt.Sprintf("aad=%s: the record ID field must be exported", name)
	}
	if ft := s.tags[j]; ft != nil && ft.raw != "-" {
		if t, err := tag.Parse(ft.raw); err != nil || t.Action.Name != tag.SubjectAction {
			return fmt.Sprintf("aad=%s: the record ID field must not be protected itself (its tag is %q)", name, ft.raw)
		}
	}
	if !hasTypeParam(f.Type(), 0) && !isIDType(f.Type()) {
		return fmt.Sprintf("aad=%s: the record ID field must be a string, an integer or an encoding.TextMarshaler, not %s", name, c.str(f.Type()))
	}
	return ""
}

// structRules are the checks of the whole struct: from= fields, subject
// fields and subject=, retention and hold, and purposes in nested structs.
func (c *typeChecker) structRules(s *structState) []problem {
	var out []problem
	blank := -1
	for i, ft := range s.tags {
		if ft != nil && s.st.Field(i).Name() == "_" && blank < 0 {
			blank = i
		}
	}
	if blank >= 0 {
		if msg := c.from(s, s.defaults.From); msg != "" {
			out = append(out, problem{field: blank, msg: "struct-level default: " + msg})
		}
	}
	if strictSubjects && len(s.subjects) > 1 && !namesSubject(s) {
		out = append(out, problem{field: s.subjects[1], msg: fmt.Sprintf("the struct has %d subject fields and no field says whose data it holds; name the subject of each encrypt, deterministic or tokenize field with subject=<Field>, or keep one subject field", len(s.subjects))})
	}
	holds := 0
	for i := range s.st.NumFields() {
		if !s.valid(i) {
			continue
		}
		ft, f := s.tags[i], s.st.Field(i)
		generic := hasTypeParam(f.Type(), 0)
		switch act := s.action(i); {
		case act == tag.SubjectAction:
			if !generic && !isIDType(f.Type()) {
				out = append(out, problem{field: i, msg: fmt.Sprintf("subject is for a string, an integer or an encoding.TextMarshaler field, not %s", c.str(f.Type()))})
			}
		case act == tag.HoldAction:
			t := types.Unalias(f.Type())
			ok := types.Identical(t, types.Typ[types.Bool]) || isNullTime(t)
			if p, isPtr := t.(*types.Pointer); isPtr && isTimeType(p.Elem()) {
				ok = true
			}
			holds++
			switch {
			case !ok && !generic:
				out = append(out, problem{field: i, msg: fmt.Sprintf("hold is for a bool, *time.Time or sql.NullTime field, not %s", c.str(f.Type()))})
			case holds > 1:
				out = append(out, problem{field: i, msg: "a struct has one hold field; keep one"})
			}
		case facts[act].walked:
			if msg := c.from(s, ft.proc.From); msg != "" {
				out = append(out, problem{field: i, msg: msg})
			} else if msg := c.subject(s, i); msg != "" {
				out = append(out, problem{field: i, msg: msg})
			} else if msg := c.retention(s, i); msg != "" {
				out = append(out, problem{field: i, msg: msg})
			}
		}
	}
	if blank >= 0 {
		if msg := c.recordRule(s); msg != "" {
			out = append(out, problem{field: blank, msg: msg})
		}
	}
	if len(s.subjects) > 0 {
		out = append(out, c.nestedPurposes(s)...)
	}
	if strictSubjects && len(s.defaults.Purposes) > 0 {
		out = append(out, c.inheritedPurposes(s)...)
	}
	return out
}

// inheritedPurposes mirrors pii's inheritedPurposeField for a struct with
// a default purpose: a sealed field of a struct reached through its
// untagged fields, with no purpose of its own nor a default of its
// struct, under that struct's subject keys or below a subject field of a
// struct above while its own struct has none, would take the purpose only
// in the register, not in the key that seals it.
func (c *typeChecker) inheritedPurposes(s *structState) []problem {
	var out []problem
	seen := map[types.Type]bool{}
	for i := range s.st.NumFields() {
		if !s.walksUntagged(i) {
			continue
		}
		f := s.st.Field(i)
		if path, ok := inheritedPurposeField(f.Type(), f.Name(), len(s.subjects) > 0, seen, 0); ok {
			purposes := strings.Join(s.defaults.Purposes, "+")
			out = append(out, problem{field: i, msg: fmt.Sprintf("%s inherits purpose=%s from this struct's default, but only a field's own purpose= or its own struct's default selects the subject key that seals it, so Withdraw of %s would not reach it; write purpose=%s on the field or in its struct's default", path, purposes, purposes, purposes)})
		}
	}
	return out
}

func inheritedPurposeField(t types.Type, path string, subjectAbove bool, seen map[types.Type]bool, depth int) (string, bool) {
	if depth > maxDepth {
		return "", false
	}
	for e := elemOf(t); e != nil; e = elemOf(t) {
		t = e
	}
	st, ok := t.Underlying().(*types.Struct)
	if !ok || seen[t] || hasTypeParam(t, 0) {
		return "", false
	}
	seen[t] = true
	ns := newStructState(st)
	if len(ns.defaults.Purposes) > 0 {
		return "", false // its own default is what its fields inherit
	}
	for i := range st.NumFields() {
		if !ns.valid(i) || !facts[ns.action(i)].sealed || len(ns.tags[i].proc.Purposes) > 0 {
			continue
		}
		_, named := ns.tags[i].t.Option("subject")
		keyed := named || len(ns.subjects) == 1
		if keyed || subjectAbove && len(ns.subjects) == 0 {
			return path + "." + st.Field(i).Name(), true
		}
	}
	for i := range st.NumFields() {
		if f := st.Field(i); ns.walksUntagged(i) {
			if got, ok := inheritedPurposeField(f.Type(), path+"."+f.Name(), subjectAbove || len(ns.subjects) > 0, seen, depth+1); ok {
				return got, true
			}
		}
	}
	return "", false
}

// namesSubject reports whether a walked field of s says subject=.
func namesSubject(s *structState) bool {
	for i := range s.st.NumFields() {
		if s.valid(i) && facts[s.action(i)].walked {
			if _, ok := s.tags[i].t.Option("subject"); ok {
				return true
			}
		}
	}
	return false
}

// from mirrors the from= check of pii's bindProcessing.
func (c *typeChecker) from(s *structState, from string) string {
	if from == "" {
		return ""
	}
	j := directField(s.st, from)
	if j < 0 || !s.st.Field(j).Exported() {
		return fmt.Sprintf("from=%s names no exported field of this struct", from)
	}
	t := types.Unalias(s.st.Field(j).Type())
	if p, ok := t.Underlying().(*types.Pointer); ok {
		t = p.Elem()
	}
	if hasTypeParam(t, 0) || isTimeType(t) || isNullTime(t) {
		return ""
	}
	return fmt.Sprintf("from=%s is a %s; retention counts from a time.Time, *time.Time or sql.NullTime field", from, c.str(s.st.Field(j).Type()))
}

// subject mirrors pii's bindSubjects for field i.
func (c *typeChecker) subject(s *structState, i int) string {
	act := s.action(i)
	if !facts[act].sealed && act != "tokenize" {
		return ""
	}
	bound := false
	switch o, named := s.tags[i].t.Option("subject"); {
	case named:
		j := directField(s.st, o.Value)
		if j < 0 || !slices.Contains(s.subjects, j) {
			return fmt.Sprintf("subject=%s names no field of this struct tagged `pii:\"subject\"`", o.Value)
		}
		bound = true
	case len(s.subjects) == 1:
		bound = true
	case len(s.subjects) > 1 && act != "tokenize":
		return fmt.Sprintf("the struct has %d subject fields; say whose data this is with subject=<Field>", len(s.subjects))
	}
	if purposes := s.tags[i].proc.Merge(s.defaults).Purposes; bound && act != "tokenize" && len(purposes) == 1 && keys.CheckKeyName(purposes[0]) != nil {
		return fmt.Sprintf("purpose=%s: a purpose that selects a subject key has at most 64 characters", purposes[0])
	}
	return ""
}

// recordDefaults is the default a field merges for retention: a record
// rule (then=delete) is the struct's, not its fields'.
func recordDefaults(d tag.Processing) tag.Processing {
	if d.Then == "delete" {
		d.Retain, d.RetainFor, d.From, d.Then = "", 0, "", ""
	}
	return d
}

// retention mirrors the field rules of pii's bindRetention.
func (c *typeChecker) retention(s *structState, i int) string {
	proc := s.tags[i].proc.Merge(recordDefaults(s.defaults))
	if proc.Retain == "" {
		if proc.Then != "" {
			return fmt.Sprintf("then=%s needs retain=<period>, such as retain=2y", proc.Then)
		}
		return ""
	}
	switch proc.Then {
	case "delete":
		return fmt.Sprintf("then=delete removes the whole record: put it on the struct's blank field, as in _ struct{} `pii:\"retain=%s,from=%s,then=delete\"`", proc.Retain, proc.From)
	case "shred":
		if len(proc.Purposes) != 1 {
			return "then=shred withdraws one purpose: give the field exactly one purpose=<name>"
		}
		if len(s.subjects) == 0 {
			return "then=shred withdraws the record's subject: tag its ID field `pii:\"subject\"`"
		}
	}
	return c.anchor(s, proc)
}

// anchor mirrors the from= rule of a retention period.
func (c *typeChecker) anchor(s *structState, proc tag.Processing) string {
	if proc.From == "" {
		return fmt.Sprintf("retain=%s needs from=<Field>, the time field it is counted from", proc.Retain)
	}
	j := directField(s.st, proc.From)
	if j < 0 {
		return "" // reported by from
	}
	if ft := s.tags[j]; ft != nil && ft.raw != "-" {
		return fmt.Sprintf("from=%s: the anchor is tagged %q; a database compares it, so leave it untagged or tag it `pii:\"-\"`", proc.From, ft.raw)
	}
	return ""
}

// recordRule mirrors the record rule of pii's bindRetention.
func (c *typeChecker) recordRule(s *structState) string {
	switch d := s.defaults; {
	case d.Then == "delete":
		if d.Retain == "" {
			return "then=delete needs retain=<period> and from=<Field>, as in `pii:\"retain=7y,from=Closed,then=delete\"`"
		}
		return c.anchor(s, d)
	case d.Then != "" && d.Retain == "":
		return fmt.Sprintf("then=%s needs retain=<period>, such as retain=2y", d.Then)
	}
	return ""
}

// nestedPurposes mirrors pii's checkNestedSubjects for a struct with a
// subject field: a struct reached through its untagged fields that has no
// subject field of its own must not hold an encrypt or deterministic
// field with purpose=, which Forget and Withdraw would not reach.
func (c *typeChecker) nestedPurposes(s *structState) []problem {
	var out []problem
	seen := map[types.Type]bool{}
	for i := range s.st.NumFields() {
		if !s.walksUntagged(i) {
			continue
		}
		f := s.st.Field(i)
		if path, purposes, ok := nestedPurposeField(f.Type(), f.Name(), seen, 0); ok {
			out = append(out, problem{nested: true, field: i, msg: fmt.Sprintf("%s names purpose=%s, but its struct has no subject field, so Forget and Withdraw of this record's subject do not reach it; add a `pii:\"subject\"` field to the nested struct (holding the same subject ID), or drop purpose= from the field and clear it with Erase", path, strings.Join(purposes, "+"))})
		}
	}
	return out
}

func nestedPurposeField(t types.Type, path string, seen map[types.Type]bool, depth int) (string, []string, bool) {
	if depth > maxDepth {
		return "", nil, false
	}
	for e := elemOf(t); e != nil; e = elemOf(t) {
		t = e
	}
	st, ok := t.Underlying().(*types.Struct)
	if !ok || seen[t] || hasTypeParam(t, 0) {
		return "", nil, false
	}
	seen[t] = true
	ns := newStructState(st)
	if len(ns.subjects) > 0 {
		return "", nil, false
	}
	for i := range st.NumFields() {
		if ns.valid(i) && facts[ns.action(i)].sealed {
			if purposes := ns.tags[i].proc.Merge(ns.defaults).Purposes; len(purposes) > 0 {
				return path + "." + st.Field(i).Name(), purposes, true
			}
		}
	}
	for i := range st.NumFields() {
		if f := st.Field(i); ns.walksUntagged(i) {
			if got, purposes, ok := nestedPurposeField(f.Type(), path+"."+f.Name(), seen, depth+1); ok {
				return got, purposes, true
			}
		}
	}
	return "", nil, false
}
