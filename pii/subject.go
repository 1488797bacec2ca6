package pii

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/tillid/tillid/internal/envelope"
	"github.com/tillid/tillid/internal/tag"
	"github.com/tillid/tillid/internal/walkskip"
	"github.com/tillid/tillid/keys"
)

// subjectAction, written "subject", marks the field that holds the ID of
// the data subject a record is about (a string, an integer or an
// encoding.TextMarshaler). The field itself is not transformed and
// Redacted shows it, as "-". In its struct, encrypt and deterministic
// fields are sealed under that subject's keys (see [WithSubjectKeys]); a
// struct with several subject fields names one per field with subject=.
// A struct nested in it (by value, pointer, slice, array or map) is not
// under that subject: only a subject field of its own puts its fields
// under subject keys, and an encrypt or deterministic field there with
// purpose= (or its struct's default purpose, or one inherited from an
// enclosing struct's default) is refused at plan time with
// [ErrInvalidTag], since Forget and Withdraw would not reach it. A purpose=
// on the subject field itself is refused too.
// Under Forget the ID stays: it is how a deleted row is found.
//
// It has no check, so the plan leaves the field out of the walk;
// bindSubjects checks its type.
var subjectAction = &action{
	name:   tag.SubjectAction,
	source: sourcePlain,
	// The subject ID identifies a person: logs show it as [redacted], and
	// views only to the roles its view= names.
	redacts: true,
}

// isSubjectTag reports whether raw is the tag of a subject field.
func isSubjectTag(raw string) bool {
	t, err := tag.Parse(raw)
	return err == nil && t.Action.Name == tag.SubjectAction
}

// subjectBinding ties a field to the subject field of its struct.
type subjectBinding struct {
	// index is the subject field's index in the struct.
	index int
	// purpose is the purpose whose subject key seals the field: its one
	// purpose= name, or "" (the subject's base key) for a field with none
	// or several (withdrawing one of several purposes leaves the others,
	// so only Forget erases such a field).
	purpose string
}

// subjectNeed is one subject key a struct's fields need: the subject
// field, the purpose and the kind of keyset.
type subjectNeed struct {
	index   int
	purpose string
	kind    keys.Kind
}

// subjectKeyed reports whether the field is sealed under a subject key.
func (f *fieldPlan) subjectKeyed() bool { return f.subject != nil && f.act.subjectMode != 0 }

// envMode is the envelope mode of the field's stored values.
func (f *fieldPlan) envMode() envelope.Mode {
	if f.subjectKeyed() {
		return f.act.subjectMode
	}
	return f.act.mode
}

