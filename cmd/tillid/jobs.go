package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/tillid/tillid/keys"
)

// fileCheckInterval is how often a keyset file store looks at its file for
// another process's changes (keys.OpenFile): an instance on a keyset file
// protects under the old primary for at most this long after a rotation.
const fileCheckInterval = 2 * time.Second

// cacheFlags say how long application instances may keep protecting under
// an old primary after a rotation, and whether a job waits that out.
type cacheFlags struct {
	ttl  time.Duration
	wait bool
	// after is time.After unless a test sets it.
	after func(time.Duration) <-chan time.Time
}

func (f *cacheFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&f.ttl, "cache-ttl", 0, "how long the application's instances cache keysets (keys.WithCacheTTL); default 5m for -keyset-db, 2s for -keyset-file")
	fs.BoolVar(&f.wait, "wait", true, "when the primary is younger than the cache TTL, wait until instances have seen it and rewrap once more; -wait=false only says how long to wait")
}

// window returns the time after a rotation during which instances may
// still write under the old primary.
func (f *cacheFlags) window(sf *storeFlags) time.Duration {
	switch {
	case f.ttl > 0:
		return f.ttl
	case sf.keysetFile != "":
		return fileCheckInterval
	default:
		return keys.DefaultCacheTTL
	}
}

// settle reports whether the primaries of ids may still be unknown to
// instances that cache keysets: then values written meanwhile may be under
// an old key, and a finished job is not complete. With f.wait it waits
// until every instance has seen them (or ctx ends) and returns true, so
// that the caller runs a last pass; otherwise it says how long to wait and
// returns false. It prints what it does to w.
func (f *cacheFlags) settle(ctx context.Context, sf *storeFlags, store keys.Provider, ids []keys.KeysetID, w io.Writer, now func() time.Time) (bool, error) {
	window := f.window(sf)
	var youngest time.Time
	for _, id := range ids {
		ks, err := store.Keyset(ctx, id.Name, id.Kind)
		if err != nil {
			return false, err
		}
		for _, k := range ks.Keys() {
			if !k.Primary {
				continue
			}
			if k.Created.IsZero() {
				fmt.Fprintf(w, "rewrap: the creation time of %s's primary key %d is not known: if it was rotated less than %v ago, run the job again after that\n", id, k.KeyID, window)
			} else if k.Created.After(youngest) {
				youngest = k.Created
			}
		}
	}
	safe := youngest.Add(window)
	left := safe.Sub(now())
	if youngest.IsZero() || left <= 0 {
		return false, nil
	}
	left = left.Round(time.Second) + time.Second
	if !f.wait {
		fmt.Fprintf(w, "rewrap: NOT COMPLETE: the primary key was made less than the cache TTL (%v) ago; instances that have not reloaded their keysets may still write under the old key until %s. Run the job again in %v, before disabling the old key.\n", window, safe.UTC().Format(time.RFC3339), left)
		return false, nil
	}
	fmt.Fprintf(w, "rewrap: waiting %v, until %s, for instances that cache keysets (cache TTL %v) to write under the new primary; then a last pass rewraps what they wrote meanwhile\n", left, safe.UTC().Format(time.RFC3339), window)
	after := f.after
	if after == nil {
		after = time.After
	}
	select {
	case <-after(left):
		return true, nil
	case <-ctx.Done():
		return false, fmt.Errorf("interrupted while waiting for instances to reload their keysets; the rewrap itself is done: run the same command again after %s for the last pass: %w", safe.UTC().Format(time.RFC3339), ctx.Err())
	}
}

// interrupted explains an error that ends a job because ctx ended (Ctrl-C,
// SIGTERM): what was done and how to resume. Other errors pass unchanged.
func interrupted(ctx context.Context, err error, what string, done int64, checkpoint string) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	return fmt.Errorf("%s interrupted after %d rows; the checkpoint (%s) is saved: run the same command again to resume from it, or add -restart to start over (%w)", what, done, checkpoint, context.Cause(ctx))
}

