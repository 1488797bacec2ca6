package main

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
)

func TestRunErasure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run(ctx, dir, testN, &out), "run")
	assert.True(t, containsFields(out.String(), "profiles  10 read back erased, 100 without marketing fields, 90 intact"), "summary:\n%s", out.String())
	assert.True(t, containsFields(out.String(), "erasure  10 customers forgotten, 100 withdrew marketing consent: 120 subject keys destroyed, receipts in erasures.db"), "summary:\n%s", out.String())

	db, _, _ := openRun(t, dir)
	var cleared, indexed int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM profiles WHERE email_idx = ''").Scan(&cleared))
	require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM profiles WHERE email_idx LIKE 'tl1i:%'").Scan(&indexed))
	assert.Equal(t, 10, cleared, "the forgotten customers' email indexes are erased")
	assert.Equal(t, testN-10, indexed)
	var sealed int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM profiles WHERE email LIKE 'tl1s:%' AND topics LIKE 'tl1s:%'").Scan(&sealed))
	assert.Equal(t, testN, sealed, "every profile is sealed under its customer's keys")

	ldb, err := sql.Open("sqlite", sqliteDSN(filepath.Join(dir, ledgerFile)))
	require.NoError(t, err)
	defer ldb.Close()
	ledger, err := keys.OpenSQLiteLedger(ctx, ldb)
	require.NoError(t, err)
	entries, err := ledger.Since(ctx, time.Time{})
	require.NoError(t, err)
	assert.Len(t, entries, 110, "one ledger entry per erasure")

	// A second run in the same directory starts the subject keys afresh.
	out.Reset()
	require.NoError(t, run(ctx, dir, testN, &out), "second run")
	assert.True(t, containsFields(out.String(), "profiles  10 read back erased, 100 without marketing fields, 90 intact"), "second run:\n%s", out.String())
}
