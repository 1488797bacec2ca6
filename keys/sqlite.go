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
// exist. This package imports no driver: the program opens db with one,
// such as the pure-Go modernc.org/sqlite, with a busy timeout so that
// processes sharing the file wait for each other's writes instead of
// failing, for example
//
//	import _ "modernc.org/sqlite"
//	db, err := sql.Open("sqlite", "file:keys.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
//
// Keysets are encrypted under kek. OpenSQLite accepts the options
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
	return newSQLStore(&sqlBackendDB{db: db, table: cfg.table, arg: sqliteArg}, kek, cfg), nil
}

// sqliteArg uses ? placeholders and stores times as Unix microseconds.
var sqliteArg = sqlDialect{
	placeholder: func(int) string { return "?" },
	time:        func(t time.Time) any { return t.UnixMicro() },
}

// sqlDialect is what differs between the SQL databases in the statements
// of [sqlBackendDB].
type sqlDialect struct {
	placeholder func(n int) string // the nth (from 1) parameter
	time        func(time.Time) any
}

func (d sqlDialect) params(n int) []any {
	p := make([]any, n)
	for i := range p {
		p[i] = d.placeholder(i + 1)
	}
	return p
}

// sqlBackendDB is the keyset table in a database/sql database.
type sqlBackendDB struct {
	db    *sql.DB
	table string
	arg   sqlDialect
}

func (b *sqlBackendDB) load(ctx context.Context, id KeysetID) (keysetRow, bool, error) {
	var r keysetRow
	q := fmt.Sprintf(`SELECT version, keyset, meta FROM %s WHERE name = %s AND kind = %s`, append([]any{b.table}, b.arg.params(2)...)...)
	err := b.db.QueryRowContext(ctx, q, id.Name, id.Kind.String()).Scan(&r.version, &r.keyset, &r.meta)
	if errors.Is(err, sql.ErrNoRows) {
		return keysetRow{}, false, nil
	}
	return r, err == nil, err
}

func (b *sqlBackendDB) insert(ctx context.Context, id KeysetID, r keysetRow, now time.Time) (bool, error) {
	q := fmt.Sprintf(`INSERT INTO %s (name, kind, version, keyset, meta, updated_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING`, append([]any{b.table}, b.arg.params(6)...)...)
	res, err := b.db.ExecContext(ctx, q, id.Name, id.Kind.String(), r.version, r.keyset, r.meta, b.arg.time(now))
	return rowsChanged(res, err)
}

func (b *sqlBackendDB) update(ctx context.Context, id KeysetID, r keysetRow, old int64, now time.Time) (bool, error) {
	q := fmt.Sprintf(`UPDATE %s SET version = %s, keyset = %s, meta = %s, updated_at = %s WHERE name = %s AND kind = %s AND version = %s`, append([]any{b.table}, b.arg.params(7)...)...)
	res, err := b.db.ExecContext(ctx, q, r.version, r.keyset, r.meta, b.arg.time(now), id.Name, id.Kind.String(), old)
	return rowsChanged(res, err)
}

func rowsChanged(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (b *sqlBackendDB) list(ctx context.Context) ([]KeysetID, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT name, kind FROM `+b.table+` ORDER BY name, kind`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []KeysetID
	for rows.Next() {
		var name, kind string
		if err := rows.Scan(&name, &kind); err != nil {
			return nil, err
		}
		id, err := parseKeysetID(name + "/" + kind)
		if err != nil {
			return nil, fmt.Errorf("keyset table row %s/%s: %v", name, kind, err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
