package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

var ctx = context.Background()

// cli runs the command in process and returns its exit code and output.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// masterKey sets TILLID_MASTER_KEY to a new master key and returns its KEK.
func masterKey(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "master.key")
	if err := keys.GenerateMasterKeyFile(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	t.Setenv("TILLID_MASTER_KEY", strings.TrimSpace(string(b)))
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	return raw
}

var keyIDRE = regexp.MustCompile(`key (\d+)`)

func keyIDOf(t *testing.T, out string) string {
	t.Helper()
	m := keyIDRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no key ID in %q", out)
	}
	return m[1]
}

func TestKeysCommands(t *testing.T) {
	for _, store := range []string{"-keyset-file", "-keyset-db"} {
		t.Run(store, func(t *testing.T) {
			masterKey(t)
			loc := filepath.Join(t.TempDir(), "keysets.json")
			if store == "-keyset-db" {
				loc = "sqlite:" + filepath.Join(t.TempDir(), "keys.db")
			}
			k := func(args ...string) (int, string, string) {
				return cli(t, append([]string{"keys", args[0], store, loc}, args[1:]...)...)
			}
			code, out, errOut := k("create", "crm")
			if code != exitOK {
				t.Fatalf("create = %d %s %s", code, out, errOut)
			}
			k1 := keyIDOf(t, out)
			if code, _, _ := k("create", "crm"); code != exitFailure {
				t.Errorf("create twice = %d, want %d", code, exitFailure)
			}
			code, out, _ = k("rotate", "crm")
			if code != exitOK {
				t.Fatalf("rotate = %d", code)
			}
			k2 := keyIDOf(t, out)
			if code, _, errOut := k("disable", "crm", k2); code != exitFailure || !strings.Contains(errOut, "primary") {
				t.Errorf("disable primary = %d %s", code, errOut)
			}
			for _, step := range [][]string{{"disable", "crm", k1}, {"enable", "crm", k1}, {"disable", "crm", k1}} {
				if code, _, errOut := k(step...); code != exitOK {
					t.Fatalf("%v = %d %s", step, code, errOut)
				}
			}
			if code, _, errOut := k("destroy", "crm", k1); code != exitUsage || !strings.Contains(errOut, "-yes") {
				t.Errorf("destroy without -yes = %d %s", code, errOut)
			}
			if code, _, errOut := cli(t, "keys", "destroy", store, loc, "-yes", "crm", k1); code != exitOK {
				t.Fatalf("destroy -yes = %d %s", code, errOut)
			}
			if code, _, _ := k("enable", "crm", k1); code != exitNotFound {
				t.Errorf("enable destroyed = %d, want %d", code, exitNotFound)
			}
			if code, _, _ := k("disable", "nope", k1); code != exitNotFound {
				t.Errorf("disable in an unknown keyset = %d, want %d", code, exitNotFound)
			}
			code, out, _ = k("list")
			if code != exitOK || !strings.Contains(out, "KEYSET") || !strings.Contains(out, k1) || !strings.Contains(out, "Destroyed") {
				t.Errorf("list = %d\n%s", code, out)
			}
			code, out, _ = cli(t, "keys", "list", store, loc, "-json")
			var rows []listedKey
			if err := json.Unmarshal([]byte(out), &rows); err != nil || code != exitOK || len(rows) != 2 {
				t.Fatalf("list -json = %d %v\n%s", code, err, out)
			}
			for _, r := range rows {
				want := map[string]string{k1: "Destroyed", k2: "Enabled"}[strconv.FormatUint(uint64(r.KeyID), 10)]
				if r.Status != want || r.Keyset != "crm" || r.Kind != "aead" || r.Created == nil || r.Primary != (want == "Enabled") {
					t.Errorf("list -json row %+v", r)
				}
			}
			// The daead kind is separate: created beside the aead keyset.
			if code, _, _ := cli(t, "keys", "create", store, loc, "-kind", "daead", "crm"); code != exitOK {
				t.Error("create -kind daead failed")
			}
		})
	}
}

