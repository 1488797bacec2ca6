package piitest

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tillid/tillid/keys"
)

// tinkKEK returns a fresh Tink AES-256-GCM AEAD, the KEK a plain-Tink
// deployment (or an escrow) keeps its keysets under.
func tinkKEK(t *testing.T) tink.AEAD {
	t.Helper()
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	require.NoError(t, err)
	a, err := aead.New(h)
	require.NoError(t, err)
	return a
}

// testImportExport is the ImportExport subtest of [TestProvider]: a
// plain-Tink keyset of two keys, encrypted under its own KEK, is imported
// and reads the values plain Tink made under both keys (after a reopen,
// too); a second import of the name is refused; after a rotation and the
// destruction of the first key, the export under another KEK opens with
// plain Tink, reads the values under the live keys, and holds no trace of
// the destroyed key.
func testImportExport(t *testing.T, newStore MakeProvider) {
	ctx := context.Background()
	s, reopen := newStore(t)
	// The plain-Tink deployment: key A, then key B primary.
	pt := NewPlainTink(t)
	h, keyA, keyB, ctA, ctB := pt.Handle, pt.First, pt.Primary, pt.UnderFirst, pt.UnderPrimary
	legacyKEK := tinkKEK(t)
	var file bytes.Buffer
	require.NoError(t, h.Write(keyset.NewJSONWriter(&file), legacyKEK), "plain Tink writes its keyset")

	read, err := keyset.Read(keyset.NewJSONReader(&file), legacyKEK)
	require.NoError(t, err)
	imported, err := s.Import(ctx, "legacy", keys.KindAEAD, read)
	require.NoError(t, err, "Import of a plain-Tink keyset")
	assert.Equal(t, keyB, imported.PrimaryKeyID(), "the plain-Tink primary stays primary")
	_, err = s.Import(ctx, "legacy", keys.KindAEAD, read)
	assert.ErrorIs(t, err, keys.ErrKeysetExists, "a second Import of the name")

	decrypts := func(t *testing.T, ks *keys.Keyset, ct []byte, want string) {
		t.Helper()
		a, err := ks.AEAD()
		require.NoError(t, err)
		pt, err := a.Decrypt(ct, []byte(PlainTinkAD))
		require.NoError(t, err, "a value plain Tink made does not decrypt")
		assert.Equal(t, want, string(pt))
	}
	other := s
	if reopen != nil {
		other = reopen(t)
	}
	for i, mgr := range []keys.Manager{s, other} {
		ks, err := mgr.Keyset(ctx, "legacy", keys.KindAEAD)
		require.NoError(t, err, "handle %d", i)
		decrypts(t, ks, ctA, "under first")
		decrypts(t, ks, ctB, "under primary")
	}

	// Retire A through one handle, then export through the other: the
	// export is of the keyset as stored now.
	keyC, err := other.Rotate(ctx, "legacy", keys.KindAEAD)
	require.NoError(t, err)
	require.NoError(t, s.Disable(ctx, "legacy", keys.KindAEAD, keyA))
	require.NoError(t, other.Destroy(ctx, "legacy", keys.KindAEAD, keyA))
	now, err := other.Keyset(ctx, "legacy", keys.KindAEAD)
	require.NoError(t, err)
	require.Equal(t, keyC, now.PrimaryKeyID())
	a, err := now.AEAD()
	require.NoError(t, err)
	ctC, err := a.Encrypt([]byte("under C"), []byte(PlainTinkAD))
	require.NoError(t, err)

	escrow := tinkKEK(t)
	out, err := s.Export(ctx, "legacy", keys.KindAEAD, escrow, []byte("escrow 2026"))
	require.NoError(t, err, "Export")
	assert.NotContains(t, string(out), "keyData", "the export holds key material in clear")
	_, err = keyset.ReadWithAssociatedData(keyset.NewJSONReader(bytes.NewReader(out)), escrow, []byte("other"))
	assert.Error(t, err, "the associated data does not bind the export")
	back, err := keyset.ReadWithAssociatedData(keyset.NewJSONReader(bytes.NewReader(out)), escrow, []byte("escrow 2026"))
	require.NoError(t, err, "plain Tink cannot read the export")
	info := back.KeysetInfo()
	assert.Equal(t, keyC, info.GetPrimaryKeyId(), "the export's primary")
	statuses := map[uint32]tinkpb.KeyStatusType{}
	for _, ki := range info.GetKeyInfo() {
		statuses[ki.GetKeyId()] = ki.GetStatus()
	}
	assert.Equal(t, map[uint32]tinkpb.KeyStatusType{keyB: tinkpb.KeyStatusType_ENABLED, keyC: tinkpb.KeyStatusType_ENABLED}, statuses, "the export holds the live keys only: the destroyed key %d is not in it", keyA)
	plain, err := aead.New(back)
	require.NoError(t, err)
	for _, v := range []struct {
		ct   []byte
		want string
	}{{ctB, "under primary"}, {ctC, "under C"}} {
		pt, err := plain.Decrypt(v.ct, []byte(PlainTinkAD))
		require.NoError(t, err, "the export does not decrypt %q", v.want)
		assert.Equal(t, v.want, string(pt))
	}
	_, err = plain.Decrypt(ctA, []byte(PlainTinkAD))
	assert.Error(t, err, "a value under the destroyed key decrypts with the export")

	_, err = s.Export(ctx, "nope", keys.KindAEAD, escrow, nil)
	assert.ErrorIs(t, err, keys.ErrKeysetNotFound, "Export of a missing keyset")
	_, err = s.Export(ctx, "legacy", keys.KindAEAD, nil, nil)
	assert.ErrorIs(t, err, keys.ErrInvalidKEK, "Export under a nil KEK")
}
