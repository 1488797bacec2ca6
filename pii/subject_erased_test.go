package pii_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

// CardHolder has a vaulted token and no field under a subject key.
type CardHolder struct {
	ID   string `pii:"subject"`
	Card string `pii:"tokenize=card"`
}

// TestProtectErasedNamesField: Protect of new data for a forgotten
// subject, or for a withdrawn purpose, fails with a *FieldError naming the
// field sealed under the erased key, which still matches ErrErased and
// carries neither the subject ID nor the value.
func TestProtectErasedNamesField(t *testing.T) {
	t.Parallel()
	e := newSubjectEnv(t)
	ctx := context.Background()
	rows := []Member{customer("gerda-4711"), customer("hugo-4712")}
	require.NoError(t, e.p.Protect(ctx, &rows))
	_, err := e.p.Forget(ctx, "gerda-4711")
	require.NoError(t, err)
	_, err = e.p.Withdraw(ctx, "hugo-4712", "marketing")
	require.NoError(t, err)

	tests := []struct {
		name     string
		rec      any
		wantPath string
		reason   string
	}{
		{name: "forgotten", rec: &Member{ID: "gerda-4711", Email: "gerda@example.com"}, wantPath: "Member.Email", reason: "the first field under gerda's destroyed base key"},
		{name: "withdrawn", rec: &Member{ID: "hugo-4712", Promo: "secret-promo-value", Email: "hugo@example.com"}, wantPath: "Member.Promo", reason: "hugo's base key is intact; his marketing key is not"},
		{name: "in a batch", rec: &[]Member{customer("ida-4713"), {ID: "gerda-4711", Email: "gerda@example.com"}}, wantPath: "[]pii_test.Member[1].Email", reason: "the record of the erased subject, not the batch"},
		{name: "token of a forgotten subject", rec: &CardHolder{ID: "gerda-4711", Card: "4111111111111111"}, wantPath: "CardHolder.Card", reason: "Forget deleted her tokens; no new ones"},
	}
	for _, tt := range tests {
		err := e.p.Protect(ctx, tt.rec)
		require.ErrorIs(t, err, pii.ErrErased, tt.name)
		var fe *pii.FieldError
		require.True(t, errors.As(err, &fe), "%s: Protect = %v, want a *pii.FieldError", tt.name, err)
		assert.Equal(t, tt.wantPath, fe.Path, "%s: %s", tt.name, tt.reason)
		for _, secret := range []string{"gerda", "hugo", "secret-promo-value", "4111"} {
			assert.NotContains(t, err.Error(), secret, "%s: the error carries no subject ID or value", tt.name)
		}
	}
}

type twoSubjectsUnnamed struct {
	Sender    string `pii:"subject"`
	Recipient string `pii:"subject"`
	Note      string `pii:"redact"`
}

type subjectWithPurpose struct {
	ID    string `pii:"subject,purpose=billing"`
	Email string `pii:"encrypt"`
}

type twoSubjectsToken struct {
	Sender    string `pii:"subject"`
	Recipient string `pii:"subject"`
	From      string `pii:"encrypt,subject=Sender"`
	Card      string `pii:"tokenize=card"`
}

type twoSubjectsTokenNamed struct {
	Sender    string `pii:"subject"`
	Recipient string `pii:"subject"`
	From      string `pii:"encrypt,subject=Sender"`
	Card      string `pii:"tokenize=card,subject=Recipient"`
}

// TestValidateSubjectFields: a struct whose subject tags bind nothing, or
// bind a purpose to the ID itself, is refused with ErrInvalidTag naming
// the field and the fix.
func TestValidateSubjectFields(t *testing.T) {
	t.Parallel()
	checkValidate(t, []validateCase{
		{name: "two subjects, none named", v: twoSubjectsUnnamed{}, wantPath: "twoSubjectsUnnamed.Recipient", wantText: "subject=<Field>", reason: "whose data is it?"},
		{name: "purpose on the subject", v: subjectWithPurpose{}, wantPath: "subjectWithPurpose.ID", wantText: "drop purpose= here", reason: "no purpose's key seals the ID"},
		{name: "token without subject=", v: twoSubjectsToken{}, wantPath: "twoSubjectsToken.Card", wantText: "subject=<Field>", reason: "Forget of neither subject would delete the token"},
		{name: "token with subject=", v: twoSubjectsTokenNamed{}},
		{name: "two subjects, each named", v: Parcel{}},
	})
}

