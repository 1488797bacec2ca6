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

	"github.com/tillid/tillid/internal/envelope"
	"github.com/tillid/tillid/keys"
)

// maxDepth bounds how many nested structs Protect and Reveal follow.
const maxDepth = 1000

// Protector protects and reveals the tagged fields of structs. It is safe
// for concurrent use by many goroutines, but one struct must not be passed
// to two calls at once.
type Protector struct {
	provider   keys.Provider
	extraAD    []byte
	legacy     sync.Map // "Type.Field" → *atomic.Uint64
	tokenizers map[string]tokenizer
}

// Option configures a Protector. Options are made by the With… functions of
// this package.
type Option interface {
	apply(*Protector) error
}

type optionFunc func(*Protector) error

func (f optionFunc) apply(p *Protector) error { return f(p) }

// WithAssociatedData adds associatedData to the associated data of every
// ciphertext the Protector makes and checks, after the type, field and
// record ID the library binds itself. Use it to bind values to a tenant or an
// application; a Protector with other associated data cannot reveal them.
// The bytes are copied. Associated data is authenticated, not secret.
func WithAssociatedData(associatedData []byte) Option {
	b := append([]byte(nil), associatedData...)
	return optionFunc(func(p *Protector) error {
		p.extraAD = b
		return nil
	})
}

