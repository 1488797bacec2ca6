package main

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	var out, log bytes.Buffer
	require.NoError(t, run(context.Background(), dir, &out, &log))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 6)
	tests := []struct {
		name, want string
		line       int
	}{
		{"created", `201 {"id":"c1"}`, 0},
		{"owner sees all", `{"id":"c1","name":"Ada King Lovelace","email":"Ada@Example.com","card":"4929 1300 0000 3749"}`, 1},
		{"billing: card masked", `{"id":"c1","name":"Ada King Lovelace","email":"Ada@Example.com","card":"•••• •••• •••• 3749"}`, 2},
		{"support: masked, no card", `{"id":"c1","name":"A. K. L.","email":"A•••@Example.com","card":null}`, 3},
		{"found by the blind index", `200 [{"id":"c1","name":"A. K. L.","email":"A•••@Example.com","card":null}]`, 4},
		{"no role, no data", `403 unknown role`, 5},
	}
	for _, tt := range tests {
		assert.Contains(t, lines[tt.line], tt.want, tt.name)
	}
	assert.NotContains(t, out.String(), "invoice", "redact drops the notes before storage")

	// The log and the database hold none of it.
	for _, secret := range []string{"Ada", "ada@", "Lovelace", "4929", "3749", "invoice"} {
		assert.NotContains(t, log.String(), secret)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "api.db"))
	require.NoError(t, err)
	defer db.Close()
	var raw string
	require.NoError(t, db.QueryRow(`SELECT id || name || email || email_idx || card FROM customers`).Scan(&raw))
	for _, secret := range []string{"Ada", "ada@", "Lovelace", "4929", "invoice"} {
		assert.NotContains(t, raw, secret)
	}
}
