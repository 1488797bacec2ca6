package stores_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/piitest"
	"github.com/tillid/tillid/retention"
)

// TestRetentionNullHold: a boolean hold column added with ALTER TABLE is
// NULL on every existing row; a NULL hold is a hold nobody decided, so it
// holds the row (counted as hold unknown) and only a false hold lets the
// record rule delete.
func TestRetentionNullHold(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		createCustomers(t, db, rdb.dialect)
		closed := retentionNow.Add(-8 * 365 * 24 * time.Hour)
		insertCustomers(t, db, rdb.dialect, []customerRow{{id: 1, closed: closed}, {id: 2, closed: closed}, {id: 3, closed: closed}, {id: 4, closed: closed}})
		_, err := db.ExecContext(ctx, `ALTER TABLE customers ADD COLUMN legal_hold BOOLEAN`)
		require.NoError(t, err)
		set := `UPDATE customers SET legal_hold = CASE id WHEN 2 THEN false WHEN 3 THEN true END WHERE id IN (2, 3)`
		_, err = db.ExecContext(ctx, set)
		require.NoError(t, err)
		table := customers
		table.Hold = retention.Hold{Column: "legal_hold"}
		table.Rules = customers.Rules[2:] // the record rule

		rep, err := retention.Report(ctx, db, rdb.dialect, table, retentionNow)
		require.NoError(t, err)
		assert.Equal(t, int64(3), rep.Held, "rows 1, 3, 4")
		assert.Equal(t, int64(2), rep.HoldUnknown, "rows 1 and 4")
		assert.Equal(t, int64(1), rep.Rules[0].Due, "row 2 only")

		aud := &piitest.AuditRecorder{}
		sw, err := retention.New(ctx, db, rdb.dialect, table, fixedClock(), retention.WithAuditor(aud))
		require.NoError(t, err)
		st, err := sw.Sweep(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(1), st.Rules[0].Changed)
		assert.Equal(t, int64(3), st.Held)
		assert.Equal(t, int64(2), st.HoldUnknown)
		require.Len(t, aud.Events(), 1)
		assert.Equal(t, int64(2), aud.Events()[0].Retention.HoldUnknown, "the audit event counts them")
		for id, want := range map[int64]bool{1: true, 2: false, 3: true, 4: true} {
			exists, _, _ := rowState(t, db, rdb.dialect, id)
			assert.Equal(t, want, exists, "row %d kept", id)
		}
	})
}

// TestRetentionHoldColumnType: on PostgreSQL a boolean hold must be a
// boolean column; an integer one is refused before anything runs.
func TestRetentionHoldColumnType(t *testing.T) {
	db := retentionPostgres(t).connect(t)
	createCustomers(t, db, retention.PostgreSQL)
	_, err := db.ExecContext(ctx, `ALTER TABLE customers ADD COLUMN hold_int INTEGER`)
	require.NoError(t, err)
	table := customers
	table.Hold = retention.Hold{Column: "hold_int"}
	_, err = retention.New(ctx, db, retention.PostgreSQL, table, fixedClock())
	require.ErrorContains(t, err, "a hold column is boolean")
	_, err = retention.Report(ctx, db, retention.PostgreSQL, table, retentionNow)
	require.ErrorContains(t, err, "a hold column is boolean")
	table.Hold.Time = true // any column held while not NULL
	_, err = retention.Report(ctx, db, retention.PostgreSQL, table, retentionNow)
	require.NoError(t, err)
}