func TestUsageAndErrors(t *testing.T) {
	masterKey(t)
	file := filepath.Join(t.TempDir(), "k.json")
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no args", nil, exitUsage},
		{"help", []string{"help"}, exitOK},
		{"keys help", []string{"keys", "-h"}, exitOK},
		{"rewrap help", []string{"rewrap", "-h"}, exitOK},
		{"unknown", []string{"frobnicate"}, exitUsage},
		{"unknown keys command", []string{"keys", "spin", "-keyset-file", file}, exitUsage},
		{"no store", []string{"keys", "list"}, exitUsage},
		{"two stores", []string{"keys", "list", "-keyset-file", file, "-keyset-db", "sqlite:x"}, exitUsage},
		{"bad kind", []string{"keys", "rotate", "-keyset-file", file, "-kind", "rsa", "x"}, exitUsage},
		{"bad key id", []string{"keys", "disable", "-keyset-file", file, "x", "abc"}, exitUsage},
		{"missing arg", []string{"keys", "rotate", "-keyset-file", file}, exitUsage},
		{"bad flag", []string{"keys", "list", "-nope"}, exitUsage},
		{"no KEK", []string{"keys", "list", "-keyset-file", file, "-master-key-env", "TILLID_TEST_UNSET"}, exitFailure},
		{"bad kms uri", []string{"keys", "list", "-keyset-file", file, "-kek-uri", "foo://bar"}, exitFailure},
		{"rewrap missing flags", []string{"rewrap", "-keyset-file", file}, exitUsage},
		{"rewrap bad column", []string{"rewrap", "-column", "x"}, exitUsage},
		{"rewrap bad table", []string{"rewrap", "-keyset-file", file, "-db", "sqlite:x", "-table", "a;b", "-key-column", "id", "-column", "e=T.F"}, exitUsage},
	}
	for _, tt := range tests {
		code, out, errOut := cli(t, tt.args...)
		if code != tt.want {
			t.Errorf("%s: exit %d, want %d\n%s%s", tt.name, code, tt.want, out, errOut)
		}
	}
	_, out, _ := cli(t, "help")
	for _, s := range []string{"Exit codes", "rewrap", "destroy", "TILLID_MASTER_KEY"} {
		if !strings.Contains(out, s) {
			t.Errorf("help lacks %q", s)
		}
	}
}

type customer struct {
	ID    int64  `pii:"-"`
	Email string `pii:"encrypt,aad=ID"`
	Phone string `pii:"deterministic"`
}

// rewrapDB is a data database and a keyset store for the rewrap tests.
type rewrapDB struct {
	dsn     string // for -db and -keyset-db
	db      *sql.DB
	ph      func(int) string
	openKey func(t *testing.T, kek []byte) *keys.SQLStore
}

