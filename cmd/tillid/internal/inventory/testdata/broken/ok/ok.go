package ok

type T struct {
	Email string `pii:"encrypt"`
}
