package pii_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

type Nest struct {
	ID   string `pii:"-"`
	Addr struct {
		Street string `pii:"encrypt,key=addr"`
	}
	C *TwoFields
}

func TestColumnFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    any
		path string
		want pii.Column
	}{
		{TwoFields{}, "A", pii.Column{Type: "TwoFields", Field: "A", Action: pii.ActionEncrypt, Key: "default", RecordField: "ID"}},
		{&TwoFields{}, "D1", pii.Column{Type: "TwoFields", Field: "D1", Action: pii.ActionDeterministic, Key: "default"}},
		{Nest{}, "Addr.Street", pii.Column{Type: `struct { Street string "pii:\"encrypt,key=addr\"" }`, Field: "Street", Action: pii.ActionEncrypt, Key: "addr"}},
		{Nest{}, "C.B", pii.Column{Type: "TwoFields", Field: "B", Action: pii.ActionEncrypt, Key: "default", RecordField: "ID"}},
	}
	for _, tt := range tests {
		got, err := pii.ColumnFor(tt.v, tt.path)
		assert.False(t, err != nil || got != tt.want, "ColumnFor(%T, %q) = %+v, %v; want %+v", tt.v, tt.path, got, err, tt.want)
	}
	for _, path := range []string{"ID", "Nope", "", "A.B", "C.Nope"} {
		assert.Error(t, errOf2(pii.ColumnFor(TwoFields{}, path)), "ColumnFor(TwoFields, %q) succeeded", path)
	}
}

func TestRewrapStored(t *testing.T) {
	t.Parallel()
	p, store := newProtector(t)
	r := TwoFields{ID: "42", A: "alpha", B: "beta", D1: "d", D2: "e"}
	mustProtect(t, p, &r)
	colA, _ := pii.ColumnFor(TwoFields{}, "A")
	colD, _ := pii.ColumnFor(TwoFields{}, "D1")

	if out, changed, err := p.RewrapStored(ctx, colA, "42", r.A); err != nil || changed || out != r.A {
		t.Fatalf("RewrapStored before rotation = %v, %v", changed, err)
	}
	store.Rotate(ctx, "default", keys.KindAEAD)
	store.Rotate(ctx, "default", keys.KindDeterministicAEAD)
	newA, changed, err := p.RewrapStored(ctx, colA, "42", r.A)
	require.False(t, err != nil || !changed || newA == r.A, "RewrapStored after rotation = %v, %v", changed, err)
	newD, changed, err := p.RewrapStored(ctx, colD, "", r.D1)
	require.False(t, err != nil || !changed, "RewrapStored(deterministic) = %v, %v", changed, err)
	// The rewrapped stored values reveal through the struct path too.
	r.A, r.D1 = newA, newD
	mustReveal(t, p, &r)
	assert.False(t, r.A != "alpha" || r.D1 != "d", "after RewrapStored: %+v", r)
	if pt, err := p.RevealStored(ctx, colA, "42", newA); err != nil || pt != "alpha" {
		t.Errorf("RevealStored = %q, %v", pt, err)
	}
	assert.ErrorIs(t, errOf3(p.RewrapStored(ctx, colA, "43", newA)), pii.ErrDecryption, "RewrapStored with another record ID")
	assert.ErrorIs(t, errOf3(p.RewrapStored(ctx, colA, "", newA)), pii.ErrMissingRecordID, "RewrapStored without record ID")
	assert.ErrorIs(t, errOf3(p.RewrapStored(ctx, colA, "42", "plain")), pii.ErrNotProtected, "RewrapStored(plaintext)")
	assert.Error(t, errOf3(p.RewrapStored(ctx, pii.Column{Type: "TwoFields"}, "42", newA)), "RewrapStored with an incomplete Column succeeded")
}

func TestKeyIDOfIndexes(t *testing.T) {
	t.Parallel()
	p, store := newProtector(t)
	u := person("1", "a@example.com")
	mustProtect(t, p, &u)
	ks, _ := store.Keyset(ctx, "default", keys.KindPRF)
	if m, id, err := pii.KeyID(u.EmailIdx); m != pii.ActionBlindIndex || id != ks.PrimaryKeyID() || err != nil {
		t.Errorf("KeyID(index) = %v, %d, %v", m, id, err)
	}
	if m, _, err := pii.KeyID(u.Pseudo); m != pii.ActionPseudonym || err != nil {
		t.Errorf("KeyID(hash) = %v, %v", m, err)
	}
	if m, _, err := pii.KeyID(u.Domain); m != pii.ActionBlindIndex || err != nil {
		t.Errorf("KeyID(index) = %v, %v", m, err)
	}
	if got := pii.StoredLen(pii.ActionBlindIndex, pii.IndexSize); got != len(u.EmailIdx) || got != 33 {
		t.Errorf("StoredLen(index, 16) = %d, stored %d, want 33", got, len(u.EmailIdx))
	}
	assert.EqualValues(t, len(u.Domain), pii.StoredLenBytes(pii.ActionBlindIndex, 2), "StoredLenBytes(index, 2)")
}

func TestRewrapCountsMapValuesOnce(t *testing.T) {
	t.Parallel()
	p, store := newProtector(t)
	type withMap struct {
		M map[string]string `pii:"encrypt,plainkeys"`
	}
	v := withMap{M: map[string]string{"a": "1", "b": "2"}}
	mustProtect(t, p, &v)
	store.Rotate(ctx, "default", keys.KindAEAD)
	if n, err := p.Rewrap(ctx, &v); n != 2 || err != nil {
		t.Errorf("Rewrap of a two-value map = %d, %v; want 2", n, err)
	}
}
