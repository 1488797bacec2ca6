package pii_test

import (
	"testing"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

// BenchmarkRewrapStored moves one stored encrypt value to the primary key
// through a Column, as tillid rewrap does per value, beside its floor: the
// same value decrypted and encrypted again with the keyset's Tink AEAD.
//
//	go test -run '^$' -bench 'RewrapStored' ./pii/
func BenchmarkRewrapStored(b *testing.B) {
	p, store := newProtector(b)
	r := BenchRecord{Email: benchValues.Email}
	mustProtect(b, p, &r)
	if _, err := store.Rotate(ctx, "default", keys.KindAEAD); err != nil {
		b.Fatal(err)
	}
	col := pii.Column{Type: "BenchRecord", Field: "Email", Action: pii.ActionEncrypt}
	b.Run("tillid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, changed, err := p.RewrapStored(ctx, col, "", r.Email); err != nil || !changed {
				b.Fatal(err, changed)
			}
		}
	})
	b.Run("floor", func(b *testing.B) {
		ks, err := store.Keyset(ctx, "default", keys.KindAEAD)
		if err != nil {
			b.Fatal(err)
		}
		a, err := ks.AEAD()
		if err != nil {
			b.Fatal(err)
		}
		ad := []byte("tillid/v1/field/BenchRecord/Email")
		ct, err := a.Encrypt([]byte(benchValues.Email), ad)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			pt, err := a.Decrypt(ct, ad)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := a.Encrypt(pt, ad); err != nil {
				b.Fatal(err)
			}
		}
	})
}
