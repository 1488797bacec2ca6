package pii_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

// consentCustomer is the record of the user reports: a base field and a
// field of a purpose that can be withdrawn.
type consentCustomer struct {
	_     struct{} `pii:"basis=contract"`
	ID    string   `pii:"subject"`
	Email string   `pii:"encrypt,class=contact"`
	Promo string   `pii:"encrypt,purpose=marketing,basis=consent"`
}

// consentKinds has a withdrawable field of every leaf kind, and a
// deterministic one.
type consentKinds struct {
	ID    string            `pii:"subject"`
	Email string            `pii:"encrypt,class=contact"`
	Text  pii.Text          `pii:"encrypt,purpose=marketing,basis=consent"`
	Ptr   *string           `pii:"encrypt,purpose=marketing,basis=consent"`
	Null  sql.NullString    `pii:"encrypt,purpose=marketing,basis=consent"`
	Val   pii.Value[string] `pii:"encrypt,purpose=marketing,basis=consent"`
	Raw   []byte            `pii:"encrypt,purpose=marketing,basis=consent"`
	Det   string            `pii:"deterministic,purpose=marketing,basis=consent"`
}

func kindsOf(id string) consentKinds {
	s := "ptr offer"
	return consentKinds{ID: id, Email: id + "@example.com", Text: "text offer", Ptr: &s,
		Null: sql.NullString{String: "null offer", Valid: true}, Val: pii.NewValue("value offer"),
		Raw: []byte("raw offer"), Det: "det offer"}
}

// TestResaveAfterWithdraw: a record read back after Withdraw saves again,
// whether it holds the revealed (zero) value, a fresh zero value or the
// still-sealed stored value of the withdrawn purpose; a new value for that
// purpose is still refused.
func TestResaveAfterWithdraw(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSubjectEnv(t)
	c := consentCustomer{ID: "u1", Email: "old@example.com", Promo: "offer"}
	require.NoError(t, e.p.Protect(ctx, &c))
	stored := c
	_, err := e.p.Withdraw(ctx, "u1", "marketing")
	require.NoError(t, err)

	rep, err := e.p.RevealReport(ctx, &c)
	require.NoError(t, err)
	require.Equal(t, []string{"consentCustomer.Promo"}, rep.Erased)
	require.Equal(t, "", c.Promo)

	checkErased := func(t *testing.T, name string, rec consentCustomer, wantEmail string) {
		t.Helper()
		rep, err := e.p.RevealReport(ctx, &rec)
		require.NoError(t, err, name)
		assert.Equal(t, []string{"consentCustomer.Promo"}, rep.Erased, "%s: the withdrawn field reads as erased", name)
		assert.Equal(t, wantEmail, rec.Email, name)
		assert.Equal(t, "", rec.Promo, name)
	}

	tests := []struct {
		name      string
		rec       consentCustomer
		wantPromo string // what Protect leaves in Promo: "" under the erased key
		reason    string
	}{
		{name: "read back, base field changed", rec: consentCustomer{ID: "u1", Email: "new@example.com", Promo: c.Promo}, reason: "Reveal gave the zero value"},
		{name: "fresh struct", rec: consentCustomer{ID: "u1", Email: "fresh@example.com"}, reason: "a zero value needs no key"},
		{name: "stored row re-protected", rec: stored, reason: "crypto-shredded: the zero value is stored in its place, reads as erased"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.rec
			require.NoError(t, e.p.Protect(ctx, &rec), tt.reason)
			assert.Equal(t, tt.wantPromo, rec.Promo, tt.reason)
			assert.True(t, strings.HasPrefix(rec.Email, "tl1s:"), "the base field is sealed")
			want := tt.rec.Email
			if strings.HasPrefix(want, "tl1s:") {
				want = "old@example.com"
			}
			checkErased(t, tt.name, rec, want)
		})
	}

	t.Run("new value refused", func(t *testing.T) {
		rec := consentCustomer{ID: "u1", Email: "e@example.com", Promo: "new offer"}
		before := rec
		err := e.p.Protect(ctx, &rec)
		require.ErrorIs(t, err, pii.ErrErased)
		var fe *pii.FieldError
		require.True(t, errors.As(err, &fe), "Protect = %v, want a *pii.FieldError", err)
		assert.Equal(t, "consentCustomer.Promo", fe.Path)
		assert.Equal(t, before, rec, "all or nothing")
		assert.NotContains(t, err.Error(), "new offer")
	})
}

