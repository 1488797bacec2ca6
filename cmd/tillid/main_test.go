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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/piitest"
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
	require.NoError(t, keys.GenerateMasterKeyFile(path))
	b, _ := os.ReadFile(path)
	t.Setenv("TILLID_MASTER_KEY", strings.TrimSpace(string(b)))
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	return raw
}

var keyIDRE = regexp.MustCompile(`key (\d+)`)

func keyIDOf(t *testing.T, out string) string {
	t.Helper()
	m := keyIDRE.FindStringSubmatch(out)
	require.NotNil(t, m, "no key ID in %q", out)
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
			require.Equal(t, exitOK, code, "create = %d %s %s", code, out, errOut)
			k1 := keyIDOf(t, out)
			code, _, _ = k("create", "crm")
			assert.Equal(t, exitFailure, code, "create twice = %d, want %d", code, exitFailure)
			code, out, _ = k("rotate", "crm")
			require.Equal(t, exitOK, code, "rotate = %d", code)
			k2 := keyIDOf(t, out)
			code, _, errOut = k("disable", "crm", k2)
			assert.Equal(t, exitFailure, code, "disable primary = %d %s", code, errOut)
			assert.Contains(t, errOut, "primary", "disable primary = %d %s", code, errOut)
			for _, step := range [][]string{{"disable", "crm", k1}, {"enable", "crm", k1}, {"disable", "crm", k1}} {
				code, _, errOut := k(step...)
				require.Equal(t, exitOK, code, "%v = %d %s", step, code, errOut)
			}
			code, _, errOut = k("destroy", "crm", k1)
			assert.Equal(t, exitUsage, code, "destroy without -yes = %d %s", code, errOut)
			assert.Contains(t, errOut, "-yes", "destroy without -yes = %d %s", code, errOut)
			code, _, errOut = cli(t, "keys", "destroy", store, loc, "-yes", "crm", k1)
			require.Equal(t, exitOK, code, "destroy -yes = %d %s", code, errOut)
			code, _, _ = k("enable", "crm", k1)
			assert.Equal(t, exitNotFound, code, "enable destroyed = %d, want %d", code, exitNotFound)
			code, _, _ = k("disable", "nope", k1)
			assert.Equal(t, exitNotFound, code, "disable in an unknown keyset = %d, want %d", code, exitNotFound)
			code, out, _ = k("list")
			assert.Equal(t, exitOK, code, "list = %d\n%s", code, out)
			assert.Contains(t, out, "KEYSET", "list = %d\n%s", code, out)
			assert.Contains(t, out, k1, "list = %d\n%s", code, out)
			assert.Contains(t, out, "Destroyed", "list = %d\n%s", code, out)
			code, out, _ = cli(t, "keys", "list", store, loc, "-json")
			var rows []listedKey
			err := json.Unmarshal([]byte(out), &rows)
			require.NoError(t, err, "list -json = %d %v\n%s", code, err, out)
			require.Equal(t, exitOK, code, "list -json = %d %v\n%s", code, err, out)
			require.Len(t, rows, 2, "list -json = %d %v\n%s", code, err, out)
			for _, r := range rows {
				want := map[string]string{k1: "Destroyed", k2: "Enabled"}[strconv.FormatUint(uint64(r.KeyID), 10)]
				assert.Equal(t, want, r.Status, "list -json row %+v", r)
				assert.Equal(t, "crm", r.Keyset, "list -json row %+v", r)
				assert.Equal(t, "aead", r.Kind, "list -json row %+v", r)
				assert.NotNil(t, r.Created, "list -json row %+v", r)
				assert.Equal(t, want == "Enabled", r.Primary, "list -json row %+v", r)
			}
			// The daead kind is separate: created beside the aead keyset.
			code, _, _ = cli(t, "keys", "create", store, loc, "-kind", "daead", "crm")
			assert.Equal(t, exitOK, code, "create -kind daead failed")
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
		assert.Equal(t, tt.want, code, "%s: exit %d, want %d\n%s%s", tt.name, code, tt.want, out, errOut)
	}
	_, out, _ := cli(t, "help")
	for _, s := range []string{"Exit codes", "rewrap", "destroy", "TILLID_MASTER_KEY"} {
		assert.Contains(t, out, s, "help lacks %q", s)
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
	// clock is the application stores' time: tests move it past their
	// cache TTL (appTTL) instead of sleeping.
	clock *piitest.Clock
}

