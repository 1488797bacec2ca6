package tillidgorm_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"

	tillidgorm "github.com/tillid/tillid/integrations/gorm"
	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

// consentMember is a row with a base field and a field of a purpose that
// can be withdrawn.
type consentMember struct {
	_     struct{} `pii:"basis=contract"`
	ID    string   `gorm:"primaryKey" pii:"subject"`
	Email string   `pii:"encrypt,class=contact"`
	Promo string   `pii:"encrypt,purpose=marketing,basis=consent"`
}

// TestResaveAfterWithdraw: through the plugin, a row read with First after
// Withdraw (or Forget) is saved again with Save, reads back with the
// withdrawn field erased, and a new value for that purpose is refused with
// ErrErased naming the field. On SQLite and a real PostgreSQL.
func TestResaveAfterWithdraw(t *testing.T) {
	ctx := context.Background()
	dialects := []struct {
		name string
		open func(t *testing.T) gorm.Dialector
	}{
		{"SQLite", func(t *testing.T) gorm.Dialector { return sqlite.Open(filepath.Join(t.TempDir(), "test.db")) }},
		{"PostgreSQL", func(t *testing.T) gorm.Dialector { return postgres.Open(pgtest.DSN(t)) }},
	}
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ks := keys.NewMemory()
			sk, err := keys.NewSubjectKeys(ks, keys.NewMemorySubjectKeyStore(), keys.NewMemoryLedger())
			require.NoError(t, err)
			p, err := pii.New(ks, pii.WithSubjectKeys(sk))
			require.NoError(t, err)
			db, err := gorm.Open(d.open(t), &gorm.Config{})
			require.NoError(t, err)
			raw, err := db.DB()
			require.NoError(t, err)
			t.Cleanup(func() { raw.Close() })
			pl := tillidgorm.New(p)
			require.NoError(t, db.Use(pl))
			require.NoError(t, pl.AutoMigrate(db, &consentMember{}))

			require.NoError(t, db.Create(&consentMember{ID: "u1", Email: "old@example.com", Promo: "offer"}).Error)
			require.NoError(t, db.Create(&consentMember{ID: "u2", Email: "two@example.com", Promo: "offer 2"}).Error)
			_, err = p.Withdraw(ctx, "u1", "marketing")
			require.NoError(t, err)

			var c consentMember
			require.NoError(t, db.First(&c, "id = ?", "u1").Error)
			require.Equal(t, "", c.Promo, "erased")
			c.Email = "new@example.com"
			require.NoError(t, db.Save(&c).Error, "First then Save after Withdraw")
			assert.Equal(t, "new@example.com", c.Email, "the caller's struct keeps its plaintext")

			var back consentMember
			require.NoError(t, db.First(&back, "id = ?", "u1").Error)
			assert.Equal(t, consentMember{ID: "u1", Email: "new@example.com"}, back)
			var stored string
			require.NoError(t, raw.QueryRow("SELECT promo FROM consent_members WHERE id = 'u1'").Scan(&stored))
			assert.Equal(t, "", stored, "nothing sealed under the withdrawn key")

			require.NoError(t, db.Save(&consentMember{ID: "u1", Email: "fresh@example.com"}).Error, "a fresh struct with an empty withdrawn field")

			err = db.Save(&consentMember{ID: "u1", Email: "e@example.com", Promo: "new offer"}).Error
			require.ErrorIs(t, err, pii.ErrErased, "a new value for the withdrawn purpose")
			var fe *pii.FieldError
			require.True(t, errors.As(err, &fe), "Save = %v, want a *pii.FieldError", err)
			assert.Equal(t, "consentMember.Promo", fe.Path)

			var other consentMember
			require.NoError(t, db.First(&other, "id = ?", "u2").Error)
			assert.Equal(t, "offer 2", other.Promo, "another subject is intact")

			_, err = p.Forget(ctx, "u2")
			require.NoError(t, err)
			var gone consentMember
			require.NoError(t, db.First(&gone, "id = ?", "u2").Error)
			assert.Equal(t, consentMember{ID: "u2"}, gone)
			require.NoError(t, db.Save(&gone).Error, "a forgotten subject's row read back saves")
			var all []consentMember
			require.NoError(t, db.Order("id").Find(&all).Error)
			assert.Equal(t, []consentMember{{ID: "u1", Email: "fresh@example.com"}, {ID: "u2"}}, all)
		})
	}
}
