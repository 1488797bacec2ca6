// Command consumer is the smallest program that uses tillid as most
// applications will: pii over a keyset file. internal/depcheck measures
// what it pulls in.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

type customer struct {
	ID    string `pii:"-"`
	Email string `pii:"deterministic,class=contact"`
	Name  string `pii:"encrypt,class=identity,aad=ID"`
}

func main() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "consumer")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	keyPath := filepath.Join(dir, "master.key")
	if err := keys.GenerateMasterKeyFile(keyPath); err != nil {
		log.Fatal(err)
	}
	kek, err := keys.ReadKEKFile(keyPath)
	if err != nil {
		log.Fatal(err)
	}
	store, err := keys.OpenFile(filepath.Join(dir, "keysets.json"), kek, keys.WithCreateMissing())
	if err != nil {
		log.Fatal(err)
	}
	p, err := pii.New(store)
	if err != nil {
		log.Fatal(err)
	}
	c := customer{ID: "c-1", Email: "ada@example.com", Name: "Ada Lovelace"}
	if err := p.Protect(ctx, &c); err != nil {
		log.Fatal(err)
	}
	if err := p.Reveal(ctx, &c); err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Name)
}
