package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/tokenize"
)

// member has a column of each action rewrap handles.
type member struct {
	ID       int64  `pii:"-"`
	Email    string `pii:"encrypt,aad=ID,migrate"`
	EmailIdx string `pii:"index=Email,normalize=email"`
	NatID    string `pii:"tokenize=natid,format=ff1,aad=ID"`
	Card     string `pii:"tokenize=cards"`
}

// memberColumns are the -column flags of the members table.
var memberColumns = []string{
	"-column", "email=member.Email:aad:migrate",
	"-column", "email_idx=member.EmailIdx:index=email:normalize=email",
	"-column", "natid=member.NatID:ff1=natid:aad",
	"-column", "card=member.Card:vault=cards",
}

// bothDBs are the databases the rewrap tests run on.
var bothDBs = []struct {
	name string
	open func(t *testing.T) rewrapDB
}{{"sqlite", sqliteRewrapDB}, {"postgres", postgresRewrapDB}}

// memberApp is the application side of the members table: its Protector
// and key store.
type memberApp struct {
	p     *pii.Protector
	store *keys.SQLStore
	d     rewrapDB
	raw   []byte
}

// newMembers makes the members table with n rows; the last legacy rows
// hold a plaintext email and no index, as before the field was protected.
func newMembers(t *testing.T, d rewrapDB, n, legacy int) memberApp {
	t.Helper()
	raw := masterKey(t)
	store := d.openKey(t, raw)
	vault, err := tokenize.New(store, tokenize.NewMemoryStore(), "cards", tokenize.ModeRandom)
	require.NoError(t, err)
	fpe, err := tokenize.NewFPE(store, "natid", tokenize.Digits)
	require.NoError(t, err)
	p, err := pii.New(store, pii.WithVault(vault), pii.WithFPE(fpe))
	require.NoError(t, err)
	_, err = d.db.Exec(`CREATE TABLE members (id BIGINT PRIMARY KEY, email TEXT, email_idx TEXT, natid TEXT, card TEXT)`)
	require.NoError(t, err)
	for i := int64(1); i <= int64(n); i++ {
		m := memberOf(i)
		require.NoError(t, p.Protect(ctx, &m))
		if i > int64(n-legacy) {
			m.Email, m.EmailIdx = memberOf(i).Email, ""
		}
		idx := any(m.EmailIdx)
		if m.EmailIdx == "" {
			idx = nil
		}
		_, err := d.db.Exec(`INSERT INTO members (id, email, email_idx, natid, card) VALUES (`+d.ph(1)+`, `+d.ph(2)+`, `+d.ph(3)+`, `+d.ph(4)+`, `+d.ph(5)+`)`, m.ID, m.Email, idx, m.NatID, m.Card)
		require.NoError(t, err)
	}
	return memberApp{p: p, store: store, d: d, raw: raw}
}

func memberOf(i int64) member {
	return member{ID: i, Email: fmt.Sprintf(" Member%d@Example.com", i), NatID: fmt.Sprintf("%09d", 100000000+i), Card: "4111111111111111"}
}

// rotateMembers rotates every keyset of the members table but the vault's.
func rotateMembers(t *testing.T, a memberApp) {
	t.Helper()
	for _, k := range [][2]string{{"aead", "default"}, {"prf", "default"}, {"prf", "tokenize-natid"}} {
		code, _, errOut := cli(t, "keys", "rotate", "-keyset-db", a.d.dsn, "-kind", k[0], k[1])
		require.Equal(t, exitOK, code, "rotate %v: %s", k, errOut)
	}
	a.d.clock.Advance(appTTL)
}

func memberArgs(a memberApp, extra ...string) []string {
	args := append([]string{"rewrap", "-cache-ttl", "1ms", "-keyset-db", a.d.dsn, "-db", a.d.dsn, "-table", "members", "-key-column", "id", "-batch", "64"}, extra...)
	return append(args, memberColumns...)
}

