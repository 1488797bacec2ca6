package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

const rewrapUsage = `Usage:
  tillid rewrap [flags] -db DSN -table TABLE -key-column COL -column SPEC [-column SPEC ...]

Rewrap re-encrypts the protected values of a table under the current primary
key of their keysets, without showing plaintext, so that old keys can then be
disabled and destroyed. It reads the table in batches ordered by the key
column and writes each batch, with its checkpoint, in one transaction: after a
crash or Ctrl-C, run the same command again and it continues where it
stopped (-restart starts over). Each value is updated only if it has not
changed since it was read, so the application may keep reading and writing
meanwhile; what it writes is under the primary key already.

A -column SPEC names a column and the Go field whose values it holds:

  COLUMN=Type.Field[:deterministic][:key=NAME][:aad]

Type and Field are the Go struct type name (without its package) and field
name, which are bound into every ciphertext; :deterministic for
pii:"deterministic" fields (encrypt is the default); :key=NAME for key=NAME;
:aad when the field has aad= naming the field stored in the key column.

-check reads the table and prints how many values each key ID protects,
changing nothing: run it after a rewrap to verify that no value is left under
an old key before disabling it.

Example:
  tillid rewrap -keyset-db postgres://app@db/app -kek-uri aws-kms://... \
    -db postgres://app@db/app -table customers -key-column id \
    -column email=Customer.Email:aad -column phone=Customer.Phone:deterministic

Flags:
`

type rewrapOpts struct {
	db        string
	table     string
	keyColumn string
	columns   columnSpecs
	batch     int
	job       string
	restart   bool
	check     bool
	cache     cacheFlags
}

type columnSpec struct {
	name string
	col  pii.Column
	aad  bool
}

type columnSpecs []columnSpec

func (c *columnSpecs) String() string { return "" }

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

func (c *columnSpecs) Set(v string) error {
	name, rest, ok := strings.Cut(v, "=")
	if !ok || !identRE.MatchString(name) {
		return fmt.Errorf("%q: want COLUMN=Type.Field[:deterministic][:key=NAME][:aad]", v)
	}
	parts := strings.Split(rest, ":")
	typ, field, ok := strings.Cut(parts[0], ".")
	if !ok || typ == "" || field == "" {
		return fmt.Errorf("%q: want COLUMN=Type.Field[...], the Go type and field names", v)
	}
	s := columnSpec{name: name, col: pii.Column{Type: typ, Field: field, Action: pii.ActionEncrypt}}
	for _, p := range parts[1:] {
		switch {
		case p == "deterministic":
			s.col.Action = pii.ActionDeterministic
		case p == "encrypt":
		case p == "aad":
			s.aad = true
			s.col.RecordField = "key column"
		case strings.HasPrefix(p, "key="):
			s.col.Key = strings.TrimPrefix(p, "key=")
			if err := keys.CheckKeyName(s.col.Key); err != nil {
				return fmt.Errorf("%q: %v", v, err)
			}
		default:
			return fmt.Errorf("%q: unknown option %q; want deterministic, key=NAME or aad", v, p)
		}
	}
	*c = append(*c, s)
	return nil
}

