package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// retentionDB writes a customers table: rows 1-3 created three years ago,
// 4-5 last month; row 3 on hold; rows 1-2 closed eight years ago.
func retentionDB(t *testing.T, allClosed bool) (dsn string, db *sql.DB) {
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, created DATETIME, closed DATETIME, notes TEXT NOT NULL, hold INTEGER)`)
	require.NoError(t, err)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	old, recent, closed := now.AddDate(-3, 0, 0), now.AddDate(0, -1, 0), now.AddDate(-8, 0, 0)
	for id, row := range [][]any{{old, closed, 0}, {old, closed, 0}, {old, nil, 1}, {recent, nil, 0}, {recent, nil, 0}} {
		if allClosed {
			row[1], row[2] = closed, 0
		}
		_, err := db.Exec(`INSERT INTO customers VALUES (?, ?, ?, 'a note', ?)`, id+1, row[0], row[1], row[2])
		require.NoError(t, err)
	}
	return "sqlite:" + path, db
}

func retentionArgs(verb, dsn string, extra ...string) []string {
	return append([]string{"retention", verb, "-db", dsn, "-table", "customers", "-key-column", "id",
		"-rule", "notes=retain:2y,from:created,zero:empty", "-record", "retain:7y,from:closed", "-hold", "hold",
		"-now", "2026-12-01T00:00:00Z"}, extra...)
}

func countWhere(t *testing.T, db *sql.DB, where string) int {
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM customers WHERE `+where).Scan(&n))
	return n
}

func TestRetentionReportAndSweep(t *testing.T) {
	dsn, db := retentionDB(t, false)
	code, out, errOut := cli(t, retentionArgs("report", dsn)...)
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "5 rows, 1 on hold")
	lines := strings.Split(out, "\n")
	require.GreaterOrEqual(t, len(lines), 4)
	assert.Equal(t, []string{"notes", "redact", "5", "2", "0", "0", "2023-12-01T00:00:00Z"}, strings.Fields(lines[2]), "rows 1-2 due; row 3 held")
	assert.Equal(t, []string{"row", "delete", "5", "2", "2", "0", "2018-12-01T00:00:00Z"}, strings.Fields(lines[3]), "two open accounts not held: NULL anchors")

	code, out, errOut = cli(t, retentionArgs("sweep", dsn, "-dry-run")...)
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "would change")
	assert.Contains(t, out, "dry run: nothing was changed")
	assert.Equal(t, 5, countWhere(t, db, "notes <> ''"), "a dry run changes nothing")

	code, out, errOut = cli(t, retentionArgs("sweep", dsn, "-batch", "2")...)
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "5 rows examined in 3 batches, 1 on hold")
	assert.Equal(t, 3, countWhere(t, db, "1=1"), "the two closed accounts are deleted")
	assert.Equal(t, 1, countWhere(t, db, "id = 3 AND notes = 'a note'"), "the held row is untouched")
	assert.Contains(t, errOut, "retention customers: 5 rows examined", "a line per batch off a terminal")

	code, out, errOut = cli(t, retentionArgs("sweep", dsn)...)
	require.Equal(t, exitOK, code, errOut)
	fields := strings.Fields(strings.Split(out, "\n")[2])
	assert.Equal(t, "0", fields[2], "a second sweep changes nothing: %s", out)
}

func TestRetentionDeleteAllNeedsYes(t *testing.T) {
	dsn, db := retentionDB(t, true)
	code, out, _ := cli(t, retentionArgs("sweep", dsn, "-dry-run")...)
	require.Equal(t, exitOK, code)
	assert.Contains(t, out, "would delete every row")
	code, _, errOut := cli(t, retentionArgs("sweep", dsn)...)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, errOut, "-yes")
	assert.Equal(t, 5, countWhere(t, db, "1=1"))
	code, _, errOut = cli(t, retentionArgs("sweep", dsn, "-yes")...)
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, 0, countWhere(t, db, "1=1"))
}

func TestRetentionUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no verb", []string{"retention"}, "Usage"},
		{"bad period", []string{"retention", "sweep", "-rule", "notes=retain:2m,from:created"}, "retain=2m"},
		{"no anchor", []string{"retention", "sweep", "-rule", "notes=retain:2y"}, "from:"},
		{"shred without a purpose", []string{"retention", "sweep", "-rule", "notes=retain:2y,from:created,then:shred"}, "purpose:NAME"},
		{"shred without a subject column", []string{"retention", "sweep", "-db", "sqlite:" + filepath.Join(t.TempDir(), "y.db"), "-table", "t", "-key-column", "id", "-rule", "promo=retain:1y,from:b,then:shred,purpose:marketing"}, "-subject-column"},
		{"no rule", []string{"retention", "report", "-db", "sqlite:x.db", "-table", "t", "-key-column", "id"}, "-rule"},
		{"bad table", []string{"retention", "report", "-db", "sqlite:" + emptyFile(t), "-table", "t;drop", "-key-column", "id", "-rule", "a=retain:1y,from:b"}, "table"},
	}
	dsn, _ := retentionDB(t, false)
	base := []string{"retention", "sweep", "-db", dsn, "-table", "customers", "-key-column", "id"}
	tests = append(tests,
		struct {
			name string
			args []string
			want string
		}{"mistyped anchor", append(base[:len(base):len(base)], "-rule", "notes=retain:1y,from:nosuch"), `no column "nosuch"`},
		struct {
			name string
			args []string
			want string
		}{"mistyped hold", append(base[:len(base):len(base)], "-rule", "notes=retain:1y,from:created", "-hold", "legal_hodl"), `no column "legal_hodl"`},
		struct {
			name string
			args []string
			want string
		}{"two rules on a column", append(base[:len(base):len(base)], "-rule", "notes=retain:1y,from:created", "-rule", "notes=retain:2y,from:created"), "both clear column notes"},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := cli(t, tt.args...)
			assert.NotEqual(t, exitOK, code)
			assert.Contains(t, errOut, tt.want)
		})
	}
}

// emptyFile returns the path of a new empty file (an existing SQLite database).
func emptyFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.db")
	require.NoError(t, os.WriteFile(p, nil, 0o600))
	return p
}

// TestRetentionSweepWaitsForOtherWorkers: a sweep that runs out of free
// ranges while another worker leases one waits for the lease to run out,
// takes the range over and exits 0; with -no-wait it says NOT COMPLETE and
// exits 1.
func TestRetentionSweepWaitsForOtherWorkers(t *testing.T) {
	dsn, db := retentionDB(t, false)
	code, _, errOut := cli(t, retentionArgs("sweep", dsn)...) // creates the checkpoint tables; the run ends
	require.Equal(t, exitOK, code, errOut)
	// Another worker claimed the whole table and is still at it: its lease
	// runs out in 300ms, on the real clock (leases do not follow -now).
	at := time.Now()
	_, err := db.Exec(`UPDATE tillid_retention_runs SET active = 1, exhausted = 1, cursor_key = '5'`)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO tillid_retention_leases (job, lo, hi, owner, until_ns) VALUES ('customers', '1', '5', 'other', ?)`,
		at.Add(300*time.Millisecond).UnixNano())
	require.NoError(t, err)

	code, out, errOut := cli(t, retentionArgs("sweep", dsn, "-no-wait")...)
	assert.Equal(t, exitFailure, code, "told not to wait, a sweep leaving a live lease fails")
	assert.Contains(t, errOut, "NOT COMPLETE: 1 ranges leased until")
	assert.Contains(t, out, "0 rows examined")

	code, out, errOut = cli(t, retentionArgs("sweep", dsn)...)
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, errOut, "waiting for 1 ranges leased by other workers")
	assert.Contains(t, out, "3 rows examined in 1 batches", "the other worker's range is taken over once its lease runs out")
	assert.NotContains(t, errOut, "NOT COMPLETE")
}
