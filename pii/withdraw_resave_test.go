package pii_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

// consentRecord has an optional marketing field of each nullable kind.
type consentRecord struct {
	ID    string            `pii:"subject"`
	Email string            `pii:"encrypt,class=contact"`
	Promo *string           `pii:"encrypt,purpose=marketing,basis=consent"`
	Opt   sql.NullString    `pii:"encrypt,purpose=marketing,basis=consent"`
	Val   pii.Value[string] `pii:"encrypt,purpose=marketing,basis=consent"`
	Raw   []byte            `pii:"encrypt,purpose=marketing,basis=consent"`
}

// After Withdraw of a purpose, a record whose fields of that purpose are
// absent or empty saves again; one holding a value for it fails with
// ErrErased in a FieldError naming that field.
func TestProtectAfterWithdrawNeedsNoKeyForAbsentFields(t *testing.T) {
	ctx := context.Background()
	e := newSubjectEnv(t)
	s := "offer"
	sealed := s
	require.NoError(t, e.p.Protect(ctx, &consentRecord{ID: "c-2", Email: "e", Promo: &sealed, Raw: []byte("x")}))
	_, err := e.p.Withdraw(ctx, "c-2", "marketing")
	require.NoError(t, err)

	fresh := &consentRecord{ID: "c-2", Email: "new-email"}
	require.NoError(t, e.p.Protect(ctx, fresh), "absent marketing fields need no marketing key")
	assert.NotEqual(t, "new-email", fresh.Email, "the base field is sealed")

	tests := []struct {
		name   string
		rec    consentRecord
		path   string
		reason string
	}{
		{"pointer", consentRecord{ID: "c-2", Email: "e", Promo: &s}, "consentRecord.Promo", "a non-nil pointer holds a value"},
		{"valid NullString", consentRecord{ID: "c-2", Email: "e", Opt: sql.NullString{String: "x", Valid: true}}, "consentRecord.Opt", "a valid NullString holds a value"},
		{"value", consentRecord{ID: "c-2", Email: "e", Val: pii.NewValue("x")}, "consentRecord.Val", "a non-null Value holds a value"},
		{"bytes", consentRecord{ID: "c-2", Email: "e", Raw: []byte("x")}, "consentRecord.Raw", "a non-empty slice holds a value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.rec
			err := e.p.Protect(ctx, &rec)
			require.ErrorIs(t, err, pii.ErrErased, tt.reason)
			var fe *pii.FieldError
			require.True(t, errors.As(err, &fe), "Protect = %v, want a *pii.FieldError", err)
			assert.Equal(t, tt.path, fe.Path, tt.reason)
			assert.Equal(t, "e", rec.Email, "all or nothing")
		})
	}

	// Empty values of the erased purpose are kept as they are: nothing to
	// seal, no key needed.
	empty := consentRecord{ID: "c-2", Email: "e", Promo: new(string), Opt: sql.NullString{Valid: true}, Raw: []byte{}}
	require.NoError(t, e.p.Protect(ctx, &empty), "empty values of an erased purpose need no key")
	assert.Equal(t, "", *empty.Promo)
	assert.Equal(t, sql.NullString{Valid: true}, empty.Opt)
	assert.Equal(t, []byte{}, empty.Raw)
	assert.NotEqual(t, "e", empty.Email, "the base field is sealed")
}

func TestErasureStringNamesBaseKey(t *testing.T) {
	got := pii.Erasure{Keys: []string{"", "care", "marketing"}}.String()
	assert.Contains(t, got, "keys=[base care marketing]", "the base key is printed as base, not as an empty string")
}
