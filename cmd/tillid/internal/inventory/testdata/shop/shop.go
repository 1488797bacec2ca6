// Package shop is the inventory's test fixture: defaults, subjects,
// nesting, embedding, generics, aliases, recursion and types of another
// module.
package shop

import (
	"time"

	"example.com/dep"
)

type Customer struct {
	_         struct{} `pii:"basis=contract,retain=5y,from=Created,subjects=customer"`
	ID        string   `pii:"subject"`
	Created   time.Time
	Email     string `pii:"deterministic,class=contact,key=crm,purpose=account"`
	EmailIdx  string `pii:"index=Email,normalize=email,purpose=account"`
	Interests string `pii:"encrypt,class=special,purpose=marketing+profiling,basis=consent,retain=26w"`
	Home      Address
	Shipping  []Address
	ByLabel   map[string]*Address
	Postal    dep.PostalAddress
	Contact
	*audit
	Extra any
	Skip  string `pii:"-"`
}

// Address is listed under Customer, which holds it.
type Address struct {
	Street string `pii:"encrypt,class=location,aad=Line"`
	Line   string
}

type Contact struct {
	Phone string `pii:"encrypt,class=contact"`
}

type audit struct {
	IP string `pii:"pseudonym,class=identity"`
}

// Box is generic: its Item is known where it is instantiated.
type Box[T any] struct {
	Owner string `pii:"redact"`
	Item  T
}

type Order struct {
	_       struct{} `pii:"purpose=billing,basis=contract,retain=10y"`
	ID      string   `pii:"subject"`
	Payment Box[Payment]
}

type Payment struct {
	Card string `pii:"tokenize=card,class=financial"`
}

// Node is recursive.
type Node struct {
	Diagnosis string `pii:"encrypt,class=health"`
	Next      *Node
}

// Client is an alias of a type listed under its own name.
type Client = Customer

// Mailing is an alias of another module's type: listed under the alias.
type Mailing = dep.PostalAddress

// Plain holds no tags and is not listed.
type Plain struct{ N int }

// Pair is generic and instantiated nowhere: listed with its parameters.
type Pair[K comparable, V any] struct {
	Key   K `pii:"encrypt,class=identity"`
	Value V
}

// Export declares a type inside a function: listed as shop.Export.row.
func Export(c Customer) any {
	type row struct {
		Email string `pii:"encrypt,class=contact,purpose=export,basis=legitimate_interests"`
	}
	return row{Email: c.Email}
}

// settings is an anonymous struct with a tagged field: noted, not listed.
var settings struct {
	Admin string `pii:"encrypt,class=contact"`
}

// Respond holds a tagged type in an anonymous struct: Customer is listed
// under its own name, so nothing is noted.
func Respond(c Customer) any {
	return struct{ Who Customer }{c}
}