// New returns a Protector that takes its keys from provider. It returns an
// error wrapping [ErrKeyProvider] when provider is nil.
func New(provider keys.Provider, opts ...Option) (*Protector, error) {
	if provider == nil {
		return nil, fmt.Errorf("%w: nil provider", ErrKeyProvider)
	}
	if rv := reflect.ValueOf(provider); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return nil, fmt.Errorf("%w: nil %T (did opening the key store fail?)", ErrKeyProvider, provider)
	}
	p := &Protector{provider: provider}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("pii: nil Option")
		}
		if err := o.apply(p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Protect transforms, in place, every tagged field reachable from ptr: a
// pointer to a struct, or to a slice, array or map of structs. encrypt
// fields get a randomised ciphertext, deterministic fields a deterministic
// one, redact fields their zero value. Values already protected by tillid
// for the same field are left as they are, so protecting twice never
// encrypts twice; a value that carries the ciphertext prefix but does not
// verify for its field is an error ([ErrDecryption]). Nil pointers, nil maps,
// nil slices, invalid sql.NullStrings and null Values stay as they are; an
// empty string is encrypted, so its presence is kept.
//
// Protect is all or nothing: when it returns an error, *ptr is unchanged.
// It returns [ErrInvalidTarget], [ErrInvalidTag], [ErrMissingRecordID],
// [ErrTooLong], [ErrKeyProvider], [ErrDecryption], [ErrKeyDisabled],
// [ErrKeyNotFound], [ErrTooDeep] or ctx's error, most wrapped in a
// [*FieldError]. The provider is called with ctx.
//
// String fields receive the text envelope and []byte fields the raw one; see
// [StoredLen] for their sizes. Each ciphertext is bound through associated
// data to the declaring struct type's name, the field's name, the aad= field's
// value when the tag has one, and the Protector's [WithAssociatedData].
func (p *Protector) Protect(ctx context.Context, ptr any) error {
	_, err := p.do(ctx, ptr, modeProtect)
	return err
}

// Reveal reverses Protect in place: encrypt and deterministic fields get
// their plaintext back, byte for byte; redact fields stay as they are. It
// fails closed: plaintext in a protected field is [ErrNotProtected] (unless
// its tag has the migrate option, in which case it is left as it is and
// counted in [Protector.Stats]), and a tampered, truncated or moved
// ciphertext is [ErrDecryption]. A ciphertext under a disabled, destroyed or
// unknown key is [ErrKeyDisabled], [ErrKeyDestroyed] or [ErrKeyNotFound].
//
// Reveal is all or nothing, like Protect, and returns the same errors.
func (p *Protector) Reveal(ctx context.Context, ptr any) error {
	_, err := p.do(ctx, ptr, modeReveal)
	return err
}

// Rewrap re-encrypts, in place, every protected value whose key is not the
// current primary key of its keyset, without handing plaintext to the
// caller: encrypt and deterministic ciphertexts, blind indexes (recomputed
// from their sources) and FF1 tokens. It returns how many values it changed.
// Keyed hashes and vaulted tokens cannot be recomputed without the original
// and stay as they are. Run it over stored
// records after a rotation; once every record is rewrapped, the old key can
// be disabled. Plaintext in a migrate field is protected; plaintext
// elsewhere is [ErrNotProtected]. It is all or nothing and returns the
// errors of Reveal.
func (p *Protector) Rewrap(ctx context.Context, ptr any) (int, error) {
	return p.do(ctx, ptr, modeRewrap)
}

// Stats reports counters of a Protector.
type Stats struct {
	// LegacyPlaintextReads counts, per "Type.Field", the plaintext values that
	// Reveal let through because the field's tag has the migrate option.
	LegacyPlaintextReads map[string]uint64
}

// Stats returns a snapshot of the Protector's counters.
func (p *Protector) Stats() Stats {
	s := Stats{LegacyPlaintextReads: map[string]uint64{}}
	if p == nil {
		return s
	}
	p.legacy.Range(func(k, v any) bool {
		s.LegacyPlaintextReads[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	return s
}

type mode uint8

const (
	modeProtect mode = iota + 1
	modeReveal
	modeRewrap
)

// roots caches the walk node of each type passed to Protect.
var roots sync.Map // map[reflect.Type]*node

func rootNode(t reflect.Type) (*node, error) {
	if n, ok := roots.Load(t); ok {
		return n.(*node), nil
	}
	var n *node
	if t.Kind() == reflect.Struct {
		n = &node{kind: nodeStruct, typ: t, plan: planFor(t)}
		n.work = n.plan.work
	} else {
		b := &planBuilder{pending: map[reflect.Type]*typePlan{}}
		n = b.untagged(t)
		b.finish()
		for typ, p := range b.pending {
			plans.LoadOrStore(typ, p)
		}
		if n == nil {
			return nil, fmt.Errorf("%w: %s holds no struct; pass a pointer to a struct, or to a slice, array or map of structs", ErrInvalidTarget, t)
		}
	}
	got, _ := roots.LoadOrStore(t, n)
	return got.(*node), nil
}

func (p *Protector) do(ctx context.Context, ptr any, m mode) (int, error) {
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
	n, err := rootNode(e.Type())
	if err != nil {
		return 0, err
	}
	if _, err := nodeState(n); err != nil {
		return 0, err
	}
	if !n.work {
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	r := runPool.Get().(*run)
	defer r.release()
	r.p, r.ctx, r.mode = p, ctx, m
	r.dedupe = n.kind != nodeStruct || n.plan.indirect
	r.path = append(r.path[:0], pathSeg{name: rootName(e.Type())})
	if err := r.walk(e, n); err != nil {
		return 0, err
	}
	if len(r.tokens) > 0 {
		if err := r.resolveTokens(); err != nil {
			return 0, err
		}
	}
	r.apply()
	for _, k := range r.legacy {
		c, _ := p.legacy.LoadOrStore(k, new(atomic.Uint64))
		c.(*atomic.Uint64).Add(1)
	}
	changed := 0
	for i := range r.ops {
		if k := r.ops[i].kind; k != opSetMapIndex && k != opNone && !(k == opSet && r.ops[i].target.Kind() == reflect.Interface) { // map and interface writes carry leaf changes already counted
			changed++
		}
	}
	return changed, nil
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
	mode   mode
	dedupe bool
	depth  int
	leaves int

	ops    []op
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

	// cur is the tagged field being walked: tagged node chains hold no
	// structs, so one is enough.
	cur    *fieldPlan
	parent reflect.Value
	ad     []byte
	adOK   bool
}

var runPool = sync.Pool{New: func() any { return new(run) }}

func (r *run) release() {
	clear(r.ops)
	r.ops = r.ops[:0]
	clear(r.seen)
	r.path = r.path[:0]
	r.legacy = r.legacy[:0]
	clear(r.sets)
	r.sets = r.sets[:0]
	clear(r.tokens)
	r.tokens = r.tokens[:0]
	clear(r.tokenTargets)
	r.tokenTargets = r.tokenTargets[:0]
	r.p, r.ctx, r.cur, r.parent = nil, nil, nil, reflect.Value{}
	r.depth, r.leaves, r.adOK = 0, 0, false
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

// markLeaf records the leaf v for the current field and reports whether to
// transform it: false when it was already done for the same field and
// record (aliasing, cycles). A value shared by two fields, or by the same
// field of two records bound to their IDs, cannot be bound to both: that is
// an error, because whichever binding won would not reveal for the other
// once the fields are stored apart.
func (r *run) markLeaf(v reflect.Value) (bool, error) {
	if !r.dedupe || !v.CanAddr() {
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

type pathSeg struct {
	name  string
	index int // -1: a map key
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

type opKind uint8

const (
	opNone opKind = iota // a reserved op that stayed empty: a token that only needed checking
	opSetString
	opSetBytes
	opSet
	opSetMapIndex
	opZero
)

// op is one change, collected while walking and applied only when the whole
// walk succeeded.
type op struct {
	kind   opKind
	target reflect.Value
	s      string
	b      []byte
	v, k   reflect.Value
}

func (r *run) apply() {
	for i := range r.ops {
		o := &r.ops[i]
		switch o.kind {
		case opSetString:
			o.target.SetString(o.s)
		case opSetBytes:
			o.target.SetBytes(o.b)
		case opSet:
			o.target.Set(o.v)
		case opSetMapIndex:
			o.target.SetMapIndex(o.k, o.v)
		case opZero:
			o.target.SetZero()
		}
	}
}

func (r *run) walk(v reflect.Value, n *node) error {
	if !n.work {
		return nil
	}
	switch n.kind {
	case nodeStruct:
		r.depth++
		defer func() { r.depth-- }()
		if r.depth > maxDepth {
			return r.fieldErr(v.Type(), fmt.Errorf("%w: more than %d nested structs", ErrTooDeep, maxDepth))
		}
		return r.walkStruct(v, n.plan)
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
				r.ops = append(r.ops, op{kind: opSetMapIndex, target: v, k: it.Key(), v: tmp})
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
	n, err := rootNode(e.Type())
	if err != nil {
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
		r.ops = append(r.ops, op{kind: opSet, target: v, v: tmp})
	}
	return nil
}

func (r *run) walkStruct(v reflect.Value, p *typePlan) error {
	if r.dedupe && v.CanAddr() && !r.markPtr(v.Addr().Pointer(), v.Type()) {
		return nil
	}
	for _, f := range p.fields {
		r.path = append(r.path, pathSeg{name: f.name})
		fv := v.Field(f.index)
		if f.tagged {
			r.cur, r.parent, r.adOK = f, v, false
		} else {
			r.cur = nil // untagged: what lies below is structs, which set their own
		}
		err := r.walk(fv, f.node)
		r.path = r.path[:len(r.path)-1]
		if err != nil {
			return err
		}
	}
	return nil
}

// associatedData returns the associated data of the current field, building
// it on first need: label, type name and field name (adPrefix), then the
// record ID and the Protector's extra associated data, each length-prefixed.
func (r *run) associatedData() ([]byte, error) {
	if r.adOK {
		return r.ad, nil
	}
	f := r.cur
	r.ad = append(r.ad[:0], f.adPrefix...)
	var id []byte
	if f.recordIndex >= 0 {
		b, ok, err := recordID(r.parent.Field(f.recordIndex))
		if err != nil || !ok {
			return nil, fmt.Errorf("%w: field %s must be set (and encodable as text) before the value can be bound to its record", ErrMissingRecordID, f.tag.aadField)
		}
		id = b
	}
	r.ad = appendLP(r.ad, unsafeString(id))
	r.ad = appendLP(r.ad, unsafeString(r.p.extraAD))
	r.adOK = true
	return r.ad, nil
}

func (r *run) leaf(v reflect.Value, n *node) error {
	if ok, err := r.markLeaf(v); !ok {
		if err != nil {
			return r.fieldErr(r.parent.Type(), err)
		}
		return nil
	}
	r.leaves++
	if r.leaves%256 == 0 {
		if err := r.ctx.Err(); err != nil {
			return err
		}
	}
	t := r.parent.Type()
	switch n.kind {
	case nodeRedact:
		if r.mode == modeProtect && !v.IsZero() {
			r.ops = append(r.ops, op{kind: opZero, target: v})
		}
		return nil
	case nodeString:
		return r.stringLeaf(v, t)
	case nodeBytes:
		b := v.Bytes()
		if b == nil {
			return nil
		}
		out, changed, err := r.transform(b, false)
		if err != nil {
			return r.fieldErr(t, err)
		}
		if changed {
			r.ops = append(r.ops, op{kind: opSetBytes, target: v, b: out})
		}
	case nodeNullString:
		if !v.Field(1).Bool() {
			return nil
		}
		return r.stringLeaf(v.Field(0), t)
	case nodeValue:
		return r.value(v, t)
	case nodeIndex:
		if err := r.index(v); err != nil {
			return r.fieldErr(t, err)
		}
	}
	return nil
}

// stringLeaf transforms the string-kind value v of the current field.
func (r *run) stringLeaf(v reflect.Value, t reflect.Type) error {
	var out string
	var changed bool
	var err error
	if r.cur.tag.action == actionTokenize {
		out, changed, err = r.tokenLeaf(v.String())
		if err == errDeferred {
			r.tokenTargets = append(r.tokenTargets, v)
			return nil
		}
	} else {
		var b []byte
		b, changed, err = r.transform(unsafeBytes(v.String()), true)
		out = unsafeString(b)
	}
	if err != nil {
		return r.fieldErr(t, err)
	}
	if changed {
		r.ops = append(r.ops, op{kind: opSetString, target: v, s: out})
	}
	return nil
}

func (r *run) value(v reflect.Value, t reflect.Type) error {
	s := v.Addr().Interface().(sealer)
	state, sealed := s.piiState()
	switch state {
	case valueNull:
		return nil
	case valueProtected:
		out, changed, err := r.transform(unsafeBytes(sealed), true)
		if err != nil {
			return r.fieldErr(t, err)
		}
		if !changed {
			return nil
		}
		var nv reflect.Value
		if r.mode == modeReveal {
			nv, err = s.piiWithPlain(out)
			if err != nil {
				return r.fieldErr(t, err)
			}
		} else {
			nv = s.piiWithSealed(string(out))
		}
		r.ops = append(r.ops, op{kind: opSet, target: v, v: nv})
		return nil
	}
	// Plaintext state.
	if r.mode != modeProtect && !(r.mode == modeRewrap && r.cur.tag.migrate) {
		if r.mode == modeReveal && r.cur.tag.migrate {
			r.countLegacy()
			return nil
		}
		return r.fieldErr(t, ErrNotProtected)
	}
	pt, err := s.piiEncode()
	if err != nil {
		// The marshaller's own error may quote the value: it is not passed on.
		return r.fieldErr(t, fmt.Errorf("%w: marshalling the %s failed", ErrInvalidValue, v.Type()))
	}
	out, err := r.seal(pt, true)
	if err != nil {
		return r.fieldErr(t, err)
	}
	r.ops = append(r.ops, op{kind: opSet, target: v, v: s.piiWithSealed(string(out))})
	return nil
}

func (r *run) countLegacy() {
	r.legacy = append(r.legacy, typeName(r.parent.Type())+"."+r.cur.name)
}

// transform applies the run's mode to one leaf value. text selects the
// base64url envelope (string fields) over the raw one ([]byte fields).
func (r *run) transform(in []byte, text bool) (out []byte, changed bool, err error) {
	if r.cur.tag.action == actionHash {
		return r.hashLeaf(in, text)
	}
	protected := envelope.HasPrefix(in)
	switch r.mode {
	case modeProtect:
		if protected {
			if _, _, err := r.open(in, text); err != nil {
				return nil, false, fmt.Errorf("%w: the value carries the tillid ciphertext prefix but does not verify for this field: %w", ErrDecryption, err)
			}
			return nil, false, nil
		}
		out, err := r.seal(in, text)
		return out, err == nil, err
	case modeReveal:
		if !protected {
			if r.cur.tag.migrate {
				r.countLegacy()
				return nil, false, nil
			}
			return nil, false, ErrNotProtected
		}
		pt, _, err := r.open(in, text)
		return pt, err == nil, err
	default: // modeRewrap
		if !protected {
			if r.cur.tag.migrate {
				out, err := r.seal(in, text)
				return out, err == nil, err
			}
			return nil, false, ErrNotProtected
		}
		pt, stale, err := r.open(in, text)
		if err != nil || !stale {
			return nil, false, err
		}
		out, err := r.seal(pt, text)
		return out, err == nil, err
	}
}

type cachedKeyset struct {
	id keys.KeysetID
	ks *keys.Keyset
}

// keyset returns the current field's keyset, asking the provider once per
// run and keyset.
func (r *run) keyset() (*keys.Keyset, envelope.Mode, error) {
	id := r.cur.keyset()
	m := envelope.ModeAEAD
	switch r.cur.tag.action {
	case actionDeterministic:
		m = envelope.ModeDeterministic
	case actionIndex:
		m = envelope.ModeBlindIndex
	case actionHash:
		m = envelope.ModePseudonym
	}
	for _, c := range r.sets {
		if c.id == id {
			return c.ks, m, nil
		}
	}
	ks, err := r.p.provider.Keyset(r.ctx, id.Name, id.Kind)
	if err != nil {
		if ctxErr := r.ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return nil, m, err
		}
		return nil, m, fmt.Errorf("%w: keyset %s: %w", ErrKeyProvider, id, err)
	}
	if ks == nil || ks.Kind() != id.Kind {
		return nil, m, fmt.Errorf("%w: keyset %s: the provider returned no keyset of that kind", ErrKeyProvider, id)
	}
	r.sets = append(r.sets, cachedKeyset{id, ks})
	return ks, m, nil
}

// refreshKeyset handles a key ID that the cached keyset ks does not hold
// (checkErr wraps keys.ErrKeyNotFound): a provider that caches keysets is
// asked once for the keyset as stored now, since another instance may have
// rotated it moments ago. It returns the fresh keyset when it holds keyID
// enabled, and otherwise the key error.
func (r *run) refreshKeyset(ks *keys.Keyset, keyID uint32, checkErr error) (*keys.Keyset, error) {
	rf, ok := r.p.provider.(keys.Refresher)
	if !ok || !errors.Is(checkErr, keys.ErrKeyNotFound) {
		return nil, checkErr
	}
	id := r.cur.keyset()
	fresh, err := rf.Refresh(r.ctx, id.Name, id.Kind)
	if err != nil || fresh == nil || fresh.Kind() != id.Kind {
		return nil, checkErr
	}
	if err := fresh.CheckKeyID(keyID); err != nil {
		return nil, err
	}
	for i := range r.sets {
		if r.sets[i].id == id {
			r.sets[i].ks = fresh
		}
	}
	return fresh, nil
}

func (r *run) seal(pt []byte, text bool) ([]byte, error) {
	if n := r.cur.tag.normalize; n.spec != "" {
		pt = []byte(n.apply(unsafeString(pt)))
	}
	if len(pt) > envelope.MaxPlaintextSize {
		return nil, fmt.Errorf("%w: the plaintext is %d bytes, more than %d", ErrTooLong, len(pt), envelope.MaxPlaintextSize)
	}
	ks, m, err := r.keyset()
	if err != nil {
		return nil, err
	}
	size := envelope.BinarySize(m, len(pt))
	if text {
		size = envelope.TextSize(m, len(pt))
	}
	if max := r.cur.tag.maxLen; max > 0 && size > max {
		return nil, fmt.Errorf("%w: a %d-byte plaintext is stored as %d bytes, more than maxlen=%d", ErrTooLong, len(pt), size, max)
	}
	ad, err := r.associatedData()
	if err != nil {
		return nil, err
	}
	var ct []byte
	if m == envelope.ModeDeterministic {
		d, kerr := ks.DeterministicAEAD()
		if kerr != nil {
			return nil, kerr
		}
		ct, err = d.EncryptDeterministically(pt, ad)
	} else {
		a, kerr := ks.AEAD()
		if kerr != nil {
			return nil, kerr
		}
		ct, err = a.Encrypt(pt, ad)
	}
	if err != nil {
		return nil, fmt.Errorf("pii: encryption failed: %v", err)
	}
	out := make([]byte, 0, size)
	if text {
		return envelope.AppendText(out, m, ct), nil
	}
	return envelope.AppendBinary(out, m, ct), nil
}

// open decrypts one envelope of the current field and reports whether its
// key is not the primary (so Rewrap should re-encrypt it).
func (r *run) open(in []byte, text bool) (pt []byte, stale bool, err error) {
	ks, m, err := r.keyset()
	if err != nil {
		return nil, false, err
	}
	var env envelope.Parsed
	if text {
		env, err = envelope.AppendParseText(r.ctBuf, unsafeString(in), m)
		if err == nil {
			r.ctBuf = env.Ciphertext[:0] // reused: Tink returns a new plaintext
		}
	} else {
		env, err = envelope.ParseBinary(in, m)
	}
	if err != nil {
		return nil, false, ErrDecryption
	}
	if err := ks.CheckKeyID(env.KeyID); err != nil {
		if ks, err = r.refreshKeyset(ks, env.KeyID, err); err != nil {
			return nil, false, err
		}
	}
	ad, err := r.associatedData()
	if err != nil {
		return nil, false, err
	}
	if m == envelope.ModeDeterministic {
		d, kerr := ks.DeterministicAEAD()
		if kerr != nil {
			return nil, false, kerr
		}
		pt, err = d.DecryptDeterministically(env.Ciphertext, ad)
	} else {
		a, kerr := ks.AEAD()
		if kerr != nil {
			return nil, false, kerr
		}
		pt, err = a.Decrypt(env.Ciphertext, ad)
	}
	if err != nil {
		return nil, false, ErrDecryption
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, env.KeyID != ks.PrimaryKeyID(), nil
}

// unsafeBytes views s as bytes without copying; callers only read them.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// unsafeString views b as a string without copying; b must not change later.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
