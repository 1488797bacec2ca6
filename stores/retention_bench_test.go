package stores_test

import (
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/retention"
)

// benchRows is the table size of the sweep benchmarks: 1,000,000 unless
// TILLID_BENCH_ROWS says otherwise.
func benchRows(b *testing.B) int64 {
	n := int64(1_000_000)
	if s := os.Getenv("TILLID_BENCH_ROWS"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		require.NoError(b, err)
		n = v
	}
	return n
}

// twoColumns is the benchmark's rule: notes and phone cleared two years
// after creation.
var twoColumns = retention.Table{Name: "customers", Key: "id", Rules: []retention.Rule{
	{Column: "notes", Retain: 2 * 365 * 24 * time.Hour, From: "created", Then: pii.ThenRedact},
	{Column: "phone", Retain: 2 * 365 * 24 * time.Hour, From: "created", Then: pii.ThenRedact},
}}

// fillCustomers writes n customers, one in ten created three years ago
// (due) and the others one year ago, in one statement.
func fillCustomers(b testing.TB, db *sql.DB, d retention.Dialect, n int64) {
	createCustomers(b, db, d)
	old, recent := retentionNow.Add(-3*365*24*time.Hour), retentionNow.Add(-365*24*time.Hour)
	q := `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?)
		INSERT INTO customers SELECT x, 'subject-' || (x % 7), CASE WHEN x % 10 = 0 THEN ? ELSE ? END, NULL, 'a note', '+45 1234', 0 FROM c`
	if d == retention.PostgreSQL {
		q = `INSERT INTO customers SELECT x, 'subject-' || (x % 7), CASE WHEN x % 10 = 0 THEN $2::timestamptz ELSE $3::timestamptz END, NULL, 'a note', '+45 1234', false FROM generate_series(1, $1::bigint) AS x`
	}
	_, err := db.ExecContext(ctx, q, n, old, recent)
	require.NoError(b, err)
	if d == retention.PostgreSQL {
		_, err = db.ExecContext(ctx, `VACUUM ANALYZE customers`)
		require.NoError(b, err)
	}
	_, err = retention.New(ctx, db, d, twoColumns) // creates the checkpoint tables
	require.NoError(b, err)
}

// refill sets the cleared values again, for the next iteration. On
// PostgreSQL it then vacuums the table (untimed), so that the dead rows of
// the last sweep and of the refill neither slow the next sweep nor start
// an autovacuum beside it.
func refill(b testing.TB, db *sql.DB, d retention.Dialect) {
	_, err := db.ExecContext(ctx, `UPDATE customers SET notes = 'a note', phone = '+45 1234' WHERE notes IS NULL OR phone IS NULL`)
	require.NoError(b, err)
	_, err = db.ExecContext(ctx, `DELETE FROM tillid_retention_runs`)
	require.NoError(b, err)
	if d == retention.PostgreSQL {
		_, err = db.ExecContext(ctx, `VACUUM customers`)
		require.NoError(b, err)
	}
}

// benchmarkSweep fills the table, then times sweeps by each number of
// workers, then the floor.
func benchmarkSweep(b *testing.B, rdb retentionDB, workers ...int) {
	n := benchRows(b)
	db := rdb.connect(b)
	fillCustomers(b, db, rdb.dialect, n)
	if rdb.dialect == retention.PostgreSQL {
		// A first, untimed sweep reads every fresh page (setting
		// PostgreSQL's hint bits), which no later sweep pays again.
		warm, err := retention.New(ctx, db, rdb.dialect, twoColumns, fixedClock())
		require.NoError(b, err)
		_, err = warm.Sweep(ctx)
		require.NoError(b, err)
	}
	for _, w := range workers {
		benchSweepWorkers(b, rdb, db, w)
	}
	// The floor: the same change by hand, one UPDATE over the whole table
	// in one transaction (neither batched nor resumable nor counted).
	b.Run("floor/one-update", func(b *testing.B) {
		b.ReportAllocs()
		q := `UPDATE customers SET notes = NULL, phone = NULL WHERE julianday(created) <= ?`
		var arg any = float64(retentionNow.Add(-2*365*24*time.Hour).UnixMicro())/(86400*1e6) + 2440587.5
		if rdb.dialect == retention.PostgreSQL {
			q = `UPDATE customers SET notes = NULL, phone = NULL WHERE created <= $1`
			arg = retentionNow.Add(-2 * 365 * 24 * time.Hour)
		}
		if rdb.dialect == retention.SQLite {
			// The floor reads the same text as the sweep does (the form
			// modernc.org/sqlite writes by default).
			q = `UPDATE customers SET notes = NULL, phone = NULL WHERE julianday(substr(created, 1, 10) || ' ' || substr(created, 12, instr(substr(created, 12), ' ') - 1) || substr(substr(created, 12 + instr(substr(created, 12), ' ')), 1, 3) || ':' || substr(substr(created, 12 + instr(substr(created, 12), ' ')), 4, 2)) <= ?`
		}
		var changed int64
		for b.Loop() {
			b.StopTimer()
			refill(b, db, rdb.dialect)
			b.StartTimer()
			res, err := db.ExecContext(ctx, q, arg)
			require.NoError(b, err)
			c, _ := res.RowsAffected()
			changed += c
		}
		s := b.Elapsed().Seconds()
		b.ReportMetric(float64(n*int64(b.N))/s, "rows-examined/s")
		b.ReportMetric(float64(changed)/s, "rows-changed/s")
		b.ReportMetric(s/float64(b.N), "s/sweep")
	})
}

func BenchmarkRetentionSweepSQLite(b *testing.B) {
	benchmarkSweep(b, retentionSQLite(b), 1)
}

func BenchmarkRetentionSweepPostgres(b *testing.B) {
	benchmarkSweep(b, retentionPostgres(b), 1, 2)
}

// benchSweepWorkers times whole sweeps of the filled table by workers
// Sweepers at once, each on its own connection pool.
func benchSweepWorkers(b *testing.B, rdb retentionDB, db *sql.DB, workers int) {
	b.Run(fmt.Sprintf("sweep/workers=%d", workers), func(b *testing.B) {
		b.ReportAllocs()
		var examined, changed int64
		for b.Loop() {
			b.StopTimer()
			refill(b, db, rdb.dialect)
			sws := make([]*retention.Sweeper, workers)
			for i := range sws {
				sw, err := retention.New(ctx, rdb.connect(b), rdb.dialect, twoColumns, fixedClock(), retention.WithWorker(fmt.Sprintf("w%d", i)))
				require.NoError(b, err)
				sws[i] = sw
			}
			b.StartTimer()
			var wg sync.WaitGroup
			var mu sync.Mutex
			for _, sw := range sws {
				wg.Go(func() {
					st, err := sw.Sweep(ctx)
					if err != nil {
						b.Error(err)
					}
					mu.Lock()
					examined += st.Examined
					changed += st.Rules[0].Changed
					mu.Unlock()
				})
			}
			wg.Wait()
		}
		s := b.Elapsed().Seconds()
		b.ReportMetric(float64(examined)/s, "rows-examined/s")
		b.ReportMetric(float64(changed)/s, "rows-changed/s")
		b.ReportMetric(s/float64(b.N), "s/sweep")
	})
}
