package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/stores/postgres"
	"github.com/tillid/tillid/tokenize"
)

const vaultUsage = `Usage:
  tillid vault rewrap [flags] -db DSN DOMAIN [DOMAIN ...]

Vault rewrap re-encrypts the token vault's stored values of each DOMAIN
under the current primary of its AEAD keyset, and recomputes the
consistent-mode index of entries without a data subject under the primary
of its PRF keyset (both named tokenize-DOMAIN unless -key-name says
otherwise), so that the old keys can then be disabled and destroyed. Tokens
do not change. It works in batches in token order, saving a checkpoint in
the table tillid_rewrap_jobs after each: after a crash or Ctrl-C, run the
same command again and it resumes (-restart starts over). Entries are
replaced only if they have not changed since they were read, so the
application may keep tokenizing and deleting meanwhile.

Entries of a data subject keep their PRF entries (the subject index, and
the consistent index) under the PRF key they were made with: the vault holds
a PRF of the subject, not the subject, so they cannot be recomputed. Keep
that PRF key enabled while such tokens live.

A -db without the vault table tillid_tokens is refused, naming it, and
nothing is created there; a vault that holds no token of a DOMAIN is
rewrapped with a warning (check -db before disabling any key).

When the primary is younger than the application's cache TTL (-cache-ttl),
instances may still be writing under the old key: the command waits until
they have reloaded their keysets and makes a last pass (-wait=false only
says how long to wait).

Example:
  tillid keys rotate -keyset-db postgres://app@db/app -kek-uri aws-kms://... -kind aead tokenize-card
  tillid vault rewrap -keyset-db postgres://app@db/app -kek-uri aws-kms://... -db postgres://app@db/app card

Flags:
`

type vaultOpts struct {
	db      string
	keyName string
	batch   int
	restart bool
	cache   cacheFlags
	now     func() time.Time
}

