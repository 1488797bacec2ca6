package pii

import (
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/tillid/tillid/internal/tag"
)

// Then says what happens to data whose retention period has run out. The
// zero Then, ThenUnknown, is invalid.
type Then uint8

const (
	// ThenUnknown is the invalid zero Then.
	ThenUnknown Then = iota
	// ThenRedact clears the field (then=redact, the default of a field).
	ThenRedact
	// ThenShred withdraws the record's subject from the field's purpose
	// by destroying that key (then=shred, crypto-shredding): the stored
	// ciphertext stays and reads as erased.
	ThenShred
	// ThenDelete deletes the whole record (then=delete on the struct's
	// blank field: the record rule).
	ThenDelete
)

// String returns the name of t as tags write it ("redact", "shred",
// "delete"), or "unknown".
func (t Then) String() string {
	switch t {
	case ThenRedact:
		return "redact"
	case ThenShred:
		return "shred"
	case ThenDelete:
		return "delete"
	}
	return "unknown"
}

func parseThen(s string) Then {
	switch s {
	case "", "redact":
		return ThenRedact
	case "shred":
		return ThenShred
	case "delete":
		return ThenDelete
	}
	return ThenUnknown
}

// RetentionRule is one retention rule of a struct type: a field's
// retain= (with from= and then=), or the record rule of the struct's blank
// field.
type RetentionRule struct {
	// Path is the rule's field path, such as "Customer.Notes"; for the
	// record rule, the type's name ("Customer").
	Path string
	// Field is the Go field name the rule clears or shreds; "" for the
	// record rule.
	Field string
	// Retain is the period as written ("2y") and RetainFor its length (a
	// year is 365 days).
	Retain    string
	RetainFor time.Duration
	// From is the anchor: the name of a plain time.Time, *time.Time or
	// sql.NullTime field of the same struct.
	From string
	// Then is what happens at the end of the period.
	Then Then
	// Purpose is the purpose a ThenShred rule withdraws (the field's one
	// purpose=); "" otherwise.
	Purpose string
	// Domain is the token domain of a tokenize= field ("" for others):
	// its vault tokens expire when the rule runs out.
	Domain string
	// Nullable reports whether the field's Go type holds a nil (a pointer,
	// slice, map or interface), so that a cleared column can be NULL; else
	// it is cleared to its type's zero value.
	Nullable bool
	// Kind is the field's kind (reflect.Invalid for the record rule).
	Kind reflect.Kind
	// Sealed reports whether Reveal refuses plaintext in the field (encrypt,
	// deterministic, tokenize=, pseudonym): Protect protects "" too, so a
	// cleared value must be NULL (a nil or a NULL-able type), not "".
	Sealed bool
}

// RetentionPolicy is every retention rule of a struct type, with its legal
// hold and subject fields.
type RetentionPolicy struct {
	// Type is the struct type's name, as error paths write it.
	Type string
	// Rules are the field rules in field order, then the record rule.
	Rules []RetentionRule
	// Hold is the name of the `pii:"hold"` field, or ""; HoldTime reports
	// whether it is a *time.Time or sql.NullTime (else a bool, *bool or
	// sql.NullBool, whose nil or invalid value holds).
	Hold     string
	HoldTime bool
	// Subject is the name of the `pii:"subject"` field, or "".
	Subject string
	// Tokens are the tokenize= fields of the struct, with or without
	// retain=: a record rule that deletes a row deletes their vault
	// tokens too.
	Tokens []TokenField
}

// TokenField is a tokenize= field of a struct: its Go name and token
// domain.
type TokenField struct {
	Field, Domain string
}

// retentionPlan is a struct plan's retention: its policy and where its
// fields are.
type retentionPlan struct {
	policy RetentionPolicy
	// fieldIndex[i] and fromIndex[i] are the struct field indexes of rule
	// i's field (-1 for the record rule) and anchor.
	fieldIndex, fromIndex []int
	holdIndex             int
}

