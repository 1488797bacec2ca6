// Package pii is a stand-in for github.com/tillid/tillid/pii with the
// names the analyzer's tests use.
package pii

// Redacted returns a view of v whose tagged fields print as [redacted].
func Redacted(v any) RedactedValue { return RedactedValue{v: v} }

// RedactedValue is the view returned by Redacted.
type RedactedValue struct{ v any }

func (r RedactedValue) String() string { return "[redacted]" }

// Value holds a protected value of type T.
type Value[T any] struct{ v T }
