package stores_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

// TestProtectorSubjectsSQL runs pii's subject keys over the SQL stores:
// one Protect of 1,000 new subjects in a few round trips, Forget and
// Withdraw seen by a second instance, and Forget racing Protect.
func TestProtectorSubjectsSQL(t *testing.T) {
	opens := subjectStoreOpens()
	for _, o := range opens {
		t.Run(o.name, func(t *testing.T) {
			store, ledger := o.open(t)
			provider := keys.NewMemory()
			instance := func() *pii.Protector {
				sk, err := keys.NewSubjectKeys(provider, store, ledger)
				require.NoError(t, err)
				p, err := pii.New(provider, pii.WithSubjectKeys(sk))
				require.NoError(t, err)
				return p
			}
			a := instance()
			rows := make([]subjectRecord, 1000)
			for i := range rows {
				rows[i] = subjectRecord{ID: fmt.Sprintf("s-%d", i), Email: fmt.Sprintf("p%d@example.com", i), Phone: "+45 1", Promo: "cats"}
			}
			want := append([]subjectRecord(nil), rows...)
			before := roundTrips.Load()
			require.NoError(t, a.Protect(ctx, &rows))
			trips := roundTrips.Load() - before
			t.Logf("Protect of 1,000 new subjects: %d store round trips", trips)
			assert.LessOrEqual(t, trips, int64(20), "the keys of one call's new subjects are made in one batch")

			_, err := a.Forget(ctx, "s-1")
			require.NoError(t, err)
			_, err = a.Withdraw(ctx, "s-2", "marketing")
			require.NoError(t, err)
			got := append([]subjectRecord(nil), rows...)
			rep, err := instance().RevealReport(ctx, &got)
			require.NoError(t, err, "a second instance, no cache")
			assert.Equal(t, []string{"[]stores_test.subjectRecord[1].Email", "[]stores_test.subjectRecord[1].Phone", "[]stores_test.subjectRecord[1].Promo", "[]stores_test.subjectRecord[2].Promo"}, rep.Erased)
			assert.Equal(t, subjectRecord{ID: "s-1"}, got[1])
			assert.Equal(t, subjectRecord{ID: "s-2", Email: want[2].Email, Phone: want[2].Phone}, got[2])
			assert.Equal(t, want[0], got[0])
			assert.Equal(t, want[999], got[999])

			// Fresh consent: old values still read as erased on another
			// instance, new ones reveal.
			require.NoError(t, a.Allow(ctx, "s-1"))
			require.NoError(t, a.Allow(ctx, "s-2", "marketing"))
			renewed := []subjectRecord{{ID: "s-1", Email: "new1@example.com", Phone: "+45 2", Promo: "dogs"}, {ID: "s-2", Email: "new2@example.com", Promo: "dogs"}}
			require.NoError(t, a.Protect(ctx, &renewed), "Protect after Allow makes new keys")
			old := []subjectRecord{rows[1], rows[2]}
			rep, err = instance().RevealReport(ctx, &old)
			require.NoError(t, err, "old values after Allow")
			assert.Equal(t, []string{"[]stores_test.subjectRecord[0].Email", "[]stores_test.subjectRecord[0].Phone", "[]stores_test.subjectRecord[0].Promo", "[]stores_test.subjectRecord[1].Promo"}, rep.Erased, "the tombstones survive Allow")
			require.NoError(t, instance().Reveal(ctx, &renewed))
			assert.Equal(t, "new1@example.com", renewed[0].Email)
			assert.Equal(t, "dogs", renewed[1].Promo)

			// Forget racing Protect of the same new subject.
			var wg sync.WaitGroup
			var mu sync.Mutex
			var sealed []subjectRecord
			for range 4 {
				wg.Go(func() {
					for range 5 {
						r := subjectRecord{ID: "racer", Email: "r@example.com"}
						orig := r
						if err := a.Protect(context.Background(), &r); err != nil {
							assert.ErrorIs(t, err, pii.ErrErased)
							assert.Equal(t, orig, r)
							continue
						}
						mu.Lock()
						sealed = append(sealed, r)
						mu.Unlock()
					}
				})
			}
			_, err = a.Forget(ctx, "racer")
			require.NoError(t, err)
			wg.Wait()
			fresh := instance()
			for _, r := range sealed {
				_, err := fresh.RevealReport(ctx, &r)
				require.NoError(t, err)
				assert.Empty(t, r.Email, "readable after Forget returned")
			}
		})
	}
}

// subjectStoreOpens opens a subject-key store and a ledger on SQLite
// (files in a temporary directory) and on PostgreSQL (internal/pgtest),
// counting the key store's round trips.
func subjectStoreOpens() []subjectStoreOpen {
	return []subjectStoreOpen{
		{"SQLite", func(t *testing.T) (keys.SubjectKeyStore, keys.Ledger) {
			dir := t.TempDir()
			store, err := keys.OpenSQLiteSubjectKeyStore(ctx, openCounting(t, "sqlite", "file:"+filepath.Join(dir, "keys.db")+sqliteSubjectPragmas))
			require.NoError(t, err)
			ledger, err := keys.OpenSQLiteLedger(ctx, openSubjectSQLite(t, "sqlite", filepath.Join(dir, "ledger.db")))
			require.NoError(t, err)
			return store, ledger
		}},
		{"PostgreSQL", func(t *testing.T) (keys.SubjectKeyStore, keys.Ledger) {
			store, err := keys.OpenPostgresSubjectKeyStore(ctx, openCounting(t, "pgx", pgtest.DSN(t)))
			require.NoError(t, err)
			ldb, err := sql.Open("pgx", pgtest.DSN(t))
			require.NoError(t, err)
			t.Cleanup(func() { ldb.Close() })
			ledger, err := keys.OpenPostgresLedger(ctx, ldb)
			require.NoError(t, err)
			return store, ledger
		}},
	}
}

// subjectStoreOpen is one of subjectStoreOpens.
type subjectStoreOpen struct {
	name string
	open func(t *testing.T) (keys.SubjectKeyStore, keys.Ledger)
}
