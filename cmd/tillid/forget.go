package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tillid/tillid/keys"
)

const forgetUsage = `Usage:
  tillid forget   [flags] -subject-db DSN -ledger-db DSN [table flags] SUBJECT...
  tillid withdraw [flags] -subject-db DSN -ledger-db DSN -purpose NAME [table flags] SUBJECT...

Forget erases data subjects (GDPR Art. 17) by crypto-shredding: it destroys
every subject key of each SUBJECT in the subject-key store, leaves a
tombstone (so that no new key is made for them until the application allows
them again) and appends the erasure to the ledger, which must live apart
from the data and the key store. Withdraw destroys only the keys of one
purpose (consent withdrawn). Both are idempotent: run them again after a
failure. Subjects the store never held are recorded too.

Values sealed under the destroyed keys need no change. The columns that are
not under subject keys (blind indexes, pseudonyms, FF1 tokens), which would
still find or link the person's rows, are set to NULL with -clear, in the
rows whose -subject-column holds the subject; -delete deletes those rows
instead. Vault tokens are NOT deleted by tillid forget, which does not
hold the vault (it says so on standard error): pii.Protector.Forget in the
application, built WithVault, deletes them; run it for the same subjects.

The ledger must already exist (a mistyped -ledger-db is refused, not
created): give -create-ledger once to start a new one. The ledger is checked
to be reachable and writable, and the -table and its -subject-column and
-clear columns to exist, before any key is destroyed.

SUBJECT arguments may be replaced by -subjects FILE (one ID a line, "-" for
standard input). One receipt a subject is printed, naming the subject by its
keyed pseudonym only (-json for JSON lines).

Example:
  tillid forget -keyset-db postgres://app@db/keys -kek-uri aws-kms://... \
    -subject-db postgres://app@db/keys -ledger-db postgres://app@ledger/ledger \
    -db postgres://app@db/app -table customers -subject-column id \
    -clear email_idx -clear alias c-1042

Flags:
`

const erasuresUsage = `Usage:
  tillid erasures -ledger-db DSN [-since TIME] [-json]
  tillid erasures -ledger-db DSN -subject-db DSN -reapply -since TIME [key flags]

Erasures lists the erasure ledger (forget, withdraw and allow entries) from
-since on (RFC 3339; default: all), naming subjects by pseudonym only.
With -reapply, after a backup of the subject-key store has been restored,
it destroys again every key erased since the backup's time (-since), so that
erased subjects do not come back; run it before any application instance
starts.

Flags:
`

type erasureOpts struct {
	subjectDB, ledgerDB string
	db, table, column   string
	clear               columnNames
	del                 bool
	subjectsFile        string
	purpose             string
	json                bool
	createLedger        bool
}

// columnNames is a repeated -clear flag.
type columnNames []string

func (c *columnNames) String() string { return strings.Join(*c, ",") }

func (c *columnNames) Set(v string) error {
	if !identRE.MatchString(v) {
		return fmt.Errorf("%q is not a column name", v)
	}
	*c = append(*c, v)
	return nil
}

