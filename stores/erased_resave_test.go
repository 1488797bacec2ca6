package stores_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

// TestResaveAfterErasureSQL: over the SQLite and PostgreSQL subject-key
// stores, a record read back after Withdraw or Forget saves again (empty
// values of an erased key need none; values still sealed under it are
// kept), it reads as erased, and new data for the erased purpose is
// refused with ErrErased naming the field.
func TestResaveAfterErasureSQL(t *testing.T) {
	for _, o := range subjectSQLStores {
		t.Run(o.name, func(t *testing.T) {
			store, ledger := o.open(t)
			provider := keys.NewMemory()
			sk, err := keys.NewSubjectKeys(provider, store, ledger)
			require.NoError(t, err)
			p, err := pii.New(provider, pii.WithSubjectKeys(sk))
			require.NoError(t, err)

			c := subjectRecord{ID: "resave-1", Email: "old@example.com", Phone: "+45 1", Promo: "cats"}
			require.NoError(t, p.Protect(ctx, &c))
			stored := c
			_, err = p.Withdraw(ctx, "resave-1", "marketing")
			require.NoError(t, err)

			rep, err := p.RevealReport(ctx, &c)
			require.NoError(t, err)
			require.Equal(t, []string{"subjectRecord.Promo"}, rep.Erased)
			c.Email = "new@example.com"
			require.NoError(t, p.Protect(ctx, &c), "the read-back record saves again")
			assert.Equal(t, "", c.Promo, "nothing sealed under the withdrawn key")
			rep, err = p.RevealReport(ctx, &c)
			require.NoError(t, err)
			assert.Equal(t, []string{"subjectRecord.Promo"}, rep.Erased, "an empty value of an erased key reads as erased")
			assert.Equal(t, "new@example.com", c.Email)

			fresh := subjectRecord{ID: "resave-1", Email: "fresh@example.com"}
			require.NoError(t, p.Protect(ctx, &fresh), "a fresh struct with an empty withdrawn field")

			again := stored
			require.NoError(t, p.Protect(ctx, &again), "the stored row, still sealed, re-protects")
			assert.Empty(t, again.Promo, "the shredded value is replaced by the zero value")
			want := stored
			want.Promo = ""
			assert.Equal(t, want, again, "the other fields kept as they are")

			err = p.Protect(ctx, &subjectRecord{ID: "resave-1", Email: "e", Promo: "dogs"})
			require.ErrorIs(t, err, pii.ErrErased)
			var fe *pii.FieldError
			require.True(t, errors.As(err, &fe), "Protect = %v, want a *pii.FieldError", err)
			assert.Equal(t, "subjectRecord.Promo", fe.Path)

			tampered := stored
			tampered.Email = tampered.Email[:len(tampered.Email)-4] + "AAAA"
			assert.ErrorIs(t, p.Protect(ctx, &tampered), pii.ErrDecryption, "tampered bytes of a live key")

			_, err = p.Forget(ctx, "resave-1")
			require.NoError(t, err)
			empty := subjectRecord{ID: "resave-1"}
			require.NoError(t, p.Protect(ctx, &empty), "after Forget, a record with only empty fields saves")
			assert.Equal(t, subjectRecord{ID: "resave-1"}, empty)
			old := stored
			require.NoError(t, p.Protect(ctx, &old), "after Forget, the stored row saves")
			rep, err = p.RevealReport(ctx, &old)
			require.NoError(t, err)
			assert.Equal(t, []string{"subjectRecord.Email", "subjectRecord.Phone", "subjectRecord.Promo"}, rep.Erased)
		})
	}
}