// Rewrap moves every kind of stored value: ciphertexts, legacy plaintext
// (migrate), blind indexes (recomputed from the decrypted or plaintext
// source) and FF1 tokens; it leaves vault tokens and says where they are
// rewrapped. -check names keyset, kind and key, marks the primary, and
// fails while any value is elsewhere; -verify finds altered and moved
// values and names their rows only.
func TestRewrapEveryAction(t *testing.T) {
	for _, tc := range bothDBs {
		t.Run(tc.name, func(t *testing.T) {
			const n, legacy = 300, 10
			a := newMembers(t, tc.open(t), n, legacy)
			rotateMembers(t, a)

			code, out, errOut := cli(t, memberArgs(a, "-check")...)
			assert.Equal(t, exitRewrapSkips, code, "check before the rewrap = %d, want %d\n%s%s", code, exitRewrapSkips, out, errOut)
			assert.NotContains(t, out, "(primary)", "check before the rewrap: every value is under an old key\n%s", out)
			assert.Contains(t, out, fmt.Sprintf("email: %d values not protected", legacy), "check before the rewrap\n%s", out)
			assert.Contains(t, out, fmt.Sprintf("card: %d vault tokens", n), "check before the rewrap\n%s", out)

			code, out, errOut = cli(t, memberArgs(a)...)
			require.Equal(t, exitOK, code, "rewrap = %d\n%s\n%s", code, out, errOut)
			assert.Contains(t, errOut, "tillid vault rewrap cards", "rewrap does not say where vault tokens are rewrapped")
			// email: n values; email_idx: n (legacy rows get theirs); natid: n.
			assert.Contains(t, out, fmt.Sprintf("%d values rewrapped", 3*n), "rewrap\n%s", out)

			code, out, errOut = cli(t, memberArgs(a, "-check", "-verify")...)
			require.Equal(t, exitOK, code, "check -verify after the rewrap = %d\n%s%s", code, out, errOut)
			for _, id := range []keys.KeysetID{{Name: "default", Kind: keys.KindAEAD}, {Name: "default", Kind: keys.KindPRF}, {Name: "tokenize-natid", Kind: keys.KindPRF}} {
				ks, err := a.store.Keyset(ctx, id.Name, id.Kind)
				require.NoError(t, err)
				assert.Contains(t, out, fmt.Sprintf("%s/%d: %d values (primary)", id, ks.PrimaryKeyID(), n), "check -verify\n%s", out)
			}
			assert.Contains(t, out, "verify: 0 values failed", "check -verify\n%s", out)

			// Every row reveals to its value, and its index is the one the
			// application computes.
			bi, err := a.p.BlindIndexer(member{}, "EmailIdx")
			require.NoError(t, err)
			for i := int64(1); i <= n; i++ {
				m := a.readMember(t, i)
				idx := m.EmailIdx
				require.NoError(t, a.p.Reveal(ctx, &m), "row %d", i)
				want := memberOf(i)
				assert.Equal(t, []string{want.Email, want.NatID}, []string{m.Email, m.NatID}, "row %d", i)
				got, err := bi.BlindIndex(ctx, nil, want.Email)
				require.NoError(t, err)
				assert.Equal(t, string(got), idx, "row %d: the index is not the application's", i)
			}

			// Tampering: a flipped character, a ciphertext moved to another
			// row, an index copied from another row.
			e5, e6 := a.column(t, "email", 5), a.column(t, "email", 6)
			mid := len(e5) / 2
			flip := "A"
			if e5[mid] == 'A' {
				flip = "B"
			}
			a.set(t, "email", 5, e5[:mid]+flip+e5[mid+1:])
			a.set(t, "email", 7, e6)
			a.set(t, "email_idx", 8, a.column(t, "email_idx", 9))
			// -check alone reads headers only, and says so: the altered and
			// moved values count under their headers' (primary) key.
			code, out, _ = cli(t, memberArgs(a, "-check")...)
			assert.Equal(t, exitOK, code, "check (headers only) after tampering = %d\n%s", code, out)
			assert.Contains(t, out, fmt.Sprintf("members: %d rows; key IDs read from the values' headers only: nothing was decrypted", n), "check without -verify does not say it read headers only\n%s", out)
			assert.Contains(t, out, "(-verify decrypts)", "check without -verify\n%s", out)
			assert.NotContains(t, out, "FAILED", "check without -verify\n%s", out)
			code, out, _ = cli(t, memberArgs(a, "-check", "-verify")...)
			assert.Contains(t, out, fmt.Sprintf("members: %d rows; every value decrypted (-verify)", n), "check -verify\n%s", out)
			assert.Equal(t, exitRewrapSkips, code, "check -verify after tampering = %d\n%s", code, out)
			for _, want := range []string{"id=5 column email:", "id=7 column email:", "id=8 column email_idx:", "verify: 3 values failed"} {
				assert.Contains(t, out, want, "check -verify after tampering\n%s", out)
			}
			for _, i := range []int64{5, 6, 7, 8, 9} {
				assert.NotContains(t, out, strings.TrimSpace(memberOf(i).Email), "check -verify shows plaintext")
			}
		})
	}
}

