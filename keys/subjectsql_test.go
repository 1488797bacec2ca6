package keys_test

// The tests and benchmarks of the SQL subject-key stores and ledgers, on
// modernc.org/sqlite and PostgreSQL (internal/pgtest, through pgx's
// database/sql driver). This is the one file of the subject keys that
// imports SQL drivers: it belongs with the other SQL store tests in the
// module github.com/tillid/tillid/stores, and moves there as a whole (it
// needs only package keys_test's TestMain to call pgtest.Run).

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/piitest"
)

const sqliteSubjectPragmas = "?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)"

// openSQLite opens the SQLite file path through the driver name.
func openSQLite(t testing.TB, drv, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open(drv, "file:"+path+sqliteSubjectPragmas)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func sqliteSubjectStores(t *testing.T, n int) []keys.SubjectKeyStore {
	path := filepath.Join(t.TempDir(), "subjects.db")
	out := make([]keys.SubjectKeyStore, n)
	for i := range out {
		s, err := keys.OpenSQLiteSubjectKeyStore(context.Background(), openSQLite(t, "sqlite", path))
		require.NoError(t, err)
		out[i] = s
	}
	return out
}

func TestSQLiteSubjectKeyStore(t *testing.T) {
	piitest.TestSubjectKeyStore(t, sqliteSubjectStores)
}

func TestPostgresSubjectKeyStore(t *testing.T) {
	dsn := pgtest.DSN(t)
	piitest.TestSubjectKeyStore(t, func(t *testing.T, n int) []keys.SubjectKeyStore {
		// Each call gets a table of its own in the one test database.
		table := fmt.Sprintf("subject_keys_%d", tableSeq.Add(1))
		out := make([]keys.SubjectKeyStore, n)
		for i := range out {
			db, err := sql.Open("pgx", dsn)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			s, err := keys.OpenPostgresSubjectKeyStore(context.Background(), db, keys.WithTable(table))
			require.NoError(t, err)
			out[i] = s
		}
		return out
	})
}

var tableSeq atomic.Int64

// TestReapplyErasuresSQLite backs up the SQLite key store (VACUUM INTO, a
// copy of the file), erases, restores the copy and re-applies the erasure
// ledger, which lives in a SQLite file of its own.
func TestReapplyErasuresSQLite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openSQLite(t, "sqlite", filepath.Join(dir, "keys.db"))
	store, err := keys.OpenSQLiteSubjectKeyStore(ctx, db)
	require.NoError(t, err)
	backup := filepath.Join(dir, "backup.db")
	testReapply(t, store,
		func() {
			_, err := db.ExecContext(ctx, `VACUUM INTO ?`, backup)
			require.NoError(t, err)
		},
		func() keys.SubjectKeyStore {
			restored, err := keys.OpenSQLiteSubjectKeyStore(ctx, openSQLite(t, "sqlite", backup))
			require.NoError(t, err)
			return restored
		})

	// And through a SQL ledger in its own file.
	ledger, err := keys.OpenSQLiteLedger(ctx, openSQLite(t, "sqlite", filepath.Join(dir, "ledger.db")))
	require.NoError(t, err)
	sk, err := keys.NewSubjectKeys(keys.NewMemory(), store, ledger)
	require.NoError(t, err)
	_, err = sk.Keys(ctx, []keys.SubjectKeyID{{Subject: "lena", Kind: keys.KindAEAD}})
	require.NoError(t, err)
	start := time.Now().Add(-time.Second)
	receipt, err := sk.Forget(ctx, "lena")
	require.NoError(t, err)
	entries, err := ledger.Since(ctx, start)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, keys.LedgerEntry{Time: receipt.Time, Op: keys.LedgerErase, Pseudonym: receipt.Pseudonym, Purpose: keys.AllPurposes, Destroyed: []string{""}}, entries[0])
	later, err := ledger.Since(ctx, receipt.Time.Add(time.Microsecond))
	require.NoError(t, err)
	assert.Empty(t, later, "Since returned an entry from before since")
}

