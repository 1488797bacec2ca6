package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

// A job is shared by every worker (tillid rewrap process) that runs it,
// through two tables in the data database:
//
//   - tillid_rewrap_jobs has one row per job: the cursor (the last key
//     handed out, "" before the first range, "done" when finished) and
//     the rows and values done.
//     A claim locks this row first, so claims take turns, on PostgreSQL as
//     on SQLite.
//   - tillid_rewrap_leases has one row per key range (lo, hi] handed out
//     and not yet committed: its worker and when its lease ends. A worker
//     commits a range's updates in the transaction that deletes its lease,
//     and only while it still holds it; a lease that has ended is handed to
//     the next worker that claims, so a killed worker's range is done by
//     another, and by one only.
//
// Leases are timed by the workers' clocks (Unix nanoseconds), so machines
// sharing a job need clocks that agree to well within -lease.
const leasesTable = `CREATE TABLE IF NOT EXISTS tillid_rewrap_leases (
	job TEXT NOT NULL,
	lo TEXT NOT NULL,
	hi TEXT NOT NULL,
	owner TEXT NOT NULL,
	expires BIGINT NOT NULL,
	PRIMARY KEY (job, lo)
)`

// jobDone is the last_key of a finished job (keys are encoded "i:…" or
// "s:…").
const jobDone = "done"

// lease is a key range (lo, hi] of a job held by one worker; lo is "" for
// the range that starts at the first row. Both are encoded keys. A claim
// that finds only other workers' leases returns their number in held and
// the latest end of their leases in until (Unix nanoseconds).
type lease struct {
	lo, hi      string
	held, until int64
}

// claimState is what a claim found.
type claimState int

const (
	claimed  claimState = iota // a range to do
	waiting                    // none left, but other workers hold ranges
	finished                   // the job is done
)

// errLeaseLost means another worker took the range over (its lease had
// ended) before this one committed it.
var errLeaseLost = errors.New("the lease ended and another worker took the range over")

// newOwner names this worker in the lease table: host, process ID and a
// random suffix (several workers may run in one process).
func newOwner() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

func decodeOptKey(s string) (*keyValue, error) {
	if s == "" {
		return nil, nil
	}
	k, err := decodeKey(s)
	return &k, err
}

