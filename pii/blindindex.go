package pii

import (
	"context"
	"fmt"
	"math/bits"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/tillid/tillid/internal/envelope"
	"github.com/tillid/tillid/keys"
)

const (
	// IndexSize is the default size of a blind index or keyed hash, in
	// bytes: 16 bytes (128 bits) of HMAC-SHA256 output, enough that two
	// distinct values collide with probability about n²/2^129 for n values
	// (the birthday bound), so an untruncated index reveals equality exactly.
	IndexSize = 16
	// MaxIndexBits is the largest bits= value: the 256 bits of HMAC-SHA256.
	MaxIndexBits = 256

	// blindIndexLabel and hashLabel separate the two uses of the PRF keys.
	blindIndexLabel = "tillid/v1/blind-index"
	hashLabel       = "tillid/v1/hash"
)

// LowCardinality is implemented by types with so few possible values that
// deterministic encryption, a blind index or a keyed hash of them would
// reveal each value through frequency analysis (blood types, genders, a
// handful of statuses). Such fields are refused for deterministic, index and
// hash unless the tag adds the lowcardinality option. bool and 8- and 16-bit
// integers in a [Value] are treated as low cardinality too.
//
//	type BloodType string
//	func (BloodType) PIILowCardinality() {}
type LowCardinality interface {
	PIILowCardinality()
}

var lowCardinalityType = reflect.TypeFor[LowCardinality]()

// RecommendBits returns the bits= truncation for a blind index over a field
// with about distinctValues distinct values: floor(log2(distinctValues)) - 1.
// At that size each index value is shared, on average, by at least two
// distinct plaintexts, so the index alone does not identify a value (an
// attacker who sees an index value and knows the population is left with at
// least two candidates), while a lookup returns about distinctValues / 2^bits
// ≤ 4 rows per distinct value to filter after decryption. It returns 0 when
// distinctValues is below 8: such a field is too small to index without
// revealing its values; encrypt it and filter after decryption instead.
//
// The rule follows the blind index planner of Paragon's CipherSweet, which
// keeps each index between log2(R)/2 bits (few false positives) and log2(R)
// bits (no unique index values) for R rows; tillid picks one below the top,
// for a margin of two. Several indexes over the same field multiply their
// leakage: their bits add up and should stay within the same budget.
func RecommendBits(distinctValues int) int {
	if distinctValues < 8 {
		return 0
	}
	return bits.Len(uint(distinctValues)) - 2 // floor(log2(n)) - 1
}

// indexBytes returns the PRF output length for a tag, in bytes.
func (ft fieldTag) indexBytes() int {
	if ft.bits == 0 {
		return IndexSize
	}
	return (ft.bits + 7) / 8
}

// truncate zeroes the bits of mac beyond ft.bits.
func (ft fieldTag) truncate(mac []byte) {
	if r := ft.bits % 8; r != 0 {
		mac[len(mac)-1] &= byte(0xff << (8 - r))
	}
}

// parsePart returns the function of a part= option: domain, local, firstN
// or lastN (N from 1 to 64, in characters).
func parsePart(spec string) (func(string) string, error) {
	switch spec {
	case "domain":
		return func(s string) string {
			if i := strings.LastIndexByte(s, '@'); i >= 0 {
				return s[i+1:]
			}
			return ""
		}, nil
	case "local":
		return func(s string) string {
			if i := strings.LastIndexByte(s, '@'); i >= 0 {
				return s[:i]
			}
			return s
		}, nil
	}
	for _, prefix := range []string{"first", "last"} {
		if rest, ok := strings.CutPrefix(spec, prefix); ok {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 1 || n > 64 || strconv.Itoa(n) != rest {
				break
			}
			last := prefix == "last"
			return func(s string) string {
				r := []rune(s)
				if len(r) <= n {
					return s
				}
				if last {
					return string(r[len(r)-n:])
				}
				return string(r[:n])
			}, nil
		}
	}
	return nil, fmt.Errorf("part=%s: use domain, local, firstN or lastN (N from 1 to 64 characters)", spec)
}

// prfPrefix is the fixed start of the PRF input of an index or hash field:
// the label, the declaring type's name, the field's name, the normaliser
// with its version and the part, each length-prefixed. The values follow,
// each length-prefixed too, so that compound inputs cannot run together.
func prfPrefix(t reflect.Type, f *fieldPlan) []byte {
	label := blindIndexLabel
	if f.tag.action == actionHash {
		label = hashLabel
	}
	b := appendLP(nil, label)
	b = appendLP(b, adName(t))
	b = appendLP(b, f.name)
	b = appendLP(b, f.tag.normalize.label())
	return appendLP(b, f.tag.part)
}