func sqliteRewrapDB(t *testing.T) rewrapDB {
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := openDB(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.close)
	return rewrapDB{dsn: "sqlite:" + path, db: db.sql, ph: func(int) string { return "?" }, openKey: func(t *testing.T, raw []byte) *keys.SQLStore {
		kek, _ := keys.NewLocalKEK(raw)
		s, err := keys.OpenSQLite(ctx, db.sql, kek, keys.WithCacheTTL(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}}
}

func postgresRewrapDB(t *testing.T) rewrapDB {
	dsn := pgtest.DSN(t)
	db, err := openDB(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.close)
	return rewrapDB{dsn: dsn, db: db.sql, ph: func(i int) string { return "$" + strconv.Itoa(i) }, openKey: func(t *testing.T, raw []byte) *keys.SQLStore {
		kek, _ := keys.NewLocalKEK(raw)
		s, err := keys.OpenPostgres(ctx, db.pool, kek, keys.WithCacheTTL(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}}
}

// cancelOnProgress cancels a context at the first progress line: a
// simulated Ctrl-C after one batch.
type cancelOnProgress struct {
	bytes.Buffer
	cancel context.CancelFunc
}

func (w *cancelOnProgress) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("rows/s")) {
		w.cancel()
	}
	return w.Buffer.Write(p)
}

// The whole runbook on a table: protect rows, rotate, rewrap (interrupted,
// then resumed, with the application writing meanwhile), check, disable the
// old key, and every row still reveals.
func TestRewrap(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) rewrapDB
	}{{"sqlite", sqliteRewrapDB}, {"postgres", postgresRewrapDB}} {
		t.Run(tc.name, func(t *testing.T) {
			raw := masterKey(t)
			d := tc.open(t)
			app := d.openKey(t, raw)
			p, _ := pii.New(app)
			const n = 2500
			if _, err := d.db.Exec(`CREATE TABLE customers (id BIGINT PRIMARY KEY, email TEXT, phone TEXT, note TEXT)`); err != nil {
				t.Fatal(err)
			}
			want := map[int64]customer{}
			insert := func(c customer) {
				plain := c
				if err := p.Protect(ctx, &c); err != nil {
					t.Fatal(err)
				}
				if _, err := d.db.Exec(`INSERT INTO customers (id, email, phone) VALUES (`+d.ph(1)+`, `+d.ph(2)+`, `+d.ph(3)+`)`, c.ID, c.Email, c.Phone); err != nil {
					t.Fatal(err)
				}
				want[c.ID] = plain
			}
			for i := range int64(n) {
				insert(customer{ID: i + 1, Email: fmt.Sprintf("c%d@example.com", i), Phone: fmt.Sprintf("+45 %08d", i)})
			}
			d.db.Exec(`INSERT INTO customers (id, email) VALUES (`+d.ph(1)+`, NULL)`, n+1) // NULLs are skipped
			want[n+1] = customer{ID: n + 1}
			old, _ := app.Keyset(ctx, "default", keys.KindAEAD)
			oldD, _ := app.Keyset(ctx, "default", keys.KindDeterministicAEAD)
			store := []string{"-keyset-db", d.dsn}
			for _, kind := range []string{"aead", "daead"} {
				if code, _, errOut := cli(t, append([]string{"keys", "rotate", "-kind", kind}, append(store, "default")...)...); code != exitOK {
					t.Fatalf("rotate: %s", errOut)
				}
			}
			time.Sleep(300 * time.Millisecond) // the application's cache TTL: it now writes under the new keys

			args := append([]string{"rewrap", "-db", d.dsn, "-table", "customers", "-key-column", "id", "-batch", "200",
				"-column", "email=customer.Email:aad", "-column", "phone=customer.Phone:deterministic"}, store...)

			// First run: interrupted after one batch.
			c, cancel := context.WithCancel(ctx)
			errOut := &cancelOnProgress{cancel: cancel}
			var out bytes.Buffer
			if code := run(c, args, &out, errOut); code != exitKMS && code != exitFailure {
				t.Fatalf("interrupted rewrap = %d, want a failure\n%s", code, errOut)
			}
			cancel()
			if !strings.Contains(errOut.String(), "run the same command again") {
				t.Errorf("interrupted rewrap says:\n%s", errOut)
			}

			// The application keeps writing during the second run.
			var wg sync.WaitGroup
			var stop atomic.Bool
			var mu sync.Mutex
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int64(1); !stop.Load() && i < n; i += 97 {
					cu := customer{ID: i, Email: fmt.Sprintf("new%d@example.com", i), Phone: "+45 99"}
					plain := cu
					if err := p.Protect(ctx, &cu); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if _, err := d.db.Exec(`UPDATE customers SET email = `+d.ph(1)+`, phone = `+d.ph(2)+` WHERE id = `+d.ph(3), cu.Email, cu.Phone, cu.ID); err != nil {
						t.Error(err)
					}
					want[i] = plain
					mu.Unlock()
				}
			}()
			code, outS, errS := cli(t, args...)
			stop.Store(true)
			wg.Wait()
			if code != exitOK || !strings.Contains(errS, "resuming") || !strings.Contains(outS, "done") {
				t.Fatalf("resumed rewrap = %d\n%s\n%s", code, outS, errS)
			}
			t.Logf("%s: %s", tc.name, strings.TrimSpace(outS))

			// Check: nothing left under the old keys.
			code, outS, _ = cli(t, append([]string{"rewrap", "-check", "-db", d.dsn, "-table", "customers", "-key-column", "id",
				"-column", "email=customer.Email:aad", "-column", "phone=customer.Phone:deterministic"}, store...)...)
			if code != exitOK || strings.Contains(outS, fmt.Sprint(old.PrimaryKeyID())) || strings.Contains(outS, fmt.Sprint(oldD.PrimaryKeyID())) || strings.Contains(outS, "not protected") {
				t.Errorf("check after rewrap = %d:\n%s", code, outS)
			}

			// A finished job leaves no checkpoint: after the next rotation the
			// same command starts again from the first row.
			for _, kind := range []string{"aead", "daead"} {
				if code, _, errOut := cli(t, append([]string{"keys", "rotate", "-kind", kind}, append(store, "default")...)...); code != exitOK {
					t.Fatalf("second rotate: %s", errOut)
				}
			}
			code, outS, errS = cli(t, args...)
			if code != exitOK || strings.Contains(errS, "resuming") || strings.Contains(outS, " 0 values rewrapped") {
				t.Fatalf("rewrap after a second rotation = %d\n%s\n%s", code, outS, errS)
			}

			// Disable the old keys; every row still reveals, with its latest value.
			for _, k := range []struct {
				kind string
				id   uint32
			}{{"aead", old.PrimaryKeyID()}, {"daead", oldD.PrimaryKeyID()}} {
				if code, _, errOut := cli(t, append([]string{"keys", "disable", "-kind", k.kind}, append(store, "default", fmt.Sprint(k.id))...)...); code != exitOK {
					t.Fatalf("disable: %s", errOut)
				}
			}
			time.Sleep(300 * time.Millisecond)
			rows, err := d.db.Query(`SELECT id, email, phone FROM customers ORDER BY id`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			count := 0
			for rows.Next() {
				var cu customer
				var email, phone sql.NullString
				rows.Scan(&cu.ID, &email, &phone)
				cu.Email, cu.Phone = email.String, phone.String
				if email.Valid {
					if err := p.Reveal(ctx, &cu); err != nil {
						t.Fatalf("row %d does not reveal after the old keys were disabled: %v", cu.ID, err)
					}
				}
				if cu != want[cu.ID] {
					t.Fatalf("row %d = %+v, want %+v", cu.ID, cu, want[cu.ID])
				}
				count++
			}
			if count != n+1 {
				t.Errorf("%d rows, want %d", count, n+1)
			}
		})
	}
}

