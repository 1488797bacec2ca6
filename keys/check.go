package keys

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/keyset"
)

// checkLabel is the associated data and PRF input of the round trips that
// [Check] makes; nothing it produces is stored.
const checkLabel = "tillid/v1/keys-check"

// Check is the start-up check of a key store: it verifies that provider
// serves every keyset in needs and that each is usable, so that a
// misconfigured instance (a wrong path, database, key name or KEK, a KMS it
// may not call) fails before it serves a request instead of at the first
// value it protects or reveals. For each keyset it asks provider.Keyset
// with ctx (a SQL store reads the row and unwraps it under its KEK, so the
// KMS is called once per keyset not cached), then checks that the keyset
// is of the kind asked for, that its primary key is enabled, and that its
// primitive works: an encryption under the primary that decrypts again
// (AEAD, deterministic AEAD), or a 16-byte output of the primary PRF.
//
// Check returns nil when every keyset passes. Otherwise it returns, after
// checking them all, one error that joins (errors.Join) an error per
// failing keyset, each naming the keyset ("name/kind") and wrapping its
// cause, so that errors.Is finds [ErrKeysetNotFound] (a missing keyset;
// also [ErrKeyNotFound]), [ErrNoPrimaryKey] (no enabled primary, or the
// wrong kind), [ErrKMSUnavailable] (the KEK could not be called;
// [ErrKMSAccessDenied] too when it refused the credentials or permissions),
// [ErrWrongKEK] and [ErrInvalidKind]. An empty needs is an
// error: a check of nothing passes any store. The error names keysets and
// key IDs only, never key material.
//
// Check only reads. A store opened with [WithCreateMissing], and a memory
// store, create missing keysets when asked for them, so Check passes there
// by making them: run it against the store as production opens it. It is
// safe for concurrent use when provider is.
func Check(ctx context.Context, provider Provider, needs ...KeysetID) error {
	if provider == nil {
		return fmt.Errorf("keys: Check with a nil provider: %w", ErrKeyNotFound)
	}
	if len(needs) == 0 {
		return errors.New("keys: Check of no keysets; name the keysets the service needs")
	}
	var errs []error
	seen := make(map[KeysetID]bool, len(needs))
	for _, id := range needs {
		if seen[id] {
			continue
		}
		seen[id] = true
		if err := checkKeyset(ctx, provider, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkKeyset is Check of one keyset.
func checkKeyset(ctx context.Context, provider Provider, id KeysetID) error {
	ks, err := provider.Keyset(ctx, id.Name, id.Kind)
	if err != nil {
		return fmt.Errorf("keys: check of keyset %s: %w", id, err)
	}
	if ks == nil || ks.Kind() != id.Kind {
		return fmt.Errorf("keys: check of keyset %s: the provider returned %v: %w", id, ks, ErrNoPrimaryKey)
	}
	if st, ok := ks.Status(ks.PrimaryKeyID()); !ok || st != keyset.Enabled {
		return fmt.Errorf("keys: check of keyset %s: primary key %d is not enabled: %w", id, ks.PrimaryKeyID(), ErrNoPrimaryKey)
	}
	probe := []byte(checkLabel)
	// roundTrip encrypts probe under the primary and decrypts it again.
	roundTrip := func(encrypt, decrypt func(b, associatedData []byte) ([]byte, error)) error {
		ct, err := encrypt(probe, probe)
		if err == nil {
			var pt []byte
			if pt, err = decrypt(ct, probe); err == nil && !bytes.Equal(pt, probe) {
				err = errors.New("decryption returned another plaintext")
			}
		}
		if err != nil {
			return fmt.Errorf("keys: check of keyset %s: a round trip under primary key %d failed (%v): %w", id, ks.PrimaryKeyID(), err, ErrNoPrimaryKey)
		}
		return nil
	}
	switch id.Kind {
	case KindAEAD:
		a, err := ks.AEAD()
		if err != nil {
			return fmt.Errorf("keys: check of keyset %s: %w", id, err)
		}
		return roundTrip(a.Encrypt, a.Decrypt)
	case KindDeterministicAEAD:
		d, err := ks.DeterministicAEAD()
		if err != nil {
			return fmt.Errorf("keys: check of keyset %s: %w", id, err)
		}
		return roundTrip(d.EncryptDeterministically, d.DecryptDeterministically)
	case KindPRF:
		set, err := ks.PRF()
		if err != nil {
			return fmt.Errorf("keys: check of keyset %s: %w", id, err)
		}
		p, ok := set.PRFs[set.PrimaryID]
		if !ok {
			return fmt.Errorf("keys: check of keyset %s: no PRF for primary key %d: %w", id, set.PrimaryID, ErrNoPrimaryKey)
		}
		if _, err := p.ComputePRF(probe, 16); err != nil {
			return fmt.Errorf("keys: check of keyset %s: the primary PRF failed (%v): %w", id, err, ErrNoPrimaryKey)
		}
	default:
		return fmt.Errorf("keys: check of keyset %s: %w", id, ErrInvalidKind)
	}
	return nil
}
