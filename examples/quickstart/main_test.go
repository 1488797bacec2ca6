package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/tokenize"
)

const testN = 200

// generated returns the customers run makes for n, by ID, in clear.
func generated(n int) map[string]Customer {
	m := map[string]Customer{}
	for _, c := range append(generate(firstSeed, n), generate(secondSeed, n/10)...) {
		m[c.ID] = c
	}
	return m
}

// openRun opens what run left in dir: the database and a Protector built
// from the master key and keyset files and the card vault in the database.
func openRun(t *testing.T, dir string) (*sql.DB, *keys.Store, *pii.Protector) {
	t.Helper()
	kek, err := keys.ReadKEKFile(filepath.Join(dir, masterKeyFile))
	require.NoError(t, err)
	store, err := keys.OpenFile(filepath.Join(dir, keysetFile), kek)
	require.NoError(t, err)
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(dir, dbFile)))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	p, err := newProtector(context.Background(), store, db)
	require.NoError(t, err)
	return db, store, p
}

func TestRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run(ctx, dir, testN, &out), "run")
	t.Logf("output:\n%s", out.String())
	want := generated(testN)
	db, store, p := openRun(t, dir)

	t.Run("no plaintext in the database file", func(t *testing.T) {
		var raw []byte
		for _, name := range []string{dbFile, dbFile + "-wal"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			require.False(t, err != nil && !errors.Is(err, os.ErrNotExist))
			raw = append(raw, b...)
		}
		// Names, emails, streets and notes hold spaces, '@' or '.', which
		// base64url never does, so a hit cannot be a chance match; nor
		// can a 16-digit card number (a card token keeps ten of its
		// digits and never equals it). A 9-digit national ID could turn
		// up by chance among the digits of tokens: the tests "card
		// vault" and "tokens" check it column by column.
		for _, c := range want {
			for field, v := range map[string]string{"name": c.Name, "email": c.Email, "street": c.Street, "notes": c.Notes.String, "card": c.Card} {
				assert.False(t, bytes.Contains(raw, []byte(v)), "%s: the database file holds the %s in clear", c.ID, field)
			}
		}
		n, err := countWhere(ctx, db, `name NOT LIKE 'tl1e:%' OR email NOT LIKE 'tl1e:%' OR email_idx NOT LIKE 'tl1i:%'
			OR phone NOT LIKE 'tl1e:%' OR birth_date NOT LIKE 'tl1e:%' OR national_id NOT LIKE 'tl1f:%' OR card NOT LIKE 'tl1t:%'
			OR street NOT LIKE 'tl1e:%' OR notes NOT LIKE 'tl1e:%'`)
		require.NoError(t, err)
		assert.Zero(t, n, "%d rows hold a column that is not protected", n)
	})

	wantCleared, wantDeleted, wantHeld := sweepCounts(want)
	require.NotZero(t, wantCleared*wantDeleted*wantHeld, "the generated data has nothing to sweep: %d notes, %d accounts, %d held", wantCleared, wantDeleted, wantHeld)

	rows, err := query(ctx, db, "ORDER BY rowid")
	require.NoError(t, err)
	require.Len(t, rows, len(want)-wantDeleted, "the table holds %d rows, want %d", len(rows), len(want)-wantDeleted)
	// order is each customer's place in generation order, the order of
	// insertion.
	order := map[string]int{}
	for i, c := range append(generate(firstSeed, testN), generate(secondSeed, testN/10)...) {
		order[c.ID] = i
	}

	t.Run("retention", func(t *testing.T) {
		for _, line := range []string{
			fmt.Sprintf("cleared the notes of %d customers created over two years ago", wantCleared),
			fmt.Sprintf("deleted %d accounts closed over a year ago", wantDeleted),
			fmt.Sprintf("kept %d rows on legal hold untouched", wantHeld),
			"a second sweep changed 0 values and rows",
		} {
			assert.Contains(t, out.String(), line, "the retention step's output")
		}
		// In the database: no deleted account left, notes NULL exactly
		// where due, every held row there with its notes.
		held := 0
		for _, c := range rows {
			w := want[c.ID]
			due := !w.LegalHold && asOf.Sub(w.CreatedAt) >= 730*24*time.Hour
			assert.Equal(t, !due, c.Notes.Valid, "%s: created %v, held %v: notes stored %v, want %v", c.ID, w.CreatedAt, w.LegalHold, c.Notes.Valid, !due)
			if w.ClosedAt != nil && !w.LegalHold {
				assert.Less(t, asOf.Sub(*w.ClosedAt), 365*24*time.Hour, "%s: closed %v, over a year before %v, and not deleted", c.ID, *w.ClosedAt, asOf)
			}
			if c.LegalHold {
				held++
			}
		}
		assert.Equal(t, wantHeld, held, "held rows in the table")
	})

	t.Run("rotation", func(t *testing.T) {
		primary := map[string]uint32{}
		for _, k := range []struct {
			name     string
			kind     keys.Kind
			wantKeys int
		}{
			{"default", keys.KindAEAD, 2},
			{"default", keys.KindPRF, 2},
			{"tokenize-national_id", keys.KindPRF, 2},
			{"tokenize-card", keys.KindAEAD, 1},
			{"tokenize-card", keys.KindPRF, 1},
		} {
			ks, err := store.Keyset(ctx, k.name, k.kind)
			require.NoError(t, err)
			got := len(ks.Keys())
			assert.Equal(t, k.wantKeys, got, "keyset %s/%s has %d keys, want %d", k.name, k.kind, got, k.wantKeys)
			primary[k.name+"/"+k.kind.String()] = ks.PrimaryKeyID()
		}
		// The oldest n/10 rows were rewrapped and the last n/10 written
		// after the rotation: those are under the new primary keys, the
		// rest under the old ones, email index and national ID token
		// included.
		aeadIDs, prfIDs, fpeIDs := map[uint32]int{}, map[uint32]int{}, map[uint32]int{}
		for _, c := range rows {
			i := order[c.ID]
			_, name, err := pii.KeyID(c.Name)
			require.NoError(t, err, "row %d: pii.KeyID(name) = %v", i, err)
			mode, email, err := pii.KeyID(c.Email)
			assert.NoError(t, err, "row %d: pii.KeyID(email) = %v, %d, %v, want %v, %d, nil", i, mode, email, err, pii.ActionEncrypt, name)
			assert.Equal(t, pii.ActionEncrypt, mode, "row %d: pii.KeyID(email) = %v, %d, %v, want %v, %d, nil", i, mode, email, err, pii.ActionEncrypt, name)
			assert.Equal(t, name, email, "row %d: pii.KeyID(email) = %v, %d, %v, want %v, %d, nil", i, mode, email, err, pii.ActionEncrypt, name)
			idx := storedKeyID(c.EmailIdx)
			fpe := storedKeyID(c.NationalID)
			aeadIDs[name]++
			prfIDs[idx]++
			fpeIDs[fpe]++
			wantNew := i < testN/10 || i >= testN
			gotNew := name == primary["default/aead"] && idx == primary["default/prf"] && fpe == primary["tokenize-national_id/prf"]
			assert.Equal(t, wantNew, gotNew, "row %d: keys %d, %d, %d; under the new primary keys = %v, want %v", i, name, idx, fpe, gotNew, wantNew)
		}
		assert.Len(t, aeadIDs, 2, "rows use AEAD keys %v, PRF keys %v and FF1 keys %v, want two of each", aeadIDs, prfIDs, fpeIDs)
		assert.Len(t, prfIDs, 2, "rows use AEAD keys %v, PRF keys %v and FF1 keys %v, want two of each", aeadIDs, prfIDs, fpeIDs)
		assert.Len(t, fpeIDs, 2, "rows use AEAD keys %v, PRF keys %v and FF1 keys %v, want two of each", aeadIDs, prfIDs, fpeIDs)
	})

	t.Run("tokens", func(t *testing.T) {
		nationalID := regexp.MustCompile(`^tl1f:[0-9a-f]{8}:[0-9]{9}$`)
		cardTokens := map[string]string{}
		for _, c := range rows {
			w := want[c.ID]
			require.True(t, luhn(w.Card), "%s: luhn(%q) = false, but gofakeit makes Luhn-valid cards", c.ID, w.Card)
			// Card: "tl1t:" and 16 digits that pass the Luhn check, keep
			// the card's first six and last four, and differ from it.
			tok, ok := pii.Token(c.Card)
			require.True(t, ok, "%s: card stored as %q, not as a token", c.ID, c.Card)
			assert.Equal(t, "tl1t:"+tok, c.Card, "%s: the card's stored prefix", c.ID)
			require.Len(t, tok, 16, "%s: card token %q", c.ID, tok)
			assert.True(t, digits(tok) && luhn(tok), "%s: card token %q is not Luhn-valid digits", c.ID, tok)
			assert.Equal(t, w.Card[:6], tok[:6], "%s: the card token's first six digits", c.ID)
			assert.Equal(t, w.Card[12:], tok[12:], "%s: the card token's last four digits", c.ID)
			assert.NotEqual(t, w.Card, tok, "%s: the card token is the card", c.ID)
			other, ok := cardTokens[tok]
			assert.False(t, ok, "customers %s and %s have the same card token", other, c.ID)
			cardTokens[tok] = c.ID
			// National ID: "tl1f:", the key ID, ":" and as many digits as
			// the SSN has, but not the SSN.
			tok, ok = pii.Token(c.NationalID)
			require.True(t, ok, "%s: national ID stored as %q, not as a token", c.ID, c.NationalID)
			assert.Regexp(t, nationalID, c.NationalID, "%s: want tl1f:<key ID>:<digits>", c.ID)
			assert.True(t, strings.HasSuffix(c.NationalID, ":"+tok), "%s: national ID %q does not end in its token", c.ID, c.NationalID)
			assert.Len(t, tok, len(w.NationalID), "%s: the national ID token keeps the SSN's length", c.ID)
			assert.NotEqual(t, w.NationalID, tok, "%s: the national ID token is the SSN", c.ID)
			// No column of the row holds the row's card or SSN.
			for _, col := range []string{c.ID, c.Name, c.Email, c.EmailIdx, c.Phone, sealed(c.BirthDate), c.NationalID, c.Card, c.Street, c.Notes.String} {
				assert.NotContains(t, col, w.Card, "%s: a column holds the card or the national ID in clear", c.ID)
				assert.NotContains(t, col, w.NationalID, "%s: a column holds the card or the national ID in clear", c.ID)
			}
		}
	})

	t.Run("card vault", func(t *testing.T) {
		// The vault holds one entry per customer's card, under the token
		// in the card column, and neither a card nor a national ID in
		// clear: the value is an AEAD ciphertext, the index and subject
		// keyed PRFs.
		vault, err := db.QueryContext(ctx, "SELECT domain, token, ciphertext, value_index, subject FROM tillid_tokens")
		require.NoError(t, err)
		defer vault.Close()
		var secrets [][]byte
		for _, c := range want {
			secrets = append(secrets, []byte(c.Card), []byte(c.NationalID))
		}
		inRows, orphans := map[string]bool{}, 0
		for _, c := range rows {
			inRows[c.Card] = true
		}
		n := 0
		for vault.Next() {
			var domain, token string
			var ciphertext, index, subject []byte
			require.NoError(t, vault.Scan(&domain, &token, &ciphertext, &index, &subject))
			n++
			assert.Equal(t, cardDomain, domain, "vault entry %d: domain %q", n, domain)
			if !inRows["tl1t:"+token] {
				// The record rule deleted the row; its card token stays
				// in the vault (no retain= on Card), to be erased with
				// Tokenizer.DeleteSubject.
				orphans++
			}
			assert.Len(t, index, tokenize.IndexSize, "vault entry %d: the value index (consistent mode)", n)
			assert.Len(t, subject, tokenize.IndexSize, "vault entry %d: the subject index (subject from aad=ID)", n)
			for _, secret := range secrets {
				assert.NotEqual(t, string(secret), token, "vault entry %d holds a card number or national ID in clear", n)
				assert.False(t, bytes.Contains(ciphertext, secret), "vault entry %d holds a card number or national ID in clear", n)
				assert.False(t, bytes.Contains(index, secret), "vault entry %d holds a card number or national ID in clear", n)
				assert.False(t, bytes.Contains(subject, secret), "vault entry %d holds a card number or national ID in clear", n)
			}
		}
		require.NoError(t, vault.Err())
		assert.Equal(t, len(want), n, "the vault holds %d tokens, want one per customer, %d", n, len(want))
		assert.Equal(t, wantDeleted, orphans, "the vault holds %d tokens of deleted rows, want %d", orphans, wantDeleted)
	})

	t.Run("email_idx holds no plaintext", func(t *testing.T) {
		// The index is 0x01 || key ID || 16 bytes of keyed HMAC, in
		// base64url: it cannot hold an email ('@' and '.' are not in the
		// alphabet), and it is not an unkeyed hash that a dictionary of
		// emails would reverse.
		valid := regexp.MustCompile(`^tl1i:[A-Za-z0-9_-]{28}$`)
		seen := map[string]string{}
		for _, c := range rows {
			w := want[c.ID]
			require.True(t, valid.MatchString(c.EmailIdx), "%s: email_idx %q is not a 33-character blind index", c.ID, c.EmailIdx)
			b, err := base64.RawURLEncoding.DecodeString(c.EmailIdx[5:])
			require.NoError(t, err)
			index := b[5:]
			for _, h := range [][]byte{[]byte(w.Email), sha256Of(w.Email), sha256Of(strings.ToUpper(w.Email))} {
				assert.False(t, bytes.Contains(h, index), "%s: email_idx is the email or its unkeyed hash", c.ID)
				assert.False(t, bytes.HasPrefix(h, index), "%s: email_idx is the email or its unkeyed hash", c.ID)
			}
			other, ok := seen[c.EmailIdx]
			assert.False(t, ok && want[other].Email != w.Email, "rows %s and %s have different emails but the same email_idx", other, c.ID)
			seen[c.EmailIdx] = c.ID
		}
	})

	t.Run("rewrap count", func(t *testing.T) {
		m := regexp.MustCompile(`rewrapped the ([\d,]+) oldest rows: ([\d,]+) values`).FindStringSubmatch(out.String())
		require.NotNil(t, m, "the output does not report a rewrap")
		rowsN, _ := strconv.Atoi(removeCommas(m[1]))
		values, _ := strconv.Atoi(removeCommas(m[2]))
		// Per row, five fields are encrypted, one is a blind index and
		// one an FF1 token; the card's vaulted token stays. Notes are
		// encrypted too.
		assert.Equal(t, testN/10, rowsN, "rewrapped %d values in %d rows, want %d in %d", values, rowsN, 8*testN/10, testN/10)
		assert.Equal(t, 8*rowsN, values, "rewrapped %d values in %d rows, want %d in %d", values, rowsN, 8*testN/10, testN/10)
	})

	t.Run("summary", func(t *testing.T) {
		// The summary shows the first row's tokens as stored now, beside
		// the card and national ID masked.
		first, err := queryID(ctx, db, rows[0].ID)
		require.NoError(t, err)
		w := want[first.ID]
		cardTok, _ := pii.Token(first.Card)
		idTok, _ := pii.Token(first.NationalID)
		maskedID, maskedCard, err := masks(w)
		require.NoError(t, err)
		assert.Equal(t, "•••-••-"+w.NationalID[5:], maskedID, "the masked national ID")
		assert.Equal(t, w.Card[:6]+"••••••"+w.Card[12:], maskedCard, "the masked card")
		for _, line := range []string{
			"card  " + maskedCard + " -> token " + cardTok + ", stored " + first.Card + "\n",
			"national ID  " + maskedID + " -> token " + idTok + ", stored " + first.NationalID + "\n",
			fmt.Sprintf("card vault  %d tokens, %d new in this run\n", len(want), len(want)),
		} {
			assert.True(t, containsFields(out.String(), line), "the summary lacks %q", line)
		}
		assert.True(t, regexp.MustCompile(`(?m)^  protect +[\d.]+ µs/record, tokenization included`).MatchString(out.String()), "the summary does not give the time per record with tokenization")
	})

	t.Run("reveal", func(t *testing.T) {
		for i := range rows {
			id := rows[i].ID
			require.NoError(t, p.Reveal(ctx, &rows[i]), "Reveal(%s)", id)
			got := rows[i]
			w, err := swept(want[id])
			require.NoError(t, err)
			gotBorn, ok := got.BirthDate.Get()
			wantBorn, _ := w.BirthDate.Get()
			assert.True(t, ok, "%s: birth date %v, want %v", id, gotBorn, wantBorn)
			assert.True(t, gotBorn.Equal(wantBorn), "%s: birth date %v, want %v", id, gotBorn, wantBorn)
			got.BirthDate, w.BirthDate = pii.Value[time.Time]{}, pii.Value[time.Time]{}
			assert.True(t, strings.HasPrefix(got.EmailIdx, "tl1i:"), "%s: Reveal changed the email index to %q", id, got.EmailIdx)
			got.EmailIdx = ""
			assert.True(t, got.CreatedAt.Equal(w.CreatedAt), "%s: created %v, want %v", id, got.CreatedAt, w.CreatedAt)
			assert.Equal(t, w.ClosedAt == nil, got.ClosedAt == nil, "%s: closed %v, want %v", id, got.ClosedAt, w.ClosedAt)
			if w.ClosedAt != nil && got.ClosedAt != nil {
				assert.True(t, got.ClosedAt.Equal(*w.ClosedAt), "%s: closed %v, want %v", id, *got.ClosedAt, *w.ClosedAt)
			}
			got.CreatedAt, got.ClosedAt, w.CreatedAt, w.ClosedAt = time.Time{}, nil, time.Time{}, nil
			assert.Equal(t, w, got, "%s: revealed\n%+v\nwant\n%+v", id, got, w)
		}
	})

	first, second := generate(firstSeed, testN), generate(secondSeed, testN/10)
	// The lookups run makes, in order: the number of terms (0 for the
	// primary term only), whose email is looked up and whether run found
	// that customer.
	wantLookups := []struct {
		terms int
		id    string
		found bool
	}{
		{1, first[0].ID, true},        // before the rotation
		{2, first[testN-1].ID, true},  // after: an old row
		{2, second[0].ID, true},       // after: a new row
		{0, first[0].ID, true},        // primary term: a rewrapped row
		{0, first[testN-1].ID, false}, // primary term: an old row, not rewrapped
	}
	lookups := parseLookups(t, out.String())

	t.Run("lookups in the output", func(t *testing.T) {
		require.Len(t, lookups, len(wantLookups), "the output shows %d lookups, want %d:\n%s", len(lookups), len(wantLookups), out.String())
		for i, l := range lookups {
			w := wantLookups[i]
			var wantFound []string
			if w.found {
				wantFound = []string{w.id}
			}
			assert.Equal(t, w.terms, l.terms, "lookup %d for %q: %d terms, found %v; want %d terms, found %v", i, l.typed, l.terms, l.found, w.terms, wantFound)
			assert.True(t, slices.Equal(l.found, wantFound), "lookup %d for %q: %d terms, found %v; want %d terms, found %v", i, l.typed, l.terms, l.found, w.terms, wantFound)
			// Each query was typed unlike the stored email, and the
			// email it stands for is the lower-cased, trimmed input.
			email := want[w.id].Email
			assert.NotEqual(t, email, l.typed, "lookup %d: typed %q for the email %q; want it in another case, with spaces", i, l.typed, email)
			assert.Equal(t, email, strings.ToLower(strings.TrimSpace(l.typed)), "lookup %d: typed %q for the email %q; want it in another case, with spaces", i, l.typed, email)
		}
	})

	t.Run("lookups in the database", func(t *testing.T) {
		if len(lookups) != len(wantLookups) {
			t.Skip("the output has the wrong lookups")
		}
		ix, err := p.BlindIndexer(Customer{}, "EmailIdx")
		require.NoError(t, err)
		for i, l := range lookups {
			plain := strings.ToLower(strings.TrimSpace(l.typed))
			terms, err := p.LookupTerms(ctx, Customer{}, "EmailIdx", l.typed)
			require.NoError(t, err)
			plainTerms, err := p.LookupTerms(ctx, Customer{}, "EmailIdx", plain)
			require.NoError(t, err)
			assert.Len(t, terms, 2, "LookupTerms(%q) = %q, want the 2 terms of %q, %q", l.typed, terms, plain, plainTerms)
			assert.True(t, slices.Equal(terms, plainTerms), "LookupTerms(%q) = %q, want the 2 terms of %q, %q", l.typed, terms, plain, plainTerms)
			primary, err := ix.BlindIndex(ctx, nil, l.typed)
			require.NoError(t, err)
			require.NotEmpty(t, terms, "BlindIndex(%q) = %q, want LookupTerms' first term %q", l.typed, primary, terms)
			assert.Equal(t, terms[0], string(primary), "BlindIndex(%q) = %q, want LookupTerms' first term %q", l.typed, primary, terms)
			found, err := lookup(ctx, db, p, terms...)
			require.NoError(t, err)
			// After the run every lookup finds its customer through one
			// of the terms, and the term that matched is the index of the
			// plain email.
			wantID := wantLookups[i].id
			require.Len(t, found, 1, "lookup %d for %q found %d rows, want customer %s with email %q", i, l.typed, len(found), wantID, plain)
			assert.Equal(t, wantID, found[0].ID, "lookup %d for %q found %d rows, want customer %s with email %q", i, l.typed, len(found), wantID, plain)
			assert.Equal(t, plain, found[0].Email, "lookup %d for %q found %d rows, want customer %s with email %q", i, l.typed, len(found), wantID, plain)
			assert.True(t, slices.Contains(plainTerms, found[0].EmailIdx), "lookup %d for %q found %d rows, want customer %s with email %q", i, l.typed, len(found), wantID, plain)
			miss, err := lookup(ctx, db, p, mustTerms(t, p, "x"+plain)...)
			assert.NoError(t, err, "lookup for another email found %d rows, %v; want none", len(miss), err)
			assert.Len(t, miss, 0, "lookup for another email found %d rows, %v; want none", len(miss), err)
		}
	})

	t.Run("a ciphertext moved to another row does not reveal", func(t *testing.T) {
		c, err := queryID(ctx, db, rows[0].ID)
		require.NoError(t, err)
		other, err := queryID(ctx, db, rows[1].ID)
		require.NoError(t, err)
		c.Name = other.Name
		assert.ErrorIs(t, p.Reveal(ctx, &c), pii.ErrDecryption, "Reveal with another row's name")
	})
}