// TestResaveAfterErasureFailsClosed: what is kept is only what the store's
// tombstone covers.
func TestResaveAfterErasureFailsClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSubjectEnv(t)
	other := newSubjectEnv(t)

	live := consentCustomer{ID: "u2", Email: "a@example.com", Promo: "offer"}
	require.NoError(t, e.p.Protect(ctx, &live))
	tampered := live
	tampered.Promo = tampered.Promo[:len(tampered.Promo)-4] + "AAAA"
	assert.ErrorIs(t, e.p.Protect(ctx, &tampered), pii.ErrDecryption, "tampered bytes of a live key still fail")

	empty := consentCustomer{ID: "u2", Email: live.Email}
	assert.ErrorIs(t, e.p.Reveal(ctx, &empty), pii.ErrNotProtected, "an empty value of a live key is plaintext, as before")

	foreign := consentCustomer{ID: "u3", Email: "b@example.com", Promo: "offer"}
	require.NoError(t, other.p.Protect(ctx, &foreign))
	_, err := other.p.Withdraw(ctx, "u3", "marketing")
	require.NoError(t, err)
	assert.ErrorIs(t, e.p.Protect(ctx, &foreign), pii.ErrDecryption, "a value under a key this store never saw still fails")
	assert.ErrorIs(t, e.p.Reveal(ctx, &consentCustomer{ID: "u4"}), pii.ErrNotProtected, "an empty value of a subject the store never saw is not erased")

	// Moved under an erased key's subject: the live value is not kept
	// unverified, since its own subject's key is live.
	_, err = e.p.Withdraw(ctx, "u5", "marketing")
	require.NoError(t, err)
	moved := live
	moved.ID = "u5"
	assert.ErrorIs(t, e.p.Protect(ctx, &moved), pii.ErrDecryption, "u5's base key is live: the moved Email does not verify")
}

// TestResaveAfterWithdrawKinds covers every leaf kind and the
// deterministic mode ("tl1r:"), in a slice with a record of a subject whose
// keys are intact.
func TestResaveAfterWithdrawKinds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSubjectEnv(t)
	rows := []consentKinds{kindsOf("k1"), kindsOf("k2")}
	require.NoError(t, e.p.Protect(ctx, &rows))
	require.True(t, strings.HasPrefix(rows[0].Det, "tl1r:"))
	stored := append([]consentKinds(nil), rows...)
	stored[0].Ptr = ptrCopy(rows[0].Ptr)
	_, err := e.p.Withdraw(ctx, "k1", "marketing")
	require.NoError(t, err)

	got := append([]consentKinds(nil), rows...)
	got[0].Ptr, got[1].Ptr = ptrCopy(rows[0].Ptr), ptrCopy(rows[1].Ptr)
	rep, err := e.p.RevealReport(ctx, &got)
	require.NoError(t, err)
	erased := []string{"Text", "Ptr", "Null", "Val", "Raw", "Det"}
	for i := range erased {
		erased[i] = "[]pii_test.consentKinds[0]." + erased[i]
	}
	assert.Equal(t, erased, rep.Erased)
	require.Equal(t, "text offer", string(got[1].Text), "k2 is intact")

	// Read back and saved again (k1's marketing fields hold zero values).
	got[0].Email = "new@example.com"
	require.NoError(t, e.p.Protect(ctx, &got), "the read-back slice saves again")
	rep, err = e.p.RevealReport(ctx, &got)
	require.NoError(t, err)
	assert.Equal(t, "new@example.com", got[0].Email)
	assert.Equal(t, "text offer", string(got[1].Text))

	// The stored rows, still sealed, save again: the shredded values are
	// replaced by zero values (nothing to keep, nothing verifiable).
	again := append([]consentKinds(nil), stored...)
	again[0].Ptr = ptrCopy(stored[0].Ptr)
	require.NoError(t, e.p.Protect(ctx, &again), "the still-sealed row re-protects")
	assert.Empty(t, again[0].Det, "the shredded tl1r: value is replaced by the zero value")
	assert.Empty(t, again[0].Text)
	assert.Empty(t, again[0].Raw)
	assert.Equal(t, stored[1], again[1], "the other subject's row is kept as it is")
	rep, err = e.p.RevealReport(ctx, &again)
	require.NoError(t, err)
	assert.Equal(t, erased, rep.Erased)

	// A new value of any kind is refused, naming the field.
	s := "x"
	for _, tt := range []struct {
		name string
		rec  consentKinds
		path string
	}{
		{"text", consentKinds{ID: "k1", Text: "x"}, "consentKinds.Text"},
		{"pointer", consentKinds{ID: "k1", Ptr: &s}, "consentKinds.Ptr"},
		{"null string", consentKinds{ID: "k1", Null: sql.NullString{String: "x", Valid: true}}, "consentKinds.Null"},
		{"value", consentKinds{ID: "k1", Val: pii.NewValue("x")}, "consentKinds.Val"},
		{"bytes", consentKinds{ID: "k1", Raw: []byte("x")}, "consentKinds.Raw"},
		{"deterministic", consentKinds{ID: "k1", Det: "x"}, "consentKinds.Det"},
	} {
		err := e.p.Protect(ctx, &tt.rec)
		require.ErrorIs(t, err, pii.ErrErased, tt.name)
		var fe *pii.FieldError
		require.True(t, errors.As(err, &fe), "%s: Protect = %v, want a *pii.FieldError", tt.name, err)
		assert.Equal(t, tt.path, fe.Path, tt.name)
	}
}

