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
		proc := ft.proc.Merge(recordDefaults(p.defaults))
		if proc.Retain == "" {
			if proc.Then != "" {
				return fail(f.Name, "then=%s needs retain=<period>, such as retain=2y", proc.Then)
			}
			continue
		}
		r := RetentionRule{Path: typeName(p.typ) + "." + f.Name, Field: f.Name, Retain: proc.Retain, RetainFor: proc.RetainFor,
			From: proc.From, Then: parseThen(proc.Then), Domain: ft.domain, Kind: f.Type.Kind()}
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
			r.Purpose = proc.Purposes[0]
		}
		from, err := anchor(f.Name, proc)
		if err != nil {
			return err
		}
		rp.policy.Rules = append(rp.policy.Rules, r)
		rp.fieldIndex, rp.fromIndex = append(rp.fieldIndex, i), append(rp.fromIndex, from)
	}
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
	// Rule is the rule; Rule.Path names the field (or the record).
	Rule RetentionRule
	// State says whether it is due, held, without anchor or in the future.
	State ExpiryState
	// Anchor is the anchor's time (the zero Time for ExpiryNoAnchor), and
	// DueAt when the rule runs out: Anchor + Rule.RetainFor.
	Anchor, DueAt time.Time
}

// Expired reports the retention rules of the record v (a struct or a
// pointer to one; the rules of its own fields and its record rule, as
// [RetentionOf] lists them) that need attention at now: due, held while due, with
// no anchor, or with an anchor after now. Rules within their period, and
// redact or shred rules of fields already at their zero value, are not
// reported. Times are compared as instants, whatever their location; now
// comes from the caller, so a clock that jumps moves what is due with it
// (forward: more is due; backward: less, until it catches up) and nothing
// is cached between calls. It reads only the anchor, hold and rule fields'
// zero-ness, never a value, and returns [ErrInvalidTarget] or the type's
// [ErrInvalidTag] error. It is safe for concurrent use.
func Expired(v any, now time.Time) ([]Expiry, error) {
	if v == nil {
		return nil, fmt.Errorf("%w: nil", ErrInvalidTarget)
	}
	if _, ok := v.(reflect.Type); ok {
		return nil, fmt.Errorf("%w: Expired needs a record, not a type", ErrInvalidTarget)
	}
	p, err := structPlanOf(v)
	if err != nil {
		return nil, err
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil, fmt.Errorf("%w: nil %s", ErrInvalidTarget, rv.Type())
		}
		rv = rv.Elem()
	}
	rp := p.retention
	if rp == nil {
		return nil, nil
	}
	held := rp.holdIndex >= 0 && heldValue(rv.Field(rp.holdIndex))
	var out []Expiry
	for i, r := range rp.policy.Rules {
		if fi := rp.fieldIndex[i]; fi >= 0 && rv.Field(fi).IsZero() {
			continue
		}
		e := Expiry{Rule: r}
		at, ok := anchorTime(rv.Field(rp.fromIndex[i]))
		switch {
		case !ok:
			e.State = ExpiryNoAnchor
		case at.After(now):
			e.State, e.Anchor, e.DueAt = ExpiryFuture, at, at.Add(r.RetainFor)
		case at.Add(r.RetainFor).After(now):
			continue
		case held:
			e.State, e.Anchor, e.DueAt = ExpiryHeld, at, at.Add(r.RetainFor)
		default:
			e.State, e.Anchor, e.DueAt = ExpiryDue, at, at.Add(r.RetainFor)
		}
		out = append(out, e)
	}
	return out, nil
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
