package stores_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/piitest"
	"github.com/tillid/tillid/retention"
)

// retentionDB is one database for the retention tests: connect opens a new
// pool to it, as another process would.
type retentionDB struct {
	name    string
	dialect retention.Dialect
	connect func(t testing.TB) *sql.DB
}

func retentionSQLite(t testing.TB) retentionDB {
	dsn := "file:" + filepath.Join(t.TempDir(), "app.db") + "?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)"
	return retentionDB{name: "sqlite", dialect: retention.SQLite, connect: func(t testing.TB) *sql.DB {
		db, err := sql.Open("sqlite", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	}}
}

func retentionPostgres(t testing.TB) retentionDB {
	dsn := pgtest.DSN(t)
	return retentionDB{name: "postgres", dialect: retention.PostgreSQL, connect: func(t testing.TB) *sql.DB {
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	}}
}

// eachRetentionDB runs f on SQLite and on PostgreSQL.
func eachRetentionDB(t *testing.T, f func(t *testing.T, rdb retentionDB)) {
	t.Run("sqlite", func(t *testing.T) { f(t, retentionSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, retentionPostgres(t)) })
}

// customers is the table of the retention tests: free-text notes and a
// phone number kept two years after creation, the whole row seven years
// after the account was closed, and a legal hold.
var customers = retention.Table{
	Name: "customers", Key: "id", Subject: "subject",
	Hold: retention.Hold{Column: "hold"},
	Rules: []retention.Rule{
		{Name: "Customer.Notes", Column: "notes", Retain: 2 * 365 * 24 * time.Hour, From: "created", Then: pii.ThenRedact},
		{Name: "Customer.Phone", Column: "phone", Retain: 2 * 365 * 24 * time.Hour, From: "created", Then: pii.ThenRedact},
		{Name: "Customer", Retain: 7 * 365 * 24 * time.Hour, From: "closed", Then: pii.ThenDelete},
	},
}

type customerRow struct {
	id      int64
	created any // time.Time or nil
	closed  any
	hold    bool
}

func createCustomers(t testing.TB, db *sql.DB, d retention.Dialect) {
	ddl := `CREATE TABLE customers (id INTEGER PRIMARY KEY, subject TEXT, created DATETIME, closed DATETIME, notes TEXT, phone TEXT, hold INTEGER)`
	if d == retention.PostgreSQL {
		ddl = `CREATE TABLE customers (id BIGINT PRIMARY KEY, subject TEXT, created TIMESTAMPTZ, closed TIMESTAMPTZ, notes TEXT, phone TEXT, hold BOOLEAN)`
	}
	_, err := db.ExecContext(ctx, ddl)
	require.NoError(t, err)
}

func insertCustomers(t testing.TB, db *sql.DB, d retention.Dialect, rows []customerRow) {
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	q := `INSERT INTO customers (id, subject, created, closed, notes, phone, hold) VALUES (?, ?, ?, ?, 'a note', '+45 1234', ?)`
	if d == retention.PostgreSQL {
		q = `INSERT INTO customers (id, subject, created, closed, notes, phone, hold) VALUES ($1, $2, $3, $4, 'a note', '+45 1234', $5)`
	}
	st, err := tx.PrepareContext(ctx, q)
	require.NoError(t, err)
	for _, r := range rows {
		var hold any = r.hold
		if d == retention.SQLite {
			hold = 0
			if r.hold {
				hold = 1
			}
		}
		_, err := st.ExecContext(ctx, r.id, fmt.Sprintf("subject-%d", r.id%7), r.created, r.closed, hold)
		require.NoError(t, err)
	}
	require.NoError(t, st.Close())
	require.NoError(t, tx.Commit())
}

// rowState reads one customer: whether it exists, and whether its notes
// and phone are still set.
func rowState(t testing.TB, db *sql.DB, d retention.Dialect, id int64) (exists, notes, phone bool) {
	q := `SELECT notes IS NOT NULL, phone IS NOT NULL FROM customers WHERE id = ?`
	if d == retention.PostgreSQL {
		q = strings.Replace(q, "?", "$1", 1)
	}
	err := db.QueryRowContext(ctx, q, id).Scan(&notes, &phone)
	if err == sql.ErrNoRows {
		return false, false, false
	}
	require.NoError(t, err)
	return true, notes, phone
}

var retentionNow = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func TestRetentionSweep(t *testing.T) {
	year := 365 * 24 * time.Hour
	cutoff := retentionNow.Add(-2 * year)
	east, west := time.FixedZone("east", 14*3600), time.FixedZone("west", -12*3600)
	tests := []struct {
		name                    string
		row                     customerRow
		wantExists, wantCleared bool
		reason                  string
	}{
		{name: "expired notes", row: customerRow{created: retentionNow.Add(-3 * year)}, wantExists: true, wantCleared: true},
		{name: "recent", row: customerRow{created: retentionNow.Add(-year)}, wantExists: true},
		{name: "null anchor", row: customerRow{created: nil}, wantExists: true, reason: "a NULL anchor never expires; it is counted"},
		{name: "future anchor", row: customerRow{created: retentionNow.Add(24 * time.Hour)}, wantExists: true},
		{name: "held", row: customerRow{created: retentionNow.Add(-3 * year), closed: retentionNow.Add(-8 * year), hold: true}, wantExists: true, reason: "a legal hold stops every rule"},
		{name: "closed long ago", row: customerRow{created: retentionNow.Add(-9 * year), closed: retentionNow.Add(-8 * year)}, wantExists: false},
		{name: "closed recently", row: customerRow{created: retentionNow.Add(-3 * year), closed: retentionNow.Add(-year)}, wantExists: true, wantCleared: true},
		{name: "due, written east", row: customerRow{created: cutoff.Add(-30 * time.Minute).In(east)}, wantExists: true, wantCleared: true,
			reason: "its wall clock reads after the cutoff; the instant is before it"},
		{name: "not due, written west", row: customerRow{created: cutoff.Add(30 * time.Minute).In(west)}, wantExists: true,
			reason: "its wall clock reads before the cutoff; the instant is after it"},
	}
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		createCustomers(t, db, rdb.dialect)
		var rows []customerRow
		for i, tt := range tests {
			tt.row.id = int64(i + 1)
			rows = append(rows, tt.row)
		}
		insertCustomers(t, db, rdb.dialect, rows)

		rep, err := retention.Report(ctx, db, rdb.dialect, customers, retentionNow)
		require.NoError(t, err)
		assert.Equal(t, int64(len(tests)), rep.Rows)
		assert.Equal(t, int64(1), rep.Held)
		assert.Equal(t, int64(4), rep.Rules[0].Due, "notes due: expired, closed recently, east, and the deleted row")
		assert.Equal(t, int64(1), rep.Rules[0].NullAnchors)
		assert.Equal(t, int64(1), rep.Rules[0].Future)
		assert.Equal(t, int64(1), rep.Rules[2].Due)
		assert.True(t, rep.Rules[0].Oldest.Equal(retentionNow.Add(-9*year)), "Oldest = %v", rep.Rules[0].Oldest)

		aud := &piitest.AuditRecorder{}
		sw, err := retention.New(ctx, db, rdb.dialect, customers, retention.WithClock(func() time.Time { return retentionNow }),
			retention.WithBatchSize(4), retention.WithAuditor(aud))
		require.NoError(t, err)
		st, err := sw.Sweep(ctx)
		require.NoError(t, err)
		for i, tt := range tests {
			exists, notes, phone := rowState(t, db, rdb.dialect, int64(i+1))
			assert.Equal(t, tt.wantExists, exists, "%s: exists (%s)", tt.name, tt.reason)
			if exists {
				assert.Equal(t, !tt.wantCleared, notes, "%s: notes kept (%s)", tt.name, tt.reason)
				assert.Equal(t, !tt.wantCleared, phone, "%s: phone kept (%s)", tt.name, tt.reason)
			}
		}
		assert.Equal(t, int64(len(tests)), st.Examined)
		assert.Equal(t, int64(1), st.Held)
		assert.Equal(t, int64(3), st.Batches)
		assert.Equal(t, int64(4), st.Rules[0].Changed, "the deleted row's notes are cleared first")
		assert.Equal(t, int64(1), st.Rules[2].Changed)
		assert.Equal(t, int64(1), st.Rules[0].NullAnchors)
		assert.Equal(t, int64(1), st.Rules[0].Future)
		events := aud.Events()
		require.Len(t, events, 3)
		var audited int64
		for _, e := range events {
			assert.Equal(t, keys.EventRetentionBatch, e.Type)
			require.NotNil(t, e.Retention)
			assert.Equal(t, "customers", e.Retention.Table)
			audited += e.Done
		}
		assert.Equal(t, st.Changed(), audited)

		again, err := sw.Sweep(ctx)
		require.NoError(t, err)
		assert.Zero(t, again.Changed(), "a second sweep changes nothing")
		assert.Equal(t, int64(1), again.Held)
	})
}

