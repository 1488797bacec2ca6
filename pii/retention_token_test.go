package pii_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/tokenize"
)

type cardRec struct {
	ID        string    `pii:"-"`
	CreatedAt time.Time `pii:"-"`
	Card      string    `pii:"tokenize=card,aad=ID,retain=1y,from=CreatedAt"`
	Email     string    `pii:"encrypt"`
}

// cardProtector returns a Protector whose card vault runs on *clock.
func cardProtector(t *testing.T, clock *time.Time) (*pii.Protector, *tokenize.Tokenizer) {
	t.Helper()
	store := keys.NewMemory() // real keys come from a KMS
	card, err := tokenize.New(store, tokenize.NewMemoryStore(), "card", tokenize.ModeRandom,
		tokenize.WithClock(func() time.Time { return *clock }))
	require.NoError(t, err)
	p, err := pii.New(store, pii.WithVault(card))
	require.NoError(t, err)
	return p, card
}

// TestRevealExpiredToken: a vault token that expired with its field's
// retention rule reveals as the field's zero value, listed in
// Report.Expired, never as tampering, and the rest of the record reveals.
func TestRevealExpiredToken(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		created time.Time
		age     time.Duration // how far the clock moves after Protect
		want    string
		expired bool
		reason  string
	}{
		{"created two years ago", now.AddDate(-2, 0, 0), 0, "", true, "the token was minted already expired"},
		{"within its year", now.AddDate(0, -1, 0), 0, "4111111111111111", false, ""},
		{"runs out after Protect", now.AddDate(0, -11, 0), 60 * 24 * time.Hour, "", true, "the token expired in the vault"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := now
			p, _ := cardProtector(t, &clock)
			r := cardRec{ID: "r1", CreatedAt: tt.created, Card: "4111111111111111", Email: "a@example.com"}
			require.NoError(t, p.Protect(ctx, &r))
			stored := r.Card
			clock = clock.Add(tt.age)

			again := r
			require.NoError(t, p.Protect(ctx, &again), "Protect of the stored record keeps its token")
			assert.Equal(t, stored, again.Card)

			rep, err := p.RevealReport(ctx, &r)
			require.NoError(t, err, "%s: an expired token is not an error (%s)", tt.name, tt.reason)
			assert.Equal(t, tt.want, r.Card)
			assert.Equal(t, "a@example.com", r.Email, "the other fields reveal")
			if tt.expired {
				assert.Equal(t, []string{"cardRec.Card"}, rep.Expired)
				assert.False(t, rep.Complete())
			} else {
				assert.Empty(t, rep.Expired)
			}
			require.NoError(t, p.Reveal(ctx, &again))
			assert.Equal(t, tt.want, again.Card)
		})
	}
}

// TestRevealMissingTokenNotExpired: a token the vault does not hold while
// its rule has not run out is still an error, as tampering is.
func TestRevealMissingTokenNotExpired(t *testing.T) {
	clock := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	p, card := cardProtector(t, &clock)
	r := cardRec{ID: "r1", CreatedAt: clock.AddDate(0, -1, 0), Card: "4111111111111111"}
	require.NoError(t, p.Protect(ctx, &r))
	tok, ok := pii.Token(r.Card)
	require.True(t, ok)
	require.NoError(t, card.Delete(ctx, tok))
	err := p.Reveal(ctx, &r)
	require.Error(t, err)
	assert.True(t, errors.Is(err, pii.ErrDecryption), "Reveal = %v, want ErrDecryption", err)
}

// TestProtectExpiredTokenPurged: the token minted for a value already past
// its rule expires at once, and Purge removes it.
func TestProtectExpiredTokenPurged(t *testing.T) {
	clock := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	p, card := cardProtector(t, &clock)
	r := cardRec{ID: "r1", CreatedAt: clock.AddDate(-2, 0, 0), Card: "4111111111111111"}
	require.NoError(t, p.Protect(ctx, &r))
	n, err := card.Purge(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
}
