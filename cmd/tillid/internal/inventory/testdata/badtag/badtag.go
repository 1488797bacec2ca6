package badtag

type T struct {
	A string `pii:"encrpyt"`
	B string `pii:"encrypt,basis=maybe"`
	C string `pii:"encrypt,class=contact"`
}
