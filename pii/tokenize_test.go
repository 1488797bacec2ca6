package pii_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

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
	if err != nil {
		t.Fatal(err)
	}
	email, err := tokenize.New(store, vault, "email", tokenize.ModeRandom, tokenize.WithFormat(tokenize.Email(true)))
	if err != nil {
		t.Fatal(err)
	}
	cpr, err := tokenize.NewFPE(store, "cpr", tokenize.Digits)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pii.New(store, pii.WithVault(card), pii.WithVault(email), pii.WithFPE(cpr))
	if err != nil {
		t.Fatal(err)
	}
	return p, store, card
}

func TestTokenizeFields(t *testing.T) {
	p, store, card := tokenProtector(t)
	x := Payment{ID: "p-1", Card: "4111111111111111", CPR: "0101901234", Email: "ada@example.com"}
	mustProtect(t, p, &x)
	tok, ok := pii.Token(x.Card)
	if !ok || !strings.HasPrefix(x.Card, "tl1t:") || len(tok) != 16 || tok[:6] != "411111" || tok[12:] != "1111" || tok == "4111111111111111" {
		t.Errorf("card token %q (%q): want tl1t:, 16 digits, first six and last four kept", x.Card, tok)
	}
	cprTok, ok := pii.Token(x.CPR)
	if !ok || !strings.HasPrefix(x.CPR, "tl1f:") || len(cprTok) != 10 || cprTok == "0101901234" {
		t.Errorf("CPR token %q", x.CPR)
	}
	if !strings.HasSuffix(x.Email, "@example.com") || strings.Contains(x.Email, "ada") {
		t.Errorf("email token %q", x.Email)
	}
	stored := x
	mustProtect(t, p, &x) // idempotent
	if x != stored {
		t.Error("second Protect changed tokens")
	}
	mustReveal(t, p, &x)
	if x.Card != "4111111111111111" || x.CPR != "0101901234" || x.Email != "ada@example.com" {
		t.Fatalf("Reveal = %+v", x)
	}
	// Consistent vault mode: the same card of the same record (the data
	// subject, from aad=) gets the same token again; another record gets
	// another token, as does FF1 with aad= in its tweak.
	again := Payment{ID: "p-1", Card: "4111111111111111", CPR: "0101901234", Email: "ada@example.com"}
	mustProtect(t, p, &again)
	if again.Card != stored.Card || again.CPR != stored.CPR || again.Email == stored.Email {
		t.Errorf("same record: card %q vs %q, cpr %q vs %q, random email %q vs %q", again.Card, stored.Card, again.CPR, stored.CPR, again.Email, stored.Email)
	}
	y := Payment{ID: "p-2", Card: "4111111111111111", CPR: "0101901234", Email: "ada@example.com"}
	mustProtect(t, p, &y)
	if y.Card == stored.Card || y.CPR == stored.CPR {
		t.Errorf("tokens across records: card %q vs %q, cpr %q vs %q", y.Card, stored.Card, y.CPR, stored.CPR)
	}
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
	if err := store.Disable(ctx, "tokenize-cpr", keys.KindPRF, oldKey); err != nil {
		t.Fatal(err)
	}
	rewrapped := r
	mustReveal(t, p, &r)
	if r.CPR != "0101901234" || r.Card != "4111111111111111" {
		t.Errorf("after rewrap and disable: %+v", r)
	}
	old := stored
	if err := p.Reveal(ctx, &old); !errors.Is(err, pii.ErrKeyDisabled) {
		t.Errorf("FF1 token under a disabled key: %v, want ErrKeyDisabled", err)
	}
	// Subject deletion erases the vault entry: Reveal then fails closed.
	if n, err := card.DeleteSubject(ctx, "p-1"); err != nil || n < 1 {
		t.Fatalf("DeleteSubject = %d, %v", n, err)
	}
	gone := rewrapped
	if err := p.Reveal(ctx, &gone); !errors.Is(err, pii.ErrDecryption) {
		t.Errorf("Reveal after DeleteSubject = %v, want ErrDecryption", err)
	}
}