func TestRunTwiceInOneDir(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run(ctx, dir, testN, &out), "first run")
	keyPath := filepath.Join(dir, masterKeyFile)
	key1, err := os.ReadFile(keyPath)
	require.NoError(t, err)
	out.Reset()
	require.NoError(t, run(ctx, dir, testN, &out), "second run")
	key2, err := os.ReadFile(keyPath)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(key1, key2), "the second run replaced the master key")
	_, deleted, _ := sweepCounts(generated(testN))
	kept := fmt.Sprintf("previous run's %d rows all reveal", testN+testN/10-deleted)
	assert.True(t, bytes.Contains(out.Bytes(), []byte(kept)), "the second run did not say %q:\n%s", kept, out.String())
	db, store, _ := openRun(t, dir)
	for _, k := range []struct {
		name string
		kind keys.Kind
	}{{"default", keys.KindAEAD}, {"default", keys.KindPRF}, {"tokenize-national_id", keys.KindPRF}} {
		ks, err := store.Keyset(ctx, k.name, k.kind)
		require.NoError(t, err)
		got := len(ks.Keys())
		assert.EqualValues(t, 3, got, "after two runs %s/%s has %d keys, want 3 (one rotation per run)", k.name, k.kind, got)
	}
	// Consistent mode: the second run gave every card the token the first
	// run issued for it, so the vault did not grow.
	assert.True(t, containsFields(out.String(), "card vault  220 tokens, 0 new in this run"), "the second run issued new card tokens:\n%s", out.String())
	n, err := countTokens(ctx, db, cardDomain)
	assert.NoError(t, err, "after two runs the vault holds %d card tokens, %v; want %d", n, err, testN+testN/10)
	assert.Equal(t, testN+testN/10, n, "after two runs the vault holds %d card tokens, %v; want %d", n, err, testN+testN/10)
	// The first run's PRF keys stay live, so the second run's lookups
	// take one term more.
	var terms []int
	for _, l := range parseLookups(t, out.String()) {
		terms = append(terms, l.terms)
	}
	want := []int{2, 3, 3, 0, 0}
	assert.True(t, slices.Equal(terms, want), "the second run's lookups took %v terms, want %v", terms, want)
	n, err = countWhere(ctx, db, "1")
	require.NoError(t, err)
	assert.Equal(t, testN+testN/10-deleted, n, "after two runs the table holds %d rows, want %d", n, testN+testN/10-deleted)
}

