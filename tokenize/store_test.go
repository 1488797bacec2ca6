package tokenize_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/tokenize"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// storeKind opens stores of one kind. open returns n stores that share one
// vault, as n service instances would: the same memory store, n *sql.DB on
// one SQLite file, or n pools on one PostgreSQL database.
type storeKind struct {
	name string
	open func(t testing.TB, n int) []tokenize.Store
}

var storeKinds = []storeKind{
	{"memory", func(t testing.TB, n int) []tokenize.Store {
		s := tokenize.NewMemoryStore()
		out := make([]tokenize.Store, n)
		for i := range out {
			out[i] = s
		}
		return out
	}},
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
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := tokenize.NewSQLiteStore(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openPostgres(t testing.TB, dsn string) *tokenize.PostgresStore {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, err := tokenize.NewPostgresStore(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// forEachStore runs test once per store kind.
func forEachStore(t *testing.T, test func(t *testing.T, open func(n int) []tokenize.Store)) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			test(t, func(n int) []tokenize.Store { return k.open(t, n) })
		})
	}
}

func newTokenizer(t testing.TB, p keys.Provider, s tokenize.Store, domain string, mode tokenize.Mode, opts ...tokenize.Option) *tokenize.Tokenizer {
	t.Helper()
	tk, err := tokenize.New(p, s, domain, mode, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestStoreRoundTrip(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(int) []tokenize.Store) {
		ctx := context.Background()
		store := open(1)[0]
		p := keys.NewMemory()
		for _, mode := range []tokenize.Mode{tokenize.ModeRandom, tokenize.ModeConsistent} {
			tk := newTokenizer(t, p, store, "cpr-"+mode.String(), mode)
			values := []string{"0101901234", "værdi med æøå", "x", string(make([]byte, tokenize.MaxValueSize))}
			for _, v := range values {
				tok, err := tk.Tokenize(ctx, v)
				if err != nil {
					t.Fatalf("%v: Tokenize: %v", mode, err)
				}
				if tok == v {
					t.Errorf("%v: Tokenize returned the value", mode)
				}
				got, err := tk.Detokenize(ctx, tok)
				if err != nil || got != v {
					t.Errorf("%v: Detokenize(Tokenize(v)) = %d bytes, %v, want %d bytes", mode, len(got), err, len(v))
				}
				again, err := tk.Tokenize(ctx, v)
				if err != nil {
					t.Fatal(err)
				}
				if (again == tok) != (mode == tokenize.ModeConsistent) {
					t.Errorf("%v: two Tokenize calls gave equal tokens = %v", mode, again == tok)
				}
			}
		}
	})
}

func TestStoreConsistentSubjects(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(int) []tokenize.Store) {
		ctx := context.Background()
		tk := newTokenizer(t, keys.NewMemory(), open(1)[0], "phone", tokenize.ModeConsistent)
		none, _ := tk.Tokenize(ctx, "+4512345678")
		alice, _ := tk.Tokenize(ctx, "+4512345678", tokenize.ForSubject("alice"))
		alice2, _ := tk.Tokenize(ctx, "+4512345678", tokenize.ForSubject("alice"))
		bob, _ := tk.Tokenize(ctx, "+4512345678", tokenize.ForSubject("bob"))
		if alice != alice2 {
			t.Errorf("same subject and value gave two tokens")
		}
		if none == alice || alice == bob {
			t.Errorf("tokens of different subjects are equal: none=%v alice=bob %v", none == alice, alice == bob)
		}
	})
}