// TestSQLiteOutageDuringForget closes the database under a Forget: no
// receipt, nothing half done, and a retry on a new connection completes it.
func TestSQLiteOutageDuringForget(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	down := openSQLite(t, "sqlite", path)
	store, err := keys.OpenSQLiteSubjectKeyStore(ctx, down)
	require.NoError(t, err)
	provider, ledger := keys.NewMemory(), keys.NewMemoryLedger()
	sk, err := keys.NewSubjectKeys(provider, store, ledger)
	require.NoError(t, err)
	_, err = sk.Keys(ctx, []keys.SubjectKeyID{{Subject: "mo", Kind: keys.KindAEAD}})
	require.NoError(t, err)
	require.NoError(t, down.Close())

	receipt, err := sk.Forget(ctx, "mo")
	require.Error(t, err, "Forget on a closed database")
	assert.Zero(t, receipt)
	entries, err := ledger.Since(ctx, time.Time{})
	require.NoError(t, err)
	assert.Empty(t, entries, "the ledger recorded an erasure that did not happen")

	up, err := keys.OpenSQLiteSubjectKeyStore(ctx, openSQLite(t, "sqlite", path))
	require.NoError(t, err)
	retry, err := keys.NewSubjectKeys(provider, up, ledger)
	require.NoError(t, err)
	_, errs, err := retry.Lookup(ctx, []keys.SubjectKeyID{{Subject: "mo", Kind: keys.KindAEAD}})
	require.NoError(t, err)
	require.NoError(t, errs[0], "the failed Forget changed the store")
	receipt, err = retry.Forget(ctx, "mo")
	require.NoError(t, err)
	assert.Equal(t, []string{""}, receipt.Destroyed)
}

// countingDriver wraps a driver and counts the statements, transaction
// starts and commits sent: the store's round trips.
type countingDriver struct {
	driver.Driver
	n *atomic.Int64
}

func (d countingDriver) Open(name string) (driver.Conn, error) {
	c, err := d.Driver.Open(name)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: d.n}, nil
}

type countingConn struct {
	driver.Conn
	n *atomic.Int64
}

func (c *countingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	c.n.Add(1)
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (c *countingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	c.n.Add(1)
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	c.n.Add(1)
	tx, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return countingTx{Tx: tx, n: c.n}, nil
}

type countingTx struct {
	driver.Tx
	n *atomic.Int64
}

func (t countingTx) Commit() error {
	t.n.Add(1)
	return t.Tx.Commit()
}

var (
	roundTrips       atomic.Int64
	registerCounting sync.Once
)

// openCountingSQLite opens path through a driver that counts round trips
// in roundTrips.
func openCountingSQLite(b testing.TB, path string) *sql.DB {
	registerCounting.Do(func() {
		probe, err := sql.Open("sqlite", ":memory:")
		if err != nil {
			panic(err)
		}
		sql.Register("sqlite-counting", countingDriver{Driver: probe.Driver(), n: &roundTrips})
		probe.Close()
	})
	return openSQLite(b, "sqlite-counting", path)
}

func newSubjectIDs(prefix string, n int) []keys.SubjectKeyID {
	ids := make([]keys.SubjectKeyID, n)
	for i := range ids {
		ids[i] = keys.SubjectKeyID{Subject: fmt.Sprintf("%s-%d", prefix, i), Kind: keys.KindAEAD}
	}
	return ids
}

// BenchmarkSubjectKeysCreateSQLite makes the keys of 10,000 new subjects in
// one Keys call, and reports the store round trips per batch, beside its
// floor: the same 10,000 rows (pseudonym, 65 random bytes, time) inserted
// by hand in one transaction of multi-row INSERTs.
func BenchmarkSubjectKeysCreateSQLite(b *testing.B) {
	const batch = 10_000
	ctx := context.Background()
	b.Run("SubjectKeys.Keys", func(b *testing.B) {
		db := openCountingSQLite(b, filepath.Join(b.TempDir(), "keys.db"))
		store, err := keys.OpenSQLiteSubjectKeyStore(ctx, db)
		require.NoError(b, err)
		sk, err := keys.NewSubjectKeys(keys.NewMemory(), store, keys.NewMemoryLedger())
		require.NoError(b, err)
		b.ReportAllocs()
		var trips int64
		round := 0
		for b.Loop() {
			b.StopTimer()
			ids := newSubjectIDs(fmt.Sprint("b", round), batch)
			round++
			before := roundTrips.Load()
			b.StartTimer()
			if _, err := sk.Keys(ctx, ids); err != nil {
				b.Fatal(err)
			}
			trips += roundTrips.Load() - before
		}
		b.ReportMetric(float64(trips)/float64(b.N), "roundtrips/op")
		b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "subjects/s")
	})
	b.Run("floor/plainSQL", func(b *testing.B) {
		db := openSQLite(b, "sqlite", filepath.Join(b.TempDir(), "plain.db"))
		_, err := db.ExecContext(ctx, `CREATE TABLE t (pseudonym BLOB NOT NULL, purpose TEXT NOT NULL, wrapped BLOB, created_at INTEGER NOT NULL, erased_at INTEGER, PRIMARY KEY (pseudonym, purpose)) WITHOUT ROWID`)
		require.NoError(b, err)
		b.ReportAllocs()
		round := 0
		for b.Loop() {
			round++
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(b, err)
			const chunk = 5000
			for lo := 0; lo < batch; lo += chunk {
				var q strings.Builder
				q.WriteString("INSERT INTO t (pseudonym, purpose, wrapped, created_at) VALUES ")
				args := make([]any, 0, 2*chunk)
				for i := range chunk {
					if i > 0 {
						q.WriteByte(',')
					}
					q.WriteString("(?, '', ?, 1)")
					p := make([]byte, 16)
					copy(p, fmt.Sprintf("%d-%d", round, lo+i))
					args = append(args, p, make([]byte, 65))
				}
				_, err := tx.ExecContext(ctx, q.String(), args...)
				require.NoError(b, err)
			}
			require.NoError(b, tx.Commit())
		}
		b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "subjects/s")
	})
}