func TestRunOverOlderTable(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		queries []string // that turn the table into an older quickstart's
		want    string   // in the output
	}{
		{
			name:    "no email index",
			queries: []string{"DROP INDEX customers_email_idx", "ALTER TABLE customers DROP COLUMN email_idx"},
			want:    "predates the email index; recreating it",
		},
		{
			name: "encrypted cards and national IDs",
			// Any well-formed ciphertext will do: this one is a name's.
			queries: []string{"UPDATE customers SET card = name, national_id = name"},
			want:    "predates tokenization; recreating it",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			require.NoError(t, run(ctx, dir, testN, &bytes.Buffer{}), "first run")
			db, _, _ := openRun(t, dir)
			for _, q := range tt.queries {
				_, err := db.ExecContext(ctx, q)
				require.NoError(t, err)
			}
			var out bytes.Buffer
			require.NoError(t, run(ctx, dir, testN, &out), "run over the older table")
			assert.True(t, strings.Contains(out.String(), tt.want), "run over the older table did not say %q:\n%s", tt.want, out.String())
		})
	}
}

func TestRunWrongMasterKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	require.NoError(t, run(ctx, dir, testN, &bytes.Buffer{}), "first run")
	keysetPath := filepath.Join(dir, keysetFile)
	before, err := os.ReadFile(keysetPath)
	require.NoError(t, err)
	keyPath := filepath.Join(dir, masterKeyFile)
	require.NoError(t, os.Remove(keyPath))
	require.NoError(t, keys.GenerateMasterKeyFile(keyPath))
	assert.ErrorIs(t, run(ctx, dir, testN, &bytes.Buffer{}), keys.ErrWrongKEK, "run with another master key")
	after, err := os.ReadFile(keysetPath)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(before, after), "run with another master key changed the keyset file")
}

