package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSubjectSealedColumns checks what the CLI's column tools do with a
// column sealed under subject keys (tl1s:): tillid rewrap, with or without
// :migrate and -verify, changes none of its values and says why (not
// "decryption failed", which reads as tampering); forget -clear of such a
// column sets it to NULL like any other.
func TestSubjectSealedColumns(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *forgetEnv) {
		for _, k := range [][]string{{"default"}, {"-kind", "daead", "default"}} {
			code, out, errOut := cli(t, append([]string{"keys", "create", "-keyset-db", e.dsn}, k...)...)
			require.Equal(t, exitOK, code, "%s %s", out, errOut)
		}
		rewrap := []string{"rewrap", "-keyset-db", e.dsn, "-db", e.dsn, "-table", "members", "-key-column", "id", "-wait=false"}
		tests := []struct {
			name   string
			args   []string
			reason string
		}{
			{name: "encrypt", args: []string{"-column", "email=Member.Email"}},
			{name: "migrate", args: []string{"-column", "email=Member.Email:migrate"}, reason: "migrate must not take a subject value for plaintext and seal it again"},
			{name: "deterministic", args: []string{"-column", "email=Member.Email:deterministic:migrate"}},
			{name: "index from a subject source", args: []string{"-column", "email=Member.Email", "-column", "email_idx=Member.EmailIdx:index=email:normalize=email"}, reason: "the index's source cannot be revealed through a Column"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, out, errOut := cli(t, append(rewrap, tt.args...)...)
				assert.Equal(t, exitRewrapSkips, code, "%s: %s %s", tt.reason, out, errOut)
				assert.Contains(t, out+errOut, "sealed under its data subject's key (tl1s:)", tt.reason)
				assert.NotContains(t, out+errOut, "decryption failed", tt.reason)
				e.assertUntouched(t, tt.name)
			})
		}

		// -check counts them apart: they hold no old key of the column's
		// keyset back from being disabled.
		for _, verify := range []string{"-verify=false", "-verify"} {
			code, out, errOut := cli(t, append(rewrap, "-column", "email=Member.Email", "-check", verify)...)
			assert.Equal(t, exitOK, code, "%s: %s %s", verify, out, errOut)
			assert.Contains(t, out, "email: 3 values sealed under data subjects' keys, which tillid rewrap does not reach", verify)
			assert.NotContains(t, out, "default/aead", "%s: subject key IDs counted under the column's keyset", verify)
		}
		e.assertUntouched(t, "rewrap -check")

		code, out, errOut := e.run(t, "forget", append(e.table(), "-clear", "email", "-clear", "email_idx", "c-1")...)
		require.Equal(t, exitOK, code, "%s %s", out, errOut)
		rows := e.rows(t)
		assert.Nil(t, rows["c-1"].Email)
		assert.Nil(t, rows["c-1"].EmailIdx)
		assert.Equal(t, e.stored("c-2"), rows["c-2"])
	})
}
