package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tillid/tillid/internal/tag"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/retention"
	"github.com/tillid/tillid/tokenize"
)

const retentionUsage = `Usage:
  tillid retention sweep  [flags] -db DSN -table TABLE -key-column COL -rule SPEC [-rule SPEC ...]
  tillid retention report [flags] -db DSN -table TABLE -key-column COL -rule SPEC [-rule SPEC ...]

Sweep applies a table's retention rules: it clears the values whose period
has run out and deletes the rows of an expired record rule, in batches of one
transaction each, skipping and counting rows on legal hold. After a crash or
Ctrl-C, run the same command again: it resumes from its checkpoint (tables
tillid_retention_runs and tillid_retention_leases in the same database). On
PostgreSQL, run it on several machines at once: they share the sweep, each
batch done by one of them, and the batches of a killed worker are taken over
when its lease runs out. Each UPDATE and DELETE re-checks its rule, so the
application may keep writing meanwhile. -dry-run changes nothing and says
what a sweep would change. A sweep (any, not only the first) whose record
rule would delete every row of the table refuses to run without -yes. A
worker that runs out of free ranges while other workers still lease ranges
of its run waits for them (saying so on standard error) until they are done
or their leases run out and it takes them over, then exits 0 with the run
complete; with -no-wait, or when interrupted while waiting, it prints
"NOT COMPLETE: N ranges leased until T" and exits 1.

Report prints, per rule, the rows and values, how many are due now, the
oldest anchor, the rows whose anchor is NULL (which never expire) or in the
future, and the rows on hold.

The CLI does not read Go types: give the rules the tags declare, one -rule per
retain= field and one -record for the struct's record rule:
  -rule COLUMN=retain:PERIOD,from:ANCHOR_COLUMN[,zero:empty|zero:0]
  -record retain:PERIOD,from:ANCHOR_COLUMN
PERIOD is written as in the tags (90d, 26w, 2y, 720h). A cleared column is set
to NULL, or with zero:empty to '' and zero:0 to 0 (for NOT NULL columns).
A then=shred rule withdraws the row's data subject from one purpose by
destroying that subject key, as tillid withdraw does:
  -rule NAME=retain:PERIOD,from:ANCHOR_COLUMN,then:shred,purpose:PURPOSE
with -subject-column (the column holding the subject ID) and, for sweep, the
subject-key store and ledger flags of tillid forget (-subject-db, default
-keyset-db; -ledger-db) and the keyset store and KEK flags. On SQLite the
subject-key store must be another file than -db. As for tillid forget, the
subject-key store must hold its table (tillid_subject_keys), so that a
mistyped -subject-db is refused before anything changes instead of
withdrawing into a new, empty table while the real keys live on;
-create-subject-store starts an empty one.
-token COLUMN=DOMAIN (repeat; COLUMN=DOMAIN:consistent for a ModeConsistent
domain) names a column of vault tokens: the record rule's rows take their
tokens with them. Report and -dry-run count the tokens the due rows hold;
sweep deletes them from the vault in -vault-db (default -db; on SQLite
another file than -db), under the keyset store and KEK flags (the domain's
keysets are named tokenize-DOMAIN, as tillid vault rewrap names them).
-hold COLUMN names the legal-hold column (a boolean, held unless false: a NULL
holds, reported as "hold unknown"; -hold COLUMN:time for a nullable timestamp,
held while set). A due row of a then:shred rule whose subject ID is NULL,
empty or invalid is skipped and named by its key; the sweep goes on.
An anchor column is a timestamptz, timestamp or date column on PostgreSQL;
on SQLite, text in a form of SQLite's date functions (YYYY-MM-DD[ HH:MM[:SS]]
with an optional offset) or Go's time.Time.String: any other value is no
anchor, reported and never expired. -now pins the clock the rules are
measured against; leases keep the real clock. Ctrl-C rolls the current batch
back and keeps the checkpoint: run the same command again to resume.

Example:
  tillid retention sweep -db postgres://app@db/app -table customers -key-column id \
    -rule notes=retain:2y,from:created_at -record retain:7y,from:closed_at -hold legal_hold

Flags:
`

type retentionOpts struct {
	db, table, key, hold, worker, job, now string
	// subject is the subject column of then=shred rules, and subjectDB and
	// ledgerDB the subject-key store and ledger that shred them.
	subject, subjectDB, ledgerDB string
	// createStore lets then:shred start an empty subject-key table in
	// subjectDB (-create-subject-store); without it a missing one is an
	// error.
	createStore bool
	rules       []retention.Rule
	// tokens are the -token columns, consistent their domains of
	// ModeConsistent, and vaultDB the vault that holds them.
	tokens              []retention.TokenColumn
	consistent          map[string]bool
	vaultDB             string
	batch               int
	dryRun, yes, noWait bool
}