// validateCase is a row of a table of pii.Validate calls.
type validateCase struct {
	name     string
	v        any
	wantPath string // "" means valid
	wantText string
	reason   string
}

// checkValidate runs pii.Validate on each case: nil, or a *FieldError at
// wantPath wrapping ErrInvalidTag whose text holds wantText.
func checkValidate(t *testing.T, tests []validateCase) {
	t.Helper()
	for _, tt := range tests {
		err := pii.Validate(tt.v)
		if tt.wantPath == "" {
			assert.NoError(t, err, "%s: %s", tt.name, tt.reason)
			continue
		}
		require.ErrorIs(t, err, pii.ErrInvalidTag, tt.name)
		var fe *pii.FieldError
		require.True(t, errors.As(err, &fe), "%s: Validate = %v, want a *pii.FieldError", tt.name, err)
		assert.Equal(t, tt.wantPath, fe.Path, "%s: %s", tt.name, tt.reason)
		assert.Contains(t, err.Error(), tt.wantText, tt.name)
	}
}

// TestSubjectTokenNamesItsSubject: in a record of two people, Forget of
// the subject a token names deletes it; Forget of the other does not.
func TestSubjectTokenNamesItsSubject(t *testing.T) {
	t.Parallel()
	e := newSubjectEnv(t)
	ctx := context.Background()
	stored := twoSubjectsTokenNamed{Sender: "sven", Recipient: "rita", From: "Oslo", Card: "4111111111111111"}
	require.NoError(t, e.p.Protect(ctx, &stored))
	_, err := e.p.Forget(ctx, "sven")
	require.NoError(t, err)
	got := stored
	rep, err := e.p.RevealReport(ctx, &got)
	require.NoError(t, err)
	assert.Equal(t, []string{"twoSubjectsTokenNamed.From"}, rep.Erased, "sven's field only")
	assert.Equal(t, "4111111111111111", got.Card, "rita's token stays")
	receipt, err := e.p.Forget(ctx, "rita")
	require.NoError(t, err)
	assert.Equal(t, int64(1), receipt.Tokens, "rita's token is deleted with her")
	got = stored
	rep, err = e.p.RevealReport(ctx, &got)
	require.NoError(t, err)
	assert.Equal(t, []string{"twoSubjectsTokenNamed.From", "twoSubjectsTokenNamed.Card"}, rep.Erased)
}

// inhAddr has a subject field of its own and no purpose: under its
// subject's base key.
type inhAddr struct {
	ID     string `pii:"subject"`
	Street string `pii:"encrypt"`
}

// inhPlainAddr has no subject field.
type inhPlainAddr struct {
	Street string `pii:"encrypt"`
}

// inhMarketingAddr names the purpose in its own default.
type inhMarketingAddr struct {
	_      struct{} `pii:"purpose=marketing"`
	ID     string   `pii:"subject"`
	Street string   `pii:"encrypt"`
	Email  string   `pii:"encrypt,purpose=account"`
}

type inhCustomer struct {
	_    struct{} `pii:"purpose=marketing"`
	ID   string   `pii:"subject"`
	Name string   `pii:"encrypt"`
	Home inhAddr
}

type inhCustomerPlain struct {
	_    struct{} `pii:"purpose=marketing"`
	ID   string   `pii:"subject"`
	Home []inhPlainAddr
}

type inhWrapper struct {
	Inner inhAddr
}

type inhDeep struct {
	_ struct{} `pii:"purpose=marketing"`
	W *inhWrapper
}

