package main

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

// Member is the record of the erasure tests: a base field, a marketing
// field, and a blind index of each, which no subject key protects.
type Member struct {
	ID       string `pii:"subject"`
	Email    string `pii:"encrypt,class=contact"`
	EmailIdx string `pii:"index=Email,normalize=email"`
	Promo    string `pii:"encrypt,purpose=marketing,basis=consent"`
	PromoIdx string `pii:"index=Promo"`
}

// forgetEnv is a keyset and subject-key store holding a members table on
// one backend, and a ledger in a database of its own.
type forgetEnv struct {
	name      string
	dsn       string // keysets, subject keys and data
	ledgerDSN string
	db        *database
	ledgerDB  *database
	raw       []byte // the master key
	// members are the rows as first stored (protected).
	members []Member
}

// eachBackend runs f on SQLite and on a real PostgreSQL.
func eachBackend(t *testing.T, f func(t *testing.T, e *forgetEnv)) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) { f(t, newForgetEnv(t, name)) })
	}
}

func newForgetEnv(t *testing.T, name string) *forgetEnv {
	t.Helper()
	e := &forgetEnv{name: name, raw: masterKey(t)}
	if name == "sqlite" {
		dir := t.TempDir()
		e.dsn, e.ledgerDSN = "sqlite:"+filepath.Join(dir, "app.db"), "sqlite:"+filepath.Join(dir, "ledger.db")
	} else {
		e.dsn, e.ledgerDSN = pgtest.DSN(t), pgtest.DSN(t)
	}
	for _, k := range [][]string{{"subject-keys"}, {"-kind", "prf", "subject-pseudonym"}, {"-kind", "prf", "default"}} {
		code, out, errOut := cli(t, append([]string{"keys", "create", "-keyset-db", e.dsn}, k...)...)
		require.Equal(t, exitOK, code, "%s %s", out, errOut)
	}
	var err error
	e.db, err = openDB(ctx, e.dsn)
	require.NoError(t, err)
	t.Cleanup(e.db.close)
	e.ledgerDB, err = openDB(ctx, e.ledgerDSN)
	require.NoError(t, err)
	t.Cleanup(e.ledgerDB.close)
	_, err = e.ledger(t).Since(ctx, time.Time{}) // creates the ledger table
	require.NoError(t, err)
	_, err = e.db.sql.ExecContext(ctx, `CREATE TABLE members (id TEXT PRIMARY KEY, email TEXT, email_idx TEXT, promo TEXT, promo_idx TEXT)`)
	require.NoError(t, err)
	e.members = []Member{{ID: "c-1", Email: "a@example.com", Promo: "x"}, {ID: "c-2", Email: "b@example.com", Promo: "y"}, {ID: "c-3", Email: "c@example.com", Promo: "z"}}
	require.NoError(t, e.protector(t).Protect(ctx, &e.members))
	for _, m := range e.members {
		_, err = e.db.sql.ExecContext(ctx, `INSERT INTO members VALUES (`+e.ph(1)+`, `+e.ph(2)+`, `+e.ph(3)+`, `+e.ph(4)+`, `+e.ph(5)+`)`, m.ID, m.Email, m.EmailIdx, m.Promo, m.PromoIdx)
		require.NoError(t, err)
	}
	return e
}

func (e *forgetEnv) ph(i int) string { return placeholder(e.db, i) }

// base are the flags of every erasure command of the environment.
func (e *forgetEnv) base() []string { return []string{"-keyset-db", e.dsn, "-ledger-db", e.ledgerDSN} }

// table are the flags naming the members table.
func (e *forgetEnv) table() []string {
	return []string{"-db", e.dsn, "-table", "members", "-subject-column", "id"}
}

// run runs tillid cmd with the base flags, then args.
func (e *forgetEnv) run(t *testing.T, cmd string, args ...string) (int, string, string) {
	t.Helper()
	return cli(t, append(append([]string{cmd}, e.base()...), args...)...)
}

