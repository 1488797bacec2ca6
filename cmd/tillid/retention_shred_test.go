package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/tokenize"
)

// shredSweep prepares a then:shred sweep on SQLite: a customers table
// whose rows name their subjects, the subject keysets, and an erasure
// ledger. It returns the sweep's arguments (without -ledger-db and
// -subject-db), the data DSN and the ledger's.
func shredSweep(t *testing.T) (args []string, dsn, ledger string) {
	masterKey(t)
	dsn, db := retentionDB(t, false)
	_, err := db.Exec(`ALTER TABLE customers ADD COLUMN subject TEXT`)
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE customers SET subject = 'c-' || id`)
	require.NoError(t, err)
	// An erasure ledger exists before the sweep: a missing one is refused.
	ledger, _ = shredStores(t, dsn)
	args = []string{"retention", "sweep", "-db", dsn, "-table", "customers", "-key-column", "id",
		"-rule", "promo=retain:2y,from:created,then:shred,purpose:marketing", "-hold", "hold",
		"-subject-column", "subject", "-now", "2026-12-01T00:00:00Z", "-keyset-db", dsn}
	return args, dsn, ledger
}

// A then:shred rule run from the CLI withdraws each expired row's subject
// from the purpose through the subject-key store and ledger, on SQLite.
func TestRetentionShredSQLite(t *testing.T) {
	args, _, ledger := shredSweep(t)
	subjects := filepath.Join(t.TempDir(), "subjects.db")
	require.NoError(t, os.WriteFile(subjects, nil, 0o600))
	code, _, errOut := cli(t, args...)
	require.NotEqual(t, exitOK, code, "shred needs the ledger")
	assert.Contains(t, errOut, "-ledger-db")

	code, _, errOut = cli(t, append(args, "-ledger-db", ledger)...)
	require.NotEqual(t, exitOK, code, "on SQLite the subject keys cannot share the data file")
	assert.Contains(t, errOut, "-subject-db")

	code, out, errOut := cli(t, append(args, "-ledger-db", ledger, "-subject-db", "sqlite:"+subjects, "-create-subject-store")...)
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
	code, out, errOut = cli(t, append(args, "-ledger-db", ledger, "-subject-db", "sqlite:"+subjects)...)
	require.Equal(t, exitOK, code, "the table exists now: no flag needed: %s %s", out, errOut)
}

// TestRetentionShredRefusesMissingSubjectStore: a then:shred sweep whose
// -subject-db holds no subject-key table (a mistyped DSN) is refused, as
// tillid forget refuses it, before anything changes: no table is made
// there and the ledger records nothing. On SQLite and PostgreSQL.
func TestRetentionShredRefusesMissingSubjectStore(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			args, _, ledger := shredSweep(t)
			subjectDB := "sqlite:" + filepath.Join(t.TempDir(), "mistyped.db")
			if backend == "postgres" {
				subjectDB = pgtest.DSN(t)
			} else {
				require.NoError(t, os.WriteFile(strings.TrimPrefix(subjectDB, "sqlite:"), nil, 0o600))
			}
			code, out, errOut := cli(t, append(args, "-ledger-db", ledger, "-subject-db", subjectDB)...)
			assert.NotEqual(t, exitOK, code, "%s %s", out, errOut)
			assert.Contains(t, errOut, "-create-subject-store", "the refusal names the flag that starts an empty store")
			assert.NotContains(t, out, "shred", "no sweep ran")
			sdb, err := openDB(ctx, subjectDB)
			require.NoError(t, err)
			defer sdb.close()
			assert.Error(t, tableExists(ctx, sdb, subjectKeyTable), "the refusal made no subject-key table")
			code, out, errOut = cli(t, "erasures", "-ledger-db", ledger)
			require.Equal(t, exitOK, code, errOut)
			assert.Equal(t, "no erasures\n", out, "the ledger recorded nothing")
		})
	}
}

type cliCard struct {
	Card string `pii:"tokenize=card"`
}

// TestRetentionSweepDeletesVaultTokens: -token names a column of vault
// tokens; report and -dry-run count those of the rows due for deletion, and
// a sweep deletes them from the vault (in another file than the data on
// SQLite) with the rows.
func TestRetentionSweepDeletesVaultTokens(t *testing.T) {
	masterKey(t)
	dsn, db := retentionDB(t, false)
	vaultPath := filepath.Join(t.TempDir(), "vault.db")
	vdb, err := sql.Open("sqlite", "file:"+vaultPath)
	require.NoError(t, err)
	t.Cleanup(func() { vdb.Close() })
	vault, err := tokenize.OpenSQLite(ctx, vdb, tokenize.WithCreateTable())
	require.NoError(t, err)
	tk, err := tokenize.New(keys.NewMemory(), vault, "card", tokenize.ModeRandom)
	require.NoError(t, err)
	p, err := pii.New(keys.NewMemory(), pii.WithVault(tk))
	require.NoError(t, err)
	_, err = db.Exec(`ALTER TABLE customers ADD COLUMN card TEXT`)
	require.NoError(t, err)
	tokens := map[int]string{}
	for id := 1; id <= 5; id++ {
		c := cliCard{Card: fmt.Sprintf("411111111111111%d", id)}
		require.NoError(t, p.Protect(ctx, &c))
		_, err = db.Exec(`UPDATE customers SET card = ? WHERE id = ?`, c.Card, id)
		require.NoError(t, err)
		tokens[id], _ = pii.Token(c.Card)
	}
	code, out, errOut := cli(t, "keys", "create", "-keyset-db", dsn, "tokenize-card")
	require.Equal(t, exitOK, code, "%s %s", out, errOut)

	code, out, errOut = cli(t, retentionArgs("sweep", dsn, "-dry-run", "-token", "card=card")...)
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "rule row: its due rows hold 2 vault tokens")

	code, _, errOut = cli(t, retentionArgs("sweep", dsn, "-token", "card=card", "-keyset-db", dsn)...)
	require.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "-vault-db")

	code, out, errOut = cli(t, retentionArgs("sweep", dsn, "-token", "card=card", "-keyset-db", dsn, "-vault-db", "sqlite:"+vaultPath)...)
	require.Equal(t, exitOK, code, "%s %s", out, errOut)
	assert.Contains(t, out, "rule row: 2 vault tokens deleted with its rows, 0 left in the vault")
	for id, tok := range tokens {
		_, err := tk.Detokenize(ctx, tok)
		if id <= 2 {
			assert.ErrorIs(t, err, tokenize.ErrTokenNotFound, "row %d was deleted", id)
		} else {
			assert.NoError(t, err, "row %d stays", id)
		}
	}
}

// shredStores creates the keysets of subject keys in the keyset store dsn,
// an erasure ledger (a sweep refuses a missing one) and an empty file for
// the subject keys (a sweep given it needs -create-subject-store), and
// returns the ledger's DSN and the file's path.
func shredStores(t *testing.T, dsn string) (ledger, subjects string) {
	for _, k := range [][]string{{"subject-keys"}, {"-kind", "prf", "subject-pseudonym"}} {
		code, out, errOut := cli(t, append([]string{"keys", "create", "-keyset-db", dsn}, k...)...)
		require.Equal(t, exitOK, code, "%s %s", out, errOut)
	}
	ledger = "sqlite:" + filepath.Join(t.TempDir(), "ledger.db")
	ldb, err := openDB(ctx, ledger)
	require.NoError(t, err)
	_, err = keys.OpenSQLiteLedger(ctx, ldb.sql)
	require.NoError(t, err)
	ldb.close()
	subjects = filepath.Join(t.TempDir(), "subjects.db")
	require.NoError(t, os.WriteFile(subjects, nil, 0o600))
	return ledger, subjects
}
