package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"regexp"
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
		n, err := countWhere(ctx, db, `name NOT LIKE 'tl1e:%' OR email NOT LIKE 'tl1d:%' OR phone NOT LIKE 'tl1e:%'
			OR birth_date NOT LIKE 'tl1e:%' OR national_id NOT LIKE 'tl1e:%' OR card NOT LIKE 'tl1e:%'
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
		for _, kind := range []keys.Kind{keys.KindAEAD, keys.KindDeterministicAEAD} {
			ks, err := store.Keyset(ctx, "default", kind)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(ks.Keys()); got != 2 {
				t.Errorf("keyset default/%s has %d keys, want 2", kind, got)
			}
		}
		aead, err := store.Keyset(ctx, "default", keys.KindAEAD)
		if err != nil {
			t.Fatal(err)
		}
		daead, err := store.Keyset(ctx, "default", keys.KindDeterministicAEAD)
		if err != nil {
			t.Fatal(err)
		}
		// The oldest n/10 rows were rewrapped and the last n/10 written
		// after the rotation: those are under the new primary keys, the
		// rest under the old ones.
		aeadIDs, daeadIDs := map[uint32]int{}, map[uint32]int{}
		for i, c := range rows {
			a, d := keyID(c.Name), keyID(c.Email)
			aeadIDs[a]++
			daeadIDs[d]++
			wantNew := i < testN/10 || i >= testN
			if gotNew := a == aead.PrimaryKeyID() && d == daead.PrimaryKeyID(); gotNew != wantNew {
				t.Errorf("row %d: keys %d, %d; under the new primary keys = %v, want %v", i, a, d, gotNew, wantNew)
			}
		}
		if len(aeadIDs) != 2 || len(daeadIDs) != 2 {
			t.Errorf("rows use AEAD keys %v and deterministic keys %v, want two of each", aeadIDs, daeadIDs)
		}
	})

	t.Run("rewrap count", func(t *testing.T) {
		m := regexp.MustCompile(`rewrapped the ([\d,]+) oldest rows: ([\d,]+) values`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatal("the output does not report a rewrap")
		}
		rowsN, _ := strconv.Atoi(removeCommas(m[1]))
		values, _ := strconv.Atoi(removeCommas(m[2]))
		// Seven fields per row are encrypted; notes are redacted.
		if rowsN != testN/10 || values != 7*rowsN {
			t.Errorf("rewrapped %d values in %d rows, want %d in %d", values, rowsN, 7*testN/10, testN/10)
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
			if got != w {
				t.Errorf("%s: revealed\n%+v\nwant\n%+v", id, got, w)
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
	ks, err := store.Keyset(ctx, "default", keys.KindAEAD)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(ks.Keys()); got != 3 {
		t.Errorf("after two runs default/aead has %d keys, want 3 (one rotation per run)", got)
	}
	n, err := countWhere(ctx, db, "1")
	if err != nil {
		t.Fatal(err)
	}
	if n != testN+testN/10 {
		t.Errorf("after two runs the table holds %d rows, want %d", n, testN+testN/10)
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

func TestKeyID(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want uint32
	}{
		{"encrypt", "tl1e:AQAAAAFhYmNk", 1},
		{"deterministic", "tl1d:Af____9hYmNk", 0xffffffff},
		{"too short", "tl1e:AQAA", 0},
		{"not a Tink prefix", "tl1e:AAAAAAFhYmNk", 0},
		{"plaintext", "Jane Doe, 1 Main Street", 0},
	} {
		if got := keyID(tt.in); got != tt.want {
			t.Errorf("%s: keyID(%q) = %d, want %d", tt.name, tt.in, got, tt.want)
		}
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
