package stores_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/tink"
	_ "modernc.org/sqlite"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/piitest"
)

// sqlDB is one SQL database that several store instances can open, as
// several processes would.
type sqlDB struct {
	name string
	// open returns a new store over a new connection pool to the database,
	// opened with keys.WithCreateMissing, as tests and development do.
	open func(t *testing.T, kek tink.AEAD, opts ...keys.StoreOption) *keys.SQLStore
	// openStrict is open without keys.WithCreateMissing, as a service opens
	// its store.
	openStrict func(t *testing.T, kek tink.AEAD, opts ...keys.StoreOption) (*keys.SQLStore, error)
	// version reads the stored version of a keyset, to check that a failed
	// change wrote nothing.
	version func(t *testing.T, name, kind string) int64
}

func sqliteDB(t *testing.T) sqlDB {
	path := filepath.Join(t.TempDir(), "keys.db")
	dsn := "file:" + path + "?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)"
	connect := func(t *testing.T) *sql.DB {
		db, err := sql.Open("sqlite", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	}
	return sqlDB{
		name: "sqlite",
		open: func(t *testing.T, kek tink.AEAD, opts ...keys.StoreOption) *keys.SQLStore {
			s, err := keys.OpenSQLite(ctx, connect(t), kek, append([]keys.StoreOption{keys.WithCreateMissing()}, opts...)...)
			require.NoError(t, err)
			return s
		},
		openStrict: func(t *testing.T, kek tink.AEAD, opts ...keys.StoreOption) (*keys.SQLStore, error) {
			return keys.OpenSQLite(ctx, connect(t), kek, opts...)
		},
		version: func(t *testing.T, name, kind string) int64 {
			var v int64
			db, err := sql.Open("sqlite", dsn)
			require.NoError(t, err)
			defer db.Close()
			err = db.QueryRow(`SELECT version FROM tillid_keysets WHERE name = ? AND kind = ?`, name, kind).Scan(&v)
			require.False(t, err != nil && !errors.Is(err, sql.ErrNoRows))
			return v
		},
	}
}

func postgresDB(t *testing.T) sqlDB {
	dsn := pgtest.DSN(t)
	connect := func(t *testing.T) *sql.DB {
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	}
	return sqlDB{
		name: "postgres",
		open: func(t *testing.T, kek tink.AEAD, opts ...keys.StoreOption) *keys.SQLStore {
			s, err := keys.OpenPostgres(ctx, connect(t), kek, append([]keys.StoreOption{keys.WithCreateMissing()}, opts...)...)
			require.NoError(t, err)
			return s
		},
		openStrict: func(t *testing.T, kek tink.AEAD, opts ...keys.StoreOption) (*keys.SQLStore, error) {
			return keys.OpenPostgres(ctx, connect(t), kek, opts...)
		},
		version: func(t *testing.T, name, kind string) int64 {
			var v int64
			pool, err := pgxpool.New(ctx, dsn)
			require.NoError(t, err)
			defer pool.Close()
			rows, err := pool.Query(ctx, `SELECT version FROM tillid_keysets WHERE name = $1 AND kind = $2`, name, kind)
			if err != nil {
				if strings.Contains(err.Error(), "does not exist") {
					return 0
				}
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				rows.Scan(&v)
			}
			return v
		},
	}
}

// forEachDB runs f on a fresh SQLite database and a fresh PostgreSQL
// database.
func forEachDB(t *testing.T, f func(t *testing.T, db sqlDB)) {
	t.Run("sqlite", func(t *testing.T) { f(t, sqliteDB(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, postgresDB(t)) })
}

// countingKEK is a local KEK that counts its calls and can be made to fail
// like an unreachable KMS, or to hang until the context ends.
type countingKEK struct {
	kek               tink.AEAD
	encrypts, decrypt atomic.Int64
	down              atomic.Bool
	hang              atomic.Bool
}

func newCountingKEK(t *testing.T) *countingKEK {
	k, err := keys.NewLocalKEK(newKEK(t))
	require.NoError(t, err)
	return &countingKEK{kek: k}
}

var _ tink.AEADWithContext = (*countingKEK)(nil)

func (c *countingKEK) wait(ctx context.Context) error {
	if c.hang.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	if c.down.Load() {
		return fmt.Errorf("fake KMS: dial tcp 127.0.0.1:1: connection refused: %w", keys.ErrKMSUnavailable)
	}
	return nil
}

func (c *countingKEK) EncryptWithContext(ctx context.Context, pt, ad []byte) ([]byte, error) {
	c.encrypts.Add(1)
	if err := c.wait(ctx); err != nil {
		return nil, err
	}
	return c.kek.Encrypt(pt, ad)
}

func (c *countingKEK) DecryptWithContext(ctx context.Context, ct, ad []byte) ([]byte, error) {
	c.decrypt.Add(1)
	if err := c.wait(ctx); err != nil {
		return nil, err
	}
	return c.kek.Decrypt(ct, ad)
}

func (c *countingKEK) Encrypt(pt, ad []byte) ([]byte, error) {
	return c.EncryptWithContext(context.Background(), pt, ad)
}

func (c *countingKEK) Decrypt(ct, ad []byte) ([]byte, error) {
	return c.DecryptWithContext(context.Background(), ct, ad)
}

// The SQL keyset stores pass the keyset store suite; reopen opens a new
// connection pool on the same database.
func TestSQLProviders(t *testing.T) {
	t.Parallel()
	for _, kind := range []struct {
		name string
		db   func(t *testing.T) sqlDB
	}{{"sqlite", sqliteDB}, {"postgres", postgresDB}} {
		t.Run(kind.name, func(t *testing.T) {
			piitest.TestProvider(t, func(t *testing.T) (keys.Manager, func(*testing.T) keys.Manager) {
				db := kind.db(t)
				kek, err := keys.NewLocalKEK(newKEK(t))
				require.NoError(t, err)
				open := func(t *testing.T) keys.Manager { return db.open(t, kek) }
				return open(t), open
			})
		})
	}
}

// Two instances on one table: a rotation made by one is seen by the other
// within the cache TTL, and values protected by either reveal in both.
func TestSQLTwoInstances(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db sqlDB) {
		kek, _ := keys.NewLocalKEK(newKEK(t))
		const ttl = 5 * time.Minute
		clk := &piitest.Clock{}
		a := db.open(t, kek, keys.WithCacheTTL(ttl), keys.WithClock(clk.Now))
		b := db.open(t, kek, keys.WithCacheTTL(ttl), keys.WithClock(clk.Now))
		ka, err := a.Keyset(ctx, "default", keys.KindAEAD)
		require.NoError(t, err)
		kb, err := b.Keyset(ctx, "default", keys.KindAEAD)
		require.NoError(t, err)
		require.Equal(t, kb.PrimaryKeyID(), ka.PrimaryKeyID(), "two instances created two keysets: primaries %d and %d", ka.PrimaryKeyID(), kb.PrimaryKeyID())
		again, _ := b.Keyset(ctx, "default", keys.KindAEAD)
		assert.Same(t, kb, again, "Keyset returned a new snapshot without a change")
		k2, err := a.Rotate(ctx, "default", keys.KindAEAD)
		require.NoError(t, err)
		ks, _ := a.Keyset(ctx, "default", keys.KindAEAD)
		assert.Equal(t, k2, ks.PrimaryKeyID(), "the rotating instance's primary = %d, want %d at once", ks.PrimaryKeyID(), k2)
		pa, _ := pii.New(a)
		pb, _ := pii.New(b)
		r := record{ID: "1", Email: "a@example.com", Phone: "1"}
		require.NoError(t, pa.Protect(ctx, &r))
		ks, err = b.Keyset(ctx, "default", keys.KindAEAD)
		require.NoError(t, err)
		assert.Equal(t, ka.PrimaryKeyID(), ks.PrimaryKeyID(), "instance b saw the rotation before its cache TTL ended")
		clk.Advance(ttl)
		ks, err = b.Keyset(ctx, "default", keys.KindAEAD)
		require.NoError(t, err)
		assert.Equal(t, k2, ks.PrimaryKeyID(), "instance b's primary after the TTL")
		got := r
		err = pb.Reveal(ctx, &got)
		assert.NoError(t, err, "instance b Reveal = %v, %q", err, got.Email)
		assert.Equal(t, "a@example.com", got.Email, "instance b Reveal = %v, %q", err, got.Email)
		// And a disable by b reaches a.
		require.NoError(t, b.Disable(ctx, "default", keys.KindAEAD, ka.PrimaryKeyID()))
		clk.Advance(ttl)
		ks, _ = a.Keyset(ctx, "default", keys.KindAEAD)
		assert.ErrorIs(t, ks.CheckKeyID(ka.PrimaryKeyID()), keys.ErrKeyDisabled, "instance a after b's Disable and the TTL: CheckKeyID")
	})
}

