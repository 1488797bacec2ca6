package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
)

// TestForgetSubjectsFile checks what -subjects reads: comments, blank
// lines, CRLF line ends, white space and a byte-order mark are not IDs,
// and a bad line is a usage error naming its line, before anything is
// erased.
func TestForgetSubjectsFile(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *forgetEnv) {
		dir := t.TempDir()
		write := func(name, text string) string {
			path := filepath.Join(dir, name)
			require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
			return path
		}
		bad := []struct {
			name    string
			text    string
			wantErr []string
			reason  string
		}{
			{name: "tab", text: "c-1\r\nc-2\tc-3\r\n", wantErr: []string{"line 2: the subject ID holds a control"}},
			{name: "trailing comment", text: "# erasure requests\nc-1  # Alice\n", wantErr: []string{"line 2: looks like an ID followed by a comment"}, reason: "the comment would be part of the ID, which erases nobody"},
			{name: "NUL and long", text: "c-1\n\n" + strings.Repeat("x", keys.MaxSubjectSize+1) + "\nc-\x002\n", wantErr: []string{"line 3: the subject ID is 1025 bytes", "line 4: "}, reason: "every bad line is listed"},
			{name: "only comments", text: "# none yet\n\n   \r\n", wantErr: []string{"holds no subject IDs"}},
			{name: "zero-width space", text: "c-1\u200b\n", wantErr: []string{"line 1: the subject ID holds a control or invisible character"}},
		}
		for _, tt := range bad {
			t.Run(tt.name, func(t *testing.T) {
				code, out, errOut := e.run(t, "forget", append(e.table(), "-clear", "email_idx", "-subjects", write(tt.name, tt.text))...)
				assert.Equal(t, exitUsage, code, "%s: %s %s", tt.reason, out, errOut)
				for _, w := range tt.wantErr {
					assert.Contains(t, errOut, w, tt.reason)
				}
				assert.NotContains(t, errOut, "c-1", "a subject ID in the message")
				e.assertUntouched(t, tt.name)
			})
		}

		file := write("ids.txt", "\uFEFF# erasure requests of March\r\n\r\n  c-1  \r\n# c-3 withdrew the request\r\n\tc-2\r\nc-1\r\n")
		code, out, errOut := e.run(t, "forget", append(e.table(), "-clear", "email_idx", "-clear", "promo_idx", "-subjects", file)...)
		require.Equal(t, exitOK, code, "%s %s", out, errOut)
		assert.Equal(t, 2, countLines(out), "one receipt a subject: %s", out)
		assert.Contains(t, errOut, "1 repeated subject IDs are erased once")
		rows := e.rows(t)
		for _, id := range []string{"c-1", "c-2"} {
			assert.Nil(t, rows[id].EmailIdx, "%s not cleared", id)
			assert.Nil(t, rows[id].PromoIdx, "%s not cleared", id)
		}
		assert.Equal(t, e.stored("c-3"), rows["c-3"], "c-3, commented out, was erased")
		assert.Len(t, e.entries(t), 2)
	})
}

// TestForgetEmptySubjectID checks that an empty (or badly quoted) subject
// ID is a usage error naming the argument, and that the IDs before it are
// not erased either.
func TestForgetEmptySubjectID(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *forgetEnv) {
		tests := []struct {
			name    string
			cmd     string
			args    []string
			wantErr string
		}{
			{name: "empty", cmd: "forget", args: []string{""}, wantErr: "argument 1: the subject ID is empty"},
			{name: "empty after one", cmd: "forget", args: []string{"c-1", ""}, wantErr: "argument 2: the subject ID is empty"},
			{name: "withdraw empty", cmd: "withdraw", args: []string{"-purpose", "marketing", "c-1", ""}, wantErr: "argument 2: the subject ID is empty"},
			{name: "space", cmd: "forget", args: []string{"c-1 "}, wantErr: "argument 1: the subject ID begins or ends with white space"},
			{name: "empty stdin", cmd: "forget", args: []string{"-subjects", os.DevNull}, wantErr: "holds no subject IDs"},
			{name: "empty -subject", cmd: "forget", args: []string{"-subject", "c-1", "-subject", ""}, wantErr: "-subject 2: the subject ID is empty"},
			{name: "empty -subjects", cmd: "forget", args: []string{"-subjects", "", "c-1"}, wantErr: `-subjects "": give a file name`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, out, errOut := e.run(t, tt.cmd, append(e.table(), append([]string{"-clear", "email_idx"}, tt.args...)...)...)
				assert.Equal(t, exitUsage, code, "%s %s", out, errOut)
				assert.Contains(t, errOut, tt.wantErr)
				assert.Contains(t, errOut, "nothing was erased")
				e.assertUntouched(t, tt.name)
			})
		}
	})
}

