package pii_test

import (
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

// lookAlike returns a well-formed text envelope of the given mode letter:
// the Tink prefix with keyID, then n zero bytes (a zero MAC, or a zero
// nonce, ciphertext and tag).
func lookAlike(mode byte, keyID uint32, n int) string {
	b := make([]byte, 5+n)
	b[0] = 0x01
	binary.BigEndian.PutUint32(b[1:5], keyID)
	return "tl1" + string(mode) + ":" + base64.RawURLEncoding.EncodeToString(b)
}

type (
	lookEncrypt struct {
		V string `pii:"encrypt"`
	}
	lookDeterministic struct {
		V []byte `pii:"deterministic"`
	}
	lookPseudonym struct {
		V string `pii:"pseudonym"`
	}
	lookHash struct {
		V sql.NullString `pii:"hash"`
	}
	lookPseudonymBits struct {
		V string `pii:"pseudonym,bits=12"`
	}
	lookIndex struct {
		Email string `pii:"redact"`
		Idx   string `pii:"index=Email"`
	}
	lookIndexFromSource struct {
		Email string `pii:"encrypt"`
		Idx   string `pii:"index=Email"`
	}
	lookFF1 struct {
		ID  string `pii:"-"`
		CPR string `pii:"tokenize=cpr,aad=ID"`
	}
	lookVault struct {
		Card string `pii:"tokenize=card"`
	}
	lookRedact struct {
		V string `pii:"redact"`
	}
	lookSkip struct {
		V string `pii:"-"`
	}
	lookValue struct {
		V pii.Value[int64] `pii:"encrypt"`
	}
)

// TestProtectRefusesLookAlikes checks, for every action, that Protect does
// not keep as "already protected" a value that only looks like one: each
// action verifies what it skips through its row (key ID in the field's
// keyset, the size the field produces, the MAC or tag where there is one).
func TestProtectRefusesLookAlikes(t *testing.T) {
	t.Parallel()
	p, store, _ := tokenProtector(t)
	prfKS, err := store.Keyset(ctx, "default", keys.KindPRF)
	require.NoError(t, err)
	prfKey := prfKS.PrimaryKeyID()
	aeadKS, err := store.Keyset(ctx, "default", keys.KindAEAD)
	require.NoError(t, err)

	tests := []struct {
		name   string
		v      any
		reason string
	}{
		{"encrypt, key ID 0", &lookEncrypt{V: lookAlike('e', 0, 28)}, "no such key"},
		{"encrypt, real key ID, zero tag", &lookEncrypt{V: lookAlike('e', aeadKS.PrimaryKeyID(), 28)}, "the GCM tag does not verify"},
		{"deterministic, zero SIV", &lookDeterministic{V: []byte(lookAlike('d', 0, 16))}, "binary fields are checked too"},
		{"pseudonym, the issue's example", &lookPseudonym{V: "tl1h:AQAAAAA"}, "key ID 0 and no MAC"},
		{"pseudonym, key ID 0, right size", &lookPseudonym{V: lookAlike('h', 0, 16)}, "key ID 0 is in no keyset"},
		{"pseudonym, real key, wrong size", &lookPseudonym{V: lookAlike('h', prfKey, 8)}, "the field makes 16-byte pseudonyms"},
		{"pseudonym, bits past the truncation", &lookPseudonymBits{V: lookAlike('h', prfKey, 1) + "_w"}, "bits=12 zeroes the low 4 bits"},
		{"hash alias in a NullString", &lookHash{V: sql.NullString{String: lookAlike('h', 0, 16), Valid: true}}, "the deprecated alias verifies the same"},
		{"pseudonym holding an index", &lookPseudonym{V: lookAlike('i', prfKey, 16)}, "another action's envelope"},
		{"index kept for a redacted source", &lookIndex{Idx: lookAlike('i', 0, 16)}, "an index kept as is is verified"},
		{"ff1 token, key ID 0", &lookFF1{ID: "r1", CPR: "tl1f:00000000:0101901234"}, "no such FF1 key"},
		{"vault token never issued", &lookVault{Card: "tl1t:4111110000001111"}, "not in the vault"},
		{"Value scanned from a look-alike", &lookValue{V: scanned(t, lookAlike('e', 0, 28))}, "a Value's stored form is verified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Protect(ctx, tt.v)
			assert.ErrorIs(t, err, pii.ErrDecryption, tt.reason)
		})
	}
}