// Concurrent rotations by two instances are all kept (optimistic
// concurrency): none is lost.
func TestSQLConcurrentRotations(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db sqlDB) {
		kek, _ := keys.NewLocalKEK(newKEK(t))
		stores := []*keys.SQLStore{db.open(t, kek), db.open(t, kek)}
		_, err := stores[0].Keyset(ctx, "default", keys.KindAEAD)
		require.NoError(t, err)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					_, err := stores[i%2].Rotate(ctx, "default", keys.KindAEAD)
					assert.NoError(t, err)
				}
			}()
		}
		wg.Wait()
		ks, err := db.open(t, kek).Keyset(ctx, "default", keys.KindAEAD)
		require.NoError(t, err)
		n := len(ks.Keys())
		assert.EqualValues(t, 41, n, "after 40 concurrent rotations by two instances: %d keys, want 41 (none lost)", n)
		v := db.version(t, "default", "aead")
		assert.EqualValues(t, 41, v, "stored version = %d, want 41", v)
	})
}

// 64 concurrent cold requests unwrap once; the same *Keyset is returned to
// all.
func TestSQLSingleFlight(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db sqlDB) {
		kek := newCountingKEK(t)
		_, err := db.open(t, kek).Keyset(ctx, "default", keys.KindAEAD)
		require.NoError(t, err)
		cold := db.open(t, kek)
		before := kek.decrypt.Load()
		var wg sync.WaitGroup
		got := make([]*keys.Keyset, 64)
		start := make(chan struct{})
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ks, err := cold.Keyset(ctx, "default", keys.KindAEAD)
				assert.NoError(t, err)
				got[i] = ks
			}()
		}
		close(start)
		wg.Wait()
		n := kek.decrypt.Load() - before
		assert.EqualValues(t, 1, n, "64 concurrent cold requests made %d KEK unwraps, want 1", n)
		for _, ks := range got {
			require.Same(t, got[0], ks, "concurrent requests got different snapshots")
		}
	})
}

