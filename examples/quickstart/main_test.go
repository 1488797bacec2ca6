package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
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
// from the master key and keyset files alone.
func openRun(t *testing.T, dir string) (*sql.DB, *keys.Store, *pii.Protector) {
	t.Helper()
	kek, err := keys.ReadKEKFile(filepath.Join(dir, masterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	store, err := keys.OpenFile(filepath.Join(dir, keysetFile), kek)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pii.New(store)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, store, p
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(ctx, dir, testN, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Logf("output:\n%s", out.String())
	want := generated(testN)
	db, store, p := openRun(t, dir)

	t.Run("no plaintext in the database file", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(dir, dbFile))
		if err != nil {
			t.Fatal(err)
		}
		// Names, emails, streets and notes hold spaces, '@' or '.', which
		// base64url never does, so a hit cannot be a chance match.
		for _, c := range want {
			for field, v := range map[string]string{"name": c.Name, "email": c.Email, "street": c.Street, "notes": c.Notes} {
				if bytes.Contains(raw, []byte(v)) {
					t.Errorf("%s: the database file holds the %s in clear", c.ID, field)
				}
			}
		}
		n, err := countWhere(ctx, db, `name NOT LIKE 'tl1e:%' OR email NOT LIKE 'tl1e:%' OR email_idx NOT LIKE 'tl1i:%'
			OR phone NOT LIKE 'tl1e:%' OR birth_date NOT LIKE 'tl1e:%' OR national_id NOT LIKE 'tl1e:%' OR card NOT LIKE 'tl1e:%'
			OR street NOT LIKE 'tl1e:%' OR notes != ''`)
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d rows hold a column that is not protected or redacted", n)
		}
	})

	rows, err := query(ctx, db, "ORDER BY rowid")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(want) {
		t.Fatalf("the table holds %d rows, want %d", len(rows), len(want))
	}

	t.Run("rotation", func(t *testing.T) {
		primary := map[keys.Kind]uint32{}
		for _, kind := range []keys.Kind{keys.KindAEAD, keys.KindPRF} {
			ks, err := store.Keyset(ctx, "default", kind)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(ks.Keys()); got != 2 {
				t.Errorf("keyset default/%s has %d keys, want 2", kind, got)
			}
			primary[kind] = ks.PrimaryKeyID()
		}
		// The oldest n/10 rows were rewrapped and the last n/10 written
		// after the rotation: those are under the new primary keys, the
		// rest under the old ones, email index included.
		aeadIDs, prfIDs := map[uint32]int{}, map[uint32]int{}
		for i, c := range rows {
			_, name, err := pii.KeyID(c.Name)
			if err != nil {
				t.Fatalf("row %d: pii.KeyID(name) = %v", i, err)
			}
			mode, email, err := pii.KeyID(c.Email)
			if err != nil || mode != pii.ModeEncrypt || email != name {
				t.Errorf("row %d: pii.KeyID(email) = %v, %d, %v, want %v, %d, nil", i, mode, email, err, pii.ModeEncrypt, name)
			}
			idx := indexKeyID(c.EmailIdx)
			aeadIDs[name]++
			prfIDs[idx]++
			wantNew := i < testN/10 || i >= testN
			if gotNew := name == primary[keys.KindAEAD] && idx == primary[keys.KindPRF]; gotNew != wantNew {
				t.Errorf("row %d: keys %d, %d; under the new primary keys = %v, want %v", i, name, idx, gotNew, wantNew)
			}
		}
		if len(aeadIDs) != 2 || len(prfIDs) != 2 {
			t.Errorf("rows use AEAD keys %v and PRF keys %v, want two of each", aeadIDs, prfIDs)
		}
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
			if !valid.MatchString(c.EmailIdx) {
				t.Fatalf("%s: email_idx %q is not a 33-character blind index", c.ID, c.EmailIdx)
			}
			b, err := base64.RawURLEncoding.DecodeString(c.EmailIdx[5:])
			if err != nil {
				t.Fatal(err)
			}
			index := b[5:]
			for _, h := range [][]byte{[]byte(w.Email), sha256Of(w.Email), sha256Of(strings.ToUpper(w.Email))} {
				if bytes.Contains(h, index) || bytes.HasPrefix(h, index) {
					t.Errorf("%s: email_idx is the email or its unkeyed hash", c.ID)
				}
			}
			if other, ok := seen[c.EmailIdx]; ok && want[other].Email != w.Email {
				t.Errorf("rows %s and %s have different emails but the same email_idx", other, c.ID)
			}
			seen[c.EmailIdx] = c.ID
		}
	})

	t.Run("rewrap count", func(t *testing.T) {
		m := regexp.MustCompile(`rewrapped the ([\d,]+) oldest rows: ([\d,]+) values`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatal("the output does not report a rewrap")
		}
		rowsN, _ := strconv.Atoi(removeCommas(m[1]))
		values, _ := strconv.Atoi(removeCommas(m[2]))
		// Seven fields per row are encrypted and one is a blind index;
		// notes are redacted.
		if rowsN != testN/10 || values != 8*rowsN {
			t.Errorf("rewrapped %d values in %d rows, want %d in %d", values, rowsN, 8*testN/10, testN/10)
		}
	})

	t.Run("reveal", func(t *testing.T) {
		for i := range rows {
			id := rows[i].ID
			if err := p.Reveal(ctx, &rows[i]); err != nil {
				t.Fatalf("Reveal(%s) = %v", id, err)
			}
			got, w := rows[i], want[id]
			w.Notes = ""
			gotBorn, ok := got.BirthDate.Get()
			wantBorn, _ := w.BirthDate.Get()
			if !ok || !gotBorn.Equal(wantBorn) {
				t.Errorf("%s: birth date %v, want %v", id, gotBorn, wantBorn)
			}
			got.BirthDate, w.BirthDate = pii.Value[time.Time]{}, pii.Value[time.Time]{}
			if !strings.HasPrefix(got.EmailIdx, "tl1i:") {
				t.Errorf("%s: Reveal changed the email index to %q", id, got.EmailIdx)
			}
			got.EmailIdx = ""
			if got != w {
				t.Errorf("%s: revealed\n%+v\nwant\n%+v", id, got, w)
			}
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
		if len(lookups) != len(wantLookups) {
			t.Fatalf("the output shows %d lookups, want %d:\n%s", len(lookups), len(wantLookups), out.String())
		}
		for i, l := range lookups {
			w := wantLookups[i]
			var wantFound []string
			if w.found {
				wantFound = []string{w.id}
			}
			if l.terms != w.terms || !slices.Equal(l.found, wantFound) {
				t.Errorf("lookup %d for %q: %d terms, found %v; want %d terms, found %v", i, l.typed, l.terms, l.found, w.terms, wantFound)
			}
			// Each query was typed unlike the stored email, and the
			// email it stands for is the lower-cased, trimmed input.
			email := want[w.id].Email
			if l.typed == email || strings.ToLower(strings.TrimSpace(l.typed)) != email {
				t.Errorf("lookup %d: typed %q for the email %q; want it in another case, with spaces", i, l.typed, email)
			}
		}
	})

	t.Run("lookups in the database", func(t *testing.T) {
		if len(lookups) != len(wantLookups) {
			t.Skip("the output has the wrong lookups")
		}
		ix, err := p.BlindIndexer(Customer{}, "EmailIdx")
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range lookups {
			plain := strings.ToLower(strings.TrimSpace(l.typed))
			terms, err := p.LookupTerms(ctx, Customer{}, "EmailIdx", l.typed)
			if err != nil {
				t.Fatal(err)
			}
			plainTerms, err := p.LookupTerms(ctx, Customer{}, "EmailIdx", plain)
			if err != nil {
				t.Fatal(err)
			}
			if len(terms) != 2 || !slices.Equal(terms, plainTerms) {
				t.Errorf("LookupTerms(%q) = %q, want the 2 terms of %q, %q", l.typed, terms, plain, plainTerms)
			}
			primary, err := ix.BlindIndex(ctx, nil, l.typed)
			if err != nil {
				t.Fatal(err)
			}
			if len(terms) == 0 || string(primary) != terms[0] {
				t.Errorf("BlindIndex(%q) = %q, want LookupTerms' first term %q", l.typed, primary, terms)
			}
			found, err := lookup(ctx, db, p, terms...)
			if err != nil {
				t.Fatal(err)
			}
			// After the run every lookup finds its customer through one
			// of the terms, and the term that matched is the index of the
			// plain email.
			wantID := wantLookups[i].id
			if len(found) != 1 || found[0].ID != wantID || found[0].Email != plain || !slices.Contains(plainTerms, found[0].EmailIdx) {
				t.Errorf("lookup %d for %q found %d rows, want customer %s with email %q", i, l.typed, len(found), wantID, plain)
			}
			if miss, err := lookup(ctx, db, p, mustTerms(t, p, "x"+plain)...); err != nil || len(miss) != 0 {
				t.Errorf("lookup for another email found %d rows, %v; want none", len(miss), err)
			}
		}
	})

	t.Run("a ciphertext moved to another row does not reveal", func(t *testing.T) {
		c, err := queryID(ctx, db, rows[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		other, err := queryID(ctx, db, rows[1].ID)
		if err != nil {
			t.Fatal(err)
		}
		c.Name = other.Name
		if err := p.Reveal(ctx, &c); !errors.Is(err, pii.ErrDecryption) {
			t.Errorf("Reveal with another row's name = %v, want %v", err, pii.ErrDecryption)
		}
	})
}

func TestRunTwiceInOneDir(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(ctx, dir, testN, &out); err != nil {
		t.Fatalf("first run: %v", err)
	}
	keyPath := filepath.Join(dir, masterKeyFile)
	key1, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, dir, testN, &out); err != nil {
		t.Fatalf("second run: %v\n%s", err, out.String())
	}
	key2, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(key1, key2) {
		t.Error("the second run replaced the master key")
	}
	if !bytes.Contains(out.Bytes(), []byte("previous run's 220 rows all reveal")) {
		t.Errorf("the second run did not reveal the first run's rows:\n%s", out.String())
	}
	db, store, _ := openRun(t, dir)
	for _, kind := range []keys.Kind{keys.KindAEAD, keys.KindPRF} {
		ks, err := store.Keyset(ctx, "default", kind)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(ks.Keys()); got != 3 {
			t.Errorf("after two runs default/%s has %d keys, want 3 (one rotation per run)", kind, got)
		}
	}
	// The first run's PRF keys stay live, so the second run's lookups
	// take one term more.
	var terms []int
	for _, l := range parseLookups(t, out.String()) {
		terms = append(terms, l.terms)
	}
	if want := []int{2, 3, 3, 0, 0}; !slices.Equal(terms, want) {
		t.Errorf("the second run's lookups took %v terms, want %v", terms, want)
	}
	n, err := countWhere(ctx, db, "1")
	if err != nil {
		t.Fatal(err)
	}
	if n != testN+testN/10 {
		t.Errorf("after two runs the table holds %d rows, want %d", n, testN+testN/10)
	}
}

func TestRunOverOlderTable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := run(ctx, dir, testN, &bytes.Buffer{}); err != nil {
		t.Fatalf("first run: %v", err)
	}
	// An earlier quickstart had no email index, and deterministic emails.
	db, _, _ := openRun(t, dir)
	for _, q := range []string{"DROP INDEX customers_email_idx", "ALTER TABLE customers DROP COLUMN email_idx"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := run(ctx, dir, testN, &out); err != nil {
		t.Fatalf("run over a table without email_idx: %v\n%s", err, out.String())
	}
	if !bytes.Contains(out.Bytes(), []byte("predates the email index; recreating it")) {
		t.Errorf("run over a table without email_idx did not say it recreates it:\n%s", out.String())
	}
}

func TestRunWrongMasterKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := run(ctx, dir, testN, &bytes.Buffer{}); err != nil {
		t.Fatalf("first run: %v", err)
	}
	keysetPath := filepath.Join(dir, keysetFile)
	before, err := os.ReadFile(keysetPath)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, masterKeyFile)
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	if err := keys.GenerateMasterKeyFile(keyPath); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, dir, testN, &bytes.Buffer{}); !errors.Is(err, keys.ErrWrongKEK) {
		t.Errorf("run with another master key = %v, want %v", err, keys.ErrWrongKEK)
	}
	after, err := os.ReadFile(keysetPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("run with another master key changed the keyset file")
	}
}

