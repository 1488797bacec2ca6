package insecurecleartext_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/keys/insecurecleartext"
)

// A keyset written in clear reads back into another store and decrypts
// what the first one encrypted.
func TestWriteReadImport(t *testing.T) {
	ctx := context.Background()
	s := keys.NewMemory()
	ks, err := s.Keyset(ctx, "default", keys.KindAEAD)
	require.NoError(t, err)
	a, err := ks.AEAD()
	require.NoError(t, err)
	ct, err := a.Encrypt([]byte("a@example.com"), nil)
	require.NoError(t, err)

	clear, err := insecurecleartext.Write(ks)
	require.NoError(t, err)
	assert.Contains(t, string(clear), "keyData", "a cleartext keyset holds the key material")

	h, err := insecurecleartext.Read(clear)
	require.NoError(t, err)
	other, err := keys.NewMemory().Import(ctx, "default", keys.KindAEAD, h)
	require.NoError(t, err)
	b, err := other.AEAD()
	require.NoError(t, err)
	pt, err := b.Decrypt(ct, nil)
	require.NoError(t, err)
	assert.Equal(t, "a@example.com", string(pt))
}

// Read takes what plain Tink's insecurecleartextkeyset writes.
func TestReadPlainTink(t *testing.T) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&b)))
	got, err := insecurecleartext.Read([]byte(b.String()))
	require.NoError(t, err)
	assert.Equal(t, h.KeysetInfo().GetPrimaryKeyId(), got.KeysetInfo().GetPrimaryKeyId())
}

func TestErrors(t *testing.T) {
	_, err := insecurecleartext.Write(nil)
	assert.ErrorIs(t, err, keys.ErrNoPrimaryKey)
	_, err = insecurecleartext.Write(&keys.Keyset{})
	assert.ErrorIs(t, err, keys.ErrNoPrimaryKey)

	tests := []struct {
		name  string
		input string
	}{
		{"empty", ""},
		{"garbage", `{"primaryKeyId": "secret-looking-input"`},
		{"no keys", `{"primaryKeyId": 1, "key": []}`},
		{"oversized", strings.Repeat(" ", keys.MaxKeysetSize+1)},
	}
	for _, tt := range tests {
		h, err := insecurecleartext.Read([]byte(tt.input))
		assert.Error(t, err, tt.name)
		assert.Nil(t, h, tt.name)
		if err != nil {
			assert.True(t, strings.HasPrefix(err.Error(), "insecurecleartext: "), tt.name)
			assert.NotContains(t, err.Error(), "secret-looking-input", tt.name)
		}
	}
}
