package stores_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/retention"
)

// TestRetentionKeyColumnChecked: a key that can be NULL, repeat or (on
// SQLite) hold a value of another type is refused by New and Report,
// before a sweep could skip rows in silence.
func TestRetentionKeyColumnChecked(t *testing.T) {
	tests := []struct {
		name    string
		sqlite  string // DDL and rows; "" skips the database
		pg      string
		wantErr string
		reason  string
	}{
		{name: "nullable, not unique",
			sqlite:  `CREATE TABLE k (num INTEGER, notes TEXT, created TEXT); INSERT INTO k VALUES (NULL, 'n', '2020-01-01'), (5, 'n', '2020-01-01'), (5, 'n', '2020-01-01')`,
			pg:      `CREATE TABLE k (num BIGINT, notes TEXT, created TIMESTAMPTZ); INSERT INTO k VALUES (NULL, 'n', '2020-01-01'), (5, 'n', '2020-01-01'), (5, 'n', '2020-01-01')`,
			wantErr: "has no unique index of its own|allows NULL", reason: "the user's table: the NULL-key row was skipped"},
		{name: "not null, not unique",
			sqlite:  `CREATE TABLE k (num INTEGER NOT NULL, notes TEXT, created TEXT); INSERT INTO k VALUES (5, 'n', '2020-01-01'), (5, 'n', '2020-01-01')`,
			pg:      `CREATE TABLE k (num BIGINT NOT NULL, notes TEXT, created TIMESTAMPTZ); INSERT INTO k VALUES (5, 'n', '2020-01-01'), (5, 'n', '2020-01-01')`,
			wantErr: "has no unique index of its own"},
		{name: "unique, nullable",
			sqlite:  `CREATE TABLE k (num INTEGER UNIQUE, notes TEXT, created TEXT); INSERT INTO k VALUES (NULL, 'n', '2020-01-01'), (5, 'n', '2020-01-01')`,
			pg:      `CREATE TABLE k (num BIGINT UNIQUE, notes TEXT, created TIMESTAMPTZ); INSERT INTO k VALUES (NULL, 'n', '2020-01-01'), (5, 'n', '2020-01-01')`,
			wantErr: "whose key is NULL or not integer|allows NULL", reason: "SQLite: by the rows; PostgreSQL: by the constraint"},
		{name: "partial unique index",
			pg:      `CREATE TABLE k (num BIGINT NOT NULL, notes TEXT, created TIMESTAMPTZ); CREATE UNIQUE INDEX k_num ON k (num) WHERE num > 0`,
			wantErr: "has no unique index of its own"},
		{name: "a real in an INTEGER column",
			sqlite:  `CREATE TABLE k (num INTEGER NOT NULL UNIQUE, notes TEXT, created TEXT); INSERT INTO k VALUES ('2.5', 'n', '2020-01-01'), (3, 'n', '2020-01-01')`,
			wantErr: "whose key is NULL or not integer", reason: "it gave a raw Scan error"},
		{name: "not null unique",
			sqlite: `CREATE TABLE k (num INTEGER NOT NULL UNIQUE, notes TEXT, created TEXT); INSERT INTO k VALUES (3, 'n', '2020-01-01')`,
			pg:     `CREATE TABLE k (num BIGINT NOT NULL UNIQUE, notes TEXT, created TIMESTAMPTZ); INSERT INTO k VALUES (3, 'n', '2020-01-01')`},
		{name: "primary key, not the rowid",
			sqlite: `CREATE TABLE k (num BIGINT PRIMARY KEY, notes TEXT, created TEXT); INSERT INTO k VALUES (3, 'n', '2020-01-01')`,
			pg:     `CREATE TABLE k (num BIGINT PRIMARY KEY, notes TEXT, created TIMESTAMPTZ); INSERT INTO k VALUES (3, 'n', '2020-01-01')`},
	}
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		for _, tt := range tests {
			ddl := tt.sqlite
			if rdb.dialect == retention.PostgreSQL {
				ddl = tt.pg
			}
			if ddl == "" {
				continue
			}
			t.Run(tt.name, func(t *testing.T) {
				_, err := db.ExecContext(ctx, `DROP TABLE IF EXISTS k`)
				require.NoError(t, err)
				for _, stmt := range splitSQL(ddl) {
					_, err := db.ExecContext(ctx, stmt)
					require.NoError(t, err, stmt)
				}
				table := notesTable("k", "created")
				table.Key = "num"
				_, errNew := retention.New(ctx, db, rdb.dialect, table, fixedClock())
				_, errReport := retention.Report(ctx, db, rdb.dialect, table, retentionNow)
				if tt.wantErr == "" {
					require.NoError(t, errNew)
					require.NoError(t, errReport)
					return
				}
				require.Error(t, errNew, tt.reason)
				require.Error(t, errReport, tt.reason)
				assert.Regexp(t, tt.wantErr, errNew.Error(), tt.reason)
				assert.Regexp(t, tt.wantErr, errReport.Error(), tt.reason)
			})
		}
	})
}

func splitSQL(s string) []string {
	var out []string
	for _, stmt := range strings.Split(s, ";") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			out = append(out, stmt)
		}
	}
	return out
}
