package pii

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"

	"github.com/tillid/tillid/internal/tag"
)

// plans caches one *typePlan per type passed to the engine or reached from
// one, like encoding/json's encoder cache: built once, first store wins,
// errors cached too. Plans hold no values and no keys.
var plans sync.Map // map[reflect.Type]*typePlan

type nodeKind uint8

const (
	nodeStruct nodeKind = iota + 1
	nodePtr
	nodeSlice
	nodeArray
	nodeMap
	nodeString     // a string-kind leaf
	nodeBytes      // a []byte-kind leaf
	nodeNullString // sql.NullString
	nodeValue      // pii.Value[T]
	nodeField      // a whole field handled by its action (redact, index)
	nodeIface      // an untagged interface field: walked by its dynamic type
)

// node is how to walk one Go type: a container, a struct with its plan, or a
// leaf that is transformed.
type node struct {
	kind nodeKind
	typ  reflect.Type
	elem *node
	plan *typePlan // nodeStruct
	work bool      // something below is transformed
}

// typePlan is the compiled form of one type: for a struct type its
// fields, and for every type the node that walks a value passed in.
type typePlan struct {
	typ reflect.Type
	// name names a value of typ passed in, at the start of error paths.
	name string
	// root walks a value of typ passed to Protect, Reveal or Rewrap; nil
	// when typ reaches no struct.
	root   *node
	fields []*fieldPlan
	// tags[i] is the parsed tag of struct field i, nil when it has none
	// (its act is nil when the tag does not parse).
	tags []*fieldTag
	// hidden[i] is set when Redacted hides struct field i: its tag names an
	// action that redacts, or does not parse.
	hidden []bool
	err    error
	work   bool
	// paths caches the answers of fieldByPath for this type.
	paths sync.Map // map[string]fieldPathHit
	// view is how views write the struct's fields (view.go).
	view viewFields
	// tagged is set when a tagged field can be reached from the type through
	// its static types (interface fields, walked at run time, aside).
	tagged bool
	// indirect is set when a pointer, slice or map can be reached from the
	// type, so that values may alias or form cycles and the walk must
	// remember what it has visited.
	indirect bool
	// defaults is the struct-level default (a blank field's tag).
	defaults tag.Processing
	// retention holds the struct's retention rules and hold; nil for none.
	retention *retentionPlan
	// needs are the subject keys this struct's own fields need, and
	// subjects is set when a struct with needs can be reached from the type
	// through its static types (see subject.go).
	needs    []subjectNeed
	subjects bool
}

// fieldPlan is one struct field that is tagged, or that leads to tagged fields.
type fieldPlan struct {
	index int
	name  string
	tag   fieldTag
	// act is the field's row in the action table; nil for untagged fields.
	act  *action
	node *node
	// adPrefix is the associated data without the record ID (see
	// fieldADPrefix).
	adPrefix []byte
	// adFixed is the whole associated data of a field without aad= under a
	// Protector without WithAssociatedData, read-only.
	adFixed []byte
	// recordIndex is the index of the aad= field, or -1.
	recordIndex int
	// sources are the fields an index field is computed from.
	sources []indexSource
	// prfPrefix starts the PRF input of an index or hash field.
	prfPrefix []byte
	// part is the part= function of an index field, or nil.
	part func(string) string
	// subject binds an encrypt or deterministic field to the subject field
	// whose keys seal it, and a vaulted tokenize field to the subject its
	// tokens are registered for; nil when there is none (see subject.go).
	subject *subjectBinding
	// legacy is this field without its subject binding, which opens the
	// values stored before the struct had a subject field (subject.go).
	legacy *fieldPlan
}

// planFor returns the cached plan for type t, building it (and the plans
// of every struct type it reaches) on first use.
func planFor(t reflect.Type) *typePlan {
	if p, ok := plans.Load(t); ok {
		return p.(*typePlan)
	}
	b := &planBuilder{pending: map[reflect.Type]*typePlan{}}
	if t.Kind() == reflect.Struct {
		b.structPlan(t)
	} else {
		p := &typePlan{typ: t, name: rootName(t)}
		p.root = b.untagged(t)
		b.pending[t] = p
	}
	b.finish()
	var root *typePlan
	for typ, p := range b.pending {
		got, _ := plans.LoadOrStore(typ, p)
		if typ == t {
			root = got.(*typePlan)
		}
	}
	return root
}

