package keys_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/piitest"
)

func TestMemorySubjectKeyStore(t *testing.T) {
	piitest.TestSubjectKeyStore(t, func(t *testing.T, n int) []keys.SubjectKeyStore {
		s := keys.NewMemorySubjectKeyStore()
		out := make([]keys.SubjectKeyStore, n)
		for i := range out {
			out[i] = s
		}
		return out
	})
}

// TestReapplyErasuresMemory backs up a memory store, forgets subjects,
// restores the backup and re-applies the ledger.
func TestReapplyErasuresMemory(t *testing.T) {
	store := keys.NewMemorySubjectKeyStore()
	var backup *keys.MemorySubjectKeyStore
	testReapply(t, store, func() { backup = store.Clone() }, func() keys.SubjectKeyStore { return backup })
}

// testReapply: make keys, back up, forget one subject, withdraw a purpose
// of another, forget and re-allow a third (who then gets a fresh key),
// restore the backup, re-apply the ledger: the erased keys are gone again
// and the fresh key after consent... is not in the backup, so is absent.
func testReapply(t *testing.T, store keys.SubjectKeyStore, backUp func(), restore func() keys.SubjectKeyStore) {
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

func TestSubjectKeyErrorsAndStrings(t *testing.T) {
	e := keys.Erasure{Purpose: keys.AllPurposes, Destroyed: []string{"", "billing"}}
	assert.Contains(t, e.String(), "purpose=*")
	assert.Equal(t, "subject key base/aead", keys.SubjectKeyID{Subject: "secret", Kind: keys.KindAEAD}.String())
	assert.ErrorIs(t, fmt.Errorf("x: %w", keys.ErrErased), keys.ErrKeyDestroyed)
	assert.NotErrorIs(t, keys.ErrKeyDestroyed, keys.ErrErased, "a destroyed keyset key is not an erasure")
	_, err := keys.NewSubjectKeys(nil, keys.NewMemorySubjectKeyStore(), keys.NewMemoryLedger())
	assert.Error(t, err, "nil provider")
	var zero keys.SubjectKeys
	_, err = zero.Keys(context.Background(), nil)
	assert.Error(t, err, "zero SubjectKeys")
	_, err = zero.Forget(context.Background(), "x")
	assert.Error(t, err, "zero SubjectKeys")
	assert.Error(t, zero.Allow(context.Background(), "x"), "zero SubjectKeys")
	_, err = zero.Pseudonym(context.Background(), "x")
	assert.Error(t, err, "zero SubjectKeys")
	_, err = zero.ReapplyErasures(context.Background(), time.Time{})
	assert.Error(t, err, "zero SubjectKeys")
	_, err = zero.Rewrap(context.Background(), 0)
	assert.Error(t, err, "zero SubjectKeys")
	var nilKeys *keys.SubjectKeys
	_, _, err = nilKeys.Lookup(context.Background(), nil)
	assert.Error(t, err, "nil SubjectKeys")
	sk, err := keys.NewSubjectKeys(keys.NewMemory(), keys.NewMemorySubjectKeyStore(), keys.NewMemoryLedger())
	require.NoError(t, err)
	var nilCtx context.Context
	_, err = sk.Forget(nilCtx, "x")
	assert.Error(t, err, "nil context")
	_, err = sk.Keys(nilCtx, []keys.SubjectKeyID{{Subject: "x", Kind: keys.KindAEAD}})
	assert.Error(t, err, "nil context")
}

// BenchmarkSubjectKeysCached is Keys of one cached key, beside its floor:
// a map lookup of a cached *Keyset by subject and purpose.
func BenchmarkSubjectKeysCached(b *testing.B) {
	ctx := context.Background()
	sk, err := keys.NewSubjectKeys(keys.NewMemory(), keys.NewMemorySubjectKeyStore(), keys.NewMemoryLedger())
	require.NoError(b, err)
	ids := []keys.SubjectKeyID{{Subject: "customer-42", Purpose: "billing", Kind: keys.KindAEAD}}
	ks, err := sk.Keys(ctx, ids)
	require.NoError(b, err)
	b.Run("Keys", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := sk.Keys(ctx, ids); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("floor/map", func(b *testing.B) {
		m := map[[2]string]*keys.Keyset{{"customer-42", "billing"}: ks[0]}
		b.ReportAllocs()
		var out []*keys.Keyset
		for b.Loop() {
			out = append(out[:0], m[[2]string{ids[0].Subject, ids[0].Purpose}])
		}
		_ = out
	})
}
