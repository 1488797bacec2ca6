package pii_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

type nestPurposeAddr struct {
	Street string `pii:"encrypt,purpose=shipping"`
}

type nestDefaultAddr struct {
	_      struct{} `pii:"purpose=shipping"`
	Street string   `pii:"deterministic"`
}

type nestPlainAddr struct {
	Street string `pii:"encrypt"`
}

type nestOwnSubjectAddr struct {
	Owner  string `pii:"subject"`
	Street string `pii:"encrypt,purpose=shipping"`
}

type nestDeep struct {
	Inner nestPurposeAddr
}

// A sealed field that names a purpose, in a struct nested in a record with
// a subject field but with no subject field of its own, is refused at plan
// time (Forget and Withdraw would not reach it); its own subject field, or
// no purpose, or no subject in the record, is accepted.
func TestNestedSubjectPurpose(t *testing.T) {
	t.Parallel()
	type byValue struct {
		ID   string `pii:"subject"`
		Home nestPurposeAddr
	}
	type bySlice struct {
		ID   string `pii:"subject"`
		Ship []*nestPurposeAddr
	}
	type byMap struct {
		ID    string `pii:"subject"`
		Label map[string]nestDefaultAddr
	}
	type deep struct {
		ID string `pii:"subject"`
		D  nestDeep
	}
	type ownSubject struct {
		ID   string `pii:"subject"`
		Home nestOwnSubjectAddr
	}
	type noPurpose struct {
		ID   string `pii:"subject"`
		Home nestPlainAddr
	}
	type noSubject struct {
		Name string `pii:"encrypt"`
		Home nestPurposeAddr
	}
	tests := []struct {
		name   string
		v      any
		path   string // "" when accepted
		reason string
	}{
		{"nested by value", byValue{}, "byValue.Home.Street", "purpose= on the nested field"},
		{"through a slice of pointers", bySlice{}, "bySlice.Ship.Street", "containers do not change whose data it is"},
		{"the nested struct's default purpose", byMap{}, "byMap.Label.Street", "a purpose from the nested struct's own default"},
		{"two levels down", deep{}, "deep.D.Inner.Street", "nesting below nesting"},
		{"its own subject field", ownSubject{}, "", "the nested struct's subject binds its fields"},
		{"no purpose", noPurpose{}, "", "no purpose claims a subject key; Erase clears the field"},
		{"no subject in the record", noSubject{}, "", "purpose= is only a register entry there"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := pii.Validate(tt.v)
			if tt.path == "" {
				assert.NoError(t, err, tt.reason)
				return
			}
			require.Error(t, err, tt.reason)
			assert.ErrorIs(t, err, pii.ErrInvalidTag, tt.reason)
			var fe *pii.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.path, fe.Path, "the error names the field")
			assert.Contains(t, err.Error(), "shipping", "and its purpose")
			assert.Contains(t, err.Error(), "`pii:\"subject\"` field to the nested struct", "and the fix")
		})
	}
	// Protect refuses it too, before any key is used.
	p, err := pii.New(keys.NewMemory())
	require.NoError(t, err)
	v := struct {
		ID   string `pii:"subject"`
		Home nestPurposeAddr
	}{ID: "s", Home: nestPurposeAddr{Street: "Main St 1"}}
	assert.ErrorIs(t, p.Protect(context.Background(), &v), pii.ErrInvalidTag)
	assert.Equal(t, "Main St 1", v.Home.Street, "nothing changed")

	// Inventory binds a nested struct's fields to its own subject only.
	got, err := pii.Inventory(ownSubject{}, noPurpose{})
	require.NoError(t, err)
	subjects := map[string]string{}
	for _, f := range got {
		subjects[f.Path] = f.Subject
	}
	assert.Equal(t, "ownSubject.Home.Owner", subjects["ownSubject.Home.Street"], "the nested struct's own subject")
	assert.Equal(t, "", subjects["noPurpose.Home.Street"], "not the record's: the field is not under its subject keys")
}
