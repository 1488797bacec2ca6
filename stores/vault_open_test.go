package stores_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/stores/postgres"
	"github.com/tillid/tillid/tokenize"
)

// Opening a vault in a database that has none is tokenize.ErrVaultNotFound
// and creates nothing; only WithCreateTable makes one, and a vault made so
// is then opened without it.
func TestVaultOpenCreatesOnlyWhenAsked(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		db     func(t *testing.T) (*sql.DB, string)
		open   func(t *testing.T, db *sql.DB, dsn string, create bool) (tokenize.Store, error)
		tables string
	}{
		{
			name: "sqlite",
			db: func(t *testing.T) (*sql.DB, string) {
				db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "erasures.db"))
				require.NoError(t, err)
				t.Cleanup(func() { db.Close() })
				return db, ""
			},
			open: func(t *testing.T, db *sql.DB, _ string, create bool) (tokenize.Store, error) {
				if create {
					return tokenize.OpenSQLite(ctx, db, tokenize.WithCreateTable())
				}
				return tokenize.OpenSQLite(ctx, db)
			},
			tables: `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`,
		},
		{
			name: "postgres",
			db: func(t *testing.T) (*sql.DB, string) {
				dsn := pgtest.DSN(t)
				db, err := sql.Open("pgx", dsn)
				require.NoError(t, err)
				t.Cleanup(func() { db.Close() })
				return db, dsn
			},
			open: func(t *testing.T, _ *sql.DB, dsn string, create bool) (tokenize.Store, error) {
				pool, err := pgxpool.New(ctx, dsn)
				require.NoError(t, err)
				t.Cleanup(pool.Close)
				if create {
					return postgres.OpenTokenStore(ctx, pool, postgres.WithCreateTable())
				}
				return postgres.OpenTokenStore(ctx, pool)
			},
			tables: `SELECT count(*) FROM information_schema.tables WHERE table_schema = ANY(current_schemas(false))`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, dsn := tc.db(t)
			_, err := db.ExecContext(ctx, `CREATE TABLE tillid_erasure_ledger (id INTEGER)`)
			require.NoError(t, err)
			count := func() int {
				var n int
				require.NoError(t, db.QueryRowContext(ctx, tc.tables).Scan(&n))
				return n
			}
			_, err = tc.open(t, db, dsn, false)
			assert.ErrorIs(t, err, tokenize.ErrVaultNotFound, "opening a database without a vault")
			assert.ErrorContains(t, err, "tillid_tokens", "the error names the missing table")
			assert.Equal(t, 1, count(), "opening without WithCreateTable created tables")

			_, err = tc.open(t, db, dsn, true)
			require.NoError(t, err, "WithCreateTable")
			assert.Equal(t, 2, count(), "WithCreateTable creates the vault table")
			s, err := tc.open(t, db, dsn, false)
			require.NoError(t, err, "opening the vault WithCreateTable made")
			_, err = s.Get(ctx, "card", []string{"none"}, time.Time{})
			assert.NoError(t, err)
		})
	}
}
