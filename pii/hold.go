package pii

import (
	"database/sql"
	"reflect"
	"time"

	"github.com/tillid/tillid/internal/tag"
)

// holdAction, written "hold", marks a struct's legal-hold field: a bool,
// *bool or sql.NullBool (held unless false: a nil *bool or an invalid
// sql.NullBool is a hold nobody decided, and holds the record, as a NULL
// boolean hold column holds its row in a sweep), or a *time.Time or
// sql.NullTime (held while set: the time the hold was placed). While a
// record is held no retention rule expires any of it. The field itself is
// not transformed; Redacted shows it. It has no check, so the plan leaves
// it out of the walk; bindRetention checks its type.
var holdAction = &action{
	name:   tag.HoldAction,
	source: sourcePlain,
}

var (
	boolType     = reflect.TypeFor[bool]()
	nullBoolType = reflect.TypeFor[sql.NullBool]()
)

// holdTypeOK reports whether t can be a hold field, and whether it is a
// time (else a boolean).
func holdTypeOK(t reflect.Type) (ok, isTime bool) {
	switch t {
	case boolType, reflect.PointerTo(boolType), nullBoolType:
		return true, false
	case reflect.PointerTo(timeType), nullTimeType:
		return true, true
	}
	return false, false
}

// heldValue reports whether the hold field value v holds its record: a
// boolean unless it is false (nil and invalid hold), a time while set.
func heldValue(v reflect.Value) bool {
	switch x := v.Interface().(type) {
	case bool:
		return x
	case *bool:
		return x == nil || *x
	case sql.NullBool:
		return !x.Valid || x.Bool
	case *time.Time:
		return x != nil
	}
	return v.Field(1).Bool() // sql.NullTime.Valid
}