// appendPRFInput appends the PRF input of values under field f to dst: the
// field's prefix, then each value normalised, cut to its part= and
// length-prefixed.
func appendPRFInput(dst []byte, f *fieldPlan, values []string) []byte {
	dst = append(dst, f.prfPrefix...)
	for _, v := range values {
		v = f.tag.normalize.apply(v)
		if f.part != nil {
			v = f.part(v)
		}
		dst = appendLP(dst, v)
	}
	return dst
}

// appendPRF is implemented by keys' pooled HMAC: ComputePRF without an
// allocation.
type appendPRF interface {
	AppendPRF(dst, input []byte, outputLength uint32) ([]byte, error)
}

// prfScratch holds the buffers of one PRF computation; pooled, because
// buffers handed to an interface method escape to the heap.
type prfScratch struct {
	in  []byte
	out [5 + 32]byte
}

var scratchPool = sync.Pool{New: func() any { return &prfScratch{in: make([]byte, 0, 256)} }}

// appendPRFStored appends to dst the stored form of the PRF of values under
// key keyID of ks (the primary when keyID is 0), as field f stores it: the
// text or raw envelope of mode m holding 0x01 || keyID || truncated output.
func appendPRFStored(dst []byte, ks *keys.Keyset, f *fieldPlan, keyID uint32, values []string, text bool, m envelope.Mode) ([]byte, error) {
	if keyID == 0 {
		keyID = ks.PrimaryKeyID()
	}
	prf, err := ks.PRFFor(keyID)
	if err != nil {
		return nil, err
	}
	sc := scratchPool.Get().(*prfScratch)
	defer scratchPool.Put(sc)
	in := appendPRFInput(sc.in[:0], f, values)
	sc.in = in[:0]
	n := uint32(f.tag.indexBytes())
	out := envelope.AppendPRFPayload(sc.out[:0], keyID, nil)
	if ap, ok := prf.(appendPRF); ok {
		out, err = ap.AppendPRF(out, in, n)
	} else {
		var mac []byte
		mac, err = prf.ComputePRF(in, n)
		out = append(out, mac...)
	}
	if err != nil {
		return nil, fmt.Errorf("pii: PRF failed: %v", err)
	}
	f.tag.truncate(out)
	if text {
		return envelope.AppendText(dst, m, out), nil
	}
	return envelope.AppendBinary(dst, m, out), nil
}

// prfStored returns the stored form of the PRF of values under key keyID
// (the primary when keyID is 0) of the current field's PRF keyset.
func (r *run) prfStored(values []string, keyID uint32, text bool) ([]byte, error) {
	ks, m, err := r.keyset()
	if err != nil {
		return nil, err
	}
	return appendPRFStored(nil, ks, r.cur, keyID, values, text, m)
}

// BlindIndexer computes the stored form of one index or hash field for
// query values, under the current primary PRF key: the hot path of lookups
// by index. Make one per field with [Protector.BlindIndexer] and keep it; it
// is safe for concurrent use, and picks up key rotations on each call.
type BlindIndexer struct {
	p    *Protector
	t    reflect.Type
	f    *fieldPlan
	text bool
	mode envelope.Mode
	id   keys.KeysetID
}

// BlindIndexer returns the BlindIndexer of the index or hash field named
// field (a path as in [ColumnFor]) of v's struct type. It returns an error
// for any other field.
func (p *Protector) BlindIndexer(v any, field string) (*BlindIndexer, error) {
	if p == nil || p.provider == nil {
		return nil, fmt.Errorf("%w: nil Protector; use pii.New", ErrInvalidTarget)
	}
	tp, f, err := fieldByPath(v, field)
	if err != nil {
		return nil, err
	}
	ix := &BlindIndexer{p: p, t: tp.typ, f: f, id: f.keyset()}
	switch f.tag.action {
	case actionIndex:
		ix.mode, ix.text = envelope.ModeBlindIndex, f.node.typ.Kind() == reflect.String
	case actionHash:
		leaf := f.node
		for leaf.elem != nil {
			leaf = leaf.elem
		}
		ix.mode, ix.text = envelope.ModePseudonym, leaf.kind != nodeBytes
	default:
		return nil, fmt.Errorf("pii: %s.%s is tagged %s; a BlindIndexer is for index and hash fields", typeName(tp.typ), f.name, f.tag.action)
	}
	return ix, nil
}