// runForget is tillid forget and, with withdraw set, tillid withdraw.
func runForget(ctx context.Context, args []string, withdraw bool, stdout, stderr io.Writer) int {
	var sf storeFlags
	var o erasureOpts
	name := "forget"
	if withdraw {
		name = "withdraw"
	}
	fs := flag.NewFlagSet("tillid "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), forgetUsage); fs.PrintDefaults() }
	sf.register(fs)
	fs.StringVar(&o.subjectDB, "subject-db", "", "the subject-key store: `DSN` sqlite:PATH or postgres://... (default: -keyset-db)")
	fs.StringVar(&o.ledgerDB, "ledger-db", "", "the erasure ledger, apart from the data and the keys: `DSN`")
	fs.StringVar(&o.db, "db", "", "the data database whose rows -clear or -delete change: `DSN`")
	fs.StringVar(&o.table, "table", "", "the data `table`")
	fs.StringVar(&o.column, "subject-column", "", "the table's `column` holding the subject ID")
	fs.Var(&o.clear, "clear", "a `column` to set to NULL in the subject's rows (repeat for several)")
	fs.BoolVar(&o.del, "delete", false, "delete the subject's rows")
	fs.StringVar(&o.subjectsFile, "subjects", "", "read subject IDs from this `file`, one a line (- for standard input)")
	fs.BoolVar(&o.json, "json", false, "print receipts as JSON lines")
	fs.BoolVar(&o.createLedger, "create-ledger", false, "create the erasure ledger (its SQLite file and table) if it does not exist; otherwise a missing ledger is an error")
	if withdraw {
		fs.StringVar(&o.purpose, "purpose", "", "the `purpose` whose consent is withdrawn")
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	subjects, err := subjectArgs(fs.Args(), o.subjectsFile)
	if err == nil {
		err = o.check(withdraw, &sf)
	}
	if err != nil {
		return exitCode(stderr, err)
	}
	return exitCode(stderr, forget(ctx, &sf, &o, subjects, withdraw, stdout, stderr))
}

func (o *erasureOpts) check(withdraw bool, sf *storeFlags) error {
	if o.subjectDB == "" {
		o.subjectDB = sf.keysetDB
	}
	switch {
	case o.subjectDB == "":
		return usagef("give the subject-key store: -subject-db (or -keyset-db)")
	case o.ledgerDB == "":
		return usagef("give the erasure ledger: -ledger-db")
	case o.ledgerDB == o.subjectDB || (o.db != "" && o.ledgerDB == o.db):
		return usagef("the ledger must live apart from the key store and the data (-ledger-db), or a restore loses it too")
	case withdraw && o.purpose == "":
		return usagef("withdraw needs -purpose")
	case (len(o.clear) > 0 || o.del) && (o.db == "" || o.table == "" || o.column == ""):
		return usagef("-clear and -delete need -db, -table and -subject-column")
	case (o.table != "" || o.column != "") && len(o.clear) == 0 && !o.del:
		return usagef("-table and -subject-column are for -clear or -delete")
	case o.table != "" && (!identRE.MatchString(o.table) || !identRE.MatchString(o.column)):
		return usagef("-table and -subject-column must be plain identifiers")
	}
	return nil
}

// subjectArgs returns the subject IDs of the arguments or of the file.
func subjectArgs(args []string, file string) ([]string, error) {
	if file == "" {
		if len(args) == 0 {
			return nil, usagef("give the subject IDs as arguments or with -subjects FILE")
		}
		return args, nil
	}
	if len(args) > 0 {
		return nil, usagef("give subject IDs as arguments or with -subjects, not both")
	}
	var r io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			out = append(out, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, usagef("%s holds no subject IDs", file)
	}
	return out, nil
}

// subjectKeysFor opens the keyset store, the subject-key store and the
// ledger.
// The ledger must exist unless createLedger is set, and must be writable.
func subjectKeysFor(ctx context.Context, sf *storeFlags, subjectDB, ledgerDB string, createLedger bool, stderr io.Writer) (*keys.SubjectKeys, func(), error) {
	provider, closeStore, err := sf.open(ctx, stderr, false)
	if err != nil {
		return nil, nil, err
	}
	closers := []func(){closeStore}
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	sdb, err := openExisting(ctx, subjectDB)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	closers = append(closers, sdb.close)
	ledger, closeLedger, err := openLedger(ctx, ledgerDB, createLedger, true)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	closers = append(closers, closeLedger)
	var store keys.SubjectKeyStore
	if sdb.dialect == dialectSQLite {
		store, err = keys.OpenSQLiteSubjectKeyStore(ctx, sdb.sql)
	} else {
		store, err = keys.OpenPostgresSubjectKeyStore(ctx, sdb.sql)
	}
	var sk *keys.SubjectKeys
	if err == nil {
		var opts []keys.SubjectOption
		if sf.audit {
			opts = append(opts, keys.WithSubjectAuditor(keys.NewSlogAuditor(slogJSON(stderr))))
		}
		sk, err = keys.NewSubjectKeys(provider, store, ledger, opts...)
	}
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return sk, closeAll, nil
}

