package piitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// MakeKEK returns a key-encryption key for one subtest of [TestKEK]. Each
// call must return a KEK under a key of its own (a new KMS key, a new master
// key), so that the suite can check that one KEK does not decrypt another's
// ciphertexts. It may register clean-ups on t.
type MakeKEK func(t *testing.T) tink.AEAD

// TestKEK is the conformance suite for key-encryption keys, modelled on
// crypto/internal/cryptotest.TestAEAD: every KEK that a keyset store of
// package keys is given must pass it. It checks, as subtests, round trips
// of keyset-sized plaintexts (with and without a context when the KEK
// implements tink.AEADWithContext), that encryption is randomised, that
// associated data is bound, that tampered and truncated ciphertexts and
// ciphertexts of another key are refused, that an empty plaintext either is
// refused or round-trips, concurrent use from several goroutines, and, for
// a tink.AEADWithContext, that a cancelled context is refused with an error
// that wraps context.Canceled.
//
// Subtests call newKEK once or twice each; they do not run in parallel, so
// a KEK backed by a test server may be served by one process-wide server.
func TestKEK(t *testing.T, newKEK MakeKEK) {
	t.Helper()
	plaintext := bytes.Repeat([]byte("keyset bytes "), 20)
	associatedData := []byte("tillid/v1/keyset default/aead")

	t.Run("RoundTrip", func(t *testing.T) {
		kek := newKEK(t)
		for _, ad := range [][]byte{associatedData, nil} {
			ct, err := kek.Encrypt(plaintext, ad)
			require.NoError(t, err, "Encrypt")
			assert.NotContains(t, string(ct), string(plaintext[:13]), "the ciphertext holds the plaintext")
			got, err := kek.Decrypt(ct, ad)
			require.NoError(t, err, "Decrypt")
			assert.Equal(t, plaintext, got, "Decrypt(Encrypt(p)) != p")
		}
		withCtx, ok := kek.(tink.AEADWithContext)
		if !ok {
			return
		}
		ct, err := withCtx.EncryptWithContext(t.Context(), plaintext, associatedData)
		require.NoError(t, err, "EncryptWithContext")
		got, err := withCtx.DecryptWithContext(t.Context(), ct, associatedData)
		require.NoError(t, err, "DecryptWithContext")
		assert.Equal(t, plaintext, got)
		got, err = kek.Decrypt(ct, associatedData)
		require.NoError(t, err, "Decrypt of a ciphertext made by EncryptWithContext")
		assert.Equal(t, plaintext, got)
	})

	t.Run("Randomised", func(t *testing.T) {
		kek := newKEK(t)
		a, err := kek.Encrypt(plaintext, associatedData)
		require.NoError(t, err)
		b, err := kek.Encrypt(plaintext, associatedData)
		require.NoError(t, err)
		assert.NotEqual(t, a, b, "two encryptions of one plaintext are equal")
	})

	t.Run("AssociatedData", func(t *testing.T) {
		kek := newKEK(t)
		ct, err := kek.Encrypt(plaintext, associatedData)
		require.NoError(t, err)
		for _, ad := range [][]byte{[]byte("tillid/v1/keyset other/aead"), nil, associatedData[:len(associatedData)-1]} {
			_, err := kek.Decrypt(ct, ad)
			assert.Error(t, err, "Decrypt with associated data %q succeeded", ad)
		}
	})

	t.Run("Tampering", func(t *testing.T) {
		kek := newKEK(t)
		ct, err := kek.Encrypt(plaintext, associatedData)
		require.NoError(t, err)
		for _, i := range []int{0, len(ct) / 2, len(ct) - 1} {
			bad := bytes.Clone(ct)
			bad[i] ^= 0x01
			_, err := kek.Decrypt(bad, associatedData)
			assert.Error(t, err, "Decrypt with byte %d of %d flipped succeeded", i, len(ct))
		}
		for _, bad := range [][]byte{ct[:len(ct)-1], ct[:len(ct)/2], nil, append(bytes.Clone(ct), 0)} {
			_, err := kek.Decrypt(bad, associatedData)
			assert.Error(t, err, "Decrypt of a %d-byte ciphertext (from %d) succeeded", len(bad), len(ct))
		}
	})

	t.Run("WrongKey", func(t *testing.T) {
		kek, other := newKEK(t), newKEK(t)
		ct, err := kek.Encrypt(plaintext, associatedData)
		require.NoError(t, err)
		_, err = other.Decrypt(ct, associatedData)
		assert.Error(t, err, "a KEK decrypted another KEK's ciphertext")
	})

	t.Run("EmptyPlaintext", func(t *testing.T) {
		kek := newKEK(t)
		ct, err := kek.Encrypt(nil, associatedData)
		if err != nil {
			return // some KMSs (AWS) refuse empty plaintexts, which keysets never are
		}
		got, err := kek.Decrypt(ct, associatedData)
		require.NoError(t, err, "Decrypt of an empty plaintext's ciphertext")
		assert.Empty(t, got)
	})

	t.Run("Concurrent", func(t *testing.T) {
		kek := newKEK(t)
		const goroutines, rounds = 8, 5
		var wg sync.WaitGroup
		errs := make(chan error, goroutines*rounds)
		for g := range goroutines {
			wg.Go(func() {
				for r := range rounds {
					pt := fmt.Appendf(nil, "keyset %d/%d", g, r)
					ct, err := kek.Encrypt(pt, associatedData)
					if err != nil {
						errs <- err
						continue
					}
					got, err := kek.Decrypt(ct, associatedData)
					if err == nil && !bytes.Equal(got, pt) {
						err = fmt.Errorf("round trip of %q gave %q", pt, got)
					}
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			assert.NoError(t, err)
		}
	})

	t.Run("ContextCancelled", func(t *testing.T) {
		kek := newKEK(t)
		withCtx, ok := kek.(tink.AEADWithContext)
		if !ok {
			t.Skip("the KEK does not implement tink.AEADWithContext")
		}
		ct, err := withCtx.EncryptWithContext(t.Context(), plaintext, associatedData)
		require.NoError(t, err)
		cancelled, cancel := context.WithCancel(t.Context())
		cancel()
		_, err = withCtx.EncryptWithContext(cancelled, plaintext, associatedData)
		assert.True(t, errors.Is(err, context.Canceled), "EncryptWithContext(cancelled) = %v, want context.Canceled", err)
		_, err = withCtx.DecryptWithContext(cancelled, ct, associatedData)
		assert.True(t, errors.Is(err, context.Canceled), "DecryptWithContext(cancelled) = %v, want context.Canceled", err)
	})
}
