package main

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/tokenize"
)

// TestForgetDeletesVaultTokens checks that forget -vault-db deletes the
// subject's vault tokens (and no one else's), counts them in the receipt,
// and refuses, before any key is destroyed, a domain whose keyset it
// cannot find or whose PRF keyset has a disabled key.
func TestForgetDeletesVaultTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *forgetEnv) {
		for _, k := range [][]string{{"tokenize-card"}, {"-kind", "prf", "tokenize-card"}, {"tokenize-phone"}, {"-kind", "prf", "tokenize-phone"}, {"old-legacy"}, {"-kind", "prf", "old-legacy"}} {
			code, out, errOut := cli(t, append([]string{"keys", "create", "-keyset-db", e.dsn}, k...)...)
			require.Equal(t, exitOK, code, "%s %s", out, errOut)
		}
		vault := createVault(t, e.db, e.dsn)
		provider := e.provider(t)
		tokenizer := func(domain, keyName string) *tokenize.Tokenizer {
			tk, err := tokenize.New(provider, vault, domain, tokenize.ModeRandom, tokenize.WithKeyName(keyName))
			require.NoError(t, err)
			return tk
		}
		card, phone, legacy := tokenizer("card", "tokenize-card"), tokenizer("phone", "tokenize-phone"), tokenizer("legacy", "old-legacy")
		issue := func(tk *tokenize.Tokenizer, value string, opts ...tokenize.TokenOption) string {
			tok, err := tk.Tokenize(ctx, value, opts...)
			require.NoError(t, err)
			return tok
		}
		issue(card, "4111111111111111", tokenize.ForSubject("c-1"))
		issue(card, "5500000000000004", tokenize.ForSubject("c-1"))
		issue(phone, "+4512345678", tokenize.ForSubject("c-1"))
		issue(legacy, "old", tokenize.ForSubject("c-1"))
		keep := issue(card, "4000000000000002", tokenize.ForSubject("c-2"))
		anon := issue(card, "4000000000000010")
		count := func(domain string) int {
			var n int
			require.NoError(t, e.db.sql.QueryRowContext(ctx, `SELECT count(*) FROM tillid_tokens WHERE domain = `+e.ph(1), domain).Scan(&n))
			return n
		}
		counts := func() [3]int { return [3]int{count("card"), count("phone"), count("legacy")} }
		require.Equal(t, [3]int{4, 1, 1}, counts())

		// Every domain of the vault by default: legacy's keyset is not
		// tokenize-legacy, so nothing is erased.
		code, out, errOut := e.run(t, "forget", "-vault-db", e.dsn, "c-1")
		assert.Equal(t, exitNotFound, code, "%s %s", out, errOut)
		assert.Contains(t, errOut, "vault domain legacy: no PRF keyset tokenize-legacy")
		assert.Contains(t, errOut, "-vault-key-name")
		e.assertUntouched(t, "a vault domain without its keyset")
		assert.Equal(t, [3]int{4, 1, 1}, counts(), "tokens deleted before the refusal")

		code, out, errOut = e.run(t, "forget", "-vault-db", e.dsn, "-vault-domain", "legacy", "-vault-key-name", "old-legacy", "c-1")
		require.Equal(t, exitOK, code, "%s %s", out, errOut)
		assert.Contains(t, out, "tokens=1")
		assert.NotContains(t, errOut, "vault tokens are not deleted")
		assert.Equal(t, [3]int{4, 1, 0}, counts())

		// A retry for the other domains completes the erasure.
		code, out, errOut = e.run(t, "forget", "-vault-db", e.dsn, "-vault-domain", "card", "-vault-domain", "phone", "-json", "c-1")
		require.Equal(t, exitOK, code, "%s %s", out, errOut)
		var r receipt
		require.NoError(t, json.Unmarshal([]byte(out), &r))
		assert.Equal(t, int64(3), r.Tokens, "receipt: %s", out)
		assert.Equal(t, [3]int{2, 0, 0}, counts())
		for _, tok := range []string{keep, anon} {
			_, err := card.Detokenize(ctx, tok)
			assert.NoError(t, err, "another subject's token was deleted")
		}

		// A disabled PRF key would hide tokens: refused before c-2's keys go.
		code, out, errOut = cli(t, "keys", "rotate", "-keyset-db", e.dsn, "-kind", "prf", "tokenize-card")
		require.Equal(t, exitOK, code, "%s %s", out, errOut)
		code, out, errOut = cli(t, "keys", "list", "-keyset-db", e.dsn, "-json")
		require.Equal(t, exitOK, code, errOut)
		var listed []listedKey
		require.NoError(t, json.Unmarshal([]byte(out), &listed))
		for _, k := range listed {
			if k.Keyset == "tokenize-card" && k.Kind == "prf" && !k.Primary {
				code, out, errOut = cli(t, "keys", "disable", "-keyset-db", e.dsn, "-kind", "prf", "tokenize-card", strconv.FormatUint(uint64(k.KeyID), 10))
				require.Equal(t, exitOK, code, "%s %s", out, errOut)
			}
		}
		before := len(e.entries(t))
		code, out, errOut = e.run(t, "forget", "-vault-db", e.dsn, "-vault-domain", "card", "c-2")
		assert.Equal(t, exitFailure, code, "%s %s", out, errOut)
		assert.Contains(t, errOut, "are disabled")
		assert.Len(t, e.entries(t), before, "c-2 erased despite the refusal")
		assert.Equal(t, [3]int{2, 0, 0}, counts())
	})
}
