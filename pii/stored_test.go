package pii_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

type storedRow struct {
	ID       string `pii:"-"`
	Email    string `pii:"encrypt,aad=ID,migrate"`
	EmailIdx string `pii:"index=Email,normalize=email,bits=64"`
	Alias    string `pii:"pseudonym,normalize=lower"`
	CPR      string `pii:"tokenize=cpr,format=ff1,aad=ID,migrate"`
	Card     string `pii:"tokenize=card"`
}

func storedColumn(t *testing.T, field string) pii.Column {
	t.Helper()
	c, err := pii.ColumnFor(storedRow{}, field)
	require.NoError(t, err)
	return c
}

// The stored-value API covers every action that stores something, and
// agrees with the struct path: an index computed by IndexStored is the one
// Protect stores, FF1 tokens move to a rotated key, vault tokens stay, and
// migrate columns protect plaintext.
func TestStoredValuesOfEveryAction(t *testing.T) {
	t.Parallel()
	p, store, _ := tokenProtector(t)
	plain := storedRow{ID: "7", Email: " Ann@Example.com", Alias: "ANN", CPR: "0101701234", Card: "4111111111111111"}
	r := plain
	require.NoError(t, p.Protect(ctx, &r))

	idx := storedColumn(t, "EmailIdx")
	assert.Equal(t, pii.Column{Type: "storedRow", Field: "EmailIdx", Action: pii.ActionBlindIndex, Key: "default", Normalize: "email", Bits: 64}, idx)
	got, err := p.IndexStored(ctx, idx, 0, plain.Email)
	require.NoError(t, err)
	assert.Equal(t, r.EmailIdx, got, "IndexStored differs from the index Protect stores")
	got, err = p.IndexStored(ctx, storedColumn(t, "Alias"), 0, plain.Alias)
	require.NoError(t, err)
	assert.Equal(t, r.Alias, got, "IndexStored differs from the pseudonym Protect stores")
	_, err = p.IndexStored(ctx, storedColumn(t, "Email"), 0, "x")
	assert.Error(t, err, "IndexStored accepted an encrypt column")
	_, _, err = p.RewrapStored(ctx, idx, "", r.EmailIdx)
	assert.Error(t, err, "RewrapStored accepted an index column, which it cannot recompute")

	cpr, card := storedColumn(t, "CPR"), storedColumn(t, "Card")
	v, err := p.RevealStored(ctx, cpr, "7", r.CPR)
	require.NoError(t, err)
	assert.Equal(t, plain.CPR, v)
	_, oldFF1, _ := pii.KeyID(r.CPR)
	out, changed, err := p.RewrapStored(ctx, cpr, "7", r.CPR)
	require.NoError(t, err)
	assert.False(t, changed, "an FF1 token under the primary changed: %q", out)

	_, err = store.Rotate(ctx, "tokenize-cpr", keys.KindPRF)
	require.NoError(t, err)
	out, changed, err = p.RewrapStored(ctx, cpr, "7", r.CPR)
	require.NoError(t, err)
	require.True(t, changed, "an FF1 token under an old key was not moved")
	_, newFF1, _ := pii.KeyID(out)
	assert.NotEqual(t, oldFF1, newFF1, "the moved token keeps its key ID")
	v, err = p.RevealStored(ctx, cpr, "7", out)
	require.NoError(t, err)
	assert.Equal(t, plain.CPR, v, "a moved FF1 token reveals to another value")
	_, err = p.RevealStored(ctx, cpr, "8", out)
	if err == nil {
		v, _ = p.RevealStored(ctx, cpr, "8", out)
		assert.NotEqual(t, plain.CPR, v, "an FF1 token revealed its value under another record's tweak")
	}

	_, err = store.Rotate(ctx, "tokenize-card", keys.KindAEAD)
	require.NoError(t, err)
	out, changed, err = p.RewrapStored(ctx, card, "", r.Card)
	assert.False(t, err != nil || changed || out != r.Card, "a vault token was changed: %v %v", changed, err)

	tests := []struct {
		name   string
		col    pii.Column
		legacy string
		reason string
	}{
		{"encrypt", storedColumn(t, "Email"), "legacy@example.com", "migrate encrypts legacy plaintext"},
		{"ff1", cpr, "0202802345", "migrate tokenizes legacy plaintext"},
	}
	for _, tt := range tests {
		back, err := p.RevealStored(ctx, tt.col, "7", tt.legacy)
		require.NoError(t, err, "%s: RevealStored of legacy plaintext under migrate", tt.name)
		assert.Equal(t, tt.legacy, back, "%s: RevealStored of legacy plaintext under migrate", tt.name)
		out, changed, err := p.RewrapStored(ctx, tt.col, "7", tt.legacy)
		require.NoError(t, err, tt.name)
		assert.True(t, changed && out != tt.legacy, "%s: %s", tt.name, tt.reason)
		back, err = p.RevealStored(ctx, tt.col, "7", out)
		require.NoError(t, err, tt.name)
		assert.Equal(t, tt.legacy, back, tt.name)
		tt.col.Migrate = false
		_, _, err = p.RewrapStored(ctx, tt.col, "7", tt.legacy)
		assert.ErrorIs(t, err, pii.ErrNotProtected, "%s without migrate", tt.name)
	}
}

// A tokenize= column whose domain has no tokenizer on the Protector is a
// configuration error, ErrInvalidTag naming the domain and the fix, as
// Protect and Check report it, not a key-provider failure.
func TestStoredWithoutTokenizer(t *testing.T) {
	t.Parallel()
	full, _, _ := tokenProtector(t)
	r := storedRow{ID: "7", Email: "ann@example.com", Alias: "ann", CPR: "0101701234", Card: "4111111111111111"}
	require.NoError(t, full.Protect(ctx, &r))
	bare, err := pii.New(keys.NewMemory())
	require.NoError(t, err)
	for _, tc := range []struct {
		name, field, stored, domain string
	}{
		{name: "ff1", field: "CPR", stored: r.CPR, domain: "cpr"},
		{name: "vault", field: "Card", stored: r.Card, domain: "card"},
		{name: "migrate plaintext", field: "CPR", stored: "0101701234", domain: "cpr"},
	} {
		col := storedColumn(t, tc.field)
		_, _, rewrapErr := bare.RewrapStored(ctx, col, r.ID, tc.stored)
		_, revealErr := bare.RevealStored(ctx, col, r.ID, tc.stored)
		for op, err := range map[string]error{"RewrapStored": rewrapErr, "RevealStored": revealErr} {
			assert.ErrorIs(t, err, pii.ErrInvalidTag, "%s: %s(%s) = %v, want ErrInvalidTag", tc.name, op, tc.field, err)
			assert.NotErrorIs(t, err, pii.ErrKeyProvider, "%s: %s(%s): not a key-provider failure", tc.name, op, tc.field)
			assert.ErrorContains(t, err, `domain "`+tc.domain+`"`, "%s: %s names the domain", tc.name, op)
			assert.ErrorContains(t, err, "pii.WithVault or pii.WithFPE", "%s: %s says the fix", tc.name, op)
		}
	}
}