// 100,000 Protect calls cost one KEK unwrap per keyset per TTL, where
// Tink's KMS envelope AEAD costs one KMS call per value.
func TestSQLKMSCallCount(t *testing.T) {
	t.Parallel()
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	forEachDB(t, func(t *testing.T, db sqlDB) {
		kek := newCountingKEK(t)
		setup := db.open(t, kek)
		setup.Keyset(ctx, "default", keys.KindAEAD)
		setup.Keyset(ctx, "default", keys.KindDeterministicAEAD)
		kek.encrypts.Store(0)
		kek.decrypt.Store(0)

		s := db.open(t, kek, keys.WithCacheTTL(time.Hour))
		p, _ := pii.New(s)
		for i := range n {
			r := record{ID: "r", Email: "a@example.com", Phone: "+45"}
			require.NoError(t, p.Protect(ctx, &r), "Protect %d", i)
		}
		cached := kek.encrypts.Load() + kek.decrypt.Load()
		assert.False(t, cached > 2, "%d Protect calls over two keysets made %d KEK calls, want at most 2 (one unwrap per keyset per TTL)", n, cached)

		// The floor to compare with: Tink's KMS envelope AEAD calls the KMS
		// once per value.
		kek.encrypts.Store(0)
		env := aead.NewKMSEnvelopeAEAD2(aead.AES256GCMKeyTemplate(), kek)
		for range n {
			_, err := env.Encrypt([]byte("a@example.com"), []byte("ad"))
			require.NoError(t, err)
		}
		t.Logf("KMS calls for %d values: Tink KMS envelope AEAD %d, tillid SQL store with cache %d", n, kek.encrypts.Load(), cached)
	})
}