// manyExpired inserts n customers created three years ago (notes due).
func manyExpired(t testing.TB, db *sql.DB, d retention.Dialect, n int) {
	rows := make([]customerRow, n)
	for i := range rows {
		rows[i] = customerRow{id: int64(i + 1), created: retentionNow.Add(-3 * 365 * 24 * time.Hour)}
	}
	insertCustomers(t, db, d, rows)
}

func countNotes(t testing.TB, db *sql.DB) int64 {
	var n int64
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM customers WHERE notes IS NOT NULL`).Scan(&n))
	return n
}

func fixedClock() retention.Option {
	return retention.WithClock(func() time.Time { return retentionNow })
}

func TestRetentionResumeAfterCancel(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		createCustomers(t, db, rdb.dialect)
		manyExpired(t, db, rdb.dialect, 100)
		cctx, cancel := context.WithCancel(ctx)
		sw, err := retention.New(ctx, rdb.connect(t), rdb.dialect, customers, fixedClock(), retention.WithBatchSize(10),
			retention.WithWorker("w1"), retention.WithProgress(func(s retention.Stats) {
				if s.Batches == 3 {
					cancel() // Ctrl-C
				}
			}))
		require.NoError(t, err)
		first, err := sw.Sweep(cctx)
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, int64(30), first.Rules[0].Changed)
		assert.Equal(t, int64(70), countNotes(t, db))

		sw2, err := retention.New(ctx, rdb.connect(t), rdb.dialect, customers, fixedClock(), retention.WithBatchSize(10), retention.WithWorker("w1"))
		require.NoError(t, err)
		rest, err := sw2.Sweep(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(70), rest.Rules[0].Changed, "the rerun resumes: no row done twice")
		assert.Equal(t, int64(70), rest.Examined, "the rerun starts at the checkpoint")
		assert.Zero(t, countNotes(t, db))
	})
}

func TestRetentionOutage(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		createCustomers(t, db, rdb.dialect)
		manyExpired(t, db, rdb.dialect, 100)
		lost := rdb.connect(t)
		sw, err := retention.New(ctx, lost, rdb.dialect, customers, fixedClock(), retention.WithBatchSize(10),
			retention.WithWorker("w1"), retention.WithProgress(func(s retention.Stats) {
				if s.Batches == 4 {
					lost.Close() // the database goes away
				}
			}))
		require.NoError(t, err)
		_, err = sw.Sweep(ctx)
		require.Error(t, err)
		assert.Equal(t, int64(60), countNotes(t, db), "committed batches stay done")

		sw2, err := retention.New(ctx, rdb.connect(t), rdb.dialect, customers, fixedClock(), retention.WithBatchSize(10), retention.WithWorker("w1"))
		require.NoError(t, err)
		rest, err := sw2.Sweep(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(60), rest.Rules[0].Changed)
		assert.Zero(t, countNotes(t, db), "the rerun finishes")
	})
}

func TestRetentionTakeOver(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		createCustomers(t, db, rdb.dialect)
		manyExpired(t, db, rdb.dialect, 50)
		// A worker does the first batch and is killed.
		now := retentionNow
		clock := retention.WithClock(func() time.Time { return now })
		leaseClock := retention.WithLeaseClock(func() time.Time { return now })
		dead, err := retention.New(ctx, rdb.connect(t), rdb.dialect, customers, clock, leaseClock, retention.WithBatchSize(10),
			retention.WithWorker("dead"), retention.WithLease(time.Minute), retention.WithProgress(func(retention.Stats) { panic("killed") }))
		require.NoError(t, err)
		func() {
			defer func() { recover() }()
			dead.Sweep(ctx)
		}()
		// Killed between claiming its second batch and doing it, it would
		// leave this lease and cursor behind: write them as its claim would.
		lo, hi := "11", "20"
		q := `UPDATE tillid_retention_runs SET cursor_key = '20' WHERE job = 'customers'`
		_, err = db.ExecContext(ctx, q)
		require.NoError(t, err)
		ins := `INSERT INTO tillid_retention_leases (job, lo, hi, owner, until_ns) VALUES ('customers', ?, ?, 'dead', ?)`
		if rdb.dialect == retention.PostgreSQL {
			ins = `INSERT INTO tillid_retention_leases (job, lo, hi, owner, until_ns) VALUES ('customers', $1, $2, 'dead', $3)`
		}
		_, err = db.ExecContext(ctx, ins, lo, hi, now.Add(time.Minute).UnixNano())
		require.NoError(t, err)
		require.Equal(t, int64(40), countNotes(t, db))

		other, err := retention.New(ctx, rdb.connect(t), rdb.dialect, customers, clock, leaseClock, retention.WithBatchSize(10), retention.WithWorker("other"),
			retention.WithNoWait())
		require.NoError(t, err)
		st, err := other.Sweep(ctx)
		var inc *retention.IncompleteError
		require.ErrorAs(t, err, &inc, "a sweep told not to wait, leaving a live lease, says so")
		assert.ErrorIs(t, err, retention.ErrIncomplete)
		assert.NoError(t, inc.Err, "not waiting is no context error")
		assert.Equal(t, int64(1), inc.Leased)
		assert.Equal(t, now.Add(time.Minute), inc.Until.In(time.UTC))
		assert.Equal(t, int64(30), st.Rules[0].Changed, "the live lease is left to its worker")
		assert.Equal(t, int64(10), countNotes(t, db))

		now = now.Add(2 * time.Minute) // the dead worker's lease runs out
		st, err = other.Sweep(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(10), st.Rules[0].Changed, "the dead worker's batch is taken over")
		assert.Zero(t, countNotes(t, db))

		st, err = other.Sweep(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(50), st.Examined, "the run ended; a new one starts from the first key")
		assert.Zero(t, st.Changed())
	})
}

func TestRetentionConcurrentWriter(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		createCustomers(t, db, rdb.dialect)
		const n = 400
		manyExpired(t, db, rdb.dialect, n)
		// The application renews customers while the sweep runs: each
		// renewed row gets a fresh creation time and new notes, which the
		// sweep must not clear.
		upd := `UPDATE customers SET created = ?, notes = 'renewed' WHERE id = ?`
		if rdb.dialect == retention.PostgreSQL {
			upd = `UPDATE customers SET created = $1, notes = 'renewed' WHERE id = $2`
		}
		app := rdb.connect(t)
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := int64(n); id > 0; id -= 3 {
				select {
				case <-done:
					return
				default:
				}
				_, err := app.ExecContext(ctx, upd, retentionNow, id)
				assert.NoError(t, err)
			}
		}()
		sw, err := retention.New(ctx, rdb.connect(t), rdb.dialect, customers, fixedClock(), retention.WithBatchSize(7))
		require.NoError(t, err)
		_, err = sw.Sweep(ctx)
		close(done)
		wg.Wait()
		require.NoError(t, err)
		var clobbered int64
		q := `SELECT count(*) FROM customers WHERE created = ? AND notes IS NULL`
		if rdb.dialect == retention.PostgreSQL {
			q = `SELECT count(*) FROM customers WHERE created = $1 AND notes IS NULL`
		}
		require.NoError(t, db.QueryRowContext(ctx, q, retentionNow).Scan(&clobbered))
		assert.Zero(t, clobbered, "a renewed row is re-checked, never cleared")
		_, err = sw.Sweep(ctx)
		require.NoError(t, err)
		var stale int64
		q = strings.Replace(q, "created =", "created <>", 1)
		q = strings.Replace(q, "notes IS NULL", "notes IS NOT NULL", 1)
		require.NoError(t, db.QueryRowContext(ctx, q, retentionNow).Scan(&stale))
		assert.Zero(t, stale, "every row not renewed is cleared")
	})
}

func TestRetentionDeleteAllNeedsConfirmation(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		createCustomers(t, db, rdb.dialect)
		rows := []customerRow{{id: 1, closed: retentionNow.Add(-8 * 365 * 24 * time.Hour)}, {id: 2, closed: retentionNow.Add(-9 * 365 * 24 * time.Hour)}}
		insertCustomers(t, db, rdb.dialect, rows)
		sw, err := retention.New(ctx, db, rdb.dialect, customers, fixedClock())
		require.NoError(t, err)
		_, err = sw.Sweep(ctx)
		require.ErrorIs(t, err, retention.ErrWouldDeleteAll)
		exists, _, _ := rowState(t, db, rdb.dialect, 1)
		assert.True(t, exists, "a refused sweep deletes nothing")

		sw, err = retention.New(ctx, db, rdb.dialect, customers, fixedClock(), retention.WithConfirmDeleteAll())
		require.NoError(t, err)
		st, err := sw.Sweep(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(2), st.Rules[2].Changed)
	})
}

type recordingShredder struct {
	mu    sync.Mutex
	calls []string
}

func (s *recordingShredder) Shred(_ context.Context, subject, purpose string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, subject+"/"+purpose)
	return nil
}

func TestRetentionShred(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		createCustomers(t, db, rdb.dialect)
		manyExpired(t, db, rdb.dialect, 14) // subjects subject-0 .. subject-6, twice each
		table := customers
		table.Rules = []retention.Rule{{Name: "Customer.Interests", Retain: 365 * 24 * time.Hour, From: "created", Then: pii.ThenShred, Purpose: "marketing"}}
		_, err := retention.New(ctx, db, rdb.dialect, table, fixedClock())
		require.ErrorContains(t, err, "WithShredder")
		sh := &recordingShredder{}
		sw, err := retention.New(ctx, db, rdb.dialect, table, fixedClock(), retention.WithShredder(sh))
		require.NoError(t, err)
		st, err := sw.Sweep(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(14), st.Rules[0].Changed)
		assert.Len(t, sh.calls, 7, "each subject is withdrawn once per batch")
		assert.Contains(t, sh.calls, "subject-3/marketing")
	})
}

// TestRetentionWorkersShareOneSweep starts three workers of one job at
// once: each batch is done by one of them, and every one of them returns a
// complete sweep (those that run out of free ranges first wait for the
// others' last batches).
func TestRetentionWorkersShareOneSweep(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		createCustomers(t, db, rdb.dialect)
		const n = 3000
		manyExpired(t, db, rdb.dialect, n)
		var wg sync.WaitGroup
		stats := make([]retention.Stats, 3)
		errs := make([]error, 3)
		for i := range stats {
			sw, err := retention.New(ctx, rdb.connect(t), rdb.dialect, customers, fixedClock(), retention.WithBatchSize(50),
				retention.WithWorker(fmt.Sprintf("w%d", i)), retention.WithPoll(5*time.Millisecond, nil))
			require.NoError(t, err)
			wg.Go(func() { stats[i], errs[i] = sw.Sweep(ctx) })
		}
		wg.Wait()
		var examined, changed int64
		for i, st := range stats {
			assert.NoError(t, errs[i], "worker %d: a worker that finishes first waits for the others, it does not fail", i)
			examined += st.Examined
			changed += st.Rules[0].Changed
		}
		var active, runs int64
		require.NoError(t, db.QueryRowContext(ctx, `SELECT active, finished FROM tillid_retention_runs WHERE job = 'customers'`).Scan(&active, &runs))
		assert.Zero(t, active, "the run is finished")
		// A worker scheduled after the others finished the run starts a
		// new one, which examines every row again and changes nothing.
		assert.Equal(t, n*runs, examined, "every row examined once per run (%d runs)", runs)
		assert.Equal(t, int64(n), changed, "every value cleared once")
		assert.Zero(t, countNotes(t, db))
	})
}

// deadLease leaves the state of a worker "dead" killed after claiming keys
// 11-20 and before doing them, its lease running out at until: the first
// batch done, the cursor at 21.
func deadLease(t *testing.T, rdb retentionDB, db *sql.DB, until time.Time) {
	_, err := db.ExecContext(ctx, `UPDATE customers SET notes = NULL WHERE id <= 10`)
	require.NoError(t, err)
	q := `INSERT INTO tillid_retention_runs (job, cursor_key, exhausted, active, finished, started_ns) VALUES ('customers', '20', 0, 1, 0, 1)`
	_, err = db.ExecContext(ctx, q)
	require.NoError(t, err)
	ins := `INSERT INTO tillid_retention_leases (job, lo, hi, owner, until_ns) VALUES ('customers', '11', '20', 'dead', ?)`
	if rdb.dialect == retention.PostgreSQL {
		ins = strings.Replace(ins, "?", "$1", 1)
	}
	_, err = db.ExecContext(ctx, ins, until.UnixNano())
	require.NoError(t, err)
}

// TestRetentionWaitsForKilledWorker: a worker that runs out of free ranges
// while a killed worker's lease is live waits, on the Sweeper's clock, until
// the lease runs out, takes the range over and returns a complete sweep;
// it reports NOT COMPLETE only when its context ends first.
func TestRetentionWaitsForKilledWorker(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		for _, tt := range []struct {
			name       string
			cancel     bool
			wantErr    error
			wantNotes  int64
			wantWaited time.Duration
			reason     string
		}{
			{name: "lease runs out", wantNotes: 0, wantWaited: time.Minute, reason: "the dead range is taken over once its lease runs out, not before"},
			{name: "context ends", cancel: true, wantErr: context.Canceled, wantNotes: 10, reason: "the live lease is left; the sweep says NOT COMPLETE"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				db := rdb.connect(t)
				for _, tb := range []string{"customers", "tillid_retention_leases", "tillid_retention_runs"} {
					_, err := db.ExecContext(ctx, `DROP TABLE IF EXISTS `+tb)
					require.NoError(t, err)
				}
				createCustomers(t, db, rdb.dialect)
				manyExpired(t, db, rdb.dialect, 50)
				start := retentionNow
				now := start
				_, err := retention.New(ctx, db, rdb.dialect, customers) // the checkpoint tables
				require.NoError(t, err)
				deadLease(t, rdb, db, start.Add(time.Minute))
				// Waiting moves the Sweeper's clock: a simulated minute
				// passes in a few polls.
				after := func(d time.Duration) <-chan time.Time {
					now = now.Add(d)
					c := make(chan time.Time, 1)
					c <- now
					return c
				}
				wctx, cancel := context.WithCancel(ctx)
				defer cancel()
				waits := 0
				sw, err := retention.New(ctx, rdb.connect(t), rdb.dialect, customers, retention.WithClock(func() time.Time { return now }),
					retention.WithLeaseClock(func() time.Time { return now }),
					retention.WithBatchSize(10), retention.WithWorker("other"), retention.WithPoll(10*time.Second, after),
					retention.WithWaiting(func(leased int64, until time.Time) {
						waits++
						assert.Equal(t, int64(1), leased)
						assert.True(t, until.Equal(start.Add(time.Minute)), "until = %v", until)
						if tt.cancel {
							cancel()
						}
					}))
				require.NoError(t, err)
				st, err := sw.Sweep(wctx)
				if tt.wantErr != nil {
					var inc *retention.IncompleteError
					require.ErrorAs(t, err, &inc, tt.reason)
					assert.ErrorIs(t, err, retention.ErrIncomplete)
					assert.ErrorIs(t, err, tt.wantErr)
					assert.Contains(t, err.Error(), "NOT COMPLETE")
				} else {
					require.NoError(t, err, tt.reason)
					assert.Equal(t, int64(40), st.Rules[0].Changed, "the free ranges and the taken-over one, each once")
					assert.GreaterOrEqual(t, now.Sub(start), tt.wantWaited, tt.reason)
					assert.Less(t, now.Sub(start), tt.wantWaited+11*time.Second, "no wait overshoots the lease by more than a poll")
				}
				assert.Positive(t, waits)
				assert.Equal(t, tt.wantNotes, countNotes(t, db), tt.reason)
			})
		}
	})
}

// TestRetentionKilledMidBatch kills a worker inside its batch's
// transaction (its shredder sees the kill): nothing of the batch commits,
// and another worker does the whole batch once the lease runs out.
func TestRetentionKilledMidBatch(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		createCustomers(t, db, rdb.dialect)
		const n = 30
		manyExpired(t, db, rdb.dialect, n)
		table := customers
		table.Rules = []retention.Rule{
			{Name: "Customer.Interests", Retain: 365 * 24 * time.Hour, From: "created", Then: pii.ThenShred, Purpose: "marketing"},
			table.Rules[0],
		}
		now := retentionNow
		clock := retention.WithClock(func() time.Time { return now })
		leaseClock := retention.WithLeaseClock(func() time.Time { return now })
		kctx, kill := context.WithCancel(ctx)
		dying, err := retention.New(ctx, rdb.connect(t), rdb.dialect, table, clock, leaseClock, retention.WithBatchSize(10), retention.WithLease(time.Minute),
			retention.WithWorker("dying"), retention.WithShredder(retention.ShredFunc(func(ctx context.Context, _, _ string) error {
				kill()
				return ctx.Err()
			})))
		require.NoError(t, err)
		_, err = dying.Sweep(kctx)
		require.Error(t, err)
		assert.Equal(t, int64(n), countNotes(t, db), "the killed batch committed nothing")

		now = now.Add(2 * time.Minute)
		sh := &recordingShredder{}
		other, err := retention.New(ctx, rdb.connect(t), rdb.dialect, table, clock, leaseClock, retention.WithBatchSize(10), retention.WithWorker("other"), retention.WithShredder(sh))
		require.NoError(t, err)
		st, err := other.Sweep(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(n), st.Rules[1].Changed, "every value cleared once")
		assert.Equal(t, int64(n), st.Examined, "the dead worker's batch taken over, no batch twice")
		assert.Zero(t, countNotes(t, db))
		assert.Len(t, sh.calls, 3*7, "each batch's seven subjects withdrawn")
	})
}

// TestRetentionRun drives the in-process schedule with its own ticks: each
// tick sweeps again, with the Sweeper's clock.
func TestRetentionRun(t *testing.T) {
	rdb := retentionSQLite(t)
	db := rdb.connect(t)
	createCustomers(t, db, rdb.dialect)
	// Held by a time on this table: a nullable timestamp column.
	_, err := db.ExecContext(ctx, `ALTER TABLE customers ADD COLUMN held_since DATETIME`)
	require.NoError(t, err)
	manyExpired(t, db, rdb.dialect, 5)
	_, err = db.ExecContext(ctx, `UPDATE customers SET held_since = ? WHERE id = 5`, retentionNow)
	require.NoError(t, err)
	table := customers
	table.Hold = retention.Hold{Column: "held_since", Time: true}
	var mu sync.Mutex
	var sweeps []retention.Stats
	sw, err := retention.New(ctx, db, rdb.dialect, table, fixedClock(), retention.WithProgress(func(s retention.Stats) {
		mu.Lock()
		sweeps = append(sweeps, s)
		mu.Unlock()
	}))
	require.NoError(t, err)
	ticks := make(chan time.Time)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		done <- sw.Run(rctx, time.Hour, func(d time.Duration) <-chan time.Time {
			assert.Equal(t, time.Hour, d)
			return ticks
		}, func(err error) { t.Error(err) })
	}()
	ticks <- retentionNow // the first sweep ran; this starts the second
	insertCustomers(t, db, rdb.dialect, []customerRow{{id: 6, created: retentionNow.Add(-3 * 365 * 24 * time.Hour)}})
	ticks <- retentionNow // the second ran (it may or may not have seen row 6); start a third
	ticks <- retentionNow // the third, begun after the insert, ran
	stop()
	require.ErrorIs(t, <-done, context.Canceled)
	assert.Equal(t, int64(1), countNotes(t, db), "everything but the held row cleared")
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, sweeps)
	assert.Equal(t, int64(4), sweeps[0].Rules[0].Changed)
	assert.Equal(t, int64(1), sweeps[0].Held)
}

// TestRetentionFailedBatchReleasesLease: a batch cancelled (Ctrl-C) or failed
// by a database error gives its lease back, so the next run, under another
// worker name and with the clock standing still, does the whole rest at
// once and reports a complete sweep.
func TestRetentionFailedBatchReleasesLease(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		for _, fail := range []string{"cancel", "sql error"} {
			t.Run(fail, func(t *testing.T) {
				db := rdb.connect(t)
				_, err := db.ExecContext(ctx, `DROP TABLE IF EXISTS customers`)
				require.NoError(t, err)
				_, err = db.ExecContext(ctx, `DROP TABLE IF EXISTS tillid_retention_leases`)
				require.NoError(t, err)
				_, err = db.ExecContext(ctx, `DROP TABLE IF EXISTS tillid_retention_runs`)
				require.NoError(t, err)
				createCustomers(t, db, rdb.dialect)
				manyExpired(t, db, rdb.dialect, 50)
				table := customers
				table.Rules = []retention.Rule{
					{Name: "Customer.Interests", Retain: 365 * 24 * time.Hour, From: "created", Then: pii.ThenShred, Purpose: "marketing"},
					table.Rules[0],
				}
				kctx, kill := context.WithCancel(ctx)
				defer kill()
				dying, err := retention.New(ctx, rdb.connect(t), rdb.dialect, table, fixedClock(), retention.WithBatchSize(10),
					retention.WithWorker("dying"), retention.WithShredder(retention.ShredFunc(func(ctx context.Context, _, _ string) error {
						if fail == "cancel" {
							kill()
							return ctx.Err()
						}
						return fmt.Errorf("a constraint failed")
					})))
				require.NoError(t, err)
				_, err = dying.Sweep(kctx)
				require.Error(t, err)
				var held int
				require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM tillid_retention_leases WHERE until_ns > 0`).Scan(&held))
				assert.Zero(t, held, "the failed batch's lease is released")

				other, err := retention.New(ctx, rdb.connect(t), rdb.dialect, table, fixedClock(), retention.WithBatchSize(10),
					retention.WithWorker("other"), retention.WithShredder(&recordingShredder{}))
				require.NoError(t, err)
				st, err := other.Sweep(ctx)
				require.NoError(t, err, "the rerun finishes the sweep")
				assert.Equal(t, int64(50), st.Examined)
				assert.Zero(t, countNotes(t, db))
			})
		}
	})
}

