package tillidgorm_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	tillidgorm "github.com/tillid/tillid/integrations/gorm"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/tokenize"
)

type Payment struct {
	ID   string `gorm:"primaryKey" pii:"-"`
	Card string `pii:"tokenize=card,format=card-6-4"`
}

// countingStore counts the round trips to a token vault.
type countingStore struct {
	tokenize.Store
	puts atomic.Int64
}

func (s *countingStore) Put(ctx context.Context, domain string, entries []tokenize.Entry, now time.Time) ([]string, error) {
	s.puts.Add(1)
	return s.Store.Put(ctx, domain, entries, now)
}

// TestCreateInBatchesVault makes the vault tokens of each batch in one
// round trip, and stores tokens, never card numbers.
func TestCreateInBatchesVault(t *testing.T) {
	ks := keys.NewMemory()
	store := &countingStore{Store: tokenize.NewMemoryStore()}
	tok, err := tokenize.New(ks, store, "card", tokenize.ModeConsistent, tokenize.WithFormat(tokenize.Card(6, 4)))
	require.NoError(t, err)
	p, err := pii.New(ks, pii.WithVault(tok))
	require.NoError(t, err)
	db, err := gorm.Open(sqlite.Open(filepath.Join(t.TempDir(), "vault.db")), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	pl := tillidgorm.New(p)
	require.NoError(t, db.Use(pl))
	require.NoError(t, pl.AutoMigrate(db, &Payment{}))

	ps := make([]Payment, 25)
	for i := range ps {
		ps[i] = Payment{ID: fmt.Sprint(i), Card: fmt.Sprintf("411111%06d1111", i)}
	}
	require.NoError(t, db.CreateInBatches(&ps, 10).Error)
	assert.EqualValues(t, 3, store.puts.Load(), "vault round trips for 25 payments in batches of 10")
	assert.Equal(t, "4111110000001111", ps[0].Card, "the caller keeps the card number")

	var stored []string
	require.NoError(t, db.Raw("SELECT card FROM payments").Scan(&stored).Error)
	require.Len(t, stored, 25)
	for _, s := range stored {
		assert.True(t, strings.HasPrefix(s, "tl1t:"), "stored %q, want a token", s)
		assert.NotContains(t, s, "111111000", "the card's middle digits in the table")
	}
	var got []Payment
	require.NoError(t, db.Order("id").Find(&got).Error)
	assert.Equal(t, "4111110000001111", got[0].Card, "detokenized on read")
}
