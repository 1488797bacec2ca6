package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWithdrawKeepsRows checks that withdraw never deletes a row: -delete
// is refused before any key is destroyed, and -clear clears only the
// columns named, in the subject's rows.
func TestWithdrawKeepsRows(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *forgetEnv) {
		code, out, errOut := e.run(t, "withdraw", append(e.table(), "-purpose", "marketing", "-delete", "c-2")...)
		assert.Equal(t, exitUsage, code, "withdraw -delete: %s %s", out, errOut)
		assert.Contains(t, errOut, "withdraw never deletes rows")
		e.assertUntouched(t, "withdraw -delete")

		code, out, errOut = e.run(t, "withdraw", append(e.table(), "-purpose", "marketing", "-clear", "promo_idx", "-json", "-subject", "c-2")...)
		require.Equal(t, exitOK, code, "withdraw -clear: %s %s", out, errOut)
		assert.Contains(t, out, `"rows":1`)
		rows := e.rows(t)
		require.Len(t, rows, 3, "withdraw deleted a row")
		want := e.stored("c-2")
		want.PromoIdx = nil
		assert.Equal(t, want, rows["c-2"], "only promo_idx of c-2 is cleared")
		assert.Equal(t, e.stored("c-1"), rows["c-1"])
		assert.Equal(t, e.stored("c-3"), rows["c-3"])
		got := e.revealAll(t)
		assert.Equal(t, "b@example.com", got[1].Email, "c-2 keeps its base data")
		assert.Empty(t, got[1].Promo, "c-2 withdrew marketing")
		entries := e.entries(t)
		require.Len(t, entries, 1)
		assert.Equal(t, "marketing", entries[0].Purpose)
	})
}

