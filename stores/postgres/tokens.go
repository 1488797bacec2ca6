// Package postgres is the PostgreSQL token vault of package tokenize, on
// pgx: each Put is one pipelined round trip. It lives in the module
// github.com/tillid/tillid/stores so that only programs that use it compile
// pgx. (PostgreSQL keyset stores need no pgx-specific code:
// keys.OpenPostgres takes a *sql.DB.)
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tillid/tillid/tokenize"
)

// TokenStore is a tokenize.Store in PostgreSQL, for fleets of service instances
// that share one vault. It keeps its entries in the table tillid_tokens of
// the pool's search path, which [OpenTokenStore] creates when given
// [WithCreateTable]. Tokens are
// unique per domain through the primary key and consistent-mode indexes
// through a unique index, so concurrent instances agree on one token per
// value without any lock of their own. It is safe for concurrent use.
//
// Each Put, Get and Delete is one round trip to the server once the pool's
// connections have prepared their statements.
type TokenStore struct {
	pool *pgxpool.Pool
}

// postgresSchemaLock is the advisory lock key that serialises concurrent
// schema creation (CREATE ... IF NOT EXISTS races on the catalogs).
const postgresSchemaLock = 0x74696c6c6964 // "tillid"

const postgresSchema = `
CREATE TABLE IF NOT EXISTS tillid_tokens (
	domain text NOT NULL,
	token text NOT NULL,
	ciphertext bytea NOT NULL,
	value_index bytea,
	subject bytea,
	expires_at timestamptz,
	PRIMARY KEY (domain, token)
);
CREATE UNIQUE INDEX IF NOT EXISTS tillid_tokens_value_index ON tillid_tokens (domain, value_index);
CREATE INDEX IF NOT EXISTS tillid_tokens_subject ON tillid_tokens (domain, subject) WHERE subject IS NOT NULL;
CREATE INDEX IF NOT EXISTS tillid_tokens_expires_at ON tillid_tokens (domain, expires_at) WHERE expires_at IS NOT NULL;
`

// An Option changes how [OpenTokenStore] opens a vault. Options come from
// [WithCreateTable]; the interface is sealed.
type Option interface {
	apply(o *options)
}

type options struct {
	createTable bool
}

type optionFunc func(o *options)

func (f optionFunc) apply(o *options) { f(o) }

// WithCreateTable makes [OpenTokenStore] create the vault's table and
// indexes when they do not exist (under an advisory lock, so instances may
// start together), for development, tests and the first deployment of a
// vault. Without it, a database that has no vault is
// tokenize.ErrVaultNotFound, so that a mistyped DSN never starts an empty
// vault, and opening needs no CREATE privilege.
func WithCreateTable() Option {
	return optionFunc(func(o *options) { o.createTable = true })
}

// OpenTokenStore returns the token vault over pool: the table
// tillid_tokens of the pool's search path, which must exist unless opts
// hold [WithCreateTable]. Without that option it changes nothing and a
// database without the table is tokenize.ErrVaultNotFound. The caller
// keeps ownership of pool and closes it after the store's last use.
func OpenTokenStore(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*TokenStore, error) {
	if pool == nil {
		return nil, fmt.Errorf("postgres: OpenTokenStore with a nil pool")
	}
	var o options
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("postgres: OpenTokenStore with a nil option")
		}
		opt.apply(&o)
	}
	if !o.createTable {
		var found bool
		if err := pool.QueryRow(ctx, `SELECT to_regclass('tillid_tokens') IS NOT NULL`).Scan(&found); err != nil {
			return nil, fmt.Errorf("postgres: looking for the PostgreSQL token table: %w", err)
		}
		if !found {
			return nil, fmt.Errorf("%w: the database has no table tillid_tokens in its search path (open it WithCreateTable to create one)", tokenize.ErrVaultNotFound)
		}
		return &TokenStore{pool: pool}, nil
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(postgresSchemaLock)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, postgresSchema)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: creating the PostgreSQL token table: %w", err)
	}
	return &TokenStore{pool: pool}, nil
}

func pgTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Put implements tokenize.Store.Put in one round trip: one pipelined implicit
// transaction that removes expired entries in the way, inserts the entries
// (skipping those whose index exists) and reads back the tokens of their
// indexes. An insert that meets a concurrent insert of the same index waits
// for it and then reads its token. A taken token aborts the transaction, and
// Put then reports "" for every entry not resolved through its index.
func (s *TokenStore) Put(ctx context.Context, domain string, entries []tokenize.Entry, now time.Time) ([]string, error) {
	tokens := make([]string, len(entries))
	cts := make([][]byte, len(entries))
	idxs := make([][]byte, len(entries))
	subjects := make([][]byte, len(entries))
	expires := make([]*time.Time, len(entries))
	for i, e := range entries {
		tokens[i], cts[i], idxs[i], subjects[i], expires[i] = e.Token, e.Ciphertext, e.Index, e.Subject, pgTime(e.ExpiresAt)
	}
	for attempt := 0; ; attempt++ {
		out, err := s.put(ctx, domain, tokens, cts, idxs, subjects, expires, now)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			switch {
			case pgErr.Code == "23505" && pgErr.ConstraintName == "tillid_tokens_pkey":
				// A token is taken; nothing was stored.
				return make([]string, len(entries)), nil
			case (pgErr.Code == "40P01" || pgErr.Code == "40001") && attempt < 3:
				// Deadlock or serialisation failure: nothing was stored.
				continue
			}
		}
		return out, err
	}
}

func (s *TokenStore) put(ctx context.Context, domain string, tokens []string, cts, idxs, subjects [][]byte, expires []*time.Time, now time.Time) ([]string, error) {
	// Only consistent-mode entries have an index to clear and read back.
	var live [][]byte
	for _, idx := range idxs {
		if idx != nil {
			live = append(live, idx)
		}
	}
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM tillid_tokens WHERE domain = $1 AND token = ANY($2) AND expires_at <= $3`, domain, tokens, now)
	if live != nil {
		b.Queue(`DELETE FROM tillid_tokens WHERE domain = $1 AND value_index = ANY($2) AND expires_at <= $3`, domain, live, now)
	}
	// Inserting in index order keeps two batches that share indexes from
	// deadlocking on each other.
	b.Queue(`INSERT INTO tillid_tokens (domain, token, ciphertext, value_index, subject, expires_at)
		SELECT $1, t, c, i, s, e FROM unnest($2::text[], $3::bytea[], $4::bytea[], $5::bytea[], $6::timestamptz[]) AS u(t, c, i, s, e)
		ORDER BY i, t
		ON CONFLICT (domain, value_index) DO NOTHING
		RETURNING token`, domain, tokens, cts, idxs, subjects, expires)
	if live != nil {
		b.Queue(`SELECT value_index, token FROM tillid_tokens WHERE domain = $1 AND value_index = ANY($2)`, domain, live)
	}
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	if live != nil {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
	}
	inserted := make(map[string]bool, len(tokens))
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	var tok string
	_, err = pgx.ForEachRow(rows, []any{&tok}, func() error {
		inserted[tok] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	existing := make(map[string]string)
	if live != nil {
		rows, err = br.Query()
		if err != nil {
			return nil, err
		}
		var idx []byte
		_, err = pgx.ForEachRow(rows, []any{&idx, &tok}, func() error {
			existing[string(idx)] = tok
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if err := br.Close(); err != nil {
		return nil, err
	}
	out := make([]string, len(tokens))
	for i, t := range tokens {
		switch {
		case inserted[t]:
			out[i] = t
		case idxs[i] != nil && existing[string(idxs[i])] != "":
			out[i] = existing[string(idxs[i])]
		}
	}
	for _, t := range out {
		if t == "" {
			// Cannot happen: an entry is either inserted, or skipped for
			// its index, or the token conflict aborted the batch.
			return nil, fmt.Errorf("postgres: PostgreSQL insert neither stored an entry nor found its index")
		}
	}
	return out, nil
}

// Get implements tokenize.Store.Get in one query.
func (s *TokenStore) Get(ctx context.Context, domain string, tokens []string, now time.Time) ([]tokenize.Entry, error) {
	rows, err := s.pool.Query(ctx, `SELECT token, ciphertext, value_index, subject, expires_at FROM tillid_tokens
		WHERE domain = $1 AND token = ANY($2) AND (expires_at IS NULL OR expires_at > $3)`, domain, tokens, now)
	if err != nil {
		return nil, err
	}
	found := make(map[string]tokenize.Entry, len(tokens))
	if err := forEachEntry(rows, func(e tokenize.Entry) { found[e.Token] = e }); err != nil {
		return nil, err
	}
	out := make([]tokenize.Entry, len(tokens))
	for i, t := range tokens {
		out[i] = found[t]
	}
	return out, nil
}

// Delete implements tokenize.Store.Delete in one statement.
func (s *TokenStore) Delete(ctx context.Context, domain string, sel tokenize.Selection) (int64, error) {
	tokens := sel.Tokens
	if tokens == nil {
		tokens = []string{}
	}
	subjects := sel.Subjects
	if subjects == nil {
		subjects = [][]byte{}
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM tillid_tokens WHERE domain = $1 AND (token = ANY($2) OR subject = ANY($3) OR expires_at <= $4)`,
		domain, tokens, subjects, pgTime(sel.ExpiredAt))
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// Scan implements tokenize.RewrapStore.Scan in one query along the primary
// key, in the order of the database's collation (which compares after too).
func (s *TokenStore) Scan(ctx context.Context, domain, after string, limit int, now time.Time) ([]tokenize.Entry, error) {
	rows, err := s.pool.Query(ctx, `SELECT token, ciphertext, value_index, subject, expires_at FROM tillid_tokens
		WHERE domain = $1 AND token > $2 AND (expires_at IS NULL OR expires_at > $3) ORDER BY token LIMIT $4`, domain, after, now, limit)
	if err != nil {
		return nil, err
	}
	out := make([]tokenize.Entry, 0, limit)
	err = forEachEntry(rows, func(e tokenize.Entry) { out = append(out, e) })
	return out, err
}