type planBuilder struct {
	pending map[reflect.Type]*typePlan
	nodes   []*node
	// keyChecks are struct types used as map keys, which must not hold
	// tagged fields: a map key cannot be changed in place.
	keyChecks []keyCheck
	// owner and field name the struct field being planned, for keyChecks.
	owner *typePlan
	field string
}

type keyCheck struct {
	owner *typePlan
	field string
	key   reflect.Type
}

func (b *planBuilder) structPlan(t reflect.Type) *typePlan {
	if p, ok := b.pending[t]; ok {
		return p
	}
	if p, ok := plans.Load(t); ok {
		return p.(*typePlan)
	}
	p := &typePlan{typ: t, name: rootName(t), hidden: make([]bool, t.NumField())}
	p.root = &node{kind: nodeStruct, typ: t, plan: p}
	b.pending[t] = p
	if reflect.PointerTo(t).Implements(sealerType) {
		p.err = fmt.Errorf("%w: %s is reached through a field without a pii tag; tag that field", ErrInvalidTag, t)
		return p
	}
	// Parse every tag first: an index field's check reads its sources'.
	p.tags = make([]*fieldTag, t.NumField())
	tagErrs := make([]error, t.NumField())
	for i := range t.NumField() {
		if raw, ok := t.Field(i).Tag.Lookup("pii"); ok {
			if t.Field(i).Name == "_" {
				if err := p.parseDefaults(raw); err != nil && p.err == nil {
					p.err = &FieldError{Type: t, Path: typeName(t) + "._", Err: fmt.Errorf("%w: struct-level default: %v", ErrInvalidTag, err)}
				}
				continue
			}
			ft, err := parseFieldTag(raw)
			p.tags[i], tagErrs[i] = &ft, err
		}
	}
	for i := range t.NumField() {
		f := t.Field(i)
		fail := func(format string, args ...any) {
			if p.err == nil {
				p.err = &FieldError{Type: t, Path: typeName(t) + "." + f.Name, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidTag}, args...)...)}
			}
		}
		tagged := p.tags[i] != nil
		if !f.IsExported() && !f.Anonymous {
			if tagged {
				fail("tag on unexported field %s; export the field or remove the tag", f.Name)
			}
			continue
		}
		fp := &fieldPlan{index: i, name: f.Name, recordIndex: -1}
		if !tagged {
			if f.Type == textType {
				fail("pii.Text field has no pii tag; add one, such as `pii:\"encrypt\"`")
				continue
			}
			if reflect.PointerTo(f.Type).Implements(sealerType) {
				fail("pii.Value field has no pii tag; add one, such as `pii:\"encrypt\"`")
				continue
			}
			prevOwner, prevField := b.owner, b.field
			b.owner, b.field = p, f.Name
			fp.node = b.untagged(f.Type)
			b.owner, b.field = prevOwner, prevField
			if fp.node != nil {
				p.fields = append(p.fields, fp)
			}
			continue
		}
		if f.Anonymous && !f.IsExported() {
			p.hidden[i] = true
			fail("tag on unexported embedded field %s; tag its fields instead", f.Name)
			continue
		}
		if err := tagErrs[i]; err != nil {
			p.hidden[i] = true
			fail("%v", err)
			continue
		}
		ft := *p.tags[i]
		ft.proc = ft.proc.Merge(p.defaults)
		fp.tag, fp.act = ft, ft.act
		p.hidden[i] = ft.act.redacts
		if err := checkMask(f.Type, f.Name, &ft); err != nil {
			fail("%v", err)
			continue
		}
		if ft.act.check == nil { // skip, subject, hold: not walked
			// A subject ID is personal data that views and Redacted hide,
			// so its struct is never shown through its own methods.
			p.tagged = p.tagged || ft.act.redacts
			continue
		}
		var err error
		if fp.node, err = ft.act.check(b, p, f.Type, fp); err != nil {
			fail("%v", err)
			continue
		}
		if ft.aadField != "" {
			idx, err := recordField(t, ft.aadField)
			if err != nil {
				fail("%v", err)
				continue
			}
			fp.recordIndex = idx
		}
		fp.adPrefix = fieldADPrefix(adName(t), f.Name)
		fp.adFixed = appendAssociatedData(nil, fp.adPrefix, nil, nil)
		if ft.act.prfLabel != "" {
			fp.prfPrefix = prfPrefix(ft.act.prfLabel, adName(t), f.Name, ft.normalize.label(), ft.part)
			fp.part = ft.partFunc
		}
		p.fields = append(p.fields, fp)
	}
	if err := p.bindProcessing(); err != nil && p.err == nil {
		p.err = err
	}
	if p.err == nil {
		p.err = p.bindRetention()
	}
	// Link each index source to the plan of its field, to open it when it is
	// already protected.
	for _, f := range p.fields {
		for i := range f.sources {
			for _, g := range p.fields {
				if g.index == f.sources[i].index && g.act != nil && g.act.reversible() {
					f.sources[i].plan = g
				}
			}
		}
	}
	return p
}

