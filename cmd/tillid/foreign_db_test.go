package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/tokenize"
)

// foreignDB is a database someone else created for another purpose: the
// erasure ledger, with its table and nothing else.
type foreignDB struct {
	dsn string // as the operator types it (with a password on PostgreSQL)
	db  *database
}

func newForeignDB(t *testing.T, backend string) foreignDB {
	t.Helper()
	var dsn string
	if backend == "sqlite" {
		dsn = "sqlite:" + filepath.Join(t.TempDir(), "erasures.db")
	} else {
		// The throwaway cluster trusts local connections, so the password
		// is ignored by the server; the CLI must still never print it.
		dsn = strings.Replace(pgtest.DSN(t), "postgres@", "postgres:s3cret-pw@", 1)
	}
	db, err := openDB(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(db.close)
	if db.dialect == dialectSQLite {
		_, err = keys.OpenSQLiteLedger(ctx, db.sql)
	} else {
		_, err = keys.OpenPostgresLedger(ctx, db.sql)
	}
	require.NoError(t, err)
	return foreignDB{dsn: dsn, db: db}
}

// tables returns the tables of the database, sorted.
func (f foreignDB) tables(t *testing.T) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`
	if f.db.dialect == dialectPostgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = ANY(current_schemas(false)) ORDER BY table_name`
	}
	rows, err := f.db.sql.QueryContext(ctx, q)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

// Every command that opens a store someone else created refuses a database
// that lacks it, naming the database (password masked) and the missing
// table, and creates nothing there: a vault rewrap pointed at the erasure
// ledger used to report "done: 0 rows" and create the vault and job tables,
// after which the runbook's next step (disabling the old key) would have
// broken every real token.
func TestCommandsRefuseAForeignDatabase(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			masterKey(t)
			keysetFile := filepath.Join(t.TempDir(), "keysets.json")
			for _, k := range [][]string{{"default"}, {"tokenize-card"}, {"-kind", "prf", "tokenize-card"}} {
				code, out, errOut := cli(t, append([]string{"keys", "create", "-keyset-file", keysetFile}, k...)...)
				require.Equal(t, exitOK, code, "%s %s", out, errOut)
			}
			f := newForeignDB(t, backend)
			before := f.tables(t)
			require.Equal(t, []string{ledgerTable}, before)
			good := []string{"-keyset-file", keysetFile}
			table := []string{"-table", "customers", "-key-column", "id", "-column", "email=Customer.Email"}
			for _, tc := range []struct {
				name      string
				args      []string
				wantTable string
			}{
				{name: "vault rewrap -db", args: append(append([]string{"vault", "rewrap", "-wait=false", "-db", f.dsn}, good...), "card"), wantTable: "tillid_tokens"},
				{name: "rewrap -db", args: append(append([]string{"rewrap", "-wait=false", "-db", f.dsn}, good...), table...), wantTable: "customers"},
				{name: "rewrap -check -db", args: append(append([]string{"rewrap", "-check", "-db", f.dsn}, good...), table...), wantTable: "customers"},
				{name: "rewrap -keyset-db", args: append([]string{"rewrap", "-wait=false", "-db", f.dsn, "-keyset-db", f.dsn}, table...), wantTable: keysetTable},
				{name: "keys list -keyset-db", args: []string{"keys", "list", "-keyset-db", f.dsn}, wantTable: keysetTable},
				{name: "keys rotate -keyset-db", args: []string{"keys", "rotate", "-keyset-db", f.dsn, "default"}, wantTable: keysetTable},
			} {
				code, out, errOut := cli(t, tc.args...)
				assert.NotEqual(t, exitOK, code, "%s = %d, %q %q; want a failure", tc.name, code, out, errOut)
				assert.Contains(t, errOut, target(f.dsn), "%s: the error names the database", tc.name)
				assert.Contains(t, errOut, tc.wantTable, "%s: the error names the missing table", tc.name)
				assert.NotContains(t, errOut+out, "s3cret-pw", "%s: the password is masked", tc.name)
				assert.Equal(t, before, f.tables(t), "%s created tables in a database without its data", tc.name)
			}
			// forget -vault-db and retention -vault-db open the vault
			// through openVault too.
			_, _, err := openVault(ctx, f.db, f.dsn)
			assert.ErrorContains(t, err, target(f.dsn))
			assert.ErrorContains(t, err, "tillid_tokens")
			assert.Equal(t, before, f.tables(t), "openVault created tables")

			// A vault that holds no token of the domain (another vault, an
			// empty copy) is rewrapped, but loudly.
			createVault(t, f.db, f.dsn)
			code, out, errOut := cli(t, append(append([]string{"vault", "rewrap", "-wait=false", "-db", f.dsn}, good...), "card")...)
			assert.Equal(t, exitOK, code, "%s %s", out, errOut)
			assert.Contains(t, errOut, "WARNING: the vault in "+target(f.dsn)+" holds no token of domain card", "an empty domain is not a quiet success")
			assert.NotContains(t, errOut+out, "s3cret-pw")
		})
	}
}

// retention sweep -token with a -vault-db that holds no vault is refused
// before any row is deleted, and creates no vault there.
func TestRetentionRefusesAForeignVault(t *testing.T) {
	masterKey(t)
	dsn, db := retentionDB(t, false)
	_, err := db.Exec(`ALTER TABLE customers ADD COLUMN card TEXT`)
	require.NoError(t, err)
	code, out, errOut := cli(t, "keys", "create", "-keyset-db", dsn, "tokenize-card")
	require.Equal(t, exitOK, code, "%s %s", out, errOut)
	f := newForeignDB(t, "sqlite")
	rows := countWhere(t, db, "1")
	code, out, errOut = cli(t, retentionArgs("sweep", dsn, "-token", "card=card", "-keyset-db", dsn, "-vault-db", f.dsn)...)
	assert.NotEqual(t, exitOK, code, "%s %s", out, errOut)
	assert.Contains(t, errOut, f.dsn)
	assert.Contains(t, errOut, "tillid_tokens")
	assert.Equal(t, []string{ledgerTable}, f.tables(t))
	assert.Equal(t, rows, countWhere(t, db, "1"), "rows deleted before the refusal")
}

// createVault creates the token vault in db, as an application opening it
// WithCreateTable does, and returns it.
func createVault(t *testing.T, db *database, dsn string) tokenize.Store {
	t.Helper()
	d := rewrapDB{dsn: dsn, db: db.sql}
	return vaultOf(t, d)
}