// TestRetentionChecksColumns: every column a Table names must exist (SQLite
// would read a double-quoted unknown name as a string literal), a column has
// one rule, and the key must be an integer.
func TestRetentionChecksColumns(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		createCustomers(t, db, rdb.dialect)
		with := func(f func(*retention.Table)) retention.Table {
			tb := customers
			tb.Rules = append([]retention.Rule(nil), customers.Rules...)
			f(&tb)
			return tb
		}
		tests := []struct {
			name   string
			table  retention.Table
			want   string
			reason string
		}{
			{"anchor", with(func(tb *retention.Table) { tb.Rules[0].From = "nosuch" }), `no column "nosuch" (the from column of rule Customer.Notes)`, "a mistyped anchor"},
			{"record anchor", with(func(tb *retention.Table) { tb.Rules[2].From = "closd" }), `no column "closd"`, "a mistyped record anchor"},
			{"cleared", with(func(tb *retention.Table) { tb.Rules[0].Column = "nots" }), `no column "nots"`, "a mistyped cleared column"},
			{"hold", with(func(tb *retention.Table) { tb.Hold.Column = "legal_hodl" }), `no column "legal_hodl" (the hold column)`, "a mistyped hold"},
			{"key", with(func(tb *retention.Table) { tb.Key = "idd" }), `no column "idd" (the key column)`, "a mistyped key"},
			{"time key", with(func(tb *retention.Table) { tb.Key = "created" }), "the key must be an integer, text or uuid column", "a key of another type"},
			{"table", with(func(tb *retention.Table) { tb.Name = "customer" }), "table customer not found", "a mistyped table"},
			{"two rules", with(func(tb *retention.Table) { tb.Rules[1].Column = "notes" }), "both clear column notes", "two rules on one column"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := retention.New(ctx, db, rdb.dialect, tt.table, fixedClock())
				require.Error(t, err, tt.reason)
				assert.Contains(t, err.Error(), tt.want, tt.reason)
				_, err = retention.Report(ctx, db, rdb.dialect, tt.table, retentionNow)
				require.Error(t, err, tt.reason)
				assert.Contains(t, err.Error(), tt.want, tt.reason)
			})
		}
	})
}