// isLowCardinality reports whether t (or what it points to) marks itself
// with LowCardinality.
func isLowCardinality(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
		if t.Implements(lowCardinalityType) {
			return true
		}
		t = t.Elem()
	}
	return t.Implements(lowCardinalityType) || reflect.PointerTo(t).Implements(lowCardinalityType)
}

// untagged returns the walk node for an untagged field of type t, or nil
// when no struct can be reached through it.
func (b *planBuilder) untagged(t reflect.Type) *node {
	var n *node
	switch t.Kind() {
	case reflect.Struct:
		n = &node{kind: nodeStruct, typ: t, plan: b.structPlan(t)}
	case reflect.Pointer:
		if e := b.untagged(t.Elem()); e != nil {
			n = &node{kind: nodePtr, typ: t, elem: e}
		}
	case reflect.Slice, reflect.Array, reflect.Map:
		if t.Kind() == reflect.Map {
			k := t.Key()
			for k.Kind() == reflect.Pointer || k.Kind() == reflect.Array {
				k = k.Elem()
			}
			if k.Kind() == reflect.Struct && b.owner != nil {
				b.structPlan(k)
				b.keyChecks = append(b.keyChecks, keyCheck{owner: b.owner, field: b.field, key: k})
			}
		}
		if e := b.untagged(t.Elem()); e != nil {
			n = &node{kind: containerKind(t.Kind()), typ: t, elem: e}
		}
	case reflect.Interface:
		// What it holds is known only at run time: a tagged struct in an
		// `any` field (an event's payload, say) must not be skipped.
		return &node{kind: nodeIface, typ: t, work: true}
	}
	if n != nil {
		b.nodes = append(b.nodes, n)
	}
	return n
}

func containerKind(k reflect.Kind) nodeKind {
	switch k {
	case reflect.Slice:
		return nodeSlice
	case reflect.Array:
		return nodeArray
	case reflect.Map:
		return nodeMap
	}
	return nodePtr
}

var (
	nullStringType = reflect.TypeFor[sql.NullString]()
	sealerType     = reflect.TypeFor[sealer]()
	jsonMarshaler  = reflect.TypeFor[json.Marshaler]()
)

// leafShapes says which leaf types an action takes besides strings:
// []byte, pii.Value.
type leafShapes struct {
	bytes, value bool
}

