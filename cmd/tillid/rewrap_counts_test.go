package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/tokenize"
)

// tamper flips a character in the middle of row id's email ciphertext, so
// that it no longer decrypts.
func (a memberApp) tamper(t *testing.T, id int64) {
	t.Helper()
	v := a.column(t, "email", id)
	mid := len(v) / 2
	flip := "A"
	if v[mid] == 'A' {
		flip = "B"
	}
	a.set(t, "email", id, v[:mid]+flip+v[mid+1:])
}

// skipLines counts the values a run's standard error lists as not
// rewrapped.
func skipLines(errOut string) int64 {
	return int64(strings.Count(errOut, "rewrap: members id="))
}

var (
	exitSkipsRE = regexp.MustCompile(`tillid: (\d+) values could not be rewrapped`)
	exitVaultRE = regexp.MustCompile(`tillid: (\d+) vault entries did not decrypt`)
)

// exitSkips reads the count of the last line a failing run writes.
func exitSkips(t *testing.T, errOut string) int64 { return countOf(t, exitSkipsRE, errOut) }

// exitVaultSkips reads the count of the last line a failing vault rewrap
// writes.
func exitVaultSkips(t *testing.T, errOut string) int64 { return countOf(t, exitVaultRE, errOut) }

// countOf reads the number re matches in out.
func countOf(t *testing.T, re *regexp.Regexp, out string) int64 {
	t.Helper()
	m := re.FindStringSubmatch(out)
	require.NotNil(t, m, "no %s in\n%s", re, out)
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// settleAtOnce makes the cache wait of a run end at once, so that the run
// makes its last pass.
func settleAtOnce(time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	c <- time.Time{}
	return c
}

// A run with values it cannot rewrap counts each once: in its final line
// and in its exit message, also when the cache wait makes it pass over
// the table twice.
func TestRewrapCountsFailuresOnce(t *testing.T) {
	for _, tc := range bothDBs {
		t.Run(tc.name, func(t *testing.T) {
			const n = 300
			a := newMembers(t, tc.open(t), n, 0)
			rotateMembers(t, a)
			for _, id := range []int64{5, 7, 200} {
				a.tamper(t, id)
			}
			sf, o, _ := parseRewrap(memberArgs(a, "-cache-ttl", "1h")[1:], &bytes.Buffer{})
			require.NotNil(t, sf)
			o.cache.after = settleAtOnce
			var out, errOut bytes.Buffer
			code := finishRewrap(ctx, sf, o, &out, &errOut)
			require.Equal(t, exitRewrapSkips, code, "%s\n%s", out.String(), errOut.String())
			require.Contains(t, errOut.String(), "a last pass rewraps", "the run made no last pass\n%s", errOut.String())
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			require.Len(t, lines, 2, "one final line per pass\n%s", out.String())
			perPass := skipLines(errOut.String()) / 2
			require.Positive(t, perPass)
			assert.Equal(t, fmt.Sprintf("rewrap members: done: %d rows, %d values rewrapped, %d skipped", n, 0, perPass), lines[1][:strings.Index(lines[1], ", in ")], "the last pass's final line")
			assert.Equal(t, perPass, exitSkips(t, errOut.String()), "the exit message counts each failing value once, not once per pass\n%s", errOut.String())
		})
	}
}

// An interrupted run that met failing values, resumed: the resumed run's
// final line gives the job's rows, values and skips apart from its own,
// and it exits 5 for the values the first run could not rewrap.
func TestRewrapResumeKeepsFailures(t *testing.T) {
	for _, tc := range bothDBs {
		t.Run(tc.name, func(t *testing.T) {
			const n = 300
			a := newMembers(t, tc.open(t), n, 0)
			rotateMembers(t, a)
			for _, id := range []int64{5, 7, 200} { // 5 and 7 in the first batch of 64
				a.tamper(t, id)
			}
			args := memberArgs(a, "-wait=false")
			c, cancel := context.WithCancel(ctx)
			errOut1 := &cancelOnProgress{cancel: cancel}
			var out1 bytes.Buffer
			code := run(c, args, &out1, errOut1)
			cancel()
			require.Equal(t, exitFailure, code, "interrupted run\n%s", errOut1.String())
			first := skipLines(errOut1.String())
			require.Positive(t, first)
			var done1 int64
			m := regexp.MustCompile(`interrupted after (\d+) rows`).FindStringSubmatch(errOut1.String())
			require.NotNil(t, m, errOut1.String())
			done1, _ = strconv.ParseInt(m[1], 10, 64)

			code, out2, errOut2 := cli(t, args...)
			require.Equal(t, exitRewrapSkips, code, "the resumed run exits 5 for the values the first run could not rewrap\n%s\n%s", out2, errOut2)
			second := skipLines(errOut2)
			require.Positive(t, second, "row 200 is in the resumed part")
			t.Logf("%s: %s", tc.name, strings.TrimSpace(out2))
			assert.Contains(t, out2, fmt.Sprintf("rewrap members: done: %d rows", n))
			assert.Contains(t, out2, fmt.Sprintf("%d skipped in the job; this run: %d rows", first+second, int64(n)-done1), "the resumed final line\n%s", out2)
			assert.Contains(t, out2, fmt.Sprintf("%d skipped, in ", second), "this run's skips\n%s", out2)
			assert.Contains(t, out2, fmt.Sprintf("; %d rows done before this run started", done1), "the resumed final line\n%s", out2)
			assert.Equal(t, first+second, exitSkips(t, errOut2), "the exit message counts the job's failing values\n%s", errOut2)
			// The progress lines give the job's skips, like its rows and values.
			last := regexp.MustCompile(fmt.Sprintf(`rewrap: %d/%d rows \(0 left\), \d+ values rewrapped, (\d+) skipped`, n, n)).FindStringSubmatch(errOut2)
			require.NotNil(t, last, "no last progress line\n%s", errOut2)
			assert.Equal(t, strconv.FormatInt(first+second, 10), last[1], "the last progress line's skips\n%s", errOut2)
		})
	}
}

// newVaultDomain tokenizes n values of domain cpr in d's vault, rotates
// the domain's AEAD keyset with the CLI, and spoils the stored value of the
// first token and the last two in token order, which vault rewrap meets in
// its first batch and its last.
func newVaultDomain(t *testing.T, d rewrapDB, n int) {
	t.Helper()
	app := d.openKey(t, masterKey(t))
	tk, err := tokenize.New(app, vaultOf(t, d), "cpr", tokenize.ModeRandom)
	require.NoError(t, err)
	items := make([]tokenize.Item, n)
	for i := range items {
		items[i] = tokenize.Item{Value: fmt.Sprintf("%010d", i)}
	}
	toks, err := tk.TokenizeBatch(ctx, items)
	require.NoError(t, err)
	code, _, errS := cli(t, "keys", "rotate", "-keyset-db", d.dsn, "tokenize-cpr")
	require.Equal(t, exitOK, code, errS)
	d.clock.Advance(appTTL)
	slices.Sort(toks)
	for _, tok := range []string{toks[0], toks[n-2], toks[n-1]} {
		var ct []byte
		require.NoError(t, d.db.QueryRow(`SELECT ciphertext FROM tillid_tokens WHERE domain = 'cpr' AND token = `+d.ph(1), tok).Scan(&ct))
		ct[len(ct)-1] ^= 1
		_, err := d.db.Exec(`UPDATE tillid_tokens SET ciphertext = `+d.ph(1)+` WHERE domain = 'cpr' AND token = `+d.ph(2), ct, tok)
		require.NoError(t, err)
	}
}

// Vault rewrap counts each entry that does not decrypt once: with the
// cache wait's last pass, and across a resume, where the resumed run's
// final line gives the job's failures apart from its own and it exits 5
// for those of the first run.
func TestVaultRewrapCountsFailuresOnce(t *testing.T) {
	for _, tc := range bothDBs {
		t.Run(tc.name, func(t *testing.T) {
			const n, spoilt = 1000, 3
			d := tc.open(t)
			newVaultDomain(t, d, n)

			sf := &storeFlags{keysetDB: d.dsn, masterKeyEnv: "TILLID_MASTER_KEY", timeout: time.Minute}
			o := &vaultOpts{db: d.dsn, batch: 300, now: time.Now, cache: cacheFlags{ttl: time.Hour, wait: true, after: settleAtOnce}}
			var out, errOut bytes.Buffer
			failed, err := vaultRewrap(ctx, sf, o, []string{"cpr"}, &out, &errOut)
			require.NoError(t, err, errOut.String())
			require.Contains(t, errOut.String(), "a last pass rewraps", "the run made no last pass\n%s", errOut.String())
			assert.Equal(t, skips{job: spoilt, run: spoilt}, failed, "the failures of a run with a last pass\n%s", out.String())
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			require.Len(t, lines, 2, "one final line per pass\n%s", out.String())
			assert.True(t, strings.HasPrefix(lines[0], fmt.Sprintf("vault rewrap cpr: done: %d rows, %d values rewrapped, %d skipped, in ", n, n-spoilt, spoilt)), "the first pass's final line: %s", lines[0])
			assert.True(t, strings.HasPrefix(lines[1], fmt.Sprintf("vault rewrap cpr: done: %d rows, 0 values rewrapped, %d skipped, in ", n, spoilt)), "the last pass's final line: %s", lines[1])

			// Start over, interrupted after the first batch, then resumed.
			args := func(extra ...string) []string {
				return append(append([]string{"vault", "rewrap", "-keyset-db", d.dsn, "-db", d.dsn, "-batch", "300", "-wait=false"}, extra...), "cpr")
			}
			c, cancel := context.WithCancel(ctx)
			errOut1 := &cancelOnProgress{cancel: cancel}
			code := run(c, args("-restart"), &bytes.Buffer{}, errOut1)
			cancel()
			require.Equal(t, exitFailure, code, "interrupted run\n%s", errOut1.String())
			require.Contains(t, errOut1.String(), "interrupted after 300 rows", errOut1.String())
			code, out2, errS := cli(t, args()...)
			require.Equal(t, exitRewrapSkips, code, "the resumed run exits 5 for the entry the first run could not rewrap\n%s\n%s", out2, errS)
			assert.Contains(t, errS, "resuming job", errS)
			t.Logf("%s: %s", tc.name, strings.TrimSpace(out2))
			assert.True(t, strings.HasPrefix(out2, fmt.Sprintf("vault rewrap cpr: done: %d rows, 0 values rewrapped, %d skipped in the job; this run: %d rows, 0 values rewrapped, %d skipped, in ", n, spoilt, n-300, spoilt-1)), "the resumed final line: %s", out2)
			assert.Contains(t, out2, "; 300 rows done before this run started", out2)
			assert.Equal(t, int64(spoilt), exitVaultSkips(t, errS), "the exit message counts the job's failures\n%s", errS)
			assert.Contains(t, errS, fmt.Sprintf("%d by this run, listed above, and 1 by earlier runs", spoilt-1), errS)
		})
	}
}

// A tillid_rewrap_jobs table made before it had the column skipped gets
// it, and a job in it runs and counts its skips.
func TestRewrapJobsTableUpgrade(t *testing.T) {
	for _, tc := range bothDBs {
		t.Run(tc.name, func(t *testing.T) {
			const n = 100
			a := newMembers(t, tc.open(t), n, 0)
			rotateMembers(t, a)
			a.tamper(t, 9)
			_, err := a.d.db.Exec(`CREATE TABLE tillid_rewrap_jobs (job TEXT PRIMARY KEY, last_key TEXT NOT NULL, done BIGINT NOT NULL, rewrapped BIGINT NOT NULL)`)
			require.NoError(t, err)
			_, err = a.d.db.Exec(`INSERT INTO tillid_rewrap_jobs VALUES ('older', 'done', 5, 5)`)
			require.NoError(t, err)
			code, out, errS := cli(t, memberArgs(a, "-wait=false")...)
			require.Equal(t, exitRewrapSkips, code, "%s\n%s", out, errS)
			assert.Contains(t, out, fmt.Sprintf("rewrap members: done: %d rows, %d values rewrapped, %d skipped, in ", n, 3*n-skipLines(errS), skipLines(errS)), out)
			var skipped int64
			require.NoError(t, a.d.db.QueryRow(`SELECT skipped FROM tillid_rewrap_jobs WHERE job = 'older'`).Scan(&skipped))
			assert.Zero(t, skipped, "an older job's skips")
		})
	}
}

// A database call that fails while a range streams (here its deadline,
// -timeout, passes) names the table and the database, not only the
// driver's error.
func TestRewrapFailureNamesTheTable(t *testing.T) {
	for _, tc := range bothDBs {
		t.Run(tc.name, func(t *testing.T) {
			a := newMembers(t, tc.open(t), 100, 0)
			rotateMembers(t, a)
			sf, o, _ := parseRewrap(memberArgs(a, "-wait=false", "-timeout", "1s")[1:], &bytes.Buffer{})
			require.NotNil(t, sf)
			first := true
			o.row = func(c context.Context) {
				if first {
					first = false
					<-c.Done()
				}
			}
			var errOut bytes.Buffer
			code := finishRewrap(ctx, sf, o, &bytes.Buffer{}, &errOut)
			assert.NotEqual(t, exitOK, code)
			assert.Contains(t, errOut.String(), "deadline exceeded", errOut.String())
			assert.Contains(t, errOut.String(), "members", "the error does not name the table\n%s", errOut.String())
			assert.Contains(t, errOut.String(), " in "+target(a.d.dsn), "the error does not name the database\n%s", errOut.String())
		})
	}
}

// account has a text key that its encrypted field is bound to.
type account struct {
	Code  string `pii:"-"`
	Email string `pii:"encrypt,aad=Code"`
	Phone string `pii:"deterministic"`
}

// The batched UPDATE on PostgreSQL casts its parameters to the columns'
// types: a varchar key and varchar and text columns, with NULLs, are
// rewrapped, and a row the application changes meanwhile is left to it.
func TestRewrapBatchedColumnTypes(t *testing.T) {
	const n = 150
	d := postgresRewrapDB(t)
	app := d.openKey(t, masterKey(t))
	p, err := pii.New(app)
	require.NoError(t, err)
	_, err = d.db.Exec(`CREATE TABLE accounts (code VARCHAR(32) PRIMARY KEY, email VARCHAR(400), phone TEXT)`)
	require.NoError(t, err)
	for i := range n {
		a := account{Code: fmt.Sprintf("acct-%04d", i), Email: fmt.Sprintf("a%d@example.com", i), Phone: fmt.Sprint(i)}
		require.NoError(t, p.Protect(ctx, &a))
		var phone any = a.Phone
		if i%7 == 0 {
			phone = nil
		}
		_, err := d.db.Exec(`INSERT INTO accounts VALUES ($1, $2, $3)`, a.Code, a.Email, phone)
		require.NoError(t, err)
	}
	for _, kind := range []string{"aead", "daead"} {
		code, _, errS := cli(t, "keys", "rotate", "-keyset-db", d.dsn, "-kind", kind, "default")
		require.Equal(t, exitOK, code, errS)
	}
	d.clock.Advance(appTTL)
	args := []string{"rewrap", "-wait=false", "-keyset-db", d.dsn, "-db", d.dsn, "-table", "accounts", "-key-column", "code", "-batch", "64",
		"-column", "email=account.Email:aad", "-column", "phone=account.Phone:deterministic"}
	sf, o, _ := parseRewrap(args[1:], &bytes.Buffer{})
	require.NotNil(t, sf)
	live := account{Code: "acct-0003", Email: "live@example.com", Phone: "3"}
	require.NoError(t, p.Protect(ctx, &live))
	o.read = func(l lease) {
		if l.lo == "" { // the first range
			_, err := d.db.Exec(`UPDATE accounts SET email = $1 WHERE code = $2`, live.Email, live.Code)
			require.NoError(t, err)
		}
	}
	var out, errOut bytes.Buffer
	code := finishRewrap(ctx, sf, o, &out, &errOut)
	require.Equal(t, exitOK, code, "%s\n%s", out.String(), errOut.String())
	nulls := (n + 6) / 7
	// Every email and every non-NULL phone, but the email the application
	// wrote meanwhile (under the primary already).
	assert.Contains(t, out.String(), fmt.Sprintf("done: %d rows, %d values rewrapped, 0 skipped", n, 2*n-nulls-1), out.String())
	var email string
	require.NoError(t, d.db.QueryRow(`SELECT email FROM accounts WHERE code = $1`, live.Code).Scan(&email))
	assert.Equal(t, live.Email, email, "the job overwrote the application's write")
	code, check, _ := cli(t, append(args[:1:1], append([]string{"-check", "-verify"}, args[1:]...)...)...)
	assert.Equal(t, exitOK, code, "check -verify after the rewrap\n%s", check)
}
