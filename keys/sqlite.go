package keys

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// OpenSQLite returns a [SQLStore] in the SQLite database db, creating its
// table (tillid_keysets unless [WithTable] says otherwise) if it does not
// exist. db is opened with the pure-Go driver modernc.org/sqlite, with a
// busy timeout so that processes sharing the file wait for each other's
// writes instead of failing, for example
//
//	db, err := sql.Open("sqlite", "file:keys.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
//
// Keysets are encrypted under kek. OpenSQLite accepts the options
// [WithAuditor], [WithCacheTTL] and [WithTable]. The caller keeps ownership
// of db and closes it after the store's last use.
func OpenSQLite(ctx context.Context, db *sql.DB, kek tink.AEAD, opts ...StoreOption) (*SQLStore, error) {
	if db == nil {
		return nil, errors.New("keys: OpenSQLite with a nil database")
	}
	if kek == nil {
		return nil, fmt.Errorf("keys: nil KEK: %w", ErrInvalidKEK)
	}
	cfg, err := newStoreConfig(opts)
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+cfg.table+` (
		name TEXT NOT NULL,
		kind TEXT NOT NULL,
		version INTEGER NOT NULL,
		keyset BLOB NOT NULL,
		meta BLOB NOT NULL,
		updated_at INTEGER NOT NULL,
		PRIMARY KEY (name, kind)
	)`); err != nil {
		return nil, fmt.Errorf("keys: creating the SQLite keyset table: %w", err)
	}
	return newSQLStore(&sqliteBackend{db: db, table: cfg.table}, kek, cfg), nil
}

type sqliteBackend struct {
	db    *sql.DB
	table string
}

func (b *sqliteBackend) load(ctx context.Context, id KeysetID) (keysetRow, bool, error) {
	var r keysetRow
	err := b.db.QueryRowContext(ctx, `SELECT version, keyset, meta FROM `+b.table+` WHERE name = ? AND kind = ?`, id.Name, id.Kind.String()).Scan(&r.version, &r.keyset, &r.meta)
	if errors.Is(err, sql.ErrNoRows) {
		return keysetRow{}, false, nil
	}
	return r, err == nil, err
}

func (b *sqliteBackend) insert(ctx context.Context, id KeysetID, r keysetRow, now time.Time) (bool, error) {
	res, err := b.db.ExecContext(ctx, `INSERT INTO `+b.table+` (name, kind, version, keyset, meta, updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		id.Name, id.Kind.String(), r.version, r.keyset, r.meta, now.UnixMicro())
	return rowsChanged(res, err)
}

func (b *sqliteBackend) update(ctx context.Context, id KeysetID, r keysetRow, old int64, now time.Time) (bool, error) {
	res, err := b.db.ExecContext(ctx, `UPDATE `+b.table+` SET version = ?, keyset = ?, meta = ?, updated_at = ? WHERE name = ? AND kind = ? AND version = ?`,
		r.version, r.keyset, r.meta, now.UnixMicro(), id.Name, id.Kind.String(), old)
	return rowsChanged(res, err)
}

func rowsChanged(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (b *sqliteBackend) list(ctx context.Context) ([]KeysetID, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT name, kind FROM `+b.table+` ORDER BY name, kind`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanIDs(rows.Next, rows.Scan, rows.Err)
}

func scanIDs(next func() bool, scan func(...any) error, rowsErr func() error) ([]KeysetID, error) {
	var ids []KeysetID
	for next() {
		var name, kind string
		if err := scan(&name, &kind); err != nil {
			return nil, err
		}
		id, err := parseKeysetID(name + "/" + kind)
		if err != nil {
			return nil, fmt.Errorf("keyset table row %s/%s: %v", name, kind, err)
		}
		ids = append(ids, id)
	}
	return ids, rowsErr()
}