// bindSubjects points every encrypt and deterministic field of p, and
// every tokenize field, at its subject field: the one named by subject=,
// else the struct's only subject field. A struct with several subject
// fields must name one per sealed field. It lists the subject keys the
// struct needs in p.needs: the sealed fields' keys, and the base key of
// the subject of a tokenize field (so that Protect refuses a forgotten
// subject and Reveal tells its deleted tokens from tampered ones). A
// struct with several subject fields and no subject= at all is refused:
// its subject tags would bind nothing.
func (p *typePlan) bindSubjects() error {
	var subjects []int
	for i, ft := range p.tags {
		if ft != nil && ft.act == subjectAction {
			if f := p.typ.Field(i); !isIDType(f.Type) {
				return &FieldError{Type: p.typ, Path: typeName(p.typ) + "." + f.Name, Err: fmt.Errorf("%w: subject is for a string, an integer or an encoding.TextMarshaler field, not %s", ErrInvalidTag, f.Type)}
			}
			subjects = append(subjects, i)
		}
	}
	if len(subjects) > 1 && !p.namesSubject() {
		f := p.typ.Field(subjects[1])
		return &FieldError{Type: p.typ, Path: typeName(p.typ) + "." + f.Name, Err: fmt.Errorf("%w: %s has %d subject fields and no field says whose data it holds; name the subject of each encrypt, deterministic or tokenize field with subject=<Field>, or keep one subject field", ErrInvalidTag, typeName(p.typ), len(subjects))}
	}
	for _, f := range p.fields {
		if f.act == nil || (f.act.subjectMode == 0 && f.act != tokenizeAction) {
			continue
		}
		fail := func(format string, args ...any) error {
			return &FieldError{Type: p.typ, Path: typeName(p.typ) + "." + f.name, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidTag}, args...)...)}
		}
		index := -1
		switch name := f.tag.subjectField; {
		case name != "":
			sf, ok := p.typ.FieldByName(name)
			if !ok || len(sf.Index) != 1 || p.tags[sf.Index[0]] == nil || p.tags[sf.Index[0]].act != subjectAction {
				return fail("subject=%s: %s has no field %s tagged `pii:\"subject\"`", name, typeName(p.typ), name)
			}
			index = sf.Index[0]
		case len(subjects) == 1:
			index = subjects[0]
		case len(subjects) > 1:
			return fail("%s has %d subject fields; say whose data this is with subject=<Field>", typeName(p.typ), len(subjects))
		}
		if index < 0 {
			continue
		}
		b := &subjectBinding{index: index}
		need := subjectNeed{index: index, kind: keys.KindAEAD}
		if f.act != tokenizeAction {
			if purposes := f.tag.proc.Purposes; len(purposes) == 1 {
				b.purpose = purposes[0]
				if keys.CheckKeyName(b.purpose) != nil {
					return fail("purpose=%s: a purpose that selects a subject key has at most 64 characters", b.purpose)
				}
			}
			need = subjectNeed{index: index, purpose: b.purpose, kind: f.act.keyKind}
		}
		if f.act.subjectMode != 0 {
			legacy := *f
			f.legacy = &legacy
		}
		f.subject = b
		if !slices.Contains(p.needs, need) {
			p.needs = append(p.needs, need)
		}
	}
	return nil
}

// namesSubject reports whether a field of p has a subject= option.
func (p *typePlan) namesSubject() bool {
	for _, f := range p.fields {
		if f.tag.subjectField != "" {
			return true
		}
	}
	return false
}

// isLegacy reports whether in, a stored value of a field under subject
// keys, is in the action's mode without a subject key ("tl1e:" or
// "tl1d:"): stored before the struct had a subject field.
func (r *run) isLegacy(in []byte) bool {
	f := r.cur
	return f.legacy != nil && envelope.HasPrefix(in) && envelope.Mode(in[3]) == f.act.mode
}

// openLegacy opens such a value under the field's own keyset, as it was
// sealed, and reports it stale, so that Protect and Rewrap seal it again
// under the subject's key. Reveal reads it as erased while the field's
// subject key is erased (Forget or Withdraw, until Allow): it is under no
// subject key, so the erasure did not destroy it, but it is the erased
// person's data.
func (r *run) openLegacy(in []byte, text bool) ([]byte, bool, error) {
	if r.verb == verbReveal {
		if _, err := r.subjectKeyset(); errors.Is(err, keys.ErrErased) {
			return nil, false, err
		}
	}
	saved := r.cur
	r.cur, r.adOK = saved.legacy, false
	pt, _, err := r.openEnvelope(in, text)
	r.cur, r.adOK = saved, false
	return pt, true, err
}

// subjectRun is a run's state of subject keys and of what Reveal left
// out.
type subjectRun struct {
	// ids are the subject keys of the run in the order collected, and
	// vals what they resolved to; index finds an ID in a run of more than
	// smallSubjectRun of them (a linear search is faster below).
	ids   []keys.SubjectKeyID
	vals  []subjectKey
	index map[keys.SubjectKeyID]int
	// erased and withheld are the paths of the fields Reveal set to zero
	// because their keys were erased, and left protected because their
	// purposes are outside the scope of WithPurpose.
	erased, withheld []string
	// expired are the paths of the vault-token fields Reveal set to zero
	// because their retention rule ran out (retention_token.go).
	expired []string
	// scope holds WithPurpose's purposes; nil without it.
	scope []string
}

// subjectKey is a resolved subject key, or why there is none.
type subjectKey struct {
	ks  *keys.Keyset
	err error
}

// smallSubjectRun is the most subject keys a run finds by linear search.
const smallSubjectRun = 8

