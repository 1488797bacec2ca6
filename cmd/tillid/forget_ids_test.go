package main

import (
	"database/sql"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Account is a record whose subject ID is an integer, stored in an
// INTEGER (SQLite) or bigint (PostgreSQL) column.
type Account struct {
	ID       int64  `pii:"subject"`
	Email    string `pii:"encrypt,class=contact"`
	EmailIdx string `pii:"index=Email,normalize=email"`
}

// accountsTable creates the accounts table on e's backend with account 42
// protected under its subject keys and account 43 never protected (its
// blind index written by hand), and returns the stored row of 42.
func accountsTable(t *testing.T, e *forgetEnv) Account {
	t.Helper()
	typ := "INTEGER"
	if e.db.dialect == dialectPostgres {
		typ = "bigint"
	}
	_, err := e.db.sql.ExecContext(ctx, `CREATE TABLE accounts (id `+typ+` PRIMARY KEY, email TEXT, email_idx TEXT)`)
	require.NoError(t, err)
	a := Account{ID: 42, Email: "a42@example.com"}
	require.NoError(t, e.protector(t).Protect(ctx, &a))
	_, err = e.db.sql.ExecContext(ctx, `INSERT INTO accounts VALUES (`+e.ph(1)+`, `+e.ph(2)+`, `+e.ph(3)+`), (43, NULL, 'idx-43')`, a.ID, a.Email, a.EmailIdx)
	require.NoError(t, err)
	return a
}

// accountRow reads account id raw: its email and email_idx (nil for NULL).
func accountRow(t *testing.T, e *forgetEnv, id int64) (email, idx *string) {
	t.Helper()
	var m, x sql.NullString
	require.NoError(t, e.db.sql.QueryRowContext(ctx, `SELECT email, email_idx FROM accounts WHERE id = `+e.ph(1), id).Scan(&m, &x))
	if m.Valid {
		email = &m.String
	}
	if x.Valid {
		idx = &x.String
	}
	return email, idx
}

// TestForgetIntegerSubjectCanonical: on an integer subject column, an ID
// the database would convert to another's (row 42 for "042") is refused as
// a usage error before anything is destroyed or cleared; the canonical ID
// erases the account.
func TestForgetIntegerSubjectCanonical(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *forgetEnv) {
		stored := accountsTable(t, e)
		accounts := []string{"-db", e.dsn, "-table", "accounts", "-subject-column", "id", "-clear", "email_idx"}
		tests := []struct {
			name, id, wantErr, reason string
		}{
			{name: "leading zero", id: "042", reason: "SQL casts it to 42"},
			{name: "plus sign", id: "+42"},
			{name: "leading space", id: " 42", wantErr: "white space", reason: "refused with every other ID"},
			{name: "trailing space", id: "42 ", wantErr: "white space"},
			{name: "exponent", id: "4.2e1", reason: "SQLite's INTEGER affinity turns it into 42"},
			{name: "minus zero", id: "-0"},
			{name: "not a number", id: "c-42", reason: "an integer column holds no such ID"},
		}
		for _, cmd := range []string{"forget", "withdraw"} {
			for _, tt := range tests {
				t.Run(cmd+" "+tt.name, func(t *testing.T) {
					args := accounts
					if cmd == "withdraw" {
						args = append([]string{"-purpose", "marketing"}, accounts...)
					}
					code, out, errOut := e.run(t, cmd, append(args, "-subject", tt.id)...)
					assert.Equal(t, exitUsage, code, "%s: %s %s", tt.reason, out, errOut)
					wantErr := tt.wantErr
					if wantErr == "" {
						wantErr = "canonical decimal form"
					}
					assert.Contains(t, errOut, wantErr)
					assert.Contains(t, errOut, "nothing was erased")
					assert.NotContains(t, errOut, strings.TrimSpace(tt.id), "the message names the place, not the ID")
					assert.Empty(t, out, "no receipt")
					assert.Empty(t, e.entries(t), "the ledger records nothing")
					email, idx := accountRow(t, e, 42)
					require.NotNil(t, idx, "row 42 was cleared")
					assert.Equal(t, stored.EmailIdx, *idx)
					got := Account{ID: 42, Email: *email}
					require.NoError(t, e.protector(t).Reveal(ctx, &got), "account 42 still reveals")
					assert.Equal(t, "a42@example.com", got.Email)
				})
			}
		}

		code, out, errOut := e.run(t, "forget", append(accounts, "-json", "42")...)
		require.Equal(t, exitOK, code, "%s %s", out, errOut)
		var r receipt
		require.NoError(t, json.Unmarshal([]byte(out), &r))
		assert.Equal(t, []string{""}, r.Destroyed, "the base key of 42 is destroyed")
		assert.Equal(t, int64(1), r.Rows)
		email, idx := accountRow(t, e, 42)
		assert.Nil(t, idx, "the blind index is cleared")
		got := Account{ID: 42, Email: *email}
		rep, err := e.protector(t).RevealReport(ctx, &got)
		require.NoError(t, err)
		assert.Equal(t, []string{"Account.Email"}, rep.Erased, "account 42 reads as erased")
	})
}

