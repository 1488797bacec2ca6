package piitest

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
)

// PlainTinkAD is the associated data of the values of [NewPlainTink].
const PlainTinkAD = "customer/1"

// PlainTink is what a deployment of plain Tink holds, for tests of
// importing it: an AES-256-GCM keyset (Tink's template, TINK output
// prefix) of two keys, the first and then the primary, and a value each
// of them encrypted.
type PlainTink struct {
	Handle *keyset.Handle
	// First and Primary are the key IDs of the first key and of the
	// primary added after it.
	First, Primary uint32
	// UnderFirst is "under first" and UnderPrimary "under primary",
	// encrypted by Tink's AEAD under those keys with [PlainTinkAD].
	UnderFirst, UnderPrimary []byte
}

// NewPlainTink makes a [PlainTink] with fresh keys.
func NewPlainTink(t testing.TB) PlainTink {
	t.Helper()
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	require.NoError(t, err)
	p := PlainTink{First: h.KeysetInfo().GetPrimaryKeyId()}
	p.UnderFirst = plainEncrypt(t, h, "under first")
	m := keyset.NewManagerFromHandle(h)
	p.Primary, err = m.Add(aead.AES256GCMKeyTemplate())
	require.NoError(t, err)
	require.NoError(t, m.SetPrimary(p.Primary))
	p.Handle, err = m.Handle()
	require.NoError(t, err)
	p.UnderPrimary = plainEncrypt(t, p.Handle, "under primary")
	return p
}

func plainEncrypt(t testing.TB, h *keyset.Handle, pt string) []byte {
	t.Helper()
	a, err := aead.New(h)
	require.NoError(t, err)
	ct, err := a.Encrypt([]byte(pt), []byte(PlainTinkAD))
	require.NoError(t, err)
	return ct
}