func TestMixedCase(t *testing.T) {
	t.Parallel()
	got, want := mixedCase("john.doe@example.com"), "jOhN.dOe@ExAmPlE.cOm"
	assert.Equal(t, want, got, "mixedCase = %q, want %q", got, want)
}

func TestCommas(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 10000: "10,000", 1234567: "1,234,567", -1000: "-1,000", -100: "-100"} {
		got := commas(n)
		assert.Equal(t, want, got, "commas(%d) = %q, want %q", n, got, want)
	}
}

// sweepCounts returns what the retention sweep must do to the customers
// want, from the rules as the tags state them: clear the notes of those
// created at least two years (730 days) before asOf, delete the accounts
// closed at least a year before, and leave the held ones untouched.
func sweepCounts(want map[string]Customer) (cleared, deleted, held int) {
	for _, c := range want {
		switch {
		case c.LegalHold:
			held++
		case c.ClosedAt != nil && asOf.Sub(*c.ClosedAt) >= 365*24*time.Hour:
			deleted++
			fallthrough
		default:
			if asOf.Sub(c.CreatedAt) >= 730*24*time.Hour {
				cleared++
			}
		}
	}
	return cleared, deleted, held
}

func removeCommas(s string) string { return strings.ReplaceAll(s, ",", "") }

