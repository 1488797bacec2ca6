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

// finalLine is the last line of a job: the totals since the job started
// (over every run that resumed it), apart from this run's own rows, time
// and rate.
func finalLine(what string, totalRows, totalChanged, runRows, runChanged, skipped int64, elapsed time.Duration) string {
	rate := float64(runRows) / max(elapsed.Seconds(), 1e-9)
	if totalRows == runRows {
		return fmt.Sprintf("%s: done: %d rows, %d values rewrapped, %d skipped, in %v (%.0f rows/s)", what, totalRows, totalChanged, skipped, elapsed.Round(time.Millisecond), rate)
	}
	return fmt.Sprintf("%s: done: %d rows, %d values rewrapped in total; this run (resumed): %d rows, %d values rewrapped, %d skipped, in %v (%.0f rows/s)",
		what, totalRows, totalChanged, runRows, runChanged, skipped, elapsed.Round(time.Millisecond), rate)
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
// values skipped over both passes.
func settleRewrap(ctx context.Context, sf *storeFlags, o *rewrapOpts, skipped int64, stdout, stderr io.Writer) (int64, error) {
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
	more, err := rewrap(ctx, sf, o, stdout, stderr)
	return skipped + more, err
}

// checkpoints is the table tillid_rewrap_jobs of a job's database: one row
// per unfinished job, with the last key (or token) done, written in the
// transaction of the batch it follows.
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

// create makes the table if it does not exist.
func (c checkpoints) create(ctx context.Context) error {
	if _, err := c.db.sql.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS tillid_rewrap_jobs (
		job TEXT PRIMARY KEY,
		last_key TEXT NOT NULL,
		done BIGINT NOT NULL,
		rewrapped BIGINT NOT NULL
	)`); err != nil {
		return fmt.Errorf("creating the checkpoint table tillid_rewrap_jobs in %s: %w", target(c.dsn), err)
	}
	return nil
}

// load returns job's checkpoint, and found false when it has none.
func (c checkpoints) load(ctx context.Context, job string) (last string, done, rewrapped int64, found bool, err error) {
	err = c.db.sql.QueryRowContext(ctx, `SELECT last_key, done, rewrapped FROM tillid_rewrap_jobs WHERE job = `+c.ph(1), job).Scan(&last, &done, &rewrapped)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", 0, 0, false, nil
	case err != nil:
		return "", 0, 0, false, fmt.Errorf("reading the checkpoint in %s: %w", target(c.dsn), err)
	}
	return last, done, rewrapped, true, nil
}

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// save writes job's checkpoint through ex.
func (c checkpoints) save(ctx context.Context, ex execer, job, last string, done, rewrapped int64) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO tillid_rewrap_jobs (job, last_key, done, rewrapped) VALUES (`+c.ph(1)+`, `+c.ph(2)+`, `+c.ph(3)+`, `+c.ph(4)+`)
		ON CONFLICT (job) DO UPDATE SET last_key = excluded.last_key, done = excluded.done, rewrapped = excluded.rewrapped`,
		job, last, done, rewrapped)
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
