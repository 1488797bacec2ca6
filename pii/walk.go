package pii

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/tillid/tillid/internal/walkskip"
)

// This file walks a value along its plan, one run per Protect, Reveal or
// Rewrap call: run state, cycle and alias detection, paths for errors, and
// the dispatch of each leaf to its action's row.

// verb is what a run does: Protect, Reveal or Rewrap.
type verb uint8

const (
	verbProtect verb = iota + 1
	verbReveal
	verbRewrap
	verbErase
)

// maxDepth bounds how many nested structs Protect and Reveal follow.
const maxDepth = 1000

// rootPlan returns the plan of a value of type t passed in, which has a
// root node.
func rootPlan(t reflect.Type) (*typePlan, error) {
	p := planFor(t)
	if p.root == nil {
		return nil, fmt.Errorf("%w: %s holds no struct; pass a pointer to a struct, or to a slice, array or map of structs", ErrInvalidTarget, t)
	}
	return p, nil
}

func rootName(t reflect.Type) string {
	if t.Kind() == reflect.Struct {
		return typeName(t)
	}
	return t.String()
}

// run is the state of one Protect, Reveal or Rewrap call. Runs are pooled.
type run struct {
	p      *Protector
	ctx    context.Context
	verb   verb
	dedupe bool
	depth  int
	leaves int

	ops    []op
	vals   []reflect.Value // the values of ops that need reflection
	seen   map[seenKey]leafOwner
	path   []pathSeg
	legacy []string
	sets   []cachedKeyset
	// tokens are vault calls deferred to one batch per domain, and
	// tokenTargets the values their results go to, index for index.
	tokens       []pendingToken
	tokenTargets []reflect.Value
	// ctBuf holds decoded ciphertexts while they are decrypted.
	ctBuf []byte
	// opened are the last values opened, per field (seal.go).
	opened openedValues

	// cur is the tagged field being walked: tagged node chains hold no
	// structs, so one is enough.
	cur    *fieldPlan
	parent reflect.Value
	// ad is the current field's associated data (adOK: built): a view of
	// adBuf, or of the plan's read-only adFixed.
	ad    []byte
	adBuf []byte
	adOK  bool

	// subjects is the run's state of subject keys (subject.go).
	subjects subjectRun
	// skip are the struct fields the caller's context says to leave alone
	// (internal/walkskip: an ORM's associations); nil for none.
	skip []walkskip.Fields
}

var runPool = sync.Pool{New: func() any { return new(run) }}

func (r *run) release() {
	// Drop the references the run holds (plaintexts and ciphertexts
	// included), touching only what was used.
	clear(r.ops)
	r.ops = r.ops[:0]
	if len(r.vals) > 0 {
		clear(r.vals)
		r.vals = r.vals[:0]
	}
	if len(r.seen) > 0 {
		clear(r.seen)
	}
	r.path = r.path[:0]
	r.legacy = r.legacy[:0]
	for i := range r.sets { // one or two: cheaper than clear's bulk barrier
		r.sets[i].ks, r.sets[i].id.Name = nil, ""
	}
	r.sets = r.sets[:0]
	if len(r.tokens) > 0 {
		clear(r.tokens)
		r.tokens = r.tokens[:0]
		clear(r.tokenTargets)
		r.tokenTargets = r.tokenTargets[:0]
	}
	r.subjects.reset()
	r.opened.reset()
	r.p, r.ctx, r.cur, r.parent = nil, nil, nil, reflect.Value{}
	r.depth, r.leaves, r.adOK = 0, 0, false
	r.skip = nil
	runPool.Put(r)
}

type seenKey struct {
	ptr uintptr
	typ reflect.Type
}

func (r *run) markPtr(ptr uintptr, t reflect.Type) bool {
	if r.seen == nil {
		r.seen = make(map[seenKey]leafOwner)
	}
	k := seenKey{ptr, t}
	if _, ok := r.seen[k]; ok {
		return false
	}
	r.seen[k] = leafOwner{}
	return true
}

// leafOwner is the field (and record ID) a leaf value was protected for.
type leafOwner struct {
	f   *fieldPlan
	rid string
}

