package pii_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

// P10: stored sizes follow StoredLen; maxlen refuses values that would not fit.
type P10Record struct {
	Zip string `pii:"encrypt,maxlen=64"`
	Raw []byte `pii:"deterministic"`
}

func TestStoredLen(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	for n := range 40 {
		r := P10Record{Zip: strings.Repeat("9", n), Raw: bytes.Repeat([]byte{7}, n)}
		err := p.Protect(ctx, &r)
		if pii.StoredLen(pii.ActionEncrypt, n) > 64 {
			assert.ErrorIs(t, err, pii.ErrTooLong, "n=%d: Protect = %v, want ErrTooLong", n, err)
			continue
		}
		require.NoError(t, err, "n=%d: Protect = %v", n, err)
		assert.EqualValues(t, pii.StoredLen(pii.ActionEncrypt, n), len(r.Zip), "n=%d", n)
		assert.EqualValues(t, pii.StoredLenBytes(pii.ActionDeterministic, n), len(r.Raw), "n=%d", n)
	}
	assert.EqualValues(t, 63, pii.StoredLen(pii.ActionEncrypt, 10), "StoredLen(encrypt, 10)")
	assert.EqualValues(t, -1, pii.StoredLen(pii.ActionUnknown, 10), "StoredLen(unknown, 10)")
	// A value truncated by the database fails with a clear error.
	g := P10Record{Zip: "12345"}
	mustProtect(t, p, &g)
	g.Zip = g.Zip[:len(g.Zip)-3]
	assert.ErrorIs(t, p.Reveal(ctx, &g), pii.ErrDecryption, "Reveal(truncated)")
}

func TestKeyIDForms(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in     string
		mode   pii.Action
		id     uint32
		wantOK bool
	}{
		{"tl1i:AQAAAAFhYmNk", pii.ActionBlindIndex, 1, true},
		{"tl1i:Af____9hYmNk", pii.ActionBlindIndex, 0xffffffff, true},
		{"tl1i:AQAA", pii.ActionUnknown, 0, false},
		{"tl1i:AAAAAAFhYmNk", pii.ActionUnknown, 0, false}, // not a Tink prefix
		{"tl1e:AQAAAAFhYmNk", pii.ActionUnknown, 0, false}, // shorter than any ciphertext
		{"tl1f:0000002a:123456789", pii.ActionTokenize, 42, true},
		{"tl1f:ffffffff:123456789", pii.ActionTokenize, 0xffffffff, true},
		{"tl1f:0000002a", pii.ActionUnknown, 0, false},
		{"tl1f:0000002g:123456789", pii.ActionUnknown, 0, false},
		{"tl1t:4111111234561111", pii.ActionTokenize, 0, true},
		{"jane.doe@example.com", pii.ActionUnknown, 0, false},
	} {
		m, id, err := pii.KeyID(tt.in)
		assert.False(t, m != tt.mode || id != tt.id || (err == nil) != tt.wantOK, "KeyID(%q) = %v, %d, %v; want %v, %d, ok=%v", tt.in, m, id, err, tt.mode, tt.id, tt.wantOK)
	}
}

// TestStoredLenEveryAction checks each action's stored size against what
// Protect stores, in string and []byte fields.
func TestStoredLenEveryAction(t *testing.T) {
	t.Parallel()
	type sized struct {
		E  string `pii:"encrypt"`
		EB []byte `pii:"encrypt"`
		D  string `pii:"deterministic"`
		DB []byte `pii:"deterministic"`
		P  string `pii:"pseudonym"`
		PB []byte `pii:"pseudonym,bits=20"`
		I  string `pii:"index=E"`
		IB []byte `pii:"index=E,bits=64"`
	}
	p, _ := newProtector(t)
	const n = 13
	v := sized{E: strings.Repeat("e", n), EB: bytes.Repeat([]byte("e"), n), D: strings.Repeat("d", n), DB: bytes.Repeat([]byte("d"), n), P: "p", PB: []byte("p")}
	require.NoError(t, p.Protect(ctx, &v))
	tests := []struct {
		name string
		got  int
		want int
	}{
		{"encrypt", len(v.E), pii.StoredLen(pii.ActionEncrypt, n)},
		{"encrypt []byte", len(v.EB), pii.StoredLenBytes(pii.ActionEncrypt, n)},
		{"deterministic", len(v.D), pii.StoredLen(pii.ActionDeterministic, n)},
		{"deterministic []byte", len(v.DB), pii.StoredLenBytes(pii.ActionDeterministic, n)},
		{"pseudonym", len(v.P), pii.StoredLen(pii.ActionPseudonym, pii.IndexSize)},
		{"pseudonym []byte, bits=20", len(v.PB), pii.StoredLenBytes(pii.ActionPseudonym, 3)},
		{"index", len(v.I), pii.StoredLen(pii.ActionBlindIndex, pii.IndexSize)},
		{"index []byte, bits=64", len(v.IB), pii.StoredLenBytes(pii.ActionBlindIndex, 8)},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.got, tt.name)
	}
	assert.Equal(t, -1, pii.StoredLen(pii.ActionTokenize, n), "a token's size depends on its format")
	assert.Equal(t, -1, pii.StoredLen(pii.ActionEncrypt, -1), "negative size")
	assert.Equal(t, -1, pii.StoredLenBytes(pii.ActionUnknown, n))
}

func TestKeyIDBytes(t *testing.T) {
	t.Parallel()
	m, id, err := pii.KeyID([]byte("tl1i:\x01\x00\x00\x00\x2a0123456789abcdef"))
	require.NoError(t, err)
	assert.Equal(t, pii.ActionBlindIndex, m)
	assert.Equal(t, uint32(42), id)
	_, _, err = pii.KeyID([]byte("tl1t:4111111234561111"))
	assert.ErrorIs(t, err, pii.ErrDecryption, "tokens live in string fields only")
}

// TestEmptyBytesStayEmpty: an empty []byte reveals as empty, not nil, and
// a nil one stays nil.
func TestEmptyBytesStayEmpty(t *testing.T) {
	t.Parallel()
	type rec struct {
		E []byte `pii:"encrypt"`
		D []byte `pii:"deterministic"`
		N []byte `pii:"encrypt"`
	}
	p, _ := newProtector(t)
	v := rec{E: []byte{}, D: []byte{}}
	require.NoError(t, p.Protect(ctx, &v))
	assert.Equal(t, pii.StoredLenBytes(pii.ActionEncrypt, 0), len(v.E))
	require.NoError(t, p.Reveal(ctx, &v))
	assert.NotNil(t, v.E)
	assert.Empty(t, v.E)
	assert.NotNil(t, v.D)
	assert.Empty(t, v.D)
	assert.Nil(t, v.N)
}