// find returns the position of id in the run, or -1.
func (s *subjectRun) find(id keys.SubjectKeyID) int {
	if s.index != nil {
		if i, ok := s.index[id]; ok {
			return i
		}
		return -1
	}
	for i := range s.ids {
		if s.ids[i] == id {
			return i
		}
	}
	return -1
}

// add appends id, not yet resolved, and returns its position.
func (s *subjectRun) add(id keys.SubjectKeyID) int {
	i := len(s.ids)
	s.ids = append(s.ids, id)
	s.vals = append(s.vals, subjectKey{})
	switch {
	case s.index != nil:
		s.index[id] = i
	case len(s.ids) > smallSubjectRun:
		s.index = make(map[keys.SubjectKeyID]int, 2*len(s.ids))
		for j, x := range s.ids {
			s.index[x] = j
		}
	}
	return i
}

func (s *subjectRun) reset() {
	s.index = nil
	if len(s.ids) > 0 {
		clear(s.ids)
		clear(s.vals)
		s.ids, s.vals = s.ids[:0], s.vals[:0]
	}
	if len(s.erased) > 0 || len(s.withheld) > 0 || len(s.expired) > 0 {
		clear(s.erased)
		clear(s.withheld)
		clear(s.expired)
		s.erased, s.withheld, s.expired = s.erased[:0], s.withheld[:0], s.expired[:0]
	}
	s.scope = nil
}

// report appends what Reveal left out to rep, when rep is not nil.
func (s *subjectRun) report(rep *Report) {
	if rep != nil {
		rep.Erased = append(rep.Erased, s.erased...)
		rep.Withheld = append(rep.Withheld, s.withheld...)
		rep.Expired = append(rep.Expired, s.expired...)
	}
}

// errErasedLeaf is what a reveal leaf returns for a value under an erased
// subject key; the walk turns it into the value's zero (erasedLeaf).
var errErasedLeaf = errors.New("pii: value under an erased subject key")

// resolveSubjects collects the subject keys that the value e of node n
// needs and resolves them in one batch: Protect creates the missing ones
// (keys.SubjectKeys.Keys: one store batch for every new subject), Reveal
// and Rewrap only look them up. Keys reached only through interface fields
// are fetched when the walk meets them.
func (r *run) resolveSubjects(e reflect.Value, n *node) error {
	r.collect(e, n, 0, nil)
	if len(r.subjects.ids) == 0 {
		return nil
	}
	return r.fetchSubjectKeys(0)
}

// collect adds to the run the subject keys of every struct reachable from
// v through its static types.
func (r *run) collect(v reflect.Value, n *node, depth int, seen map[uintptr]bool) {
	if depth > maxDepth {
		return // the walk reports it
	}
	switch n.kind {
	case nodeStruct:
		p := n.plan
		if !p.subjects {
			return
		}
		if p.indirect && v.CanAddr() {
			if seen == nil {
				seen = map[uintptr]bool{}
			}
			if seen[v.Addr().Pointer()] {
				return
			}
			seen[v.Addr().Pointer()] = true
		}
		// Only fields that hold a value need a key: an absent one (a nil
		// pointer, slice or map, an invalid sql.NullString, a null Value)
		// is left as it is, so a record whose fields of a withdrawn
		// purpose are absent is saved again ("empty is not absent": an
		// empty string or non-nil empty slice holds a value). Fields the
		// context says to skip (internal/walkskip: an ORM's associations)
		// are left out here as the walk leaves them out, so no key is
		// fetched for them.
		var skip []bool
		if r.skip != nil {
			skip = walkskip.Of(r.skip, p.typ)
		}
		for _, f := range p.fields {
			if skip != nil && skip[f.index] {
				continue
			}
			if f.act == nil {
				r.collect(v.Field(f.index), f.node, depth+1, seen)
				continue
			}
			if f.subject == nil || !holdsValue(v.Field(f.index), f.node) {
				continue
			}
			subject, ok := subjectIDOf(v.Field(f.subject.index))
			if !ok {
				continue // the walk reports an empty subject where it seals
			}
			kind := keys.KindAEAD
			if f.act != tokenizeAction {
				kind = f.act.keyKind
			}
			id := keys.SubjectKeyID{Subject: subject, Purpose: f.subject.purpose, Kind: kind}
			if r.subjects.find(id) < 0 {
				r.subjects.add(id)
			}
		}
	case nodePtr:
		if !v.IsNil() {
			r.collect(v.Elem(), n.elem, depth+1, seen)
		}
	case nodeSlice, nodeArray:
		for i := range v.Len() {
			r.collect(v.Index(i), n.elem, depth+1, seen)
		}
	case nodeMap:
		it := v.MapRange()
		for it.Next() {
			r.collect(it.Value(), n.elem, depth+1, seen)
		}
	}
}

