package tokenize_test

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/tokenize"
)

// keys.Check over a tokenizer's Keysets fails before the first Tokenize
// when the keys are missing, and passes once they are provisioned.
func TestKeysetsForCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := keys.NewMemory()
	tk, err := tokenize.New(p, tokenize.NewMemoryStore(), "card", tokenize.ModeConsistent, tokenize.WithKeyName("pci-card"))
	require.NoError(t, err)
	fpe, err := tokenize.NewFPE(p, "cpr", tokenize.Digits)
	require.NoError(t, err)
	tests := []struct {
		name string
		got  []keys.KeysetID
		want []keys.KeysetID
	}{
		{"Tokenizer", tk.Keysets(), []keys.KeysetID{{Name: "pci-card", Kind: keys.KindAEAD}, {Name: "pci-card", Kind: keys.KindPRF}}},
		{"FPE", fpe.Keysets(), []keys.KeysetID{{Name: "tokenize-cpr", Kind: keys.KindPRF}}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.got, "%s.Keysets()", tt.name)
	}
	// A file store opened as a service opens it has none of them.
	master := make([]byte, keys.MasterKeySize)
	rand.Read(master)
	kek, err := keys.NewLocalKEK(master)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "keysets.json")
	provision, err := keys.OpenFile(path, kek, keys.WithCreateMissing())
	require.NoError(t, err)
	_, err = provision.Keyset(ctx, "other", keys.KindAEAD)
	require.NoError(t, err)
	service, err := keys.OpenFile(path, kek)
	require.NoError(t, err)
	err = keys.Check(ctx, service, append(tk.Keysets(), fpe.Keysets()...)...)
	assert.ErrorIs(t, err, keys.ErrKeysetNotFound, "Check of a tokenizer whose keysets are missing")
	for _, id := range append(tk.Keysets(), fpe.Keysets()...) {
		_, err := provision.Keyset(ctx, id.Name, id.Kind)
		require.NoError(t, err)
	}
	service, err = keys.OpenFile(path, kek)
	require.NoError(t, err)
	assert.NoError(t, keys.Check(ctx, service, append(tk.Keysets(), fpe.Keysets()...)...), "Check once provisioned")
}
