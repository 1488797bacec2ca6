package stores_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/retention"
	"github.com/tillid/tillid/tokenize"
)

type cardHolder struct {
	ID      int64     `pii:"-"`
	Created time.Time `pii:"-"`
	Card    string    `pii:"tokenize=card,retain=30d,from=Created"`
}

// TestRetentionTokensAgreeWithSweep stores tokenized cards in a table and
// a SQLite vault, and checks at several times that the vault's Purge
// deletes as many tokens as a sweep of the table clears cards.
func TestRetentionTokensAgreeWithSweep(t *testing.T) {
	rdb := retentionSQLite(t)
	db := rdb.connect(t)
	vault, err := tokenize.OpenSQLite(ctx, db)
	require.NoError(t, err)
	clock := retentionNow
	now := func() time.Time { return clock }
	card, err := tokenize.New(keys.NewMemory(), vault, "card", tokenize.ModeRandom, tokenize.WithClock(now))
	require.NoError(t, err)
	p, err := pii.New(keys.NewMemory(), pii.WithVault(card))
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `CREATE TABLE card_holders (id INTEGER PRIMARY KEY, created DATETIME, card TEXT NOT NULL)`)
	require.NoError(t, err)
	for i := range 20 {
		c := cardHolder{ID: int64(i + 1), Created: retentionNow.Add(-time.Duration(i) * 24 * time.Hour), Card: fmt.Sprintf("41111111111111%02d", i)}
		require.NoError(t, p.Protect(ctx, &c))
		_, err = db.ExecContext(ctx, `INSERT INTO card_holders VALUES (?, ?, ?)`, c.ID, c.Created, c.Card)
		require.NoError(t, err)
	}
	table, err := retention.ForType(cardHolder{}, "card_holders", "id", nil)
	require.NoError(t, err)
	sw, err := retention.New(ctx, db, retention.SQLite, table, retention.WithClock(now))
	require.NoError(t, err)
	for _, days := range []int{0, 11, 12, 20, 40} {
		clock = retentionNow.Add(time.Duration(days) * 24 * time.Hour)
		purged, err := card.Purge(ctx)
		require.NoError(t, err)
		st, err := sw.Sweep(ctx)
		require.NoError(t, err)
		assert.Equal(t, purged, st.Rules[0].Changed, "day %d: Purge and the sweep agree", days)
	}
}