// While the KMS is down, cached keysets keep working until the TTL ends;
// then the error says the KMS is unreachable, and nothing stored changes.
func TestSQLKMSOutage(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db sqlDB) {
		kek := newCountingKEK(t)
		rec := &piitest.AuditRecorder{}
		const ttl = 5 * time.Minute
		clk := &piitest.Clock{}
		s := db.open(t, kek, keys.WithCacheTTL(ttl), keys.WithAuditor(rec), keys.WithClock(clk.Now))
		p, _ := pii.New(s)
		old := record{ID: "1", Email: "a@example.com", Phone: "1"}
		require.NoError(t, p.Protect(ctx, &old))
		v := db.version(t, "default", "aead")
		kek.down.Store(true)
		r := record{ID: "2", Email: "b@example.com", Phone: "2"}
		require.NoError(t, p.Protect(ctx, &r), "Protect with the KMS down, within the TTL")
		_, err := s.Rotate(ctx, "default", keys.KindAEAD)
		assert.ErrorIs(t, err, keys.ErrKMSUnavailable, "Rotate with the KMS down = %v, want ErrKMSUnavailable", err)
		clk.Advance(ttl)
		r2 := record{ID: "3", Email: "c@example.com", Phone: "3"}
		err = p.Protect(ctx, &r2)
		assert.ErrorIs(t, err, keys.ErrKMSUnavailable, "Protect with the KMS down after the TTL = %v, want ErrKMSUnavailable", err)
		require.ErrorIs(t, err, pii.ErrKeyProvider, "Protect with the KMS down after the TTL = %v, want ErrKMSUnavailable", err)
		assert.ErrorContains(t, err, "KMS unreachable", "Protect with the KMS down after the TTL = %v, want ErrKMSUnavailable", err)
		assert.Equal(t, "c@example.com", r2.Email, "a failed Protect changed the struct")
		got := db.version(t, "default", "aead")
		assert.Equal(t, v, got, "stored version moved from %d to %d while the KMS was down", v, got)
		var sawFailure bool
		for _, e := range rec.Events() {
			sawFailure = sawFailure || e.Type == keys.EventKMSFailure && errors.Is(e.Err, keys.ErrKMSUnavailable)
		}
		assert.True(t, sawFailure, "no kms.failure audit event: %v", rec.Types())
		kek.down.Store(false)
		back := old
		err = p.Reveal(ctx, &back)
		assert.NoError(t, err, "Reveal after the KMS is back = %v, %q", err, back.Email)
		assert.Equal(t, "a@example.com", back.Email, "Reveal after the KMS is back = %v, %q", err, back.Email)
		err = p.Reveal(ctx, &r)
		assert.NoError(t, err, "Reveal of a value protected during the outage = %v, %q", err, r.Email)
		assert.Equal(t, "b@example.com", r.Email, "Reveal of a value protected during the outage = %v, %q", err, r.Email)
	})
}

// P14: a hanging KMS returns the caller's context error quickly, and leaves
// no goroutine behind.
func TestSQLKMSHangs(t *testing.T) {
	forEachDB(t, func(t *testing.T, db sqlDB) {
		kek := newCountingKEK(t)
		s := db.open(t, kek, keys.WithCacheTTL(time.Hour))
		setup := db.open(t, kek)
		setup.Keyset(ctx, "default", keys.KindAEAD)
		before := runtime.NumGoroutine()
		kek.hang.Store(true)
		p, _ := pii.New(s)
		for _, op := range []string{"protect", "rotate", "create"} {
			c, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			start := time.Now()
			var err error
			r := record{ID: "1", Email: "a@example.com", Phone: "1"}
			switch op {
			case "protect":
				err = p.Protect(c, &r)
			case "rotate":
				_, err = s.Rotate(c, "default", keys.KindAEAD)
			case "create":
				_, err = s.Keyset(c, "other", keys.KindPRF)
			}
			cancel()
			assert.ErrorIs(t, err, context.DeadlineExceeded, "%s with a hanging KMS = %v after %v, want context.DeadlineExceeded within 500ms", op, err, time.Since(start))
			assert.False(t, time.Since(start) > 500*time.Millisecond, "%s with a hanging KMS = %v after %v, want context.DeadlineExceeded within 500ms", op, err, time.Since(start))
			assert.Equal(t, "a@example.com", r.Email, "%s: the struct changed", op)
		}
		kek.hang.Store(false)
		v := db.version(t, "other", "prf")
		assert.Zero(t, v, "a keyset was stored though its KEK call timed out")
		waitGoroutines(t, before)
	})
}

