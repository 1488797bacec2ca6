package pii

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/tillid/tillid/internal/envelope"
	"github.com/tillid/tillid/internal/tag"
	"github.com/tillid/tillid/keys"
)

// Column names where protected values of one struct field are stored, for
// code that handles stored values without their Go struct: bulk rewrap jobs,
// the tillid CLI, lookups. Type and Field are the names that enter the
// associated data (the declaring struct type's name without its package, and
// the Go field name), so a Column made by hand must spell them exactly as the
// Go code does. [ColumnFor] builds one from a struct type.
type Column struct {
	// Type is the declaring struct type's name, for example "Customer" (for
	// an unnamed struct type, its whole literal).
	Type string
	// Field is the Go field name, for example "Email".
	Field string
	// Action is ActionEncrypt, ActionDeterministic, ActionBlindIndex,
	// ActionPseudonym or ActionTokenize.
	Action Action
	// Key is the keyset name; "" means "default". Token columns take their
	// keys from their domain's tokenizer instead.
	Key string
	// RecordField is the aad= field's name, or "" when values are not bound
	// to a record ID. It is informational: callers pass the record ID.
	RecordField string
	// Migrate is the tag's migrate option: RewrapStored protects plaintext
	// (legacy rows) instead of returning ErrNotProtected, and RevealStored
	// returns it as it is.
	Migrate bool
	// Domain is the tokenize= domain of an ActionTokenize column; the
	// Protector needs its tokenizer (WithFPE or WithVault).
	Domain string
	// Normalize, Part and Bits are the normalize=, part= and bits= options
	// of an ActionBlindIndex or ActionPseudonym column, as the tag writes
	// them ("" and 0 when the tag has none).
	Normalize string
	Part      string
	Bits      int
}

// ColumnFor returns the Column of the tagged field named
// path in v's struct type (v may be a struct, a pointer to one or a
// reflect.Type). path is a field name, or a dotted path through nested
// struct fields such as "Address.Street" (the Column then names the nested
// type). It returns [ErrInvalidTag] for a bad type and an error for a path
// that does not name such a field.
func ColumnFor(v any, path string) (Column, error) {
	p, f, err := fieldByPath(v, path)
	if err != nil {
		return Column{}, err
	}
	if f.act.id == ActionUnknown {
		return Column{}, fmt.Errorf("pii: %s.%s is tagged %s, which stores nothing", typeName(p.typ), f.name, f.act.name)
	}
	if f.subjectKeyed() {
		return Column{}, fmt.Errorf("pii: %s.%s is sealed under its subject's keys, which a Column does not reach; use Protect, Reveal and Rewrap on the struct", typeName(p.typ), f.name)
	}
	return Column{Type: adName(p.typ), Field: f.name, Action: f.act.id, Key: f.tag.key, RecordField: f.tag.aadField,
		Migrate: f.tag.migrate, Domain: f.tag.domain, Normalize: f.tag.normalize.spec, Part: f.tag.part, Bits: f.tag.bits}, nil
}

// fieldPathHit is a cached answer of fieldByPath: the plan of the struct
// that declares the field, and the field's plan.
type fieldPathHit struct {
	p *typePlan
	f *fieldPlan
}

// fieldByPath finds a tagged field by dotted path in v's type. Successful
// answers are kept in the plan of v's type, so that the plans stay the one
// type cache.
func fieldByPath(v any, path string) (*typePlan, *fieldPlan, error) {
	t, ok := v.(reflect.Type)
	if !ok && v != nil {
		t = reflect.TypeOf(v)
	}
	var cache *sync.Map
	if t != nil {
		cache = &planFor(t).paths
		if hit, ok := cache.Load(path); ok {
			h := hit.(fieldPathHit)
			return h.p, h.f, nil
		}
	}
	p, f, err := findFieldByPath(v, path)
	if err == nil && cache != nil {
		cache.Store(path, fieldPathHit{p, f})
	}
	return p, f, err
}