// nodeSubjects reports whether a struct that needs subject keys can be
// reached through n (interface fields aside).
func nodeSubjects(n *node) bool {
	for ; n != nil; n = n.elem {
		if n.kind == nodeStruct {
			return n.plan.subjects
		}
	}
	return false
}

// fetchSubjectKeys resolves the run's keys from position from on, in one
// call: for Protect through Keys, which creates what is missing and fails
// with ErrErased for an erased subject; otherwise through Lookup, keeping
// each key's error (and for Rewrap, creating the keys never made).
func (r *run) fetchSubjectKeys(from int) error {
	sk := r.p.subjectKeys
	if sk == nil {
		return fmt.Errorf("%w: the value has a subject field but the Protector has no subject keys; build it with pii.WithSubjectKeys", ErrKeyProvider)
	}
	ids, vals := r.subjects.ids[from:], r.subjects.vals[from:]
	if r.verb == verbProtect {
		return r.protectKeys(ids, vals)
	}
	kss, errs, err := sk.Lookup(r.ctx, ids)
	if err != nil {
		return subjectKeyErr(r.ctx, err)
	}
	var missing []int
	for i := range vals {
		vals[i] = subjectKey{ks: kss[i], err: errs[i]}
		if r.verb == verbRewrap && errors.Is(errs[i], keys.ErrKeyNotFound) {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	// Rewrap moves values stored before the struct had a subject field
	// under subject keys, which it makes (never for an erased subject).
	create := make([]keys.SubjectKeyID, len(missing))
	for j, i := range missing {
		create[j] = ids[i]
	}
	made, err := sk.Keys(r.ctx, create)
	if err != nil {
		return subjectKeyErr(r.ctx, err)
	}
	for j, i := range missing {
		vals[i] = subjectKey{ks: made[j]}
	}
	return nil
}

// subjectKeyErr maps the errors of keys.SubjectKeys onto pii's sentinels,
// keeping both. They carry no subject ID.
func subjectKeyErr(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, keys.ErrErased):
		return fmt.Errorf("%w: a data subject of this value was erased (Forget or Withdraw); Protector.Allow lets new data of that subject be protected again", err)
	case errors.Is(err, keys.ErrInvalidSubject):
		return fmt.Errorf("%w: %w", ErrMissingSubject, err)
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return err
	}
	return fmt.Errorf("%w: subject keys: %w", ErrKeyProvider, err)
}

// subjectIDOf returns the subject ID held by the subject field v, and
// false when it is empty (its zero value) or cannot be encoded.
func subjectIDOf(v reflect.Value) (string, bool) {
	if v.Kind() == reflect.String {
		return v.String(), v.Len() > 0
	}
	b, ok, err := recordID(v)
	if err != nil || !ok {
		return "", false
	}
	return string(b), true
}

// subjectID returns the subject ID of the current field.
func (r *run) subjectID() (string, error) {
	if !r.parent.IsValid() { // a call on a field alone (LookupTerms): no record, no subject
		return "", fmt.Errorf("%w: %s is sealed under its subject's key, so its stored form differs per subject and cannot be computed without the record; add an index field", ErrInvalidTarget, r.cur.name)
	}
	subject, ok := subjectIDOf(r.parent.Field(r.cur.subject.index))
	if !ok {
		return "", fmt.Errorf("%w: field %s must be set before a value can be sealed under its subject's key", ErrMissingSubject, r.parent.Type().Field(r.cur.subject.index).Name)
	}
	return subject, nil
}