func TestStoreDomainsAreSeparate(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(int) []tokenize.Store) {
		ctx := context.Background()
		store := open(1)[0]
		p := keys.NewMemory()
		// Both domains share one key name, so only the domain in the
		// associated data and the store's key tells them apart.
		a := newTokenizer(t, p, store, "a", tokenize.ModeConsistent, tokenize.WithKeyName("shared"))
		b := newTokenizer(t, p, store, "b", tokenize.ModeConsistent, tokenize.WithKeyName("shared"))
		tok, err := a.Tokenize(ctx, "secret")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Detokenize(ctx, tok); !errors.Is(err, tokenize.ErrTokenNotFound) {
			t.Errorf("Detokenize in another domain: err = %v, want ErrTokenNotFound", err)
		}
		// Copy the entry to domain b under the same token: it must not decrypt.
		entries, err := store.Get(ctx, "a", []string{tok}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Put(ctx, "b", entries, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Detokenize(ctx, tok); !errors.Is(err, tokenize.ErrDecryption) {
			t.Errorf("Detokenize of an entry moved to another domain: err = %v, want ErrDecryption", err)
		}
		// Move it to another token in the same domain: it must not decrypt.
		moved := entries[0]
		moved.Token, moved.Index = "moved-token", nil
		if _, err := store.Put(ctx, "a", []tokenize.Entry{moved}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Detokenize(ctx, "moved-token"); !errors.Is(err, tokenize.ErrDecryption) {
			t.Errorf("Detokenize of an entry moved to another token: err = %v, want ErrDecryption", err)
		}
	})
}

// TestStoreConsistentConcurrent tokenizes one value from many goroutines
// spread over several store instances that share one vault: every call
// must return the same token.
func TestStoreConsistentConcurrent(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(int) []tokenize.Store) {
		ctx := context.Background()
		stores := open(4)
		p := keys.NewMemory()
		const goroutines = 32
		for round := range 3 {
			value := fmt.Sprintf("4111111111111%03d", round)
			tokens := make([]string, goroutines)
			errs := make([]error, goroutines)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for g := range goroutines {
				tk := newTokenizer(t, p, stores[g%len(stores)], "card", tokenize.ModeConsistent, tokenize.WithFormat(tokenize.Card(6, 4)))
				wg.Go(func() {
					<-start
					if g%2 == 0 {
						tokens[g], errs[g] = tk.Tokenize(ctx, value)
						return
					}
					// Half of them in batches that also hold other values.
					toks, err := tk.TokenizeBatch(ctx, []tokenize.Item{{Value: fmt.Sprintf("5500000000000%03d", g)}, {Value: value}})
					if err == nil {
						tokens[g] = toks[1]
					}
					errs[g] = err
				})
			}
			close(start)
			wg.Wait()
			for g := range goroutines {
				if errs[g] != nil {
					t.Fatalf("goroutine %d: %v", g, errs[g])
				}
				if tokens[g] != tokens[0] {
					t.Fatalf("round %d: goroutine %d got another token than goroutine 0", round, g)
				}
			}
		}
	})
}

func TestStoreRandomConcurrent(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(int) []tokenize.Store) {
		ctx := context.Background()
		stores := open(2)
		p := keys.NewMemory()
		const goroutines = 16
		var mu sync.Mutex
		seen := make(map[string]bool)
		var wg sync.WaitGroup
		for g := range goroutines {
			tk := newTokenizer(t, p, stores[g%2], "acct", tokenize.ModeRandom, tokenize.WithFormat(tokenize.RandomDigits()))
			wg.Go(func() {
				for range 10 {
					tok, err := tk.Tokenize(ctx, "12345678")
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if seen[tok] {
						t.Errorf("random mode issued a token twice")
					}
					seen[tok] = true
					mu.Unlock()
					if v, err := tk.Detokenize(ctx, tok); err != nil || v != "12345678" {
						t.Errorf("Detokenize = %v", err)
					}
				}
			})
		}
		wg.Wait()
	})
}

