package tokenize

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// SQLiteStore is a [Store] in an SQLite database, the embedded default. It
// keeps its entries in the table tillid_tokens, which [OpenSQLite]
// creates when given [WithCreateTable]. Tokens are unique per domain through the table's primary key and
// consistent-mode indexes through a unique index, so processes that share
// the database file share one vault. It is safe for concurrent use.
type SQLiteStore struct {
	db *sql.DB
}

// sqliteChunk bounds the parameters of one IN list.
const sqliteChunk = 500

var sqliteSchema = []string{
	`CREATE TABLE IF NOT EXISTS tillid_tokens (
		domain TEXT NOT NULL,
		token TEXT NOT NULL,
		ciphertext BLOB NOT NULL,
		value_index BLOB,
		subject BLOB,
		expires_at INTEGER,
		PRIMARY KEY (domain, token)
	)`,
	`CREATE UNIQUE INDEX IF NOT EXISTS tillid_tokens_value_index ON tillid_tokens (domain, value_index)`,
	`CREATE INDEX IF NOT EXISTS tillid_tokens_subject ON tillid_tokens (domain, subject) WHERE subject IS NOT NULL`,
	`CREATE INDEX IF NOT EXISTS tillid_tokens_expires_at ON tillid_tokens (domain, expires_at) WHERE expires_at IS NOT NULL`,
}

