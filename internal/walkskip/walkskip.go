// Package walkskip carries, in a context, struct fields that Protect,
// Reveal, Rewrap and Erase leave alone: an ORM plugin's associations, which
// are records of their own, saved and loaded by statements of their own,
// so that an association that is not loaded (a zero struct) neither fails
// nor is revealed twice. It is internal: only tillid's own integrations
// set it.
package walkskip

import (
	"context"
	"reflect"
)

// Fields names the fields of one struct type that a walk skips: Skip[i]
// is set for struct field i (reflect's field index).
type Fields struct {
	Type reflect.Type
	Skip []bool
}

type key struct{}

// With returns ctx with skip as the fields of struct type t to leave
// alone, in place of those ctx names for t. A ctx that names t with this
// very skip slice is returned as it is, so that a context reused across
// statements does not grow; so is a skip with no field set where ctx names
// none for t.
func With(ctx context.Context, t reflect.Type, skip []bool) context.Context {
	if ctx == nil || t == nil {
		return ctx
	}
	prev := From(ctx)
	old := Of(prev, t)
	if old == nil && !anySet(skip) || len(old) > 0 && len(old) == len(skip) && &old[0] == &skip[0] {
		return ctx
	}
	next := make([]Fields, 1, len(prev)+1)
	next[0] = Fields{Type: t, Skip: skip}
	for _, f := range prev {
		if f.Type != t {
			next = append(next, f)
		}
	}
	return context.WithValue(ctx, key{}, next)
}

// From returns the fields ctx names, nil when none.
func From(ctx context.Context) []Fields {
	if ctx == nil {
		return nil
	}
	fs, _ := ctx.Value(key{}).([]Fields)
	return fs
}

// Of returns the skip set of struct type t in fs, nil when fs has none.
func Of(fs []Fields, t reflect.Type) []bool {
	for _, f := range fs {
		if f.Type == t {
			return f.Skip
		}
	}
	return nil
}

func anySet(skip []bool) bool {
	for _, s := range skip {
		if s {
			return true
		}
	}
	return false
}
