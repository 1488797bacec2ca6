package piitest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
)

// TestReapplyErasures checks keys.SubjectKeys.ReapplyErasures over a
// store that can be backed up and restored: make keys, back up, forget one
// subject, withdraw a purpose of another, forget and re-allow a third (who
// then gets a fresh key), restore the backup, re-apply the ledger: the
// erased keys are gone again and the fresh key made after consent, which is
// not in the backup, is absent. backUp copies store; restore returns the
// copy as a store.
func TestReapplyErasures(t *testing.T, store keys.SubjectKeyStore, backUp func(), restore func() keys.SubjectKeyStore) {
	t.Helper()
	ctx := context.Background()
	provider := keys.NewMemory()
	ledger := keys.NewMemoryLedger()
	clock := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	sk, err := keys.NewSubjectKeys(provider, store, ledger, keys.WithSubjectClock(now))
	require.NoError(t, err)
	id := func(s, p string) keys.SubjectKeyID {
		return keys.SubjectKeyID{Subject: s, Purpose: p, Kind: keys.KindAEAD}
	}
	ids := []keys.SubjectKeyID{id("anna", ""), id("anna", "billing"), id("ben", ""), id("ben", "marketing"), id("cleo", ""), id("dan", "")}
	_, err = sk.Keys(ctx, ids)
	require.NoError(t, err)

	clock = clock.Add(time.Hour)
	backedUp := clock
	backUp()

	clock = clock.Add(time.Hour)
	_, err = sk.Forget(ctx, "anna")
	require.NoError(t, err)
	_, err = sk.Withdraw(ctx, "ben", "marketing")
	require.NoError(t, err)
	_, err = sk.Forget(ctx, "cleo")
	require.NoError(t, err)
	clock = clock.Add(time.Hour)
	require.NoError(t, sk.Allow(ctx, "cleo"))

	restored, err := keys.NewSubjectKeys(provider, restore(), ledger, keys.WithSubjectClock(now))
	require.NoError(t, err)
	_, errs, err := restored.Lookup(ctx, ids)
	require.NoError(t, err)
	for i := range ids {
		require.NoError(t, errs[i], "%v: the restored backup must hold every key (else the test proves nothing)", ids[i])
	}

	n, err := restored.ReapplyErasures(ctx, backedUp)
	require.NoError(t, err)
	assert.Equal(t, 4, n, "entries re-applied")
	_, errs, err = restored.Lookup(ctx, ids)
	require.NoError(t, err)
	tests := []struct {
		name   string
		want   error
		reason string
	}{
		{name: "anna base", want: keys.ErrErased},
		{name: "anna billing", want: keys.ErrErased},
		{name: "ben base", want: nil, reason: "only ben's marketing consent was withdrawn"},
		{name: "ben marketing", want: keys.ErrErased},
		{name: "cleo base", want: keys.ErrKeyNotFound, reason: "cleo was forgotten, then allowed again: her old key stays destroyed and she may get a new one"},
		{name: "dan base", want: nil},
	}
	for i, tt := range tests {
		if tt.want == nil {
			assert.NoError(t, errs[i], "%s: %s", tt.name, tt.reason)
		} else {
			assert.ErrorIs(t, errs[i], tt.want, "%s: %s", tt.name, tt.reason)
		}
	}
	again, err := restored.ReapplyErasures(ctx, backedUp)
	require.NoError(t, err, "a second ReapplyErasures")
	assert.Equal(t, n, again)
	_, err = restored.Keys(ctx, []keys.SubjectKeyID{id("cleo", "")})
	assert.NoError(t, err, "cleo was allowed again")
}