func ptrCopy(p *string) *string {
	if p == nil {
		return nil
	}
	s := *p
	return &s
}

// TestResaveAfterForget: after Forget (every key of the subject), a record
// with only empty fields saves again and reads as erased; after Allow, the
// old row still saves and reads as erased, and new data is sealed.
func TestResaveAfterForget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSubjectEnv(t)
	c := consentCustomer{ID: "f1", Email: "a@example.com", Promo: "offer"}
	require.NoError(t, e.p.Protect(ctx, &c))
	stored := c
	_, err := e.p.Forget(ctx, "f1")
	require.NoError(t, err)

	emptyRec := consentCustomer{ID: "f1"}
	require.NoError(t, e.p.Protect(ctx, &emptyRec), "only empty fields: no key needed")
	assert.Equal(t, consentCustomer{ID: "f1"}, emptyRec)
	rep, err := e.p.RevealReport(ctx, &emptyRec)
	require.NoError(t, err)
	assert.Equal(t, []string{"consentCustomer.Email", "consentCustomer.Promo"}, rep.Erased)

	assert.ErrorIs(t, e.p.Protect(ctx, &consentCustomer{ID: "f1", Email: "b@example.com"}), pii.ErrErased, "new data for a forgotten subject")

	require.NoError(t, e.p.Allow(ctx, "f1"))
	fresh := consentCustomer{ID: "f1", Email: "b@example.com"}
	require.NoError(t, e.p.Protect(ctx, &fresh), "allowed again: new keys")
	old := stored
	require.NoError(t, e.p.Protect(ctx, &old), "the old row under destroyed key IDs re-protects")
	assert.Empty(t, old.Email, "a value under a destroyed key ID is replaced by the zero value")
	assert.Empty(t, old.Promo, "a value under a destroyed key ID is replaced by the zero value")
	rep, err = e.p.RevealReport(ctx, &old)
	require.NoError(t, err)
	assert.Equal(t, []string{"consentCustomer.Email", "consentCustomer.Promo"}, rep.Erased)
}