// TestForgetMissingSubjectKeysets checks that a keyset store without the
// subject keysets names each one and the exact command that makes it, and
// that those commands work.
func TestForgetMissingSubjectKeysets(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			masterKey(t)
			dir := t.TempDir()
			dsn, ledger := "sqlite:"+filepath.Join(dir, "keys.db"), "sqlite:"+filepath.Join(dir, "ledger.db")
			if backend == "postgres" {
				dsn = pgtest.DSN(t)
			}
			code, _, errOut := cli(t, "keys", "create", "-keyset-db", dsn, "default")
			require.Equal(t, exitOK, code, errOut)
			code, out, errOut := cli(t, "forget", "-keyset-db", dsn, "-ledger-db", ledger, "-create-ledger", "c-1")
			assert.Equal(t, exitNotFound, code, "%s %s", out, errOut)
			var commands []string
			for _, line := range strings.Split(errOut, "\n") {
				if c, ok := strings.CutPrefix(line, "  tillid "); ok {
					commands = append(commands, c)
				}
			}
			require.Equal(t, []string{
				"keys create -keyset-db " + shellQuote(dsn) + " subject-keys",
				"keys create -keyset-db " + shellQuote(dsn) + " -kind prf subject-pseudonym",
			}, commands, "the commands to run: %s", errOut)
			assert.Contains(t, errOut, "lacks the subject keysets subject-keys (kind aead, which wraps the subject keys) and subject-pseudonym (kind prf")
			assert.Contains(t, errOut, "nothing was erased")
			_, err := os.Stat(strings.TrimPrefix(ledger, "sqlite:"))
			assert.ErrorIs(t, err, os.ErrNotExist, "the ledger was created before the refusal")

			for _, c := range commands {
				args := strings.Fields(c)
				for i, a := range args {
					args[i] = strings.Trim(a, "'") // shell quoting of the DSN
				}
				code, out, errOut := cli(t, args...)
				require.Equal(t, exitOK, code, "%s: %s %s", c, out, errOut)
			}
			code, out, errOut = cli(t, "forget", "-keyset-db", dsn, "-ledger-db", ledger, "-create-ledger", "-create-subject-store", "c-1")
			assert.Equal(t, exitOK, code, "%s %s", out, errOut)
			code, out, _ = cli(t, "erasures", "-ledger-db", ledger)
			require.Equal(t, exitOK, code)
			assert.Equal(t, 1, countLines(out), out)

			// A keyset store without them, beside a subject-key store that
			// holds keys, is the wrong keyset store: no advice to create.
			other := "sqlite:" + filepath.Join(dir, "other-keys.db")
			code, _, errOut = cli(t, "keys", "create", "-keyset-db", other, "default")
			require.Equal(t, exitOK, code, errOut)
			code, out, errOut = cli(t, "forget", "-keyset-db", other, "-subject-db", dsn, "-ledger-db", ledger, "c-2")
			assert.Equal(t, exitNotFound, code, "%s %s", out, errOut)
			assert.Contains(t, errOut, "check that -keyset-db (or -keyset-file) is the application's keyset store")
			assert.NotContains(t, errOut, "tillid keys create")
			code, out, _ = cli(t, "erasures", "-ledger-db", ledger)
			require.Equal(t, exitOK, code)
			assert.Equal(t, 1, countLines(out), "c-2 erased through the wrong keyset store: %s", out)
		})
	}
}

// TestForgetRepeatRecordedOnce checks that erasing a subject again (a
// retry, a repeated request) leaves one ledger entry, so that tillid
// erasures lists it once and -reapply counts it once; and that a ledger
// which holds an erasure twice (written before) is counted once too.
func TestForgetRepeatRecordedOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *forgetEnv) {
		for range 3 {
			code, out, errOut := e.run(t, "forget", append(e.table(), "-clear", "email_idx", "c-1")...)
			require.Equal(t, exitOK, code, "%s %s", out, errOut)
			code, out, errOut = e.run(t, "withdraw", "-purpose", "marketing", "c-2")
			require.Equal(t, exitOK, code, "%s %s", out, errOut)
		}
		code, out, errOut := e.run(t, "forget", "-json", "c-1")
		require.Equal(t, exitOK, code, "%s %s", out, errOut)
		assert.Contains(t, out, `"destroyed":[]`, "a repeat destroys nothing more")
		assert.Contains(t, out, `"earlier":["","marketing"]`, "and says what the first run destroyed")

		entries := e.entries(t)
		require.Len(t, entries, 2, "one ledger entry an erasure: %v", entries)
		assert.Equal(t, []string{"", "marketing"}, entries[0].Destroyed)
		assert.Equal(t, []string{"marketing"}, entries[1].Destroyed)

		// An older ledger may hold an erasure twice.
		require.NoError(t, e.ledger(t).Append(ctx, entries[0]))
		require.Len(t, e.entries(t), 3)

		code, out, errOut = cli(t, "erasures", "-ledger-db", e.ledgerDSN)
		require.Equal(t, exitOK, code, errOut)
		assert.Equal(t, 2, countLines(out), "each erasure listed once: %s", out)
		code, _, errOut = cli(t, "erasures", "-ledger-db", e.ledgerDSN, "-subject-db", e.dsn)
		assert.Equal(t, exitUsage, code, "-subject-db without -reapply: %s", errOut)
		since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		code, out, errOut = e.run(t, "erasures", "-reapply", "-since", since)
		require.Equal(t, exitOK, code, errOut)
		assert.Contains(t, out, "re-applied 2 ledger entries")
	})
}