// OpenSQLite returns the token vault in db: the table tillid_tokens, which
// must exist unless opts hold [WithCreateTable]. This package imports no
// driver: db is an SQLite database that the program opens with one, such as
// the pure-Go modernc.org/sqlite, for example
//
//	import _ "modernc.org/sqlite"
//	db, err := sql.Open("sqlite", "file:vault.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
//
// The busy timeout lets writers of several connections or processes wait
// for each other instead of failing with SQLITE_BUSY. The caller keeps
// ownership of db and closes it after the store's last use.
//
// Without [WithCreateTable], OpenSQLite changes nothing in db, and a
// database without the table is [ErrVaultNotFound]: a mistyped path or DSN
// is an error at start-up, not a new, empty vault in which every existing
// token is [ErrTokenNotFound] and new tokens are stored where no other
// instance looks for them. With it (development, tests, a first
// deployment), the table and its indexes are created if they do not exist.
func OpenSQLite(ctx context.Context, db *sql.DB, opts ...StoreOption) (*SQLiteStore, error) {
	if db == nil {
		return nil, fmt.Errorf("tokenize: OpenSQLite with a nil database")
	}
	var s storeSettings
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("tokenize: OpenSQLite with a nil option")
		}
		o.applyStore(&s)
	}
	if !s.createTable {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'tillid_tokens'`).Scan(&n); err != nil {
			return nil, fmt.Errorf("tokenize: looking for the SQLite token table: %w", err)
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: the database has no table tillid_tokens (open it WithCreateTable to create one)", ErrVaultNotFound)
		}
		return &SQLiteStore{db: db}, nil
	}
	for _, stmt := range sqliteSchema {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("tokenize: creating the SQLite token table: %w", err)
		}
	}
	return &SQLiteStore{db: db}, nil
}

func sqliteTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// Put implements [Store.Put] in one transaction.
func (s *SQLiteStore) Put(ctx context.Context, domain string, entries []Entry, now time.Time) (_ []string, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() {
		if !committed {
			tx.Rollback()
		}
	}()
	// Writing first takes the write lock at once, waiting on the busy
	// timeout, so the transaction never has to upgrade a read lock.
	del, err := tx.PrepareContext(ctx, `DELETE FROM tillid_tokens WHERE domain = ? AND token = ? AND expires_at <= ?`)
	if err != nil {
		return nil, err
	}
	defer del.Close()
	delIndex, err := tx.PrepareContext(ctx, `DELETE FROM tillid_tokens WHERE domain = ? AND value_index = ? AND expires_at <= ?`)
	if err != nil {
		return nil, err
	}
	defer delIndex.Close()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO tillid_tokens (domain, token, ciphertext, value_index, subject, expires_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
	if err != nil {
		return nil, err
	}
	defer ins.Close()
	sel, err := tx.PrepareContext(ctx, `SELECT token FROM tillid_tokens WHERE domain = ? AND value_index = ?`)
	if err != nil {
		return nil, err
	}
	defer sel.Close()

	out := make([]string, len(entries))
	collided := false
	nowMicro := now.UnixMicro()
	for i, e := range entries {
		if _, err := del.ExecContext(ctx, domain, e.Token, nowMicro); err != nil {
			return nil, err
		}
		if e.Index != nil {
			if _, err := delIndex.ExecContext(ctx, domain, e.Index, nowMicro); err != nil {
				return nil, err
			}
		}
		res, err := ins.ExecContext(ctx, domain, e.Token, e.Ciphertext, e.Index, e.Subject, sqliteTime(e.ExpiresAt))
		if err != nil {
			return nil, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, err
		}
		if n == 1 {
			out[i] = e.Token
			continue
		}
		if e.Index != nil {
			// The write lock is held, so a row with this index is live.
			var tok string
			switch err := sel.QueryRowContext(ctx, domain, e.Index).Scan(&tok); err {
			case nil:
				out[i] = tok
				continue
			case sql.ErrNoRows:
			default:
				return nil, err
			}
		}
		collided = true
	}
	if collided {
		return out, nil // Rolled back by the deferred call.
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	committed = true
	return out, nil
}

// Get implements [Store.Get].
func (s *SQLiteStore) Get(ctx context.Context, domain string, tokens []string, now time.Time) ([]Entry, error) {
	found := make(map[string]Entry, len(tokens))
	for start := 0; start < len(tokens); start += sqliteChunk {
		chunk := tokens[start:min(start+sqliteChunk, len(tokens))]
		args := make([]any, 0, len(chunk)+2)
		args = append(args, domain, now.UnixMicro())
		for _, t := range chunk {
			args = append(args, t)
		}
		rows, err := s.db.QueryContext(ctx, `SELECT token, ciphertext, value_index, subject, expires_at FROM tillid_tokens
			WHERE domain = ? AND (expires_at IS NULL OR expires_at > ?) AND token IN (`+placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var e Entry
			var exp sql.NullInt64
			if err := rows.Scan(&e.Token, &e.Ciphertext, &e.Index, &e.Subject, &exp); err != nil {
				rows.Close()
				return nil, err
			}
			if exp.Valid {
				e.ExpiresAt = time.UnixMicro(exp.Int64)
			}
			found[e.Token] = e
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := make([]Entry, len(tokens))
	for i, t := range tokens {
		out[i] = found[t]
	}
	return out, nil
}

// Delete implements [Store.Delete] in one transaction.
func (s *SQLiteStore) Delete(ctx context.Context, domain string, sel Selection) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var total int64
	exec := func(query string, args ...any) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		total += n
		return err
	}
	for start := 0; start < len(sel.Tokens); start += sqliteChunk {
		chunk := sel.Tokens[start:min(start+sqliteChunk, len(sel.Tokens))]
		args := []any{domain}
		for _, t := range chunk {
			args = append(args, t)
		}
		if err := exec(`DELETE FROM tillid_tokens WHERE domain = ? AND token IN (`+placeholders(len(chunk))+`)`, args...); err != nil {
			return 0, err
		}
	}
	for start := 0; start < len(sel.Subjects); start += sqliteChunk {
		chunk := sel.Subjects[start:min(start+sqliteChunk, len(sel.Subjects))]
		args := []any{domain}
		for _, sub := range chunk {
			args = append(args, sub)
		}
		if err := exec(`DELETE FROM tillid_tokens WHERE domain = ? AND subject IN (`+placeholders(len(chunk))+`)`, args...); err != nil {
			return 0, err
		}
	}
	if !sel.ExpiredAt.IsZero() {
		if err := exec(`DELETE FROM tillid_tokens WHERE domain = ? AND expires_at <= ?`, domain, sel.ExpiredAt.UnixMicro()); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return total, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// Scan implements [RewrapStore.Scan] in one query, in byte order of token
// (SQLite's BINARY collation), along the table's primary key.
func (s *SQLiteStore) Scan(ctx context.Context, domain, after string, limit int, now time.Time) ([]Entry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT token, ciphertext, value_index, subject, expires_at FROM tillid_tokens
		WHERE domain = ? AND token > ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY token LIMIT ?`, domain, after, now.UnixMicro(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]Entry, 0, limit)
	for rows.Next() {
		var e Entry
		var exp sql.NullInt64
		if err := rows.Scan(&e.Token, &e.Ciphertext, &e.Index, &e.Subject, &exp); err != nil {
			return nil, err
		}
		if exp.Valid {
			e.ExpiresAt = time.UnixMicro(exp.Int64)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Replace implements [RewrapStore.Replace] in one transaction, which holds
// the write lock from its first statement.
func (s *SQLiteStore) Replace(ctx context.Context, domain string, repl []Replacement, now time.Time) ([]bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	nowMicro := now.UnixMicro()
	delExpired, err := tx.PrepareContext(ctx, `DELETE FROM tillid_tokens WHERE domain = ? AND value_index = ? AND token <> ? AND expires_at <= ?`)
	if err != nil {
		return nil, err
	}
	defer delExpired.Close()
	held, err := tx.PrepareContext(ctx, `SELECT count(*) FROM tillid_tokens WHERE domain = ? AND value_index = ? AND token <> ?`)
	if err != nil {
		return nil, err
	}
	defer held.Close()
	upd, err := tx.PrepareContext(ctx, `UPDATE tillid_tokens SET ciphertext = ?
		WHERE domain = ? AND token = ? AND ciphertext = ? AND (expires_at IS NULL OR expires_at > ?)`)
	if err != nil {
		return nil, err
	}
	defer upd.Close()
	// The indexes are written only where they change: an UPDATE that sets
	// an indexed column rewrites its index entries even to the same value.
	updIndex, err := tx.PrepareContext(ctx, `UPDATE tillid_tokens SET value_index = ?, subject = ?
		WHERE domain = ? AND token = ? AND (value_index IS NOT ? OR subject IS NOT ?)`)
	if err != nil {
		return nil, err
	}
	defer updIndex.Close()
	out := make([]bool, len(repl))
	for i, r := range repl {
		idx := r.Index
		if idx != nil {
			if _, err := delExpired.ExecContext(ctx, domain, idx, r.Token, nowMicro); err != nil {
				return nil, err
			}
			var n int
			if err := held.QueryRowContext(ctx, domain, idx, r.Token).Scan(&n); err != nil {
				return nil, err
			}
			if n > 0 {
				idx = nil
			}
		}
		res, err := upd.ExecContext(ctx, r.Ciphertext, domain, r.Token, r.Old, nowMicro)
		if out[i], err = rowsChanged(res, err); err != nil {
			return nil, err
		}
		if out[i] {
			if _, err := updIndex.ExecContext(ctx, idx, r.Subject, domain, r.Token, idx, r.Subject); err != nil {
				return nil, err
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return out, nil
}

func rowsChanged(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

var (
	_ Store       = (*SQLiteStore)(nil)
	_ RewrapStore = (*SQLiteStore)(nil)
)
