package retention_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/retention"
)

func TestSnakeCase(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Notes", "notes"}, {"CreatedAt", "created_at"}, {"UserID", "user_id"}, {"HTTPPort", "http_port"},
		{"ID", "id"}, {"Line2Text", "line2_text"}, {"already_snake", "already_snake"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, retention.SnakeCase(tt.in), "SnakeCase(%q)", tt.in)
	}
}

type customer struct {
	_         struct{}   `pii:"retain=7y,from=ClosedAt,then=delete"`
	ID        int64      `pii:"-"`
	Subject   string     `pii:"subject"`
	CreatedAt time.Time  `pii:"-"`
	ClosedAt  *time.Time `pii:"-"`
	OnHold    *time.Time `pii:"hold"`
	Notes     *string    `pii:"encrypt,retain=2y,from=CreatedAt"`
	NotesIdx  string     `pii:"index=Notes,retain=2y,from=CreatedAt"`
	Photo     []byte     `pii:"encrypt,retain=2y,from=CreatedAt"`
	Interests string     `pii:"encrypt,purpose=marketing,retain=1y,from=CreatedAt,then=shred"`
}

func TestForType(t *testing.T) {
	got, err := retention.ForType(&customer{}, "customers", "id", nil)
	require.NoError(t, err)
	year := 365 * 24 * time.Hour
	want := retention.Table{Name: "customers", Key: "id", Subject: "subject", Hold: retention.Hold{Column: "on_hold", Time: true},
		Rules: []retention.Rule{
			{Name: "customer.Notes", Column: "notes", Retain: 2 * year, From: "created_at", Then: pii.ThenRedact},
			{Name: "customer.NotesIdx", Column: "notes_idx", Zero: "", Retain: 2 * year, From: "created_at", Then: pii.ThenRedact},
			{Name: "customer.Photo", Column: "photo", Retain: 2 * year, From: "created_at", Then: pii.ThenRedact},
			{Name: "customer.Interests", Retain: year, From: "created_at", Then: pii.ThenShred, Purpose: "marketing"},
			{Name: "customer", Retain: 7 * year, From: "closed_at", Then: pii.ThenDelete},
		}}
	assert.Equal(t, want, got)

	_, err = retention.ForType(struct{ A string }{}, "t", "id", nil)
	assert.ErrorContains(t, err, "no retain=")
	_, err = retention.ForType(&customer{}, "bad name", "id", nil)
	assert.ErrorContains(t, err, "table")
}

// TestForTypeRefusesSealedPlainString: a protected plain string field
// cannot be cleared: Protect protects "" too, so Reveal would refuse the
// ” a sweep writes, and NULL does not scan into a string.
func TestForTypeRefusesSealedPlainString(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"encrypt", struct {
			Created time.Time `pii:"-"`
			Notes   string    `pii:"encrypt,retain=2y,from=Created"`
		}{}, "Notes: then=redact would clear a protected string field to ''"},
		{"deterministic", struct {
			Created time.Time `pii:"-"`
			Phone   string    `pii:"deterministic,retain=2y,from=Created"`
		}{}, "sql.NullString, *string or pii.Text"},
		{"tokenize", struct {
			Created time.Time `pii:"-"`
			Card    string    `pii:"tokenize=card,retain=30d,from=Created"`
		}{}, "pii.ErrNotProtected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := retention.ForType(tt.v, "t", "id", nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
