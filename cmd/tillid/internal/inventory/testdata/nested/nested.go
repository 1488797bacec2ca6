// Package nested is the fixture of the subject binding of nested structs;
// inventory_test declares the same types for pii.Inventory.
package nested

type Addr struct {
	Street string `pii:"encrypt"`
}

type OwnAddr struct {
	Owner  string `pii:"subject"`
	Street string `pii:"encrypt,purpose=shipping"`
}

type Rec struct {
	_     struct{} `pii:"basis=contract"`
	ID    string   `pii:"subject"`
	Email string   `pii:"encrypt,purpose=account"`
	Alias string   `pii:"deterministic,purpose=marketing"`
	Idx   string   `pii:"index=Email"`
	Home  Addr
	Own   OwnAddr
	Many  []*Addr
}