func (a memberApp) readMember(t *testing.T, id int64) member {
	t.Helper()
	m := member{ID: id}
	require.NoError(t, a.d.db.QueryRow(`SELECT email, email_idx, natid, card FROM members WHERE id = `+a.d.ph(1), id).Scan(&m.Email, &m.EmailIdx, &m.NatID, &m.Card))
	return m
}

func (a memberApp) column(t *testing.T, col string, id int64) string {
	t.Helper()
	var v string
	require.NoError(t, a.d.db.QueryRow(`SELECT `+col+` FROM members WHERE id = `+a.d.ph(1), id).Scan(&v))
	return v
}

func (a memberApp) set(t *testing.T, col string, id int64, v string) {
	t.Helper()
	_, err := a.d.db.Exec(`UPDATE members SET `+col+` = `+a.d.ph(1)+` WHERE id = `+a.d.ph(2), v, id)
	require.NoError(t, err)
}

// Columns rewrap cannot do are refused before any row is read, with the
// reason.
func TestRewrapRefusesUpFront(t *testing.T) {
	tests := []struct {
		name   string
		column string
		want   string
	}{
		{"pseudonym", "alias=member.Alias:pseudonym", "cannot be recomputed"},
		{"hash alias", "alias=member.Alias:hash", "cannot be recomputed"},
		{"index without source", "idx=member.Idx:index=", "names the column"},
		{"index of itself", "idx=member.Idx:index=idx", "names the column"},
		{"normalize without index", "email=member.Email:normalize=email", "option of index= columns"},
		{"alphabet without ff1", "email=member.Email:alphabet=digits", "option of ff1= columns"},
		{"token with key", "natid=member.NatID:ff1=natid:key=x", "drop :key="},
		{"index with aad", "idx=member.Idx:index=email:aad", "takes no :aad"},
	}
	for _, tt := range tests {
		code, _, errOut := cli(t, "rewrap", "-keyset-file", "nope.json", "-db", "sqlite:nope.db", "-table", "t", "-key-column", "id", "-column", tt.column)
		assert.Equal(t, exitUsage, code, "%s: exit %d, want %d\n%s", tt.name, code, exitUsage, errOut)
		assert.Contains(t, errOut, tt.want, "%s: %s", tt.name, errOut)
	}
}

// finalRowsRE reads this run's rows from a job's last line.
var finalRowsRE = regexp.MustCompile(`(?:this run|done): (\d+) rows`)

// workerLineRE reads, from the final line of a worker, the rows done
// before it started and by other workers meanwhile.
var workerLineRE = regexp.MustCompile(`this run: \d+ rows[^\n]*?(?:; (\d+) rows done before this run started)?(?:; (\d+) rows done by other workers meanwhile)?\n`)

