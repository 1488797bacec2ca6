package pii_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/tokenize"
)

// FuzzRecord has a field of every action.
type FuzzRecord struct {
	ID    string            `pii:"-"`
	A     string            `pii:"encrypt,aad=ID"`
	B     []byte            `pii:"deterministic"`
	C     *string           `pii:"encrypt"`
	M     map[string]string `pii:"deterministic,plainkeys"`
	L     []Contact
	N     pii.Value[int64] `pii:"encrypt"`
	Drop  string           `pii:"redact"`
	Email string           `pii:"encrypt"`
	Idx   string           `pii:"index=Email,normalize=email"`
	Pseud string           `pii:"pseudonym,normalize=trim"`
	Card  string           `pii:"tokenize=card"`
	CPR   string           `pii:"tokenize=cpr,aad=ID"`
}

// FuzzRoundTrip protects and reveals generated records holding every
// action: Reveal(Protect(v)) gives v back for the reversible actions, the
// one-way ones keep what Protect made, Protect is idempotent, and input
// that only looks protected fails cleanly.
func FuzzRoundTrip(f *testing.F) {
	f.Add("id", "a", []byte("b"), "c", "k", "v", int64(5), "e@example.com", " pseudo ", "4111111111111111", "0101901234")
	f.Add("x", "", []byte{}, "", "", "", int64(-1), "", "", "", "")
	f.Add("tl1e:", "tl1e:AAAA", []byte("tl1d:"), "tl1e:", "tl1d:", "tl1d:x", int64(0), "tl1e:", "tl1h:AQAAAAA", "tl1t:1", "tl1f:00000000:1")
	store := keys.NewMemory()
	card, err := tokenize.New(store, tokenize.NewMemoryStore(), "card", tokenize.ModeConsistent, tokenize.WithFormat(tokenize.Card(6, 4)))
	require.NoError(f, err)
	cpr, err := tokenize.NewFPE(store, "cpr", tokenize.Digits)
	require.NoError(f, err)
	p, err := pii.New(store, pii.WithVault(card), pii.WithFPE(cpr))
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, id, a string, b []byte, c, mk, mv string, n int64, email, pseud, cardNo, cprNo string) {
		if id == "" {
			id = "id"
		}
		cc := c
		v := FuzzRecord{ID: id, A: a, B: bytes.Clone(b), C: &cc, M: map[string]string{mk: mv}, L: []Contact{{Email: email}},
			N: pii.NewValue(n), Drop: "x", Email: email, Pseud: pseud, Card: cardNo, CPR: cprNo}
		if err := p.Protect(ctx, &v); err != nil {
			if !errors.Is(err, pii.ErrDecryption) && !errors.Is(err, pii.ErrTooLong) && !errors.Is(err, pii.ErrInvalidValue) {
				t.Fatalf("Protect = %v", err)
			}
			return // input that only looks protected, or that a token format refuses
		}
		protected := v
		protected.L = append([]Contact(nil), v.L...)
		if err := p.Protect(ctx, &v); err != nil || v.A != protected.A || v.Idx != protected.Idx || v.Pseud != protected.Pseud || v.Card != protected.Card || v.CPR != protected.CPR {
			t.Fatalf("second Protect = %v, or it changed a value", err)
		}
		require.NoError(t, p.Reveal(ctx, &v))
		got, _ := v.N.Get()
		if v.A != a || !bytes.Equal(v.B, b) || (b == nil) != (v.B == nil) || *v.C != c || v.M[mk] != mv || v.L[0].Email != email || got != n || v.Drop != "" || v.Email != email || v.Card != cardNo || v.CPR != cprNo {
			t.Fatalf("round trip differs: %v", pii.Redacted(v))
		}
		if v.Idx != protected.Idx || v.Pseud != protected.Pseud {
			t.Fatalf("Reveal changed a one-way value")
		}
		again := v
		require.NoError(t, p.Protect(ctx, &again))
		if again.Idx != protected.Idx || again.Pseud != protected.Pseud || again.Card != protected.Card {
			t.Fatalf("the one-way and consistent values differ on a second Protect of the same input")
		}
	})
}
