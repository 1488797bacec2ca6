package pii_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

type Customer struct {
	ID    string `pii:"-"`
	Email string `pii:"deterministic,class=contact"`
	Name  string `pii:"encrypt,class=identity,aad=ID"`
	Notes string `pii:"redact"`
}

func Example() {
	ctx := context.Background()
	// In-memory keys are for examples and tests; real keys live in a keyset
	// file encrypted under a KMS key (keys.OpenFile).
	p, err := pii.New(keys.NewMemory())
	if err != nil {
		panic(err)
	}
	c := Customer{ID: "c-1", Email: "ada@example.com", Name: "Ada Lovelace", Notes: "called on Monday"}
	if err := p.Protect(ctx, &c); err != nil {
		panic(err)
	}
	fmt.Println(strings.HasPrefix(c.Email, "tl1d:"), strings.HasPrefix(c.Name, "tl1e:"), c.Notes == "")
	if err := p.Reveal(ctx, &c); err != nil {
		panic(err)
	}
	fmt.Println(c.Email, c.Name)
	// Output:
	// true true true
	// ada@example.com Ada Lovelace
}

func ExampleProtector_Reveal_failClosed() {
	ctx := context.Background()
	p, _ := pii.New(keys.NewMemory())
	c := Customer{ID: "c-1", Email: "plaintext@example.com", Name: "not protected"}
	err := p.Reveal(ctx, &c)
	fmt.Println(errors.Is(err, pii.ErrNotProtected))
	fmt.Println(err)
	// Output:
	// true
	// pii: Customer.Email: value is not protected
}

func ExampleProtector_Rewrap() {
	ctx := context.Background()
	store := keys.NewMemory()
	p, _ := pii.New(store)
	c := Customer{ID: "c-1", Email: "ada@example.com", Name: "Ada"}
	_ = p.Protect(ctx, &c)

	// Rotate both keysets, re-encrypt the stored record, then disable the
	// old AEAD key: the record still reveals.
	old, _ := store.Keyset(ctx, "default", keys.KindAEAD)
	store.Rotate(ctx, "default", keys.KindAEAD)
	store.Rotate(ctx, "default", keys.KindDeterministicAEAD)
	n, _ := p.Rewrap(ctx, &c)
	_ = store.Disable(ctx, "default", keys.KindAEAD, old.PrimaryKeyID())
	err := p.Reveal(ctx, &c)
	fmt.Println(n, err, c.Name)
	// Output: 2 <nil> Ada
}

func ExampleValidate() {
	type Bad struct {
		Email string `pii:"encrpyt"`
	}
	fmt.Println(pii.Validate(Bad{}))
	// Output: pii: Bad.Email: invalid tag: unknown action "encrpyt"; use encrypt, deterministic, index=<Field>, pseudonym, tokenize=<domain>, redact or -; or subject for the data subject's ID
}

func ExampleStoredLen() {
	// Size a VARCHAR column for a 254-byte email address.
	fmt.Println(pii.StoredLen(pii.ActionEncrypt, 254), pii.StoredLen(pii.ActionDeterministic, 254))
	// Output: 388 372
}

func ExampleValue() {
	ctx := context.Background()
	p, _ := pii.New(keys.NewMemory())
	type Patient struct {
		ID     int64              `pii:"-"`
		Weight pii.Value[float64] `pii:"encrypt,class=health,aad=ID"`
	}
	x := Patient{ID: 7, Weight: pii.NewValue(72.5)}
	_ = p.Protect(ctx, &x)
	_, ok := x.Weight.Get()
	fmt.Println(x.Weight, ok)
	_ = p.Reveal(ctx, &x)
	w, ok := x.Weight.Get()
	fmt.Println(w, ok)
	// Output:
	// pii.Value(protected) false
	// 72.5 true
}

func ExampleProtector_LookupTerms() {
	ctx := context.Background()
	store := keys.NewMemory() // real keys come from a KMS-wrapped keyset store
	p, _ := pii.New(store)
	type User struct {
		ID       string `pii:"-"`
		Email    string `pii:"encrypt,aad=ID"`
		EmailIdx string `pii:"index=Email,normalize=email"`
	}
	u := User{ID: "u-1", Email: "Ada@Example.com"}
	_ = p.Protect(ctx, &u)

	// The query is normalised like the stored value: case and spaces do not matter.
	terms, _ := p.LookupTerms(ctx, User{}, "EmailIdx", "  ada@EXAMPLE.com ")
	fmt.Println(len(terms), terms[0] == u.EmailIdx)

	// After a rotation, rows indexed under the old key are still found.
	store.Rotate(ctx, "default", keys.KindPRF)
	terms, _ = p.LookupTerms(ctx, User{}, "EmailIdx", "ada@example.com")
	fmt.Println(len(terms), terms[1] == u.EmailIdx)
	// Output:
	// 1 true
	// 2 true
}

func ExampleRedacted() {
	type Patient struct {
		Ward      string
		Name      string `pii:"encrypt"`
		Diagnosis string `pii:"encrypt,class=health"`
	}
	x := Patient{Ward: "B4", Name: "Ada Lovelace", Diagnosis: "none"}
	fmt.Println(pii.Redacted(x))
	fmt.Printf("%#v\n", pii.Redacted(&x))
	// Output:
	// {Ward:B4 Name:[redacted] Diagnosis:[redacted]}
	// {Ward:B4 Name:[redacted] Diagnosis:[redacted]}
}
