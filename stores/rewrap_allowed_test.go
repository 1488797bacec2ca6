package stores_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

// TestRewrapLegacyAfterAllowSQL: on the SQL stores, values stored before
// subjectRecord had a subject field ("tl1e:", "tl1d:") of a subject whose
// keys Forget destroyed are not moved while the subject is erased
// (ErrErased) and read as erased, and after Allow are moved under new
// subject keys, which another instance reads; the old keys stay destroyed.
func TestRewrapLegacyAfterAllowSQL(t *testing.T) {
	for _, o := range subjectSQLStores {
		t.Run(o.name, func(t *testing.T) {
			instance, _ := subjectInstances(t, o.open)
			p := instance()
			legacy := legacySubjectRecord(t, p, subjectRecord{ID: "s-1", Email: "a@example.com", Phone: "+45 1", Promo: "cats"})
			keyed := subjectRecord{ID: "s-1", Email: "b@example.com", Promo: "dogs"}
			require.NoError(t, p.Protect(ctx, &keyed))
			_, err := p.Forget(ctx, "s-1")
			require.NoError(t, err)

			hidden := legacy
			rep, err := instance().RevealReport(ctx, &hidden)
			require.NoError(t, err)
			assert.Equal(t, subjectRecord{ID: "s-1"}, hidden, "another instance reads the forgotten subject's old values as erased")
			assert.Len(t, rep.Erased, 3)

			refused := legacy
			_, err = p.Rewrap(ctx, &refused)
			assert.ErrorIs(t, err, pii.ErrErased, "erased and not allowed: no key is made")
			assert.Equal(t, legacy, refused)

			require.NoError(t, p.Allow(ctx, "s-1"))
			moved := legacy
			n, err := p.Rewrap(ctx, &moved)
			require.NoError(t, err)
			assert.Equal(t, 3, n)
			assert.True(t, strings.HasPrefix(moved.Promo, "tl1s:"), "Promo = %q", moved.Promo)
			got := moved
			rep, err = instance().RevealReport(ctx, &got)
			require.NoError(t, err)
			assert.True(t, rep.Complete(), "%+v", rep)
			assert.Equal(t, subjectRecord{ID: "s-1", Email: "a@example.com", Phone: "+45 1", Promo: "cats"}, got)
			gone := keyed
			rep, err = instance().RevealReport(ctx, &gone)
			require.NoError(t, err)
			assert.Equal(t, []string{"subjectRecord.Email", "subjectRecord.Phone", "subjectRecord.Promo"}, rep.Erased, "the destroyed keys stay destroyed")
		})
	}
}

// legacySubjectRecord returns r protected as it was before subjectRecord
// had a subject field: under the field keysets, bound to the same type
// and field names.
func legacySubjectRecord(t *testing.T, p *pii.Protector, r subjectRecord) subjectRecord {
	t.Helper()
	type subjectRecord struct {
		ID    string `pii:"-"`
		Email string `pii:"encrypt"`
		Phone string `pii:"deterministic"`
		Promo string `pii:"encrypt,purpose=marketing"`
	}
	old := subjectRecord(r)
	require.NoError(t, p.Protect(ctx, &old))
	require.True(t, strings.HasPrefix(old.Email, "tl1e:"))
	return struct {
		ID    string `pii:"subject"`
		Email string `pii:"encrypt"`
		Phone string `pii:"deterministic"`
		Promo string `pii:"encrypt,purpose=marketing"`
	}(old)
}