// receipt is one printed erasure receipt.
type receipt struct {
	Pseudonym string    `json:"pseudonym"`
	Purpose   string    `json:"purpose"`
	Time      time.Time `json:"time"`
	Destroyed []string  `json:"destroyed"`
	Rows      int64     `json:"rows"`
}

func forget(ctx context.Context, sf *storeFlags, o *erasureOpts, subjects []string, withdraw bool, stdout, stderr io.Writer) error {
	sk, closeAll, err := subjectKeysFor(ctx, sf, o.subjectDB, o.ledgerDB, o.createLedger, stderr)
	if err != nil {
		return err
	}
	defer closeAll()
	var data *database
	if o.db != "" && (len(o.clear) > 0 || o.del) {
		if data, err = openExisting(ctx, o.db); err != nil {
			return err
		}
		defer data.close()
		// Before any key is destroyed: a missing table or column would
		// otherwise fail after the keys are gone, with the rows untouched.
		if err := checkColumns(ctx, data, o.table, append([]string{o.column}, o.clear...)); err != nil {
			return err
		}
	}
	if !withdraw {
		// The CLI holds no vault: say so, so that no one takes a receipt for
		// the whole erasure.
		fmt.Fprintln(stderr, "tillid: note: vault tokens are not deleted by tillid forget; the application's pii.Protector.Forget (built WithVault) deletes them")
	}
	enc := json.NewEncoder(stdout)
	for i, subject := range subjects {
		callCtx, cancel := context.WithTimeout(ctx, sf.timeout)
		var e keys.Erasure
		if withdraw {
			e, err = sk.Withdraw(callCtx, subject, o.purpose)
		} else {
			e, err = sk.Forget(callCtx, subject)
		}
		var rows int64
		if err == nil && data != nil {
			rows, err = clearRows(callCtx, data, o, subject)
		}
		cancel()
		if err != nil {
			// No subject ID in the message: the line number tells which.
			return fmt.Errorf("subject %d of %d: %w (the earlier ones are done; run again to finish)", i+1, len(subjects), err)
		}
		r := receipt{Pseudonym: e.Pseudonym.String(), Purpose: e.Purpose, Time: e.Time.UTC(), Destroyed: e.Destroyed, Rows: rows}
		if r.Destroyed == nil {
			r.Destroyed = []string{}
		}
		if o.json {
			if err := enc.Encode(r); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(stdout, "%s purpose=%s at %s destroyed=%d rows=%d\n", r.Pseudonym, r.Purpose, r.Time.Format(time.RFC3339Nano), len(r.Destroyed), rows)
	}
	return nil
}

// clearRows sets the -clear columns to NULL, or deletes the rows (-delete),
// where the subject column holds subject, and returns how many rows.
func clearRows(ctx context.Context, db *database, o *erasureOpts, subject string) (int64, error) {
	ph := "?"
	if db.dialect == dialectPostgres {
		ph = "$1"
	}
	var q string
	if o.del {
		q = fmt.Sprintf("DELETE FROM %s WHERE %s = %s", quote(o.table), quote(o.column), ph)
	} else {
		sets := make([]string, len(o.clear))
		for i, c := range o.clear {
			sets[i] = quote(c) + " = NULL"
		}
		q = fmt.Sprintf("UPDATE %s SET %s WHERE %s = %s", quote(o.table), strings.Join(sets, ", "), quote(o.column), ph)
	}
	res, err := db.sql.ExecContext(ctx, q, subject)
	if err != nil {
		return 0, fmt.Errorf("clearing the subject's rows of %s: %w", o.table, err)
	}
	return res.RowsAffected()
}

// runErasures is tillid erasures.
func runErasures(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var sf storeFlags
	var ledgerDB, subjectDB, since string
	var asJSON, reapply bool
	fs := flag.NewFlagSet("tillid erasures", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), erasuresUsage); fs.PrintDefaults() }
	sf.register(fs)
	fs.StringVar(&ledgerDB, "ledger-db", "", "the erasure ledger: `DSN` sqlite:PATH or postgres://...")
	fs.StringVar(&subjectDB, "subject-db", "", "the restored subject-key store, for -reapply: `DSN` (default: -keyset-db)")
	fs.StringVar(&since, "since", "", "list (or re-apply) the entries from this `time` on, RFC 3339")
	fs.BoolVar(&asJSON, "json", false, "print entries as JSON lines")
	fs.BoolVar(&reapply, "reapply", false, "destroy again every key erased since -since, after a restore of the subject-key store")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		return exitCode(stderr, usagef("erasures takes no arguments, got %d", fs.NArg()))
	}
	if ledgerDB == "" {
		return exitCode(stderr, usagef("give the erasure ledger: -ledger-db"))
	}
	var from time.Time
	if since != "" {
		t, err := time.Parse(time.RFC3339Nano, since)
		if err != nil {
			return exitCode(stderr, usagef("-since %q: want an RFC 3339 time such as 2026-03-01T00:00:00Z", since))
		}
		from = t
	}
	if reapply && from.After(time.Now()) {
		return exitCode(stderr, usagef("-since %s is in the future: give the time of the restored backup", from.UTC().Format(time.RFC3339)))
	}
	if reapply {
		if since == "" {
			return exitCode(stderr, usagef("-reapply needs -since, the time of the restored backup"))
		}
		if subjectDB == "" {
			subjectDB = sf.keysetDB
		}
		if subjectDB == "" {
			return exitCode(stderr, usagef("give the restored subject-key store: -subject-db (or -keyset-db)"))
		}
		sk, closeAll, err := subjectKeysFor(ctx, &sf, subjectDB, ledgerDB, false, stderr)
		if err != nil {
			return exitCode(stderr, err)
		}
		defer closeAll()
		n, err := sk.ReapplyErasures(ctx, from)
		if err != nil {
			return exitCode(stderr, err)
		}
		fmt.Fprintf(stdout, "re-applied %d ledger entries since %s\n", n, from.UTC().Format(time.RFC3339Nano))
		return exitOK
	}
	return exitCode(stderr, listErasures(ctx, ledgerDB, from, asJSON, stdout))
}

func listErasures(ctx context.Context, dsn string, since time.Time, asJSON bool, stdout io.Writer) error {
	ledger, closeLedger, err := openLedger(ctx, dsn, false, false)
	if err != nil {
		return err
	}
	defer closeLedger()
	entries, err := ledger.Since(ctx, since)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	for _, e := range entries {
		d := e.Destroyed
		if d == nil {
			d = []string{}
		}
		if asJSON {
			err = enc.Encode(struct {
				Time      time.Time `json:"time"`
				Op        string    `json:"op"`
				Pseudonym string    `json:"pseudonym"`
				Purpose   string    `json:"purpose"`
				Destroyed []string  `json:"destroyed"`
			}{e.Time.UTC(), e.Op.String(), e.Pseudonym.String(), e.Purpose, d})
		} else {
			_, err = fmt.Fprintf(stdout, "%s %-5s %s purpose=%s destroyed=[%s]\n", e.Time.UTC().Format(time.RFC3339Nano), e.Op, e.Pseudonym, e.Purpose, strings.Join(d, " "))
		}
		if err != nil {
			return err
		}
	}
	if !asJSON && len(entries) == 0 {
		fmt.Fprintln(stdout, "no erasures")
	}
	return nil
}