// runJob runs one worker of the job o.job until no range is left. It
// returns the values the job skipped (over every run and worker) and the
// values this run skipped, which it listed on stderr.
func (e *engine) runJob(ctx context.Context, sf *storeFlags, stdout, stderr io.Writer) (skips, error) {
	o, ph := e.o, e.ph
	now := o.now
	if now == nil {
		now = time.Now
	}
	owner := newOwner()
	setup, cancel := context.WithTimeout(ctx, sf.timeout)
	defer cancel()
	// Workers starting together race in CREATE TABLE IF NOT EXISTS on
	// PostgreSQL (a unique violation in pg_type); the loser finds the
	// table made when it tries again.
	jobs := checkpoints{db: e.db, dsn: o.db}
	if err := jobs.create(setup); err != nil {
		if err := jobs.create(setup); err != nil {
			return skips{}, err
		}
	}
	if _, err := e.db.sql.ExecContext(setup, leasesTable); err != nil {
		if _, err := e.db.sql.ExecContext(setup, leasesTable); err != nil {
			return skips{}, fmt.Errorf("creating the lease table tillid_rewrap_leases in %s: %w", target(o.db), err)
		}
	}
	if o.restart {
		for _, q := range []string{`DELETE FROM tillid_rewrap_leases WHERE job = ` + ph(1), `DELETE FROM tillid_rewrap_jobs WHERE job = ` + ph(1)} {
			if _, err := e.db.sql.ExecContext(setup, q, o.job); err != nil {
				return skips{}, fmt.Errorf("forgetting the checkpoint: %w", err)
			}
		}
	}
	if _, err := e.db.sql.ExecContext(setup, `INSERT INTO tillid_rewrap_jobs (job, last_key, done, rewrapped) VALUES (`+ph(1)+`, '', 0, 0) ON CONFLICT (job) DO NOTHING`, o.job); err != nil {
		return skips{}, fmt.Errorf("writing the checkpoint: %w", err)
	}
	var total int64
	before, _, err := jobs.load(setup, o.job)
	if err != nil {
		return skips{}, err
	}
	if before.last == jobDone {
		fmt.Fprintf(stderr, "rewrap: job %q is complete already (%d rows, %d values rewrapped, %d skipped); -restart runs it again\n", o.job, before.done, before.rewrapped, before.skipped)
		fmt.Fprintln(stdout, jobCount{rows: before.done, changed: before.rewrapped, skipped: before.skipped, complete: true}.line("rewrap "+o.table))
		return skips{job: before.skipped}, nil
	}
	if before.last != "" {
		k, err := decodeKey(before.last)
		if err != nil {
			return skips{}, err
		}
		fmt.Fprintf(stderr, "rewrap: job %q has %d rows done (%d values skipped), up to key %s: resuming it, beside any other workers\n", o.job, before.done, before.skipped, k.text())
	}
	if err := e.db.sql.QueryRowContext(setup, `SELECT count(*) FROM `+quote(o.table)).Scan(&total); err != nil {
		return skips{}, fmt.Errorf("counting rows of %s: %w", o.table, err)
	}
	var (
		runRows, runChanged, skipped int64
		jobRows                      = before.done
		jobChanged                   = before.rewrapped
	)
	start := time.Now()
	prog := newProgress(stderr, o.table)
	defer prog.finish()
	saved := "job " + strconv.Quote(o.job) + " in tillid_rewrap_jobs"
	// A worker left without a range polls for the others to finish or
	// for a lease to end; the claim it polls with is short.
	poll := min(o.lease/4, 50*time.Millisecond)
	waited := false
	for {
		if err := ctx.Err(); err != nil {
			return skips{run: skipped}, interrupted(ctx, err, "rewrap of "+o.table, jobRows, saved)
		}
		l, state, err := e.claim(ctx, owner, now, stderr)
		if err != nil {
			return skips{run: skipped}, interrupted(ctx, err, "rewrap of "+o.table, jobRows, saved)
		}
		if state == finished {
			break
		}
		if state == waiting {
			if !waited {
				waited = true
				fmt.Fprintf(stderr, "rewrap: no rows left to claim; waiting for %d ranges that other workers hold, until they commit or their leases end (by %s)\n", l.held, time.Unix(0, l.until).UTC().Format(time.RFC3339))
			}
			select {
			case <-time.After(poll):
				continue
			case <-ctx.Done():
				return skips{run: skipped}, interrupted(ctx, ctx.Err(), "rewrap of "+o.table, jobRows, saved)
			}
		}
		waited = false
		if o.claimed != nil {
			if err := o.claimed(l); err != nil {
				return skips{run: skipped}, err // a simulated crash: the lease stays until it ends
			}
		}
		b, err := e.doRange(ctx, sf, l, owner, stderr)
		if errors.Is(err, errLeaseLost) {
			// The worker that took the range over does its rows and counts
			// its skips; this one's are not counted twice.
			fmt.Fprintf(stderr, "rewrap: keys after %s: %v; its rows (and the %d values listed above as skipped in them) are left to that worker\n", l.lo, err, b.skipped)
			continue
		}
		if err != nil {
			e.release(l, owner)
			return skips{run: skipped}, interrupted(ctx, err, "rewrap of "+o.table, jobRows, saved)
		}
		skipped += b.skipped
		runRows += b.rows
		runChanged += b.changed
		jobRows, jobChanged = b.jobRows, b.jobChanged
		rate := float64(runRows) / time.Since(start).Seconds()
		left := max(total-jobRows, 0)
		prog.update(jobRows, total, left, jobChanged, b.jobSkipped, rate) // the job's, like the rows and values
		if a := auditorFor(sf, stderr); a != nil {
			a.Audit(ctx, keys.Event{Time: time.Now(), Type: keys.EventRewrapProgress, Keyset: keys.KeysetID{Name: keyName(o.columns[0].col), Kind: kindOf(o.columns[0].col)}, Done: jobRows, Left: left})
		}
	}
	prog.finish()
	elapsed := time.Since(start)
	// The job's totals now, with every other worker's last range: a worker
	// finishes only once no range is held.
	end, found, err := jobs.load(ctx, o.job)
	if err != nil {
		return skips{run: skipped}, err
	}
	if !found { // another worker ran it with -restart meanwhile
		end = checkpoint{done: jobRows, rewrapped: jobChanged, skipped: before.skipped + skipped}
	}
	fmt.Fprintln(stdout, jobCount{rows: end.done, changed: end.rewrapped, skipped: end.skipped, before: before.done,
		runRows: runRows, runChanged: runChanged, runSkipped: skipped, elapsed: elapsed}.line("rewrap "+o.table))
	return skips{job: end.skipped, run: skipped}, nil
}