// jobCount is what the final line of a job reports: the job's totals, over
// every run that resumed it and every worker that shared it, apart from this
// run's own.
type jobCount struct {
	// rows, changed and skipped are the job's rows, values rewrapped and
	// values skipped, as the job's checkpoint holds them at the end.
	rows, changed, skipped int64
	// before is the rows the job had done when this run started: more
	// than 0 when this run resumed the job.
	before int64
	// runRows, runChanged and runSkipped are this run's (this worker's).
	runRows, runChanged, runSkipped int64
	elapsed                         time.Duration
	// complete is set when the job was finished before this run started.
	complete bool
}

// line is the final line of the job: when this run did the whole job, its
// rows, values rewrapped and skipped, time and rate; otherwise the job's
// totals, then this run's, then how many rows were done before this run
// started (it resumed the job, or joined other workers) and by other
// workers meanwhile, which add up to the job's rows, so that no number mixes the
// job's totals with one run's time.
func (c jobCount) line(what string) string {
	rate := float64(c.runRows) / max(c.elapsed.Seconds(), 1e-9)
	elapsed := c.elapsed.Round(time.Millisecond)
	if c.complete {
		return fmt.Sprintf("%s: done: %d rows, %d values rewrapped, %d skipped in the job, which was complete before this run started; this run: 0 rows", what, c.rows, c.changed, c.skipped)
	}
	if c.before == 0 && c.runRows == c.rows && c.runSkipped == c.skipped {
		return fmt.Sprintf("%s: done: %d rows, %d values rewrapped, %d skipped, in %v (%.0f rows/s)", what, c.rows, c.changed, c.skipped, elapsed, rate)
	}
	line := fmt.Sprintf("%s: done: %d rows, %d values rewrapped, %d skipped in the job; this run: %d rows, %d values rewrapped, %d skipped, in %v (%.0f rows/s)",
		what, c.rows, c.changed, c.skipped, c.runRows, c.runChanged, c.runSkipped, elapsed, rate)
	if c.before > 0 {
		line += fmt.Sprintf("; %d rows done before this run started", c.before)
	}
	if others := c.rows - c.before - c.runRows; others > 0 {
		line += fmt.Sprintf("; %d rows done by other workers meanwhile", others)
	}
	return line
}

// skips is how many values a job left: the job's, over every run and
// worker, and this run's, which it listed on standard error.
type skips struct{ job, run int64 }

// skipsMessage is the last line of a run whose job left values, for
// standard error: what, such as "values could not be rewrapped", and where
// they are listed.
func skipsMessage(s skips, what string) string {
	if s.job == s.run {
		return fmt.Sprintf("tillid: %d %s; they are listed above", s.job, what)
	}
	return fmt.Sprintf("tillid: %d %s in the job: %d by this run, listed above, and %d by earlier runs or other workers, listed in their output", s.job, what, s.run, s.job-s.run)
}