// subjectKeyset returns the subject keyset of the current field, fetching
// it alone when the run's batch did not hold it (a struct reached through
// an interface field).
func (r *run) subjectKeyset() (*keys.Keyset, error) {
	subject, err := r.subjectID()
	if err != nil {
		return nil, err
	}
	f := r.cur
	id := keys.SubjectKeyID{Subject: subject, Purpose: f.subject.purpose, Kind: f.act.keyKind}
	i := r.subjects.find(id)
	if i < 0 {
		i = r.subjects.add(id)
		if err := r.fetchSubjectKeys(i); err != nil {
			return nil, err
		}
	}
	k := r.subjects.vals[i]
	if k.err != nil {
		return nil, k.err
	}
	return k.ks, nil
}

// renewSubjectKey makes, for Rewrap of a value stored before the struct
// had a subject field, the current field's subject key when the run has
// it as erased: an erasure that Allow lifted leaves the subject's old keys
// destroyed and no new one, and such a value was under no subject key, so
// Forget never reached it. The key is made as Protect makes it after
// Allow (keys.SubjectKeys.KeysEach); a subject erased and not allowed
// again keeps its error (ErrErased), and no key is made for it.
func (r *run) renewSubjectKey() error {
	subject, err := r.subjectID()
	if err != nil {
		return err
	}
	f := r.cur
	id := keys.SubjectKeyID{Subject: subject, Purpose: f.subject.purpose, Kind: f.act.keyKind}
	i := r.subjects.find(id)
	if i < 0 { // a struct reached through an interface field
		i = r.subjects.add(id)
		if err := r.fetchSubjectKeys(i); err != nil {
			return err
		}
	}
	if k := r.subjects.vals[i]; k.err == nil || !errors.Is(k.err, keys.ErrErased) {
		return nil
	}
	kss, errs, err := r.p.subjectKeys.KeysEach(r.ctx, []keys.SubjectKeyID{id})
	if err != nil {
		return subjectKeyErr(r.ctx, err)
	}
	k := subjectKey{ks: kss[0]}
	if errs[0] != nil {
		k.err = subjectKeyErr(r.ctx, errs[0])
	}
	r.subjects.vals[i] = k
	return nil
}

// subjectErased reports whether the current field's subject was forgotten
// (its base key erased), for tokenize fields, whose vault tokens Forget
// deletes.
func (r *run) subjectErased() bool {
	k, ok := r.subjectBaseKey()
	return ok && errors.Is(k.err, keys.ErrErased)
}

// subjectShredded reports whether the current field's subject was
// forgotten and allowed again since: its new base key's keyset takes a key
// ID it does not hold for a destroyed one (CheckKeyID of 0, which no
// subject key has, says so).
func (r *run) subjectShredded() bool {
	k, ok := r.subjectBaseKey()
	return ok && k.ks != nil && errors.Is(k.ks.CheckKeyID(0), keys.ErrErased)
}

// subjectBaseKey returns the run's base key of the current field's
// subject, and false when the run has none (no record, an empty subject).
func (r *run) subjectBaseKey() (subjectKey, bool) {
	if !r.parent.IsValid() {
		return subjectKey{}, false
	}
	subject, ok := subjectIDOf(r.parent.Field(r.cur.subject.index))
	if !ok {
		return subjectKey{}, false
	}
	i := r.subjects.find(keys.SubjectKeyID{Subject: subject, Kind: keys.KindAEAD})
	if i < 0 {
		return subjectKey{}, false
	}
	return r.subjects.vals[i], true
}

// erasedLeaf sets the leaf v, whose key was erased, to its zero value (a
// string to the Protector's WithErasedValue), and records its path.
func (r *run) erasedLeaf(v reflect.Value) error {
	r.subjects.erased = append(r.subjects.erased, r.pathString())
	if r.p.erasedText != "" && v.Kind() == reflect.String {
		r.setString(v, r.p.erasedText)
		return nil
	}
	if !v.IsZero() {
		r.zero(v)
	}
	return nil
}

