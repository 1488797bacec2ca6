package pii_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/tokenize"
)

type Payment struct {
	ID    string `pii:"-"`
	Card  string `pii:"tokenize=card,format=card-6-4,class=financial,aad=ID"`
	CPR   string `pii:"tokenize=cpr,format=ff1,class=national_id,aad=ID"`
	Email string `pii:"tokenize=email"`
}

func tokenProtector(t *testing.T) (*pii.Protector, *keys.Store, *tokenize.Tokenizer) {
	t.Helper()
	store := keys.NewMemory()
	vault := tokenize.NewMemoryStore()
	card, err := tokenize.New(store, vault, "card", tokenize.ModeConsistent, tokenize.WithFormat(tokenize.Card(6, 4)))
	require.NoError(t, err)
	email, err := tokenize.New(store, vault, "email", tokenize.ModeRandom, tokenize.WithFormat(tokenize.Email(true)))
	require.NoError(t, err)
	cpr, err := tokenize.NewFPE(store, "cpr", tokenize.Digits)
	require.NoError(t, err)
	p, err := pii.New(store, pii.WithVault(card), pii.WithVault(email), pii.WithFPE(cpr))
	require.NoError(t, err)
	return p, store, card
}

func TestTokenizeFields(t *testing.T) {
	t.Parallel()
	p, store, card := tokenProtector(t)
	x := Payment{ID: "p-1", Card: "4111111111111111", CPR: "0101901234", Email: "ada@example.com"}
	mustProtect(t, p, &x)
	tok, ok := pii.Token(x.Card)
	assert.False(t, !ok || !strings.HasPrefix(x.Card, "tl1t:") || len(tok) != 16 || tok[:6] != "411111" || tok[12:] != "1111" || tok == "4111111111111111", "card token %q (%q): want tl1t:, 16 digits, first six and last four kept", x.Card, tok)
	cprTok, ok := pii.Token(x.CPR)
	assert.False(t, !ok || !strings.HasPrefix(x.CPR, "tl1f:") || len(cprTok) != 10 || cprTok == "0101901234", "CPR token %q", x.CPR)
	assert.False(t, !strings.HasSuffix(x.Email, "@example.com") || strings.Contains(x.Email, "ada"), "email token %q", x.Email)
	stored := x
	mustProtect(t, p, &x) // idempotent
	assert.False(t, x != stored, "second Protect changed tokens")
	mustReveal(t, p, &x)
	require.False(t, x.Card != "4111111111111111" || x.CPR != "0101901234" || x.Email != "ada@example.com", "Reveal = %+v", x)
	// Consistent vault mode: the same card of the same record (the data
	// subject, from aad=) gets the same token again; another record gets
	// another token, as does FF1 with aad= in its tweak.
	again := Payment{ID: "p-1", Card: "4111111111111111", CPR: "0101901234", Email: "ada@example.com"}
	mustProtect(t, p, &again)
	assert.False(t, again.Card != stored.Card || again.CPR != stored.CPR || again.Email == stored.Email, "same record: card %q vs %q, cpr %q vs %q, random email %q vs %q", again.Card, stored.Card, again.CPR, stored.CPR, again.Email, stored.Email)
	y := Payment{ID: "p-2", Card: "4111111111111111", CPR: "0101901234", Email: "ada@example.com"}
	mustProtect(t, p, &y)
	assert.False(t, y.Card == stored.Card || y.CPR == stored.CPR, "tokens across records: card %q vs %q, cpr %q vs %q", y.Card, stored.Card, y.CPR, stored.CPR)
	// A token moved to another record's FF1 field reveals to something else
	// (FF1 does not authenticate), never to the original.
	z := stored
	z.ID = "p-3"
	if err := p.Reveal(ctx, &z); err == nil && z.CPR == "0101901234" {
		t.Error("an FF1 token moved to another record revealed the original")
	}
	// Rotation: FF1 tokens record their key and Rewrap moves them.
	ks, _ := store.Keyset(ctx, "tokenize-cpr", keys.KindPRF)
	oldKey := ks.PrimaryKeyID()
	store.Rotate(ctx, "tokenize-cpr", keys.KindPRF)
	r := stored
	if n, err := p.Rewrap(ctx, &r); err != nil || n != 1 {
		t.Fatalf("Rewrap = %d, %v; want 1 (the FF1 token)", n, err)
	}
	require.NoError(t, store.Disable(ctx, "tokenize-cpr", keys.KindPRF, oldKey))
	rewrapped := r
	mustReveal(t, p, &r)
	assert.False(t, r.CPR != "0101901234" || r.Card != "4111111111111111", "after rewrap and disable: %+v", r)
	old := stored
	assert.ErrorIs(t, p.Reveal(ctx, &old), pii.ErrKeyDisabled, "FF1 token under a disabled key")
	// Subject deletion erases the vault entry: Reveal then fails closed.
	if n, err := card.DeleteSubject(ctx, "p-1"); err != nil || n < 1 {
		t.Fatalf("DeleteSubject = %d, %v", n, err)
	}
	gone := rewrapped
	assert.ErrorIs(t, p.Reveal(ctx, &gone), pii.ErrDecryption, "Reveal after DeleteSubject")
}

