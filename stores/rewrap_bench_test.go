package stores_test

import (
	"context"
	"database/sql"
	"fmt"
	mathrand "math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/tokenize"
)

// rewrapBenchTokens is the size of the vault each rewrap benchmark moves;
// rewrapBenchBatch the entries per batch.
const (
	rewrapBenchTokens = 100_000
	rewrapBenchBatch  = 1000
)

// rewrapFloor is the same job by hand: read a batch of rows in token
// order, decrypt and encrypt each value with a Tink AEAD, and write the
// batch back by compare-and-set on the old ciphertext, in one transaction.
type rewrapFloor func(ctx context.Context, a tink.AEAD, domain string) (int, error)

func sqliteRewrapFloor(db *sql.DB) rewrapFloor {
	return func(ctx context.Context, a tink.AEAD, domain string) (int, error) {
		n, after := 0, ""
		for {
			rows, err := db.QueryContext(ctx, `SELECT token, ciphertext FROM tillid_tokens WHERE domain = ? AND token > ? ORDER BY token LIMIT ?`, domain, after, rewrapBenchBatch)
			if err != nil {
				return n, err
			}
			var toks []string
			var cts [][]byte
			for rows.Next() {
				var tok string
				var ct []byte
				if err := rows.Scan(&tok, &ct); err != nil {
					rows.Close()
					return n, err
				}
				toks, cts = append(toks, tok), append(cts, ct)
			}
			rows.Close()
			if len(toks) == 0 {
				return n, nil
			}
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return n, err
			}
			upd, err := tx.PrepareContext(ctx, `UPDATE tillid_tokens SET ciphertext = ? WHERE domain = ? AND token = ? AND ciphertext = ?`)
			if err != nil {
				tx.Rollback()
				return n, err
			}
			for i, tok := range toks {
				ad := []byte(domain + "\x00" + tok)
				pt, err := a.Decrypt(cts[i], ad)
				if err != nil {
					tx.Rollback()
					return n, err
				}
				ct, err := a.Encrypt(pt, ad)
				if err != nil {
					tx.Rollback()
					return n, err
				}
				if _, err := upd.ExecContext(ctx, ct, domain, tok, cts[i]); err != nil {
					tx.Rollback()
					return n, err
				}
			}
			upd.Close()
			if err := tx.Commit(); err != nil {
				return n, err
			}
			n += len(toks)
			after = toks[len(toks)-1]
		}
	}
}

func postgresRewrapFloor(pool *pgxpool.Pool) rewrapFloor {
	return func(ctx context.Context, a tink.AEAD, domain string) (int, error) {
		n, after := 0, ""
		for {
			rows, err := pool.Query(ctx, `SELECT token, ciphertext FROM tillid_tokens WHERE domain = $1 AND token > $2 ORDER BY token LIMIT $3`, domain, after, rewrapBenchBatch)
			if err != nil {
				return n, err
			}
			var toks []string
			var cts [][]byte
			var tok string
			var ct []byte
			if _, err := pgx.ForEachRow(rows, []any{&tok, &ct}, func() error {
				toks, cts = append(toks, tok), append(cts, append([]byte(nil), ct...))
				return nil
			}); err != nil {
				return n, err
			}
			if len(toks) == 0 {
				return n, nil
			}
			news := make([][]byte, len(toks))
			for i, tok := range toks {
				ad := []byte(domain + "\x00" + tok)
				pt, err := a.Decrypt(cts[i], ad)
				if err != nil {
					return n, err
				}
				if news[i], err = a.Encrypt(pt, ad); err != nil {
					return n, err
				}
			}
			if _, err := pool.Exec(ctx, `UPDATE tillid_tokens AS e SET ciphertext = u.c
				FROM unnest($2::text[], $3::bytea[], $4::bytea[]) AS u(t, old, c)
				WHERE e.domain = $1 AND e.token = u.t AND e.ciphertext = u.old`, domain, toks, cts, news); err != nil {
				return n, err
			}
			n += len(toks)
			after = toks[len(toks)-1]
		}
	}
}

