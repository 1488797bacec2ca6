package pii

import (
	"fmt"
	"strings"
)

// A struct nested in a record with a subject field is not under that
// subject: its own fields are sealed under subject keys only when it has
// a subject field of its own (plans are per type, and one nested type may
// sit in records of several subjects, or of none). An encrypt or
// deterministic field there that names a purpose would read as if
// Withdraw and Forget reached it, and they do not, so the plan refuses it
// rather than leave personal data silently un-erasable.

// checkNestedSubjects sets the error of every new plan with a subject
// field that reaches, through untagged fields, a struct without a subject
// field of its own holding an encrypt or deterministic field with
// purpose=.
func (b *planBuilder) checkNestedSubjects() {
	for _, p := range b.pending {
		if p.err != nil || !p.hasSubjectField() {
			continue
		}
		seen := map[*typePlan]bool{p: true}
		if path, purposes, ok := nestedPurposeField(p, typeName(p.typ), seen); ok {
			p.err = &FieldError{Type: p.typ, Path: path, Err: fmt.Errorf("%w: the field names purpose=%s, but its struct, nested in %s, has no subject field, so Forget and Withdraw of %s's subject do not reach it; add a `pii:\"subject\"` field to the nested struct (holding the same subject ID), or drop purpose= from the field and clear it with Erase", ErrInvalidTag, strings.Join(purposes, "+"), typeName(p.typ), typeName(p.typ))}
		}
	}
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
// only names the purpose in the register; Inventory lists such a field
// with no Subject, and Erase clears it.)
func nestedPurposeField(p *typePlan, path string, seen map[*typePlan]bool) (string, []string, bool) {
	for _, f := range p.fields {
		if f.act != nil {
			continue
		}
		var n *node
		for n = f.node; n != nil && n.kind != nodeStruct; n = n.elem {
		}
		if n == nil || n.plan == nil || seen[n.plan] {
			continue
		}
		np := n.plan
		seen[np] = true
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
