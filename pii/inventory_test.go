package pii_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

type invAddress struct {
	Street string `pii:"redact,class=location"`
}

type invCustomer struct {
	_        struct{} `pii:"purpose=account,basis=contract,retain=2y,from=Created,subjects=customer"`
	ID       string   `pii:"subject"`
	Created  time.Time
	Email    string       `pii:"encrypt,class=contact,key=crm"`
	EmailIdx string       `pii:"index=Email,normalize=email"`
	Promo    string       `pii:"deterministic,purpose=marketing,basis=consent,retain=90d"`
	Card     string       `pii:"tokenize=card"`
	Notes    string       `pii:"-"`
	Homes    []invAddress // walked into: the default carries down
}

type invParcel struct {
	SenderID    string `pii:"subject"`
	RecipientID string `pii:"subject"`
	From        string `pii:"encrypt,subject=SenderID"`
	To          string `pii:"encrypt,subject=RecipientID"`
}

func TestInventory(t *testing.T) {
	t.Parallel()
	got, err := pii.Inventory(invCustomer{}, &invParcel{})
	require.NoError(t, err)
	const day = 24 * time.Hour
	acct := []string{"account"}
	want := []pii.InventoryField{
		{Path: "invCustomer.ID", Action: "subject", Purposes: acct, Basis: "contract", Retain: "2y", RetainFor: 730 * day, From: "Created", Subjects: []string{"customer"}},
		{Path: "invCustomer.Email", Action: "encrypt", Class: "contact", Key: "crm", Purposes: acct, Basis: "contract", Retain: "2y", RetainFor: 730 * day, From: "Created", Subjects: []string{"customer"}, Subject: "invCustomer.ID"},
		{Path: "invCustomer.EmailIdx", Action: "index", Key: "default", Purposes: acct, Basis: "contract", Retain: "2y", RetainFor: 730 * day, From: "Created", Subjects: []string{"customer"}},
		{Path: "invCustomer.Promo", Action: "deterministic", Key: "default", Purposes: []string{"marketing"}, Basis: "consent", Retain: "90d", RetainFor: 90 * day, From: "Created", Subjects: []string{"customer"}, Subject: "invCustomer.ID"},
		{Path: "invCustomer.Card", Action: "tokenize", Key: "card", Purposes: acct, Basis: "contract", Retain: "2y", RetainFor: 730 * day, From: "Created", Subjects: []string{"customer"}},
		{Path: "invCustomer.Homes[].Street", Action: "redact", Class: "location", Purposes: acct, Basis: "contract", Retain: "2y", RetainFor: 730 * day, From: "Created", Subjects: []string{"customer"}},
		{Path: "invParcel.SenderID", Action: "subject"},
		{Path: "invParcel.RecipientID", Action: "subject"},
		{Path: "invParcel.From", Action: "encrypt", Key: "default", Subject: "invParcel.SenderID"},
		{Path: "invParcel.To", Action: "encrypt", Key: "default", Subject: "invParcel.RecipientID"},
	}
	for i := range want {
		if i < 6 {
			want[i].Type = "pii_test.invCustomer"
		} else {
			want[i].Type = "pii_test.invParcel"
		}
	}
	assert.Equal(t, want, got)
	again, err := pii.Inventory(invCustomer{}, &invParcel{})
	require.NoError(t, err)
	assert.Equal(t, got, again, "the order is stable")
}

func TestProcessingTags(t *testing.T) {
	t.Parallel()
	type twoSubjects struct {
		A     string `pii:"subject"`
		B     string `pii:"subject"`
		Email string `pii:"encrypt"`
	}
	type badSubject struct {
		Email string `pii:"encrypt,subject=Nobody"`
	}
	type subjectType struct {
		ID    []string `pii:"subject"`
		Email string   `pii:"encrypt"`
	}
	type badFrom struct {
		Created string
		Email   string `pii:"encrypt,retain=30d,from=Created"`
	}
	type badRetain struct {
		Email string `pii:"encrypt,retain=2m"`
	}
	type twoDefaults struct {
		_     struct{} `pii:"purpose=a"`
		_     struct{} `pii:"basis=consent"`
		Email string   `pii:"encrypt"`
	}
	type defaultAction struct {
		_     struct{} `pii:"encrypt"`
		Email string   `pii:"encrypt"`
	}
	type subjectOnIndex struct {
		ID  string `pii:"subject"`
		Idx string `pii:"pseudonym,subject=ID"`
	}
	type good struct {
		_       struct{} `pii:"purpose=billing+support,basis=legitimate_interests"`
		ID      int64    `pii:"subject,retain=5y,from=Created"`
		Created *time.Time
		Email   string `pii:"encrypt,aad=ID,purpose=billing"`
	}
	tests := []struct {
		name    string
		v       any
		wantErr string // "" means valid
	}{
		{name: "two subjects, none named", v: twoSubjects{}, wantErr: "subject=<Field>"},
		{name: "subject= names no subject field", v: badSubject{}, wantErr: "subject=Nobody"},
		{name: "subject of a slice type", v: subjectType{}, wantErr: "subject is for a string"},
		{name: "from= not a time", v: badFrom{}, wantErr: "from=Created"},
		{name: "retain=2m", v: badRetain{}, wantErr: "retain=2m"},
		{name: "two defaults", v: twoDefaults{}, wantErr: "one struct-level default"},
		{name: "action in a default", v: defaultAction{}, wantErr: "blank field"},
		{name: "subject= on pseudonym", v: subjectOnIndex{}, wantErr: `unknown option "subject" for pseudonym`},
		{name: "valid", v: good{}},
	}
	for _, tt := range tests {
		err := pii.Validate(tt.v)
		if tt.wantErr == "" {
			assert.NoError(t, err, tt.name)
			continue
		}
		assert.ErrorIs(t, err, pii.ErrInvalidTag, tt.name)
		assert.ErrorContains(t, err, tt.wantErr, tt.name)
	}
}
