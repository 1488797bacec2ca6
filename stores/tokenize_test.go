package stores_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/piitest"
	"github.com/tillid/tillid/stores/postgres"
	"github.com/tillid/tillid/tokenize"
)

// storeKind opens stores of one kind. open returns n stores that share one
// vault, as n service instances would: the same memory store, n *sql.DB on
// one SQLite file, or n pools on one PostgreSQL database.
type storeKind struct {
	name string
	open func(t testing.TB, n int) []tokenize.Store
}

var storeKinds = []storeKind{
	{"sqlite", func(t testing.TB, n int) []tokenize.Store {
		path := filepath.Join(t.TempDir(), "vault.db")
		out := make([]tokenize.Store, n)
		for i := range out {
			out[i] = openSQLite(t, path)
		}
		return out
	}},
	{"postgres", func(t testing.TB, n int) []tokenize.Store {
		dsn := pgtest.DSN(t)
		out := make([]tokenize.Store, n)
		for i := range out {
			out[i] = openPostgres(t, dsn)
		}
		return out
	}},
}

func openSQLite(t testing.TB, path string) *tokenize.SQLiteStore {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	s, err := tokenize.OpenSQLite(context.Background(), db, tokenize.WithCreateTable())
	require.NoError(t, err)
	return s
}

func openPostgres(t testing.TB, dsn string) *postgres.TokenStore {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s, err := postgres.OpenTokenStore(context.Background(), pool, postgres.WithCreateTable())
	require.NoError(t, err)
	return s
}

func newTokenizer(t testing.TB, p keys.Provider, s tokenize.Store, domain string, mode tokenize.Mode, opts ...tokenize.Option) *tokenize.Tokenizer {
	t.Helper()
	tk, err := tokenize.New(p, s, domain, mode, opts...)
	require.NoError(t, err)
	return tk
}

// The SQL token stores pass the token store suite.
func TestTokenStores(t *testing.T) {
	t.Parallel()
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			piitest.TestTokenStore(t, func(t *testing.T, n int) []tokenize.Store { return k.open(t, n) })
		})
	}
}

// floor is the plain database work a store's operation cannot beat: the
// same rows written and read with the same driver, without tokenization.
type floor struct {
	insert      func(ctx context.Context, token string, ciphertext []byte) error
	insertBatch func(ctx context.Context, tokens []string, ciphertexts [][]byte) error
	selectOne   func(ctx context.Context, token string) ([]byte, error)
}

