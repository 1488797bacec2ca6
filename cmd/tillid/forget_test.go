package main

import (
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

// Client is the application's record: its email sealed under the
// client's subject key, and a blind index of it that is not.
type Client struct {
	ID       string `pii:"subject"`
	Email    string `pii:"encrypt,class=contact"`
	EmailIdx string `pii:"index=Email,normalize=email"`
	Promo    string `pii:"encrypt,purpose=marketing,basis=consent"`
}

type forgetDB struct {
	name      string
	dsn       string // keys, subject keys and data
	ledgerDSN string
	ph        func(int) string
}

func TestForgetWithdrawErasures(t *testing.T) {
	dir := t.TempDir()
	dbs := []forgetDB{
		{name: "sqlite", dsn: "sqlite:" + filepath.Join(dir, "app.db"), ledgerDSN: "sqlite:" + filepath.Join(dir, "ledger.db"), ph: func(int) string { return "?" }},
		{name: "postgres", dsn: pgtest.DSN(t), ledgerDSN: pgtest.DSN(t), ph: func(i int) string { return "$" + string(rune('0'+i)) }},
	}
	for _, d := range dbs {
		t.Run(d.name, func(t *testing.T) {
			raw := masterKey(t)
			for _, k := range [][]string{{"subject-keys"}, {"-kind", "prf", "subject-pseudonym"}, {"-kind", "prf", "default"}} {
				code, out, errOut := cli(t, append([]string{"keys", "create", "-keyset-db", d.dsn}, k...)...)
				require.Equal(t, exitOK, code, "%s %s", out, errOut)
			}
			db, err := openDB(ctx, d.dsn)
			require.NoError(t, err)
			defer db.close()
			ldb, err := openDB(ctx, d.ledgerDSN)
			require.NoError(t, err)
			defer ldb.close()
			app := func() *pii.Protector {
				kek, _ := keys.NewLocalKEK(raw)
				var provider *keys.SQLStore
				var store keys.SubjectKeyStore
				var ledger keys.Ledger
				if db.dialect == dialectSQLite {
					provider, err = keys.OpenSQLite(ctx, db.sql, kek)
					require.NoError(t, err)
					store, err = keys.OpenSQLiteSubjectKeyStore(ctx, db.sql)
					require.NoError(t, err)
					ledger, err = keys.OpenSQLiteLedger(ctx, ldb.sql)
				} else {
					provider, err = keys.OpenPostgres(ctx, db.sql, kek)
					require.NoError(t, err)
					store, err = keys.OpenPostgresSubjectKeyStore(ctx, db.sql)
					require.NoError(t, err)
					ledger, err = keys.OpenPostgresLedger(ctx, ldb.sql)
				}
				require.NoError(t, err)
				sk, err := keys.NewSubjectKeys(provider, store, ledger)
				require.NoError(t, err)
				p, err := pii.New(provider, pii.WithSubjectKeys(sk))
				require.NoError(t, err)
				return p
			}
			p := app()
			_, err = db.sql.ExecContext(ctx, `CREATE TABLE clients (id TEXT PRIMARY KEY, email TEXT, email_idx TEXT, promo TEXT)`)
			require.NoError(t, err)
			rows := []Client{{ID: "c-1", Email: "a@example.com", Promo: "x"}, {ID: "c-2", Email: "b@example.com", Promo: "y"}, {ID: "c-3", Email: "c@example.com", Promo: "z"}}
			require.NoError(t, p.Protect(ctx, &rows))
			for _, r := range rows {
				_, err = db.sql.ExecContext(ctx, `INSERT INTO clients VALUES (`+d.ph(1)+`, `+d.ph(2)+`, `+d.ph(3)+`, `+d.ph(4)+`)`, r.ID, r.Email, r.EmailIdx, r.Promo)
				require.NoError(t, err)
			}
			base := []string{"-keyset-db", d.dsn, "-ledger-db", d.ledgerDSN}
			code, out, errOut := cli(t, append([]string{"forget"}, append(base, "-db", d.dsn, "-table", "clients", "-subject-column", "id", "-clear", "email_idx", "-json", "c-1")...)...)
			require.Equal(t, exitOK, code, "forget: %s %s", out, errOut)
			var rec receipt
			require.NoError(t, json.Unmarshal([]byte(out), &rec))
			assert.Equal(t, keys.AllPurposes, rec.Purpose)
			assert.ElementsMatch(t, []string{"", "marketing"}, rec.Destroyed)
			assert.Equal(t, int64(1), rec.Rows)
			assert.NotContains(t, out+errOut, "c-1", "no subject ID in the output")
			assert.Contains(t, errOut, "vault tokens are not deleted (no -vault-db)", "the CLI says what it leaves undone")

			code, out, errOut = cli(t, append([]string{"withdraw"}, append(base, "-purpose", "marketing", "c-2")...)...)
			require.Equal(t, exitOK, code, "withdraw: %s %s", out, errOut)
			assert.Contains(t, out, "purpose=marketing")
			assert.Contains(t, out, "destroyed=1")

			// A new instance (no cache) reads the table back.
			reader := app()
			got := readClients(t, db.sql)
			rep, err := reader.RevealReport(ctx, &got)
			require.NoError(t, err)
			assert.Equal(t, []string{"[]main.Client[0].Email", "[]main.Client[0].Promo", "[]main.Client[1].Promo"}, rep.Erased)
			assert.Equal(t, Client{ID: "c-1"}, got[0], "c-1 forgotten, its index cleared")
			assert.Equal(t, "b@example.com", got[1].Email, "c-2 keeps its base fields")
			assert.Equal(t, "", got[1].Promo, "c-2 withdrew marketing")
			assert.Equal(t, Client{ID: "c-3", Email: "c@example.com", EmailIdx: rows[2].EmailIdx, Promo: "z"}, got[2], "c-3 intact")

			code, out, errOut = cli(t, "erasures", "-ledger-db", d.ledgerDSN, "-json")
			require.Equal(t, exitOK, code, "erasures: %s", errOut)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			require.Len(t, lines, 2)
			assert.Contains(t, lines[0], `"purpose":"*"`)
			assert.Contains(t, lines[1], `"purpose":"marketing"`)

			code, out, errOut = cli(t, append([]string{"erasures"}, append(base, "-reapply", "-since", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))...)...)
			require.Equal(t, exitOK, code, "reapply: %s", errOut)
			assert.Contains(t, out, "re-applied 2")
			code, _, errOut = cli(t, append([]string{"erasures"}, append(base, "-reapply", "-since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))...)...)
			assert.Equal(t, exitUsage, code, "reapply since a future time")
			assert.Contains(t, errOut, "in the future")

			code, _, _ = cli(t, append([]string{"forget"}, base...)...)
			assert.Equal(t, exitUsage, code, "no subject")
			code, _, _ = cli(t, "forget", "-keyset-db", d.dsn, "-ledger-db", d.dsn, "x")
			assert.Equal(t, exitUsage, code, "ledger in the key store")
			code, _, _ = cli(t, append([]string{"withdraw"}, append(base, "x")...)...)
			assert.Equal(t, exitUsage, code, "withdraw without -purpose")
		})
	}
}

func readClients(t *testing.T, db *sql.DB) []Client {
	t.Helper()
	rs, err := db.QueryContext(ctx, `SELECT id, email, email_idx, promo FROM clients ORDER BY id`)
	require.NoError(t, err)
	defer rs.Close()
	var out []Client
	for rs.Next() {
		var c Client
		var idx sql.NullString
		require.NoError(t, rs.Scan(&c.ID, &c.Email, &idx, &c.Promo))
		c.EmailIdx = idx.String
		out = append(out, c)
	}
	require.NoError(t, rs.Err())
	return out
}