func TestStoreExpiryAndPurge(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(int) []tokenize.Store) {
		ctx := context.Background()
		store := open(1)[0]
		p := keys.NewMemory()
		const ttl = 300 * time.Millisecond
		tk := newTokenizer(t, p, store, "session", tokenize.ModeConsistent, tokenize.WithTTL(ttl))
		short, err := tk.Tokenize(ctx, "short-lived")
		if err != nil {
			t.Fatal(err)
		}
		long, err := tk.Tokenize(ctx, "long-lived", tokenize.ExpiresIn(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		forever := newTokenizer(t, p, store, "session-forever", tokenize.ModeRandom)
		kept, err := forever.Tokenize(ctx, "kept")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tk.Detokenize(ctx, short); err != nil {
			t.Fatalf("Detokenize before expiry: %v", err)
		}
		if n, err := tk.Purge(ctx); err != nil || n != 0 {
			t.Errorf("Purge before expiry = %d, %v, want 0", n, err)
		}
		time.Sleep(ttl + 50*time.Millisecond)
		if _, err := tk.Detokenize(ctx, short); !errors.Is(err, tokenize.ErrTokenNotFound) {
			t.Errorf("Detokenize after expiry: err = %v, want ErrTokenNotFound", err)
		}
		if _, err := tk.Detokenize(ctx, long); err != nil {
			t.Errorf("Detokenize of a token with its own TTL: %v", err)
		}
		// Consistent mode gives an expired value a new token.
		renewed, err := tk.Tokenize(ctx, "short-lived")
		if err != nil {
			t.Fatal(err)
		}
		if renewed == short {
			t.Errorf("Tokenize after expiry returned the expired token")
		}
		time.Sleep(ttl + 50*time.Millisecond)
		if n, err := tk.Purge(ctx); err != nil || n != 1 {
			t.Errorf("Purge = %d, %v, want 1 (the renewed token; the expired one was replaced)", n, err)
		}
		if n, err := tk.Purge(ctx); err != nil || n != 0 {
			t.Errorf("second Purge = %d, %v, want 0", n, err)
		}
		if _, err := forever.Detokenize(ctx, kept); err != nil {
			t.Errorf("Purge touched another domain: %v", err)
		}
	})
}

func TestStoreDelete(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(int) []tokenize.Store) {
		ctx := context.Background()
		store := open(1)[0]
		p := keys.NewMemory()
		tk := newTokenizer(t, p, store, "email", tokenize.ModeConsistent, tokenize.WithFormat(tokenize.Email(false)))
		other := newTokenizer(t, p, store, "email2", tokenize.ModeConsistent)

		alice := []string{"alice@example.com", "alice@work.example"}
		var aliceTokens []string
		for _, v := range alice {
			tok, err := tk.Tokenize(ctx, v, tokenize.ForSubject("customer-1"))
			if err != nil {
				t.Fatal(err)
			}
			aliceTokens = append(aliceTokens, tok)
		}
		bob, err := tk.Tokenize(ctx, "bob@example.com", tokenize.ForSubject("customer-2"))
		if err != nil {
			t.Fatal(err)
		}
		anon, err := tk.Tokenize(ctx, "anon@example.com")
		if err != nil {
			t.Fatal(err)
		}
		elsewhere, err := other.Tokenize(ctx, "alice@example.com", tokenize.ForSubject("customer-1"))
		if err != nil {
			t.Fatal(err)
		}
		// The subject index survives a PRF rotation.
		if _, err := p.Rotate(ctx, "tokenize-email", keys.KindPRF); err != nil {
			t.Fatal(err)
		}
		after, err := tk.Tokenize(ctx, "alice@new.example", tokenize.ForSubject("customer-1"))
		if err != nil {
			t.Fatal(err)
		}
		aliceTokens = append(aliceTokens, after)

		n, err := tk.DeleteSubject(ctx, "customer-1")
		if err != nil || n != 3 {
			t.Fatalf("DeleteSubject = %d, %v, want 3", n, err)
		}
		for _, tok := range aliceTokens {
			if _, err := tk.Detokenize(ctx, tok); !errors.Is(err, tokenize.ErrTokenNotFound) {
				t.Errorf("Detokenize after DeleteSubject: err = %v, want ErrTokenNotFound", err)
			}
		}
		for _, tok := range []string{bob, anon} {
			if _, err := tk.Detokenize(ctx, tok); err != nil {
				t.Errorf("DeleteSubject deleted another subject's token: %v", err)
			}
		}
		if _, err := other.Detokenize(ctx, elsewhere); err != nil {
			t.Errorf("DeleteSubject deleted a token of another domain: %v", err)
		}
		if n, err := tk.DeleteSubject(ctx, "customer-1"); err != nil || n != 0 {
			t.Errorf("second DeleteSubject = %d, %v, want 0", n, err)
		}
		if _, err := tk.DeleteSubject(ctx, ""); !errors.Is(err, tokenize.ErrInvalidValue) {
			t.Errorf("DeleteSubject(\"\") err = %v, want ErrInvalidValue", err)
		}

		if err := tk.Delete(ctx, bob); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := tk.Detokenize(ctx, bob); !errors.Is(err, tokenize.ErrTokenNotFound) {
			t.Errorf("Detokenize after Delete: err = %v, want ErrTokenNotFound", err)
		}
		if err := tk.Delete(ctx, bob); !errors.Is(err, tokenize.ErrTokenNotFound) {
			t.Errorf("second Delete: err = %v, want ErrTokenNotFound", err)
		}
		// The value gets a new token once its old one is deleted.
		again, err := tk.Tokenize(ctx, "bob@example.com", tokenize.ForSubject("customer-2"))
		if err != nil || again == bob {
			t.Errorf("Tokenize after Delete = same token %v, %v", again == bob, err)
		}
	})
}

func TestStoreBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(int) []tokenize.Store) {
		ctx := context.Background()
		store := open(1)[0]
		p := keys.NewMemory()
		for _, mode := range []tokenize.Mode{tokenize.ModeRandom, tokenize.ModeConsistent} {
			tk := newTokenizer(t, p, store, "batch-"+mode.String(), mode, tokenize.WithFormat(tokenize.KeepLast(4)))
			items := make([]tokenize.Item, 500)
			for i := range items {
				items[i] = tokenize.Item{Value: fmt.Sprintf("DK-%08d", i%250), Subject: fmt.Sprint(i % 7)}
			}
			items[0].Subject, items[250].Subject = "same", "same"
			toks, err := tk.TokenizeBatch(ctx, items)
			if err != nil {
				t.Fatal(err)
			}
			if len(toks) != len(items) {
				t.Fatalf("TokenizeBatch returned %d tokens for %d items", len(toks), len(items))
			}
			if (toks[0] == toks[250]) != (mode == tokenize.ModeConsistent) {
				t.Errorf("%v: equal items got equal tokens = %v", mode, toks[0] == toks[250])
			}
			vals, err := tk.DetokenizeBatch(ctx, toks)
			if err != nil {
				t.Fatal(err)
			}
			for i := range items {
				if vals[i] != items[i].Value {
					t.Fatalf("%v: DetokenizeBatch item %d is wrong", mode, i)
				}
			}
			// A batch that repeats an existing value reuses its token.
			again, err := tk.TokenizeBatch(ctx, items[:3])
			if err != nil {
				t.Fatal(err)
			}
			for i := range again {
				if (again[i] == toks[i]) != (mode == tokenize.ModeConsistent) {
					t.Errorf("%v: re-tokenized item %d kept its token = %v", mode, i, again[i] == toks[i])
				}
			}
			// One unknown token fails the batch and names its position.
			_, err = tk.DetokenizeBatch(ctx, []string{toks[0], "no-such-token"})
			if !errors.Is(err, tokenize.ErrTokenNotFound) || !strings.Contains(err.Error(), "token 2") {
				t.Errorf("DetokenizeBatch with an unknown token: err = %v", err)
			}
			if out, err := tk.TokenizeBatch(ctx, nil); err != nil || len(out) != 0 {
				t.Errorf("TokenizeBatch(nil) = %v, %v", out, err)
			}
		}
	})
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
		if err != nil {
			b.Fatal(err)
		}
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
		if err != nil {
			b.Fatal(err)
		}
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
					if err := fl.insert(ctx, fmt.Sprintf("floor-%022d", n.Add(1)), ct); err != nil {
						b.Fatal(err)
					}
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
					if err := fl.insertBatch(ctx, toks, cts); err != nil {
						b.Fatal(err)
					}
				}
			})
			tok, err := random.Tokenize(ctx, "4111111111111111")
			if err != nil {
				b.Fatal(err)
			}
			if err := fl.insert(ctx, "floor-select", ct); err != nil {
				b.Fatal(err)
			}
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