// recordDefaults returns what a struct-level default lends its fields: all
// of it, except the period, anchor and then= of a record rule (then=delete),
// which is the row's and not theirs.
func recordDefaults(d tag.Processing) tag.Processing {
	if d.Then == "delete" {
		d.Retain, d.RetainFor, d.From, d.Then = "", 0, "", ""
	}
	return d
}

// bindRetention checks the retention options of p's fields and its record
// rule, and its hold field, and builds p.retention. Every error names the
// field and the fix.
func (p *typePlan) bindRetention() error {
	rp := &retentionPlan{holdIndex: -1, policy: RetentionPolicy{Type: typeName(p.typ)}}
	fail := func(field string, format string, args ...any) error {
		return &FieldError{Type: p.typ, Path: typeName(p.typ) + "." + field, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidTag}, args...)...)}
	}
	subject := -1
	for i, ft := range p.tags {
		if ft == nil {
			continue
		}
		f := p.typ.Field(i)
		switch ft.act {
		case subjectAction:
			subject = i
		case holdAction:
			ok, isTime := holdTypeOK(f.Type)
			if !ok {
				return fail(f.Name, "hold is for a bool, *bool, sql.NullBool, *time.Time or sql.NullTime field, not %s", f.Type)
			}
			if rp.holdIndex >= 0 {
				return fail(f.Name, "%s has two hold fields; keep one", typeName(p.typ))
			}
			rp.holdIndex, rp.policy.Hold, rp.policy.HoldTime = i, f.Name, isTime
		}
	}
	if subject >= 0 {
		rp.policy.Subject = p.typ.Field(subject).Name
	}
	// anchor checks the from= field of a rule on field name.
	anchor := func(name string, proc tag.Processing) (int, error) {
		if proc.From == "" {
			return 0, fail(name, "retain=%s needs from=<Field>, the time field it is counted from", proc.Retain)
		}
		sf, _ := p.typ.FieldByName(proc.From) // its type was checked by bindProcessing
		if ft := p.tags[sf.Index[0]]; ft != nil && ft.act != skipAction {
			return 0, fail(name, "from=%s: the anchor is tagged %q; a database compares it, so leave it untagged or tag it `pii:\"-\"`", proc.From, ft.act.name)
		}
		return sf.Index[0], nil
	}
	for i, ft := range p.tags {
		if ft == nil || ft.act == nil || slices.Contains([]*action{skipAction, subjectAction, holdAction}, ft.act) {
			continue
		}
		f := p.typ.Field(i)
		if ft.domain != "" {
			rp.policy.Tokens = append(rp.policy.Tokens, TokenField{Field: f.Name, Domain: ft.domain})
		}
		proc := ft.proc.Merge(recordDefaults(p.defaults))
		if proc.Retain == "" {
			if proc.Then != "" {
				return fail(f.Name, "then=%s needs retain=<period>, such as retain=2y", proc.Then)
			}
			continue
		}
		r := RetentionRule{Path: typeName(p.typ) + "." + f.Name, Field: f.Name, Retain: proc.Retain, RetainFor: proc.RetainFor,
			From: proc.From, Then: parseThen(proc.Then), Domain: ft.domain, Kind: f.Type.Kind(), Sealed: ft.act.reveal != nil}
		switch f.Type.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			r.Nullable = true
		}
		switch r.Then {
		case ThenDelete:
			return fail(f.Name, "then=delete removes the whole record: put it on the struct's blank field, as in _ struct{} `pii:\"retain=%s,from=%s,then=delete\"`", proc.Retain, proc.From)
		case ThenShred:
			if len(proc.Purposes) != 1 {
				return fail(f.Name, "then=shred withdraws one purpose: give the field exactly one purpose=<name>")
			}
			if subject < 0 {
				return fail(f.Name, "then=shred withdraws the record's subject: tag its ID field `pii:\"subject\"`")
			}
			if ft.act.subjectMode == 0 {
				// Shredding would destroy a key the value is not under
				// and leave it as it is.
				return fail(f.Name, "then=shred destroys the subject's key for purpose=%s, and a %s value is not sealed under it, so it would stay: use then=redact", proc.Purposes[0], ft.act.name)
			}
			r.Purpose = proc.Purposes[0]
		}
		from, err := anchor(f.Name, proc)
		if err != nil {
			return err
		}
		rp.policy.Rules = append(rp.policy.Rules, r)
		rp.fieldIndex, rp.fromIndex = append(rp.fieldIndex, i), append(rp.fromIndex, from)
	}
	rp.bindIndexRules(p)
	switch d := p.defaults; {
	case d.Then == "delete":
		if d.Retain == "" {
			return fail("_", "then=delete needs retain=<period> and from=<Field>, as in `pii:\"retain=7y,from=Closed,then=delete\"`")
		}
		from, err := anchor("_", d)
		if err != nil {
			return err
		}
		rp.policy.Rules = append(rp.policy.Rules, RetentionRule{Path: typeName(p.typ), Retain: d.Retain, RetainFor: d.RetainFor, From: d.From, Then: ThenDelete})
		rp.fieldIndex, rp.fromIndex = append(rp.fieldIndex, -1), append(rp.fromIndex, from)
	case d.Then != "" && d.Retain == "":
		return fail("_", "then=%s needs retain=<period>, such as retain=2y", d.Then)
	}
	if len(rp.policy.Rules) > 0 || rp.holdIndex >= 0 {
		p.retention = rp
	}
	return nil
}