// TestForgetRefusesOrphaningRows checks that no flag clears a column that
// would orphan the row (the subject column, a primary-key column) or that
// cannot be cleared (NOT NULL), and that such a refusal comes before any
// key is destroyed.
func TestForgetRefusesOrphaningRows(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *forgetEnv) {
		_, err := e.db.sql.ExecContext(ctx, `CREATE TABLE orders (rid TEXT PRIMARY KEY, customer TEXT, note TEXT NOT NULL, note_idx TEXT)`)
		require.NoError(t, err)
		_, err = e.db.sql.ExecContext(ctx, `INSERT INTO orders VALUES ('o-1', 'c-1', 'n', 'i')`)
		require.NoError(t, err)
		orders := []string{"-db", e.dsn, "-table", "orders", "-subject-column", "customer"}
		tests := []struct {
			name     string
			cmd      string
			args     []string
			wantCode int
			wantErr  string
			reason   string
		}{
			{name: "clear subject column", cmd: "forget", args: append(e.table(), "-clear", "id"), wantCode: exitUsage, wantErr: "orphan", reason: "the row could never be found again"},
			{name: "withdraw clears subject column", cmd: "withdraw", args: append(e.table(), "-purpose", "marketing", "-clear", "id"), wantCode: exitUsage, wantErr: "orphan"},
			{name: "clear primary key", cmd: "forget", args: append(orders, "-clear", "rid"), wantCode: exitUsage, wantErr: "primary key", reason: "SQLite lets a TEXT primary key be NULL"},
			{name: "clear NOT NULL", cmd: "forget", args: append(orders, "-clear", "note_idx", "-clear", "note"), wantCode: exitUsage, wantErr: "NOT NULL", reason: "the UPDATE would fail after the keys are gone"},
			{name: "clear and delete", cmd: "forget", args: append(e.table(), "-clear", "email_idx", "-delete"), wantCode: exitUsage, wantErr: "not both"},
			{name: "clear twice", cmd: "forget", args: append(e.table(), "-clear", "email_idx", "-clear", "email_idx"), wantCode: exitUsage, wantErr: "given twice", reason: "PostgreSQL refuses a column assigned twice, after the keys are gone"},
			{name: "withdraw clears a sealed column", cmd: "withdraw", args: append(e.table(), "-purpose", "marketing", "-clear", "promo_idx", "-clear", "email"), wantCode: exitUsage, wantErr: "holds values sealed under subject keys", reason: "email is under the base key, which withdraw keeps"},
			{name: "withdraw every purpose", cmd: "withdraw", args: []string{"-purpose", "*"}, wantCode: exitUsage, wantErr: "tillid forget erases every purpose"},
			{name: "withdraw bad purpose", cmd: "withdraw", args: []string{"-purpose", "Marketing"}, wantCode: exitUsage, wantErr: "a purpose is"},
			{name: "ledger is the data", cmd: "forget", args: []string{"-db", e.dsn, "-table", "members", "-subject-column", "id", "-clear", "email_idx", "-ledger-db", e.dsn}, wantCode: exitUsage, wantErr: "apart"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, out, errOut := e.run(t, tt.cmd, append(tt.args, "c-1")...)
				assert.Equal(t, tt.wantCode, code, "%s: %s %s", tt.reason, out, errOut)
				assert.Contains(t, errOut, tt.wantErr, tt.reason)
				e.assertUntouched(t, tt.name)
				var n int
				require.NoError(t, e.db.sql.QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE rid = 'o-1' AND customer = 'c-1' AND note_idx = 'i'`).Scan(&n))
				assert.Equal(t, 1, n, "the order row changed")
			})
		}

		code, out, errOut := e.run(t, "forget", append(e.table(), "-delete", "c-3")...)
		require.Equal(t, exitOK, code, "forget -delete: %s %s", out, errOut)
		assert.Contains(t, out, "rows=1")
		rows := e.rows(t)
		assert.NotContains(t, rows, "c-3", "forget -delete kept the row")
		assert.Equal(t, e.stored("c-1"), rows["c-1"])
		assert.Equal(t, e.stored("c-2"), rows["c-2"])

		// A wrong -subject-column finds no row: said on standard error.
		code, out, errOut = e.run(t, "forget", "-db", e.dsn, "-table", "members", "-subject-column", "email_idx", "-clear", "promo_idx", "c-2")
		require.Equal(t, exitOK, code, "%s %s", out, errOut)
		assert.Contains(t, errOut, "argument 1: no row of members has the subject in email_idx")
		assert.Equal(t, e.stored("c-2"), e.rows(t)["c-2"])
	})
}

// TestForgetSubjectIDFitsColumn checks that a subject ID the subject
// column cannot hold (text in an integer column) is refused before any key
// is destroyed or row cleared, as a usage error naming its place and not
// the ID, on both backends (SQLite would compare it without an error and
// find no row; PostgreSQL would fail the cast).
func TestForgetSubjectIDFitsColumn(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *forgetEnv) {
		_, err := e.db.sql.ExecContext(ctx, `CREATE TABLE accounts (id BIGINT PRIMARY KEY, email_idx TEXT)`)
		require.NoError(t, err)
		_, err = e.db.sql.ExecContext(ctx, `INSERT INTO accounts VALUES (41, 'i41'), (42, 'i42')`)
		require.NoError(t, err)
		args := []string{"-db", e.dsn, "-table", "accounts", "-subject-column", "id", "-clear", "email_idx", "41", "c-1"}
		code, out, errOut := e.run(t, "forget", args...)
		idx := func(id int) *string {
			var s *string
			require.NoError(t, e.db.sql.QueryRowContext(ctx, `SELECT email_idx FROM accounts WHERE id = `+e.ph(1), id).Scan(&s))
			return s
		}
		assert.Equal(t, exitUsage, code, "%s %s", out, errOut)
		assert.Contains(t, errOut, "argument 2: -subject-column id of accounts is")
		assert.NotContains(t, errOut, "c-1", "the subject ID in the message")
		e.assertUntouched(t, "a subject ID that does not fit")
		assert.NotNil(t, idx(41), "subject 41 cleared before the refusal")
	})
}

// TestForgetRowsRefusedByDatabase checks that a change of the subject's
// rows that the database refuses (here a DELETE that a foreign key
// forbids) stops the erasure of that subject before its keys are
// destroyed.
func TestForgetRowsRefusedByDatabase(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *forgetEnv) {
		_, err := e.db.sql.ExecContext(ctx, `CREATE TABLE invoices (no TEXT PRIMARY KEY, member TEXT NOT NULL REFERENCES members (id))`)
		require.NoError(t, err)
		_, err = e.db.sql.ExecContext(ctx, `INSERT INTO invoices VALUES ('i-1', 'c-2')`)
		require.NoError(t, err)
		data := e.dsn
		if e.name == "sqlite" {
			data += "?_pragma=foreign_keys(1)" // SQLite enforces foreign keys only when asked
		}
		code, out, errOut := e.run(t, "forget", "-db", data, "-table", "members", "-subject-column", "id", "-delete", "c-2")
		assert.Equal(t, exitFailure, code, "%s %s", out, errOut)
		assert.Contains(t, errOut, "argument 1: the database refuses the change of the subject's rows of members, so nothing was erased for it")
		assert.NotContains(t, errOut, "c-2", "the subject ID in the message")
		e.assertUntouched(t, "a DELETE the foreign key forbids")
	})
}
