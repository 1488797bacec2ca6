package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
)

// A then:shred rule run from the CLI withdraws each expired row's subject
// from the purpose through the subject-key store and ledger, on SQLite.
func TestRetentionShredSQLite(t *testing.T) {
	masterKey(t)
	dsn, db := retentionDB(t, false)
	_, err := db.Exec(`ALTER TABLE customers ADD COLUMN subject TEXT`)
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE customers SET subject = 'c-' || id`)
	require.NoError(t, err)
	for _, k := range [][]string{{"subject-keys"}, {"-kind", "prf", "subject-pseudonym"}} {
		code, out, errOut := cli(t, append([]string{"keys", "create", "-keyset-db", dsn}, k...)...)
		require.Equal(t, exitOK, code, "%s %s", out, errOut)
	}
	ledger := "sqlite:" + filepath.Join(t.TempDir(), "ledger.db")
	// An erasure ledger exists before the sweep: a missing one is refused.
	ldb, err := openDB(ctx, ledger)
	require.NoError(t, err)
	_, err = keys.OpenSQLiteLedger(ctx, ldb.sql)
	require.NoError(t, err)
	ldb.close()
	subjects := filepath.Join(t.TempDir(), "subjects.db")
	require.NoError(t, os.WriteFile(subjects, nil, 0o600))
	args := []string{"retention", "sweep", "-db", dsn, "-table", "customers", "-key-column", "id",
		"-rule", "promo=retain:2y,from:created,then:shred,purpose:marketing", "-hold", "hold",
		"-subject-column", "subject", "-now", "2026-12-01T00:00:00Z", "-keyset-db", dsn}
	code, _, errOut := cli(t, args...)
	require.NotEqual(t, exitOK, code, "shred needs the ledger")
	assert.Contains(t, errOut, "-ledger-db")

	code, _, errOut = cli(t, append(args, "-ledger-db", ledger)...)
	require.NotEqual(t, exitOK, code, "on SQLite the subject keys cannot share the data file")
	assert.Contains(t, errOut, "-subject-db")

	code, out, errOut := cli(t, append(args, "-ledger-db", ledger, "-subject-db", "sqlite:"+subjects)...)
	require.Equal(t, exitOK, code, "%s %s", out, errOut)
	assert.Contains(t, out, "shred")
	code, out, errOut = cli(t, "erasures", "-ledger-db", ledger, "-json")
	require.Equal(t, exitOK, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Len(t, lines, 2, "rows 1 and 2 expired; row 3 is held, 4 and 5 are recent: %s", out)
	for _, l := range lines {
		assert.Contains(t, l, `"purpose":"marketing"`)
		assert.NotContains(t, l, "c-1")
	}
}
