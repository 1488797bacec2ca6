package tags

import (
	"time"
	"unsafe"
)

type Good struct {
	_         struct{} `pii:"purpose=billing+support,basis=contract,retain=5y,from=Created,subjects=customer"`
	ID        string   `pii:"subject"`
	Created   time.Time
	Email     string `pii:"deterministic,class=contact,purpose=account,basis=contract"`
	EmailIdx  string `pii:"index=Email,normalize=email"`
	Name      string `pii:"encrypt,class=identity,aad=ID,retain=90d"`
	Interests string `pii:"encrypt,purpose=marketing,basis=consent,retain=26w,from=Created"`
	CPR       string `pii:"tokenize=cpr,class=national_id"`
	Notes     string `pii:"redact"`
	Skipped   string `pii:"-"`
}

type Bad struct {
	ID     string
	A      string            `pii:"encrpyt"`                 // want `invalid pii tag "encrpyt": unknown action "encrpyt"`
	B      string            `pii:"encrypt,,class=contact"`  // want `invalid pii tag .*empty item`
	C      string            `pii:"encrypt,class=secret"`    // want `unknown class "secret"`
	D      string            `pii:"encrypt,basis=because"`   // want `basis=because: want one of consent`
	E      string            `pii:"encrypt,retain=soon"`     // want `retain=soon`
	F      string            `pii:"encrypt,retain=0d"`       // want `retain=0d`
	G      string            `pii:"encrypt,purpose=Billing"` // want `purpose=Billing`
	H      string            `pii:"encrypt,aad=RecordID"`    // want `aad=RecordID names no field of this struct`
	I      string            `pii:"index=Mail"`              // want `index=Mail names no exported field Mail of this struct`
	J      string            `pii:"encrypt,from=Created"`    // want `from=Created names no exported field of this struct`
	K      chan string       `pii:"encrypt"`                 // want `encrypt is not supported on chan string`
	L      func()            `pii:"redact"`                  // redact takes any type
	M      unsafe.Pointer    `pii:"encrypt"`                 // want `encrypt is not supported on unsafe.Pointer`
	secret string            `pii:"encrypt"`                 // want `pii tag on unexported field secret`
	N      string            `pii:"subject,class=contact"`   // want `unknown option "class" for subject`
	O      string            `pii:"-,purpose=billing"`       // want `invalid pii tag "-,purpose=billing"`
	P      []chan int        `pii:"encrypt"`                 // want `encrypt is not supported on chan int`
	Q      map[string]string `pii:"encrypt"`                 // want `would store the map's keys as they are`
	R      []map[int]string  `pii:"tokenize=card"`           // want `would store the map's keys as they are`
	S      map[string]string `pii:"encrypt,plainkeys"`
	U      string            `pii:"hash,normalize=email"` // want `pii action "hash" is deprecated: write "pseudonym" instead`
	T      map[string]string `pii:"redact"`
	_      struct{}          `pii:"encrypt"` // want `invalid struct-level pii default: "encrypt" is not a struct-level default`
}

type TwoDefaults struct {
	_ struct{} `pii:"purpose=a"`
	_ struct{} `pii:"basis=contract"` // want `one struct-level pii default`
}

type Retention struct {
	_       struct{} `pii:"purpose=a,from=Missing"` // want `struct-level default: from=Missing names no exported field`
	Created string
	Signed  *time.Time
	A       string `pii:"encrypt,retain=1y,from=Created"` // want `from=Created is a string; retention counts from a time.Time`
	B       string `pii:"encrypt,retain=1y,from=Signed"`
}

type Embedded struct {
	Inner
	Email string `pii:"encrypt,aad=RecordID"` // want `aad=RecordID names no field of this struct`
}

// Inner's RecordID is promoted to Embedded, but pii binds a ciphertext to
// a field of its own struct only.
type Inner struct{ RecordID string }