// TestResaveErasedFallback: the WithErasedValue text Reveal puts in an
// erased string field is a display value; Protect stores the zero value
// for it under an erased key, and refuses any other new value.
func TestResaveErasedFallback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSubjectEnv(t, pii.WithErasedValue("[erased]"))
	c := consentCustomer{ID: "w1", Email: "a@example.com", Promo: "offer"}
	require.NoError(t, e.p.Protect(ctx, &c))
	_, err := e.p.Withdraw(ctx, "w1", "marketing")
	require.NoError(t, err)
	require.NoError(t, e.p.Reveal(ctx, &c))
	require.Equal(t, "[erased]", c.Promo)

	c.Email = "new@example.com"
	require.NoError(t, e.p.Protect(ctx, &c), "the fallback read back saves")
	assert.Equal(t, "", c.Promo, "stored as the zero value, not sealed")
	require.NoError(t, e.p.Reveal(ctx, &c))
	assert.Equal(t, "[erased]", c.Promo)
	assert.Equal(t, "new@example.com", c.Email)

	live := consentCustomer{ID: "w2", Email: "a@example.com", Promo: "[erased]"}
	require.NoError(t, e.p.Protect(ctx, &live), "under a live key the text is a value like any other")
	require.NoError(t, e.p.Reveal(ctx, &live))
	assert.Equal(t, "[erased]", live.Promo)
}

// TestRewrapAfterResave: a record saved again after Withdraw, its withdrawn
// field kept empty, rewraps: there is nothing to re-encrypt under an
// erased key.
func TestRewrapAfterResave(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSubjectEnv(t)
	c := consentCustomer{ID: "r1", Email: "a@example.com", Promo: "offer"}
	require.NoError(t, e.p.Protect(ctx, &c))
	_, err := e.p.Withdraw(ctx, "r1", "marketing")
	require.NoError(t, err)
	fresh := consentCustomer{ID: "r1", Email: "b@example.com"}
	require.NoError(t, e.p.Protect(ctx, &fresh))
	before := fresh
	n, err := e.p.Rewrap(ctx, &fresh)
	require.NoError(t, err, "an empty value of an erased key needs no rewrap")
	assert.Equal(t, 0, n)
	assert.Equal(t, before, fresh)
	live := consentCustomer{ID: "r2", Email: "a@example.com", Promo: "offer"}
	require.NoError(t, e.p.Protect(ctx, &live))
	live.Promo = ""
	_, err = e.p.Rewrap(ctx, &live)
	assert.ErrorIs(t, err, pii.ErrNotProtected, "an empty value of a live key is plaintext, as before")
}

// TestResaveAfterWithdrawParallel: a slice large enough for WithParallelism
// saves again after Withdraw, as one goroutine does.
func TestResaveAfterWithdrawParallel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSubjectEnv(t, pii.WithParallelism(4))
	rows := make([]consentCustomer, 512)
	for i := range rows {
		rows[i] = consentCustomer{ID: fmt.Sprintf("p-%d", i), Email: fmt.Sprintf("p%d@example.com", i), Promo: "offer"}
	}
	require.NoError(t, e.p.Protect(ctx, &rows))
	stored := append([]consentCustomer(nil), rows...)
	for i := 0; i < len(rows); i += 2 {
		_, err := e.p.Withdraw(ctx, rows[i].ID, "marketing")
		require.NoError(t, err)
	}
	rep, err := e.p.RevealReport(ctx, &rows)
	require.NoError(t, err)
	require.Len(t, rep.Erased, len(rows)/2)
	require.NoError(t, e.p.Protect(ctx, &rows), "the read-back slice saves again")
	again := append([]consentCustomer(nil), stored...)
	require.NoError(t, e.p.Protect(ctx, &again), "the stored slice saves again")
	for i := range again {
		if i%2 == 0 {
			assert.Empty(t, again[i].Promo, "row %d: the withdrawn value is replaced by the zero value", i)
			assert.Equal(t, stored[i].Email, again[i].Email, "row %d", i)
		} else {
			assert.Equal(t, stored[i], again[i], "row %d: kept as it is", i)
		}
	}
	rep, err = e.p.RevealReport(ctx, &rows)
	require.NoError(t, err)
	assert.Len(t, rep.Erased, len(rows)/2, "the kept empty values read as erased")
	assert.Equal(t, "offer", rows[1].Promo)
}

