package piivet

import "go/types"

// TypeProblems returns what the mirror of pii's plan (types.go) refuses in
// st, one message per field, for the parity tests.
func TypeProblems(st *types.Struct) []string {
	var out []string
	for _, p := range (&typeChecker{}).typeProblems(st) {
		out = append(out, st.Field(p.field).Name()+": "+p.msg)
	}
	return out
}