// ruleFlag collects -rule and -record specs.
type ruleFlag struct {
	rules  *[]retention.Rule
	record bool
}

func (f ruleFlag) String() string { return "" }

func (f ruleFlag) Set(v string) error {
	r, err := parseRuleSpec(v, f.record)
	if err != nil {
		return err
	}
	*f.rules = append(*f.rules, r)
	return nil
}

// parseRuleSpec parses COLUMN=retain:P,from:C[,zero:...] (record: without
// "COLUMN="), and NAME=retain:P,from:C,then:shred,purpose:P.
func parseRuleSpec(v string, record bool) (retention.Rule, error) {
	r := retention.Rule{Then: pii.ThenRedact}
	spec := v
	if record {
		r.Then, r.Name = pii.ThenDelete, "row"
	} else {
		col, rest, ok := strings.Cut(v, "=")
		if !ok || col == "" {
			return r, fmt.Errorf("%q: want COLUMN=retain:PERIOD,from:ANCHOR_COLUMN", v)
		}
		r.Column, r.Name, spec = col, col, rest
	}
	for _, item := range strings.Split(spec, ",") {
		name, val, _ := strings.Cut(item, ":")
		switch name {
		case "retain":
			d, err := tag.ParseRetention(val)
			if err != nil {
				return r, fmt.Errorf("%q: %v", v, err)
			}
			r.Retain = d
		case "from":
			r.From = val
		case "zero":
			switch {
			case record:
				return r, fmt.Errorf("%q: a record rule deletes rows; zero: is for -rule", v)
			case val == "empty":
				r.Zero = ""
			case val == "0":
				r.Zero = int64(0)
			default:
				return r, fmt.Errorf("%q: zero:%s: want zero:empty or zero:0", v, val)
			}
		case "then":
			switch {
			case val == "redact" && !record, val == "delete" && record:
			case val == "shred" && !record:
				r.Then, r.Column = pii.ThenShred, ""
			default:
				return r, fmt.Errorf("%q: then:%s: -rule redacts and -record deletes", v, val)
			}
		case "purpose":
			if !validPurpose(val) {
				return r, fmt.Errorf("%q: purpose:%s: no field can have that purpose; want a purpose= name of the tags (a-z, 0-9, '_' and '-', starting with a letter, at most 64 characters)", v, val)
			}
			r.Purpose = val
		default:
			return r, fmt.Errorf("%q: unknown item %q; want retain:, from:, zero:, then:, purpose:", v, name)
		}
	}
	if r.Retain == 0 || r.From == "" {
		return r, fmt.Errorf("%q: needs retain:PERIOD and from:ANCHOR_COLUMN", v)
	}
	switch {
	case r.Then == pii.ThenShred && r.Purpose == "":
		return r, fmt.Errorf("%q: then:shred withdraws one purpose: give purpose:NAME", v)
	case r.Then != pii.ThenShred && r.Purpose != "":
		return r, fmt.Errorf("%q: purpose: is for then:shred", v)
	case r.Then == pii.ThenShred && r.Zero != nil:
		return r, fmt.Errorf("%q: then:shred changes no column; zero: is for redact", v)
	}
	return r, nil
}