var benchBackends = []struct {
	name string
	open func(b *testing.B) (tokenize.Store, floor)
}{
	{"memory", func(b *testing.B) (tokenize.Store, floor) {
		var mu sync.Mutex
		m := make(map[string][]byte)
		return tokenize.NewMemoryStore(), floor{
			insert: func(_ context.Context, tok string, ct []byte) error {
				mu.Lock()
				m[tok] = append([]byte(nil), ct...)
				mu.Unlock()
				return nil
			},
			insertBatch: func(_ context.Context, toks []string, cts [][]byte) error {
				mu.Lock()
				for i := range toks {
					m[toks[i]] = append([]byte(nil), cts[i]...)
				}
				mu.Unlock()
				return nil
			},
			selectOne: func(_ context.Context, tok string) ([]byte, error) {
				mu.Lock()
				defer mu.Unlock()
				return append([]byte(nil), m[tok]...), nil
			},
		}
	}},
	{"sqlite", func(b *testing.B) (tokenize.Store, floor) {
		path := filepath.Join(b.TempDir(), "vault.db")
		s := openSQLite(b, path)
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)&_txlock=immediate")
		require.NoError(b, err)
		b.Cleanup(func() { db.Close() })
		const ins = `INSERT INTO tillid_tokens (domain, token, ciphertext, value_index, subject, expires_at) VALUES ('floor', ?, ?, NULL, NULL, NULL)`
		return s, floor{
			insert: func(ctx context.Context, tok string, ct []byte) error {
				_, err := db.ExecContext(ctx, ins, tok, ct)
				return err
			},
			insertBatch: func(ctx context.Context, toks []string, cts [][]byte) error {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				defer tx.Rollback()
				for i := range toks {
					if _, err := tx.ExecContext(ctx, ins, toks[i], cts[i]); err != nil {
						return err
					}
				}
				return tx.Commit()
			},
			selectOne: func(ctx context.Context, tok string) ([]byte, error) {
				var ct []byte
				err := db.QueryRowContext(ctx, `SELECT ciphertext FROM tillid_tokens WHERE domain = 'floor' AND token = ?`, tok).Scan(&ct)
				return ct, err
			},
		}
	}},
	{"postgres", func(b *testing.B) (tokenize.Store, floor) {
		dsn := pgtest.DSN(b)
		s := openPostgres(b, dsn)
		pool, err := pgxpool.New(context.Background(), dsn)
		require.NoError(b, err)
		b.Cleanup(pool.Close)
		return s, floor{
			insert: func(ctx context.Context, tok string, ct []byte) error {
				_, err := pool.Exec(ctx, `INSERT INTO tillid_tokens (domain, token, ciphertext) VALUES ('floor', $1, $2)`, tok, ct)
				return err
			},
			insertBatch: func(ctx context.Context, toks []string, cts [][]byte) error {
				_, err := pool.Exec(ctx, `INSERT INTO tillid_tokens (domain, token, ciphertext) SELECT 'floor', t, c FROM unnest($1::text[], $2::bytea[]) AS u(t, c)`, toks, cts)
				return err
			},
			selectOne: func(ctx context.Context, tok string) ([]byte, error) {
				var ct []byte
				err := pool.QueryRow(ctx, `SELECT ciphertext FROM tillid_tokens WHERE domain = 'floor' AND token = $1`, tok).Scan(&ct)
				return ct, err
			},
		}
	}},
}

// BenchmarkStore measures Tokenize, TokenizeBatch and Detokenize on each
// store beside their floors: a plain INSERT of one row, of 100 rows in one
// transaction (SQLite) or one statement (PostgreSQL), and a SELECT by
// token, all with the same driver and table. The value is a 16-digit card
// number; its ciphertext is 49 bytes.
func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			store, fl := be.open(b)
			p := keys.NewMemory()
			random := newTokenizer(b, p, store, "bench", tokenize.ModeRandom)
			consistent := newTokenizer(b, p, store, "bench-consistent", tokenize.ModeConsistent)
			ct := make([]byte, 49) // the size of the ciphertext of a 16-digit value
			var n atomic.Int64
			b.Run("tokenize", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := random.Tokenize(ctx, "4111111111111111"); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("tokenize-consistent-new", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := consistent.Tokenize(ctx, fmt.Sprintf("4111%012d", n.Add(1))); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("tokenize-consistent-existing", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := consistent.Tokenize(ctx, "4111111111111111"); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("floor-insert", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					require.NoError(b, fl.insert(ctx, fmt.Sprintf("floor-%022d", n.Add(1)), ct))
				}
			})
			items := make([]tokenize.Item, 100)
			for i := range items {
				items[i].Value = fmt.Sprintf("4111%012d", i)
			}
			b.Run("tokenize-batch100", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := random.TokenizeBatch(ctx, items); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("floor-insert100", func(b *testing.B) {
				toks := make([]string, 100)
				cts := make([][]byte, 100)
				b.ReportAllocs()
				for b.Loop() {
					for i := range toks {
						toks[i], cts[i] = fmt.Sprintf("floor-%022d", n.Add(1)), ct
					}
					require.NoError(b, fl.insertBatch(ctx, toks, cts))
				}
			})
			tok, err := random.Tokenize(ctx, "4111111111111111")
			require.NoError(b, err)
			require.NoError(b, fl.insert(ctx, "floor-select", ct))
			b.Run("detokenize", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := random.Detokenize(ctx, tok); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("floor-select", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := fl.selectOne(ctx, "floor-select"); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