// markLeaf records the leaf v for the current field of a run that dedupes
// and reports whether to
// transform it: false when it was already done for the same field and
// record (aliasing, cycles). A value shared by two fields, or by the same
// field of two records bound to their IDs, cannot be bound to both: that is
// an error, because whichever binding won would not reveal for the other
// once the fields are stored apart.
func (r *run) markLeaf(v reflect.Value) (bool, error) {
	if !v.CanAddr() {
		return true, nil
	}
	return r.markOwned(v.Addr().Pointer(), v.Type())
}

// markOwned is markLeaf for any value reached by address: a leaf, or a map
// inside a tagged field.
func (r *run) markOwned(ptr uintptr, t reflect.Type) (bool, error) {
	owner := leafOwner{f: r.cur}
	if r.cur.recordIndex >= 0 {
		if id, ok, _ := recordID(r.parent.Field(r.cur.recordIndex)); ok {
			owner.rid = string(id)
		}
	}
	if r.seen == nil {
		r.seen = make(map[seenKey]leafOwner)
	}
	k := seenKey{ptr, t}
	prev, ok := r.seen[k]
	if !ok {
		r.seen[k] = owner
		return true, nil
	}
	if prev == owner {
		return false, nil
	}
	other := "another record"
	if prev.f != nil && prev.f != owner.f {
		other = "field " + prev.f.name
	}
	return false, fmt.Errorf("%w: this value is shared (through a pointer, slice or map) with %s, and one ciphertext cannot be bound to both; give each its own copy", ErrInvalidTarget, other)
}

// pathSeg is one step of the path to the value being walked: a name (the
// root), a struct's field (plan and the field's index in plan.fields,
// updated in place so that walking a field writes no pointer), or an
// element (index; -1 for a map value).
type pathSeg struct {
	name  string
	plan  *typePlan
	field int
	index int
	elem  bool
}

func (r *run) pathString() string {
	var b strings.Builder
	for i, s := range r.path {
		if len(r.path) > 24 && i >= 12 && i < len(r.path)-12 {
			if i == 12 {
				b.WriteString(".…")
			}
			continue
		}
		switch {
		case s.plan != nil:
			b.WriteByte('.')
			b.WriteString(s.plan.fields[s.field].name)
		case !s.elem:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.name)
		case s.index < 0:
			b.WriteString("[…]")
		default:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
		}
	}
	return b.String()
}

func (r *run) fieldErr(t reflect.Type, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return err
	}
	return &FieldError{Type: t, Path: r.pathString(), Err: err}
}

func (r *run) walk(v reflect.Value, n *node) error {
	if !n.work {
		return nil
	}
	switch n.kind {
	case nodeStruct:
		if r.depth >= maxDepth {
			return r.fieldErr(v.Type(), fmt.Errorf("%w: more than %d nested structs", ErrTooDeep, maxDepth))
		}
		r.depth++
		err := r.walkStruct(v, n.plan)
		r.depth--
		return err
	case nodeIface:
		return r.walkIface(v)
	case nodePtr:
		if v.IsNil() {
			return nil
		}
		// The pointee is remembered by walkStruct or leaf, which see every
		// value once whatever path led there.
		return r.walk(v.Elem(), n.elem)
	case nodeSlice, nodeArray:
		if n.kind == nodeSlice && v.IsNil() {
			return nil
		}
		for i := range v.Len() {
			r.path = append(r.path, pathSeg{index: i, elem: true})
			err := r.walk(v.Index(i), n.elem)
			r.path = r.path[:len(r.path)-1]
			if err != nil {
				return err
			}
		}
		return nil
	case nodeMap:
		if v.IsNil() {
			return nil
		}
		if r.dedupe {
			if r.cur != nil { // a map of values of a tagged field
				ok, err := r.markOwned(v.Pointer(), v.Type())
				if err != nil {
					return r.fieldErr(r.parent.Type(), err)
				}
				if !ok {
					return nil
				}
			} else if !r.markPtr(v.Pointer(), v.Type()) {
				return nil
			}
		}
		it := v.MapRange()
		for it.Next() {
			tmp := reflect.New(n.elem.typ).Elem()
			tmp.Set(it.Value())
			before := len(r.ops)
			r.path = append(r.path, pathSeg{index: -1, elem: true})
			err := r.walk(tmp, n.elem)
			r.path = r.path[:len(r.path)-1]
			if err != nil {
				return err
			}
			if len(r.ops) > before {
				r.setMapIndex(v, it.Key(), tmp)
			}
		}
		return nil
	}
	return r.leaf(v, n)
}