func runRetention(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "sweep" && args[0] != "report") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "help" || args[0] == "-help") {
			fmt.Fprint(stdout, retentionUsage)
			return exitOK
		}
		fmt.Fprint(stderr, retentionUsage)
		return exitUsage
	}
	verb := args[0]
	var o retentionOpts
	var sf storeFlags
	fs := flag.NewFlagSet("tillid retention "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), retentionUsage); fs.PrintDefaults() }
	fs.StringVar(&o.db, "db", "", "the data database: `DSN` sqlite:PATH or postgres://...")
	fs.StringVar(&o.table, "table", "", "the `table` to sweep")
	fs.StringVar(&o.key, "key-column", "", "the table's key `column` (integer, text or uuid), which orders the batches")
	fs.Var(ruleFlag{rules: &o.rules}, "rule", "a field rule: `COLUMN=retain:PERIOD,from:ANCHOR[,zero:empty|zero:0]` (repeat)")
	fs.Var(ruleFlag{rules: &o.rules, record: true}, "record", "the record rule, deleting rows: `retain:PERIOD,from:ANCHOR`")
	fs.Func("token", "a column of vault tokens: `COLUMN=DOMAIN[:consistent]` (repeat)", func(v string) error {
		col, domain, ok := strings.Cut(v, "=")
		domain, mode, _ := strings.Cut(domain, ":")
		if !ok || col == "" || domain == "" || (mode != "" && mode != "consistent") {
			return fmt.Errorf("%q: want COLUMN=DOMAIN or COLUMN=DOMAIN:consistent", v)
		}
		o.tokens = append(o.tokens, retention.TokenColumn{Column: col, Domain: domain})
		if mode != "" {
			if o.consistent == nil {
				o.consistent = map[string]bool{}
			}
			o.consistent[domain] = true
		}
		return nil
	})
	fs.StringVar(&o.hold, "hold", "", "the legal-hold `column` (boolean; COLUMN:time for a nullable timestamp)")
	fs.IntVar(&o.batch, "batch", 5000, "rows per batch and transaction")
	fs.StringVar(&o.worker, "worker", "", "this worker's `name` in the checkpoint (default: host name and process ID)")
	fs.StringVar(&o.job, "job", "", "checkpoint `name` shared by the workers of one sweep (default: the table)")
	fs.StringVar(&o.now, "now", "", "start the clock the rules are measured against at this `time` (RFC 3339)")
	fs.StringVar(&o.subject, "subject-column", "", "the `column` holding the data subject's ID, for then:shred rules")
	if verb == "sweep" {
		fs.BoolVar(&o.dryRun, "dry-run", false, "change nothing; print what a sweep would change")
		fs.BoolVar(&o.yes, "yes", false, "let a sweep delete every row of the table")
		fs.BoolVar(&o.noWait, "no-wait", false, "do not wait for ranges other workers lease: end NOT COMPLETE (exit 1) instead")
		fs.StringVar(&o.subjectDB, "subject-db", "", "the subject-key store of then:shred rules: `DSN` sqlite:PATH or postgres://... (default: -keyset-db)")
		fs.StringVar(&o.vaultDB, "vault-db", "", "the token vault of the -token columns: `DSN` sqlite:PATH or postgres://... (default: -db)")
		fs.StringVar(&o.ledgerDB, "ledger-db", "", "the erasure ledger of then:shred rules, apart from the data and the keys: `DSN`")
		fs.BoolVar(&o.createStore, "create-subject-store", false, "create the subject-key table in -subject-db if it does not exist; otherwise a missing one is an error (a mistyped -subject-db)")
		sf.register(fs) // its -audit also writes an audit event (JSON, counts only) per batch
	}
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		return exitCode(stderr, usagef("retention %s takes no arguments, got %q", verb, fs.Args()))
	}
	err := retentionMain(ctx, verb, &o, &sf, stdout, stderr)
	return exitCode(stderr, err)
}