// claim hands this worker the next range of the job: a range whose lease
// has ended, else the next batch of keys after the cursor. When none is
// left and no lease is held, the job is finished and its rows are removed.
func (e *engine) claim(ctx context.Context, owner string, now func() time.Time, stderr io.Writer) (lease, claimState, error) {
	o, ph := e.o, e.ph
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tx, err := e.db.sql.BeginTx(c, nil)
	if err != nil {
		return lease{}, 0, fmt.Errorf("claiming rows of %s in %s: %w", o.table, target(o.db), err)
	}
	defer tx.Rollback()
	// Lock the job's row: claims take turns.
	res, err := tx.ExecContext(c, `UPDATE tillid_rewrap_jobs SET last_key = last_key WHERE job = `+ph(1), o.job)
	if err != nil {
		return lease{}, 0, fmt.Errorf("claiming rows of %s in %s: %w", o.table, target(o.db), err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return lease{}, finished, err // another worker finished the job
	}
	t := now().UnixNano()
	expires := now().Add(o.lease).UnixNano()
	var l lease
	var was string
	err = tx.QueryRowContext(c, `SELECT lo, hi, owner FROM tillid_rewrap_leases WHERE job = `+ph(1)+` AND expires < `+ph(2)+` ORDER BY lo LIMIT 1`, o.job, t).Scan(&l.lo, &l.hi, &was)
	switch {
	case err == nil:
		if _, err := tx.ExecContext(c, `UPDATE tillid_rewrap_leases SET owner = `+ph(1)+`, expires = `+ph(2)+` WHERE job = `+ph(3)+` AND lo = `+ph(4), owner, expires, o.job, l.lo); err != nil {
			return lease{}, 0, fmt.Errorf("taking over a lease: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return lease{}, 0, fmt.Errorf("taking over a lease: %w", err)
		}
		if was != owner {
			fmt.Fprintf(stderr, "rewrap: taking over the rows after key %q up to %q from worker %s, whose lease ended\n", l.lo, l.hi, was)
		}
		return l, claimed, nil
	case !errors.Is(err, sql.ErrNoRows):
		return lease{}, 0, fmt.Errorf("reading the leases: %w", err)
	}
	var last string
	if err := tx.QueryRowContext(c, `SELECT last_key FROM tillid_rewrap_jobs WHERE job = `+ph(1), o.job).Scan(&last); err != nil {
		return lease{}, 0, fmt.Errorf("reading the checkpoint: %w", err)
	}
	if last == jobDone {
		return lease{}, finished, nil
	}
	lo, err := decodeOptKey(last)
	if err != nil {
		return lease{}, 0, err
	}
	hi, err := e.rangeEnd(c, tx, lo)
	if err != nil {
		return lease{}, 0, err
	}
	if hi == nil {
		var held int64
		var until sql.NullInt64
		if err := tx.QueryRowContext(c, `SELECT count(*), max(expires) FROM tillid_rewrap_leases WHERE job = `+ph(1), o.job).Scan(&held, &until); err != nil {
			return lease{}, 0, fmt.Errorf("reading the leases: %w", err)
		}
		if held > 0 {
			return lease{held: held, until: until.Int64}, waiting, nil
		}
		// Done. The job's row stays, marked, so that a worker that starts
		// late does not run the job again; after the next rotation the
		// job has another name (see defaultJob) and starts afresh.
		if _, err := tx.ExecContext(c, `UPDATE tillid_rewrap_jobs SET last_key = `+ph(1)+` WHERE job = `+ph(2), jobDone, o.job); err != nil {
			return lease{}, 0, fmt.Errorf("clearing the checkpoint: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return lease{}, 0, fmt.Errorf("clearing the checkpoint: %w", err)
		}
		return lease{}, finished, nil
	}
	l = lease{lo: last, hi: hi.encode()}
	if _, err := tx.ExecContext(c, `INSERT INTO tillid_rewrap_leases (job, lo, hi, owner, expires) VALUES (`+ph(1)+`, `+ph(2)+`, `+ph(3)+`, `+ph(4)+`, `+ph(5)+`)`, o.job, l.lo, l.hi, owner, expires); err != nil {
		return lease{}, 0, fmt.Errorf("writing a lease: %w", err)
	}
	if _, err := tx.ExecContext(c, `UPDATE tillid_rewrap_jobs SET last_key = `+ph(1)+` WHERE job = `+ph(2), l.hi, o.job); err != nil {
		return lease{}, 0, fmt.Errorf("writing the checkpoint: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return lease{}, 0, fmt.Errorf("claiming rows of %s in %s: %w", o.table, target(o.db), err)
	}
	return l, claimed, nil
}

// rangeEnd returns the key that ends the batch after lo: the o.batch-th
// key after it, or the last key; nil when there is none.
func (e *engine) rangeEnd(ctx context.Context, tx *sql.Tx, lo *keyValue) (*keyValue, error) {
	k := quote(e.o.keyColumn)
	where, args := "", []any{}
	if lo != nil {
		where, args = ` WHERE `+k+` > `+e.ph(1), []any{lo.v}
	}
	var raw any
	err := tx.QueryRowContext(ctx, `SELECT `+k+` FROM `+quote(e.o.table)+where+` ORDER BY `+k+` LIMIT 1 OFFSET `+strconv.Itoa(e.o.batch-1), args...).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRowContext(ctx, `SELECT max(`+k+`) FROM `+quote(e.o.table)+where, args...).Scan(&raw)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s in %s: %w", e.o.table, target(e.o.db), err)
	}
	if raw == nil {
		return nil, nil
	}
	hi, err := asKey(raw)
	return &hi, err
}

// release ends this worker's lease on l at once (after an interrupt or an
// error), so that the next worker need not wait for it to expire.
func (e *engine) release(l lease, owner string) {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.db.sql.ExecContext(c, `UPDATE tillid_rewrap_leases SET expires = 0 WHERE job = `+e.ph(1)+` AND lo = `+e.ph(2)+` AND owner = `+e.ph(3), e.o.job, l.lo, owner)
}

// batchResult is what one range did, and the job's totals after it.
type batchResult struct {
	rows, changed, skipped, conflicts int64
	jobRows, jobChanged, jobSkipped   int64
}

// doRange rewraps the rows of range l and commits them with the end of its
// lease in one transaction.
func (e *engine) doRange(ctx context.Context, sf *storeFlags, l lease, owner string, stderr io.Writer) (batchResult, error) {
	var b batchResult
	lo, err := decodeOptKey(l.lo)
	if err != nil {
		return b, err
	}
	hi, err := decodeKey(l.hi)
	if err != nil {
		return b, err
	}
	c, cancel := context.WithTimeout(ctx, sf.timeout)
	defer cancel()
	var updates []update
	q, args := e.selectRows(lo, &hi, 0)
	err = e.scanRows(c, q, args, func(r row) error {
		if e.o.row != nil {
			e.o.row(c)
		}
		b.rows++
		for _, spec := range e.o.columns {
			u, changed, err := e.rewrapValue(c, spec, r)
			if err != nil {
				if errors.Is(err, keys.ErrKMSUnavailable) || errors.Is(err, pii.ErrKeyProvider) || c.Err() != nil {
					return err
				}
				b.skipped++
				fmt.Fprintf(stderr, "rewrap: %s %s=%s column %s: %v\n", e.o.table, e.o.keyColumn, r.key.text(), spec.name, err)
				continue
			}
			if changed {
				updates = append(updates, u)
			}
		}
		return nil
	})
	if err != nil {
		return b, err
	}
	if e.o.read != nil {
		e.o.read(l)
	}
	tx, err := e.db.sql.BeginTx(c, nil)
	if err != nil {
		return b, fmt.Errorf("writing %s in %s: %w", e.o.table, target(e.o.db), err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(c, `DELETE FROM tillid_rewrap_leases WHERE job = `+e.ph(1)+` AND lo = `+e.ph(2)+` AND owner = `+e.ph(3), e.o.job, l.lo, owner)
	if err != nil {
		return b, fmt.Errorf("ending a lease: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return batchResult{skipped: b.skipped}, errLeaseLost
	}
	// Values the application wrote meanwhile (conflicts) are under the
	// primary already.
	b.changed, b.conflicts, err = e.applyBatch(c, tx, updates)
	if err != nil {
		return b, err
	}
	err = tx.QueryRowContext(c, `UPDATE tillid_rewrap_jobs SET done = done + `+e.ph(1)+`, rewrapped = rewrapped + `+e.ph(2)+`, skipped = skipped + `+e.ph(3)+` WHERE job = `+e.ph(4)+` RETURNING done, rewrapped, skipped`,
		b.rows, b.changed, b.skipped, e.o.job).Scan(&b.jobRows, &b.jobChanged, &b.jobSkipped)
	if err != nil {
		return b, fmt.Errorf("writing the checkpoint: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return b, fmt.Errorf("writing %s in %s: %w", e.o.table, target(e.o.db), err)
	}
	return b, nil
}