func (e *forgetEnv) provider(t *testing.T) *keys.SQLStore {
	t.Helper()
	kek, err := keys.NewLocalKEK(e.raw)
	require.NoError(t, err)
	var p *keys.SQLStore
	if e.db.dialect == dialectSQLite {
		p, err = keys.OpenSQLite(ctx, e.db.sql, kek)
	} else {
		p, err = keys.OpenPostgres(ctx, e.db.sql, kek)
	}
	require.NoError(t, err)
	return p
}

func (e *forgetEnv) ledger(t *testing.T) keys.Ledger {
	t.Helper()
	var l keys.Ledger
	var err error
	if e.ledgerDB.dialect == dialectSQLite {
		l, err = keys.OpenSQLiteLedger(ctx, e.ledgerDB.sql)
	} else {
		l, err = keys.OpenPostgresLedger(ctx, e.ledgerDB.sql)
	}
	require.NoError(t, err)
	return l
}

// entries returns the ledger's raw entries.
func (e *forgetEnv) entries(t *testing.T) []keys.LedgerEntry {
	t.Helper()
	got, err := e.ledger(t).Since(ctx, time.Time{})
	require.NoError(t, err)
	return got
}

// protector is a new application instance (no cache) over the stores.
func (e *forgetEnv) protector(t *testing.T) *pii.Protector {
	t.Helper()
	provider := e.provider(t)
	var store keys.SubjectKeyStore
	var err error
	if e.db.dialect == dialectSQLite {
		store, err = keys.OpenSQLiteSubjectKeyStore(ctx, e.db.sql)
	} else {
		store, err = keys.OpenPostgresSubjectKeyStore(ctx, e.db.sql)
	}
	require.NoError(t, err)
	sk, err := keys.NewSubjectKeys(provider, store, e.ledger(t))
	require.NoError(t, err)
	p, err := pii.New(provider, pii.WithSubjectKeys(sk))
	require.NoError(t, err)
	return p
}

// rawMember is one row of the members table as stored: nil for NULL.
type rawMember struct {
	Email, EmailIdx, Promo, PromoIdx *string
}

// rows reads the members table raw, by ID.
func (e *forgetEnv) rows(t *testing.T) map[string]rawMember {
	t.Helper()
	rs, err := e.db.sql.QueryContext(ctx, `SELECT id, email, email_idx, promo, promo_idx FROM members`)
	require.NoError(t, err)
	defer rs.Close()
	out := map[string]rawMember{}
	for rs.Next() {
		var id string
		var m [4]sql.NullString
		require.NoError(t, rs.Scan(&id, &m[0], &m[1], &m[2], &m[3]))
		var r [4]*string
		for i := range m {
			if m[i].Valid {
				r[i] = &m[i].String
			}
		}
		out[id] = rawMember{r[0], r[1], r[2], r[3]}
	}
	require.NoError(t, rs.Err())
	return out
}

// stored is the raw row of a member as newForgetEnv stored it.
func (e *forgetEnv) stored(id string) rawMember {
	for _, m := range e.members {
		if m.ID == id {
			return rawMember{&m.Email, &m.EmailIdx, &m.Promo, &m.PromoIdx}
		}
	}
	panic(fmt.Sprintf("no member %s", id))
}

// assertUntouched checks that nothing was erased: the ledger is empty,
// every row is as stored, and a new instance reveals every member whole.
func (e *forgetEnv) assertUntouched(t *testing.T, reason string) {
	t.Helper()
	assert.Empty(t, e.entries(t), "%s: the ledger records an erasure", reason)
	rows := e.rows(t)
	require.Len(t, rows, len(e.members), "%s: rows were deleted", reason)
	for _, m := range e.members {
		assert.Equal(t, e.stored(m.ID), rows[m.ID], "%s: row %s changed", reason, m.ID)
	}
	got := e.revealAll(t)
	for i, m := range got {
		assert.NotEmpty(t, m.Email, "%s: member %d's base key was destroyed", reason, i)
		assert.NotEmpty(t, m.Promo, "%s: member %d's marketing key was destroyed", reason, i)
	}
}

// revealAll reveals the members as first stored, on a new instance.
func (e *forgetEnv) revealAll(t *testing.T) []Member {
	t.Helper()
	got := append([]Member(nil), e.members...)
	_, err := e.protector(t).RevealReport(ctx, &got)
	require.NoError(t, err)
	return got
}