// waitGoroutines fails the test when more than want goroutines are still
// running after a grace period.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// badKEK answers like a broken KMS: wraps to nothing, to too much, or to
// bytes that do not unwrap.
type badKEK struct {
	kek     tink.AEAD
	encrypt func(ct []byte) []byte
	decrypt func(pt []byte) []byte
}

func (b badKEK) Encrypt(pt, ad []byte) ([]byte, error) {
	ct, err := b.kek.Encrypt(pt, ad)
	if err != nil || b.encrypt == nil {
		return ct, err
	}
	return b.encrypt(ct), nil
}

func (b badKEK) Decrypt(ct, ad []byte) ([]byte, error) {
	pt, err := b.kek.Decrypt(ct, ad)
	if err != nil || b.decrypt == nil {
		return pt, err
	}
	return b.decrypt(pt), nil
}

// P01: a malformed KMS answer fails closed, and nothing is stored.
func TestSQLMalformedKMSAnswer(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db sqlDB) {
		good, _ := keys.NewLocalKEK(newKEK(t))
		tests := []struct {
			name    string
			encrypt func([]byte) []byte
			decrypt func([]byte) []byte
		}{
			{name: "empty", encrypt: func([]byte) []byte { return []byte{} }},
			{name: "nil", encrypt: func([]byte) []byte { return nil }},
			{name: "5000 bytes", encrypt: func([]byte) []byte { return make([]byte, 5000) }},
			{name: "garbage of the right length", encrypt: func(ct []byte) []byte { return make([]byte, len(ct)) }},
			{name: "unwraps to something else", decrypt: func(pt []byte) []byte { return append(pt, 0) }},
			{name: "unwraps to nothing", decrypt: func([]byte) []byte { return []byte{} }},
		}
		for i, tt := range tests {
			s := db.open(t, badKEK{kek: good, encrypt: tt.encrypt, decrypt: tt.decrypt})
			p, _ := pii.New(s)
			name := fmt.Sprintf("k%d", i)
			type tagged struct {
				SSN string `pii:"encrypt"`
			}
			_ = name
			u := tagged{SSN: "000-00-0000"}
			err := p.Protect(ctx, &u)
			assert.ErrorIs(t, err, pii.ErrKeyProvider, "%s: Protect = %v, want ErrKeyProvider", tt.name, err)
			assert.Equal(t, "000-00-0000", u.SSN, "%s: the struct changed", tt.name)
			v := db.version(t, "default", "aead")
			require.Zero(t, v, "%s: a keyset was stored (version %d) that cannot be read back", tt.name, v)
		}
		// A stored keyset whose unwrap is malformed is refused too.
		_, err := db.open(t, good).Keyset(ctx, "default", keys.KindAEAD)
		require.NoError(t, err)
		s := db.open(t, badKEK{kek: good, decrypt: func([]byte) []byte { return nil }})
		_, err = s.Keyset(ctx, "default", keys.KindAEAD)
		assert.Error(t, err, "an empty unwrapped keyset was accepted")
		wrong, _ := keys.NewLocalKEK(newKEK(t))
		_, err = db.open(t, wrong).Keyset(ctx, "default", keys.KindAEAD)
		assert.ErrorIs(t, err, keys.ErrWrongKEK, "Keyset under a wrong KEK = %v, want ErrWrongKEK", err)
		v := db.version(t, "default", "aead")
		assert.EqualValues(t, 1, v, "stored version = %d, want 1: reads with a wrong KEK must write nothing", v)
	})
}