// forEachEntry reads rows of (token, ciphertext, value_index, subject,
// expires_at) into Entries, a NULL expires_at as the zero time, handing
// each to fn, and closes rows.
func forEachEntry(rows pgx.Rows, fn func(tokenize.Entry)) error {
	var e tokenize.Entry
	var exp *time.Time
	_, err := pgx.ForEachRow(rows, []any{&e.Token, &e.Ciphertext, &e.Index, &e.Subject, &exp}, func() error {
		entry := e
		if exp != nil {
			entry.ExpiresAt = *exp
		}
		fn(entry)
		e, exp = tokenize.Entry{}, nil
		return nil
	})
	return err
}

// Replace implements tokenize.RewrapStore.Replace in one round trip: one
// pipelined implicit transaction that removes expired entries holding the
// new indexes, then updates every entry that still holds its old
// ciphertext, leaving out an index another entry holds. An insert of the
// same index by a concurrent Put makes the update fail on the unique
// index; nothing is stored then, and Replace tries again.
func (s *TokenStore) Replace(ctx context.Context, domain string, repl []tokenize.Replacement, now time.Time) ([]bool, error) {
	tokens := make([]string, len(repl))
	olds := make([][]byte, len(repl))
	cts := make([][]byte, len(repl))
	idxs := make([][]byte, len(repl))
	subjects := make([][]byte, len(repl))
	var live [][]byte
	for i, r := range repl {
		tokens[i], olds[i], cts[i], idxs[i], subjects[i] = r.Token, r.Old, r.Ciphertext, r.Index, r.Subject
		if r.Index != nil {
			live = append(live, r.Index)
		}
	}
	for attempt := 0; ; attempt++ {
		out, err := s.replace(ctx, domain, tokens, olds, cts, idxs, subjects, live, now)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "40P01" || pgErr.Code == "40001") && attempt < 3 {
			continue // nothing was stored
		}
		return out, err
	}
}

func (s *TokenStore) replace(ctx context.Context, domain string, tokens []string, olds, cts, idxs, subjects, live [][]byte, now time.Time) ([]bool, error) {
	b := &pgx.Batch{}
	if live != nil {
		b.Queue(`DELETE FROM tillid_tokens WHERE domain = $1 AND value_index = ANY($2) AND expires_at <= $3`, domain, live, now)
	}
	b.Queue(`UPDATE tillid_tokens AS e SET ciphertext = u.c, subject = u.s,
			value_index = CASE WHEN u.i IS NULL OR EXISTS (SELECT 1 FROM tillid_tokens o WHERE o.domain = $1 AND o.value_index = u.i AND o.token <> u.t) THEN NULL ELSE u.i END
		FROM unnest($2::text[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[]) AS u(t, old, c, i, s)
		WHERE e.domain = $1 AND e.token = u.t AND e.ciphertext = u.old AND (e.expires_at IS NULL OR e.expires_at > $7)
		RETURNING e.token`, domain, tokens, olds, cts, idxs, subjects, now)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	if live != nil {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	stored := make(map[string]bool, len(tokens))
	var tok string
	if _, err := pgx.ForEachRow(rows, []any{&tok}, func() error {
		stored[tok] = true
		return nil
	}); err != nil {
		return nil, err
	}
	if err := br.Close(); err != nil {
		return nil, err
	}
	out := make([]bool, len(tokens))
	for i, t := range tokens {
		out[i] = stored[t]
	}
	return out, nil
}

var (
	_ tokenize.Store       = (*TokenStore)(nil)
	_ tokenize.RewrapStore = (*TokenStore)(nil)
)
