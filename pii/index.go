package pii

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/tillid/tillid/internal/envelope"
	"github.com/tillid/tillid/keys"
)

// indexAction is a blind index: Protect and Rewrap store in the field (a
// string or []byte) a truncated HMAC-SHA256 of the normalised plaintext of
// its source fields, under a PRF keyset of its own; Reveal leaves it. See
// [Protector.LookupTerms] and [Protector.BlindIndexer]. Under Forget: a
// blind index is not under subject keys and still finds the row of an
// erased person; [Protector.Erase] clears it.
var indexAction = &action{
	name:     "index",
	id:       ActionBlindIndex,
	keyKind:  keys.KindPRF,
	mode:     envelope.ModeBlindIndex,
	prfLabel: blindIndexLabel,
	check:    checkIndex,
	field:    indexField,
	verify:   verifyPRF,
	keyIDOf:  envelopeKeyID(envelope.ModeBlindIndex),
	size:     envelopeSize(envelope.ModeBlindIndex),
	lookup:   lookupPRF,
	redacts:  true,
}

// indexSource is one source field of a blind index.
type indexSource struct {
	index int
	name  string
	kind  nodeKind // nodeString, nodeBytes, nodePtr (*string) or nodeNullString
	// plan is the source's field plan when it may already be protected.
	plan   *fieldPlan
	redact bool
}

func checkIndex(_ *planBuilder, owner *typePlan, t reflect.Type, f *fieldPlan) (*node, error) {
	ft := f.tag
	if !(t.Kind() == reflect.String || t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 && !t.Implements(jsonMarshaler)) {
		return nil, fmt.Errorf("index=%s: a blind index field must be a string or []byte, not %s", strings.Join(ft.sources, "+"), t)
	}
	for _, src := range ft.sources {
		is, err := indexSourceOf(owner, src, ft)
		if err != nil {
			return nil, err
		}
		f.sources = append(f.sources, is)
	}
	return &node{kind: nodeField, typ: t, work: true}, nil
}

// indexSourceOf checks the source field name of an index field in the
// struct planned by owner.
func indexSourceOf(owner *typePlan, name string, ft fieldTag) (indexSource, error) {
	t := owner.typ
	sf, ok := t.FieldByName(name)
	if !ok || len(sf.Index) != 1 || !sf.IsExported() {
		return indexSource{}, fmt.Errorf("index=%s: %s has no exported field %s (the source must be a field of the same struct)", strings.Join(ft.sources, "+"), typeName(t), name)
	}
	is := indexSource{index: sf.Index[0], name: name}
	if st := owner.tags[sf.Index[0]]; st != nil {
		if st.act == nil {
			return indexSource{}, fmt.Errorf("index source %s has an invalid tag", name)
		}
		switch st.act.source {
		case sourceRefused:
			return indexSource{}, fmt.Errorf("index source %s is tagged %s; index the original field instead", name, st.act.name)
		case sourceRedacted:
			is.redact = true
		}
	}
	ty := sf.Type
	switch {
	case ty == nullStringType:
		is.kind = nodeNullString
	case ty.Kind() == reflect.String:
		is.kind = nodeString
	case ty.Kind() == reflect.Slice && ty.Elem().Kind() == reflect.Uint8:
		is.kind = nodeBytes
	case ty.Kind() == reflect.Pointer && ty.Elem().Kind() == reflect.String:
		is.kind = nodePtr
	default:
		return indexSource{}, fmt.Errorf("index source %s is a %s; sources are strings, []byte, *string or sql.NullString", name, ty)
	}
	if !ft.lowCardinality && isLowCardinality(ty) {
		return indexSource{}, fmt.Errorf("index source %s (%s) has few possible values, so its index would reveal them by frequency; add the option lowcardinality to accept that", name, ty)
	}
	return is, nil
}

// indexField computes the blind index field v from its sources in
// r.parent, on Protect and Rewrap. A redacted source that is already empty
// keeps the stored index, which is then verified.
func indexField(r *run, v reflect.Value) error {
	if r.verb == verbReveal {
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
	values := make([]string, 0, len(f.sources))
	for _, src := range f.sources {
		s, ok, keep, err := r.sourceValue(src)
		if err != nil {
			return err
		}
		if keep {
			if len(current) == 0 {
				return nil
			}
			return f.act.verify(r, current, text)
		}
		if !ok {
			if !v.IsZero() {
				r.zero(v)
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
		r.setString(v, unsafeString(out))
	} else {
		r.setBytes(v, out)
	}
	return nil
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
	if src.plan == nil || !src.plan.act.recognise(unsafeBytes(s)) {
		return s, true, false, nil
	}
	// The source is already protected: open it under its own field.
	idx := r.cur
	r.cur, r.adOK = src.plan, false
	pt, _, err := r.openEnvelope(unsafeBytes(s), text)
	r.cur, r.adOK = idx, false
	if err != nil {
		return "", false, false, err
	}
	return unsafeString(pt), true, false, nil
}