// TestRewrapThroughput reports bulk rewrap rows per second (one encrypt and
// one deterministic column per row).
func TestRewrapThroughput(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for _, tc := range []struct {
		name string
		open func(t *testing.T) rewrapDB
	}{{"sqlite", sqliteRewrapDB}, {"postgres", postgresRewrapDB}} {
		t.Run(tc.name, func(t *testing.T) {
			raw := masterKey(t)
			d := tc.open(t)
			p, _ := pii.New(d.openKey(t, raw))
			d.db.Exec(`CREATE TABLE people (id BIGINT PRIMARY KEY, email TEXT, phone TEXT)`)
			tx, _ := d.db.Begin()
			for i := range int64(n) {
				cu := customer{ID: i + 1, Email: fmt.Sprintf("p%d@example.com", i), Phone: fmt.Sprint(i)}
				if err := p.Protect(ctx, &cu); err != nil {
					t.Fatal(err)
				}
				if _, err := tx.Exec(`INSERT INTO people VALUES (`+d.ph(1)+`, `+d.ph(2)+`, `+d.ph(3)+`)`, cu.ID, cu.Email, cu.Phone); err != nil {
					t.Fatal(err)
				}
			}
			tx.Commit()
			store := []string{"-keyset-db", d.dsn}
			cli(t, append([]string{"keys", "rotate"}, append(store, "default")...)...)
			cli(t, append([]string{"keys", "rotate", "-kind", "daead"}, append(store, "default")...)...)
			start := time.Now()
			code, out, errOut := cli(t, append([]string{"rewrap", "-db", d.dsn, "-table", "people", "-key-column", "id",
				"-column", "email=customer.Email:aad", "-column", "phone=customer.Phone:deterministic"}, store...)...)
			if code != exitOK {
				t.Fatalf("rewrap = %d %s", code, errOut)
			}
			t.Logf("%s: %d rows (2 values each) rewrapped in %v: %.0f rows/s\n%s", tc.name, n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds(), strings.TrimSpace(out))
		})
	}
}