func runRows(t *testing.T, out string) int {
	t.Helper()
	m := finalRowsRE.FindAllStringSubmatch(out, -1)
	require.NotEmpty(t, m, "no final line in %q", out)
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

// Several workers share one job: together they do every row once, and the
// table ends under the primaries.
func TestRewrapWorkersShareAJob(t *testing.T) {
	for _, tc := range bothDBs {
		t.Run(tc.name, func(t *testing.T) {
			const n, workers = 600, 3
			a := newMembers(t, tc.open(t), n, 0)
			rotateMembers(t, a)
			outs := make([]string, workers)
			codes := make([]int, workers)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var out, errOut bytes.Buffer
					codes[w] = run(ctx, memberArgs(a, "-wait=false"), &out, &errOut)
					outs[w] = out.String() + errOut.String()
				}()
			}
			wg.Wait()
			total := 0
			for w := range workers {
				require.Equal(t, exitOK, codes[w], "worker %d = %d\n%s", w, codes[w], outs[w])
				own := runRows(t, outs[w])
				total += own
				// Each worker's final line gives the job's rows, and its own,
				// those done before it started and those other workers did
				// meanwhile, which add up to the job's; none says resumed.
				assert.Contains(t, outs[w], fmt.Sprintf("rewrap members: done: %d rows", n), "worker %d's final line\n%s", w, outs[w])
				assert.NotContains(t, outs[w], "resumed", "worker %d of a fresh job says it resumed\n%s", w, outs[w])
				if own < n && !strings.Contains(outs[w], "complete before this run started") {
					m := workerLineRE.FindStringSubmatch(outs[w])
					require.NotNil(t, m, "worker %d's final line\n%s", w, outs[w])
					before, _ := strconv.Atoi(m[1])
					others, _ := strconv.Atoi(m[2])
					assert.Equal(t, n, own+before+others, "worker %d's rows, those before it and the other workers' add up to the job's\n%s", w, outs[w])
				}
			}
			assert.Equal(t, n, total, "the workers did %d rows of %d between them:\n%s", total, n, strings.Join(outs, "\n---\n"))
			code, out, _ := cli(t, memberArgs(a, "-check")...)
			assert.Equal(t, exitOK, code, "check after the shared job\n%s", out)
		})
	}
}

var errCrash = errors.New("simulated crash")

// A worker that dies between claiming a range and committing it leaves
// its lease; once the lease ends, the next worker takes the range over.
// A worker whose range was taken over does not commit it.
func TestRewrapTakesOverExpiredLeases(t *testing.T) {
	a := newMembers(t, postgresRewrapDB(t), 300, 0)
	rotateMembers(t, a)
	later := func() time.Time { return time.Now().Add(2 * time.Minute) }

	sf, o, _ := parseRewrap(memberArgs(a, "-wait=false", "-lease", "1m")[1:], &bytes.Buffer{})
	require.NotNil(t, sf)
	o.claimed = func(lease) error { return errCrash }
	var errOut bytes.Buffer
	_, err := rewrap(ctx, sf, o, &bytes.Buffer{}, &errOut)
	require.ErrorIs(t, err, errCrash)

	// Before the lease ends, a second worker does the other ranges and then
	// waits for the dead worker's: it is cancelled while waiting.
	c, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	sf, o, _ = parseRewrap(memberArgs(a, "-wait=false", "-lease", "1m")[1:], &bytes.Buffer{})
	var out2 bytes.Buffer
	_, err = rewrap(c, sf, o, &out2, &errOut)
	require.Error(t, err, "a worker finished while another held a live lease")
	assert.Contains(t, errOut.String(), "waiting for 1 ranges that other workers hold", "a waiting worker does not say why")

	// With its clock past the lease, a worker takes the range over; a
	// worker whose own range is taken over meanwhile does not commit it.
	sf, o, _ = parseRewrap(memberArgs(a, "-wait=false", "-lease", "1m")[1:], &bytes.Buffer{})
	var errA, errB bytes.Buffer
	o.now = later
	first := true
	o.claimed = func(l lease) error {
		if !first {
			return nil
		}
		first = false
		sfB, oB, _ := parseRewrap(memberArgs(a, "-wait=false", "-lease", "1m")[1:], &bytes.Buffer{})
		oB.now = func() time.Time { return time.Now().Add(4 * time.Minute) }
		_, err := rewrap(ctx, sfB, oB, &bytes.Buffer{}, &errB)
		assert.NoError(t, err, "the worker that takes over")
		return nil
	}
	_, err = rewrap(ctx, sf, o, &bytes.Buffer{}, &errA)
	require.NoError(t, err, "%s", errA.String())
	assert.Contains(t, errA.String()+errB.String(), "taking over", "no worker took the dead worker's range over")
	assert.Contains(t, errA.String(), "another worker took the range over", "a worker whose lease was taken over committed its range")
	code, out, _ := cli(t, memberArgs(a, "-check", "-verify")...)
	assert.Equal(t, exitOK, code, "check after the takeover\n%s", out)
}

