package stores_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/piitest"
)

// subjectRecord is a customer record under its subject's keys.
type subjectRecord struct {
	ID    string `pii:"subject"`
	Email string `pii:"encrypt"`
	Phone string `pii:"deterministic"`
	Promo string `pii:"encrypt,purpose=marketing"`
}

// plainRecord is the same record without a subject: under the field
// keysets.
type plainRecord struct {
	ID    string `pii:"-"`
	Email string `pii:"encrypt"`
	Phone string `pii:"deterministic"`
	Promo string `pii:"encrypt"`
}

// BenchmarkProtectNewSubjects protects 10,000 records of 10,000 new
// subjects in one Protect call, on SQLite and PostgreSQL, and reports the
// store round trips and KEK calls of the call and the records per second,
// beside its floor: the same records without a subject field, under field
// keysets (no subject keys made). The subject-key rows themselves are
// measured against plain SQL in BenchmarkSubjectKeysCreate.
func BenchmarkProtectNewSubjects(b *testing.B) {
	const n = 10_000
	ctx := context.Background()
	for _, be := range subjectBackends() {
		b.Run(be.name, func(b *testing.B) {
			store, _, _ := be.open(b)
			local, err := keys.NewLocalKEK(piitest.MasterKey())
			require.NoError(b, err)
			kek := &subjectKEKCounter{AEAD: local}
			provider, err := keys.OpenSQLite(ctx, openSubjectSQLite(b, "sqlite", filepath.Join(b.TempDir(), "keysets.db")), kek, keys.WithCreateMissing())
			require.NoError(b, err)
			sk, err := keys.NewSubjectKeys(provider, store, keys.NewMemoryLedger())
			require.NoError(b, err)
			p, err := pii.New(provider, pii.WithSubjectKeys(sk))
			require.NoError(b, err)
			warm := []subjectRecord{{ID: "warm-up", Email: "e", Phone: "p", Promo: "m"}}
			require.NoError(b, p.Protect(ctx, &warm))
			warmPlain := []plainRecord{{ID: "warm-up", Email: "e", Phone: "p", Promo: "m"}}
			require.NoError(b, p.Protect(ctx, &warmPlain))

			b.Run("pii.Protect/subjects", func(b *testing.B) {
				b.ReportAllocs()
				var trips, kekCalls int64
				round := 0
				for b.Loop() {
					b.StopTimer()
					rows := make([]subjectRecord, n)
					for i := range rows {
						rows[i] = subjectRecord{ID: fmt.Sprintf("r%d-s%d", round, i), Email: "someone@example.com", Phone: "+45 12 34 56 78", Promo: "likes cats"}
					}
					round++
					before, kekBefore := roundTrips.Load(), kek.n.Load()
					b.StartTimer()
					if err := p.Protect(ctx, &rows); err != nil {
						b.Fatal(err)
					}
					trips += roundTrips.Load() - before
					kekCalls += kek.n.Load() - kekBefore
				}
				b.ReportMetric(float64(trips)/float64(b.N), "roundtrips/op")
				b.ReportMetric(float64(kekCalls)/float64(b.N), "kekcalls/op")
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
			})
			b.Run("floor/no-subject", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					rows := make([]plainRecord, n)
					for i := range rows {
						rows[i] = plainRecord{ID: fmt.Sprint(i), Email: "someone@example.com", Phone: "+45 12 34 56 78", Promo: "likes cats"}
					}
					b.StartTimer()
					if err := p.Protect(ctx, &rows); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
			})
		})
	}
}