// Vault calls are batched per domain, also for tokens inside maps and
// slices, and a batch failure changes nothing.
func TestTokenizeBatched(t *testing.T) {
	p, _, _ := tokenProtector(t)
	type holder struct {
		ID    string            `pii:"-"`
		Cards map[string]string `pii:"tokenize=card"`
		List  []Payment
	}
	h := holder{ID: "h", Cards: map[string]string{"a": "4111111111111111", "b": "5500000000000004"}}
	for i := range 50 {
		h.List = append(h.List, Payment{ID: fmt.Sprint("r", i), Card: "4111111111111111", CPR: "0101901234", Email: "e@example.com"})
	}
	mustProtect(t, p, &h)
	if !strings.HasPrefix(h.Cards["a"], "tl1t:") || !strings.HasPrefix(h.Cards["b"], "tl1t:") || !strings.HasPrefix(h.List[49].Card, "tl1t:") {
		t.Fatalf("not tokenized: %v %q", h.Cards, h.List[49].Card)
	}
	mustReveal(t, p, &h)
	if h.Cards["a"] != "4111111111111111" || h.Cards["b"] != "5500000000000004" || h.List[7].Card != "4111111111111111" {
		t.Fatalf("round trip: %v %q", h.Cards, h.List[7].Card)
	}
	mustProtect(t, p, &h)
	h.List[3].Card = "tl1t:4111110000009999" // not a token of the vault
	before := fmt.Sprint(h)
	if err := p.Reveal(ctx, &h); !errors.Is(err, pii.ErrDecryption) {
		t.Fatalf("Reveal with one unknown token = %v", err)
	}
	if fmt.Sprint(h) != before {
		t.Error("a failed batch changed the struct")
	}
}

func TestTokenizeFailures(t *testing.T) {
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
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
		if v != tt.v {
			t.Errorf("%s: the struct changed", tt.name)
		}
		for _, secret := range []string{"4111111111111111", "0101901234", "01019O1234"} {
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error %q carries the value", tt.name, err)
			}
		}
	}
	// No tokenizer for the domain, and a format that does not match.
	q, _ := pii.New(keys.NewMemory())
	if err := q.Protect(ctx, &Payment{ID: "1", Card: "4111111111111111"}); !errors.Is(err, pii.ErrKeyProvider) {
		t.Errorf("no tokenizer: %v", err)
	}
	type wrongFormat struct {
		Card string `pii:"tokenize=card,format=keep-last-4"`
	}
	if err := p.Protect(ctx, &wrongFormat{Card: "4111111111111111"}); !errors.Is(err, pii.ErrInvalidTag) {
		t.Errorf("format mismatch: %v", err)
	}
	if _, err := pii.New(keys.NewMemory(), pii.WithVault(nil)); err == nil {
		t.Error("WithVault(nil) accepted")
	}
	type badKind struct {
		N []byte `pii:"tokenize=card"`
	}
	if err := pii.Validate(badKind{}); !errors.Is(err, pii.ErrInvalidTag) {
		t.Errorf("tokenize on []byte: %v", err)
	}
}

// An empty string is kept as present-but-empty, without a token; nil stays nil.
func TestTokenizeEmpty(t *testing.T) {
	p, _, _ := tokenProtector(t)
	type opt struct {
		ID   string  `pii:"-"`
		Card string  `pii:"tokenize=card,aad=ID"`
		CPR  string  `pii:"tokenize=cpr"`
		Nil  *string `pii:"tokenize=card"`
	}
	v := opt{ID: "1"}
	mustProtect(t, p, &v)
	if v.Card != "tl1t:" || v.CPR != "tl1f:" || v.Nil != nil {
		t.Fatalf("empty values stored as %+v", v)
	}
	mustProtect(t, p, &v)
	mustReveal(t, p, &v)
	if v.Card != "" || v.CPR != "" || v.Nil != nil {
		t.Errorf("empty values revealed as %+v", v)
	}
	if err := p.Reveal(ctx, &opt{ID: "1"}); !errors.Is(err, pii.ErrNotProtected) {
		t.Errorf("Reveal of an unprotected empty value = %v, want ErrNotProtected", err)
	}
}

// A failing value in a batch is named by its own path.
func TestTokenizeBatchErrorPath(t *testing.T) {
	p, _, _ := tokenProtector(t)
	list := make([]Payment, 5)
	for i := range list {
		list[i] = Payment{ID: fmt.Sprint("r", i), Card: "4111111111111111", CPR: "0101901234", Email: "e@example.com"}
	}
	list[3].Card = "12"
	err := p.Protect(ctx, &list)
	var fe *pii.FieldError
	if !errors.As(err, &fe) || !strings.Contains(fe.Path, "[3].Card") {
		t.Errorf("error for element 3 = %v", err)
	}
}