// TestResaveThenAllow: an empty value kept under an erased key still reads
// as erased once Allow made the key live again; new values then seal.
func TestResaveThenAllow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSubjectEnv(t)
	c := consentCustomer{ID: "a1", Email: "a@example.com", Promo: "offer"}
	require.NoError(t, e.p.Protect(ctx, &c))
	_, err := e.p.Withdraw(ctx, "a1", "marketing")
	require.NoError(t, err)
	kept := consentCustomer{ID: "a1", Email: "b@example.com"}
	require.NoError(t, e.p.Protect(ctx, &kept))
	require.Equal(t, "", kept.Promo)

	require.NoError(t, e.p.Allow(ctx, "a1", "marketing"))
	renewed := consentCustomer{ID: "a1", Email: "c@example.com", Promo: "new offer"}
	require.NoError(t, e.p.Protect(ctx, &renewed), "fresh consent: a new key")

	got := kept
	rep, err := e.p.RevealReport(ctx, &got)
	require.NoError(t, err, "the empty value kept before Allow")
	assert.Equal(t, []string{"consentCustomer.Promo"}, rep.Erased)
	assert.Equal(t, "b@example.com", got.Email)
	_, err = e.p.Rewrap(ctx, &kept)
	require.NoError(t, err)

	require.NoError(t, e.p.Protect(ctx, &got), "saved again after Allow")
	assert.True(t, strings.HasPrefix(got.Promo, "tl1s:"), "under a live key an empty value is sealed")
	rep, err = e.p.RevealReport(ctx, &got)
	require.NoError(t, err)
	assert.Empty(t, rep.Erased)
	require.NoError(t, e.p.Reveal(ctx, &renewed))
	assert.Equal(t, "new offer", renewed.Promo)
}

// TestResaveNeverStoresForgedEnvelopes: under an erased key nothing can be
// verified, so whatever envelope-shaped bytes a caller puts in such a field
// (a forged tl1s: value carrying plaintext, another subject's ciphertext,
// the subject's own live ciphertext of another field) are never stored:
// Protect stores the zero value. Under a live key the same bytes still
// fail with ErrDecryption. Before and after Allow.
func TestResaveNeverStoresForgedEnvelopes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSubjectEnv(t)
	const secret = "SECRET PLAINTEXT 4111111111111111"
	forged := "tl1s:" + base64.RawURLEncoding.EncodeToString(append([]byte{1, 9, 9, 9, 9}, "0123456789ab "+secret...))
	recs := []consentCustomer{
		{ID: "f-1", Email: "one@example.com", Promo: "offer one"},
		{ID: "f-2", Email: "two@example.com", Promo: "offer two"},
	}
	require.NoError(t, e.p.Protect(ctx, &recs))
	_, err := e.p.Withdraw(ctx, "f-1", "marketing")
	require.NoError(t, err)
	for _, allowed := range []bool{false, true} {
		if allowed {
			require.NoError(t, e.p.Allow(ctx, "f-1", "marketing"))
		}
		for _, tt := range []struct{ name, promo string }{
			{"forged envelope", forged},
			{"another subject's ciphertext", recs[1].Promo},
			{"the subject's own live ciphertext of another field", recs[0].Email},
		} {
			rec := consentCustomer{ID: "f-1", Email: "one@example.com", Promo: tt.promo}
			require.NoError(t, e.p.Protect(ctx, &rec), "allowed=%v %s", allowed, tt.name)
			assert.NotEqual(t, tt.promo, rec.Promo, "allowed=%v %s: stored as given", allowed, tt.name)
			if rec.Promo != "" {
				// After Allow the field may be sealed anew, under the new key:
				// then it must reveal as the zero value, never as the bytes.
				out := rec
				_, err := e.p.RevealReport(ctx, &out)
				require.NoError(t, err)
				assert.Empty(t, out.Promo, "allowed=%v %s", allowed, tt.name)
			}
			assert.NotContains(t, rec.Promo, base64.RawURLEncoding.EncodeToString([]byte(secret))[:16])
		}
		live := consentCustomer{ID: "f-2", Email: "two@example.com", Promo: forged}
		assert.ErrorIs(t, e.p.Protect(ctx, &live), pii.ErrDecryption, "under a live key a forged envelope still fails")
	}
}