// bindIndexRules gives a blind index (index=) without a rule of its own
// the rule of its sources, as a redact rule: the index is derived from
// them and would otherwise keep their equality searchable after a sweep
// cleared or shredded them. It does so when every source has a redact or
// shred rule, all with the same anchor and period; an index whose sources
// expire differently keeps no rule (give it its own retain=).
func (rp *retentionPlan) bindIndexRules(p *typePlan) {
	n := len(rp.policy.Rules)
	for i, ft := range p.tags {
		if ft == nil || ft.act != indexAction || len(ft.sources) == 0 || slices.Contains(rp.fieldIndex[:n], i) {
			continue
		}
		var from *RetentionRule
		fromIndex := -1
		for _, src := range ft.sources {
			j := slices.IndexFunc(rp.policy.Rules[:n], func(r RetentionRule) bool { return r.Field == src })
			if j < 0 {
				from = nil
				break
			}
			r := rp.policy.Rules[j]
			if from != nil && (r.From != from.From || r.RetainFor != from.RetainFor) {
				from = nil
				break
			}
			from, fromIndex = &rp.policy.Rules[j], rp.fromIndex[j]
		}
		if from == nil {
			continue
		}
		f := p.typ.Field(i)
		r := RetentionRule{Path: typeName(p.typ) + "." + f.Name, Field: f.Name, Retain: from.Retain, RetainFor: from.RetainFor,
			From: from.From, Then: ThenRedact, Kind: f.Type.Kind(), Nullable: f.Type.Kind() == reflect.Slice}
		rp.policy.Rules = append(rp.policy.Rules, r)
		rp.fieldIndex, rp.fromIndex = append(rp.fieldIndex, i), append(rp.fromIndex, fromIndex)
	}
}

// RetentionOf returns the retention rules of v's struct type (v may be a
// struct, a pointer to one or a reflect.Type): those of its own fields, in
// field order, and its record rule; nested structs' rules are theirs, not
// the row's. It returns [ErrInvalidTarget] for a non-struct and the type's
// [ErrInvalidTag] error for a bad tag, such as a bad period, a missing,
// protected or non-time from= field, or a then=shred without a subject
// field or a purpose.
func RetentionOf(v any) (RetentionPolicy, error) {
	p, err := structPlanOf(v)
	if err != nil {
		return RetentionPolicy{}, err
	}
	if p.retention == nil {
		return RetentionPolicy{Type: typeName(p.typ)}, nil
	}
	pol := p.retention.policy
	pol.Rules = slices.Clone(pol.Rules)
	pol.Tokens = slices.Clone(pol.Tokens)
	return pol, nil
}

