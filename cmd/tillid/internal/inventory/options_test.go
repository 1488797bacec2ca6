package inventory_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/cmd/tillid/internal/inventory"
	"github.com/tillid/tillid/internal/tag"
)

func TestParseRetention(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
		reason  string
	}{
		{in: "90d", want: 90 * day},
		{in: "26w", want: 26 * 7 * day},
		{in: "2y", want: 2 * 365 * day, reason: "a year is 365 days"},
		{in: "720h", want: 720 * time.Hour, reason: "a Go duration"},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "59m", wantErr: true, reason: "under an hour"},
		{in: "0d", wantErr: true, reason: "not positive"},
		{in: "-1h", wantErr: true},
		{in: "007d", wantErr: true, reason: "leading zeros are not canonical"},
		{in: "2m", wantErr: true, reason: "two minutes, most likely meant as two months"},
		{in: "99999999999999y", wantErr: true, reason: "overflows a duration"},
		{in: "soon", wantErr: true},
		{in: "d", wantErr: true},
	}
	for _, tt := range tests {
		got, err := inventory.ParseRetention(tt.in)
		if tt.wantErr {
			assert.Error(t, err, "ParseRetention(%q) (%s)", tt.in, tt.reason)
			continue
		}
		require.NoError(t, err, "ParseRetention(%q)", tt.in)
		assert.Equal(t, tt.want, got, "ParseRetention(%q) (%s)", tt.in, tt.reason)
	}
}

func TestCheckTag(t *testing.T) {
	tests := []struct {
		in       string
		wantErr  string // "" means valid
		wantProc inventory.Processing
	}{
		{in: "encrypt,class=contact,purpose=billing+support,basis=contract,retain=90d,from=Created",
			wantProc: inventory.Processing{Purposes: []string{"billing", "support"}, Basis: "contract", Retain: "90d", RetainFor: 90 * 24 * time.Hour, From: "Created"}},
		{in: "subject"},
		{in: "subject,basis=contract", wantProc: inventory.Processing{Basis: "contract"}},
		{in: "-"},
		{in: "subject=x", wantErr: "subject takes no value"},
		{in: "encrypt,purpose=a+a", wantErr: "distinct names"},
		{in: "encrypt,purpose", wantErr: "needs a value"},
		{in: "encrypt,basis=legitimate_interest", wantErr: "basis=legitimate_interest"},
		{in: "encrypt,from=2x", wantErr: "from=2x"},
		{in: "encrypt,subjects=customer", wantErr: `unknown option "subjects"`},
		{in: "encrypt,clas=x", wantErr: `unknown option "clas"`},
	}
	for _, tt := range tests {
		_, p, err := inventory.CheckTag(tt.in)
		if tt.wantErr != "" {
			assert.ErrorContains(t, err, tt.wantErr, "CheckTag(%q)", tt.in)
			continue
		}
		require.NoError(t, err, "CheckTag(%q)", tt.in)
		assert.Equal(t, tt.wantProc, p, "CheckTag(%q)", tt.in)
	}
}

func TestParseDefaults(t *testing.T) {
	good, err := tag.Parse("purpose=billing,basis=contract,retain=5y,from=Created,subjects=customer+prospect")
	require.NoError(t, err)
	assert.True(t, inventory.IsDefaults(good))
	p, err := inventory.ParseDefaults(good)
	require.NoError(t, err)
	assert.Equal(t, []string{"customer", "prospect"}, p.Subjects)
	assert.Equal(t, "5y", p.Retain)
	for _, in := range []string{"encrypt", "purpose=x,class=contact", "purpose=x,purpose=y", "basis=maybe"} {
		tg, err := tag.Parse(in)
		if err == nil {
			_, err = inventory.ParseDefaults(tg)
		}
		assert.Error(t, err, "ParseDefaults(%q)", in)
	}
}
