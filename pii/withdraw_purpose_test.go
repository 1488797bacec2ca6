package pii_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

// TestWithdrawRefusesImpossiblePurposes: a purpose the tag grammar cannot
// declare is ErrInvalidPurpose before anything is destroyed or recorded;
// a well-formed purpose the subject has no key of is recorded, with an
// empty receipt (erasure requests may name what one does not hold).
func TestWithdrawRefusesImpossiblePurposes(t *testing.T) {
	t.Parallel()
	e := newSubjectEnv(t)
	ctx := context.Background()
	m := customer("w-1")
	require.NoError(t, e.p.Protect(ctx, &m))
	ledgered := func() int {
		entries, err := e.ledger.Since(ctx, time.Time{})
		require.NoError(t, err)
		return len(entries)
	}
	tests := []struct {
		name, purpose, reason string
	}{
		{"dot", "market.ing", "keys accept '.', the tags do not"},
		{"upper", "Marketing", ""},
		{"digit first", "2fa", ""},
		{"space", "mark eting", ""},
		{"plus", "billing+marketing", "a tag's list of purposes, not one purpose"},
		{"too long", strings.Repeat("m", 65), "no subject key has a purpose of more than 64 bytes"},
		{"empty", "", "the base key is erased by Forget"},
		{"all", "*", "every purpose is Forget"},
	}
	for _, tt := range tests {
		_, err := e.p.Withdraw(ctx, "w-1", tt.purpose)
		assert.ErrorIs(t, err, pii.ErrInvalidPurpose, "%s: Withdraw(%q) (%s)", tt.name, tt.purpose, tt.reason)
		if tt.purpose != "" {
			assert.ErrorIs(t, e.p.Allow(ctx, "w-1", tt.purpose), pii.ErrInvalidPurpose, "%s: Allow(%q)", tt.name, tt.purpose)
		}
	}
	assert.Equal(t, 0, ledgered(), "refused calls record nothing")
	got := m
	rep, err := e.p.RevealReport(ctx, &got)
	require.NoError(t, err)
	assert.True(t, rep.Complete(), "nothing was erased: %+v", rep)

	r, err := e.p.Withdraw(ctx, "w-1", "marketting")
	require.NoError(t, err, "a well-formed purpose the subject has no key of")
	assert.Empty(t, r.Keys, "its receipt destroyed nothing")
	assert.Equal(t, 1, ledgered(), "and it is recorded")
	r, err = e.p.Withdraw(ctx, "w-1", "marketing")
	require.NoError(t, err)
	assert.Equal(t, []string{"marketing"}, r.Keys)
}