// structPlanOf returns the valid plan of v's struct type.
func structPlanOf(v any) (*typePlan, error) {
	if err := Validate(v); err != nil {
		return nil, err
	}
	t, ok := v.(reflect.Type)
	if !ok {
		t = reflect.TypeOf(v)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return planFor(t), nil
}

// ExpiryState says where a rule of a record stands. The zero value,
// ExpiryUnknown, is never reported.
type ExpiryState uint8

const (
	// ExpiryUnknown is the invalid zero ExpiryState.
	ExpiryUnknown ExpiryState = iota
	// ExpiryDue: the period has run out; the rule's Then is due.
	ExpiryDue
	// ExpiryHeld: the period has run out, but the record is on legal hold
	// (a nil *bool or invalid sql.NullBool hold counts as held).
	ExpiryHeld
	// ExpiryNoAnchor: the anchor is NULL (a nil *time.Time, an invalid
	// sql.NullTime, or a zero time.Time), so the rule cannot expire; it is
	// reported so that it is never taken as "not expired" in silence.
	ExpiryNoAnchor
	// ExpiryFuture: the anchor is after now, which is not expired (a clock
	// behind, or data from the future).
	ExpiryFuture
)

// String returns "due", "held", "no-anchor", "future" or "unknown".
func (s ExpiryState) String() string {
	switch s {
	case ExpiryDue:
		return "due"
	case ExpiryHeld:
		return "held"
	case ExpiryNoAnchor:
		return "no-anchor"
	case ExpiryFuture:
		return "future"
	}
	return "unknown"
}

// Expiry is one rule of a record that needs attention (see [Expired]).
type Expiry struct {
	// Rule is the rule; Rule.Path names the field (or the record) in the
	// struct type that declares it.
	Rule RetentionRule
	// Path is the value's Go path from the record passed to Expired:
	// "Customer.Notes", "Customer.Address.Notes" for a nested or embedded
	// struct (through pointers too), "Customer.Contacts[2].Notes" for the
	// element of a slice or array, "Customer.Extra[…].Notes" for a map
	// value (never its key, which may be personal data). Without its
	// indexes it is pii.Inventory's path of the field ("[]" for "[2]").
	Path string
	// State says whether it is due, held, without anchor or in the future.
	State ExpiryState
	// Anchor is the anchor's time (the zero Time for ExpiryNoAnchor), and
	// DueAt when the rule runs out: Anchor + Rule.RetainFor.
	Anchor, DueAt time.Time
}

// Expired reports the retention rules of the record v (a struct or a
// pointer to one) that need attention at now: due, held while due, with
// no anchor, or with an anchor after now. It reports the rules of v's own
// fields and its record rule (as [RetentionOf] lists them), and those of
// the structs v holds in untagged fields: nested, embedded, behind
// pointers, in slices, arrays and map values, each with its [Expiry.Path]
// and measured against its own struct's anchor. A hold holds its struct
// and every struct within it. Rules within their period, and redact or
// shred rules of fields already at their zero value, are not reported.
// Times are compared as instants, whatever their location; now comes from
// the caller, so a clock that jumps moves what is due with it (forward:
// more is due; backward: less, until it catches up) and nothing is cached
// between calls. It reads only the anchor, hold and rule fields'
// zero-ness, never a value, stops at pointer cycles, and returns
// [ErrInvalidTarget] or the type's [ErrInvalidTag] error. It is safe for
// concurrent use.
func Expired(v any, now time.Time) ([]Expiry, error) {
	if v == nil {
		return nil, fmt.Errorf("%w: nil", ErrInvalidTarget)
	}
	if _, ok := v.(reflect.Type); ok {
		return nil, fmt.Errorf("%w: Expired needs a record, not a type", ErrInvalidTarget)
	}
	if _, err := structPlanOf(v); err != nil {
		return nil, err
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil, fmt.Errorf("%w: nil %s", ErrInvalidTarget, rv.Type())
		}
		rv = rv.Elem()
	}
	w := expiryWalk{now: now, seen: map[uintptr]bool{}}
	w.structValue(rv, typeName(rv.Type()), false, 0)
	return w.out, nil
}

