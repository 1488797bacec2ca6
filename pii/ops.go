package pii

import (
	"reflect"
	"unsafe"
)

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

// op is one change. It is small and holds two pointers at most, because a
// slice of 10,000 records makes 30,000 of them: the leaf writes, nearly all
// of them, keep the field's address and the new value; the rare writes that
// need reflection keep theirs in run.vals.
type op struct {
	kind opKind
	// ptr is the address of the string or []byte field (opSetString,
	// opSetBytes).
	ptr unsafe.Pointer
	// s is the new string, or the new bytes viewed as a string.
	s string
	// i is the first of the op's values in run.vals: the target, then the
	// value (opSet), or the map, the key and the value (opSetMapIndex).
	i int
}

// setString records that the settable string-kind value v becomes s.
func (r *run) setString(v reflect.Value, s string) {
	r.ops = append(r.ops, op{kind: opSetString, ptr: unsafe.Pointer(v.UnsafeAddr()), s: s})
}

// setBytes records that the settable []byte-kind value v becomes b.
func (r *run) setBytes(v reflect.Value, b []byte) {
	r.ops = append(r.ops, op{kind: opSetBytes, ptr: unsafe.Pointer(v.UnsafeAddr()), s: unsafeString(b)})
}

// set records target.Set(v).
func (r *run) set(target, v reflect.Value) {
	r.ops = append(r.ops, op{kind: opSet, i: len(r.vals)})
	r.vals = append(r.vals, target, v)
}

// setMapIndex records m.SetMapIndex(k, v).
func (r *run) setMapIndex(m, k, v reflect.Value) {
	r.ops = append(r.ops, op{kind: opSetMapIndex, i: len(r.vals)})
	r.vals = append(r.vals, m, k, v)
}

// zero records target.SetZero().
func (r *run) zero(target reflect.Value) {
	r.ops = append(r.ops, op{kind: opZero, i: len(r.vals)})
	r.vals = append(r.vals, target)
}

// reserve appends an empty op and returns its index, for a change known
// only later (a deferred vault call).
func (r *run) reserve() int {
	r.ops = append(r.ops, op{kind: opNone})
	return len(r.ops) - 1
}

// fillString turns the reserved op i into setting v to s.
func (r *run) fillString(i int, v reflect.Value, s string) {
	r.ops[i] = op{kind: opSetString, ptr: unsafe.Pointer(v.UnsafeAddr()), s: s}
}

// apply makes the run's changes and returns how many values changed, for
// Rewrap's count: map and interface writes carry leaf changes already
// counted, and a reserved op left empty changed nothing.
func (r *run) apply() int {
	changed := 0
	for i := range r.ops {
		o := &r.ops[i]
		switch o.kind {
		case opSetString:
			*(*string)(o.ptr) = o.s
			changed++
		case opSetBytes:
			if len(o.s) == 0 {
				*(*[]byte)(o.ptr) = []byte{} // empty, not nil: presence is kept
			} else {
				*(*[]byte)(o.ptr) = unsafeBytes(o.s)
			}
			changed++
		case opSet:
			r.vals[o.i].Set(r.vals[o.i+1])
			if r.vals[o.i].Kind() != reflect.Interface {
				changed++
			}
		case opSetMapIndex:
			r.vals[o.i].SetMapIndex(r.vals[o.i+1], r.vals[o.i+2])
		case opZero:
			r.vals[o.i].SetZero()
			changed++
		}
	}
	return changed
}
