package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWithdrawPurposeChecked: tillid withdraw refuses a purpose no field
// can declare as a usage error before anything is recorded; a well-formed
// purpose the subject has no key of is recorded with a warning per
// subject and a count at the end; -known-purposes (or
// TILLID_KNOWN_PURPOSES) refuses a misspelt one. On SQLite and PostgreSQL.
func TestWithdrawPurposeChecked(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *forgetEnv) {
		for _, bad := range []string{"market.ing", "Marketing", "2fa", "billing+marketing", strings.Repeat("m", 65)} {
			code, out, errOut := e.run(t, "withdraw", "-purpose", bad, "c-1")
			assert.Equal(t, exitUsage, code, "-purpose %q: %s %s", bad, out, errOut)
			assert.Contains(t, errOut, "no field can have that purpose")
			assert.Empty(t, out, "no receipt")
		}
		assert.Empty(t, e.entries(t), "a refused withdrawal records nothing")

		code, out, errOut := e.run(t, "withdraw", "-purpose", "marketting", "c-1", "c-2")
		require.Equal(t, exitOK, code, "a well-formed purpose of no key is recorded: %s %s", out, errOut)
		assert.Equal(t, 2, strings.Count(errOut, "no key of purpose marketting was found for the subject"), errOut)
		assert.Contains(t, errOut, "2 of 2 subjects had no key of purpose marketting; give -known-purposes")
		assert.Len(t, e.entries(t), 2)

		code, out, errOut = e.run(t, "withdraw", "-purpose", "marketting", "-known-purposes", "billing, marketing", "c-3")
		assert.Equal(t, exitUsage, code, "%s %s", out, errOut)
		assert.Contains(t, errOut, "is not one of -known-purposes billing,marketing")
		t.Setenv("TILLID_KNOWN_PURPOSES", "billing,marketing")
		code, out, errOut = e.run(t, "withdraw", "-purpose", "marketting", "c-3")
		assert.Equal(t, exitUsage, code, "TILLID_KNOWN_PURPOSES: %s %s", out, errOut)
		code, out, errOut = e.run(t, "withdraw", "-purpose", "marketing", "-known-purposes", "bad.name", "c-3")
		assert.Equal(t, exitUsage, code, "a -known-purposes entry no field can have: %s %s", out, errOut)
		assert.Len(t, e.entries(t), 2, "refused runs record nothing")

		code, out, errOut = e.run(t, "withdraw", "-purpose", "marketing", "c-3", "c-9")
		require.Equal(t, exitOK, code, "%s %s", out, errOut)
		assert.Contains(t, out, "destroyed=1", "c-3's marketing key")
		assert.Equal(t, 1, strings.Count(errOut, "no key of purpose marketing was found"), "c-9 only: %s", errOut)
		assert.Contains(t, errOut, "1 of 2 subjects had no key of purpose marketing\n", "no hint: -known-purposes was given")
		code, _, errOut = e.run(t, "withdraw", "-purpose", "marketing", "c-3")
		require.Equal(t, exitOK, code, errOut)
		assert.NotContains(t, errOut, "no key of purpose", "a repeat names the key an earlier run destroyed")
	})
}

// TestRetentionShredPurposeChecked: a then:shred rule's purpose: is a
// purpose= name of the tags, or a usage error.
func TestRetentionShredPurposeChecked(t *testing.T) {
	dsn, _ := retentionDB(t, false)
	code, out, errOut := cli(t, "retention", "report", "-db", dsn, "-table", "customers", "-key-column", "id",
		"-rule", "promo=retain:2y,from:created,then:shred,purpose:market.ing", "-subject-column", "id")
	assert.Equal(t, exitUsage, code, "%s %s", out, errOut)
	assert.Contains(t, errOut, "no field can have that purpose")
}
