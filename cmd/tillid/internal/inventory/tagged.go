package inventory

import (
	"go/types"
	"reflect"
)

// TaggedTypes tells which types hold pii-tagged fields. The zero value is
// ready to use; it remembers its answers, so it is not safe for concurrent
// use.
type TaggedTypes struct {
	memo map[types.Type]bool
}

// Holds reports whether a value of type t holds a struct field with a pii
// tag other than "-", directly or through nested and embedded structs
// (unexported fields included), pointers, slices, arrays and map keys and
// values. Recursive types are handled; nesting deeper than 64 types is not
// followed.
func (tt *TaggedTypes) Holds(t types.Type) bool {
	if tt.memo == nil {
		tt.memo = map[types.Type]bool{}
	}
	return tt.holds(t, 0)
}

func (tt *TaggedTypes) holds(t types.Type, depth int) bool {
	if depth > maxDepth {
		return false
	}
	t = types.Unalias(t)
	if v, ok := tt.memo[t]; ok {
		return v
	}
	tt.memo[t] = false // in progress: a cycle adds nothing
	v := false
	switch u := t.Underlying().(type) {
	case *types.Pointer:
		v = tt.holds(u.Elem(), depth+1)
	case *types.Slice:
		v = tt.holds(u.Elem(), depth+1)
	case *types.Array:
		v = tt.holds(u.Elem(), depth+1)
	case *types.Map:
		v = tt.holds(u.Key(), depth+1) || tt.holds(u.Elem(), depth+1)
	case *types.Struct:
		for i := range u.NumFields() {
			if raw, ok := reflect.StructTag(u.Tag(i)).Lookup("pii"); ok && raw != "-" || tt.holds(u.Field(i).Type(), depth+1) {
				v = true
				break
			}
		}
	}
	if v || depth == 0 {
		tt.memo[t] = v
	} else {
		delete(tt.memo, t) // may rest on a type still in progress
	}
	return v
}