// walkIface walks the dynamic value of an untagged interface field. A
// value that holds no struct is left alone; a struct held by value is
// protected in a copy that then replaces it.
func (r *run) walkIface(v reflect.Value) error {
	if v.IsNil() {
		return nil
	}
	r.depth++
	defer func() { r.depth-- }()
	if r.depth > maxDepth {
		return r.fieldErr(v.Type(), fmt.Errorf("%w: more than %d nested structs and interfaces", ErrTooDeep, maxDepth))
	}
	e := v.Elem()
	n := planFor(e.Type()).root
	if n == nil {
		return nil // no struct in there: nothing personal can be tagged
	}
	if _, err := nodeState(n); err != nil {
		return err
	}
	if !n.work {
		return nil
	}
	r.dedupe = true
	if e.Kind() == reflect.Pointer || e.Kind() == reflect.Slice || e.Kind() == reflect.Map {
		return r.walk(e, n)
	}
	if !v.CanSet() {
		return nil
	}
	tmp := reflect.New(e.Type()).Elem()
	tmp.Set(e)
	before := len(r.ops)
	if err := r.walk(tmp, n); err != nil {
		return err
	}
	if len(r.ops) > before {
		r.set(v, tmp)
	}
	return nil
}

func (r *run) walkStruct(v reflect.Value, p *typePlan) error {
	if r.dedupe && v.CanAddr() && !r.markPtr(v.Addr().Pointer(), v.Type()) {
		return nil
	}
	r.path = append(r.path, pathSeg{plan: p})
	top := len(r.path) - 1
	// r.parent is v for every tagged field; it is written again only after
	// an untagged field, below which nested structs set their own.
	parentSet := false
	var skip []bool
	if r.skip != nil {
		skip = walkskip.Of(r.skip, p.typ)
	}
	for i, f := range p.fields {
		if skip != nil && skip[f.index] {
			continue
		}
		r.path[top].field = i
		fv := v.Field(f.index)
		var err error
		if f.act != nil {
			r.cur, r.adOK = f, false
			if !parentSet {
				r.parent, parentSet = v, true
			}
			if r.verb == verbErase || r.subjects.scope != nil {
				if r.skipField(fv, f) {
					continue
				}
			}
			if n := f.node; n.kind == nodeString && n.work && !r.dedupe {
				// The common leaf, without walk's and leaf's switches.
				if r.leaves++; r.leaves%256 == 0 {
					if err := r.ctx.Err(); err != nil {
						return err
					}
				}
				err = r.stringLeaf(fv)
			} else {
				err = r.walk(fv, n)
			}
		} else {
			r.cur, parentSet = nil, false // untagged: what lies below is structs, which set their own
			err = r.walk(fv, f.node)
		}
		if err != nil {
			return err
		}
	}
	r.path = r.path[:top]
	return nil
}

// associatedData returns the associated data of the current field (see
// appendAssociatedData), building it on first need.
func (r *run) associatedData() ([]byte, error) {
	if f := r.cur; !r.adOK && f.recordIndex < 0 && len(r.p.extraAD) == 0 && f.subject == nil {
		return f.adFixed, nil // the common case, built with the plan
	}
	return r.buildAssociatedData()
}

// buildAssociatedData is associatedData for a field bound to its record
// ID or under WithAssociatedData, built once per field, or set by the
// caller (adOK) as column operations do.
func (r *run) buildAssociatedData() ([]byte, error) {
	if r.adOK {
		return r.ad, nil
	}
	f := r.cur
	var id []byte
	if f.recordIndex >= 0 {
		b, ok, err := recordID(r.parent.Field(f.recordIndex))
		if err != nil || !ok {
			return nil, fmt.Errorf("%w: field %s must be set (and encodable as text) before the value can be bound to its record", ErrMissingRecordID, f.tag.aadField)
		}
		id = b
	}
	if f.subjectKeyed() {
		subject, err := r.subjectID()
		if err != nil {
			return nil, err
		}
		r.adBuf = appendSubjectAssociatedData(r.adBuf[:0], f.adPrefix, id, r.p.extraAD, unsafeBytes(subject))
		r.ad, r.adOK = r.adBuf, true
		return r.ad, nil
	}
	r.adBuf = appendAssociatedData(r.adBuf[:0], f.adPrefix, id, r.p.extraAD)
	r.ad = r.adBuf
	r.adOK = true
	return r.ad, nil
}

