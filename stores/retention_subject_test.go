package stores_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/piitest"
	"github.com/tillid/tillid/retention"
)

// TestRetentionShredBadSubjects: due rows whose subject ID is empty, NULL
// or refused by the Shredder as invalid are skipped, counted and named by
// key (never by subject ID), and every other row is shredded; the next
// sweep reports them again.
func TestRetentionShredBadSubjects(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		createCustomers(t, db, rdb.dialect)
		manyExpired(t, db, rdb.dialect, 12)
		long := strings.Repeat("x", keys.MaxSubjectSize+1)
		set := func(id int64, subject any) {
			q := `UPDATE customers SET subject = ? WHERE id = ?`
			if rdb.dialect == retention.PostgreSQL {
				q = `UPDATE customers SET subject = $1 WHERE id = $2`
			}
			_, err := db.ExecContext(ctx, q, subject, id)
			require.NoError(t, err)
		}
		set(3, "")
		set(7, nil)
		set(11, long)
		table := customers
		table.Rules = []retention.Rule{{Name: "promo", Retain: 365 * 24 * time.Hour, From: "created", Then: pii.ThenShred, Purpose: "marketing"}}

		rep, err := retention.Report(ctx, db, rdb.dialect, table, retentionNow)
		require.NoError(t, err)
		assert.Equal(t, int64(2), rep.Rules[0].NoSubject, "the dry run counts the NULL and empty subjects")
		assert.Equal(t, int64(10), rep.Rules[0].Due)

		var shredded []string
		sh := retention.ShredFunc(func(_ context.Context, subject, purpose string) error {
			if subject == "" || len(subject) > keys.MaxSubjectSize { // as keys.SubjectKeys.Withdraw does
				return fmt.Errorf("keys: bad subject ID: %w", keys.ErrInvalidSubject)
			}
			shredded = append(shredded, subject)
			return nil
		})
		aud := &piitest.AuditRecorder{}
		sw, err := retention.New(ctx, db, rdb.dialect, table, fixedClock(), retention.WithShredder(sh), retention.WithBatchSize(5), retention.WithAuditor(aud))
		require.NoError(t, err)
		st, err := sw.Sweep(ctx)
		require.NoError(t, err, "bad rows do not stop the sweep")
		assert.Equal(t, int64(12), st.Examined)
		assert.Equal(t, int64(9), st.Rules[0].Changed, "every other due row shredded")
		assert.Equal(t, int64(3), st.Rules[0].NoSubject)
		assert.Equal(t, []string{"3", "7", "11"}, st.Rules[0].NoSubjectKeys, "named by key")
		assert.NotContains(t, shredded, long)
		var audited int64
		for _, e := range aud.Events() {
			audited += e.Retention.Rules[0].NoSubject
		}
		assert.Equal(t, int64(3), audited, "the audit events count the skipped rows")
		slices.Sort(shredded)
		assert.Len(t, slices.Compact(shredded), 6, "subject-1 .. subject-6 (rows 1, 2, 4-6, 8-10, 12; row 7 held subject-0)")

		again, err := sw.Sweep(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(3), again.Rules[0].NoSubject, "still due, reported again")
	})
}
