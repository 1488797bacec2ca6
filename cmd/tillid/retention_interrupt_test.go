package main

import (
	"bytes"
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/pgtest"
)

// cancelOnWrite is a stderr that cancels the sweep (as Ctrl-C would) once
// the first progress line is written.
type cancelOnWrite struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	cancel context.CancelFunc
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if bytes.Contains(p, []byte("rows examined")) {
		w.cancel()
	}
	return w.buf.Write(p)
}

// Ctrl-C during a sweep says that the checkpoint is saved and how to
// resume, and the same command resumes.
func TestRetentionSweepInterrupted(t *testing.T) {
	dsn, db := retentionDB(t, false)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errOut := &cancelOnWrite{cancel: cancel}
	var out bytes.Buffer
	code := run(cctx, retentionArgs("sweep", dsn, "-batch", "1"), &out, errOut)
	require.NotEqual(t, exitOK, code)
	msg := errOut.buf.String()
	assert.Contains(t, msg, "interrupted after 1 rows examined")
	assert.Contains(t, msg, "the checkpoint (job customers in tables tillid_retention_runs and tillid_retention_leases of -db) is saved")
	assert.Contains(t, msg, "run the same command again to resume")
	assert.Contains(t, msg, "context canceled")

	code, stdout, stderr := cli(t, retentionArgs("sweep", dsn, "-batch", "1")...)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "4 rows examined", "the rerun resumes after the done batch: %s", stdout)
	assert.Equal(t, 3, countWhere(t, db, "1=1"))
}

// A row with an empty subject ID no longer blocks a then:shred sweep: it
// is skipped and named by key, and every other due row is shredded.
func TestRetentionShredEmptySubject(t *testing.T) {
	masterKey(t)
	dsn, db := retentionDB(t, false)
	_, err := db.Exec(`ALTER TABLE customers ADD COLUMN subject TEXT`)
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE customers SET subject = CASE id WHEN 1 THEN '' ELSE 'c-' || id END`)
	require.NoError(t, err)
	ledger, subjects := shredStores(t, dsn)
	args := []string{"retention", "sweep", "-db", dsn, "-table", "customers", "-key-column", "id",
		"-rule", "promo=retain:2y,from:created,then:shred,purpose:marketing", "-hold", "hold",
		"-subject-column", "subject", "-now", "2026-12-01T00:00:00Z", "-keyset-db", dsn, "-ledger-db", ledger, "-subject-db", "sqlite:" + subjects, "-create-subject-store"}
	for range 2 {
		code, out, errOut := cli(t, args...)
		require.Equal(t, exitOK, code, "%s %s", out, errOut)
		assert.Contains(t, out, "5 rows examined")
		assert.Contains(t, out, "rule promo: 1 due rows skipped, their subject ID NULL, empty or invalid; fix them and sweep again; keys: 1")
		assert.NotContains(t, out+errOut, "c-2")
	}
	code, out, errOut := cli(t, "erasures", "-ledger-db", ledger, "-json")
	require.Equal(t, exitOK, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// Row 2 is shredded (row 1 skipped, 3 held, 4-5 recent); the second
	// sweep's repeat of that erasure destroys nothing more, so the ledger
	// records it once.
	require.Len(t, lines, 1, "one erasure, recorded once: %s", out)
	assert.Contains(t, lines[0], `"purpose":"marketing"`)
}

// The user's PostgreSQL table with a text anchor: the sweep, the dry run
// and the report all refuse it with the same clear error, and nothing is
// cleared (the sweep cleared a day-old row; the dry run crashed).
func TestRetentionTextAnchorPostgresCLI(t *testing.T) {
	dsn := pgtest.DSN(t)
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE c2 (id BIGINT PRIMARY KEY, notes TEXT, created_txt TEXT);
		INSERT INTO c2 VALUES (1, 'n', '11/30/2026'), (2, 'n', '2026-11-30'), (3, 'n', '1 Dec 2025'), (4, 'n', '2020-01-01'), (5, 'n', 'garbage')`)
	require.NoError(t, err)
	args := []string{"-db", dsn, "-table", "c2", "-key-column", "id", "-rule", "notes=retain:90d,from:created_txt", "-now", "2026-12-01T00:00:00Z"}
	for _, verb := range [][]string{{"sweep"}, {"sweep", "-dry-run"}, {"report"}} {
		code, _, errOut := cli(t, append(append([]string{"retention"}, verb...), args...)...)
		assert.NotEqual(t, exitOK, code, verb)
		assert.Contains(t, errOut, "an anchor must be a timestamptz, timestamp or date column", verb)
		assert.NotContains(t, errOut, "Scan error", verb)
	}
	var left int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM c2 WHERE notes IS NOT NULL`).Scan(&left))
	assert.Equal(t, 5, left)
}

// The report prints the oldest anchor exactly: not a second early (float
// Julian days), and with its fraction rather than cut to the second.
func TestRetentionReportOldestExact(t *testing.T) {
	for _, tt := range []struct{ stored, want string }{
		{"2021-03-04 05:06:07", "2021-03-04T05:06:07Z"},
		{"2020-01-01T00:00:00+14:00", "2019-12-31T10:00:00Z"},
		{"2021-03-04 05:06:07.250", "2021-03-04T05:06:07.25Z"},
	} {
		dsn, db := retentionDB(t, false)
		_, err := db.Exec(`UPDATE customers SET created = ? WHERE id = 1`, tt.stored)
		require.NoError(t, err)
		code, out, errOut := cli(t, retentionArgs("report", dsn)...)
		require.Equal(t, exitOK, code, errOut)
		assert.Equal(t, tt.want, strings.Fields(strings.Split(out, "\n")[2])[6], "oldest of %q: %s", tt.stored, out)
	}
}