// BlindIndex appends to dst the value that the field stores for values (one
// per source field of a compound index, one for a hash) under the current
// primary key, and returns the extended slice. The values go through the
// field's normalize= and part= exactly as on write. For a string field the
// result is the text envelope "tl1i:" (or "tl1h:") + base64url(0x01 ||
// key ID || index), 5 + ceil(4 × (5 + n) / 3) bytes for an n-byte index;
// for a []byte field the raw envelope, 10 + n bytes. n is 16 unless bits=
// truncates it. Equal inputs give equal outputs, so an index reveals
// equality (exactly when untruncated, up to chance collisions when
// truncated). After a rotation use [Protector.LookupTerms] to also find rows
// indexed under older keys.
//
// It returns an error for the wrong number of values, and the provider's
// errors wrapped in [ErrKeyProvider].
func (ix *BlindIndexer) BlindIndex(ctx context.Context, dst []byte, values ...string) ([]byte, error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: nil context; pass context.Background()", ErrInvalidTarget)
	}
	want := 1
	if ix.f.tag.action == actionIndex {
		want = len(ix.f.sources)
	}
	if len(values) != want {
		return nil, fmt.Errorf("pii: %s.%s takes %d value(s), got %d", typeName(ix.t), ix.f.name, want, len(values))
	}
	ks, err := ix.p.provider.Keyset(ctx, ix.id.Name, ix.id.Kind)
	if err != nil || ks == nil {
		return nil, fmt.Errorf("%w: keyset %s: %v", ErrKeyProvider, ix.id, err)
	}
	return appendPRFStored(dst, ks, ix.f, 0, values, ix.text, ix.mode)
}

// hashLeaf handles a leaf of a hash field.
func (r *run) hashLeaf(in []byte, text bool) (out []byte, changed bool, err error) {
	if envelope.HasPrefix(in) {
		var perr error
		if text {
			_, perr = envelope.ParseText(unsafeString(in), envelope.ModePseudonym)
		} else {
			_, perr = envelope.ParseBinary(in, envelope.ModePseudonym)
		}
		if perr != nil {
			return nil, false, fmt.Errorf("%w: the value carries the tillid prefix but is not a keyed hash", ErrDecryption)
		}
		return nil, false, nil // already a pseudonym; hashes are one-way
	}
	if r.mode != modeProtect {
		return nil, false, ErrNotProtected
	}
	out, err = r.prfStored([]string{unsafeString(in)}, 0, text)
	return out, err == nil, err
}

// index computes the blind index field v from its sources in r.parent.
func (r *run) index(v reflect.Value) error {
	if r.mode == modeReveal {
		return nil
	}
	f := r.cur
	text := v.Kind() == reflect.String
	var current []byte
	if text {
		current = unsafeBytes(v.String())
	} else {
		current = v.Bytes()
	}
	if r.mode == modeRewrap && len(current) > 0 {
		if keyIDOfStored(current, text, envelope.ModeBlindIndex) == r.primaryPRF() {
			return nil
		}
	}
	values := make([]string, 0, len(f.sources))
	for _, src := range f.sources {
		s, ok, keep, err := r.sourceValue(src)
		if err != nil {
			return err
		}
		if keep {
			return nil // the source was redacted earlier; its index stays
		}
		if !ok {
			if !v.IsZero() {
				r.ops = append(r.ops, op{kind: opZero, target: v})
			}
			return nil
		}
		values = append(values, s)
	}
	out, err := r.prfStored(values, 0, text)
	if err != nil {
		return err
	}
	if string(out) == string(current) {
		return nil
	}
	if text {
		r.ops = append(r.ops, op{kind: opSetString, target: v, s: unsafeString(out)})
	} else {
		r.ops = append(r.ops, op{kind: opSetBytes, target: v, b: out})
	}
	return nil
}

func (r *run) primaryPRF() uint32 {
	ks, _, err := r.keyset()
	if err != nil {
		return 0
	}
	return ks.PrimaryKeyID()
}

func keyIDOfStored(b []byte, text bool, m envelope.Mode) uint32 {
	var p envelope.Parsed
	var err error
	if text {
		p, err = envelope.ParseText(unsafeString(b), m)
	} else {
		p, err = envelope.ParseBinary(b, m)
	}
	if err != nil {
		return 0
	}
	return p.KeyID
}

// sourceValue returns the plaintext of one index source in r.parent: the
// value, whether it is present (not nil or NULL), and whether the index
// must be kept as it is (a redacted source already emptied).
func (r *run) sourceValue(src indexSource) (value string, ok, keep bool, err error) {
	fv := r.parent.Field(src.index)
	var s string
	text := true
	switch src.kind {
	case nodeString:
		s = fv.String()
	case nodeBytes:
		if fv.IsNil() {
			return "", false, false, nil
		}
		s, text = unsafeString(fv.Bytes()), false
	case nodePtr:
		if fv.IsNil() {
			return "", false, false, nil
		}
		s = fv.Elem().String()
	case nodeNullString:
		if !fv.Field(1).Bool() {
			return "", false, false, nil
		}
		s = fv.Field(0).String()
	}
	if src.redact && s == "" {
		return "", false, true, nil
	}
	if src.plan == nil || !envelope.HasPrefixString(s) {
		return s, true, false, nil
	}
	// The source is already protected: open it under its own field.
	idx := r.cur
	r.cur, r.adOK = src.plan, false
	pt, _, err := r.open(unsafeBytes(s), text)
	r.cur, r.adOK = idx, false
	if err != nil {
		return "", false, false, err
	}
	return unsafeString(pt), true, false, nil
}