// TestForgetRowsWithoutKeysWarns: a run that changes a subject's rows but
// destroys no key of it (the store never saw the subject under that ID)
// prints its receipt, warns on standard error and exits 1.
func TestForgetRowsWithoutKeysWarns(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *forgetEnv) {
		accountsTable(t, e)
		accounts := []string{"-db", e.dsn, "-table", "accounts", "-subject-column", "id", "-clear", "email_idx"}
		code, out, errOut := e.run(t, "forget", append(accounts, "43")...)
		assert.Equal(t, exitFailure, code, "%s %s", out, errOut)
		assert.Contains(t, out, "destroyed=0", "the receipt is printed")
		assert.Contains(t, out, "rows=1")
		assert.Contains(t, errOut, "warning: argument")
		assert.Contains(t, errOut, "held no key of this subject")
		_, idx := accountRow(t, e, 43)
		assert.Nil(t, idx, "the row is cleared")
		assert.Len(t, e.entries(t), 1, "the request is recorded")

		code, out, errOut = e.run(t, "forget", append(accounts, "43")...)
		assert.Equal(t, exitFailure, code, "a repeat still finds no key of the subject: %s %s", out, errOut)
		assert.Contains(t, errOut, "held no key of this subject")

		code, out, errOut = e.run(t, "forget", append(accounts, "42")...)
		assert.Equal(t, exitOK, code, "a subject with keys: %s %s", out, errOut)
		assert.NotContains(t, errOut, "warning")
	})
}

// TestForgetNumericSubjectColumns: a subject column of NUMERIC, DECIMAL or
// REAL type converts "042" to 42 just as INTEGER does, so the same
// refusal applies (exit 2, nothing erased, the row left as it is).
func TestForgetNumericSubjectColumns(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *forgetEnv) {
		types := []string{"NUMERIC", "DECIMAL(10,0)", "REAL"}
		if e.db.dialect == dialectPostgres {
			types = []string{"numeric", "numeric(10,0)", "double precision"}
		}
		for i, typ := range types {
			t.Run(typ, func(t *testing.T) {
				table := "acct_num_" + string(rune('a'+i))
				_, err := e.db.sql.ExecContext(ctx, `CREATE TABLE `+table+` (id `+typ+`, email_idx TEXT)`)
				require.NoError(t, err)
				_, err = e.db.sql.ExecContext(ctx, `INSERT INTO `+table+` VALUES (42, 'idx-42')`)
				require.NoError(t, err)
				code, out, errOut := e.run(t, "forget", "-db", e.dsn, "-table", table, "-subject-column", "id", "-clear", "email_idx", "-subject", "042")
				assert.Equal(t, exitUsage, code, "%s %s", out, errOut)
				assert.Contains(t, errOut, "canonical decimal form")
				var idx sql.NullString
				require.NoError(t, e.db.sql.QueryRowContext(ctx, `SELECT email_idx FROM `+table).Scan(&idx))
				assert.Equal(t, "idx-42", idx.String, "the row is untouched")
				assert.Empty(t, e.entries(t), "the ledger records nothing")
			})
		}
	})
}

func TestSQLiteNumericAffinity(t *testing.T) {
	for typ, want := range map[string]bool{
		"INTEGER": true, "BIGINT": true, "NUMERIC": true, "DECIMAL(10,0)": true, "REAL": true, "DOUBLE": true, "FLOAT": true, "BOOLEAN": true, "DATE": true,
		"TEXT": false, "VARCHAR(20)": false, "CLOB": false, "BLOB": false, "": false,
	} {
		assert.Equal(t, want, sqliteNumericAffinity(typ), typ)
	}
}
