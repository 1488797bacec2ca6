package billing

import "time"

type Invoice struct {
	Issued time.Time
	Holder string `pii:"encrypt,class=identity,purpose=billing,basis=legal_obligation,retain=5y,from=Issued"`
	Total  int64
}