// leafNode returns the walk node of a field of type t whose leaves the
// field's action transforms: strings (of any string kind), sql.NullString
// and, when the action takes them, []byte and pii.Value, alone or in
// pointers, slices, arrays and maps.
func (b *planBuilder) leafNode(t reflect.Type, f *fieldPlan, shapes leafShapes) (*node, error) {
	name := f.act.name
	switch {
	case t == nullStringType:
		return &node{kind: nodeNullString, typ: t, work: true}, nil
	case reflect.PointerTo(t).Implements(sealerType):
		if !shapes.value {
			return nil, fmt.Errorf("%s is for string fields; a pii.Value cannot hold it", name)
		}
		if f.tag.normalize.spec != "" {
			return nil, fmt.Errorf("normalize= is for string and []byte fields, not pii.Value")
		}
		if err := reflect.New(t).Interface().(sealer).piiCheck(); err != nil {
			return nil, err
		}
		return &node{kind: nodeValue, typ: t, work: true}, nil
	case t.Kind() == reflect.String:
		return &node{kind: nodeString, typ: t, work: true}, nil
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		if !shapes.bytes {
			return nil, fmt.Errorf("%s is for string fields (and sql.NullString, pointers, slices and maps of strings), not %s", name, t)
		}
		if t.Implements(jsonMarshaler) {
			return nil, fmt.Errorf("%s marshals itself to JSON and would not hold a ciphertext; use []byte or pii.Value", t)
		}
		return &node{kind: nodeBytes, typ: t, work: true}, nil
	case t.Kind() == reflect.Array && t.Elem().Kind() == reflect.Uint8:
		return nil, fmt.Errorf("%s is not supported on %s: a fixed-size array cannot hold a longer stored value; use []byte", name, t)
	case t.Kind() == reflect.Map && !f.tag.plainKeys:
		// Only a map's values are protected: its keys, which may be
		// personal data (a map by email address), would be stored in clear.
		return nil, fmt.Errorf("%s of %s would store the map's keys as they are; use a slice of structs with the key and the value as fields, both tagged, or add the option plainkeys if the keys are not personal data", name, t)
	case t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map:
		e, err := b.leafNode(t.Elem(), f, shapes)
		if err != nil {
			return nil, err
		}
		return &node{kind: containerKind(t.Kind()), typ: t, elem: e, work: true}, nil
	case !shapes.bytes:
		return nil, fmt.Errorf("%s is for string fields (and sql.NullString, pointers, slices and maps of strings), not %s", name, t)
	case t.Kind() == reflect.Struct:
		return nil, fmt.Errorf("%s on struct type %s: tag the fields of %s instead, or use pii.Value[%s] if it implements encoding.BinaryMarshaler or TextMarshaler", name, t, t.Name(), t.Name())
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		if shapes.value {
			return nil, fmt.Errorf("%s is not supported on %s; use pii.Value[%s]", name, t, t)
		}
	}
	return nil, fmt.Errorf("%s is not supported on %s; use a string, []byte or pii.Value field", name, t)
}

// checkLowCardinality refuses a field of type t whose action reveals
// equality (deterministic, pseudonym) when t has few possible values,
// unless the tag accepts it with lowcardinality.
func checkLowCardinality(t reflect.Type, f *fieldPlan) error {
	if f.tag.lowCardinality {
		return nil
	}
	low := isLowCardinality(t)
	leaf := t
	for leaf.Kind() == reflect.Pointer || leaf.Kind() == reflect.Slice || leaf.Kind() == reflect.Array || leaf.Kind() == reflect.Map {
		leaf = leaf.Elem()
	}
	if s, ok := reflect.New(leaf).Interface().(sealer); ok && s.piiLowCardinality() {
		low = true
	}
	if low {
		return fmt.Errorf("%s of %s reveals which of its few values a record holds (frequency analysis); use encrypt, or add the option lowcardinality to accept that", f.act.name, t)
	}
	return nil
}

// recordField checks the aad= field named name in struct t and returns its
// index.
func recordField(t reflect.Type, name string) (int, error) {
	f, ok := t.FieldByName(name)
	if !ok || len(f.Index) != 1 {
		return 0, fmt.Errorf("aad=%s: %s has no field %s (it must be a field of the same struct)", name, typeName(t), name)
	}
	if !f.IsExported() {
		return 0, fmt.Errorf("aad=%s: the record ID field must be exported", name)
	}
	if raw, ok := f.Tag.Lookup("pii"); ok && raw != "-" && !isSubjectTag(raw) {
		return 0, fmt.Errorf("aad=%s: the record ID field must not be protected itself (its tag is %q)", name, raw)
	}
	if isIDType(f.Type) {
		return f.Index[0], nil
	}
	return 0, fmt.Errorf("aad=%s: the record ID field must be a string, an integer or an encoding.TextMarshaler, not %s", name, f.Type)
}

