package stores_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/retention"
)

// TestRetentionLeasesOnWallClock: a sweep whose rule clock stands still
// (tillid retention sweep -now) leaves a lease when it is killed; leases
// are timed by the lease clock, so once that clock passes the lease
// another worker takes the batch over, although the rule clock never
// moved (before, every rerun said NOT COMPLETE forever).
func TestRetentionLeasesOnWallClock(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		createCustomers(t, db, rdb.dialect)
		manyExpired(t, db, rdb.dialect, 30)
		table := customers
		table.Rules = []retention.Rule{
			{Name: "Customer.Interests", Retain: 365 * 24 * time.Hour, From: "created", Then: pii.ThenShred, Purpose: "marketing"},
			table.Rules[0],
		}
		wall := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC) // far from the rule clock
		leaseClock := retention.WithLeaseClock(func() time.Time { return wall })
		var until int64
		dying, err := retention.New(ctx, rdb.connect(t), rdb.dialect, table, fixedClock(), leaseClock, retention.WithBatchSize(10),
			retention.WithWorker("dying"), retention.WithLease(2*time.Minute), retention.WithShredder(retention.ShredFunc(func(context.Context, string, string) error {
				// Inside the batch: the lease its claim committed.
				require.NoError(t, db.QueryRowContext(ctx, `SELECT max(until_ns) FROM tillid_retention_leases`).Scan(&until))
				return errors.New("killed")
			})))
		require.NoError(t, err)
		_, err = dying.Sweep(ctx)
		require.Error(t, err)
		assert.Equal(t, wall.Add(2*time.Minute).UnixNano(), until, "the lease runs out on the lease clock, not 2m after the rule clock")

		// As if kill -9 had left the lease live: a minute left on the lease clock.
		_, err = db.ExecContext(ctx, `UPDATE tillid_retention_leases SET owner = 'dead', until_ns = `+itoa(wall.Add(time.Minute).UnixNano()))
		require.NoError(t, err)
		other, err := retention.New(ctx, rdb.connect(t), rdb.dialect, table, fixedClock(), leaseClock, retention.WithBatchSize(10),
			retention.WithWorker("other"), retention.WithShredder(&recordingShredder{}), retention.WithNoWait())
		require.NoError(t, err)
		_, err = other.Sweep(ctx)
		var inc *retention.IncompleteError
		require.ErrorAs(t, err, &inc, "the lease is live on the lease clock")
		assert.Equal(t, wall.Add(time.Minute), inc.Until.UTC())
		assert.Equal(t, int64(10), countNotes(t, db))

		wall = wall.Add(2 * time.Minute) // real time passes; the rule clock does not
		_, err = other.Sweep(ctx)
		require.NoError(t, err, "the dead worker's lease ran out: taken over")
		assert.Zero(t, countNotes(t, db))
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