func TestSQLListAndOptions(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db sqlDB) {
		kek, _ := keys.NewLocalKEK(newKEK(t))
		s := db.open(t, kek)
		s.Keyset(ctx, "b", keys.KindPRF)
		s.Keyset(ctx, "a", keys.KindDeterministicAEAD)
		s.Keyset(ctx, "a", keys.KindAEAD)
		list, err := db.open(t, kek).List(ctx)
		require.NoError(t, err)
		var got []string
		for _, ks := range list {
			got = append(got, ks.Name()+"/"+ks.Kind().String())
		}
		assert.Equal(t, "a/aead a/daead b/prf", strings.Join(got, " "), "List = %v", got)
	})
	db, _ := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "x.db"))
	defer db.Close()
	kek, _ := keys.NewLocalKEK(newKEK(t))
	for _, o := range []keys.StoreOption{keys.WithTable("Bad-Name"), keys.WithTable(""), keys.WithCacheTTL(0), keys.WithCacheTTL(-time.Second)} {
		_, err := keys.OpenSQLite(ctx, db, kek, o)
		assert.Error(t, err, "OpenSQLite accepted a bad option %v", o)
	}
	_, err := keys.OpenSQLite(ctx, db, nil)
	assert.ErrorIs(t, err, keys.ErrInvalidKEK, "OpenSQLite(nil KEK)")
	s, err := keys.OpenSQLite(ctx, db, kek, keys.WithTable("other_keys"), keys.WithCreateMissing())
	require.NoError(t, err)
	_, err = s.Keyset(ctx, "x", keys.KindAEAD)
	require.NoError(t, err)
	var n int
	db.QueryRow(`SELECT count(*) FROM other_keys`).Scan(&n)
	assert.EqualValues(t, 1, n, "WithTable: %d rows in other_keys, want 1", n)
}

// A value written by another instance right after its rotation reveals at
// once: the unknown key ID makes pii ask the store for a fresh keyset,
// without waiting for the cache TTL. Unknown key IDs from tampered values
// cost at most one read per second and no KMS call while nothing changed.
func TestSQLRefreshOnUnknownKey(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db sqlDB) {
		kek := newCountingKEK(t)
		clk := &piitest.Clock{}
		a := db.open(t, kek, keys.WithCacheTTL(time.Hour), keys.WithClock(clk.Now))
		b := db.open(t, kek, keys.WithCacheTTL(time.Hour), keys.WithClock(clk.Now))
		pa, _ := pii.New(a)
		pb, _ := pii.New(b)
		r := record{ID: "1", Email: "a@example.com", Phone: "1"}
		require.NoError(t, pb.Protect(ctx, &r)) // b loads and caches the keysets
		clk.Advance(1100 * time.Millisecond)    // past the refresh rate limit
		_, err := a.Rotate(ctx, "default", keys.KindAEAD)
		require.NoError(t, err)
		fresh := record{ID: "2", Email: "b@example.com", Phone: "2"}
		require.NoError(t, pa.Protect(ctx, &fresh))
		got := fresh
		err = pb.Reveal(ctx, &got)
		require.NoError(t, err, "instance b Reveal of a value under a key rotated in a moment ago = %v, %q; want it found by a refresh", err, got.Email)
		require.Equal(t, "b@example.com", got.Email, "instance b Reveal of a value under a key rotated in a moment ago = %v, %q; want it found by a refresh", err, got.Email)
		// Tampered key IDs: many unknown IDs cost no KMS call when the row has
		// not changed.
		before := kek.decrypt.Load()
		for i := range 50 {
			bad := fresh
			raw := []byte(bad.Email)
			c := "ABCDEFGHIJ"[i%10]
			if raw[7] == c {
				continue
			}
			raw[7] = c // inside the key ID
			bad.Email = string(raw)
			require.Error(t, pb.Reveal(ctx, &bad), "a value with a changed key ID revealed")
		}
		n := kek.decrypt.Load() - before
		assert.Zero(t, n, "50 values with unknown key IDs made %d KEK calls, want 0", n)
	})
}

