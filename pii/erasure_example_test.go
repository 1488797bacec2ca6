package pii_test

import (
	"context"
	"fmt"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

func ExampleProtector_Forget() {
	ctx := context.Background()
	provider := keys.NewMemory() // real keys come from a KMS-wrapped keyset store
	sk, _ := keys.NewSubjectKeys(provider, keys.NewMemorySubjectKeyStore(), keys.NewMemoryLedger())
	p, _ := pii.New(provider, pii.WithSubjectKeys(sk))

	type Subscriber struct {
		ID     string `pii:"subject"`
		Email  string `pii:"encrypt"`
		Topics string `pii:"encrypt,purpose=marketing,basis=consent"`
	}
	rows := []Subscriber{{ID: "s-1", Email: "ada@example.com", Topics: "engines"}, {ID: "s-2", Email: "bob@example.com", Topics: "jazz"}}
	_ = p.Protect(ctx, &rows) // each subscriber's fields under their own keys

	receipt, _ := p.Forget(ctx, "s-1")
	fmt.Println("forgot: purpose", receipt.Purpose, "keys destroyed:", len(receipt.Keys))
	_, _ = p.Withdraw(ctx, "s-2", "marketing")

	report, err := p.RevealReport(ctx, &rows)
	fmt.Println(err)
	fmt.Printf("%q %q\n", rows[0].Email, rows[1].Email)
	fmt.Println(report.Erased)
	// Output:
	// forgot: purpose * keys destroyed: 2
	// <nil>
	// "" "bob@example.com"
	// [[]pii_test.Subscriber[0].Email []pii_test.Subscriber[0].Topics []pii_test.Subscriber[1].Topics]
}
