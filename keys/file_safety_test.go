package keys_test

import (
	"context"
	"crypto/rand"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tillid/tillid/keys"
)

// safetyKEK returns a fresh local KEK for the tests in this file.
func safetyKEK(t *testing.T) tink.AEAD {
	t.Helper()
	raw := make([]byte, keys.MasterKeySize)
	_, err := rand.Read(raw)
	require.NoError(t, err)
	kek, err := keys.NewLocalKEK(raw)
	require.NoError(t, err)
	return kek
}

// dirNames lists the names in dir, or nil when it does not exist.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// A mistyped path is an error at open, and leaves nothing behind.
func TestOpenFileMissingIsAnError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name   string
		path   string
		reason string
	}{
		{"missing file", filepath.Join(dir, "keysets.jsno"), "the directory exists"},
		{"missing directory", filepath.Join(dir, "nope", "keysets.json"), "OpenFile must not make the directory either"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := keys.OpenFile(tt.path, safetyKEK(t))
			require.Error(t, err, tt.reason)
			assert.Nil(t, s)
			assert.ErrorIs(t, err, keys.ErrStoreNotFound)
			assert.ErrorIs(t, err, fs.ErrNotExist)
			assert.Contains(t, err.Error(), tt.path, "the error names the path to check")
			assert.Empty(t, dirNames(t, dir), "OpenFile left files behind: %s", tt.reason)
		})
	}
}

// A store opened without WithCreateMissing serves the keysets it holds and
// refuses to make others, without writing the file.
func TestOpenFileNeverCreatesKeysets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keysets.json")
	kek := safetyKEK(t)
	provisioner, err := keys.OpenFile(path, kek, keys.WithCreateMissing())
	require.NoError(t, err)
	_, err = os.Stat(path)
	require.ErrorIs(t, err, fs.ErrNotExist, "WithCreateMissing writes the file with the first keyset, not at open")
	made, err := provisioner.Keyset(ctx, "default", keys.KindAEAD)
	require.NoError(t, err)
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	service, err := keys.OpenFile(path, kek)
	require.NoError(t, err)
	got, err := service.Keyset(ctx, "default", keys.KindAEAD)
	require.NoError(t, err)
	assert.Equal(t, made.PrimaryKeyID(), got.PrimaryKeyID())

	tests := []struct {
		name    string
		call    func() error
		wantErr error
		reason  string
	}{
		{"Keyset of a mistyped name", func() error { _, err := service.Keyset(ctx, "defualt", keys.KindAEAD); return err }, keys.ErrKeysetNotFound, ""},
		{"Keyset of another kind", func() error { _, err := service.Keyset(ctx, "default", keys.KindPRF); return err }, keys.ErrKeysetNotFound, "default/aead exists, default/prf does not"},
		{"Keyset is also ErrKeyNotFound", func() error { _, err := service.Keyset(ctx, "other", keys.KindAEAD); return err }, keys.ErrKeyNotFound, "the Provider contract: an unknown name is ErrKeyNotFound"},
		{"Rotate of a missing keyset", func() error { _, err := service.Rotate(ctx, "other", keys.KindAEAD); return err }, keys.ErrKeysetNotFound, "rotating a typo must not make a keyset"},
		{"an invalid kind", func() error { _, err := service.Keyset(ctx, "default", keys.KindUnknown); return err }, keys.ErrInvalidKind, "the argument is checked before the store"},
	}
	for _, tt := range tests {
		err := tt.call()
		assert.ErrorIs(t, err, tt.wantErr, "%s: %s", tt.name, tt.reason)
	}
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after, "a refused keyset changed the file")
	list, err := service.List(ctx)
	require.NoError(t, err)
	assert.Len(t, list, 1)
}

// WithCreateMissing makes the file and keysets on first use, and the
// memory store, which has nothing to mistype, takes it as a no-op.
func TestWithCreateMissing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "keysets.json")
	s, err := keys.OpenFile(path, safetyKEK(t), keys.WithCreateMissing())
	require.NoError(t, err)
	id, err := s.Rotate(ctx, "crm", keys.KindDeterministicAEAD)
	require.NoError(t, err)
	ks, err := s.Keyset(ctx, "crm", keys.KindDeterministicAEAD)
	require.NoError(t, err)
	assert.Equal(t, id, ks.PrimaryKeyID())
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), st.Mode().Perm())

	m := keys.NewMemory(keys.WithCreateMissing())
	_, err = m.Keyset(ctx, "default", keys.KindAEAD)
	assert.NoError(t, err)
}