// scanned returns a Value[int64] as Scan leaves it for a column holding s.
func scanned(t *testing.T, s string) pii.Value[int64] {
	var v pii.Value[int64]
	require.NoError(t, v.Scan(s))
	return v
}

// TestLookAlikesReplacedOrKept covers the actions that never keep what a
// field holds: an index with its source present is recomputed, redact
// zeroes, and "-" is not personal data, so it is left alone.
func TestLookAlikesReplacedOrKept(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	fake := lookAlike('i', 0, 16)

	idx := lookIndexFromSource{Email: "ada@example.com", Idx: fake}
	require.NoError(t, p.Protect(ctx, &idx))
	assert.NotEqual(t, fake, idx.Idx, "an index is recomputed from its source")
	m, _, err := pii.KeyID(idx.Idx)
	require.NoError(t, err)
	assert.Equal(t, pii.ActionBlindIndex, m)

	red := lookRedact{V: lookAlike('e', 0, 28)}
	require.NoError(t, p.Protect(ctx, &red))
	assert.Empty(t, red.V, "redact zeroes whatever the field holds")

	skip := lookSkip{V: fake}
	require.NoError(t, p.Protect(ctx, &skip))
	assert.Equal(t, fake, skip.V, `"-" fields are not walked`)
}

// TestRealValuesStillKept checks the other side: a value that Protect made
// is kept on a second Protect, for every action that keeps.
func TestRealValuesStillKept(t *testing.T) {
	t.Parallel()
	p, _, _ := tokenProtector(t)
	values := []any{
		&lookEncrypt{V: "a"}, &lookDeterministic{V: []byte("b")}, &lookPseudonym{V: "c"},
		&lookHash{V: sql.NullString{String: "d", Valid: true}}, &lookPseudonymBits{V: "e"},
		&lookFF1{ID: "r1", CPR: "0101901234"}, &lookVault{Card: "4111111111111111"},
		&lookValue{V: pii.NewValue(int64(7))},
	}
	for _, v := range values {
		require.NoError(t, p.Protect(ctx, v), "%T", v)
		n, err := p.Rewrap(ctx, v)
		require.NoError(t, err, "%T", v)
		assert.Zero(t, n, "Rewrap(%T) under the primary key changes nothing", v)
		require.NoError(t, p.Protect(ctx, v), "Protect(%T) again must keep what it made", v)
	}
}

// TestHashIsPseudonym: the deprecated hash action stores exactly what
// pseudonym stores, so data written under either name reads under the
// other. (Both types are named aliasRecord: the name, not the Go type,
// enters the PRF input.)
func TestHashIsPseudonym(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	old := func() any {
		type aliasRecord struct {
			V string `pii:"hash,normalize=email"`
		}
		return &aliasRecord{V: "Ada@Example.com"}
	}()
	renamed := func() any {
		type aliasRecord struct {
			V string `pii:"pseudonym,normalize=email"`
		}
		return &aliasRecord{V: "ada@example.com"}
	}()
	require.NoError(t, p.Protect(ctx, old))
	require.NoError(t, p.Protect(ctx, renamed))
	a := reflectV(old)
	b := reflectV(renamed)
	assert.Equal(t, a, b)
	assert.Contains(t, a, "tl1h:", "the stored prefix stays tl1h:")
}

// reflectV returns the V field of an aliasRecord.
func reflectV(v any) string { return reflect.ValueOf(v).Elem().Field(0).String() }