func runRewrap(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var sf storeFlags
	var o rewrapOpts
	fs := flag.NewFlagSet("tillid rewrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), rewrapUsage); fs.PrintDefaults() }
	sf.register(fs)
	fs.StringVar(&o.db, "db", "", "the data database: `DSN` sqlite:PATH or postgres://...")
	fs.StringVar(&o.table, "table", "", "the `table` to rewrap")
	fs.StringVar(&o.keyColumn, "key-column", "", "the table's unique key `column` (integer or text), which orders the batches")
	fs.Var(&o.columns, "column", "a protected column: `COLUMN=Type.Field[:deterministic][:key=NAME][:aad]` (repeat for several)")
	fs.IntVar(&o.batch, "batch", 1000, "rows per batch and transaction")
	fs.StringVar(&o.job, "job", "", "checkpoint `name` (default: the table, a hash of the columns and of their primary key IDs)")
	fs.BoolVar(&o.restart, "restart", false, "start from the first row, forgetting the checkpoint")
	fs.BoolVar(&o.check, "check", false, "count values per key ID and change nothing")
	o.cache.register(fs)
	if len(args) > 0 && (args[0] == "help") {
		args = []string{"-h"}
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		return exitCode(stderr, usagef("rewrap takes no arguments, got %q", fs.Args()))
	}
	skipped, err := rewrap(ctx, &sf, &o, stdout, stderr)
	if err == nil && !o.check {
		skipped, err = settleRewrap(ctx, &sf, &o, skipped, stdout, stderr)
	}
	if err == nil && skipped > 0 {
		fmt.Fprintf(stderr, "tillid: %d values could not be rewrapped; they are listed above\n", skipped)
		return exitRewrapSkips
	}
	return exitCode(stderr, err)
}

// keyValue is a key column value, kept in its type so that "key > last"
// compares as the database does.
type keyValue struct {
	v any // int64 or string
}

func (k keyValue) text() string {
	if i, ok := k.v.(int64); ok {
		return strconv.FormatInt(i, 10)
	}
	return k.v.(string)
}

func (k keyValue) encode() string {
	if i, ok := k.v.(int64); ok {
		return "i:" + strconv.FormatInt(i, 10)
	}
	return "s:" + k.v.(string)
}

func decodeKey(s string) (keyValue, error) {
	switch {
	case strings.HasPrefix(s, "i:"):
		i, err := strconv.ParseInt(s[2:], 10, 64)
		return keyValue{i}, err
	case strings.HasPrefix(s, "s:"):
		return keyValue{s[2:]}, nil
	}
	return keyValue{}, fmt.Errorf("malformed checkpoint key %q", s)
}

func asKey(v any) (keyValue, error) {
	switch x := v.(type) {
	case int64:
		return keyValue{x}, nil
	case int32:
		return keyValue{int64(x)}, nil
	case string:
		return keyValue{x}, nil
	case []byte:
		return keyValue{string(x)}, nil
	}
	return keyValue{}, fmt.Errorf("the key column holds %T values; want integers or text", v)
}

func quote(ident string) string { return `"` + ident + `"` }

func rewrap(ctx context.Context, sf *storeFlags, o *rewrapOpts, stdout, stderr io.Writer) (skipped int64, err error) {
	switch {
	case o.db == "" || o.table == "" || o.keyColumn == "" || len(o.columns) == 0:
		return 0, usagef("rewrap needs -db, -table, -key-column and at least one -column")
	case !identRE.MatchString(o.table), !identRE.MatchString(o.keyColumn):
		return 0, usagef("-table and -key-column must be plain identifiers (letters, digits, '_')")
	case o.batch < 1:
		return 0, usagef("-batch must be positive")
	}
	setup, cancel := context.WithTimeout(ctx, sf.timeout)
	defer cancel()
	store, closeStore, err := sf.open(setup, stderr, false)
	if err != nil {
		return 0, err
	}
	defer closeStore()
	p, err := pii.New(store)
	if err != nil {
		return 0, err
	}
	if o.job == "" {
		// The checkpoint belongs to this table, these columns and the
		// primary keys they are rewrapped to: after another rotation, or
		// with other columns, a run starts from the first row.
		o.job, err = defaultJob(setup, store, o.table, o.columns)
		if err != nil {
			return 0, err
		}
	}
	if err := mustExist("", o.db, ""); err != nil {
		return 0, err
	}
	db, err := openDB(setup, o.db)
	if err != nil {
		return 0, err
	}
	defer db.close()
	ph := func(i int) string { return "?" }
	if db.dialect == dialectPostgres {
		ph = func(i int) string { return "$" + strconv.Itoa(i) }
	}
	if _, err := db.sql.ExecContext(setup, `CREATE TABLE IF NOT EXISTS tillid_rewrap_jobs (
		job TEXT PRIMARY KEY,
		last_key TEXT NOT NULL,
		done BIGINT NOT NULL,
		rewrapped BIGINT NOT NULL
	)`); err != nil {
		return 0, fmt.Errorf("creating the checkpoint table tillid_rewrap_jobs: %w", err)
	}
	var total int64
	if err := db.sql.QueryRowContext(setup, `SELECT count(*) FROM `+quote(o.table)).Scan(&total); err != nil {
		return 0, fmt.Errorf("counting rows of %s: %w", o.table, err)
	}

	cols := make([]string, len(o.columns))
	for i, c := range o.columns {
		cols[i] = quote(c.name)
	}
	var (
		last          *keyValue
		done, changed int64
	)
	if !o.restart && !o.check {
		var lastText string
		err := db.sql.QueryRowContext(setup, `SELECT last_key, done, rewrapped FROM tillid_rewrap_jobs WHERE job = `+ph(1), o.job).Scan(&lastText, &done, &changed)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return 0, fmt.Errorf("reading the checkpoint: %w", err)
		default:
			k, err := decodeKey(lastText)
			if err != nil {
				return 0, err
			}
			last = &k
			fmt.Fprintf(stderr, "rewrap: resuming job %q after key %s (%d rows done before)\n", o.job, k.text(), done)
		}
	}
	perKey := map[string]int64{}
	start := time.Now()
	startDone, startChanged := done, changed
	prog := newProgress(stderr, o.table)
	defer prog.finish()
	for {
		if err := ctx.Err(); err != nil {
			return skipped, interrupted(ctx, err, "rewrap of "+o.table, done, "job "+strconv.Quote(o.job)+" in tillid_rewrap_jobs")
		}
		q := `SELECT ` + quote(o.keyColumn) + `, ` + strings.Join(cols, ", ") + ` FROM ` + quote(o.table)
		var qargs []any
		if last != nil {
			q += ` WHERE ` + quote(o.keyColumn) + ` > ` + ph(1)
			qargs = append(qargs, last.v)
		}
		q += ` ORDER BY ` + quote(o.keyColumn) + ` LIMIT ` + strconv.Itoa(o.batch)
		type update struct {
			key      keyValue
			col      int
			old, new string
		}
		var (
			updates []update
			n       int
			lastKey keyValue
		)
		err := func() error {
			c, cancel := context.WithTimeout(ctx, sf.timeout)
			defer cancel()
			rows, err := db.sql.QueryContext(c, q, qargs...)
			if err != nil {
				return fmt.Errorf("reading %s: %w", o.table, err)
			}
			defer rows.Close()
			dest := make([]any, len(cols)+1)
			var rawKey any
			vals := make([]sql.NullString, len(cols))
			dest[0] = &rawKey
			for i := range vals {
				dest[i+1] = &vals[i]
			}
			for rows.Next() {
				if err := rows.Scan(dest...); err != nil {
					return fmt.Errorf("reading %s: %w", o.table, err)
				}
				k, err := asKey(rawKey)
				if err != nil {
					return err
				}
				n++
				lastKey = k
				for i, v := range vals {
					if !v.Valid {
						continue
					}
					spec := o.columns[i]
					if o.check {
						_, id, err := pii.KeyID(v.String)
						if err != nil {
							perKey["not protected or malformed"]++
							continue
						}
						perKey[keyName(spec.col)+"/"+strconv.FormatUint(uint64(id), 10)]++
						continue
					}
					recordID := ""
					if spec.aad {
						recordID = k.text()
					}
					out, ch, err := p.RewrapStored(c, spec.col, recordID, v.String)
					if err != nil {
						if errors.Is(err, keys.ErrKMSUnavailable) || errors.Is(err, pii.ErrKeyProvider) || c.Err() != nil {
							return err
						}
						skipped++
						fmt.Fprintf(stderr, "rewrap: %s %s=%s column %s: %v\n", o.table, o.keyColumn, k.text(), spec.name, err)
						continue
					}
					if ch {
						updates = append(updates, update{k, i, v.String, out})
					}
				}
			}
			return rows.Err()
		}()
		if err != nil {
			return skipped, interrupted(ctx, err, "rewrap of "+o.table, done, "job "+strconv.Quote(o.job)+" in tillid_rewrap_jobs")
		}
		if n == 0 {
			break
		}
		if !o.check {
			err = func() error {
				c, cancel := context.WithTimeout(ctx, sf.timeout)
				defer cancel()
				tx, err := db.sql.BeginTx(c, nil)
				if err != nil {
					return fmt.Errorf("writing %s in %s: %w", o.table, target(o.db), err)
				}
				defer tx.Rollback()
				for _, u := range updates {
					_, err := tx.ExecContext(c, `UPDATE `+quote(o.table)+` SET `+cols[u.col]+` = `+ph(1)+` WHERE `+quote(o.keyColumn)+` = `+ph(2)+` AND `+cols[u.col]+` = `+ph(3), u.new, u.key.v, u.old)
					if err != nil {
						return fmt.Errorf("writing %s: %w", o.table, err)
					}
				}
				_, err = tx.ExecContext(c, `INSERT INTO tillid_rewrap_jobs (job, last_key, done, rewrapped) VALUES (`+ph(1)+`, `+ph(2)+`, `+ph(3)+`, `+ph(4)+`)
					ON CONFLICT (job) DO UPDATE SET last_key = excluded.last_key, done = excluded.done, rewrapped = excluded.rewrapped`,
					o.job, lastKey.encode(), done+int64(n), changed+int64(len(updates)))
				if err != nil {
					return fmt.Errorf("writing the checkpoint: %w", err)
				}
				if err := tx.Commit(); err != nil {
					return fmt.Errorf("writing %s in %s: %w", o.table, target(o.db), err)
				}
				return nil
			}()
			if err != nil {
				return skipped, interrupted(ctx, err, "rewrap of "+o.table, done, "job "+strconv.Quote(o.job)+" in tillid_rewrap_jobs")
			}
		}
		done += int64(n)
		changed += int64(len(updates))
		lk := lastKey
		last = &lk
		rate := float64(done-startDone) / time.Since(start).Seconds()
		left := max(total-done, 0)
		if !o.check {
			prog.update(done, total, left, changed, skipped, rate)
			if a := auditorFor(sf, stderr); a != nil {
				a.Audit(ctx, keys.Event{Time: time.Now(), Type: keys.EventRewrapProgress, Keyset: keys.KeysetID{Name: keyName(o.columns[0].col), Kind: kindOf(o.columns[0].col)}, Done: done, Left: left})
			}
		}
	}
	prog.finish()
	if !o.check {
		// The job is complete: forget its checkpoint, so that the next run
		// (after the next rotation) starts from the first row again.
		if _, err := db.sql.ExecContext(ctx, `DELETE FROM tillid_rewrap_jobs WHERE job = `+ph(1), o.job); err != nil {
			return skipped, fmt.Errorf("clearing the checkpoint: %w", err)
		}
	}
	if o.check {
		ids := make([]string, 0, len(perKey))
		for id := range perKey {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		fmt.Fprintf(stdout, "%s: %d rows\n", o.table, done)
		for _, id := range ids {
			fmt.Fprintf(stdout, "  %s: %d values\n", id, perKey[id])
		}
		return skipped, nil
	}
	fmt.Fprintln(stdout, finalLine("rewrap "+o.table, done, changed, done-startDone, changed-startChanged, skipped, time.Since(start)))
	return skipped, nil
}

func keyName(c pii.Column) string {
	if c.Key == "" {
		return "default"
	}
	return c.Key
}

// defaultJob names a rewrap job by its table, its column specs and the
// primary key IDs of their keysets: "customers@" and 12 hex digits.
func defaultJob(ctx context.Context, store keys.Provider, table string, cols columnSpecs) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", table)
	for _, c := range cols {
		ks, err := store.Keyset(ctx, keyName(c.col), kindOf(c.col))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s=%s.%s:%d:%s:%t:%d\x00", c.name, c.col.Type, c.col.Field, c.col.Action, keyName(c.col), c.aad, ks.PrimaryKeyID())
	}
	return fmt.Sprintf("%s@%x", table, h.Sum(nil)[:6]), nil
}

func kindOf(c pii.Column) keys.Kind {
	if c.Action == pii.ActionDeterministic {
		return keys.KindDeterministicAEAD
	}
	return keys.KindAEAD
}

func auditorFor(sf *storeFlags, stderr io.Writer) keys.Auditor {
	if !sf.audit {
		return nil
	}
	return keys.NewSlogAuditor(slogJSON(stderr))
}
