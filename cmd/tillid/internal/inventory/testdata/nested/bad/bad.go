// Package bad holds a purpose-bound field nested in a subject record
// without a subject of its own, which pii refuses.
package bad

type BadAddr struct {
	Street string `pii:"encrypt,purpose=shipping"`
}

type Bad struct {
	ID   string `pii:"subject"`
	Home BadAddr
}