type inhNoSubject struct {
	_    struct{} `pii:"purpose=marketing"`
	Home inhPlainAddr
}

type inhCustomerOwn struct {
	_    struct{} `pii:"purpose=marketing"`
	ID   string   `pii:"subject"`
	Name string   `pii:"encrypt"`
	Home inhMarketingAddr
}

// TestInheritedPurpose: a purpose that a sealed field would take only
// from an enclosing struct's default is refused at plan time, since it
// would not select the subject key (Withdraw would not reach the field);
// naming it in the nested struct's own default seals the field under the
// purpose's key, and Withdraw erases it.
func TestInheritedPurpose(t *testing.T) {
	t.Parallel()
	const fix = "purpose=marketing"
	checkValidate(t, []validateCase{
		{name: "own subject, inherited purpose", v: inhCustomer{}, wantPath: "inhCustomer.Home.Street", wantText: fix, reason: "under inhAddr's base key, while the register says marketing"},
		{name: "no subject below a subject record", v: inhCustomerPlain{}, wantPath: "inhCustomerPlain.Home.Street", wantText: fix, reason: "under the field keyset: no erasure reaches it"},
		{name: "two levels down", v: inhDeep{}, wantPath: "inhDeep.W.Inner.Street", wantText: fix, reason: "the default carries through untagged structs"},
		{name: "no subject anywhere", v: inhNoSubject{}, reason: "no subject keys: the purpose only names the register entry"},
		{name: "nested default", v: inhCustomerOwn{}, reason: "the nested struct's own default selects the key"},
	})

	e := newSubjectEnv(t)
	ctx := context.Background()
	stored := inhCustomerOwn{ID: "nora", Name: "Nora", Home: inhMarketingAddr{ID: "nora", Street: "Elm 1", Email: "nora@example.com"}}
	require.NoError(t, e.p.Protect(ctx, &stored))
	_, err := e.p.Withdraw(ctx, "nora", "marketing")
	require.NoError(t, err)
	got := stored
	rep, err := e.p.RevealReport(ctx, &got)
	require.NoError(t, err)
	assert.Equal(t, []string{"inhCustomerOwn.Name", "inhCustomerOwn.Home.Street"}, rep.Erased, "both marketing fields")
	assert.Equal(t, "nora@example.com", got.Home.Email, "the account field stays")
}

// inhPlainToken is a nested struct without purposes or subject keys.
type inhPlainToken struct {
	Street string `pii:"encrypt"`
	Card   string `pii:"tokenize=card"`
}

type inhScoped struct {
	_     struct{} `pii:"purpose=marketing"`
	Name  string   `pii:"encrypt,purpose=billing"`
	Home  inhPlainToken
	Other struct {
		_    struct{} `pii:"purpose=billing"`
		Kept inhPlainToken
	}
}

// TestWithPurposeInherited: WithPurpose withholds a field whose purpose
// comes from an enclosing struct's default, as it would one of its own: the
// register says the field is held for that purpose.
func TestWithPurposeInherited(t *testing.T) {
	t.Parallel()
	e := newSubjectEnv(t)
	ctx := context.Background()
	stored := inhScoped{Name: "Nils", Home: inhPlainToken{Street: "Elm 1", Card: "4111111111111111"}}
	stored.Other.Kept = inhPlainToken{Street: "Oak 2", Card: "5500000000000004"}
	require.NoError(t, e.p.Protect(ctx, &stored))
	got := stored
	rep, err := e.p.RevealReport(pii.WithPurpose(ctx, "billing"), &got)
	require.NoError(t, err)
	assert.Equal(t, []string{"inhScoped.Home.Street", "inhScoped.Home.Card"}, rep.Withheld, "the marketing fields, by inheritance")
	assert.Equal(t, stored.Home, got.Home, "left as stored")
	assert.Equal(t, "Nils", got.Name)
	assert.Equal(t, "Oak 2", got.Other.Kept.Street, "the nearest default wins: billing")
	assert.Equal(t, "5500000000000004", got.Other.Kept.Card)
}
