package pii

import (
	"fmt"
	"iter"
	"strings"
)

// A struct nested in a record with a subject field is not under that
// subject: its own fields are sealed under subject keys only when it has
// a subject field of its own (plans are per type, and one nested type may
// sit in records of several subjects, or of none). An encrypt or
// deterministic field there that names a purpose would read as if
// Withdraw and Forget reached it, and they do not, so the plan refuses it
// rather than leave personal data silently un-erasable. For the same
// reason a sealed field that would inherit its purpose from the default of
// an enclosing struct is refused: a purpose selects a subject key only
// from the field's own tag or its struct's default, since a plan is per
// type and one nested type may sit under defaults of several purposes.

// checkNestedSubjects sets the error of every new plan with a subject
// field that reaches, through untagged fields, a struct without a subject
// field of its own holding an encrypt or deterministic field with
// purpose=.
func (b *planBuilder) checkNestedSubjects() {
	for _, p := range b.pending {
		if p.err == nil && len(p.defaults.Purposes) > 0 {
			seen := map[*typePlan]bool{p: true}
			if path, holder, ok := inheritedPurposeField(p, typeName(p.typ), p.hasSubjectField(), seen); ok {
				purposes := strings.Join(p.defaults.Purposes, "+")
				p.err = &FieldError{Type: p.typ, Path: path, Err: fmt.Errorf("%w: the field inherits purpose=%s from the default of %s, but only a field's own purpose= or its struct's default selects the subject key that seals it (and scopes WithPurpose), so Withdraw of %s would not reach it; write purpose=%s on the field, or in the default of %s (a blank field _ struct{} tagged pii:\"purpose=%s\")", ErrInvalidTag, purposes, typeName(p.typ), purposes, purposes, holder, purposes)}
				continue
			}
		}
		if p.err != nil || !p.hasSubjectField() {
			continue
		}
		seen := map[*typePlan]bool{p: true}
		if path, purposes, ok := nestedPurposeField(p, typeName(p.typ), seen); ok {
			p.err = &FieldError{Type: p.typ, Path: path, Err: fmt.Errorf("%w: the field names purpose=%s, but its struct, nested in %s, has no subject field, so Forget and Withdraw of %s's subject do not reach it; add a `pii:\"subject\"` field to the nested struct (holding the same subject ID), or drop purpose= from the field and clear it with Erase", ErrInvalidTag, strings.Join(purposes, "+"), typeName(p.typ), typeName(p.typ))}
		}
	}
}

// nestedPlans yields each untagged field of p that reaches a struct, with
// that struct's plan, once per plan: seen holds the plans yielded before.
func nestedPlans(p *typePlan, seen map[*typePlan]bool) iter.Seq2[*fieldPlan, *typePlan] {
	return func(yield func(*fieldPlan, *typePlan) bool) {
		for _, f := range p.fields {
			if f.act != nil {
				continue
			}
			np := structPlan(f.node)
			if np == nil || seen[np] {
				continue
			}
			seen[np] = true
			if !yield(f, np) {
				return
			}
		}
	}
}

// structPlan returns the plan of the struct that n reaches through
// pointers and containers, or nil.
func structPlan(n *node) *typePlan {
	for ; n != nil; n = n.elem {
		if n.kind == nodeStruct {
			return n.plan
		}
	}
	return nil
}

// hasSubjectField reports whether the struct has a field tagged subject.
func (p *typePlan) hasSubjectField() bool {
	for _, ft := range p.tags {
		if ft != nil && ft.act == subjectAction {
			return true
		}
	}
	return false
}

// nestedPurposeField returns the path of the first purpose-bound sealed
// field in a struct reached from p's untagged fields that has no subject
// field of its own, and its purposes: its own purpose= or its struct's
// default. (A purpose inherited from the default of an enclosing struct
// is refused by inheritedPurposeField.)
func nestedPurposeField(p *typePlan, path string, seen map[*typePlan]bool) (string, []string, bool) {
	for f, np := range nestedPlans(p, seen) {
		if np.hasSubjectField() {
			continue // its own subject binds its fields
		}
		sub := path + "." + f.name
		for _, g := range np.fields {
			if purposes := g.tag.proc.Purposes; g.act != nil && g.act.subjectMode != 0 && len(purposes) > 0 {
				return sub + "." + g.name, purposes, true
			}
		}
		if got, purposes, ok := nestedPurposeField(np, sub, seen); ok {
			return got, purposes, true
		}
	}
	return "", nil, false
}

// inheritedPurposeField returns the path of the first sealed field, in a
// struct reached from p's untagged fields, that has no purpose of its own
// (neither purpose= nor its struct's default) and so would take p's
// default purposes only in the register: a field under its own struct's
// subject keys, or, below a struct with a subject field (subjectAbove), an
// encrypt or deterministic field of a struct without one. It also returns
// the name of the struct that holds the field. Structs with a default
// purpose of their own end the inheritance.
func inheritedPurposeField(p *typePlan, path string, subjectAbove bool, seen map[*typePlan]bool) (string, string, bool) {
	for f, np := range nestedPlans(p, seen) {
		if len(np.defaults.Purposes) > 0 {
			continue // its own default is what its fields inherit
		}
		sub := path + "." + f.name
		for _, g := range np.fields {
			if g.act == nil || g.act.subjectMode == 0 || len(g.tag.proc.Purposes) > 0 {
				continue
			}
			if g.subjectKeyed() || (subjectAbove && !np.hasSubjectField()) {
				return sub + "." + g.name, typeName(np.typ), true
			}
		}
		if got, holder, ok := inheritedPurposeField(np, sub, subjectAbove || np.hasSubjectField(), seen); ok {
			return got, holder, true
		}
	}
	return "", "", false
}
