package pii_test

import (
	"testing"
	"time"
)

// benchRetained is BenchRecord with every field under a retention rule:
// retain= is metadata, so Protect must cost the same.
type benchRetained struct {
	Created time.Time
	Name    string `pii:"encrypt,retain=2y,from=Created"`
	Email   string `pii:"encrypt,retain=2y,from=Created"`
	Phone   string `pii:"encrypt,retain=2y,from=Created"`
	Address string `pii:"encrypt,retain=2y,from=Created"`
	NID     string `pii:"encrypt,retain=2y,from=Created"`
}

// benchPlain is benchRetained without the rules: the floor.
type benchPlain struct {
	Created time.Time
	Name    string `pii:"encrypt"`
	Email   string `pii:"encrypt"`
	Phone   string `pii:"encrypt"`
	Address string `pii:"encrypt"`
	NID     string `pii:"encrypt"`
}

// BenchmarkProtectRetain compares Protect of five retained fields with
// the same five fields without retain= (the floor), in the same run.
func BenchmarkProtectRetain(b *testing.B) {
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	v := benchValues
	b.Run("retain", func(b *testing.B) {
		p, _ := newProtector(b)
		b.ReportAllocs()
		for b.Loop() {
			r := benchRetained{created, v.Name, v.Email, v.Phone, v.Address, v.NID}
			if err := p.Protect(ctx, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("floor/no-retain", func(b *testing.B) {
		p, _ := newProtector(b)
		b.ReportAllocs()
		for b.Loop() {
			r := benchPlain{created, v.Name, v.Email, v.Phone, v.Address, v.NID}
			if err := p.Protect(ctx, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
