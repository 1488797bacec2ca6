package keys_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/daead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/piitest"
)

// plainTink is what a plain-Tink deployment holds for one kind: its keyset
// and a value its primitive made, with a check that a keys.Keyset reads it.
type plainTink struct {
	name     string
	kind     keys.Kind
	template *tinkpb.KeyTemplate
	// protect makes a value with the plain-Tink handle; reads checks that
	// a keys.Keyset reads it.
	protect func(t *testing.T, h *keyset.Handle) []byte
	reads   func(t *testing.T, ks *keys.Keyset, value []byte)
}

var plainTinkKinds = []plainTink{
	{
		name: "aead", kind: keys.KindAEAD, template: aead.AES256GCMKeyTemplate(),
		protect: func(t *testing.T, h *keyset.Handle) []byte {
			a, err := aead.New(h)
			require.NoError(t, err)
			ct, err := a.Encrypt([]byte("a@example.com"), []byte("customer/1"))
			require.NoError(t, err)
			return ct
		},
		reads: func(t *testing.T, ks *keys.Keyset, ct []byte) {
			a, err := ks.AEAD()
			require.NoError(t, err)
			pt, err := a.Decrypt(ct, []byte("customer/1"))
			require.NoError(t, err)
			assert.Equal(t, "a@example.com", string(pt))
		},
	},
	{
		name: "daead", kind: keys.KindDeterministicAEAD, template: daead.AESSIVKeyTemplate(),
		protect: func(t *testing.T, h *keyset.Handle) []byte {
			d, err := daead.New(h)
			require.NoError(t, err)
			ct, err := d.EncryptDeterministically([]byte("+45 12345678"), []byte("phone"))
			require.NoError(t, err)
			return ct
		},
		reads: func(t *testing.T, ks *keys.Keyset, ct []byte) {
			d, err := ks.DeterministicAEAD()
			require.NoError(t, err)
			again, err := d.EncryptDeterministically([]byte("+45 12345678"), []byte("phone"))
			require.NoError(t, err)
			assert.Equal(t, ct, again, "the imported primary gives the same deterministic ciphertext, so lookups still match")
		},
	},
	{
		name: "prf", kind: keys.KindPRF, template: prf.HMACSHA256PRFKeyTemplate(),
		protect: func(t *testing.T, h *keyset.Handle) []byte {
			s, err := prf.NewPRFSet(h)
			require.NoError(t, err)
			out, err := s.ComputePrimaryPRF([]byte("person@example.com"), 16)
			require.NoError(t, err)
			return out
		},
		reads: func(t *testing.T, ks *keys.Keyset, want []byte) {
			s, err := ks.PRF()
			require.NoError(t, err)
			got, err := s.ComputePrimaryPRF([]byte("person@example.com"), 16)
			require.NoError(t, err)
			assert.Equal(t, want, got, "blind indexes made with plain Tink still match")
		},
	},
}

// A team on plain Tink keeps its keyset encrypted under a KEK (what
// keyset.Handle.Write writes). It imports it into a tillid file store and
// keeps reading its data there, after a reopen and after a rotation.
func TestImportPlainTinkKeyset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, k := range plainTinkKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			legacyKEK := safetyKEK(t)
			h, err := keyset.NewHandle(k.template)
			require.NoError(t, err)
			value := k.protect(t, h)
			var file bytes.Buffer
			require.NoError(t, h.Write(keyset.NewJSONWriter(&file), legacyKEK))

			read, err := keyset.Read(keyset.NewJSONReader(&file), legacyKEK)
			require.NoError(t, err)
			path := filepath.Join(t.TempDir(), "keysets.json")
			storeKEK := safetyKEK(t)
			log := &piitest.AuditRecorder{}
			s, err := keys.OpenFile(path, storeKEK, keys.WithCreateMissing(), keys.WithAuditor(log))
			require.NoError(t, err)
			imported, err := s.Import(ctx, "legacy", k.kind, read)
			require.NoError(t, err)
			assert.Equal(t, h.KeysetInfo().GetPrimaryKeyId(), imported.PrimaryKeyID(), "the plain-Tink primary stays primary")
			assert.Equal(t, []string{"keyset.imported"}, log.Types())

			got, err := s.Keyset(ctx, "legacy", k.kind)
			require.NoError(t, err)
			k.reads(t, got, value)

			reopened, err := keys.OpenFile(path, storeKEK)
			require.NoError(t, err)
			got, err = reopened.Keyset(ctx, "legacy", k.kind)
			require.NoError(t, err)
			k.reads(t, got, value)

			if k.kind == keys.KindAEAD {
				_, err = reopened.Rotate(ctx, "legacy", keys.KindAEAD)
				require.NoError(t, err)
				got, err = reopened.Keyset(ctx, "legacy", k.kind)
				require.NoError(t, err)
				assert.NotEqual(t, imported.PrimaryKeyID(), got.PrimaryKeyID())
				k.reads(t, got, value)
			}
		})
	}
}

// Import is an explicit creation: a service's store, opened without
// WithCreateMissing, takes it.
func TestImportIntoExistingFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keysets.json")
	kek := safetyKEK(t)
	p, err := keys.OpenFile(path, kek, keys.WithCreateMissing())
	require.NoError(t, err)
	_, err = p.Keyset(ctx, "default", keys.KindAEAD)
	require.NoError(t, err)

	s, err := keys.OpenFile(path, kek)
	require.NoError(t, err)
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	require.NoError(t, err)
	_, err = s.Import(ctx, "legacy", keys.KindAEAD, h)
	require.NoError(t, err)
	list, err := s.List(ctx)
	require.NoError(t, err)
	assert.Len(t, list, 2)
}

func TestImportRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	handle := func(tmpl *tinkpb.KeyTemplate) *keyset.Handle {
		h, err := keyset.NewHandle(tmpl)
		require.NoError(t, err)
		return h
	}
	s := keys.NewMemory()
	existing, err := s.Keyset(ctx, "taken", keys.KindAEAD)
	require.NoError(t, err)
	tests := []struct {
		name    string
		keyset  string
		kind    keys.Kind
		h       *keyset.Handle
		wantErr error
		reason  string
	}{
		{"existing keyset", "taken", keys.KindAEAD, handle(aead.AES256GCMKeyTemplate()), keys.ErrKeysetExists, "an import never replaces keys"},
		{"nil handle", "new", keys.KindAEAD, nil, keys.ErrNoPrimaryKey, ""},
		{"unknown kind", "new", keys.KindUnknown, handle(aead.AES256GCMKeyTemplate()), keys.ErrInvalidKind, ""},
		{"bad name", "New Name", keys.KindAEAD, handle(aead.AES256GCMKeyTemplate()), keys.ErrKeyNotFound, ""},
		{"wrong kind", "new", keys.KindDeterministicAEAD, handle(aead.AES256GCMKeyTemplate()), nil, "an AES-GCM keyset is no AES-SIV keyset"},
		{"raw prefix", "new", keys.KindAEAD, handle(aead.AES256GCMNoPrefixKeyTemplate()), nil, "tillid envelopes need the key ID of Tink's prefix"},
		{"other algorithm", "new", keys.KindAEAD, handle(aead.ChaCha20Poly1305KeyTemplate()), nil, "KindAEAD is AES-GCM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := s.Import(ctx, tt.keyset, tt.kind, tt.h)
			require.Error(t, err, tt.reason)
			assert.Nil(t, ks)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr, tt.reason)
			}
		})
	}
	got, err := s.Keyset(ctx, "taken", keys.KindAEAD)
	require.NoError(t, err)
	assert.Same(t, existing, got, "a refused import changed the store")
	list, err := s.List(ctx)
	require.NoError(t, err)
	assert.Len(t, list, 1)
}

// failingKEK fails every call.
type failingKEK struct{}

func (failingKEK) Encrypt([]byte, []byte) ([]byte, error) {
	return nil, errors.New("kms: access denied")
}
func (failingKEK) Decrypt([]byte, []byte) ([]byte, error) {
	return nil, errors.New("kms: access denied")
}

var _ tink.AEAD = failingKEK{}

// Export re-wraps a keyset under another KEK for escrow: plain Tink reads
// it back, another store imports it, and the auditor hears of it.
func TestExport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	log := &piitest.AuditRecorder{}
	path := filepath.Join(t.TempDir(), "keysets.json")
	s, err := keys.OpenFile(path, safetyKEK(t), keys.WithCreateMissing(), keys.WithAuditor(log))
	require.NoError(t, err)
	ks, err := s.Keyset(ctx, "default", keys.KindAEAD)
	require.NoError(t, err)
	a, err := ks.AEAD()
	require.NoError(t, err)
	ct, err := a.Encrypt([]byte("a@example.com"), []byte("ad"))
	require.NoError(t, err)

	escrow := safetyKEK(t)
	out, err := s.Export(ctx, "default", keys.KindAEAD, escrow, []byte("escrow 2026"))
	require.NoError(t, err)
	assert.Contains(t, string(out), "encryptedKeyset")
	assert.NotContains(t, string(out), "keyData", "no key material in clear")
	for _, k := range insecurecleartextkeyset.KeysetMaterial(ks.Handle()).GetKey() {
		assert.NotContains(t, string(out), base64.StdEncoding.EncodeToString(k.GetKeyData().GetValue()))
	}
	assert.Equal(t, []string{"keyset.created", "keyset.exported"}, log.Types())

	_, err = keyset.ReadWithAssociatedData(keyset.NewJSONReader(bytes.NewReader(out)), escrow, []byte("other"))
	assert.Error(t, err, "the associated data binds the export")
	h, err := keyset.ReadWithAssociatedData(keyset.NewJSONReader(bytes.NewReader(out)), escrow, []byte("escrow 2026"))
	require.NoError(t, err)
	plain, err := aead.New(h)
	require.NoError(t, err)
	pt, err := plain.Decrypt(ct, []byte("ad"))
	require.NoError(t, err)
	assert.Equal(t, "a@example.com", string(pt))

	other := keys.NewMemory()
	moved, err := other.Import(ctx, "default", keys.KindAEAD, h)
	require.NoError(t, err)
	assert.Equal(t, ks.PrimaryKeyID(), moved.PrimaryKeyID())

	tests := []struct {
		name    string
		keyset  string
		kek     tink.AEAD
		wantErr error
	}{
		{"missing keyset", "nope", escrow, keys.ErrKeysetNotFound},
		{"nil KEK", "default", nil, keys.ErrInvalidKEK},
		{"failing KEK", "default", failingKEK{}, nil},
	}
	for _, tt := range tests {
		out, err := s.Export(ctx, tt.keyset, keys.KindAEAD, tt.kek, nil)
		assert.Error(t, err, tt.name)
		assert.Nil(t, out, tt.name)
		if tt.wantErr != nil {
			assert.ErrorIs(t, err, tt.wantErr, tt.name)
		}
	}
	assert.Equal(t, []string{"keyset.created", "keyset.exported", "kms.failure"}, log.Types(), "only the export that happened is reported as one")
}
