package pii_test

import (
	"bytes"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

type TextCustomer struct {
	ID    string    `json:"id"`
	Email pii.Text  `json:"email" pii:"deterministic,class=contact,mask=email"`
	Name  pii.Text  `json:"name" pii:"encrypt,class=identity,aad=ID"`
	Phone *pii.Text `json:"phone" pii:"encrypt,class=contact"`
	Notes pii.Text  `json:"notes" pii:"redact"`
}

func TestTextRefusesPlaintext(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	phone := pii.Text("+45 12 34 56 78")
	c := TextCustomer{ID: "c1", Email: "leak@example.com", Name: "Ada", Phone: &phone, Notes: "leak"}

	for _, v := range []pii.Text{c.Email, c.Name, *c.Phone} {
		_, err := v.Value()
		assert.ErrorIs(t, err, pii.ErrValuePlaintext, "Value() of plaintext")
		_, err = v.MarshalJSON()
		assert.ErrorIs(t, err, pii.ErrValuePlaintext, "MarshalJSON() of plaintext")
	}
	_, err := json.Marshal(c)
	require.ErrorIs(t, err, pii.ErrValuePlaintext, "encoding a revealed struct fails, as for pii.Value")

	mustProtect(t, p, &c)
	for _, v := range []pii.Text{c.Email, c.Name, *c.Phone, c.Notes} {
		got, err := v.Value()
		require.NoError(t, err)
		assert.Equal(t, string(v), got)
		assert.NotContains(t, got, "leak")
	}
	stored, err := json.Marshal(c)
	require.NoError(t, err)
	assert.NotContains(t, string(stored), "leak")

	mustReveal(t, p, &c)
	assert.Equal(t, pii.Text("leak@example.com"), c.Email)
	assert.Equal(t, pii.Text("+45 12 34 56 78"), *c.Phone)
	plain, err := json.Marshal(pii.Plain(c))
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"c1","email":"leak@example.com","name":"Ada","phone":"+45 12 34 56 78","notes":""}`, string(plain))
	masked, err := json.Marshal(pii.Masked(c))
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"c1","email":"l•••@example.com","name":null,"phone":null,"notes":null}`, string(masked))
}

func TestTextScan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		src     any
		want    pii.Text
		wantErr bool
	}{
		{"string", "tl1e:abc", "tl1e:abc", false},
		{"bytes", []byte("tl1d:xyz"), "tl1d:xyz", false},
		{"empty", "", "", false},
		{"null", nil, "", true},
		{"int", int64(3), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got pii.Text
			var s sql.Scanner = &got
			err := s.Scan(tt.src)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	b := []byte("tl1e:copy")
	var got pii.Text
	require.NoError(t, got.Scan(b))
	b[0] = 'X'
	assert.Equal(t, pii.Text("tl1e:copy"), got, "Scan copies the driver's bytes")
}

func TestTextValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      pii.Text
		want    driver.Value
		wantErr bool
	}{
		{"", "", false},
		{"tl1e:AAAA", "tl1e:AAAA", false},
		{"tl1t:tok", "tl1t:tok", false},
		{"ada@example.com", nil, true},
		{"tl1", nil, true},
	}
	for _, tt := range tests {
		var v driver.Valuer = tt.in
		got, err := v.Value()
		if tt.wantErr {
			assert.ErrorIs(t, err, pii.ErrValuePlaintext, "Value(%q)", tt.in)
			assert.NotContains(t, err.Error(), string(tt.in))
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, "Value(%q)", tt.in)
	}
}

func TestTextNeverPrints(t *testing.T) {
	t.Parallel()
	v := pii.Text("leak@example.com")
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%v %+v %#v %s %q %x", v, v, v, v, v, v)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", v)
	assert.NotContains(t, buf.String(), "leak")
	assert.Contains(t, buf.String(), "pii.Text(plaintext)")
	assert.Equal(t, "pii.Text(protected)", pii.Text("tl1e:x").String())
	assert.Equal(t, "pii.Text(empty)", pii.Text("").String())
}

func TestTextNeedsATag(t *testing.T) {
	t.Parallel()
	type Untagged struct{ Email pii.Text }
	err := pii.Validate(Untagged{})
	require.ErrorIs(t, err, pii.ErrInvalidTag)
	assert.True(t, strings.Contains(err.Error(), "pii.Text field has no pii tag"), err.Error())
}
