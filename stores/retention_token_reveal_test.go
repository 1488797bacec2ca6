package stores_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/tokenize"
)

type cardRecord struct {
	ID        string    `pii:"-"`
	CreatedAt time.Time `pii:"-"`
	Card      string    `pii:"tokenize=card,aad=ID,retain=1y,from=CreatedAt"`
	Email     string    `pii:"encrypt"`
}

// TestRevealTokenExpiredByRule: on the SQLite and PostgreSQL vaults, a
// record whose card rule ran out before it was protected reveals with its
// card empty and listed as expired, not as tampering, and its email
// revealed; a card within its rule reveals, and one missing from the
// vault within its rule is still ErrDecryption.
func TestRevealTokenExpiredByRule(t *testing.T) {
	vaults := map[string]func(t *testing.T) tokenize.Store{
		"sqlite":   func(t *testing.T) tokenize.Store { return openSQLite(t, filepath.Join(t.TempDir(), "vault.db")) },
		"postgres": func(t *testing.T) tokenize.Store { return openPostgres(t, pgtest.DSN(t)) },
	}
	for name, open := range vaults {
		t.Run(name, func(t *testing.T) {
			clock := retentionNow
			provider := keys.NewMemory()
			card, err := tokenize.New(provider, open(t), "card", tokenize.ModeRandom, tokenize.WithClock(func() time.Time { return clock }))
			require.NoError(t, err)
			p, err := pii.New(provider, pii.WithVault(card))
			require.NoError(t, err)

			old := cardRecord{ID: "r1", CreatedAt: retentionNow.AddDate(-2, 0, 0), Card: "4111111111111111", Email: "a@example.com"}
			require.NoError(t, p.Protect(ctx, &old))
			rep, err := p.RevealReport(ctx, &old)
			require.NoError(t, err)
			assert.Equal(t, "", old.Card)
			assert.Equal(t, "a@example.com", old.Email)
			assert.Equal(t, []string{"cardRecord.Card"}, rep.Expired)

			fresh := cardRecord{ID: "r2", CreatedAt: retentionNow.AddDate(0, -1, 0), Card: "4111111111111111", Email: "b@example.com"}
			require.NoError(t, p.Protect(ctx, &fresh))
			stored := fresh
			require.NoError(t, p.Reveal(ctx, &fresh))
			assert.Equal(t, "4111111111111111", fresh.Card)

			tok, ok := pii.Token(stored.Card)
			require.True(t, ok)
			require.NoError(t, card.Delete(ctx, tok))
			err = p.Reveal(ctx, &stored)
			assert.True(t, errors.Is(err, pii.ErrDecryption), "a token missing within its rule: Reveal = %v, want ErrDecryption", err)
		})
	}
}
