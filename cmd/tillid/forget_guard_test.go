package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestForgetRefusesBeforeDestroying checks that forget refuses a mistyped
// ledger, and a table or column the data database does not have, before
// destroying any key: the ledger then holds no entry.
func TestForgetRefusesBeforeDestroying(t *testing.T) {
	dir := t.TempDir()
	masterKey(t)
	keysDSN := "sqlite:" + filepath.Join(dir, "keys.db")
	for _, k := range [][]string{{"subject-keys"}, {"-kind", "prf", "subject-pseudonym"}} {
		code, out, errOut := cli(t, append([]string{"keys", "create", "-keyset-db", keysDSN}, k...)...)
		require.Equal(t, exitOK, code, "%s %s", out, errOut)
	}
	ledgerDSN := "sqlite:" + filepath.Join(dir, "ledger.db")
	code, out, errOut := cli(t, "forget", "-keyset-db", keysDSN, "-ledger-db", ledgerDSN, "-create-ledger", "-create-subject-store", "c-0")
	require.Equal(t, exitOK, code, "forget -create-ledger: %s %s", out, errOut)
	data := filepath.Join(dir, "data.db")
	db, err := openDB(ctx, "sqlite:"+data)
	require.NoError(t, err)
	_, err = db.sql.ExecContext(ctx, `CREATE TABLE customers (id TEXT, email_idx TEXT)`)
	require.NoError(t, err)
	db.close()

	typo := filepath.Join(dir, "typo-ledger.db")
	tests := []struct {
		name   string
		args   []string
		reason string
	}{
		{name: "mistyped ledger", args: []string{"-ledger-db", "sqlite:" + typo}, reason: "a missing ledger file must not be created"},
		{name: "missing column", args: []string{"-ledger-db", ledgerDSN, "-db", "sqlite:" + data, "-table", "customers", "-subject-column", "id", "-clear", "nosuchcol"}, reason: "-clear names a column the table lacks"},
		{name: "missing subject column", args: []string{"-ledger-db", ledgerDSN, "-db", "sqlite:" + data, "-table", "customers", "-subject-column", "nosuchcol", "-delete"}, reason: "-subject-column names a column the table lacks"},
		{name: "missing table", args: []string{"-ledger-db", ledgerDSN, "-db", "sqlite:" + data, "-table", "nosuchtable", "-subject-column", "id", "-delete"}, reason: "-table names no table"},
		{name: "mistyped subject store", args: []string{"-ledger-db", ledgerDSN, "-subject-db", "sqlite:" + data}, reason: "a database without the subject-key table would take tombstones while the real keys stay"},
		{name: "missing data file", args: []string{"-ledger-db", ledgerDSN, "-db", "sqlite:" + filepath.Join(dir, "typo-data.db"), "-table", "customers", "-subject-column", "id", "-delete"}, reason: "a missing data file must not be created"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli(t, append(append([]string{"forget", "-keyset-db", keysDSN}, tt.args...), "c-9")...)
			assert.NotEqual(t, exitOK, code, "%s: %s %s", tt.reason, out, errOut)
			code, out, errOut = cli(t, "erasures", "-ledger-db", ledgerDSN)
			require.Equal(t, exitOK, code, errOut)
			assert.Equal(t, 1, countLines(out), "%s: only c-0 in the ledger, c-9 not erased: %s", tt.reason, out)
		})
	}
	_, err = os.Stat(typo)
	assert.ErrorIs(t, err, os.ErrNotExist, "the mistyped ledger was created")
	_, err = os.Stat(filepath.Join(dir, "typo-data.db"))
	assert.ErrorIs(t, err, os.ErrNotExist, "the mistyped data database was created")
}

// TestRetentionRefusesMissingDatabase checks that retention report does not
// create a mistyped SQLite file.
func TestRetentionRefusesMissingDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "typo-ret.db")
	code, _, errOut := cli(t, retentionArgs("report", "sqlite:"+path)...)
	assert.NotEqual(t, exitOK, code)
	assert.Contains(t, errOut, "does not exist: check the path")
	_, err := os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist, "retention created the file")
}

func countLines(s string) int {
	n := 0
	for _, c := range s {
		if c == '\n' {
			n++
		}
	}
	return n
}