func TestIndexKeyID(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want uint32
	}{
		{"blind index", "tl1i:AQAAAAFhYmNk", 1},
		{"largest key ID", "tl1i:Af____9hYmNk", 0xffffffff},
		{"too short", "tl1i:AQAA", 0},
		{"not a Tink prefix", "tl1i:AAAAAAFhYmNk", 0},
		{"encrypted value", "tl1e:AQAAAAFhYmNk", 0},
		{"plaintext", "jane.doe@example.com", 0},
	} {
		if got := indexKeyID(tt.in); got != tt.want {
			t.Errorf("%s: indexKeyID(%q) = %d, want %d", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestMixedCase(t *testing.T) {
	if got, want := mixedCase("john.doe@example.com"), "jOhN.dOe@ExAmPlE.cOm"; got != want {
		t.Errorf("mixedCase = %q, want %q", got, want)
	}
}

func TestCommas(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 10000: "10,000", 1234567: "1,234,567", -1000: "-1,000", -100: "-100"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q, want %q", n, got, want)
		}
	}
}

func removeCommas(s string) string { return strings.ReplaceAll(s, ",", "") }

func sha256Of(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func mustTerms(t *testing.T, p *pii.Protector, query string) []string {
	t.Helper()
	terms, err := p.LookupTerms(context.Background(), Customer{}, "EmailIdx", query)
	if err != nil {
		t.Fatal(err)
	}
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
			if err != nil {
				t.Fatal(err)
			}
			terms, _ := strconv.Atoi(m[2])
			ls = append(ls, lookupLine{typed: typed, terms: terms})
		} else if m := foundLine.FindStringSubmatch(line); m != nil && len(ls) > 0 && m[1] != "" {
			ls[len(ls)-1].found = append(ls[len(ls)-1].found, m[1])
		}
	}
	return ls
}