// appTTL is the cache TTL of the application's keyset stores.
const appTTL = 5 * time.Minute

func sqliteRewrapDB(t *testing.T) rewrapDB {
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := openDB(ctx, "sqlite:"+path)
	require.NoError(t, err)
	t.Cleanup(db.close)
	clk := &piitest.Clock{}
	return rewrapDB{dsn: "sqlite:" + path, db: db.sql, clock: clk, ph: func(int) string { return "?" }, openKey: func(t *testing.T, raw []byte) *keys.SQLStore {
		kek, _ := keys.NewLocalKEK(raw)
		s, err := keys.OpenSQLite(ctx, db.sql, kek, keys.WithCacheTTL(appTTL), keys.WithClock(clk.Now), keys.WithCreateMissing())
		require.NoError(t, err)
		return s
	}}
}

func postgresRewrapDB(t *testing.T) rewrapDB {
	dsn := pgtest.DSN(t)
	db, err := openDB(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(db.close)
	clk := &piitest.Clock{}
	return rewrapDB{dsn: dsn, db: db.sql, clock: clk, ph: func(i int) string { return "$" + strconv.Itoa(i) }, openKey: func(t *testing.T, raw []byte) *keys.SQLStore {
		kek, _ := keys.NewLocalKEK(raw)
		s, err := keys.OpenPostgres(ctx, db.sql, kek, keys.WithCacheTTL(appTTL), keys.WithClock(clk.Now), keys.WithCreateMissing())
		require.NoError(t, err)
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
			_, err := d.db.Exec(`CREATE TABLE customers (id BIGINT PRIMARY KEY, email TEXT, phone TEXT, note TEXT)`)
			require.NoError(t, err)
			want := map[int64]customer{}
			insert := func(c customer) {
				plain := c
				require.NoError(t, p.Protect(ctx, &c))
				_, err := d.db.Exec(`INSERT INTO customers (id, email, phone) VALUES (`+d.ph(1)+`, `+d.ph(2)+`, `+d.ph(3)+`)`, c.ID, c.Email, c.Phone)
				require.NoError(t, err)
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
				code, _, errOut := cli(t, append([]string{"keys", "rotate", "-kind", kind}, append(store, "default")...)...)
				require.Equal(t, exitOK, code, "rotate: %s", errOut)
			}
			d.clock.Advance(appTTL) // past the application's cache TTL: it now writes under the new keys

			// -cache-ttl 1ms: the test's application reloads its keys with
			// its clock (d.clock), so the job need not wait for it.
			args := append([]string{"rewrap", "-cache-ttl", "1ms", "-db", d.dsn, "-table", "customers", "-key-column", "id", "-batch", "200",
				"-column", "email=customer.Email:aad", "-column", "phone=customer.Phone:deterministic"}, store...)

			// First run: interrupted after one batch.
			c, cancel := context.WithCancel(ctx)
			errOut := &cancelOnProgress{cancel: cancel}
			var out bytes.Buffer
			code := run(c, args, &out, errOut)
			require.False(t, code != exitKMS && code != exitFailure, "interrupted rewrap = %d, want a failure\n%s", code, errOut)
			cancel()
			assert.Contains(t, errOut.String(), "run the same command again to resume", "an interrupted rewrap says how to resume")
			assert.Contains(t, errOut.String(), "tillid_rewrap_jobs", "an interrupted rewrap says where its checkpoint is")

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
					_, err := d.db.Exec(`UPDATE customers SET email = `+d.ph(1)+`, phone = `+d.ph(2)+` WHERE id = `+d.ph(3), cu.Email, cu.Phone, cu.ID)
					assert.NoError(t, err)
					want[i] = plain
					mu.Unlock()
				}
			}()
			code, outS, errS := cli(t, args...)
			stop.Store(true)
			wg.Wait()
			require.Equal(t, exitOK, code, "resumed rewrap = %d\n%s\n%s", code, outS, errS)
			require.Contains(t, errS, "resuming", "resumed rewrap = %d\n%s\n%s", code, outS, errS)
			require.Contains(t, outS, "done", "resumed rewrap = %d\n%s\n%s", code, outS, errS)
			assert.Contains(t, outS, "in the job; this run:", "the last line of a resumed job keeps totals apart from this run")
			assert.Contains(t, outS, "rows done before this run started", "the last line of a resumed job says it resumed")
			t.Logf("%s: %s", tc.name, strings.TrimSpace(outS))

			// Check: nothing left under the old keys.
			code, outS, _ = cli(t, append([]string{"rewrap", "-check", "-db", d.dsn, "-table", "customers", "-key-column", "id",
				"-column", "email=customer.Email:aad", "-column", "phone=customer.Phone:deterministic"}, store...)...)
			assert.Equal(t, exitOK, code, "check after rewrap = %d:\n%s", code, outS)
			assert.False(t, strings.Contains(outS, fmt.Sprint(old.PrimaryKeyID())), "check after rewrap = %d:\n%s", code, outS)
			assert.False(t, strings.Contains(outS, fmt.Sprint(oldD.PrimaryKeyID())), "check after rewrap = %d:\n%s", code, outS)
			assert.NotContains(t, outS, "not protected", "check after rewrap = %d:\n%s", code, outS)

			// A finished job leaves no checkpoint: after the next rotation the
			// same command starts again from the first row.
			for _, kind := range []string{"aead", "daead"} {
				code, _, errOut := cli(t, append([]string{"keys", "rotate", "-kind", kind}, append(store, "default")...)...)
				require.Equal(t, exitOK, code, "second rotate: %s", errOut)
			}
			code, outS, errS = cli(t, args...)
			require.Equal(t, exitOK, code, "rewrap after a second rotation = %d\n%s\n%s", code, outS, errS)
			require.NotContains(t, errS, "resuming", "rewrap after a second rotation = %d\n%s\n%s", code, outS, errS)
			require.NotContains(t, outS, " 0 values rewrapped", "rewrap after a second rotation = %d\n%s\n%s", code, outS, errS)

			// Disable the old keys; every row still reveals, with its latest value.
			for _, k := range []struct {
				kind string
				id   uint32
			}{{"aead", old.PrimaryKeyID()}, {"daead", oldD.PrimaryKeyID()}} {
				code, _, errOut := cli(t, append([]string{"keys", "disable", "-kind", k.kind}, append(store, "default", fmt.Sprint(k.id))...)...)
				require.Equal(t, exitOK, code, "disable: %s", errOut)
			}
			d.clock.Advance(appTTL)
			rows, err := d.db.Query(`SELECT id, email, phone FROM customers ORDER BY id`)
			require.NoError(t, err)
			defer rows.Close()
			count := 0
			for rows.Next() {
				var cu customer
				var email, phone sql.NullString
				rows.Scan(&cu.ID, &email, &phone)
				cu.Email, cu.Phone = email.String, phone.String
				if email.Valid {
					require.NoError(t, p.Reveal(ctx, &cu), "row %d does not reveal after the old keys were disabled", cu.ID)
				}
				require.Equal(t, want[cu.ID], cu, "row %d = %+v, want %+v", cu.ID, cu, want[cu.ID])
				count++
			}
			assert.Equal(t, n+1, count, "%d rows, want %d", count, n+1)
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
				require.NoError(t, p.Protect(ctx, &cu))
				_, err := tx.Exec(`INSERT INTO people VALUES (`+d.ph(1)+`, `+d.ph(2)+`, `+d.ph(3)+`)`, cu.ID, cu.Email, cu.Phone)
				require.NoError(t, err)
			}
			tx.Commit()
			store := []string{"-keyset-db", d.dsn}
			cli(t, append([]string{"keys", "rotate"}, append(store, "default")...)...)
			cli(t, append([]string{"keys", "rotate", "-kind", "daead"}, append(store, "default")...)...)
			start := time.Now()
			code, out, errOut := cli(t, append([]string{"rewrap", "-cache-ttl", "1ms", "-db", d.dsn, "-table", "people", "-key-column", "id",
				"-column", "email=customer.Email:aad", "-column", "phone=customer.Phone:deterministic"}, store...)...)
			require.Equal(t, exitOK, code, "rewrap = %d %s", code, errOut)
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
		code, _, errOut := cli(t, args...)
		assert.Equal(t, exitFailure, code, "%v = %d, %q; want exit 1 saying the path does not exist", args, code, errOut)
		assert.Contains(t, errOut, "does not exist", "%v = %d, %q; want exit 1 saying the path does not exist", args, code, errOut)
		_, err := os.Stat(typo)
		require.Error(t, err, "%v created %s", args, typo)
	}
	code, _, errOut := cli(t, "keys", "create", "-keyset-file", typo, "default")
	assert.Equal(t, exitOK, code, "keys create on a new path = %d, %s", code, errOut)
}

