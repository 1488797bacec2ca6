package piitest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/tillid/tillid/keys"
)

// MakeProvider returns a new, empty keyset store for one subtest of
// [TestProvider], and reopen, which opens the same storage again as
// another process would (nil for a store that keeps nothing, such as
// keys.NewMemory). Both may register clean-ups on t.
type MakeProvider func(t *testing.T) (store keys.Manager, reopen func(t *testing.T) keys.Manager)

// TestProvider is the conformance suite for keyset stores (keys.Manager):
// every store that hands keysets to pii must pass it. It checks, as
// subtests: that a keyset is created with one primary key on first use and
// the same *keys.Keyset is returned until it changes; that KindUnknown and
// invalid names are refused with keys.ErrInvalidKind and
// keys.ErrKeyNotFound; every key state transition (rotate, disable,
// enable, destroy, including the refused ones and their sentinels) and
// that a destroyed key's material is gone while its ID is kept; that
// ciphertexts under older keys decrypt after rotations; List; that
// concurrent rotations on two handles are all kept; that states persist
// across a reopen; that a change under a cancelled context is all or
// nothing; and that Import takes a plain-Tink keyset whose values then
// read, and Export writes one plain Tink reads under another KEK, without
// a destroyed key.
func TestProvider(t *testing.T, newStore MakeProvider) {
	t.Helper()
	ctx := context.Background()

	t.Run("FirstUse", func(t *testing.T) {
		s, _ := newStore(t)
		for _, kind := range []keys.Kind{keys.KindAEAD, keys.KindDeterministicAEAD, keys.KindPRF} {
			ks, err := s.Keyset(ctx, "default", kind)
			require.NoError(t, err, "Keyset(default, %v)", kind)
			assert.Equal(t, kind, ks.Kind())
			assert.Equal(t, "default", ks.Name())
			require.Len(t, ks.Keys(), 1, "a new keyset holds one key")
			assert.True(t, ks.Keys()[0].Primary, "the one key is primary")
			assert.Equal(t, ks.PrimaryKeyID(), ks.Keys()[0].KeyID)
			again, err := s.Keyset(ctx, "default", kind)
			require.NoError(t, err)
			assert.Same(t, ks, again, "Keyset returned another *Keyset for an unchanged keyset")
		}
	})

	t.Run("InvalidArguments", func(t *testing.T) {
		s, _ := newStore(t)
		tests := []struct {
			name    string
			keyName string
			kind    keys.Kind
			want    error
		}{
			{"unknown kind", "default", keys.KindUnknown, keys.ErrInvalidKind},
			{"empty name", "", keys.KindAEAD, keys.ErrKeyNotFound},
			{"upper case", "Default", keys.KindAEAD, keys.ErrKeyNotFound},
			{"path", "../etc", keys.KindAEAD, keys.ErrKeyNotFound},
		}
		for _, tt := range tests {
			_, err := s.Keyset(ctx, tt.keyName, tt.kind)
			assert.ErrorIs(t, err, tt.want, "%s: Keyset(%q, %v)", tt.name, tt.keyName, tt.kind)
		}
		ids, err := s.List(ctx)
		require.NoError(t, err)
		assert.Empty(t, ids, "refused keysets were created")
	})

	t.Run("Transitions", func(t *testing.T) {
		s, reopen := newStore(t)
		const name = "default"
		first, err := s.Keyset(ctx, name, keys.KindAEAD)
		require.NoError(t, err)
		k1 := first.PrimaryKeyID()
		a1, err := first.AEAD()
		require.NoError(t, err)
		old, err := a1.Encrypt([]byte("old value"), []byte("ad"))
		require.NoError(t, err)
		k2, err := s.Rotate(ctx, name, keys.KindAEAD)
		require.NoError(t, err, "Rotate")
		k3, err := s.Rotate(ctx, name, keys.KindAEAD)
		require.NoError(t, err, "Rotate")
		require.NotEqual(t, k1, k2)
		require.NotEqual(t, k2, k3)

		status := func(id uint32) keyset.KeyStatus {
			ks, err := s.Keyset(ctx, name, keys.KindAEAD)
			require.NoError(t, err)
			st, _ := ks.Status(id)
			return st
		}
		// k1 and k2 enabled, k3 primary.
		tests := []struct {
			name       string
			op         func() error
			wantErr    error // nil: success; errAny: any error
			keyID      uint32
			wantStatus keyset.KeyStatus
			reason     string
		}{
			{name: "disable enabled", op: func() error { return s.Disable(ctx, name, keys.KindAEAD, k1) }, keyID: k1, wantStatus: keyset.Disabled},
			{name: "disable disabled", op: func() error { return s.Disable(ctx, name, keys.KindAEAD, k1) }, keyID: k1, wantStatus: keyset.Disabled, reason: "idempotent"},
			{name: "enable disabled", op: func() error { return s.Enable(ctx, name, keys.KindAEAD, k1) }, keyID: k1, wantStatus: keyset.Enabled},
			{name: "enable enabled", op: func() error { return s.Enable(ctx, name, keys.KindAEAD, k1) }, keyID: k1, wantStatus: keyset.Enabled, reason: "idempotent"},
			{name: "destroy enabled", op: func() error { return s.Destroy(ctx, name, keys.KindAEAD, k2) }, wantErr: errAny, keyID: k2, wantStatus: keyset.Enabled, reason: "a key is disabled before it is destroyed"},
			{name: "disable primary", op: func() error { return s.Disable(ctx, name, keys.KindAEAD, k3) }, wantErr: errAny, keyID: k3, wantStatus: keyset.Enabled, reason: "rotate first"},
			{name: "destroy primary", op: func() error { return s.Destroy(ctx, name, keys.KindAEAD, k3) }, wantErr: errAny, keyID: k3, wantStatus: keyset.Enabled},
			{name: "disable k1 again", op: func() error { return s.Disable(ctx, name, keys.KindAEAD, k1) }, keyID: k1, wantStatus: keyset.Disabled},
			{name: "destroy disabled", op: func() error { return s.Destroy(ctx, name, keys.KindAEAD, k1) }, keyID: k1, wantStatus: keyset.Destroyed},
			{name: "destroy destroyed", op: func() error { return s.Destroy(ctx, name, keys.KindAEAD, k1) }, keyID: k1, wantStatus: keyset.Destroyed, reason: "idempotent"},
			{name: "enable destroyed", op: func() error { return s.Enable(ctx, name, keys.KindAEAD, k1) }, wantErr: keys.ErrKeyDestroyed, keyID: k1, wantStatus: keyset.Destroyed, reason: "destruction cannot be undone"},
			{name: "disable destroyed", op: func() error { return s.Disable(ctx, name, keys.KindAEAD, k1) }, wantErr: keys.ErrKeyDestroyed, keyID: k1, wantStatus: keyset.Destroyed},
			{name: "destroy unknown", op: func() error { return s.Destroy(ctx, name, keys.KindAEAD, 4242) }, wantErr: keys.ErrKeyNotFound, keyID: k3, wantStatus: keyset.Enabled},
			{name: "destroy in unknown keyset", op: func() error { return s.Destroy(ctx, "nope", keys.KindAEAD, k1) }, wantErr: keys.ErrKeyNotFound, keyID: k3, wantStatus: keyset.Enabled},
		}
		for _, tt := range tests {
			err := tt.op()
			switch tt.wantErr {
			case nil:
				assert.NoError(t, err, "%s (%s)", tt.name, tt.reason)
			case errAny:
				assert.Error(t, err, "%s (%s)", tt.name, tt.reason)
			default:
				assert.ErrorIs(t, err, tt.wantErr, "%s (%s)", tt.name, tt.reason)
			}
			assert.Equal(t, tt.wantStatus, status(tt.keyID), "%s: status of key %d (%s)", tt.name, tt.keyID, tt.reason)
		}

		check := func(t *testing.T, m keys.Manager) {
			ks, err := m.Keyset(ctx, name, keys.KindAEAD)
			require.NoError(t, err)
			assert.Equal(t, 2, ks.Handle().Len(), "the Tink keyset must not hold the destroyed key's material")
			assert.ErrorIs(t, ks.CheckKeyID(k1), keys.ErrKeyDestroyed, "CheckKeyID(destroyed)")
			_, err = ks.ForKey(k1)
			assert.ErrorIs(t, err, keys.ErrKeyDestroyed, "ForKey(destroyed)")
			sawDestroyed := false
			for _, ki := range ks.Keys() {
				assert.False(t, ki.Created.IsZero(), "key %d has no creation time", ki.KeyID)
				if ki.KeyID == k1 {
					sawDestroyed = ki.Status == keyset.Destroyed && !ki.Destroyed.IsZero()
				}
			}
			assert.True(t, sawDestroyed, "Keys() = %+v, want key %d listed as destroyed with a time", ks.Keys(), k1)
			assert.Contains(t, ks.String(), "Destroyed", "String() lists the destroyed key")
			assert.Equal(t, k3, ks.PrimaryKeyID())
			a, err := ks.AEAD()
			require.NoError(t, err)
			_, err = a.Decrypt(old, []byte("ad"))
			assert.Error(t, err, "a ciphertext under the destroyed key decrypted")
		}
		check(t, s)
		if reopen != nil {
			t.Run("Reopened", func(t *testing.T) { check(t, reopen(t)) })
		}
	})

	t.Run("OldKeysDecrypt", func(t *testing.T) {
		s, reopen := newStore(t)
		ks, err := s.Keyset(ctx, "crm", keys.KindAEAD)
		require.NoError(t, err)
		a, err := ks.AEAD()
		require.NoError(t, err)
		ct, err := a.Encrypt([]byte("value"), []byte("ad"))
		require.NoError(t, err)
		for range 2 {
			_, err := s.Rotate(ctx, "crm", keys.KindAEAD)
			require.NoError(t, err)
		}
		handles := []keys.Manager{s}
		if reopen != nil {
			handles = append(handles, reopen(t))
		}
		for i, m := range handles {
			ks, err := m.Keyset(ctx, "crm", keys.KindAEAD)
			require.NoError(t, err)
			assert.Len(t, ks.Keys(), 3, "handle %d", i)
			a, err := ks.AEAD()
			require.NoError(t, err)
			pt, err := a.Decrypt(ct, []byte("ad"))
			require.NoError(t, err, "handle %d: Decrypt under the first key after two rotations", i)
			assert.Equal(t, "value", string(pt))
		}
	})

	t.Run("List", func(t *testing.T) {
		s, _ := newStore(t)
		for _, id := range []keys.KeysetID{{Name: "b", Kind: keys.KindPRF}, {Name: "a", Kind: keys.KindDeterministicAEAD}, {Name: "a", Kind: keys.KindAEAD}} {
			_, err := s.Keyset(ctx, id.Name, id.Kind)
			require.NoError(t, err)
		}
		list, err := s.List(ctx)
		require.NoError(t, err)
		var got []string
		for _, ks := range list {
			got = append(got, ks.Name()+"/"+ks.Kind().String())
		}
		want := []string{"a/" + keys.KindAEAD.String(), "a/" + keys.KindDeterministicAEAD.String(), "b/" + keys.KindPRF.String()}
		assert.Equal(t, want, got, "List sorts by name, then kind")
	})

	t.Run("ConcurrentRotations", func(t *testing.T) {
		s, reopen := newStore(t)
		handles := []keys.Manager{s, s}
		if reopen != nil {
			handles[1] = reopen(t)
		}
		_, err := s.Keyset(ctx, "shared", keys.KindAEAD)
		require.NoError(t, err)
		const goroutines, rounds = 4, 3
		var wg sync.WaitGroup
		errs := make(chan error, goroutines*rounds)
		for g := range goroutines {
			wg.Go(func() {
				for range rounds {
					if _, err := handles[g%2].Rotate(ctx, "shared", keys.KindAEAD); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			assert.NoError(t, err, "Rotate")
		}
		m := s
		if reopen != nil {
			m = reopen(t)
		}
		ks, err := m.Keyset(ctx, "shared", keys.KindAEAD)
		require.NoError(t, err)
		assert.Len(t, ks.Keys(), 1+goroutines*rounds, "concurrent rotations were lost")
	})

	t.Run("ImportExport", func(t *testing.T) { testImportExport(t, newStore) })

	t.Run("ContextCancelled", func(t *testing.T) {
		s, _ := newStore(t)
		ks, err := s.Keyset(ctx, "default", keys.KindAEAD)
		require.NoError(t, err)
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		newID, err := s.Rotate(cancelled, "default", keys.KindAEAD)
		after, err2 := s.Keyset(ctx, "default", keys.KindAEAD)
		require.NoError(t, err2)
		if err != nil {
			assert.Len(t, after.Keys(), len(ks.Keys()), "a failed Rotate changed the keyset")
			assert.Equal(t, ks.PrimaryKeyID(), after.PrimaryKeyID(), "a failed Rotate changed the primary")
		} else {
			assert.Equal(t, newID, after.PrimaryKeyID(), "a Rotate that succeeded is not in the keyset")
		}
	})
}

// errAny marks a table row of [TestProvider] that wants some error.
var errAny = errors.New("any error")