func (r *run) leaf(v reflect.Value, n *node) error {
	if r.dedupe {
		if ok, err := r.markLeaf(v); !ok {
			if err != nil {
				return r.fieldErr(r.parent.Type(), err)
			}
			return nil
		}
	}
	r.leaves++
	if r.leaves%256 == 0 {
		if err := r.ctx.Err(); err != nil {
			return err
		}
	}
	// The parent's type is asked for only on error: most leaves succeed.
	switch n.kind {
	case nodeString:
		return r.stringLeaf(v)
	case nodeField:
		if err := r.cur.act.field(r, v); err != nil {
			return r.fieldErr(r.parent.Type(), err)
		}
	case nodeBytes:
		b := v.Bytes()
		if b == nil {
			return nil
		}
		out, changed, err := r.cur.act.leafFor(r.verb)(r, b, false)
		if err == errErasedLeaf {
			return r.erasedLeaf(v)
		}
		if err != nil {
			return r.fieldErr(r.parent.Type(), err)
		}
		if changed {
			r.setBytes(v, out)
		}
	case nodeNullString:
		if !v.Field(1).Bool() {
			return nil
		}
		return r.stringLeaf(v.Field(0))
	case nodeValue:
		return r.value(v, r.parent.Type())
	}
	return nil
}

// stringLeaf transforms the string-kind value v of the current field.
func (r *run) stringLeaf(v reflect.Value) error {
	out, changed, err := r.cur.act.leafFor(r.verb)(r, unsafeBytes(v.String()), true)
	if err == errErasedLeaf {
		return r.erasedLeaf(v)
	}
	if err == errExpiredLeaf {
		return r.expiredLeaf(v)
	}
	if err != nil {
		if err == errDeferred {
			r.tokenTargets = append(r.tokenTargets, v)
			return nil
		}
		return r.fieldErr(r.parent.Type(), err)
	}
	if changed {
		r.setString(v, unsafeString(out))
	}
	return nil
}

// value transforms the pii.Value v of the current field (encrypt or
// deterministic).
func (r *run) value(v reflect.Value, t reflect.Type) error {
	s := v.Addr().Interface().(sealer)
	state, sealed := s.piiState()
	if state == valueNull {
		return nil
	}
	if state == valuePlain {
		switch {
		case r.verb == verbReveal:
			if err := r.legacyPlaintext(); err != nil {
				return r.fieldErr(t, err)
			}
			return nil
		case r.verb == verbRewrap && !r.cur.tag.migrate:
			return r.fieldErr(t, ErrNotProtected)
		}
		pt, err := s.piiEncode()
		if err != nil {
			// The marshaller's own error may quote the value: it is not passed on.
			return r.fieldErr(t, fmt.Errorf("%w: marshalling the %s failed", ErrInvalidValue, v.Type()))
		}
		out, err := r.cur.act.seal(r, pt, true)
		if err != nil {
			return r.fieldErr(t, err)
		}
		r.set(v, s.piiWithSealed(string(out)))
		return nil
	}
	// The protected state: what Scan or UnmarshalJSON read. Under migrate
	// it may be legacy plaintext in its encoded form, which Reveal decodes.
	in := unsafeBytes(sealed)
	legacy := !r.cur.act.recognise(in)
	out, changed, err := r.cur.act.leafFor(r.verb)(r, in, true)
	if err == errErasedLeaf {
		return r.erasedLeaf(v)
	}
	if err != nil {
		return r.fieldErr(t, err)
	}
	var nv reflect.Value
	switch {
	case r.verb == verbReveal && legacy:
		out, changed = in, true
		fallthrough
	case r.verb == verbReveal:
		if !changed {
			return nil
		}
		if nv, err = s.piiWithPlain(out); err != nil {
			if legacy {
				err = fmt.Errorf("%w: the legacy plaintext does not decode as %s", ErrInvalidValue, v.Type())
			}
			return r.fieldErr(t, err)
		}
	default:
		if !changed {
			return nil
		}
		nv = s.piiWithSealed(string(out))
	}
	r.set(v, nv)
	return nil
}