// target names a database for error messages: the path of an SQLite DSN,
// or a PostgreSQL URL without its password.
func target(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" || u.Scheme == "sqlite" || u.Scheme == "file" {
		if err != nil {
			return "the database (malformed DSN)"
		}
		return dsn
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// settleRewrap waits, after a table rewrap, for instances still caching
// the old primaries of its columns' keysets (see cacheFlags.settle), and
// then rewraps the table once more from the first row. It returns the
// values skipped: the last pass's when there is one, since it passes over
// every row again and meets every value the first could not rewrap.
func settleRewrap(ctx context.Context, sf *storeFlags, o *rewrapOpts, skipped skips, stdout, stderr io.Writer) (skips, error) {
	c, cancel := context.WithTimeout(ctx, sf.timeout)
	defer cancel()
	store, closeStore, err := sf.open(c, stderr, false)
	if err != nil {
		return skipped, err
	}
	ids := make([]keys.KeysetID, len(o.columns))
	for i, col := range o.columns {
		ids[i] = keys.KeysetID{Name: keyName(col.col), Kind: kindOf(col.col)}
	}
	again, err := o.cache.settle(ctx, sf, store, ids, stderr, time.Now)
	closeStore()
	if err != nil || !again {
		return skipped, err
	}
	o.restart = true
	return rewrap(ctx, sf, o, stdout, stderr)
}

// checkpoints is the table tillid_rewrap_jobs of a job's database: one row
// per unfinished job, with the last key (or token) done and the rows,
// values rewrapped and values skipped so far, written in the transaction
// of the batch it follows.
type checkpoints struct {
	db  *database
	dsn string
}

// ph returns the nth (from 1) placeholder of the database's dialect.
func (c checkpoints) ph(n int) string {
	if c.db.dialect == dialectPostgres {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// create makes the table if it does not exist, and adds the column skipped
// to a table made before it had one.
func (c checkpoints) create(ctx context.Context) error {
	if _, err := c.db.sql.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS tillid_rewrap_jobs (
		job TEXT PRIMARY KEY,
		last_key TEXT NOT NULL,
		done BIGINT NOT NULL,
		rewrapped BIGINT NOT NULL,
		skipped BIGINT NOT NULL DEFAULT 0
	)`); err != nil {
		return fmt.Errorf("creating the checkpoint table tillid_rewrap_jobs in %s: %w", target(c.dsn), err)
	}
	cols, err := tableColumns(ctx, c.db, "tillid_rewrap_jobs")
	if err != nil || cols["skipped"] {
		return err
	}
	if _, err := c.db.sql.ExecContext(ctx, `ALTER TABLE tillid_rewrap_jobs ADD COLUMN skipped BIGINT NOT NULL DEFAULT 0`); err != nil {
		// Another worker may have added it meanwhile.
		if cols, cerr := tableColumns(ctx, c.db, "tillid_rewrap_jobs"); cerr != nil || !cols["skipped"] {
			return fmt.Errorf("adding the column skipped to tillid_rewrap_jobs in %s: %w", target(c.dsn), err)
		}
	}
	return nil
}

// checkpoint is one row of tillid_rewrap_jobs.
type checkpoint struct {
	last                     string
	done, rewrapped, skipped int64
}

// load returns job's checkpoint, and found false when it has none.
func (c checkpoints) load(ctx context.Context, job string) (cp checkpoint, found bool, err error) {
	err = c.db.sql.QueryRowContext(ctx, `SELECT last_key, done, rewrapped, skipped FROM tillid_rewrap_jobs WHERE job = `+c.ph(1), job).Scan(&cp.last, &cp.done, &cp.rewrapped, &cp.skipped)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return checkpoint{}, false, nil
	case err != nil:
		return checkpoint{}, false, fmt.Errorf("reading the checkpoint in %s: %w", target(c.dsn), err)
	}
	return cp, true, nil
}

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// save writes job's checkpoint through ex.
func (c checkpoints) save(ctx context.Context, ex execer, job string, cp checkpoint) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO tillid_rewrap_jobs (job, last_key, done, rewrapped, skipped) VALUES (`+c.ph(1)+`, `+c.ph(2)+`, `+c.ph(3)+`, `+c.ph(4)+`, `+c.ph(5)+`)
		ON CONFLICT (job) DO UPDATE SET last_key = excluded.last_key, done = excluded.done, rewrapped = excluded.rewrapped, skipped = excluded.skipped`,
		job, cp.last, cp.done, cp.rewrapped, cp.skipped)
	if err != nil {
		return fmt.Errorf("writing the checkpoint in %s: %w", target(c.dsn), err)
	}
	return nil
}

// clear forgets a finished job's checkpoint, so that the next run (after
// the next rotation) starts from the beginning.
func (c checkpoints) clear(ctx context.Context, job string) error {
	if _, err := c.db.sql.ExecContext(ctx, `DELETE FROM tillid_rewrap_jobs WHERE job = `+c.ph(1), job); err != nil {
		return fmt.Errorf("clearing the checkpoint in %s: %w", target(c.dsn), err)
	}
	return nil
}
