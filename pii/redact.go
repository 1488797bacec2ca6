package pii

import "reflect"

// redactAction sets the field, of any type, to its zero value on Protect:
// the data is never stored (data minimisation, GDPR Art. 5(1)(c)). Reveal
// and Rewrap leave it. Under Forget there is nothing to erase.
var redactAction = &action{
	name: "redact",
	check: func(_ *planBuilder, _ *typePlan, t reflect.Type, _ *fieldPlan) (*node, error) {
		return &node{kind: nodeField, typ: t, work: true}, nil
	},
	field: func(r *run, v reflect.Value) error {
		if r.verb == verbProtect && !v.IsZero() {
			r.zero(v)
		}
		return nil
	},
	source:  sourceRedacted,
	redacts: true,
}
