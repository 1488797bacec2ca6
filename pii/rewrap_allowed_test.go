package pii_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

// legacyAccount returns an Account whose values were stored before the
// type had a subject field: "tl1e:" and "tl1d:" under the field keysets.
func legacyAccount(t *testing.T, p *pii.Protector, id string) Account {
	t.Helper()
	type Account struct { // before: no subject field
		ID    string `pii:"-"`
		Email string `pii:"encrypt"`
		Phone string `pii:"deterministic"`
	}
	old := Account{ID: id, Email: id + "@example.com", Phone: "+45 1"}
	require.NoError(t, p.Protect(context.Background(), &old))
	require.True(t, strings.HasPrefix(old.Email, "tl1e:"))
	require.True(t, strings.HasPrefix(old.Phone, "tl1d:"))
	return struct {
		ID    string `pii:"subject"`
		Email string `pii:"encrypt"`
		Phone string `pii:"deterministic"`
	}(old)
}

// TestRewrapLegacyAfterAllow: values stored before the type had a subject
// field are under no subject key, so Forget did not reach them. For a
// subject allowed again (Allow) with no new key yet (its earlier keys
// destroyed, their tombstones kept), Rewrap moves them
// under new subject keys, made as Protect makes them after Allow; for a
// subject forgotten and not allowed, Rewrap fails with ErrErased (it makes
// no key for an erased person) and leaves the record as it was.
func TestRewrapLegacyAfterAllow(t *testing.T) {
	t.Parallel()
	e := newSubjectEnv(t)
	ctx := context.Background()
	stored := legacyAccount(t, e.p, "back-1")
	keyed := customer("back-1") // a record under the subject's keys: Forget destroys them
	require.NoError(t, e.p.Protect(ctx, &keyed))
	_, err := e.p.Forget(ctx, "back-1")
	require.NoError(t, err)

	refused := stored
	_, err = e.p.Rewrap(ctx, &refused)
	assert.ErrorIs(t, err, pii.ErrErased, "forgotten and not allowed: no key is made")
	assert.Equal(t, stored, refused, "all or nothing")

	require.NoError(t, e.p.Allow(ctx, "back-1"))
	moved := stored
	n, err := e.p.Rewrap(ctx, &moved)
	require.NoError(t, err, "allowed again: Rewrap makes the new keys")
	assert.Equal(t, 2, n)
	assert.True(t, strings.HasPrefix(moved.Email, "tl1s:"), "Email = %q, want it under the subject key", moved.Email)
	assert.True(t, strings.HasPrefix(moved.Phone, "tl1r:"), "Phone = %q", moved.Phone)
	got := moved
	rep, err := e.p.RevealReport(ctx, &got)
	require.NoError(t, err)
	assert.True(t, rep.Complete(), "%+v", rep)
	assert.Equal(t, "back-1@example.com", got.Email)

	old := keyed
	rep, err = e.p.RevealReport(ctx, &old)
	require.NoError(t, err)
	assert.Contains(t, rep.Erased, "Member.Email", "the new keys bring back nothing Forget destroyed")
	assert.Empty(t, old.Email)

	protected := stored
	require.NoError(t, e.p.Protect(ctx, &protected), "Protect does the same")
	assert.True(t, strings.HasPrefix(protected.Email, "tl1s:"))
	assert.Equal(t, moved.Phone, protected.Phone, "under the same new key")

	_, err = e.p.Forget(ctx, "back-1")
	require.NoError(t, err)
	again := moved
	rep, err = e.p.RevealReport(ctx, &again)
	require.NoError(t, err)
	assert.Len(t, rep.Erased, 2, "the moved values are under the subject's keys: Forget erases them")
}

// TestRevealLegacyOfErasedSubject: a value stored before the type had a
// subject field is under no subject key, so Forget and Withdraw do not
// destroy it; Reveal reads it as erased while the field's subject key is
// erased, as it reads the values the erasure destroyed, and reveals
// values of subjects it never erased as before.
func TestRevealLegacyOfErasedSubject(t *testing.T) {
	t.Parallel()
	e := newSubjectEnv(t)
	ctx := context.Background()
	gone, kept := legacyAccount(t, e.p, "gone-1"), legacyAccount(t, e.p, "kept-1")
	_, err := e.p.Forget(ctx, "gone-1")
	require.NoError(t, err)
	rows := []Account{gone, kept}
	rep, err := e.p.RevealReport(ctx, &rows)
	require.NoError(t, err)
	assert.Equal(t, []string{"[]pii_test.Account[0].Email", "[]pii_test.Account[0].Phone"}, rep.Erased)
	assert.Equal(t, Account{ID: "gone-1"}, rows[0], "the forgotten subject's old values read as erased")
	assert.Equal(t, "kept-1@example.com", rows[1].Email, "a subject never erased reveals")
	one := gone
	assert.ErrorIs(t, e.p.Protect(ctx, &one), pii.ErrErased, "Protect does not move them for an erased subject")
	assert.Equal(t, gone, one)
}
