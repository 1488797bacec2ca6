package inventory_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

// The types of testdata/nested, declared again for pii.Inventory.
type Addr struct {
	Street string `pii:"encrypt"`
}

type OwnAddr struct {
	Owner  string `pii:"subject"`
	Street string `pii:"encrypt,purpose=shipping"`
}

type Rec struct {
	_     struct{} `pii:"basis=contract"`
	ID    string   `pii:"subject"`
	Email string   `pii:"encrypt,purpose=account"`
	Alias string   `pii:"deterministic,purpose=marketing"`
	Idx   string   `pii:"index=Email"`
	Home  Addr
	Own   OwnAddr
	Many  []*Addr
}

// tillid inventory and pii.Inventory bind the same fields to the same
// subject fields: a field sealed under subject keys, to its own struct's
// subject field; a nested struct's fields, to its own subject or none.
func TestSubjectBindingAgreesWithPii(t *testing.T) {
	reg, err := build(t, "nested", ".")
	require.NoError(t, err)
	cli := map[string]string{}
	for _, f := range reg.Fields {
		path := strings.TrimPrefix(f.Path, "example.com/nested.")
		cli[path] = f.Subject
	}
	rt, err := pii.Inventory(Rec{})
	require.NoError(t, err)
	require.Len(t, cli, len(rt), "both list the same fields")
	want := map[string]string{"Rec.Email": "ID", "Rec.Alias": "ID", "Rec.Own.Street": "Own.Owner"}
	for _, f := range rt {
		// pii names the subject field by its Go path from the type name,
		// tillid inventory from the top-level type.
		runtime := strings.TrimPrefix(f.Subject, "Rec.")
		got, ok := cli[f.Path]
		if assert.True(t, ok, "tillid inventory lists %s", f.Path) {
			assert.Equal(t, runtime, got, "%s: the CLI and pii bind it alike", f.Path)
		}
		assert.Equal(t, want[f.Path], runtime, "%s", f.Path)
	}
}

// A purpose-bound sealed field in a struct nested in a subject record
// without a subject of its own is an error in both.
func TestNestedPurposeIsAnError(t *testing.T) {
	_, err := build(t, "nested", "./bad")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "example.com/nested/bad.Bad.Home.Street")
	assert.Contains(t, err.Error(), "purpose=shipping")
	type BadAddr struct {
		Street string `pii:"encrypt,purpose=shipping"`
	}
	type Bad struct {
		ID   string `pii:"subject"`
		Home BadAddr
	}
	assert.ErrorIs(t, pii.Validate(Bad{}), pii.ErrInvalidTag, "pii refuses it too")
}
