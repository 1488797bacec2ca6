package keys

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// postgresSchemaLock is the advisory lock key that serialises concurrent
// creation of the keyset table ("tillidk").
const postgresSchemaLock = 0x74696c6c69646b

// OpenPostgres returns a [SQLStore] in PostgreSQL over pool, creating its
// table (tillid_keysets in the search path unless [WithTable] says
// otherwise) if it does not exist, under an advisory lock so that
// instances may start together. Keysets are encrypted under kek.
// OpenPostgres accepts the options [WithAuditor], [WithCacheTTL] and
// [WithTable]. The caller keeps ownership of pool and closes it after the
// store's last use.
func OpenPostgres(ctx context.Context, pool *pgxpool.Pool, kek tink.AEAD, opts ...StoreOption) (*SQLStore, error) {
	if pool == nil {
		return nil, errors.New("keys: OpenPostgres with a nil pool")
	}
	if kek == nil {
		return nil, fmt.Errorf("keys: nil KEK: %w", ErrInvalidKEK)
	}
	cfg, err := newStoreConfig(opts)
	if err != nil {
		return nil, err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(postgresSchemaLock)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+cfg.table+` (
			name text NOT NULL,
			kind text NOT NULL,
			version bigint NOT NULL,
			keyset bytea NOT NULL,
			meta bytea NOT NULL,
			updated_at timestamptz NOT NULL,
			PRIMARY KEY (name, kind)
		)`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("keys: creating the PostgreSQL keyset table: %w", err)
	}
	return newSQLStore(&postgresBackend{pool: pool, table: cfg.table}, kek, cfg), nil
}

type postgresBackend struct {
	pool  *pgxpool.Pool
	table string
}

func (b *postgresBackend) load(ctx context.Context, id KeysetID) (keysetRow, bool, error) {
	var r keysetRow
	err := b.pool.QueryRow(ctx, `SELECT version, keyset, meta FROM `+b.table+` WHERE name = $1 AND kind = $2`, id.Name, id.Kind.String()).Scan(&r.version, &r.keyset, &r.meta)
	if errors.Is(err, pgx.ErrNoRows) {
		return keysetRow{}, false, nil
	}
	return r, err == nil, err
}

func (b *postgresBackend) insert(ctx context.Context, id KeysetID, r keysetRow, now time.Time) (bool, error) {
	tag, err := b.pool.Exec(ctx, `INSERT INTO `+b.table+` (name, kind, version, keyset, meta, updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
		id.Name, id.Kind.String(), r.version, r.keyset, r.meta, now)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

func (b *postgresBackend) update(ctx context.Context, id KeysetID, r keysetRow, old int64, now time.Time) (bool, error) {
	tag, err := b.pool.Exec(ctx, `UPDATE `+b.table+` SET version = $1, keyset = $2, meta = $3, updated_at = $4 WHERE name = $5 AND kind = $6 AND version = $7`,
		r.version, r.keyset, r.meta, now, id.Name, id.Kind.String(), old)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

func (b *postgresBackend) list(ctx context.Context) ([]KeysetID, error) {
	rows, err := b.pool.Query(ctx, `SELECT name, kind FROM `+b.table+` ORDER BY name, kind`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanIDs(rows.Next, rows.Scan, rows.Err)
}
