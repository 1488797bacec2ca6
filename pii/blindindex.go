package pii

import (
	"context"
	"fmt"
	"math/bits"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/tillid/tillid/internal/envelope"
	"github.com/tillid/tillid/internal/tag"
	"github.com/tillid/tillid/keys"
)

const (
	// IndexSize is the default size of a blind index or pseudonym, in
	// bytes: 16 bytes (128 bits) of HMAC-SHA256 output, enough that two
	// distinct values collide with probability about n²/2^129 for n values
	// (the birthday bound), so an untruncated index reveals equality exactly.
	IndexSize = 16
)

// LowCardinality is implemented by types with so few possible values that
// deterministic encryption, a blind index or a pseudonym of them would
// reveal each value through frequency analysis (blood types, genders, a
// handful of statuses). Such fields are refused for deterministic, index and
// pseudonym unless the tag adds the lowcardinality option. bool and 8- and 16-bit
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

// indexBytes returns the PRF output length of an index or pseudonym tag, in
// bytes.
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

// partFunc returns the function of a parsed part= option.
func partFunc(p tag.Part) func(string) string {
	switch p.Kind {
	case tag.PartDomain:
		return func(s string) string {
			if i := strings.LastIndexByte(s, '@'); i >= 0 {
				return s[i+1:]
			}
			return ""
		}
	case tag.PartLocal:
		return func(s string) string {
			if i := strings.LastIndexByte(s, '@'); i >= 0 {
				return s[:i]
			}
			return s
		}
	case tag.PartFirst:
		return func(s string) string {
			n := p.N
			for i := range s { // i runs over the start of each character
				if n == 0 {
					return s[:i]
				}
				n--
			}
			return s
		}
	case tag.PartLast:
		return func(s string) string {
			i := len(s)
			for n := p.N; n > 0 && i > 0; n-- {
				_, size := utf8.DecodeLastRuneInString(s[:i])
				i -= size
			}
			return s[i:]
		}
	}
	return nil
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
// text or binary envelope of its row's mode holding 0x01 || keyID ||
// truncated output.
func appendPRFStored(dst []byte, ks *keys.Keyset, f *fieldPlan, keyID uint32, values []string, text bool) ([]byte, error) {
	m := f.act.mode
	if keyID == 0 {
		keyID = ks.PrimaryKeyID()
	}
	prf, err := ks.PRFFor(keyID)
	if err != nil {
		return nil, err
	}
	sc := scratchPool.Get().(*prfScratch)
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
		scratchPool.Put(sc)
		return nil, fmt.Errorf("pii: PRF failed: %v", err)
	}
	f.tag.truncate(out)
	if text {
		dst = envelope.AppendText(dst, m, out)
	} else {
		dst = envelope.AppendBinary(dst, m, out)
	}
	scratchPool.Put(sc) // not deferred: a panic would only lose the scratch
	return dst, nil
}

// prfStored returns the stored form of the PRF of values under key keyID
// (the primary when keyID is 0) of the current field's PRF keyset.
func (r *run) prfStored(values []string, keyID uint32, text bool) ([]byte, error) {
	ks, err := r.keyset()
	if err != nil {
		return nil, err
	}
	return appendPRFStored(nil, ks, r.cur, keyID, values, text)
}

// BlindIndexer computes the stored form of one index or pseudonym field for
// query values, under the current primary PRF key: the hot path of lookups
// by index. Make one per field with [Protector.BlindIndexer] and keep it; it
// is safe for concurrent use, and picks up key rotations on each call.
type BlindIndexer struct {
	p    *Protector
	t    reflect.Type
	f    *fieldPlan
	text bool
	id   keys.KeysetID
}

// BlindIndexer returns the BlindIndexer of the index or pseudonym field named
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
	if f.act.prfLabel == "" {
		return nil, fmt.Errorf("pii: %s.%s is tagged %s; a BlindIndexer is for index and pseudonym fields", typeName(tp.typ), f.name, f.act.name)
	}
	return &BlindIndexer{p: p, t: tp.typ, f: f, id: f.keysetID(), text: f.storesText()}, nil
}

// BlindIndex appends to dst the value that the field stores for values (one
// per source field of a compound index, one for a pseudonym) under the current
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
	if want := ix.f.queryValues(); len(values) != want {
		return nil, fmt.Errorf("pii: %s.%s takes %d value(s), got %d", typeName(ix.t), ix.f.name, ix.f.queryValues(), len(values))
	}
	ks, err := ix.p.provider.Keyset(ctx, ix.id.Name, ix.id.Kind)
	if err != nil || ks == nil {
		return nil, fmt.Errorf("%w: keyset %s: %v", ErrKeyProvider, ix.id, err)
	}
	return appendPRFStored(dst, ks, ix.f, 0, values, ix.text)
}

// LookupTerms returns every stored form that query can take in the field
// named field (a dotted path as in [ColumnFor]) of v's struct type, one per
// live key: the primary key's first, then the other enabled keys in keyset
// order (oldest first): for an index field, the blind index of
// the query under each enabled PRF key; for a pseudonym field, the pseudonym;
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
// It returns an error for a field that is not index, pseudonym or deterministic,
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
	if f.act.lookup == nil {
		return nil, fmt.Errorf("pii: %s.%s is tagged %s; LookupTerms works on index, pseudonym and deterministic fields", typeName(tp.typ), f.name, f.act.name)
	}
	if want := f.queryValues(); len(query) != want {
		return nil, fmt.Errorf("pii: %s.%s takes %d query value(s), got %d", typeName(tp.typ), f.name, want, len(query))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := runPool.Get().(*run)
	defer r.release()
	r.p, r.ctx, r.verb, r.cur = p, ctx, verbProtect, f
	ks, err := r.keyset()
	if err != nil {
		return nil, err
	}
	terms, err := f.act.lookup(r, ks, query)
	if err != nil {
		return nil, fmt.Errorf("pii: %s.%s: %w", typeName(tp.typ), f.name, err)
	}
	return terms, nil
}

// lookupPRF is the lookup of index and pseudonym fields: the stored form
// of query under each enabled PRF key, the primary's first.
func lookupPRF(r *run, ks *keys.Keyset, query []string) ([]string, error) {
	var terms []string
	for _, id := range ks.EnabledKeyIDs() {
		out, err := r.prfStored(query, id, r.cur.storesText())
		if err != nil {
			return nil, err
		}
		terms = append(terms, string(out))
	}
	return terms, nil
}

// queryValues is the number of values a lookup of field f takes: one per
// source of an index, else one.
func (f *fieldPlan) queryValues() int {
	if len(f.sources) > 0 {
		return len(f.sources)
	}
	return 1
}

// storesText reports whether field f stores text envelopes (string
// leaves) rather than binary ones ([]byte leaves).
func (f *fieldPlan) storesText() bool {
	leaf := f.node
	for leaf.elem != nil {
		leaf = leaf.elem
	}
	return leaf.typ.Kind() != reflect.Slice
}
