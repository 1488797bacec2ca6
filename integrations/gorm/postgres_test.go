package tillidgorm_test

import (
	"os"
	"testing"

	"gorm.io/driver/postgres"

	tillidgorm "github.com/tillid/tillid/integrations/gorm"
	"github.com/tillid/tillid/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// TestPostgres runs the suite on a real PostgreSQL (pgtest's throwaway
// cluster, or $TILLID_PG_DSN) through gorm.io/driver/postgres over pgx.
func TestPostgres(t *testing.T) {
	open := func(t testing.TB, opts ...tillidgorm.Option) *env {
		return openWithPlugin(t, postgres.Open(pgtest.DSN(t)), opts...)
	}
	for _, s := range suite {
		t.Run(s.name, func(t *testing.T) { s.test(t, open) })
	}
}