// skipField reports whether the walk leaves the tagged field fv of plan f
// alone: Erase clears the fields that are not under subject keys instead
// of walking them, and a Reveal scoped by WithPurpose withholds the fields
// of other purposes.
func (r *run) skipField(fv reflect.Value, f *fieldPlan) bool {
	if r.verb == verbErase {
		if !f.subjectKeyed() && f.act != subjectAction && !fv.IsZero() {
			r.zero(fv)
		}
		return true
	}
	purposes := f.tag.proc.Purposes
	if len(purposes) == 0 {
		purposes = r.inheritedPurposes()
	}
	if len(purposes) == 0 {
		return false // a base field
	}
	for _, p := range purposes {
		if slices.Contains(r.subjects.scope, p) {
			return false
		}
	}
	if !fv.IsZero() {
		r.subjects.withheld = append(r.subjects.withheld, r.pathString())
	}
	return true
}

// inheritedPurposes returns the default purposes of the nearest struct
// enclosing the current field's struct that has some: what a field with no
// purpose of its own (nor of its struct's default) is processed for, as
// Inventory lists it. Sealed fields never get here with them (the plan
// refuses such a field under subject keys), but a tokenize field or one of
// a record without subject keys does, and WithPurpose withholds it.
func (r *run) inheritedPurposes() []string {
	for i := len(r.path) - 2; i >= 0; i-- {
		if p := r.path[i].plan; p != nil && len(p.defaults.Purposes) > 0 {
			return p.defaults.Purposes
		}
	}
	return nil
}

// protectKeys resolves the keys of Protect through KeysEach, which creates
// what is missing. A key erased by Forget or Withdraw does not fail the
// run here: it is kept as that key's error, which the field sealed under
// it returns, so the error is a *FieldError naming that field; the other
// keys are resolved.
func (r *run) protectKeys(ids []keys.SubjectKeyID, vals []subjectKey) error {
	kss, errs, err := r.p.subjectKeys.KeysEach(r.ctx, ids)
	if err != nil {
		return subjectKeyErr(r.ctx, err)
	}
	for i := range kss {
		vals[i] = subjectKey{ks: kss[i]}
		if errs[i] != nil {
			vals[i].err = subjectKeyErr(r.ctx, errs[i])
		}
	}
	return nil
}

// subjectBaseErr returns the error of the current field's subject base
// key in the run, nil when it resolved: a tokenize field of a forgotten
// subject is refused by Protect with it.
func (r *run) subjectBaseErr() error {
	subject, err := r.subjectID()
	if err != nil {
		return err
	}
	i := r.subjects.find(keys.SubjectKeyID{Subject: subject, Kind: keys.KindAEAD})
	if i < 0 {
		return nil
	}
	return r.subjects.vals[i].err
}

// holdsValue reports whether the tagged field v, walked by n, holds a
// value to seal: false for nil pointers, slices and maps, empty maps and
// slices of non-byte elements, invalid sql.NullStrings and null Values.
func holdsValue(v reflect.Value, n *node) bool {
	switch n.kind {
	case nodePtr:
		return !v.IsNil() && holdsValue(v.Elem(), n.elem)
	case nodeSlice, nodeArray, nodeMap:
		if n.kind != nodeArray && v.IsNil() {
			return false
		}
		if n.elem == nil {
			return true
		}
		if n.kind == nodeMap {
			it := v.MapRange()
			for it.Next() {
				if holdsValue(it.Value(), n.elem) {
					return true
				}
			}
			return false
		}
		for i := range v.Len() {
			if holdsValue(v.Index(i), n.elem) {
				return true
			}
		}
		return false
	case nodeBytes:
		return !v.IsNil()
	case nodeNullString:
		return v.Field(1).Bool()
	case nodeValue:
		if !v.CanAddr() {
			c := reflect.New(v.Type()).Elem()
			c.Set(v)
			v = c
		}
		s, ok := v.Addr().Interface().(sealer)
		if !ok {
			return true
		}
		state, _ := s.piiState()
		return state != valueNull
	}
	return true
}