// containsFields reports whether out has a line whose words (separated by
// any run of spaces, as tabwriter pads them) end with those of line.
func containsFields(out, line string) bool {
	want := strings.Join(strings.Fields(line), " ")
	for l := range strings.Lines(out) {
		if strings.HasSuffix(strings.Join(strings.Fields(l), " "), want) {
			return true
		}
	}
	return false
}

func digits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// luhn reports whether the digits s pass the Luhn check.
func luhn(s string) bool {
	sum := 0
	for i := range len(s) {
		d := int(s[len(s)-1-i] - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

func sha256Of(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func mustTerms(t *testing.T, p *pii.Protector, query string) []string {
	t.Helper()
	terms, err := p.LookupTerms(context.Background(), Customer{}, "EmailIdx", query)
	require.NoError(t, err)
	return terms
}

// lookupLine is one email lookup in run's output.
type lookupLine struct {
	typed string   // the query, as typed
	terms int      // the number of terms, 0 for a lookup by the primary term
	found []string // the IDs found
}

var (
	typedLine = regexp.MustCompile(`^  .*typed ("[^"]*"):(?: (\d+) terms?)?$`)
	foundLine = regexp.MustCompile(`^    found (?:nothing|(\S+)  .*)$`)
)

// parseLookups returns the lookups in run's output, in order.
func parseLookups(t *testing.T, out string) []lookupLine {
	t.Helper()
	var ls []lookupLine
	for line := range strings.Lines(out) {
		line = strings.TrimSuffix(line, "\n")
		if m := typedLine.FindStringSubmatch(line); m != nil {
			typed, err := strconv.Unquote(m[1])
			require.NoError(t, err)
			terms, _ := strconv.Atoi(m[2])
			ls = append(ls, lookupLine{typed: typed, terms: terms})
		} else if m := foundLine.FindStringSubmatch(line); m != nil && len(ls) > 0 && m[1] != "" {
			ls[len(ls)-1].found = append(ls[len(ls)-1].found, m[1])
		}
	}
	return ls
}