// indexSource is one source field of a blind index.
type indexSource struct {
	index  int
	name   string
	kind   nodeKind // nodeString, nodeBytes, nodePtr (*string) or nodeNullString
	plan   *fieldPlan
	redact bool
}

// LookupTerms returns every stored form that query can take in the field
// named field (a dotted path as in [ColumnFor]) of v's struct type, one per
// live key: the primary key's first, then the other enabled keys in keyset
// order (oldest first): for an index field, the blind index of
// the query under each enabled PRF key; for a hash field, the keyed hash;
// for a deterministic field, the deterministic ciphertext under each
// enabled key. Search with all of them, as in
//
//	WHERE email_idx IN (?, ?)
//
// so that rows written before a rotation (and not yet rewrapped) are found
// too; once the old key is disabled after a rewrap, the list shrinks. query
// goes through the field's normalize= rules and part=, exactly as on write.
// A compound index takes one query value per source field, in tag order.
//
// For []byte fields each term is the raw stored bytes, converted to a string.
// It returns an error for a field that is not index, hash or deterministic,
// for a deterministic field bound to a record ID with aad= (its stored form
// differs per record), for the wrong number of query values, and the
// provider's errors wrapped in [ErrKeyProvider]. Terms reveal nothing the
// column does not: they are what the column holds for that value.
func (p *Protector) LookupTerms(ctx context.Context, v any, field string, query ...string) ([]string, error) {
	if p == nil || p.provider == nil {
		return nil, fmt.Errorf("%w: nil Protector; use pii.New", ErrInvalidTarget)
	}
	if ctx == nil {
		return nil, fmt.Errorf("%w: nil context; pass context.Background()", ErrInvalidTarget)
	}
	tp, f, err := fieldByPath(v, field)
	if err != nil {
		return nil, err
	}
	want := 1
	if f.tag.action == actionIndex {
		want = len(f.sources)
	}
	if len(query) != want {
		return nil, fmt.Errorf("pii: %s.%s takes %d query value(s), got %d", typeName(tp.typ), f.name, want, len(query))
	}
	leaf := f.node
	for leaf.elem != nil {
		leaf = leaf.elem
	}
	text := leaf.kind != nodeBytes && !(leaf.kind == nodeIndex && leaf.typ.Kind() == reflect.Slice)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := runPool.Get().(*run)
	defer r.release()
	r.p, r.ctx, r.mode, r.cur = p, ctx, modeProtect, f
	ks, _, err := r.keyset()
	if err != nil {
		return nil, err
	}
	var terms []string
	switch f.tag.action {
	case actionIndex, actionHash:
		for _, id := range ks.EnabledKeyIDs() {
			out, err := r.prfStored(query, id, text)
			if err != nil {
				return nil, err
			}
			terms = append(terms, string(out))
		}
	case actionDeterministic:
		if f.recordIndex >= 0 {
			return nil, fmt.Errorf("pii: %s.%s is bound to its record with aad=, so its stored form differs per record and cannot be looked up; drop aad= or add an index field", typeName(tp.typ), f.name)
		}
		if leaf.kind == nodeValue {
			return nil, fmt.Errorf("pii: %s.%s: LookupTerms supports string and []byte fields, not pii.Value", typeName(tp.typ), f.name)
		}
		r.ad = append(r.ad[:0], f.adPrefix...)
		r.ad = appendLP(appendLP(r.ad, ""), unsafeString(p.extraAD))
		pt := []byte(f.tag.normalize.apply(query[0]))
		for _, id := range ks.EnabledKeyIDs() {
			one, err := ks.ForKey(id)
			if err != nil {
				return nil, err
			}
			d, err := one.DeterministicAEAD()
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrKeyProvider, err)
			}
			ct, err := d.EncryptDeterministically(pt, r.ad)
			if err != nil {
				return nil, fmt.Errorf("pii: encryption failed: %v", err)
			}
			if text {
				terms = append(terms, string(envelope.AppendText(nil, envelope.ModeDeterministic, ct)))
			} else {
				terms = append(terms, string(envelope.AppendBinary(nil, envelope.ModeDeterministic, ct)))
			}
		}
	default:
		return nil, fmt.Errorf("pii: %s.%s is tagged %s; LookupTerms works on index, hash and deterministic fields", typeName(tp.typ), f.name, f.tag.action)
	}
	return terms, nil
}
