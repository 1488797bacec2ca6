// Package dep is another module whose types the shop uses.
package dep

// PostalAddress is tagged in this module.
type PostalAddress struct {
	Street string `pii:"encrypt,class=location"`
	Zip    string `pii:"encrypt,class=location"`
	Note   string
}