// TestRetentionTextKeys sweeps tables whose primary key is text or a uuid
// (SQLite: a WITHOUT ROWID table) with two workers at once: the key ranges
// follow the key's own order, every row is examined once per run and every
// due value cleared once.
func TestRetentionTextKeys(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		types := []string{"TEXT"}
		if rdb.dialect == retention.PostgreSQL {
			types = append(types, "UUID", "VARCHAR(40)")
		}
		for i, typ := range types {
			t.Run(typ, func(t *testing.T) {
				db := rdb.connect(t)
				name := fmt.Sprintf("keyed%d", i)
				ddl := `CREATE TABLE ` + name + ` (k ` + typ + ` PRIMARY KEY, created TIMESTAMPTZ, notes TEXT)`
				ins := `INSERT INTO ` + name + ` VALUES ($1, $2, 'a note')`
				if rdb.dialect == retention.SQLite {
					ddl = `CREATE TABLE ` + name + ` (k TEXT PRIMARY KEY, created DATETIME, notes TEXT) WITHOUT ROWID`
					ins = `INSERT INTO ` + name + ` VALUES (?, ?, 'a note')`
				}
				_, err := db.ExecContext(ctx, ddl)
				require.NoError(t, err)
				const n = 95
				for j := range n {
					key := fmt.Sprintf("cust-%d", j) // "cust-10" sorts before "cust-2"
					if typ == "UUID" {
						key = fmt.Sprintf("%08x-0000-4000-8000-%012x", (j*7919)%100000, j)
					}
					_, err := db.ExecContext(ctx, ins, key, retentionNow.Add(-3*365*24*time.Hour))
					require.NoError(t, err)
				}
				table := retention.Table{Name: name, Key: "k", Rules: []retention.Rule{{Column: "notes", Retain: 365 * 24 * time.Hour, From: "created", Then: pii.ThenRedact}}}
				var wg sync.WaitGroup
				stats := make([]retention.Stats, 2)
				for w := range stats {
					sw, err := retention.New(ctx, rdb.connect(t), rdb.dialect, table, fixedClock(), retention.WithBatchSize(10),
						retention.WithWorker(fmt.Sprintf("w%d", w)), retention.WithPoll(5*time.Millisecond, nil))
					require.NoError(t, err)
					wg.Go(func() {
						var err error
						stats[w], err = sw.Sweep(ctx)
						assert.NoError(t, err)
					})
				}
				wg.Wait()
				var runs, examined, changed int64
				require.NoError(t, db.QueryRowContext(ctx, `SELECT finished FROM tillid_retention_runs WHERE job = '`+name+`'`).Scan(&runs))
				for _, st := range stats {
					examined += st.Examined
					changed += st.Rules[0].Changed
				}
				assert.Equal(t, n*runs, examined, "every row examined once per run")
				assert.Equal(t, int64(n), changed, "every value cleared once")
				var left int64
				require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM `+name+` WHERE notes IS NOT NULL`).Scan(&left))
				assert.Zero(t, left)
			})
		}
		if rdb.dialect == retention.SQLite {
			db := rdb.connect(t)
			_, err := db.ExecContext(ctx, `CREATE TABLE norowid (k TEXT PRIMARY KEY, created DATETIME, notes TEXT) WITHOUT ROWID`)
			require.NoError(t, err)
			rule := []retention.Rule{{Column: "notes", Retain: 365 * 24 * time.Hour, From: "created", Then: pii.ThenRedact}}
			_, err = retention.New(ctx, db, retention.SQLite, retention.Table{Name: "norowid", Key: "rowid", Rules: rule})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "WITHOUT ROWID, so it has no rowid")
		}
	})
}

// TestRetentionDeleteAllEveryRun: the every-row guard holds on a later run
// too: lifting the last hold after a first sweep must not delete the rest
// without confirmation.
func TestRetentionDeleteAllEveryRun(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		createCustomers(t, db, rdb.dialect)
		closed := retentionNow.Add(-8 * 365 * 24 * time.Hour)
		insertCustomers(t, db, rdb.dialect, []customerRow{{id: 1, closed: closed}, {id: 2, closed: closed, hold: true}, {id: 3}})
		sw, err := retention.New(ctx, db, rdb.dialect, customers, fixedClock())
		require.NoError(t, err)
		_, err = sw.Sweep(ctx)
		require.NoError(t, err, "row 3 stays: not every row")
		_, err = db.ExecContext(ctx, `DELETE FROM customers WHERE id = 3`)
		require.NoError(t, err)
		lift := `UPDATE customers SET hold = 0`
		if rdb.dialect == retention.PostgreSQL {
			lift = `UPDATE customers SET hold = false`
		}
		_, err = db.ExecContext(ctx, lift)
		require.NoError(t, err)
		_, err = sw.Sweep(ctx)
		require.ErrorIs(t, err, retention.ErrWouldDeleteAll, "a later run deleting every row needs confirmation too")
		exists, _, _ := rowState(t, db, rdb.dialect, 2)
		assert.True(t, exists)
	})
}

// TestRetentionRedactRulesShareOneUpdate: redact rules of different periods
// clear their columns in one UPDATE per batch, each counted exactly: a
// value already cleared is not counted again when another column of its
// row is due, and a rule clearing another's anchor runs on its own first.
func TestRetentionRedactRulesShareOneUpdate(t *testing.T) {
	year := 365 * 24 * time.Hour
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		createCustomers(t, db, rdb.dialect)
		insertCustomers(t, db, rdb.dialect, []customerRow{
			{id: 1, created: retentionNow.Add(-5 * year)}, // both due
			{id: 2, created: retentionNow.Add(-3 * year)}, // notes due
			{id: 3, created: retentionNow.Add(-5 * year)}, // notes already cleared: phone due
			{id: 4, created: retentionNow.Add(-year)},     // neither
		})
		_, err := db.ExecContext(ctx, `UPDATE customers SET notes = NULL WHERE id = 3`)
		require.NoError(t, err)
		table := customers
		table.Rules = []retention.Rule{
			{Column: "notes", Retain: 2 * year, From: "created", Then: pii.ThenRedact},
			{Column: "phone", Retain: 4 * year, From: "created", Then: pii.ThenRedact},
		}
		sw, err := retention.New(ctx, db, rdb.dialect, table, fixedClock())
		require.NoError(t, err)
		st, err := sw.Sweep(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(2), st.Rules[0].Changed, "notes of rows 1 and 2; row 3's was already cleared")
		assert.Equal(t, int64(2), st.Rules[1].Changed, "phones of rows 1 and 3")
		for id, want := range map[int64][2]bool{1: {false, false}, 2: {false, true}, 3: {false, false}, 4: {true, true}} {
			_, notes, phone := rowState(t, db, rdb.dialect, id)
			assert.Equal(t, want, [2]bool{notes, phone}, "row %d: notes, phone kept", id)
		}

		// A rule that clears the anchor of the next one runs first, on its
		// own: the next rule then sees a NULL anchor and clears nothing.
		insertCustomers(t, db, rdb.dialect, []customerRow{{id: 5, created: retentionNow.Add(-5 * year), closed: retentionNow.Add(-5 * year)}})
		table.Rules = []retention.Rule{
			{Column: "closed", Retain: 2 * year, From: "created", Then: pii.ThenRedact},
			{Column: "phone", Retain: 2 * year, From: "closed", Then: pii.ThenRedact},
		}
		sw, err = retention.New(ctx, db, rdb.dialect, table, fixedClock())
		require.NoError(t, err)
		st, err = sw.Sweep(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(1), st.Rules[0].Changed)
		assert.Zero(t, st.Rules[1].Changed, "its anchor was cleared before it ran")
		_, _, phone := rowState(t, db, rdb.dialect, 5)
		assert.True(t, phone)
	})
}

// TestRetentionTwoWorkersAndAKilledOne: two workers sweep at once beside
// the lease a killed worker left; both wait for it on their (shared,
// simulated) clock, one takes the range over when the lease runs out, and
// both return a complete sweep with every value cleared once.
func TestRetentionTwoWorkersAndAKilledOne(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		createCustomers(t, db, rdb.dialect)
		manyExpired(t, db, rdb.dialect, 200)
		_, err := retention.New(ctx, db, rdb.dialect, customers) // the checkpoint tables
		require.NoError(t, err)
		deadLease(t, rdb, db, retentionNow.Add(time.Minute))
		var clock atomic.Int64
		clock.Store(retentionNow.UnixNano())
		now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
		after := func(d time.Duration) <-chan time.Time {
			c := make(chan time.Time, 1)
			c <- time.Unix(0, clock.Add(int64(d))).UTC()
			return c
		}
		var wg sync.WaitGroup
		stats := make([]retention.Stats, 2)
		for i := range stats {
			sw, err := retention.New(ctx, rdb.connect(t), rdb.dialect, customers, retention.WithClock(now), retention.WithLeaseClock(now), retention.WithBatchSize(10),
				retention.WithWorker(fmt.Sprintf("w%d", i)), retention.WithPoll(10*time.Second, after))
			require.NoError(t, err)
			wg.Go(func() {
				var err error
				stats[i], err = sw.Sweep(ctx)
				assert.NoError(t, err, "worker %d", i)
			})
		}
		wg.Wait()
		assert.Equal(t, int64(190), stats[0].Rules[0].Changed+stats[1].Rules[0].Changed, "the free ranges and the dead one, each value once")
		assert.GreaterOrEqual(t, now().Sub(retentionNow), time.Minute, "the dead range waited for its lease to run out")
		assert.Zero(t, countNotes(t, db))
	})
}
