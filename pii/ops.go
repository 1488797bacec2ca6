package pii

import "reflect"

// This file is the all-or-nothing buffer of a run: the walk records every
// change as an op, and they are applied only once the whole walk (and any
// deferred vault call) has succeeded.

type opKind uint8

const (
	opNone opKind = iota // a reserved op that stayed empty: a token that only needed checking
	opSetString
	opSetBytes
	opSet
	opSetMapIndex
	opZero
)

// op is one change, collected while walking and applied only when the whole
// walk succeeded.
type op struct {
	kind   opKind
	target reflect.Value
	s      string
	b      []byte
	v, k   reflect.Value
}

func (r *run) apply() {
	for i := range r.ops {
		o := &r.ops[i]
		switch o.kind {
		case opSetString:
			o.target.SetString(o.s)
		case opSetBytes:
			o.target.SetBytes(o.b)
		case opSet:
			o.target.Set(o.v)
		case opSetMapIndex:
			o.target.SetMapIndex(o.k, o.v)
		case opZero:
			o.target.SetZero()
		}
	}
}
