package pii

import (
	"context"
	"fmt"
	"strings"

	"github.com/tillid/tillid/internal/envelope"
	"github.com/tillid/tillid/tokenize"
)

// This file holds the stored-value operations of the token and PRF
// actions, for code that handles columns without their Go struct (see
// Column).

// storedToken is RewrapStored and RevealStored for a tokenize= column:
// FF1 tokens are decrypted (and, on rewrap, encrypted again under the
// domain's primary key); vault tokens are looked up on reveal and left as
// they are on rewrap, since the vault's rewrap moves their entries.
func (p *Protector) storedToken(ctx context.Context, col Column, f *fieldPlan, recordID, stored string, m verb) (string, bool, error) {
	path := func(err error) error { return &FieldError{Path: col.Type + "." + col.Field, Err: err} }
	t, ok := p.tokenizers[f.tag.domain]
	if !ok {
		return "", false, noTokenizer(f)
	}
	tweak := []byte(recordID)
	if _, isFPE := t.(fpeTokenizer); isFPE {
		tweak = ff1Tweak(f.adPrefix, tweak)
		if len(tweak) > tokenize.FPEMaxTweakSize {
			return "", false, fmt.Errorf("%w: with the record ID, the FF1 tweak is %d bytes, more than %d", ErrTooLong, len(tweak), tokenize.FPEMaxTweakSize)
		}
	}
	if !envelope.HasTokenPrefix(stored) {
		switch err := misplaced(unsafeBytes(stored)); {
		case err != nil:
			return "", false, path(err)
		case !f.tag.migrate:
			return "", false, ErrNotProtected
		case m == verbReveal:
			return stored, false, nil
		}
		out, err := t.tokenize(ctx, stored, tweak)
		if err != nil {
			return "", false, path(tokenErr(err))
		}
		return out, true, nil
	}
	if m == verbRewrap && !strings.HasPrefix(stored, fpePrefix) {
		if _, isFPE := t.(fpeTokenizer); isFPE {
			return "", false, path(misplaced(unsafeBytes(stored))) // a vault token in an FF1 column
		}
		return stored, false, nil // a vault token: tillid vault rewrap moves its entry
	}
	val, _, err := t.detokenize(ctx, stored, tweak)
	if err != nil {
		return "", false, path(tokenErr(err))
	}
	if m == verbReveal {
		return val, true, nil
	}
	out, err := t.tokenize(ctx, val, tweak)
	if err != nil {
		return "", false, path(tokenErr(err))
	}
	return out, out != stored, nil
}

// IndexStored returns the stored form, as a string column holds it, of an
// index (ActionBlindIndex) or pseudonym (ActionPseudonym) column for values
// (one per source of a compound index, in tag order), under key keyID of
// the column's PRF keyset, or under its primary key when keyID is 0. The
// values go through the column's Normalize and Part as on write, so a bulk
// job recomputes an index from its decrypted source, and a check compares
// a stored index with the one its source gives under the same key.
//
// It returns an error for other columns or a wrong number of values, and
// the provider's errors wrapped in [ErrKeyProvider] (a keyID the keyset
// does not hold enabled is [keys.ErrKeyNotFound] or [keys.ErrKeyDisabled]
// there). It is safe for concurrent use.
func (p *Protector) IndexStored(ctx context.Context, col Column, keyID uint32, values ...string) (string, error) {
	if p == nil || p.provider == nil {
		return "", fmt.Errorf("%w: nil Protector; use pii.New", ErrInvalidTarget)
	}
	if ctx == nil {
		return "", fmt.Errorf("%w: nil context; pass context.Background()", ErrInvalidTarget)
	}
	f, err := col.plan()
	if err != nil {
		return "", err
	}
	if f.act.prfLabel == "" {
		return "", fmt.Errorf("pii: %s.%s is a %s column; IndexStored is for index and pseudonym columns", col.Type, col.Field, f.act.name)
	}
	if col.Action == ActionPseudonym && len(values) != 1 {
		return "", fmt.Errorf("pii: %s.%s takes 1 value, got %d", col.Type, col.Field, len(values))
	}
	if len(values) == 0 {
		return "", fmt.Errorf("pii: %s.%s takes at least 1 value", col.Type, col.Field)
	}
	id := f.keysetID()
	ks, err := p.provider.Keyset(ctx, id.Name, id.Kind)
	if err != nil || ks == nil {
		return "", fmt.Errorf("%w: keyset %s: %v", ErrKeyProvider, id, err)
	}
	out, err := appendPRFStored(nil, ks, f, keyID, values, true)
	if err != nil {
		return "", fmt.Errorf("%w: keyset %s: %w", ErrKeyProvider, id, err)
	}
	return string(out), nil
}
