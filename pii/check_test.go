package pii_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/tokenize"
)

// provisioned serves only the keysets it was given, from a memory store,
// like a production store opened without keys.WithCreateMissing, and
// records what it was asked for.
type provisioned struct {
	store *keys.Store
	have  []keys.KeysetID
	mu    sync.Mutex
	asked []keys.KeysetID
}

func (p *provisioned) Keyset(ctx context.Context, name string, kind keys.Kind) (*keys.Keyset, error) {
	id := keys.KeysetID{Name: name, Kind: kind}
	p.mu.Lock()
	if !slices.Contains(p.asked, id) {
		p.asked = append(p.asked, id)
	}
	p.mu.Unlock()
	if !slices.Contains(p.have, id) {
		return nil, keys.ErrKeysetNotFound
	}
	return p.store.Keyset(ctx, name, kind)
}

type checkCustomer struct {
	ID      string `pii:"-"`
	Name    string `pii:"encrypt,key=crm"`
	Email   string `pii:"deterministic"`
	EmailIx string `pii:"index=Email"`
	Pseud   string `pii:"pseudonym,key=ana"`
	Notes   []checkNote
}

type checkNote struct {
	Text string `pii:"encrypt,key=notes"`
}

type checkCard struct {
	ID   string `pii:"-"`
	Card string `pii:"tokenize=card,aad=ID"`
}

type checkSubject struct {
	ID   string `pii:"subject"`
	Name string `pii:"encrypt,purpose=billing"`
}

// Check asks for exactly the keysets the types' plans use, passes when
// they are all there and fails at start-up, wrapping ErrKeyProvider and
// naming the keyset, when one is missing.
func TestProtectorCheckKeysets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	want := []keys.KeysetID{
		{Name: "crm", Kind: keys.KindAEAD},
		{Name: "default", Kind: keys.KindDeterministicAEAD},
		{Name: "default", Kind: keys.KindPRF},
		{Name: "ana", Kind: keys.KindPRF},
		{Name: "notes", Kind: keys.KindAEAD},
	}
	tests := []struct {
		name    string
		have    []keys.KeysetID
		wantErr error
		wantIn  string
		reason  string
	}{
		{name: "all provisioned", have: want, reason: "every keyset the fields use is there"},
		{name: "nested keyset missing", have: want[:4], wantErr: keys.ErrKeysetNotFound, wantIn: "notes/", reason: "a struct reached through a slice is checked too"},
		{name: "key= keyset missing", have: want[1:], wantErr: keys.ErrKeysetNotFound, wantIn: "crm/", reason: "key= names the keyset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prov := &provisioned{store: keys.NewMemory(), have: tt.have}
			p, err := pii.New(prov)
			require.NoError(t, err)
			err = p.Check(ctx, &checkCustomer{}, reflect.TypeOf(checkNote{}))
			if tt.wantErr == nil {
				require.NoError(t, err, tt.reason)
			} else {
				require.Error(t, err, tt.reason)
				assert.ErrorIs(t, err, pii.ErrKeyProvider, tt.reason)
				assert.ErrorIs(t, err, tt.wantErr, tt.reason)
				assert.Contains(t, err.Error(), tt.wantIn, tt.reason)
			}
			assert.ElementsMatch(t, want, prov.asked, "Check asks for the keysets of the plans, no more: %s", tt.reason)
		})
	}
}

// A tokenize= domain without a tokenizer is a configuration error naming
// the field and the domain, from Check and from Protect, not a key
// failure; with one, its keysets are checked against its own provider.
func TestProtectorCheckTokenizers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, err := pii.New(keys.NewMemory())
	require.NoError(t, err)
	for name, err := range map[string]error{
		"Check":   p.Check(ctx, checkCard{}),
		"Protect": p.Protect(ctx, &checkCard{ID: "1", Card: "4111111111111111"}),
	} {
		require.Error(t, err, name)
		assert.ErrorIs(t, err, pii.ErrInvalidTag, name)
		assert.NotErrorIs(t, err, pii.ErrKeyProvider, name)
		assert.Contains(t, err.Error(), "Card", "%s names the field", name)
		assert.Contains(t, err.Error(), `"card"`, "%s names the domain", name)
		assert.NotContains(t, err.Error(), "4111111111111111", name)
	}

	fpeKeys := &provisioned{store: keys.NewMemory()}
	fpe, err := tokenize.NewFPE(fpeKeys, "card", tokenize.Digits)
	require.NoError(t, err)
	q, err := pii.New(&provisioned{store: keys.NewMemory()}, pii.WithFPE(fpe))
	require.NoError(t, err)
	err = q.Check(ctx, checkCard{})
	assert.ErrorIs(t, err, pii.ErrKeyProvider, "the FPE's keyset is missing")
	assert.ErrorIs(t, err, keys.ErrKeysetNotFound)
	assert.Equal(t, fpe.Keysets(), fpeKeys.asked, "the FPE's keysets are asked of the FPE's provider")
	fpeKeys.have = fpe.Keysets()
	assert.NoError(t, q.Check(ctx, checkCard{}), "provisioned, the FPE passes")
}

// Subject-keyed fields need the subject keys' wrapping and pseudonym
// keysets, and a Protector with subject keys.
func TestProtectorCheckSubjectKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bare, err := pii.New(keys.NewMemory())
	require.NoError(t, err)
	assert.ErrorIs(t, bare.Check(ctx, checkSubject{}), pii.ErrKeyProvider, "no subject keys on the Protector")

	skProv := &provisioned{store: keys.NewMemory()}
	sk, err := keys.NewSubjectKeys(skProv, keys.NewMemorySubjectKeyStore(), keys.NewMemoryLedger())
	require.NoError(t, err)
	fieldProv := &provisioned{store: keys.NewMemory()}
	p, err := pii.New(fieldProv, pii.WithSubjectKeys(sk))
	require.NoError(t, err)
	err = p.Check(ctx, checkSubject{})
	assert.ErrorIs(t, err, pii.ErrKeyProvider)
	assert.ErrorIs(t, err, keys.ErrKeysetNotFound, "the wrapping keysets are missing")
	assert.ElementsMatch(t, sk.Keysets(), skProv.asked, "the subject keys' keysets are asked of their provider")
	assert.Empty(t, fieldProv.asked, "a subject-keyed field uses no keyset of its own")
	skProv.have = sk.Keysets()
	assert.NoError(t, p.Check(ctx, checkSubject{}))
}

// Check refuses what cannot be checked.
func TestProtectorCheckInputs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, err := pii.New(keys.NewMemory())
	require.NoError(t, err)
	assert.ErrorIs(t, p.Check(ctx), pii.ErrInvalidTarget, "no types")
	assert.ErrorIs(t, p.Check(ctx, 3), pii.ErrInvalidTarget, "not a struct")
	type bad struct {
		A string `pii:"encrypt,nonsense"`
	}
	assert.ErrorIs(t, p.Check(ctx, bad{}), pii.ErrInvalidTag)
	var nilP *pii.Protector
	assert.True(t, errors.Is(nilP.Check(ctx, checkNote{}), pii.ErrInvalidTarget))
}