// unsafeBytes views s as bytes without copying; callers only read them.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// unsafeString views b as a string without copying; b must not change later.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (p *Protector) do(ctx context.Context, ptr any, m verb) (int, error) {
	return p.doReport(ctx, ptr, m, nil)
}

// doReport is do, and fills rep (when not nil) with what Reveal left out.
func (p *Protector) doReport(ctx context.Context, ptr any, m verb, rep *Report) (int, error) {
	if p == nil || p.provider == nil {
		return 0, fmt.Errorf("%w: nil Protector; use pii.New", ErrInvalidTarget)
	}
	if ptr == nil {
		return 0, fmt.Errorf("%w: nil", ErrInvalidTarget)
	}
	if ctx == nil {
		return 0, fmt.Errorf("%w: nil context; pass context.Background()", ErrInvalidTarget)
	}
	v := reflect.ValueOf(ptr)
	if v.Kind() != reflect.Pointer {
		return 0, fmt.Errorf("%w: %s is not a pointer; pass &v", ErrInvalidTarget, v.Type())
	}
	if v.IsNil() {
		return 0, fmt.Errorf("%w: nil %s", ErrInvalidTarget, v.Type())
	}
	e := v.Elem()
	rp := p.lastPlan.Load()
	if rp == nil || rp.typ != e.Type() {
		var err error
		if rp, err = rootPlan(e.Type()); err != nil {
			return 0, err
		}
		p.lastPlan.Store(rp)
	}
	n := rp.root
	if _, err := nodeState(n); err != nil {
		return 0, err
	}
	if !n.work {
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	dedupe := mayAlias(n)
	if !dedupe && p.parallelism > 1 && (n.kind == nodeSlice || n.kind == nodeArray) && e.Len() >= 2*minChunk {
		return p.doParallel(ctx, e, rp, m, rep)
	}
	r := p.newRun(ctx, m, dedupe, rp.name)
	defer r.release()
	if nodeSubjects(n) && m != verbErase {
		if err := r.resolveSubjects(e, n); err != nil {
			return 0, err
		}
	}
	if err := r.walk(e, n); err != nil {
		return 0, err
	}
	if err := r.finish(); err != nil {
		return 0, err
	}
	r.subjects.report(rep)
	return r.commit(), nil
}

// mayAlias reports whether two leaves reached from a root of node n can
// be one value, or a value can be reached twice (a cycle): only then does a
// run remember what it visited. A slice of structs without pointers, maps,
// slices or interfaces cannot alias.
func mayAlias(n *node) bool {
	switch n.kind {
	case nodeStruct:
		return n.plan.indirect
	case nodeSlice, nodeArray:
		return n.elem.kind == nodePtr || mayAlias(n.elem)
	case nodePtr: // the pointer passed in, to a pointer
		return mayAlias(n.elem)
	}
	return true
}

// newRun returns a pooled run of verb m for a root named root in paths.
func (p *Protector) newRun(ctx context.Context, m verb, dedupe bool, root string) *run {
	r := runPool.Get().(*run)
	r.p, r.ctx, r.verb, r.dedupe = p, ctx, m, dedupe
	r.skip = walkskip.From(ctx)
	r.path = append(r.path[:0], pathSeg{name: root})
	if m == verbReveal {
		r.subjects.scope = purposeScope(ctx)
	}
	return r
}

// finish makes the vault calls the walk deferred, before anything is
// applied.
func (r *run) finish() error {
	if len(r.tokens) > 0 {
		return r.resolveTokens()
	}
	return nil
}

// commit applies the run's ops, adds its legacy reads to the Protector's
// counters, and returns how many values it changed.
func (r *run) commit() int {
	changed := r.apply()
	for _, k := range r.legacy {
		c, _ := r.p.legacy.LoadOrStore(k, new(atomic.Uint64))
		c.(*atomic.Uint64).Add(1)
	}
	return changed
}