func retentionMain(ctx context.Context, verb string, o *retentionOpts, sf *storeFlags, stdout, stderr io.Writer) error {
	audit := sf.audit
	if o.db == "" || o.table == "" || o.key == "" || len(o.rules) == 0 {
		return usagef("retention %s needs -db, -table, -key-column and at least one -rule or -record", verb)
	}
	now := time.Now
	if o.now != "" {
		at, err := time.Parse(time.RFC3339, o.now)
		if err != nil {
			return usagef("-now %q: want an RFC 3339 time such as 2026-12-01T00:00:00Z", o.now)
		}
		// The clock starts at -now and runs, so that leases (and a
		// worker waiting for them to run out) keep real time.
		start := time.Now()
		now = func() time.Time { return at.Add(time.Since(start)) }
	}
	t := retention.Table{Name: o.table, Key: o.key, Subject: o.subject, Rules: o.rules, Tokens: o.tokens}
	shreds := false
	for _, r := range o.rules {
		shreds = shreds || r.Then == pii.ThenShred
	}
	if shreds && o.subject == "" {
		return usagef("then:shred rules need -subject-column, the column holding the subject ID")
	}
	if o.hold != "" {
		col, kind, _ := strings.Cut(o.hold, ":")
		if kind != "" && kind != "time" {
			return usagef("-hold %q: want COLUMN or COLUMN:time", o.hold)
		}
		t.Hold = retention.Hold{Column: col, Time: kind == "time"}
	}
	db, err := openExisting(ctx, o.db)
	if err != nil {
		return err
	}
	defer db.close()
	d := retention.SQLite
	if db.dialect == dialectPostgres {
		d = retention.PostgreSQL
	}
	if verb == "report" || o.dryRun {
		rep, err := retention.Report(ctx, db.sql, d, t, now())
		if err != nil {
			return err
		}
		printReport(stdout, rep, o.dryRun)
		return nil
	}
	worker := o.worker
	if worker == "" {
		host, _ := os.Hostname()
		worker = fmt.Sprintf("%.40s-%d", host, os.Getpid())
	}
	opts := []retention.Option{retention.WithClock(now), retention.WithBatchSize(o.batch), retention.WithWorker(worker)}
	if o.job != "" {
		opts = append(opts, retention.WithJob(o.job))
	}
	if o.yes {
		opts = append(opts, retention.WithConfirmDeleteAll())
	}
	if o.noWait {
		opts = append(opts, retention.WithNoWait())
	}
	if audit {
		opts = append(opts, retention.WithAuditor(keys.NewSlogAuditor(slogJSON(stderr))))
	}
	if len(o.tokens) > 0 {
		tks, closeVault, err := retentionTokenizers(ctx, o, sf, db, stderr)
		if err != nil {
			return err
		}
		defer closeVault()
		opts = append(opts, retention.WithTokenizers(tks...))
	}
	if shreds {
		sk, closeKeys, err := shredderKeys(ctx, o, sf, stderr)
		if err != nil {
			return err
		}
		defer closeKeys()
		opts = append(opts, retention.WithShredder(retention.ShredFunc(func(ctx context.Context, subject, purpose string) error {
			_, err := sk.Withdraw(ctx, subject, purpose)
			return err
		})))
	}
	var total int64
	if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM "`+o.table+`"`).Scan(&total); err != nil {
		return fmt.Errorf("counting the rows of %s: %w", o.table, err)
	}
	p := newProgress(stderr, o.table)
	var examined int64
	opts = append(opts, retention.WithProgress(func(s retention.Stats) {
		examined = s.Examined
		p.step(s.Examined, total, fmt.Sprintf("retention %s: %d rows examined, %d changed, %d held", o.table, s.Examined, s.Changed(), s.Held))
	}))
	opts = append(opts, retention.WithWaiting(func(leased int64, until time.Time) {
		p.step(examined, total, fmt.Sprintf("retention %s: waiting for %d ranges leased by other workers (until %s at the latest)", o.table, leased, until.UTC().Format(time.RFC3339)))
	}))
	sw, err := retention.New(ctx, db.sql, d, t, opts...)
	if err != nil {
		return err
	}
	st, err := sw.Sweep(ctx)
	p.finish()
	printStats(stdout, o.table, st)
	if errors.Is(err, retention.ErrWouldDeleteAll) {
		return fmt.Errorf("%w (nothing was changed; run with -dry-run to see the rule's figures)", err)
	}
	return sweepInterrupted(ctx, err, o, st)
}

// sweepInterrupted explains a sweep ended by ctx (Ctrl-C, SIGTERM): what
// this run did, that the checkpoint is saved and how to resume. Other
// errors pass unchanged.
func sweepInterrupted(ctx context.Context, err error, o *retentionOpts, st retention.Stats) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	job := o.job
	if job == "" {
		job = o.table
	}
	return fmt.Errorf("retention sweep of %s interrupted after %d rows examined, %d changed; the checkpoint (job %s in tables tillid_retention_runs and tillid_retention_leases of -db) is saved and the interrupted batch was rolled back: run the same command again to resume from it (%w)",
		o.table, st.Examined, st.Changed(), job, context.Cause(ctx))
}

func printReport(w io.Writer, rep retention.TableReport, dryRun bool) {
	fmt.Fprintf(w, "table %s at %s: %d rows, %d on hold%s\n", rep.Table, rep.Now.UTC().Format(time.RFC3339), rep.Rows, rep.Held, holdUnknown(rep.HoldUnknown))
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	due := "due"
	if dryRun {
		due = "would change"
	}
	fmt.Fprintf(tw, "rule\tthen\tvalues\t%s\tnull anchors\tfuture\toldest\n", due)
	for _, r := range rep.Rules {
		oldest := "-"
		if !r.Oldest.IsZero() {
			oldest = r.Oldest.Format(time.RFC3339Nano) // exact: a fraction is shown, never cut
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.Rule, r.Then, r.Values, r.Due, r.NullAnchors, r.Future, oldest)
	}
	tw.Flush()
	for _, r := range rep.Rules {
		if r.NoSubject > 0 {
			fmt.Fprintf(w, "warning: rule %s: %d rows would be due but have no subject ID (NULL or empty): a sweep skips them and names their keys\n", r.Rule, r.NoSubject)
		}
		if r.Then == pii.ThenDelete && rep.Rows > 0 && r.Due == rep.Rows {
			fmt.Fprintf(w, "warning: rule %s would delete every row of %s; a sweep needs -yes\n", r.Rule, rep.Table)
		}
	}
	for _, r := range rep.Rules {
		if r.Tokens > 0 {
			fmt.Fprintf(w, "rule %s: its due rows hold %d vault tokens, deleted with them\n", r.Rule, r.Tokens)
		}
	}
	if dryRun {
		fmt.Fprintln(w, "dry run: nothing was changed")
	}
}

func printStats(w io.Writer, table string, st retention.Stats) {
	fmt.Fprintf(w, "table %s: %d rows examined in %d batches, %d on hold%s\n", table, st.Examined, st.Batches, st.Held, holdUnknown(st.HoldUnknown))
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "rule\tthen\tchanged\tnull anchors\tfuture")
	for _, r := range st.Rules {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", r.Rule, r.Then, r.Changed, r.NullAnchors, r.Future)
	}
	tw.Flush()
	for _, r := range st.Rules {
		if r.NoSubject > 0 {
			more := ""
			if int64(len(r.NoSubjectKeys)) < r.NoSubject {
				more = fmt.Sprintf(" (the first %d)", len(r.NoSubjectKeys))
			}
			fmt.Fprintf(w, "rule %s: %d due rows skipped, their subject ID NULL, empty or invalid; fix them and sweep again; keys%s: %s\n", r.Rule, r.NoSubject, more, strings.Join(r.NoSubjectKeys, ", "))
		}
		if r.Tokens > 0 || r.TokensLeft > 0 {
			fmt.Fprintf(w, "rule %s: %d vault tokens deleted with its rows, %d left in the vault\n", r.Rule, r.Tokens, r.TokensLeft)
		}
	}
}

// holdUnknown is the note on held rows whose boolean hold is NULL.
func holdUnknown(n int64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d of them hold unknown: a NULL hold holds)", n)
}

// retentionTokenizers opens the vault of the -token columns and a
// Tokenizer per domain, with the keyset store of the store flags.
func retentionTokenizers(ctx context.Context, o *retentionOpts, sf *storeFlags, data *database, stderr io.Writer) ([]*tokenize.Tokenizer, func(), error) {
	dsn := o.vaultDB
	if dsn == "" {
		dsn = o.db
	}
	if data.dialect == dialectSQLite && dsn == o.db {
		return nil, nil, usagef("on SQLite, give -token a vault in another file than -db (-vault-db): the sweep's transaction holds the data file")
	}
	store, closeStore, err := sf.open(ctx, stderr, false)
	if err != nil {
		return nil, nil, err
	}
	vdb, err := openExisting(ctx, dsn)
	if err != nil {
		closeStore()
		return nil, nil, err
	}
	vault, closeVault, err := openVault(ctx, vdb, dsn)
	if err != nil {
		vdb.close()
		closeStore()
		return nil, nil, err
	}
	closeAll := func() { closeVault(); vdb.close(); closeStore() }
	var tks []*tokenize.Tokenizer
	seen := map[string]bool{}
	for _, tc := range o.tokens {
		if seen[tc.Domain] {
			continue
		}
		seen[tc.Domain] = true
		mode := tokenize.ModeRandom
		if o.consistent[tc.Domain] {
			mode = tokenize.ModeConsistent
		}
		tk, err := tokenize.New(store, vault, tc.Domain, mode, tokenize.WithKeyName("tokenize-"+tc.Domain))
		if err != nil {
			closeAll()
			return nil, nil, usagef("-token domain %q: %v", tc.Domain, err)
		}
		tks = append(tks, tk)
	}
	return tks, closeAll, nil
}

// shredderKeys opens the subject keys that then:shred rules withdraw from,
// with the flags and checks of tillid forget.
func shredderKeys(ctx context.Context, o *retentionOpts, sf *storeFlags, stderr io.Writer) (*keys.SubjectKeys, func(), error) {
	e := erasureOpts{subjectDB: o.subjectDB, ledgerDB: o.ledgerDB, db: o.db, purpose: "shred"}
	if err := e.check(true, sf); err != nil {
		return nil, nil, err
	}
	if strings.HasPrefix(e.subjectDB, "sqlite:") && e.subjectDB == o.db {
		return nil, nil, usagef("on SQLite, give then:shred a subject-key store in another file than -db (-subject-db): the sweep's transaction holds the data file")
	}
	// The subject-key table must exist, as for tillid forget: a mistyped
	// -subject-db would otherwise get a new, empty table, and the sweep
	// would withdraw nothing there while the real keys lived on.
	st, err := openErasureStores(ctx, sf, e.subjectDB, e.ledgerDB, false, o.createStore, stderr)
	if err != nil {
		return nil, nil, err
	}
	return st.sk, st.close, nil
}