// A mistyped keyset path is an error, not a new, empty key store; only
// keys create makes one.
func TestMissingKeyStore(t *testing.T) {
	masterKey(t)
	dir := t.TempDir()
	typo := filepath.Join(dir, "keysets.jsno")
	for _, args := range [][]string{
		{"keys", "rotate", "-keyset-file", typo, "default"},
		{"keys", "list", "-keyset-file", typo},
		{"keys", "list", "-keyset-db", "sqlite:" + typo},
		{"rewrap", "-keyset-file", typo, "-db", "sqlite:" + typo, "-table", "t", "-key-column", "id", "-column", "a=T.A"},
	} {
		if code, _, errOut := cli(t, args...); code != exitFailure || !strings.Contains(errOut, "does not exist") {
			t.Errorf("%v = %d, %q; want exit 1 saying the path does not exist", args, code, errOut)
		}
		if _, err := os.Stat(typo); err == nil {
			t.Fatalf("%v created %s", args, typo)
		}
	}
	if code, _, errOut := cli(t, "keys", "create", "-keyset-file", typo, "default"); code != exitOK {
		t.Errorf("keys create on a new path = %d, %s", code, errOut)
	}
}

// An interrupted rewrap followed by another rotation starts again from the
// first row: the checkpoint belongs to the primary keys it rewrapped to.
func TestRewrapInterruptedThenRotated(t *testing.T) {
	raw := masterKey(t)
	d := sqliteRewrapDB(t)
	app := d.openKey(t, raw)
	p, _ := pii.New(app)
	if _, err := d.db.Exec(`CREATE TABLE customers (id BIGINT PRIMARY KEY, email TEXT, phone TEXT)`); err != nil {
		t.Fatal(err)
	}
	for i := range int64(1000) {
		c := customer{ID: i + 1, Email: fmt.Sprintf("c%d@example.com", i), Phone: "1"}
		if err := p.Protect(ctx, &c); err != nil {
			t.Fatal(err)
		}
		d.db.Exec(`INSERT INTO customers (id, email, phone) VALUES (?, ?, ?)`, c.ID, c.Email, c.Phone)
	}
	store := []string{"-keyset-db", d.dsn}
	rotate := func() {
		for _, kind := range []string{"aead", "daead"} {
			if code, _, errOut := cli(t, append([]string{"keys", "rotate", "-kind", kind}, append(store, "default")...)...); code != exitOK {
				t.Fatalf("rotate: %s", errOut)
			}
		}
	}
	cols := []string{"-db", d.dsn, "-table", "customers", "-key-column", "id", "-batch", "100",
		"-column", "email=customer.Email:aad", "-column", "phone=customer.Phone:deterministic"}
	rotate()
	c, cancel := context.WithCancel(ctx)
	errOut := &cancelOnProgress{cancel: cancel}
	run(c, append(append([]string{"rewrap"}, cols...), store...), &bytes.Buffer{}, errOut)
	cancel()
	rotate()
	code, outS, errS := cli(t, append(append([]string{"rewrap"}, cols...), store...)...)
	if code != exitOK || strings.Contains(errS, "resuming") {
		t.Fatalf("rewrap after an interrupted run and a rotation = %d, %s\n%s", code, outS, errS)
	}
	cur, _ := d.openKey(t, raw).Keyset(ctx, "default", keys.KindAEAD) // a fresh instance, no cache
	code, outS, _ = cli(t, append(append([]string{"rewrap", "-check"}, cols...), store...)...)
	if code != exitOK || !strings.Contains(outS, fmt.Sprintf("default/%d: 1000 values", cur.PrimaryKeyID())) {
		t.Errorf("check after the rewrap: %d\n%s", code, outS)
	}
}
