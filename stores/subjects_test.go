package stores_test

// The tests and benchmarks of the SQL subject-key stores and ledgers, on
// modernc.org/sqlite and PostgreSQL (internal/pgtest, through pgx's
// database/sql driver). They live in this module so that the core module
// requires no SQL driver.

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
	"github.com/tink-crypto/tink-go/v2/tink"
	_ "modernc.org/sqlite"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/piitest"
)

const sqliteSubjectPragmas = "?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)"

// openSubjectSQLite opens the SQLite file path through the driver name.
func openSubjectSQLite(t testing.TB, drv, path string) *sql.DB {
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
		s, err := keys.OpenSQLiteSubjectKeyStore(context.Background(), openSubjectSQLite(t, "sqlite", path))
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
	db := openSubjectSQLite(t, "sqlite", filepath.Join(dir, "keys.db"))
	store, err := keys.OpenSQLiteSubjectKeyStore(ctx, db)
	require.NoError(t, err)
	backup := filepath.Join(dir, "backup.db")
	piitest.TestSubjectKeyRestore(t, store,
		func(t *testing.T) {
			_, err := db.ExecContext(ctx, `VACUUM INTO ?`, backup)
			require.NoError(t, err)
		},
		func(t *testing.T) keys.SubjectKeyStore {
			restored, err := keys.OpenSQLiteSubjectKeyStore(ctx, openSubjectSQLite(t, "sqlite", backup))
			require.NoError(t, err)
			return restored
		})

	// And through a SQL ledger in its own file.
	ledger, err := keys.OpenSQLiteLedger(ctx, openSubjectSQLite(t, "sqlite", filepath.Join(dir, "ledger.db")))
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

// TestReapplyErasuresPostgres backs up the PostgreSQL key table into a
// copy (CREATE TABLE ... LIKE ... INCLUDING ALL, INSERT ... SELECT), and
// restores by opening a store on the copy.
func TestReapplyErasuresPostgres(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("pgx", pgtest.DSN(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	table := fmt.Sprintf("subject_keys_%d", tableSeq.Add(1))
	store, err := keys.OpenPostgresSubjectKeyStore(ctx, db, keys.WithTable(table))
	require.NoError(t, err)
	piitest.TestSubjectKeyRestore(t, store,
		func(t *testing.T) {
			_, err := db.ExecContext(ctx, `CREATE TABLE `+table+`_backup (LIKE `+table+` INCLUDING ALL)`)
			require.NoError(t, err)
			_, err = db.ExecContext(ctx, `INSERT INTO `+table+`_backup SELECT * FROM `+table)
			require.NoError(t, err)
		},
		func(t *testing.T) keys.SubjectKeyStore {
			restored, err := keys.OpenPostgresSubjectKeyStore(ctx, db, keys.WithTable(table+"_backup"))
			require.NoError(t, err)
			return restored
		})
}

// TestSQLiteOutageDuringForget closes the database under a Forget: no
// receipt, nothing half done, and a retry on a new connection completes it.
func TestSQLiteOutageDuringForget(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	down := openSubjectSQLite(t, "sqlite", path)
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

	up, err := keys.OpenSQLiteSubjectKeyStore(ctx, openSubjectSQLite(t, "sqlite", path))
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
	roundTrips atomic.Int64
	registerMu sync.Mutex
	registered = map[string]bool{}
)

// openCounting opens dsn through a copy of the driver named base that
// counts round trips in roundTrips.
func openCounting(b testing.TB, base, dsn string) *sql.DB {
	b.Helper()
	registerMu.Lock()
	if !registered[base] {
		probe, err := sql.Open(base, dsn)
		require.NoError(b, err)
		sql.Register(base+"-counting", countingDriver{Driver: probe.Driver(), n: &roundTrips})
		probe.Close()
		registered[base] = true
	}
	registerMu.Unlock()
	db, err := sql.Open(base+"-counting", dsn)
	require.NoError(b, err)
	b.Cleanup(func() { db.Close() })
	return db
}

// subjectBackend is one SQL database for the benchmarks.
type subjectBackend struct {
	name string
	// open returns a store over a counting connection pool, a plain pool
	// on the same database for the floors, and its blob column type.
	open func(b *testing.B) (keys.SubjectKeyStore, *sql.DB, string)
}

func subjectBackends() []subjectBackend {
	return []subjectBackend{
		{"SQLite", func(b *testing.B) (keys.SubjectKeyStore, *sql.DB, string) {
			path := filepath.Join(b.TempDir(), "keys.db")
			store, err := keys.OpenSQLiteSubjectKeyStore(context.Background(), openCounting(b, "sqlite", "file:"+path+sqliteSubjectPragmas))
			require.NoError(b, err)
			return store, openSubjectSQLite(b, "sqlite", path), "BLOB"
		}},
		{"PostgreSQL", func(b *testing.B) (keys.SubjectKeyStore, *sql.DB, string) {
			dsn := pgtest.DSN(b)
			store, err := keys.OpenPostgresSubjectKeyStore(context.Background(), openCounting(b, "pgx", dsn))
			require.NoError(b, err)
			db, err := sql.Open("pgx", dsn)
			require.NoError(b, err)
			b.Cleanup(func() { db.Close() })
			return store, db, "bytea"
		}},
	}
}

// subjectKEKCounter counts the calls to a KEK.
type subjectKEKCounter struct {
	tink.AEAD
	n atomic.Int64
}

func (k *subjectKEKCounter) Encrypt(p, ad []byte) ([]byte, error) {
	k.n.Add(1)
	return k.AEAD.Encrypt(p, ad)
}
func (k *subjectKEKCounter) Decrypt(c, ad []byte) ([]byte, error) {
	k.n.Add(1)
	return k.AEAD.Decrypt(c, ad)
}

// benchSubjectKeys returns SubjectKeys over store whose wrapping and
// pseudonym keysets come from a SQLite keyset store under a counting KEK,
// with both keysets already unwrapped and cached.
func benchSubjectKeys(b *testing.B, store keys.SubjectKeyStore) (*keys.SubjectKeys, *subjectKEKCounter) {
	ctx := context.Background()
	local, err := keys.NewLocalKEK(piitest.MasterKey())
	require.NoError(b, err)
	kek := &subjectKEKCounter{AEAD: local}
	provider, err := keys.OpenSQLite(ctx, openSubjectSQLite(b, "sqlite", filepath.Join(b.TempDir(), "keysets.db")), kek, keys.WithCreateMissing())
	require.NoError(b, err)
	sk, err := keys.NewSubjectKeys(provider, store, keys.NewMemoryLedger())
	require.NoError(b, err)
	_, err = sk.Keys(ctx, []keys.SubjectKeyID{{Subject: "warm-up", Kind: keys.KindAEAD}})
	require.NoError(b, err)
	return sk, kek
}

// BenchmarkSubjectKeysCreate makes the keys of 10,000 new subjects in one
// Keys call, on SQLite and PostgreSQL, and reports the store round trips
// (statements, BEGIN and COMMIT) and KEK calls per batch, beside its floor:
// the same 10,000 rows (pseudonym, 65 bytes, time) inserted by hand in one
// transaction of two multi-row INSERTs.
func BenchmarkSubjectKeysCreate(b *testing.B) {
	const batch = 10_000
	ctx := context.Background()
	for _, be := range subjectBackends() {
		b.Run(be.name, func(b *testing.B) {
			store, plain, blob := be.open(b)
			b.Run("SubjectKeys.Keys", func(b *testing.B) {
				sk, kek := benchSubjectKeys(b, store)
				b.ReportAllocs()
				var trips, kekCalls int64
				round := 0
				for b.Loop() {
					b.StopTimer()
					ids := newSubjectIDs(fmt.Sprint("b", round), batch)
					round++
					before, kekBefore := roundTrips.Load(), kek.n.Load()
					b.StartTimer()
					if _, err := sk.Keys(ctx, ids); err != nil {
						b.Fatal(err)
					}
					trips += roundTrips.Load() - before
					kekCalls += kek.n.Load() - kekBefore
				}
				b.ReportMetric(float64(trips)/float64(b.N), "roundtrips/op")
				b.ReportMetric(float64(kekCalls)/float64(b.N), "kekcalls/op")
				b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "subjects/s")
			})
			b.Run("floor/plainSQL", func(b *testing.B) {
				_, err := plain.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS plain_subject_keys (pseudonym `+blob+` NOT NULL, purpose TEXT NOT NULL, wrapped `+blob+`, created_at BIGINT NOT NULL, erased_at BIGINT, PRIMARY KEY (pseudonym, purpose))`)
				require.NoError(b, err)
				b.ReportAllocs()
				round := 0
				for b.Loop() {
					round++
					tx, err := plain.BeginTx(ctx, nil)
					require.NoError(b, err)
					const chunk = 5000
					for lo := 0; lo < batch; lo += chunk {
						var q strings.Builder
						q.WriteString("INSERT INTO plain_subject_keys (pseudonym, purpose, wrapped, created_at) VALUES ")
						args := make([]any, 0, 2*chunk)
						for i := range chunk {
							if i > 0 {
								q.WriteByte(',')
							}
							if blob == "BLOB" {
								q.WriteString("(?, '', ?, 1)")
							} else {
								fmt.Fprintf(&q, "($%d, '', $%d, 1)", 2*i+1, 2*i+2)
							}
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
		})
	}
}

// BenchmarkSubjectForget forgets one subject among 1,000,000 (set
// TILLID_FORGET_SUBJECTS to change it), on SQLite and PostgreSQL, beside
// its floor: a transaction that clears one key row and marks one subject
// row by their primary key, by hand. It logs the size stored per subject.
func BenchmarkSubjectForget(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("TILLID_FORGET_SUBJECTS"); v != "" {
		_, err := fmt.Sscan(v, &n)
		require.NoError(b, err)
	}
	ctx := context.Background()
	for _, be := range subjectBackends() {
		b.Run(be.name, func(b *testing.B) {
			store, plain, blob := be.open(b)
			sk, _ := benchSubjectKeys(b, store)
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
			var keyBytes float64
			require.NoError(b, plain.QueryRowContext(ctx, `SELECT AVG(LENGTH(pseudonym) + LENGTH(purpose) + LENGTH(wrapped) + 8) FROM tillid_subject_keys WHERE wrapped IS NOT NULL`).Scan(&keyBytes))
			var size int64
			if blob == "BLOB" {
				require.NoError(b, plain.QueryRowContext(ctx, `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`).Scan(&size))
			} else {
				require.NoError(b, plain.QueryRowContext(ctx, `SELECT pg_total_relation_size('tillid_subject_keys')`).Scan(&size))
			}
			b.Logf("%s: made %d subjects' keys in %v; %.1f bytes stored per subject of one key (its row, B-tree and page overhead, the index); key row payload %.1f bytes",
				be.name, n, time.Since(start).Round(time.Millisecond), float64(size)/float64(n), keyBytes)

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
				ph1, ph2 := "?", "?"
				if blob != "BLOB" {
					ph1, ph2 = "$1", "$1"
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					// Another subject each time (from the other end), the
					// same pseudonym, one key row cleared and one subject
					// row marked.
					p, err := sk.Pseudonym(ctx, fmt.Sprint("s-", n-1-(i*7919)%n))
					require.NoError(b, err)
					i++
					tx, err := plain.BeginTx(ctx, nil)
					require.NoError(b, err)
					_, err = tx.ExecContext(ctx, `UPDATE tillid_subject_keys SET wrapped = NULL, erased_at = 1 WHERE pseudonym = `+ph1+` AND purpose = ''`, p[:])
					require.NoError(b, err)
					_, err = tx.ExecContext(ctx, `UPDATE tillid_subject_keys SET erased_at = 1 WHERE pseudonym = `+ph2+` AND purpose = '*'`, p[:])
					require.NoError(b, err)
					require.NoError(b, tx.Commit())
				}
			})
		})
	}
}

func newSubjectIDs(prefix string, n int) []keys.SubjectKeyID {
	ids := make([]keys.SubjectKeyID, n)
	for i := range ids {
		ids[i] = keys.SubjectKeyID{Subject: fmt.Sprintf("%s-%d", prefix, i), Kind: keys.KindAEAD}
	}
	return ids
}

// TestSubjectKeyBytes makes 20,000 subjects of one key each, on SQLite and
// PostgreSQL, and checks that each is one row and what the table takes
// per subject on disk (SQLite: page count times page size; PostgreSQL:
// pg_total_relation_size, heap and primary-key index), with the key row's
// payload (pseudonym, purpose, wrapped seed and creation time) beside it.
func TestSubjectKeyBytes(t *testing.T) {
	const n = 20_000
	tests := []struct {
		name string
		// open returns the store, its database, its table and the query
		// of the table's size in bytes.
		open     func(t *testing.T) (keys.SubjectKeyStore, *sql.DB, string, string)
		maxBytes float64
		reason   string
	}{
		{name: "SQLite", open: func(t *testing.T) (keys.SubjectKeyStore, *sql.DB, string, string) {
			db := openSubjectSQLite(t, "sqlite", filepath.Join(t.TempDir(), "keys.db"))
			s, err := keys.OpenSQLiteSubjectKeyStore(ctx, db)
			require.NoError(t, err)
			return s, db, "tillid_subject_keys", `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`
		}, maxBytes: 120, reason: "one WITHOUT ROWID row of 89 bytes' payload and ~8 bytes of record and cell headers, B-tree pages ~88% full"},
		{name: "PostgreSQL", open: func(t *testing.T) (keys.SubjectKeyStore, *sql.DB, string, string) {
			db, err := sql.Open("pgx", pgtest.DSN(t))
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			table := fmt.Sprintf("subject_keys_%d", tableSeq.Add(1))
			s, err := keys.OpenPostgresSubjectKeyStore(ctx, db, keys.WithTable(table))
			require.NoError(t, err)
			return s, db, table, `SELECT pg_total_relation_size('` + table + `')`
		}, maxBytes: 200, reason: "a 24-byte tuple header, a 4-byte line pointer and a ~36-byte index entry per row"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, db, table, sizeQuery := tt.open(t)
			sk, err := keys.NewSubjectKeys(keys.NewMemory(), store, keys.NewMemoryLedger())
			require.NoError(t, err)
			for lo := 0; lo < n; lo += 10_000 {
				_, err := sk.Keys(ctx, newSubjectIDs(fmt.Sprint("k", lo), 10_000))
				require.NoError(t, err)
			}
			var rows int
			require.NoError(t, db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&rows))
			assert.Equal(t, n, rows, "one row per subject of one key")
			var payload float64
			require.NoError(t, db.QueryRowContext(ctx, `SELECT AVG(LENGTH(pseudonym) + LENGTH(purpose) + LENGTH(wrapped) + 8) FROM `+table+` WHERE wrapped IS NOT NULL`).Scan(&payload))
			var size int64
			require.NoError(t, db.QueryRowContext(ctx, sizeQuery).Scan(&size))
			perKey := float64(size) / n
			t.Logf("%s: %d subjects of one key: %.1f bytes on disk per key, payload %.1f bytes", tt.name, n, perKey, payload)
			assert.LessOrEqual(t, perKey, tt.maxBytes, "bytes per subject key (%s)", tt.reason)
		})
	}
}