func runVault(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "rewrap" {
		fmt.Fprint(stderr, vaultUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "help") {
			return exitOK
		}
		return exitUsage
	}
	var sf storeFlags
	o := vaultOpts{now: time.Now}
	fs := flag.NewFlagSet("tillid vault rewrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), vaultUsage); fs.PrintDefaults() }
	sf.register(fs)
	o.cache.register(fs)
	fs.StringVar(&o.db, "db", "", "the vault database: `DSN` sqlite:PATH or postgres://...")
	fs.StringVar(&o.keyName, "key-name", "", "the key `name` of the domain's keysets (tokenize.WithKeyName), for one DOMAIN; default tokenize-DOMAIN")
	fs.IntVar(&o.batch, "batch", 1000, "entries per batch (1 to 10000)")
	fs.BoolVar(&o.restart, "restart", false, "start from the first token, forgetting the checkpoint")
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	failed, err := vaultRewrap(ctx, &sf, &o, fs.Args(), stdout, stderr)
	if err == nil && failed.job > 0 {
		fmt.Fprintln(stderr, skipsMessage(failed, "vault entries did not decrypt (tampered with, or under a disabled key) and were left as they are"))
		return exitRewrapSkips
	}
	return exitCode(stderr, err)
}

// vaultRewrap runs the job for each domain and returns how many entries
// failed to decrypt, in the jobs and in this run, each counted once: when
// the cache wait makes a last pass over a domain, that pass's count, since
// it meets every entry again.
func vaultRewrap(ctx context.Context, sf *storeFlags, o *vaultOpts, domains []string, stdout, stderr io.Writer) (skips, error) {
	switch {
	case o.db == "" || len(domains) == 0:
		return skips{}, usagef("vault rewrap needs -db and at least one DOMAIN")
	case o.keyName != "" && len(domains) > 1:
		return skips{}, usagef("-key-name names the keysets of one DOMAIN; give one")
	case o.batch < 1 || o.batch > tokenize.MaxBatchSize:
		return skips{}, usagef("-batch must be 1 to %d", tokenize.MaxBatchSize)
	}
	setup, cancel := context.WithTimeout(ctx, sf.timeout)
	defer cancel()
	store, closeStore, err := sf.open(setup, stderr, false)
	if err != nil {
		return skips{}, err
	}
	defer closeStore()
	if err := mustExist("", o.db, ""); err != nil {
		return skips{}, err
	}
	db, err := openDB(setup, o.db)
	if err != nil {
		return skips{}, err
	}
	defer db.close()
	vault, closeVault, err := openVault(setup, db, o.db)
	if err != nil {
		return skips{}, err
	}
	defer closeVault()
	jobs := checkpoints{db: db, dsn: o.db}
	if err := jobs.create(setup); err != nil {
		return skips{}, err
	}
	var failed skips
	for _, domain := range domains {
		keyName := o.keyName
		if keyName == "" {
			keyName = "tokenize-" + domain
		}
		tk, err := tokenize.New(store, vault, domain, tokenize.ModeRandom, tokenize.WithKeyName(keyName))
		if err != nil {
			return failed, usagef("DOMAIN %q: %v", domain, err)
		}
		ids := []keys.KeysetID{{Name: keyName, Kind: keys.KindAEAD}, {Name: keyName, Kind: keys.KindPRF}}
		if err := keys.Check(setup, store, ids...); err != nil {
			return failed, err
		}
		j := &vaultJob{sf: sf, o: o, db: db, jobs: jobs, tk: tk, domain: domain, stdout: stdout, stderr: stderr}
		if j.job, err = vaultJobName(setup, store, domain, ids); err != nil {
			return failed, err
		}
		n, err := j.run(ctx, o.restart)
		if err != nil {
			return skips{job: failed.job + n.job, run: failed.run + n.run}, err
		}
		again, err := o.cache.settle(ctx, sf, store, ids, stderr, o.now)
		if err != nil {
			return skips{job: failed.job + n.job, run: failed.run + n.run}, err
		}
		if again {
			if n, err = j.run(ctx, true); err != nil {
				return skips{job: failed.job + n.job, run: failed.run + n.run}, err
			}
		}
		failed.job += n.job
		failed.run += n.run
	}
	return failed, nil
}

// openVault opens the token vault in db: tokenize's SQLite store, or the
// pgx store of package postgres over a pool of its own. It creates
// nothing: a database without the vault table is an error naming it, so
// that a DSN pointing at another database (the ledger, the subject keys) is
// refused before anything is written there.
func openVault(ctx context.Context, db *database, dsn string) (tokenize.Store, func(), error) {
	if db.dialect == dialectSQLite {
		s, err := tokenize.OpenSQLite(ctx, db.sql)
		if err != nil {
			return nil, nil, vaultOpenError(dsn, err)
		}
		return s, func() {}, nil
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to the token vault in %s: malformed DSN", target(dsn))
	}
	s, err := postgres.OpenTokenStore(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, nil, vaultOpenError(dsn, err)
	}
	return s, pool.Close, nil
}

// vaultOpenError says which database has no vault, or why it did not open.
func vaultOpenError(dsn string, err error) error {
	if errors.Is(err, tokenize.ErrVaultNotFound) {
		return fmt.Errorf("%s holds no token vault (no table tillid_tokens): check the DSN; it must name the database the application tokenizes into", target(dsn))
	}
	return fmt.Errorf("opening the token vault in %s: %w", target(dsn), err)
}

// vaultJobName names the job of a domain by its keysets' primary key IDs,
// so that after another rotation a run starts from the first token.
func vaultJobName(ctx context.Context, store keys.Provider, domain string, ids []keys.KeysetID) (string, error) {
	h := sha256.New()
	for _, id := range ids {
		ks, err := store.Keyset(ctx, id.Name, id.Kind)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s:%d\x00", id, ks.PrimaryKeyID())
	}
	return fmt.Sprintf("vault:%s@%x", domain, h.Sum(nil)[:6]), nil
}

// vaultJob is the rewrap of one domain.
type vaultJob struct {
	sf             *storeFlags
	o              *vaultOpts
	db             *database
	jobs           checkpoints
	tk             *tokenize.Tokenizer
	domain, job    string
	stdout, stderr io.Writer
}

// run makes one pass over the domain, from the checkpoint unless restart,
// and returns how many entries failed to decrypt: in the job (this run's
// and, when it resumed, the runs' before) and in this run.
func (j *vaultJob) run(ctx context.Context, restart bool) (skips, error) {
	what := "vault rewrap of domain " + j.domain
	c, cancel := context.WithTimeout(ctx, j.sf.timeout)
	defer cancel()
	var total int64
	if err := j.db.sql.QueryRowContext(c, `SELECT count(*) FROM tillid_tokens WHERE domain = `+j.jobs.ph(1), j.domain).Scan(&total); err != nil {
		return skips{}, interrupted(ctx, fmt.Errorf("counting the tokens of domain %s in %s: %w", j.domain, target(j.o.db), err), what, 0, "")
	}
	if total == 0 {
		// The incident this guards against: a -db naming another vault (or
		// a copy) reports "done: 0 rows", and disabling the old key then
		// breaks every real token.
		fmt.Fprintf(j.stderr, "vault rewrap %s: WARNING: the vault in %s holds no token of domain %s: if the application tokenizes %s, -db names another database; check it before disabling any key\n", j.domain, target(j.o.db), j.domain, j.domain)
	}
	var cp checkpoint
	if !restart {
		saved, found, err := j.jobs.load(c, j.job)
		switch {
		case err != nil:
			return skips{}, interrupted(ctx, err, what, 0, "")
		case found:
			cp = saved
			cp.last = strings.TrimPrefix(saved.last, "s:")
			fmt.Fprintf(j.stderr, "rewrap: resuming job %q (%d entries done before, %d failed)\n", j.job, cp.done, cp.skipped)
		}
	}
	where := fmt.Sprintf("job %q in tillid_rewrap_jobs", j.job)
	start, before := time.Now(), cp
	var failed, kept, changed int64
	prog := newProgress(j.stderr, "vault "+j.domain)
	defer prog.finish()
	for {
		if err := ctx.Err(); err != nil {
			return skips{job: cp.skipped, run: failed}, interrupted(ctx, err, what, cp.done, where)
		}
		c, cancel := context.WithTimeout(ctx, j.sf.timeout)
		p, err := j.tk.Rewrap(c, cp.last, j.o.batch)
		if err != nil {
			err = fmt.Errorf("rewrapping the token vault (tillid_tokens) of domain %s in %s: %w", j.domain, target(j.o.db), err)
		}
		next := checkpoint{last: p.Cursor, done: cp.done + int64(p.Scanned), rewrapped: cp.rewrapped + int64(p.Rewrapped), skipped: cp.skipped + int64(p.Failed)}
		if err == nil {
			saved := next
			saved.last = "s:" + next.last
			err = j.jobs.save(c, j.db.sql, j.job, saved)
		}
		cancel()
		if err != nil {
			return skips{job: cp.skipped, run: failed}, interrupted(ctx, err, what, cp.done, where)
		}
		cp = next
		failed += int64(p.Failed)
		kept += int64(p.Kept)
		changed += int64(p.Changed)
		rate := float64(cp.done-before.done) / max(time.Since(start).Seconds(), 1e-9)
		prog.update(cp.done, total, max(total-cp.done, 0), cp.rewrapped, cp.skipped, rate)
		if p.Done {
			break
		}
	}
	prog.finish()
	if err := j.jobs.clear(ctx, j.job); err != nil {
		return skips{job: cp.skipped, run: failed}, err
	}
	fmt.Fprintln(j.stdout, jobCount{rows: cp.done, changed: cp.rewrapped, skipped: cp.skipped, before: before.done,
		runRows: cp.done - before.done, runChanged: cp.rewrapped - before.rewrapped, runSkipped: failed, elapsed: time.Since(start)}.line("vault rewrap "+j.domain))
	if changed > 0 {
		fmt.Fprintf(j.stdout, "vault rewrap %s: %d entries changed by the application meanwhile were left to it\n", j.domain, changed)
	}
	if kept > 0 {
		fmt.Fprintf(j.stdout, "vault rewrap %s: this run met %d entries of data subjects whose PRF entries stay under an older PRF key: keep that key enabled while they live (a run with -restart counts them all)\n", j.domain, kept)
	}
	return skips{job: cp.skipped, run: failed}, nil
}