func findFieldByPath(v any, path string) (*typePlan, *fieldPlan, error) {
	t, ok := v.(reflect.Type)
	if !ok {
		if v == nil {
			return nil, nil, fmt.Errorf("%w: nil", ErrInvalidTarget)
		}
		t = reflect.TypeOf(v)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, nil, fmt.Errorf("%w: %s is not a struct", ErrInvalidTarget, t)
	}
	parts := strings.Split(path, ".")
	for i, name := range parts {
		p := planFor(t)
		if p.err != nil {
			return nil, nil, p.err
		}
		sf, ok := t.FieldByName(name)
		if !ok || len(sf.Index) != 1 {
			return nil, nil, fmt.Errorf("pii: %s has no field %s", typeName(t), name)
		}
		if i == len(parts)-1 {
			for _, f := range p.fields {
				if f.index == sf.Index[0] && f.act != nil {
					return p, f, nil
				}
			}
			return nil, nil, fmt.Errorf("pii: %s.%s has no pii tag", typeName(t), name)
		}
		t = sf.Type
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil, nil, fmt.Errorf("pii: %s.%s is not a struct field; a path goes through struct fields only", typeName(sf.Type), name)
		}
	}
	return nil, nil, fmt.Errorf("pii: empty field path")
}

// columnPlans caches the plan of each Column (a comparable value), and
// its error, as plans caches the plans of types: the stored operations
// (RewrapStored, RevealStored, IndexStored) are called once per stored
// value by tools such as tillid rewrap, and parsing the column's tag each
// time cost a tenth of a rewrap. A plan holds no keys and no values.
var columnPlans sync.Map // Column → columnPlan

type columnPlan struct {
	f   *fieldPlan
	err error
}

// plan returns a field plan equivalent to the column's tag, checked by the
// tag parser that checks struct tags, built once per Column.
func (c Column) plan() (*fieldPlan, error) {
	if cp, ok := columnPlans.Load(c); ok {
		return cp.(columnPlan).f, cp.(columnPlan).err
	}
	f, err := c.buildPlan()
	cp, _ := columnPlans.LoadOrStore(c, columnPlan{f, err})
	return cp.(columnPlan).f, cp.(columnPlan).err
}

// buildPlan is plan without the cache.
func (c Column) buildPlan() (*fieldPlan, error) {
	if c.Type == "" || c.Field == "" {
		return nil, fmt.Errorf("pii: Column needs a Type and a Field")
	}
	act := actionRow(c.Action)
	if act == nil {
		return nil, fmt.Errorf("pii: Column %s.%s has no valid Action", c.Type, c.Field)
	}
	ft, err := parseFieldTag(c.tag(act))
	if err != nil {
		return nil, fmt.Errorf("pii: Column %s.%s: %v", c.Type, c.Field, err)
	}
	ft.aadField = c.RecordField
	f := &fieldPlan{name: c.Field, tag: ft, act: act, recordIndex: -1, adPrefix: fieldADPrefix(c.Type, c.Field)}
	if act.prfLabel != "" {
		f.prfPrefix = prfPrefix(act.prfLabel, c.Type, c.Field, ft.normalize.label(), ft.part)
		f.part = ft.partFunc
	}
	return f, nil
}

// tag writes the column as the pii tag of its field, without aad= (whose
// field the Column does not need).
func (c Column) tag(act *action) string {
	opts := []string{act.name}
	switch schema, _ := tag.LookupAction(act.name); schema.Value {
	case tag.ValueFields:
		opts[0] += "=Source" // the source's name does not enter the index
	case tag.ValueDomain:
		opts[0] += "=" + c.Domain
	}
	if c.Key != "" && act.keyKind != keys.KindUnknown {
		opts = append(opts, "key="+c.Key)
	}
	if c.Migrate {
		opts = append(opts, "migrate")
	}
	if c.Normalize != "" {
		opts = append(opts, "normalize="+c.Normalize)
	}
	if c.Part != "" {
		opts = append(opts, "part="+c.Part)
	}
	if c.Bits != 0 {
		opts = append(opts, "bits="+strconv.Itoa(c.Bits))
	}
	return strings.Join(opts, ",")
}

