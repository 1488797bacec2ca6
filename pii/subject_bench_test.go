package pii_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

// fiveSubject is a 5-field record under its subject's keys, fivePlain the
// same record without a subject field, under the field keysets.
type fiveSubject struct {
	ID      string `pii:"subject"`
	Name    string `pii:"encrypt"`
	Email   string `pii:"encrypt"`
	Phone   string `pii:"deterministic"`
	Address string `pii:"encrypt"`
	Promo   string `pii:"encrypt,purpose=marketing"`
}

type fivePlain struct {
	ID      string `pii:"-"`
	Name    string `pii:"encrypt"`
	Email   string `pii:"encrypt"`
	Phone   string `pii:"deterministic"`
	Address string `pii:"encrypt"`
	Promo   string `pii:"encrypt"`
}

// subjectRecords returns a Protector with subject keys (a memory store,
// so that keys stay cached), the two records in clear and protected.
func subjectRecords(b *testing.B) (p *pii.Protector, subj fiveSubject, plain fivePlain, sealedSubj fiveSubject, sealedPlain fivePlain) {
	ctx := context.Background()
	provider := keys.NewMemory()
	sk, err := keys.NewSubjectKeys(provider, keys.NewMemorySubjectKeyStore(), keys.NewMemoryLedger())
	require.NoError(b, err)
	p, err = pii.New(provider, pii.WithSubjectKeys(sk))
	require.NoError(b, err)
	subj = fiveSubject{ID: "c-42", Name: "Ada Lovelace", Email: "ada@example.com", Phone: "+44 20 7946 0000", Address: "12 St James's Square, London", Promo: "likes engines"}
	plain = fivePlain{ID: "c-42", Name: subj.Name, Email: subj.Email, Phone: subj.Phone, Address: subj.Address, Promo: subj.Promo}
	sealedSubj, sealedPlain = subj, plain
	require.NoError(b, p.Protect(ctx, &sealedSubj))
	require.NoError(b, p.Protect(ctx, &sealedPlain))
	return p, subj, plain, sealedSubj, sealedPlain
}

// BenchmarkSubjectRecord protects and reveals a 5-field record under a
// cached subject key (memory store: the key is cached after the first
// call), beside its floor: the same record without a subject, under the
// field keysets. Goal: at most 1.3 times the floor.
func BenchmarkSubjectRecord(b *testing.B) {
	ctx := context.Background()
	p, subj, plain, sealedSubj, sealedPlain := subjectRecords(b)

	b.Run("Protect/subject", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v := subj
			if err := p.Protect(ctx, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Protect/floor-no-subject", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v := plain
			if err := p.Protect(ctx, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Reveal/subject", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v := sealedSubj
			if err := p.Reveal(ctx, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Reveal/floor-no-subject", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v := sealedPlain
			if err := p.Reveal(ctx, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPairedSubjectRecord runs BenchmarkSubjectRecord's two sides in
// alternating rounds (see paired) and reports their CPU-time ratio,
// subject / no subject.
func BenchmarkPairedSubjectRecord(b *testing.B) {
	ctx := context.Background()
	p, subj, plain, sealedSubj, sealedPlain := subjectRecords(b)
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Protect", func(b *testing.B) {
		paired(b, func() { v := subj; must(p.Protect(ctx, &v)) }, func() { v := plain; must(p.Protect(ctx, &v)) })
	})
	b.Run("Reveal", func(b *testing.B) {
		paired(b, func() { v := sealedSubj; must(p.Reveal(ctx, &v)) }, func() { v := sealedPlain; must(p.Reveal(ctx, &v)) })
	})
}
