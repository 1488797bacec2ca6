package keys_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
)

// fixedProvider serves one keyset for every name and kind, or an error.
type fixedProvider struct {
	ks  *keys.Keyset
	err error
}

func (p fixedProvider) Keyset(context.Context, string, keys.Kind) (*keys.Keyset, error) {
	return p.ks, p.err
}

// Check passes a store that holds every keyset a service needs, and fails,
// naming each failing keyset with its cause, a store opened at start-up
// without them.
func TestCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	crm := keys.KeysetID{Name: "crm", Kind: keys.KindAEAD}
	crmIdx := keys.KeysetID{Name: "crm", Kind: keys.KindDeterministicAEAD}
	card := keys.KeysetID{Name: "tokenize-card", Kind: keys.KindPRF}

	path := filepath.Join(t.TempDir(), "keysets.json")
	kek, err := keys.NewLocalKEK(newKEK(t))
	require.NoError(t, err)
	provision, err := keys.OpenFile(path, kek, keys.WithCreateMissing())
	require.NoError(t, err)
	for _, id := range []keys.KeysetID{crm, crmIdx, card} {
		_, err := provision.Keyset(ctx, id.Name, id.Kind)
		require.NoError(t, err, "provisioning %s", id)
	}
	_, err = provision.Rotate(ctx, crm.Name, crm.Kind)
	require.NoError(t, err, "a rotated keyset still passes")
	service, err := keys.OpenFile(path, kek)
	require.NoError(t, err)
	other := keys.NewMemory()
	aeadKS, err := other.Keyset(ctx, "x", keys.KindAEAD)
	require.NoError(t, err)

	tests := []struct {
		name     string
		provider keys.Provider
		needs    []keys.KeysetID
		wantErrs []error // nil: Check passes
		wantIn   []string
		reason   string
	}{
		{name: "every keyset there", provider: service, needs: []keys.KeysetID{crm, crmIdx, card, crm}},
		{name: "a missing keyset", provider: service, needs: []keys.KeysetID{crm, {Name: "crn", Kind: keys.KindAEAD}},
			wantErrs: []error{keys.ErrKeysetNotFound, keys.ErrKeyNotFound}, wantIn: []string{"crn/aead"},
			reason: "a mistyped key name fails at start-up, not at the first request"},
		{name: "two failures are both reported", provider: service, needs: []keys.KeysetID{{Name: "a", Kind: keys.KindAEAD}, {Name: "b", Kind: keys.KindPRF}},
			wantErrs: []error{keys.ErrKeysetNotFound}, wantIn: []string{"a/aead", "b/prf"},
			reason: "an operator fixes every missing keyset in one go"},
		{name: "the wrong kind", provider: fixedProvider{ks: aeadKS}, needs: []keys.KeysetID{card},
			wantErrs: []error{keys.ErrNoPrimaryKey}, wantIn: []string{"tokenize-card/prf"},
			reason: "a provider that serves another kind cannot compute this one"},
		{name: "an empty keyset", provider: fixedProvider{ks: &keys.Keyset{}}, needs: []keys.KeysetID{crm},
			wantErrs: []error{keys.ErrNoPrimaryKey}, reason: "a zero Keyset has no primary"},
		{name: "the provider fails", provider: fixedProvider{err: keys.ErrKMSUnavailable}, needs: []keys.KeysetID{crm},
			wantErrs: []error{keys.ErrKMSUnavailable}, wantIn: []string{"crm/aead"}},
		{name: "an invalid kind", provider: service, needs: []keys.KeysetID{{Name: "crm"}},
			wantErrs: []error{keys.ErrInvalidKind}},
		{name: "nothing to check", provider: service, wantIn: []string{"no keysets"},
			reason: "a check of nothing would pass any store"},
		{name: "a nil provider", needs: []keys.KeysetID{crm}, wantErrs: []error{keys.ErrKeyNotFound}},
	}
	for _, tt := range tests {
		err := keys.Check(ctx, tt.provider, tt.needs...)
		if tt.wantErrs == nil && tt.wantIn == nil {
			assert.NoError(t, err, "%s: Check", tt.name)
			continue
		}
		require.Error(t, err, "%s: Check = nil: %s", tt.name, tt.reason)
		for _, want := range tt.wantErrs {
			assert.ErrorIs(t, err, want, "%s: %s", tt.name, tt.reason)
		}
		for _, want := range tt.wantIn {
			assert.Contains(t, err.Error(), want, "%s: the error names the keyset", tt.name)
		}
	}
}
