package stores_test

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/retention"
)

// notesRule clears notes 90 days after the anchor column from.
func notesTable(name, from string) retention.Table {
	return retention.Table{Name: name, Key: "id", Rules: []retention.Rule{
		{Name: "notes", Column: "notes", Retain: 90 * 24 * time.Hour, From: from, Then: pii.ThenRedact},
	}}
}

// notesLeft returns the ids of the rows of table whose notes are set.
func notesLeft(t *testing.T, db *sql.DB, table string) []int64 {
	rows, err := db.QueryContext(ctx, `SELECT id FROM `+table+` WHERE notes IS NOT NULL ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}

// TestRetentionTextAnchorPostgres: PostgreSQL would compare a text anchor
// as text ('11/30/2026' < '2026-...' < ...), so a text anchor column is
// refused by the sweep, the dry run and the report alike, before anything
// is read or changed.
func TestRetentionTextAnchorPostgres(t *testing.T) {
	db := retentionPostgres(t).connect(t)
	_, err := db.ExecContext(ctx, `CREATE TABLE c2 (id BIGINT PRIMARY KEY, notes TEXT, created_txt TEXT, created_int BIGINT)`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO c2 VALUES (1, 'n', '11/30/2026', 1), (2, 'n', '2026-11-30', 1), (3, 'n', '1 Dec 2025', 1), (4, 'n', '2020-01-01', 1), (5, 'n', 'garbage', 1)`)
	require.NoError(t, err)
	for _, col := range []string{"created_txt", "created_int"} {
		table := notesTable("c2", col)
		_, err = retention.New(ctx, db, retention.PostgreSQL, table, fixedClock())
		require.Error(t, err, col)
		assert.Contains(t, err.Error(), "an anchor must be a timestamptz, timestamp or date column", col)
		_, err = retention.Report(ctx, db, retention.PostgreSQL, table, retentionNow)
		require.Error(t, err, col)
		assert.Contains(t, err.Error(), "an anchor must be a timestamptz, timestamp or date column", col)
	}
	assert.Equal(t, []int64{1, 2, 3, 4, 5}, notesLeft(t, db, "c2"), "nothing cleared")
}

// TestRetentionAnchorFormsSQLite: on SQLite exactly the documented text
// forms are anchors; anything else is no anchor (counted, never expired),
// and the dry run and report read every row without failing.
func TestRetentionAnchorFormsSQLite(t *testing.T) {
	db := retentionSQLite(t).connect(t)
	_, err := db.ExecContext(ctx, `CREATE TABLE c2 (id INTEGER PRIMARY KEY, notes TEXT, created_txt TEXT)`)
	require.NoError(t, err)
	const (
		due = iota + 1
		kept
		noAnchor
		future
	)
	tests := []struct {
		name   string
		anchor any
		want   int
		reason string
	}{
		{"us date", "11/30/2026", noAnchor, "not a form SQLite's date functions read"},
		{"iso date, a day old", "2026-11-30", kept, "within 90 days"},
		{"english date", "1 Dec 2025", noAnchor, ""},
		{"iso date, old", "2020-01-01", due, ""},
		{"garbage", "garbage", noAnchor, "as on PostgreSQL's refusal: never expired"},
		{"now", "now", noAnchor, "julianday('now') would be the sweep's own time"},
		{"time only", "12:00", noAnchor, "julianday('12:00') is 2000-01-01"},
		{"not in the calendar", "2020-02-30", noAnchor, "SQLite would read it as 2020-03-01"},
		{"trailing junk", "2020-01-01 10:00 junk", noAnchor, ""},
		{"offset", "2020-01-01T00:00:00+14:00", due, ""},
		{"go form", "2020-01-01 00:00:00 +0000 UTC", due, "modernc.org/sqlite's default for time.Time"},
		{"go form, recent", retentionNow.Add(-24 * time.Hour), kept, "a time.Time as the driver writes it"},
		{"go zero time", time.Time{}, noAnchor, "an unset time.Time is no anchor, as pii.Expired says"},
		{"julian day number", 2459000.5, noAnchor, "a number is no anchor"},
		{"unix time", retentionNow.Unix(), noAnchor, ""},
		{"future", "2027-01-01 00:00", future, ""},
		{"null", nil, noAnchor, ""},
	}
	var wantDue, wantNull, wantFuture int64
	for i, tt := range tests {
		_, err := db.ExecContext(ctx, `INSERT INTO c2 VALUES (?, 'n', ?)`, i+1, tt.anchor)
		require.NoError(t, err)
		switch tt.want {
		case due:
			wantDue++
		case noAnchor:
			wantNull++
		case future:
			wantFuture++
		}
	}
	table := notesTable("c2", "created_txt")
	rep, err := retention.Report(ctx, db, retention.SQLite, table, retentionNow)
	require.NoError(t, err, "the report (and -dry-run) reads every form")
	assert.Equal(t, wantDue, rep.Rules[0].Due)
	assert.Equal(t, wantNull, rep.Rules[0].NullAnchors)
	assert.Equal(t, wantFuture, rep.Rules[0].Future)
	assert.Equal(t, time.Date(2019, 12, 31, 10, 0, 0, 0, time.UTC), rep.Rules[0].Oldest, "the oldest anchor, exactly")

	sw, err := retention.New(ctx, db, retention.SQLite, table, fixedClock())
	require.NoError(t, err)
	st, err := sw.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, wantDue, st.Rules[0].Changed)
	assert.Equal(t, wantNull, st.Rules[0].NullAnchors)
	assert.Equal(t, wantFuture, st.Rules[0].Future)
	left := notesLeft(t, db, "c2")
	for i, tt := range tests {
		assert.Equal(t, tt.want != due, contains(left, int64(i+1)), "%s (%v): notes kept? %s", tt.name, tt.anchor, tt.reason)
	}
}