// A value the application writes between the job's read and its write is
// not clobbered, and the row's other values are still rewrapped.
func TestRewrapNeverClobbersALiveWrite(t *testing.T) {
	for _, tc := range bothDBs {
		t.Run(tc.name, func(t *testing.T) {
			a := newMembers(t, tc.open(t), 20, 0)
			rotateMembers(t, a)
			live := memberOf(3)
			live.Email = "live@example.com"
			sf, o, _ := parseRewrap(memberArgs(a, "-wait=false")[1:], &bytes.Buffer{})
			require.NotNil(t, sf)
			o.read = func(lease) {
				m := live
				require.NoError(t, a.p.Protect(ctx, &m))
				a.set(t, "email", 3, m.Email)
				a.set(t, "email_idx", 3, m.EmailIdx)
			}
			var errOut bytes.Buffer
			_, err := rewrap(ctx, sf, o, &bytes.Buffer{}, &errOut)
			require.NoError(t, err, errOut.String())
			m := a.readMember(t, 3)
			stored := m
			require.NoError(t, a.p.Reveal(ctx, &m))
			assert.Equal(t, live.Email, m.Email, "the job overwrote the application's email")
			assert.Equal(t, live.NatID, m.NatID)
			ff1, err := a.store.Keyset(ctx, "tokenize-natid", keys.KindPRF)
			require.NoError(t, err)
			_, id, err := pii.KeyID(stored.NatID)
			require.NoError(t, err)
			assert.Equal(t, ff1.PrimaryKeyID(), id, "the row's other value was not rewrapped after the application's write")
			code, out, _ := cli(t, memberArgs(a, "-check", "-verify")...)
			assert.Equal(t, exitOK, code, "check after a live write\n%s", out)
		})
	}
}

// TestHelperRewrapWorker is not a test: TestRewrapKilledWorker runs the
// test binary as a child process through it, as one rewrap worker that
// says CLAIMED on standard output after its first claim and then hangs
// until it is killed.
func TestHelperRewrapWorker(t *testing.T) {
	args := os.Getenv("TILLID_TEST_WORKER_ARGS")
	if args == "" {
		t.Skip("run by TestRewrapKilledWorker")
	}
	sf, o, code := parseRewrap(strings.Split(args, "\x1f"), os.Stderr)
	require.NotNil(t, sf, "exit %d", code)
	o.claimed = func(lease) error {
		fmt.Println("CLAIMED")
		select {}
	}
	rewrap(ctx, sf, o, os.Stdout, os.Stderr)
}

// A worker process killed between claiming a range and committing it: its
// range stays leased until the lease ends, and then the next worker does
// it, so the job still finishes with every row rewrapped.
func TestRewrapKilledWorker(t *testing.T) {
	a := newMembers(t, postgresRewrapDB(t), 200, 0)
	rotateMembers(t, a)
	args := memberArgs(a, "-wait=false", "-lease", "1m")[1:]
	child := exec.Command(os.Args[0], "-test.run=^TestHelperRewrapWorker$", "-test.count=1")
	child.Env = append(os.Environ(), "TILLID_TEST_WORKER_ARGS="+strings.Join(args, "\x1f"))
	stdout, err := child.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, child.Start())
	claimed := make(chan bool, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			if s.Text() == "CLAIMED" {
				claimed <- true
				return
			}
		}
		claimed <- false
	}()
	select {
	case ok := <-claimed:
		require.True(t, ok, "the worker ended before it claimed a range")
	case <-time.After(time.Minute):
		child.Process.Kill()
		t.Fatal("the worker claimed no range within a minute")
	}
	require.NoError(t, child.Process.Kill())
	child.Wait()

	var held int
	require.NoError(t, a.d.db.QueryRow(`SELECT count(*) FROM tillid_rewrap_leases`).Scan(&held))
	require.Equal(t, 1, held, "the killed worker's lease is not in the table")

	sf, o, _ := parseRewrap(args, &bytes.Buffer{})
	o.now = func() time.Time { return time.Now().Add(2 * time.Minute) } // past the lease
	var out, errOut bytes.Buffer
	_, err = rewrap(ctx, sf, o, &out, &errOut)
	require.NoError(t, err, errOut.String())
	assert.Contains(t, errOut.String(), "taking over", "the killed worker's range was not taken over")
	assert.Equal(t, 200, runRows(t, out.String()), "the second worker did not do every row\n%s", out.String())
	code, check, _ := cli(t, memberArgs(a, "-check", "-verify")...)
	assert.Equal(t, exitOK, code, "check after the takeover\n%s", check)
}