// Vault calls are batched per domain, also for tokens inside maps and
// slices, and a batch failure changes nothing.
func TestTokenizeBatched(t *testing.T) {
	t.Parallel()
	p, _, _ := tokenProtector(t)
	type holder struct {
		ID    string            `pii:"-"`
		Cards map[string]string `pii:"tokenize=card,plainkeys"`
		List  []Payment
	}
	h := holder{ID: "h", Cards: map[string]string{"a": "4111111111111111", "b": "5500000000000004"}}
	for i := range 50 {
		h.List = append(h.List, Payment{ID: fmt.Sprint("r", i), Card: "4111111111111111", CPR: "0101901234", Email: "e@example.com"})
	}
	mustProtect(t, p, &h)
	require.False(t, !strings.HasPrefix(h.Cards["a"], "tl1t:") || !strings.HasPrefix(h.Cards["b"], "tl1t:") || !strings.HasPrefix(h.List[49].Card, "tl1t:"), "not tokenized: %v %q", h.Cards, h.List[49].Card)
	mustReveal(t, p, &h)
	require.False(t, h.Cards["a"] != "4111111111111111" || h.Cards["b"] != "5500000000000004" || h.List[7].Card != "4111111111111111", "round trip: %v %q", h.Cards, h.List[7].Card)
	mustProtect(t, p, &h)
	h.List[3].Card = "tl1t:4111110000009999" // not a token of the vault
	before := fmt.Sprint(h)
	require.ErrorIs(t, p.Reveal(ctx, &h), pii.ErrDecryption, "Reveal with one unknown token")
	assert.False(t, fmt.Sprint(h) != before, "a failed batch changed the struct")
}

func TestTokenizeFailures(t *testing.T) {
	t.Parallel()
	p, _, _ := tokenProtector(t)
	tests := []struct {
		name string
		v    Payment
		want error
	}{
		{"plaintext at Reveal", Payment{ID: "1", Card: "4111111111111111", CPR: "tl1f:00000001:0101901234", Email: "tl1t:x"}, pii.ErrNotProtected},
		{"unknown vault token", Payment{ID: "1", Card: "tl1t:4111110000001111", CPR: "0101901234", Email: "a@example.com"}, pii.ErrDecryption},
		{"malformed FF1 token", Payment{ID: "1", Card: "4111111111111111", CPR: "tl1f:zz:1", Email: "a@example.com"}, pii.ErrDecryption},
		{"value outside the alphabet", Payment{ID: "1", Card: "4111111111111111", CPR: "01019O1234", Email: "a@example.com"}, pii.ErrInvalidValue},
		{"card too short", Payment{ID: "1", Card: "4111", CPR: "0101901234", Email: "a@example.com"}, pii.ErrInvalidValue},
		{"missing record ID", Payment{Card: "4111111111111111", CPR: "0101901234", Email: "a@example.com"}, pii.ErrMissingRecordID},
	}
	for _, tt := range tests {
		v := tt.v
		var err error
		if tt.name == "plaintext at Reveal" {
			err = p.Reveal(ctx, &v)
		} else {
			err = p.Protect(ctx, &v)
		}
		assert.ErrorIs(t, err, tt.want, "%s: %v, want %v", tt.name, err, tt.want)
		assert.False(t, v != tt.v, "%s: the struct changed", tt.name)
		for _, secret := range []string{"4111111111111111", "0101901234", "01019O1234"} {
			assert.False(t, err != nil && strings.Contains(err.Error(), secret), "%s: error %q carries the value", tt.name, err)
		}
	}
	// No tokenizer for the domain, and a format that does not match.
	q, _ := pii.New(keys.NewMemory())
	assert.ErrorIs(t, q.Protect(ctx, &Payment{ID: "1", Card: "4111111111111111"}), pii.ErrInvalidTag, "no tokenizer")
	type wrongFormat struct {
		Card string `pii:"tokenize=card,format=keep-last-4"`
	}
	assert.ErrorIs(t, p.Protect(ctx, &wrongFormat{Card: "4111111111111111"}), pii.ErrInvalidTag, "format mismatch")
	assert.Error(t, errOf2(pii.New(keys.NewMemory(), pii.WithVault(nil))), "WithVault(nil) accepted")
	type badKind struct {
		N []byte `pii:"tokenize=card"`
	}
	assert.ErrorIs(t, pii.Validate(badKind{}), pii.ErrInvalidTag, "tokenize on []byte")
}

// An empty string is kept as present-but-empty, without a token; nil stays nil.
func TestTokenizeEmpty(t *testing.T) {
	t.Parallel()
	p, _, _ := tokenProtector(t)
	type opt struct {
		ID   string  `pii:"-"`
		Card string  `pii:"tokenize=card,aad=ID"`
		CPR  string  `pii:"tokenize=cpr"`
		Nil  *string `pii:"tokenize=card"`
	}
	v := opt{ID: "1"}
	mustProtect(t, p, &v)
	require.False(t, v.Card != "tl1t:" || v.CPR != "tl1f:" || v.Nil != nil, "empty values stored as %+v", v)
	mustProtect(t, p, &v)
	mustReveal(t, p, &v)
	assert.False(t, v.Card != "" || v.CPR != "" || v.Nil != nil, "empty values revealed as %+v", v)
	assert.ErrorIs(t, p.Reveal(ctx, &opt{ID: "1"}), pii.ErrNotProtected, "Reveal of an unprotected empty value")
}

// A failing value in a batch is named by its own path.
func TestTokenizeBatchErrorPath(t *testing.T) {
	t.Parallel()
	p, _, _ := tokenProtector(t)
	list := make([]Payment, 5)
	for i := range list {
		list[i] = Payment{ID: fmt.Sprint("r", i), Card: "4111111111111111", CPR: "0101901234", Email: "e@example.com"}
	}
	list[3].Card = "12"
	err := p.Protect(ctx, &list)
	var fe *pii.FieldError
	assert.False(t, !errors.As(err, &fe) || !strings.Contains(fe.Path, "[3].Card"), "error for element 3 = %v", err)
}
