package tokenize_test

import (
	"context"
	"fmt"
	"log"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/tokenize"
)

func Example() {
	ctx := context.Background()
	// An in-memory key store is for examples only: real keys come from an
	// encrypted keyset file or a KMS-wrapped store. DO NOT use NewMemory
	// for data you want to read back tomorrow.
	provider := keys.NewMemory()
	store := tokenize.NewMemoryStore() // tokenize.OpenSQLite or postgres.OpenTokenStore in production

	cards, err := tokenize.New(provider, store, "card", tokenize.ModeConsistent,
		tokenize.WithFormat(tokenize.Card(6, 4)))
	if err != nil {
		log.Fatal(err)
	}
	token, err := cards.Tokenize(ctx, "4111111111111111", tokenize.ForSubject("customer-42"))
	if err != nil {
		log.Fatal(err)
	}
	again, _ := cards.Tokenize(ctx, "4111111111111111", tokenize.ForSubject("customer-42"))
	value, err := cards.Detokenize(ctx, token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("length:", len(token))
	fmt.Println("keeps BIN and last 4:", token[:6] == "411111" && token[12:] == "1111")
	fmt.Println("same token again:", again == token)
	fmt.Println("detokenized:", value)
	// Output:
	// length: 16
	// keeps BIN and last 4: true
	// same token again: true
	// detokenized: 4111111111111111
}

func ExampleNewFPE() {
	ctx := context.Background()
	provider := keys.NewMemory() // real keys come from a KMS-backed provider
	cpr, err := tokenize.NewFPE(provider, "cpr", tokenize.Digits)
	if err != nil {
		log.Fatal(err)
	}
	token, keyID, err := cpr.Tokenize(ctx, "0101901234", nil)
	if err != nil {
		log.Fatal(err)
	}
	// Store keyID beside the token: Detokenize needs it after a rotation.
	value, err := cpr.Detokenize(ctx, token, keyID, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(token), value)

	_, _, err = cpr.Tokenize(ctx, "12345", nil)
	fmt.Println(err)
	// Output:
	// 10 0101901234
	// tokenize: FF1 input of 5 characters is too short for radix 10: radix^length must be at least 1000000, so at least 6 characters: tokenize: invalid value
}

func ExampleTokenizer_DeleteSubject() {
	ctx := context.Background()
	emails, err := tokenize.New(keys.NewMemory(), tokenize.NewMemoryStore(), "email", tokenize.ModeRandom,
		tokenize.WithFormat(tokenize.Email(false)))
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range []string{"alice@example.com", "alice@work.example"} {
		if _, err := emails.Tokenize(ctx, v, tokenize.ForSubject("alice")); err != nil {
			log.Fatal(err)
		}
	}
	n, err := emails.DeleteSubject(ctx, "alice")
	fmt.Println(n, err)
	// Output:
	// 2 <nil>
}
