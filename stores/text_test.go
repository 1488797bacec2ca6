package stores_test

import (
	"database/sql"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

type textCustomer struct {
	ID    string    `pii:"-"`
	Email pii.Text  `pii:"deterministic,class=contact"`
	Name  pii.Text  `pii:"encrypt,class=identity,aad=ID"`
	Phone *pii.Text `pii:"encrypt,class=contact"`
}

func textCustomerOf() textCustomer {
	return textCustomer{ID: "c1", Email: "leak1@example.com", Name: "Ada Lovelace"}
}

// pii.Text refuses plaintext on the way into a real database through
// database/sql, and what it stores reveals after a select.
func TestTextThroughDatabaseSQL(t *testing.T) {
	for _, tc := range []struct {
		name, driver, insert, sel string
		dsn                       func(t *testing.T) string
	}{
		{"sqlite", "sqlite", `INSERT INTO customers (id, email, name, phone) VALUES (?, ?, ?, ?)`, `SELECT id, email, name, phone FROM customers WHERE email = ?`,
			func(t *testing.T) string { return "file:" + t.TempDir() + "/c.db" }},
		{"postgres", "pgx", `INSERT INTO customers (id, email, name, phone) VALUES ($1, $2, $3, $4)`, `SELECT id, email, name, phone FROM customers WHERE email = $1`,
			func(t *testing.T) string { return pgtest.DSN(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := sql.Open(tc.driver, tc.dsn(t))
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			_, err = db.ExecContext(ctx, `CREATE TABLE customers (id TEXT PRIMARY KEY, email TEXT NOT NULL, name TEXT NOT NULL, phone TEXT)`)
			require.NoError(t, err)
			p, err := pii.New(keys.NewMemory())
			require.NoError(t, err)

			c := textCustomerOf()
			_, err = db.ExecContext(ctx, tc.insert, c.ID, c.Email, c.Name, c.Phone)
			require.ErrorIs(t, err, pii.ErrValuePlaintext, "an INSERT of plaintext fails before the driver sees it")

			require.NoError(t, p.Protect(ctx, &c))
			_, err = db.ExecContext(ctx, tc.insert, c.ID, c.Email, c.Name, c.Phone)
			require.NoError(t, err)

			var raw string
			require.NoError(t, db.QueryRowContext(ctx, `SELECT id || email || name FROM customers`).Scan(&raw))
			assert.NotContains(t, raw, "leak")
			assert.NotContains(t, raw, "Lovelace")

			var got textCustomer
			terms, err := p.LookupTerms(ctx, textCustomer{}, "Email", "leak1@example.com")
			require.NoError(t, err)
			require.NoError(t, db.QueryRowContext(ctx, tc.sel, terms[0]).Scan(&got.ID, &got.Email, &got.Name, &got.Phone))
			assert.Nil(t, got.Phone, "NULL scans into a nil *pii.Text")
			require.NoError(t, p.Reveal(ctx, &got))
			assert.Equal(t, textCustomerOf(), got)
		})
	}
}

// pgx's own interface calls Value too, so the guard holds without
// database/sql.
func TestTextThroughPgx(t *testing.T) {
	conn, err := pgx.Connect(ctx, pgtest.DSN(t))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(ctx) })
	_, err = conn.Exec(ctx, `CREATE TABLE customers (id TEXT PRIMARY KEY, email TEXT NOT NULL, name TEXT NOT NULL, phone TEXT)`)
	require.NoError(t, err)
	p, err := pii.New(keys.NewMemory())
	require.NoError(t, err)

	const insert = `INSERT INTO customers (id, email, name, phone) VALUES ($1, $2, $3, $4)`
	c := textCustomerOf()
	_, err = conn.Exec(ctx, insert, c.ID, c.Email, c.Name, c.Phone)
	require.ErrorIs(t, err, pii.ErrValuePlaintext)

	require.NoError(t, p.Protect(ctx, &c))
	_, err = conn.Exec(ctx, insert, c.ID, c.Email, c.Name, c.Phone)
	require.NoError(t, err)
	var raw string
	require.NoError(t, conn.QueryRow(ctx, `SELECT id || email || name FROM customers`).Scan(&raw))
	assert.NotContains(t, raw, "leak")

	var got textCustomer
	require.NoError(t, conn.QueryRow(ctx, `SELECT id, email, name, phone FROM customers`).Scan(&got.ID, &got.Email, &got.Name, &got.Phone))
	require.NoError(t, p.Reveal(ctx, &got))
	assert.Equal(t, textCustomerOf(), got)
}