func contains(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// TestRetentionAnchorTypesPostgres: timestamp anchors are read as UTC and
// date anchors as midnight UTC whatever the session's time zone; Go's
// zero time and infinite timestamps are no anchor, as NULL is.
func TestRetentionAnchorTypesPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	db, err := sql.Open("pgx", dsn+sep+"timezone=Pacific/Kiritimati") // UTC+14
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	cutoff := retentionNow.Add(-90 * 24 * time.Hour) // 2026-09-02T00:00:00Z
	for _, typ := range []string{"timestamptz", "timestamp", "date"} {
		t.Run(typ, func(t *testing.T) {
			table := "anchors_" + typ
			_, err := db.ExecContext(ctx, `CREATE TABLE `+table+` (id BIGINT PRIMARY KEY, notes TEXT, created `+typ+`)`)
			require.NoError(t, err)
			ins := `INSERT INTO ` + table + ` VALUES ($1, 'n', $2::` + typ + `)`
			step := time.Second
			if typ == "date" {
				step = 24 * time.Hour
			}
			rows := []struct {
				anchor  any
				wantDue bool
			}{
				{cutoff.Format("2006-01-02 15:04:05"), true},                // exactly the cutoff, written without zone: UTC
				{cutoff.Add(step).Format("2006-01-02 15:04:05"), false},     // just after
				{cutoff.Add(-step).Format("2006-01-02 15:04:05"), true},     // just before
				{"0001-01-01 00:00:00", false},                              // Go's zero time: no anchor
				{"-infinity", false},                                        // no anchor
				{"infinity", false},                                         // no anchor
				{nil, false},                                                // no anchor
				{retentionNow.AddDate(0, 0, 2).Format("2006-01-02"), false}, // future
			}
			if typ == "timestamptz" {
				for i := range rows {
					if s, ok := rows[i].anchor.(string); ok && s[0] >= '0' && s[0] <= '9' {
						rows[i].anchor = s + "+00"
					}
				}
			}
			for i, r := range rows {
				_, err := db.ExecContext(ctx, ins, i+1, r.anchor)
				require.NoError(t, err)
			}
			tb := notesTable(table, "created")
			rep, err := retention.Report(ctx, db, retention.PostgreSQL, tb, retentionNow)
			require.NoError(t, err, "infinite timestamps do not fail the report")
			assert.Equal(t, int64(2), rep.Rules[0].Due)
			assert.Equal(t, int64(4), rep.Rules[0].NullAnchors)
			assert.Equal(t, int64(1), rep.Rules[0].Future)
			assert.Equal(t, cutoff.Add(-step), rep.Rules[0].Oldest)
			sw, err := retention.New(ctx, db, retention.PostgreSQL, tb, fixedClock())
			require.NoError(t, err)
			st, err := sw.Sweep(ctx)
			require.NoError(t, err)
			assert.Equal(t, int64(2), st.Rules[0].Changed)
			assert.Equal(t, int64(4), st.Rules[0].NullAnchors)
			left := notesLeft(t, db, table)
			for i, r := range rows {
				assert.Equal(t, !r.wantDue, contains(left, int64(i+1)), "row %d (%v)", i+1, r.anchor)
			}
		})
	}
}

// TestRetentionOldestExact: the report's oldest anchor is the instant
// stored, not one second early (float Julian days truncated).
func TestRetentionOldestExact(t *testing.T) {
	tests := []struct {
		stored string
		want   time.Time
	}{
		{"2021-03-04 05:06:07", time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)},
		{"2020-01-01T00:00:00+14:00", time.Date(2019, 12, 31, 10, 0, 0, 0, time.UTC)},
		{"2021-03-04 05:06:07.250", time.Date(2021, 3, 4, 5, 6, 7, 250e6, time.UTC)},
	}
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		typ, ins := "TEXT", `INSERT INTO o VALUES (1, 'n', ?)`
		if rdb.dialect == retention.PostgreSQL {
			typ, ins = "TIMESTAMPTZ", `INSERT INTO o VALUES (1, 'n', $1)`
		}
		for _, tt := range tests {
			_, err := db.ExecContext(ctx, `DROP TABLE IF EXISTS o`)
			require.NoError(t, err)
			_, err = db.ExecContext(ctx, `CREATE TABLE o (id BIGINT PRIMARY KEY, notes TEXT, created `+typ+`)`)
			require.NoError(t, err)
			stored := tt.stored
			if rdb.dialect == retention.PostgreSQL && !strings.Contains(stored, "+") {
				stored += "+00"
			}
			_, err = db.ExecContext(ctx, ins, stored)
			require.NoError(t, err)
			rep, err := retention.Report(ctx, db, rdb.dialect, notesTable("o", "created"), retentionNow)
			require.NoError(t, err)
			assert.Equal(t, tt.want, rep.Rules[0].Oldest, "Report(%q).Oldest", tt.stored)
		}
	})
}
