// Package other declares types that package rules and logs use from
// another package.
package other

type Address struct {
	Street string `pii:"encrypt,class=location"`
	City   string
}

type Email string

type Plain struct{ Count int }
