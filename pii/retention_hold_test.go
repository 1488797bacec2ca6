package pii_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

type (
	holdPtrBool struct {
		Created time.Time `pii:"-"`
		Hold    *bool     `pii:"hold"`
		Notes   string    `pii:"encrypt,retain=1y,from=Created"`
	}
	holdNullBool struct {
		Created time.Time    `pii:"-"`
		Hold    sql.NullBool `pii:"hold"`
		Notes   string       `pii:"encrypt,retain=1y,from=Created"`
	}
	holdNullTime struct {
		Created time.Time    `pii:"-"`
		Hold    sql.NullTime `pii:"hold"`
		Notes   string       `pii:"encrypt,retain=1y,from=Created"`
	}
	holdPtrTime struct {
		Created time.Time  `pii:"-"`
		Hold    *time.Time `pii:"hold"`
		Notes   string     `pii:"encrypt,retain=1y,from=Created"`
	}
)

// TestExpiredNullableHold: a nullable boolean hold that is NULL holds the
// record, as a NULL boolean hold column holds its row in a sweep; a
// nullable time hold holds while set.
func TestExpiredNullableHold(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	old := now.AddDate(-2, 0, 0)
	yes, no := true, false
	tests := []struct {
		name   string
		v      any
		want   pii.ExpiryState
		reason string
	}{
		{"*bool nil", &holdPtrBool{Created: old, Notes: "n"}, pii.ExpiryHeld, "nobody decided the hold: held"},
		{"*bool true", &holdPtrBool{Created: old, Hold: &yes, Notes: "n"}, pii.ExpiryHeld, ""},
		{"*bool false", &holdPtrBool{Created: old, Hold: &no, Notes: "n"}, pii.ExpiryDue, ""},
		{"NullBool invalid", &holdNullBool{Created: old, Notes: "n"}, pii.ExpiryHeld, "NULL: held"},
		{"NullBool true", &holdNullBool{Created: old, Hold: sql.NullBool{Bool: true, Valid: true}, Notes: "n"}, pii.ExpiryHeld, ""},
		{"NullBool false", &holdNullBool{Created: old, Hold: sql.NullBool{Valid: true}, Notes: "n"}, pii.ExpiryDue, ""},
		{"NullTime invalid", &holdNullTime{Created: old, Notes: "n"}, pii.ExpiryDue, "a time hold holds while set"},
		{"NullTime set", &holdNullTime{Created: old, Hold: sql.NullTime{Time: old, Valid: true}, Notes: "n"}, pii.ExpiryHeld, ""},
		{"*time.Time nil", &holdPtrTime{Created: old, Notes: "n"}, pii.ExpiryDue, ""},
		{"*time.Time set", &holdPtrTime{Created: old, Hold: &old, Notes: "n"}, pii.ExpiryHeld, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pii.Expired(tt.v, now)
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, tt.want, got[0].State, "Expired(%s) = %v, want %v (%s)", tt.name, got[0].State, tt.want, tt.reason)
		})
	}
	pol, err := pii.RetentionOf(holdNullBool{})
	require.NoError(t, err)
	assert.False(t, pol.HoldTime, "a boolean hold")
}
