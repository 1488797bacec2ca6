package keys_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/tillid/tillid/keys"
)

// ExampleSubjectKeys makes a key per customer and purpose, withdraws one
// purpose and forgets a customer. The memory stores are for examples:
// real keys come from a store under a KMS-held KEK, and the ledger lives
// in a database of its own.
func ExampleSubjectKeys() {
	ctx := context.Background()
	sk, err := keys.NewSubjectKeys(keys.NewMemory(), keys.NewMemorySubjectKeyStore(), keys.NewMemoryLedger())
	if err != nil {
		panic(err)
	}
	ids := []keys.SubjectKeyID{
		{Subject: "customer-1", Kind: keys.KindAEAD},
		{Subject: "customer-1", Purpose: "marketing", Kind: keys.KindAEAD},
		{Subject: "customer-2", Kind: keys.KindAEAD},
	}
	ks, err := sk.Keys(ctx, ids) // one batch for all new keys
	if err != nil {
		panic(err)
	}
	a, _ := ks[1].AEAD()
	ct, _ := a.Encrypt([]byte("likes cycling"), []byte("Customer.Interests"))

	w, _ := sk.Withdraw(ctx, "customer-1", "marketing")
	fmt.Println("withdrawn:", w.Purpose, w.Destroyed)
	f, _ := sk.Forget(ctx, "customer-2")
	fmt.Println("forgotten:", f.Purpose, len(f.Destroyed), "key")

	_, errs, _ := sk.Lookup(ctx, ids)
	for i, err := range errs {
		fmt.Println(ids[i], "erased:", errors.Is(err, keys.ErrErased), "usable:", err == nil)
	}
	_, err = a.Decrypt(ct, []byte("Customer.Interests"))
	fmt.Println("a key already held still decrypts until dropped:", err == nil)
	// Output:
	// withdrawn: marketing [marketing]
	// forgotten: * 1 key
	// subject key base/aead erased: false usable: true
	// subject key marketing/aead erased: true usable: false
	// subject key base/aead erased: true usable: false
	// a key already held still decrypts until dropped: true
}
