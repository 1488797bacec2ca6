package pgtest_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err, "pgx.Connect(%q) = %v", dsn, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryString(t *testing.T, conn *pgx.Conn, sql string) string {
	t.Helper()
	var s string
	require.NoError(t, conn.QueryRow(t.Context(), sql).Scan(&s), "%s", sql)
	return s
}

func TestDSN(t *testing.T) {
	t.Parallel()
	dsn1, dsn2 := pgtest.DSN(t), pgtest.DSN(t)
	require.NotEqual(t, dsn2, dsn1, "DSN(t) returned %q twice, want two databases", dsn1)
	conn1, conn2 := connect(t, dsn1), connect(t, dsn2)

	db1 := queryString(t, conn1, "SELECT current_database()")
	db2 := queryString(t, conn2, "SELECT current_database()")
	assert.NotEqual(t, db2, db1, "current_database() = %q on both DSNs, want two databases", db1)

	// What one test writes, the other does not see.
	_, err := conn1.Exec(t.Context(), "CREATE TABLE only_in_db1 (id int)")
	require.NoError(t, err)
	got := queryString(t, conn2, "SELECT coalesce(to_regclass('only_in_db1')::text, 'none')")
	assert.Equal(t, "none", got, "table created in %s is visible in %s as %q", db1, db2, got)

	if os.Getenv(pgtest.EnvDSN) != "" {
		t.Skipf("%s is set: the server's addresses are not pgtest's", pgtest.EnvDSN)
	}
	got = queryString(t, conn1, "SHOW listen_addresses")
	assert.Equal(t, "127.0.0.1", got, "listen_addresses = %q, want 127.0.0.1", got)
	got = queryString(t, conn1, "SELECT host(inet_server_addr())")
	assert.Equal(t, "127.0.0.1", got, "inet_server_addr() = %q, want 127.0.0.1", got)
}

// TestDSNParallel checks that parallel tests share the cluster and each get
// their own database.
func TestDSNParallel(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"a", "b", "c", "d"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conn := connect(t, pgtest.DSN(t))
			_, err := conn.Exec(t.Context(), "CREATE TABLE t (id int)")
			require.NoError(t, err)
		})
	}
}
