package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glebarez/sqlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), dir, &out))
	assert.Contains(t, out.String(), "found by email: c-2, Alan Turing")
	assert.Contains(t, out.String(), "revealed name: Alan M. Turing (born 1912)")

	// The database, read without the plugin, holds no plaintext.
	db, err := gorm.Open(sqlite.Open(filepath.Join(dir, "customers.db")), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	var rows []map[string]any
	require.NoError(t, db.Raw("SELECT * FROM customers").Scan(&rows).Error)
	require.Len(t, rows, 3)
	for _, r := range rows {
		for col, v := range r {
			s, _ := v.(string)
			for _, pt := range []string{"Ada", "Alan", "Grace", "@example.com", "1815", "1912"} {
				assert.False(t, strings.Contains(s, pt), "column %s holds plaintext %q", col, pt)
			}
		}
	}

	// A second run on the same directory starts again cleanly.
	out.Reset()
	require.NoError(t, run(context.Background(), dir, &out))
}
