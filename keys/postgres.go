package keys

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// postgresSchemaLock is the advisory lock key that serialises concurrent
// creation of the keyset table ("tillidk").
const postgresSchemaLock = 0x74696c6c69646b

// OpenPostgres returns a [SQLStore] in the PostgreSQL database db, creating
// its table (tillid_keysets in the search path unless [WithTable] says
// otherwise) if it does not exist, under an advisory lock so that
// instances may start together. This package imports no driver: the
// program opens db with one, such as pgx's database/sql driver,
//
//	import _ "github.com/jackc/pgx/v5/stdlib"
//	db, err := sql.Open("pgx", "postgres://...")
//
// or, over a pgx pool the program already has, stdlib.OpenDBFromPool(pool).
// Keysets are encrypted under kek. OpenPostgres accepts the options
// [WithAuditor], [WithCacheTTL], [WithClock], [WithTable] and
// [WithCreateMissing]. The caller keeps ownership of db and closes it after
// the store's last use.
//
// Opening creates no keyset: the table, when it is missing, is created
// empty (it holds no key, so a mistyped database changes nothing another
// instance reads), and a keyset the table does not hold is
// [ErrKeysetNotFound] from [SQLStore.Keyset] and [SQLStore.Rotate]. Only
// with [WithCreateMissing] (development, tests, tillid keys create) are
// missing keysets created on first use. Call [Check] at start-up with the keysets
// the service needs, so that a missing one fails before the first request.
func OpenPostgres(ctx context.Context, db *sql.DB, kek tink.AEAD, opts ...StoreOption) (*SQLStore, error) {
	if db == nil {
		return nil, errors.New("keys: OpenPostgres with a nil database")
	}
	if kek == nil {
		return nil, fmt.Errorf("keys: nil KEK: %w", ErrInvalidKEK)
	}
	cfg, err := newStoreConfig(opts)
	if err != nil {
		return nil, err
	}
	if err := createPostgresTable(ctx, db, cfg.table); err != nil {
		return nil, fmt.Errorf("keys: creating the PostgreSQL keyset table: %w", err)
	}
	return newSQLStore(&sqlBackendDB{db: db, table: cfg.table, arg: postgresArg}, kek, cfg), nil
}

func createPostgresTable(ctx context.Context, db *sql.DB, table string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(postgresSchemaLock)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
		name text NOT NULL,
		kind text NOT NULL,
		version bigint NOT NULL,
		keyset bytea NOT NULL,
		meta bytea NOT NULL,
		updated_at timestamptz NOT NULL,
		PRIMARY KEY (name, kind)
	)`); err != nil {
		return err
	}
	return tx.Commit()
}

// postgresArg numbers placeholders ($1, $2, ...) and stores times as
// timestamptz.
var postgresArg = sqlDialect{
	placeholder: func(n int) string { return fmt.Sprintf("$%d", n) },
	time:        func(t time.Time) any { return t },
}