// A SQL store opened without WithCreateMissing, as a service opens it,
// makes no keyset: a missing keyset is ErrKeysetNotFound from Keyset and
// Rotate, and the table stays as it was. Keysets made by a provisioning
// store (tillid keys create) serve it.
func TestSQLNoKeysetsWithoutCreateMissing(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db sqlDB) {
		kek, err := keys.NewLocalKEK(newKEK(t))
		require.NoError(t, err)
		service, err := db.openStrict(t, kek)
		require.NoError(t, err, "opening an empty database creates its table, no keyset")
		tests := []struct {
			name    string
			call    func() error
			wantErr error
			reason  string
		}{
			{"Keyset of a missing keyset", func() error { _, err := service.Keyset(ctx, "default", keys.KindAEAD); return err }, keys.ErrKeysetNotFound, "a mistyped name must not make keys no other instance has"},
			{"Keyset is also ErrKeyNotFound", func() error { _, err := service.Keyset(ctx, "default", keys.KindPRF); return err }, keys.ErrKeyNotFound, "callers that branch on ErrKeyNotFound keep working"},
			{"Rotate of a missing keyset", func() error { _, err := service.Rotate(ctx, "default", keys.KindAEAD); return err }, keys.ErrKeysetNotFound, "rotating a typo must not make a keyset"},
			{"Disable in a missing keyset", func() error { return service.Disable(ctx, "default", keys.KindAEAD, 1) }, keys.ErrKeysetNotFound, "the keyset is named before the key"},
			{"Refresh of a missing keyset", func() error { _, err := service.Refresh(ctx, "default", keys.KindAEAD); return err }, keys.ErrKeysetNotFound, "Refresh reads the same rows"},
		}
		for _, tt := range tests {
			err := tt.call()
			assert.ErrorIs(t, err, tt.wantErr, "%s: %s", tt.name, tt.reason)
			if assert.Error(t, err, tt.name) {
				assert.Contains(t, err.Error(), "tillid_keysets", "%s: the error names the table", tt.name)
			}
		}
		assert.Zero(t, db.version(t, "default", "aead"), "a refused keyset was written")
		list, err := service.List(ctx)
		require.NoError(t, err)
		assert.Empty(t, list, "List after refused keysets")

		// Provisioned by another store, the keyset serves the service.
		id, err := db.open(t, kek).Rotate(ctx, "default", keys.KindAEAD)
		require.NoError(t, err, "Rotate with WithCreateMissing creates the keyset")
		ks, err := service.Keyset(ctx, "default", keys.KindAEAD)
		require.NoError(t, err, "Keyset after provisioning")
		assert.Equal(t, id, ks.PrimaryKeyID(), "the service sees the provisioned primary")
		_, err = service.Rotate(ctx, "default", keys.KindAEAD)
		assert.NoError(t, err, "Rotate of an existing keyset needs no option")
	})
}

// keys.Check at start-up fails on a SQL store whose keysets are missing,
// whose KMS is down or hangs past the start-up deadline, or whose KEK is
// another, and passes the store as provisioned.
func TestSQLCheck(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, db sqlDB) {
		kek := newCountingKEK(t)
		need := []keys.KeysetID{{Name: "crm", Kind: keys.KindAEAD}, {Name: "tokenize-card", Kind: keys.KindPRF}}
		provision := db.open(t, kek)
		_, err := provision.Keyset(ctx, need[0].Name, need[0].Kind)
		require.NoError(t, err)
		open := func() *keys.SQLStore {
			s, err := db.openStrict(t, kek)
			require.NoError(t, err)
			return s
		}
		err = keys.Check(ctx, open(), need...)
		assert.ErrorIs(t, err, keys.ErrKeysetNotFound, "Check before tokenize-card/prf is provisioned")
		if assert.Error(t, err) {
			assert.Contains(t, err.Error(), "tokenize-card/prf", "the error names the missing keyset")
			assert.NotContains(t, err.Error(), "crm/aead", "the error names only failing keysets")
		}
		_, err = provision.Keyset(ctx, need[1].Name, need[1].Kind)
		require.NoError(t, err)
		assert.NoError(t, keys.Check(ctx, open(), need...), "Check of the provisioned store")

		kek.down.Store(true)
		assert.ErrorIs(t, keys.Check(ctx, open(), need...), keys.ErrKMSUnavailable, "Check with the KMS down")
		kek.down.Store(false)
		// Warm the connection pool and the cache, then let the TTL pass:
		// the check reads the rows again and waits on the KEK.
		clk := &piitest.Clock{}
		warm, err := db.openStrict(t, kek, keys.WithCacheTTL(time.Minute), keys.WithClock(clk.Now))
		require.NoError(t, err)
		require.NoError(t, keys.Check(ctx, warm, need...))
		clk.Advance(time.Minute)
		kek.hang.Store(true)
		deadline, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err = keys.Check(deadline, warm, need...)
		cancel()
		assert.ErrorIs(t, err, keys.ErrKMSUnavailable, "Check with a hanging KMS")
		assert.ErrorIs(t, err, context.DeadlineExceeded, "Check with a hanging KMS")
		kek.hang.Store(false)

		other, err := db.openStrict(t, newCountingKEK(t))
		require.NoError(t, err)
		assert.ErrorIs(t, keys.Check(ctx, other, need...), keys.ErrWrongKEK, "Check under another KEK")
	})
}