// fillFloor inserts n rows of the floor's domain, encrypted under a, in
// random token order as tokens are issued (in SQLite the rows then lie in
// another order than their tokens, as the tokenizer's do).
func fillFloor(b *testing.B, s tokenize.Store, a tink.AEAD, domain string, n int) {
	entries := make([]tokenize.Entry, 0, tokenize.MaxBatchSize)
	flush := func() {
		_, err := s.Put(context.Background(), domain, entries, time.Now())
		require.NoError(b, err)
		entries = entries[:0]
	}
	for _, i := range mathrand.Perm(n) {
		tok := fmt.Sprintf("floor%08d", i)
		ct, err := a.Encrypt([]byte(fmt.Sprintf("4111%012d", i)), []byte(domain+"\x00"+tok))
		require.NoError(b, err)
		entries = append(entries, tokenize.Entry{Token: tok, Ciphertext: ct})
		if len(entries) == cap(entries) {
			flush()
		}
	}
	if len(entries) > 0 {
		flush()
	}
}

// BenchmarkVaultRewrap moves a vault of 100,000 random-mode tokens to a
// new AEAD primary with Tokenizer.Rewrap, beside the floor (the same rows
// re-encrypted with Tink and written back by plain SQL compare-and-set),
// and reports rows per second. Run it with
//
//	go test -run '^$' -bench BenchmarkVaultRewrap -benchtime 1x ./stores/
func BenchmarkVaultRewrap(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) (tokenize.Store, rewrapFloor)
	}{
		{"sqlite", func(b *testing.B) (tokenize.Store, rewrapFloor) {
			path := filepath.Join(b.TempDir(), "vault.db")
			s := openSQLite(b, path)
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)&_txlock=immediate")
			require.NoError(b, err)
			b.Cleanup(func() { db.Close() })
			return s, sqliteRewrapFloor(db)
		}},
		{"postgres", func(b *testing.B) (tokenize.Store, rewrapFloor) {
			dsn := pgtest.DSN(b)
			s := openPostgres(b, dsn)
			pool, err := pgxpool.New(context.Background(), dsn)
			require.NoError(b, err)
			b.Cleanup(pool.Close)
			return s, postgresRewrapFloor(pool)
		}},
	}
	ctx := context.Background()
	for _, be := range backends {
		store, floor := be.open(b)
		b.Run(be.name+"/tillid", func(b *testing.B) {
			p := keys.NewMemory()
			tk, err := tokenize.New(p, store, "bench", tokenize.ModeRandom, tokenize.WithFormat(tokenize.Card(6, 4)))
			require.NoError(b, err)
			items := make([]tokenize.Item, tokenize.MaxBatchSize)
			for start := 0; start < rewrapBenchTokens; start += len(items) {
				for i := range items {
					items[i] = tokenize.Item{Value: fmt.Sprintf("4111%012d", start+i)}
				}
				_, err := tk.TokenizeBatch(ctx, items)
				require.NoError(b, err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			var elapsed time.Duration
			for range b.N {
				b.StopTimer()
				_, err := p.Rotate(ctx, "tokenize-bench", keys.KindAEAD)
				require.NoError(b, err)
				b.StartTimer()
				start := time.Now()
				moved, cursor := 0, ""
				for {
					prog, err := tk.Rewrap(ctx, cursor, rewrapBenchBatch)
					require.NoError(b, err)
					moved += prog.Rewrapped
					cursor = prog.Cursor
					if prog.Done {
						break
					}
				}
				elapsed += time.Since(start)
				require.Equal(b, rewrapBenchTokens, moved)
			}
			b.ReportMetric(float64(rewrapBenchTokens*b.N)/elapsed.Seconds(), "rows/s")
		})
		b.Run(be.name+"/floor", func(b *testing.B) {
			h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
			require.NoError(b, err)
			a, err := aead.New(h)
			require.NoError(b, err)
			fillFloor(b, store, a, "floor", rewrapBenchTokens)
			b.ReportAllocs()
			b.ResetTimer()
			var elapsed time.Duration
			for range b.N {
				start := time.Now()
				n, err := floor(ctx, a, "floor")
				require.NoError(b, err)
				elapsed += time.Since(start)
				require.Equal(b, rewrapBenchTokens, n)
			}
			b.ReportMetric(float64(rewrapBenchTokens*b.N)/elapsed.Seconds(), "rows/s")
		})
	}
}
