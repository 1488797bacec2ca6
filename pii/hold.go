package pii

import (
	"reflect"
	"time"

	"github.com/tillid/tillid/internal/tag"
)

// holdAction, written "hold", marks a struct's legal-hold field: a bool
// (held while true), a *time.Time or an sql.NullTime (held while set: the
// time the hold was placed). While a record is held no retention rule
// expires any of it. The field itself is not transformed; Redacted shows
// it. It has no check, so the plan leaves it out of the walk;
// bindRetention checks its type.
var holdAction = &action{
	name:   tag.HoldAction,
	source: sourcePlain,
}

var boolType = reflect.TypeFor[bool]()

// holdTypeOK reports whether t can be a hold field, and whether it is a
// time (else a bool).
func holdTypeOK(t reflect.Type) (ok, isTime bool) {
	switch t {
	case boolType:
		return true, false
	case reflect.PointerTo(timeType), nullTimeType:
		return true, true
	}
	return false, false
}

// heldValue reports whether the hold field value v holds its record.
func heldValue(v reflect.Value) bool {
	switch x := v.Interface().(type) {
	case bool:
		return x
	case *time.Time:
		return x != nil
	}
	return v.Field(1).Bool() // sql.NullTime.Valid
}