// isIDType reports whether t can hold a record or subject ID: a string, an
// integer or an encoding.TextMarshaler.
func isIDType(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return t.Implements(textMarshalerType)
}

// finish computes, for every new plan, whether it has work and whether it
// or a plan it reaches has an error (a fixpoint, for recursive types), and
// drops fields without work.
func (b *planBuilder) finish() {
	b.checkNestedSubjects()
	b.fixpoint()
	if len(b.keyChecks) > 0 {
		for _, c := range b.keyChecks {
			kp := b.pending[c.key]
			if kp == nil {
				if v, ok := plans.Load(c.key); ok {
					kp = v.(*typePlan)
				}
			}
			if kp != nil && kp.tagged && c.owner.err == nil {
				c.owner.err = &FieldError{Type: c.owner.typ, Path: typeName(c.owner.typ) + "." + c.field,
					Err: fmt.Errorf("%w: map keys of type %s hold tagged fields, and a map key cannot be protected in place; key the map by an ID instead", ErrInvalidTag, c.key)}
			}
		}
		b.fixpoint() // carry the new errors to the types that reach them
	}
	for _, n := range b.nodes {
		n.work, _ = nodeState(n)
	}
	for _, p := range b.pending {
		if p.root != nil && p.root.kind == nodeStruct {
			p.root.work = p.work
		}
	}
	for _, p := range b.pending {
		kept := p.fields[:0]
		for _, f := range p.fields {
			if w, _ := nodeState(f.node); w {
				kept = append(kept, f)
			}
		}
		p.fields = kept
	}
}

func (b *planBuilder) fixpoint() {
	for changed := true; changed; {
		changed = false
		for _, p := range b.pending {
			for _, f := range p.fields {
				w, err := nodeState(f.node)
				if w && !p.work {
					p.work, changed = true, true
				}
				if err != nil && p.err == nil {
					p.err, changed = err, true
				}
				if nodeIndirect(f.node) && !p.indirect {
					p.indirect, changed = true, true
				}
				if nodeTagged(f.node) && !p.tagged {
					p.tagged, changed = true, true
				}
				if (len(p.needs) > 0 || nodeSubjects(f.node)) && !p.subjects {
					p.subjects, changed = true, true
				}
			}
		}
	}
}

func nodeState(n *node) (work bool, err error) {
	for ; n != nil; n = n.elem {
		if n.kind == nodeStruct {
			return n.plan.work, n.plan.err
		}
		if n.elem == nil {
			return n.work, nil
		}
	}
	return false, nil
}

func nodeTagged(n *node) bool {
	for ; n != nil; n = n.elem {
		switch n.kind {
		case nodeStruct:
			return n.plan.tagged
		case nodeIface:
			return false
		}
		if n.elem == nil {
			return n.work
		}
	}
	return false
}

func nodeIndirect(n *node) bool {
	for ; n != nil; n = n.elem {
		switch n.kind {
		case nodePtr, nodeSlice, nodeMap, nodeIface:
			return true
		case nodeStruct:
			return n.plan.indirect
		}
	}
	return false
}

// typeName is the name used for t in paths and error messages: the type's
// own name without its package, or "struct" for an unnamed struct type.
func typeName(t reflect.Type) string {
	if t.Name() != "" {
		return t.Name()
	}
	return "struct"
}

// Validate checks the pii tags of v's type, which may be a struct, a pointer
// to one, or a reflect.Type, and of every struct type reachable from it. It
// returns nil or the same error Protect and Reveal would return at first use
// (a [*FieldError] wrapping [ErrInvalidTag]), so tests and main can fail
// early. It is safe for concurrent use.
func Validate(v any) error {
	t, ok := v.(reflect.Type)
	if !ok {
		if v == nil {
			return fmt.Errorf("%w: nil", ErrInvalidTarget)
		}
		t = reflect.TypeOf(v)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return fmt.Errorf("%w: %s is not a struct", ErrInvalidTarget, t)
	}
	return planFor(t).err
}
