package pii_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

type keyIDSubject struct {
	ID    string `pii:"subject"`
	Name  string `pii:"encrypt,purpose=billing"`
	Email string `pii:"deterministic"`
	Blob  []byte `pii:"encrypt"`
}

// KeyID reads the envelopes of values sealed under a subject's key
// (tl1s:, tl1r:), in text and binary form, and gives the subject
// keyset's key ID.
func TestKeyIDSubjectModes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	provider := keys.NewMemory()
	sk, err := keys.NewSubjectKeys(provider, keys.NewMemorySubjectKeyStore(), keys.NewMemoryLedger())
	require.NoError(t, err)
	p, err := pii.New(provider, pii.WithSubjectKeys(sk))
	require.NoError(t, err)
	v := keyIDSubject{ID: "s-1", Name: "Ada", Email: "ada@example.com", Blob: []byte("x")}
	require.NoError(t, p.Protect(ctx, &v))
	kss, err := sk.Keys(ctx, []keys.SubjectKeyID{
		{Subject: "s-1", Purpose: "billing", Kind: keys.KindAEAD},
		{Subject: "s-1", Kind: keys.KindDeterministicAEAD},
		{Subject: "s-1", Kind: keys.KindAEAD},
	})
	require.NoError(t, err)
	tests := []struct {
		name   string
		stored any
		want   pii.Action
		keyID  uint32
		prefix string
	}{
		{"tl1s text", v.Name, pii.ActionEncrypt, kss[0].PrimaryKeyID(), "tl1s:"},
		{"tl1r text", v.Email, pii.ActionDeterministic, kss[1].PrimaryKeyID(), "tl1r:"},
		{"tl1s binary", v.Blob, pii.ActionEncrypt, kss[2].PrimaryKeyID(), "tl1s:"},
	}
	for _, tt := range tests {
		var a pii.Action
		var id uint32
		switch s := tt.stored.(type) {
		case string:
			require.Equal(t, tt.prefix, s[:5], tt.name)
			a, id, err = pii.KeyID(s)
		case []byte:
			require.Equal(t, tt.prefix, string(s[:5]), tt.name)
			a, id, err = pii.KeyID(s)
		}
		require.NoError(t, err, tt.name)
		assert.Equal(t, tt.want, a, tt.name)
		assert.Equal(t, tt.keyID, id, "%s: the subject keyset's key ID", tt.name)
	}
	_, _, err = pii.KeyID("tl1s:AAAA")
	assert.ErrorIs(t, err, pii.ErrDecryption, "a truncated subject envelope")
}
