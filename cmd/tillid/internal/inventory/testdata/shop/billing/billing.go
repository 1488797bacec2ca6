package billing

type Invoice struct {
	Holder string `pii:"encrypt,class=identity,purpose=billing,basis=legal_obligation,retain=5y"`
	Total  int64
}
