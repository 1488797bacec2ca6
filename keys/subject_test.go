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
	piitest.TestSubjectKeyRestore(t, store, func(*testing.T) { backup = store.Clone() }, func(*testing.T) keys.SubjectKeyStore { return backup })
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