// BenchmarkSubjectForgetSQLite forgets one subject among 1,000,000 (set
// TILLID_FORGET_SUBJECTS to change it), beside its floor: a transaction
// that clears one key row by its primary key by hand. It also reports the
// file size per subject.
func BenchmarkSubjectForgetSQLite(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("TILLID_FORGET_SUBJECTS"); v != "" {
		_, err := fmt.Sscan(v, &n)
		require.NoError(b, err)
	}
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "keys.db")
	db := openSQLite(b, "sqlite", path)
	store, err := keys.OpenSQLiteSubjectKeyStore(ctx, db)
	require.NoError(b, err)
	sk, err := keys.NewSubjectKeys(keys.NewMemory(), store, keys.NewMemoryLedger())
	require.NoError(b, err)
	const batch = 10_000
	start := time.Now()
	for lo := 0; lo < n; lo += batch {
		ids := make([]keys.SubjectKeyID, 0, batch)
		for i := lo; i < min(n, lo+batch); i++ {
			ids = append(ids, keys.SubjectKeyID{Subject: fmt.Sprint("s-", i), Kind: keys.KindAEAD})
		}
		_, err := sk.Keys(ctx, ids)
		require.NoError(b, err)
	}
	b.Logf("made %d subject keys in %v", n, time.Since(start))
	_, err = db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	require.NoError(b, err)
	fi, err := os.Stat(path)
	require.NoError(b, err)
	var keyBytes float64
	require.NoError(b, db.QueryRowContext(ctx, `SELECT AVG(LENGTH(pseudonym) + LENGTH(purpose) + LENGTH(wrapped) + 8) FROM tillid_subject_keys WHERE wrapped IS NOT NULL`).Scan(&keyBytes))
	b.Logf("SQLite file: %.1f bytes per subject (a key row and a subject row); key row payload %.1f bytes", float64(fi.Size())/float64(n), keyBytes)

	b.Run("Forget", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := sk.Forget(ctx, fmt.Sprint("s-", (i*7919)%n)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("floor/plainSQL", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			// Another subject each time (from the other end), the same
			// pseudonym, one key row cleared and one tombstone written.
			p, err := sk.Pseudonym(ctx, fmt.Sprint("s-", n-1-(i*7919)%n))
			require.NoError(b, err)
			i++
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(b, err)
			_, err = tx.ExecContext(ctx, `UPDATE tillid_subject_keys SET wrapped = NULL, erased_at = 1 WHERE pseudonym = ? AND purpose = ''`, p[:])
			require.NoError(b, err)
			_, err = tx.ExecContext(ctx, `UPDATE tillid_subject_keys SET erased_at = 1 WHERE pseudonym = ? AND purpose = '*'`, p[:])
			require.NoError(b, err)
			require.NoError(b, tx.Commit())
		}
	})
}
