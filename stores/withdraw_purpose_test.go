package stores_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

// TestWithdrawPurposeChecked: on the SQL stores, Withdraw of a purpose no
// field can declare is pii.ErrInvalidPurpose with nothing destroyed and
// nothing in the ledger; a well-formed purpose the subject has no key of
// is recorded with an empty receipt, and the subject's data stays.
func TestWithdrawPurposeChecked(t *testing.T) {
	for _, o := range subjectSQLStores {
		t.Run(o.name, func(t *testing.T) {
			instance, ledger := subjectInstances(t, o.open)
			p := instance()
			rec := subjectRecord{ID: "s-1", Email: "a@example.com", Promo: "cats"}
			require.NoError(t, p.Protect(ctx, &rec))
			entries := func() int {
				e, err := ledger.Since(ctx, time.Time{})
				require.NoError(t, err)
				return len(e)
			}
			for _, purpose := range []string{"market.ing", "Marketing", "1st", "mark eting", "", "*", strings.Repeat("m", 65)} {
				_, err := p.Withdraw(ctx, "s-1", purpose)
				assert.ErrorIs(t, err, pii.ErrInvalidPurpose, "Withdraw(%q)", purpose)
			}
			assert.Equal(t, 0, entries(), "a refused withdrawal records nothing")
			e, err := p.Withdraw(ctx, "s-1", "marketting")
			require.NoError(t, err, "a well-formed purpose of no key is recorded")
			assert.Empty(t, e.Keys, "no key of that purpose was destroyed")
			assert.Equal(t, 1, entries())
			got := rec
			rep, err := p.RevealReport(ctx, &got)
			require.NoError(t, err)
			assert.True(t, rep.Complete(), "nothing of the subject was erased: %+v", rep)
			assert.Equal(t, "cats", got.Promo)
			assert.ErrorIs(t, p.Allow(ctx, "s-1", "market.ing"), pii.ErrInvalidPurpose)
			assert.Equal(t, 1, entries(), "a refused Allow records nothing")
		})
	}
}
