package main

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "customers.csv")
	require.NoError(t, run(context.Background(), path, customers()))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, c := range customers() {
		born, _ := c.Born.Get()
		for _, pt := range []string{c.ID, strings.TrimSpace(c.Email), born.Format("2006-01-02")} {
			assert.NotContains(t, string(b), pt, "plaintext in the export")
		}
		if c.Notes != "" {
			assert.NotContains(t, string(b), c.Notes, "a note in the export")
		}
	}
	recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 5, "header and four rows")
	ada, again := recs[1], recs[4]
	assert.Equal(t, ada[0], again[0], "the same customer, the same pseudonym")
	assert.Equal(t, ada[1], again[1], "the same email typed differently, the same pseudonym")
	assert.NotEqual(t, ada[0], recs[2][0], "different customers")
	assert.Equal(t, "1815", ada[2], "birth year")
	assert.Equal(t, "GB", ada[3])
	assert.Empty(t, ada[4], "notes redacted")
	assert.True(t, strings.HasPrefix(ada[0], "tl1h:"), "pseudonym %q", ada[0])
}