// RewrapStored re-encrypts one value stored in a string column under the
// current primary key of the column's keyset, without returning the
// plaintext, and reports whether it changed (false when the value is already
// under the primary key). recordID is the value of the column's aad= field,
// as text ("" when the column has none). It is the building block of bulk
// rewrap jobs; most users should use [Protector.Rewrap] on structs instead.
//
// A tokenize= column's FF1 tokens move to the domain's primary key (the
// Protector needs the domain's FPE); its vault tokens are left as they are
// (Tokenizer.Rewrap moves their vault entries). Under Migrate, plaintext
// is protected (encrypted or tokenized). Index and pseudonym columns are
// computed from their plaintext: see [Protector.IndexStored].
//
// It returns [ErrNotProtected] for plaintext without Migrate,
// [ErrDecryption] for a value that does not authenticate for this column
// and record, the key errors of Reveal, [ErrInvalidTag] (naming the
// domain) for a tokenize= column whose domain has no tokenizer on the
// Protector (build it with [WithVault] or [WithFPE], as [Protector.Check]
// says), and an error saying so for a value
// sealed under a data subject's key ("tl1s:", "tl1r:"), which a Column
// does not reach (Migrate does not take it for plaintext). It is safe for
// concurrent use.
func (p *Protector) RewrapStored(ctx context.Context, col Column, recordID string, stored string) (string, bool, error) {
	out, changed, err := p.storedOp(ctx, col, recordID, stored, verbRewrap)
	return out, changed, err
}

// RevealStored returns the plaintext of one value stored in a string column,
// for code that reads columns without their Go struct (exports, checks after
// a rewrap). Most users should use [Protector.Reveal] on structs instead. It
// returns the errors of RewrapStored.
func (p *Protector) RevealStored(ctx context.Context, col Column, recordID string, stored string) (string, error) {
	out, _, err := p.storedOp(ctx, col, recordID, stored, verbReveal)
	return out, err
}

func (p *Protector) storedOp(ctx context.Context, col Column, recordID, stored string, m verb) (string, bool, error) {
	if p == nil || p.provider == nil {
		return "", false, fmt.Errorf("%w: nil Protector; use pii.New", ErrInvalidTarget)
	}
	if ctx == nil {
		return "", false, fmt.Errorf("%w: nil context; pass context.Background()", ErrInvalidTarget)
	}
	f, err := col.plan()
	if err != nil {
		return "", false, err
	}
	if col.RecordField != "" && recordID == "" {
		return "", false, fmt.Errorf("pii: %s.%s: %w", col.Type, col.Field, ErrMissingRecordID)
	}
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	switch {
	case f.tag.domain != "": // a token domain's tokenizer holds the keys
		return p.storedToken(ctx, col, f, recordID, stored, m)
	case f.act.prfLabel != "":
		return "", false, fmt.Errorf("pii: %s.%s is a %s column, computed from its plaintext: use IndexStored", col.Type, col.Field, f.act.name)
	}
	for _, m := range []envelope.Mode{envelope.ModeSubjectAEAD, envelope.ModeSubjectDeterministic} {
		if strings.HasPrefix(stored, envelope.Prefix(m)) {
			// Refused before the migrate path, which must not take it for
			// plaintext, and before decryption, which would call it tampered.
			return "", false, fmt.Errorf("pii: %s.%s: the value is sealed under its data subject's key (%s), which a Column does not reach; use Protector.Rewrap or Reveal on the struct", col.Type, col.Field, envelope.Prefix(m))
		}
	}
	if m == verbReveal && f.tag.migrate && !f.act.recognise(unsafeBytes(stored)) {
		return stored, false, nil // legacy plaintext, which migrate lets through
	}
	r := runPool.Get().(*run)
	defer r.release()
	r.p, r.ctx, r.verb, r.cur = p, ctx, m, f
	r.adBuf = appendAssociatedData(r.adBuf[:0], f.adPrefix, unsafeBytes(recordID), p.extraAD)
	r.ad = r.adBuf
	r.adOK = true
	out, changed, err := f.act.leafFor(m)(r, unsafeBytes(stored), true)
	if err != nil {
		return "", false, &FieldError{Path: col.Type + "." + col.Field, Err: err}
	}
	if !changed {
		return stored, false, nil
	}
	return string(out), true, nil
}