// expiryWalk is one call of Expired.
type expiryWalk struct {
	now  time.Time
	seen map[uintptr]bool // pointers followed, against cycles
	out  []Expiry
}

// structValue reports the rules of struct rv at path, held by an enclosing
// struct's hold when heldAbove, and walks its untagged fields.
func (w *expiryWalk) structValue(rv reflect.Value, path string, heldAbove bool, depth int) {
	if depth > maxDepth {
		return
	}
	p := planFor(rv.Type())
	held := heldAbove
	if rp := p.retention; rp != nil {
		held = held || rp.holdIndex >= 0 && heldValue(rv.Field(rp.holdIndex))
		for i, r := range rp.policy.Rules {
			fi := rp.fieldIndex[i]
			if fi >= 0 && rv.Field(fi).IsZero() {
				continue
			}
			e := Expiry{Rule: r, Path: path}
			if fi >= 0 {
				e.Path = path + "." + r.Field
			}
			at, ok := anchorTime(rv.Field(rp.fromIndex[i]))
			switch {
			case !ok:
				e.State = ExpiryNoAnchor
			case at.After(w.now):
				e.State, e.Anchor, e.DueAt = ExpiryFuture, at, at.Add(r.RetainFor)
			case at.Add(r.RetainFor).After(w.now):
				continue
			case held:
				e.State, e.Anchor, e.DueAt = ExpiryHeld, at, at.Add(r.RetainFor)
			default:
				e.State, e.Anchor, e.DueAt = ExpiryDue, at, at.Add(r.RetainFor)
			}
			w.out = append(w.out, e)
		}
	}
	t := rv.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if p.tags[i] != nil || f.Name == "_" || !f.IsExported() && !f.Anonymous || !hasTags(f.Type) {
			continue
		}
		w.value(rv.Field(i), path+"."+f.Name, held, depth+1)
	}
}

// value walks an untagged field's value through pointers, slices, arrays
// and map values to the structs it holds.
func (w *expiryWalk) value(v reflect.Value, path string, held bool, depth int) {
	if depth > maxDepth || !v.CanInterface() {
		return // too deep, or reached through an unexported embedded type
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || w.seen[v.Pointer()] {
			return
		}
		w.seen[v.Pointer()] = true
		w.value(v.Elem(), path, held, depth+1)
	case reflect.Slice, reflect.Array:
		for j := range v.Len() {
			w.value(v.Index(j), fmt.Sprintf("%s[%d]", path, j), held, depth+1)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			w.value(it.Value(), path+"[…]", held, depth+1)
		}
	case reflect.Struct:
		w.structValue(v, path, held, depth)
	}
}

// anchorTime reads a time.Time, *time.Time or sql.NullTime anchor, and
// false when it is NULL or the zero time.
func anchorTime(v reflect.Value) (time.Time, bool) {
	var t time.Time
	switch x := v.Interface().(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return time.Time{}, false
		}
		t = *x
	default:
		if !v.Field(1).Bool() { // sql.NullTime.Valid
			return time.Time{}, false
		}
		t = v.Field(0).Interface().(time.Time)
	}
	return t, !t.IsZero()
}

// retentionEnd returns when the retention rule of the field being walked
// runs out (its anchor in the current struct plus its period), or the zero
// Time for a field without a rule or a record without an anchor. Vault
// tokens are issued to expire then.
func (r *run) retentionEnd() time.Time {
	// The walked struct's plan is cached (planFor would make an
	// initialisation cycle through the action table).
	cached, ok := plans.Load(r.parent.Type())
	if !ok {
		return time.Time{}
	}
	rp := cached.(*typePlan).retention
	if rp == nil {
		return time.Time{}
	}
	for i, fi := range rp.fieldIndex {
		if fi == r.cur.index {
			if at, ok := anchorTime(r.parent.Field(rp.fromIndex[i])); ok {
				return at.Add(rp.policy.Rules[i].RetainFor)
			}
		}
	}
	return time.Time{}
}