// An interrupted rewrap followed by another rotation starts again from the
// first row: the checkpoint belongs to the primary keys it rewrapped to.
func TestRewrapInterruptedThenRotated(t *testing.T) {
	raw := masterKey(t)
	d := sqliteRewrapDB(t)
	app := d.openKey(t, raw)
	p, _ := pii.New(app)
	_, err := d.db.Exec(`CREATE TABLE customers (id BIGINT PRIMARY KEY, email TEXT, phone TEXT)`)
	require.NoError(t, err)
	for i := range int64(1000) {
		c := customer{ID: i + 1, Email: fmt.Sprintf("c%d@example.com", i), Phone: "1"}
		require.NoError(t, p.Protect(ctx, &c))
		d.db.Exec(`INSERT INTO customers (id, email, phone) VALUES (?, ?, ?)`, c.ID, c.Email, c.Phone)
	}
	store := []string{"-keyset-db", d.dsn}
	rotate := func() {
		for _, kind := range []string{"aead", "daead"} {
			code, _, errOut := cli(t, append([]string{"keys", "rotate", "-kind", kind}, append(store, "default")...)...)
			require.Equal(t, exitOK, code, "rotate: %s", errOut)
		}
	}
	cols := []string{"-cache-ttl", "1ms", "-db", d.dsn, "-table", "customers", "-key-column", "id", "-batch", "100",
		"-column", "email=customer.Email:aad", "-column", "phone=customer.Phone:deterministic"}
	rotate()
	c, cancel := context.WithCancel(ctx)
	errOut := &cancelOnProgress{cancel: cancel}
	run(c, append(append([]string{"rewrap"}, cols...), store...), &bytes.Buffer{}, errOut)
	cancel()
	rotate()
	code, outS, errS := cli(t, append(append([]string{"rewrap"}, cols...), store...)...)
	require.Equal(t, exitOK, code, "rewrap after an interrupted run and a rotation = %d, %s\n%s", code, outS, errS)
	require.NotContains(t, errS, "resuming", "rewrap after an interrupted run and a rotation = %d, %s\n%s", code, outS, errS)
	cur, _ := d.openKey(t, raw).Keyset(ctx, "default", keys.KindAEAD) // a fresh instance, no cache
	code, outS, _ = cli(t, append(append([]string{"rewrap", "-check"}, cols...), store...)...)
	assert.Equal(t, exitOK, code, "check after the rewrap: %d\n%s", code, outS)
	assert.True(t, strings.Contains(outS, fmt.Sprintf("default/aead/%d: 1000 values (primary)", cur.PrimaryKeyID())), "check after the rewrap: %d\n%s", code, outS)
}
