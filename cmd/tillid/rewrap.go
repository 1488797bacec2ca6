package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/tokenize"
)

const rewrapUsage = `Usage:
  tillid rewrap [flags] -db DSN -table TABLE -key-column COL -column SPEC [-column SPEC ...]

Rewrap moves the protected values of a table to the current primary key of
their keysets, without showing plaintext, so that old keys can then be
disabled and destroyed. It reads the table in batches of key ranges and
writes each batch, with its checkpoint, in one transaction: after a crash or
Ctrl-C, run the same command again and it continues where it stopped
(-restart starts over). Each value is updated only if it has not changed
since it was read, so the application may keep reading and writing
meanwhile; what it writes is under the primary key already.

Several rewrap processes, on one machine or several, may run the same
command at once: they share the job through the tables tillid_rewrap_jobs
and tillid_rewrap_leases, each taking the next key range under a lease, so
no range is done twice; a range whose worker died is taken over when its
lease (-lease) ends.

A -column SPEC names a column and the Go field whose values it holds:

  COLUMN=Type.Field[:ACTION][:key=NAME][:aad][:migrate]

Type and Field are the Go struct type name (without its package) and field
name, which are bound into every value. ACTION is the field's tag:

  encrypt              (the default) re-encrypted under the primary AEAD key
  deterministic        re-encrypted under the primary deterministic key
  index=SOURCE[:normalize=RULES][:part=PART][:bits=N]
                       a blind index, recomputed under the primary PRF key
                       from the column SOURCE (decrypted when SOURCE is also
                       a -column; plaintext otherwise), with the tag's
                       normalize=, part= and bits=
  ff1=DOMAIN[:alphabet=digits|lower-alphanumeric][:keep-last=N]
                       FF1 tokens (tokenize=DOMAIN with WithFPE), moved to
                       the primary key of keyset tokenize-DOMAIN
  vault=DOMAIN         vault tokens: left as they are, since the vault holds
                       the encrypted values (tillid vault rewrap DOMAIN)
  pseudonym            refused: a pseudonym cannot be recomputed

:key=NAME for key=NAME; :aad when the field has aad= naming the field stored
in the key column; :migrate for the migrate option: legacy plaintext is
encrypted (or tokenized).

-check reads the table, changes nothing, and prints how many values each
key protects, as KEYSET/KIND/KEY_ID, marking the primary; it exits 5 while
any value is under another key or not protected. It reads the key IDs from
the values' headers only and decrypts nothing, so an altered value, or one
moved to another row, counts under the key its header names. With -verify it also
decrypts every value (and recomputes every index from its source under the
index's own key) and lists the key column values of the rows that fail: a
ciphertext altered, or moved to another row under :aad, is reported. FF1
does not authenticate, so an altered FF1 token cannot be told.

Example:
  tillid rewrap -keyset-db postgres://app@db/app -kek-uri aws-kms://... \
    -db postgres://app@db/app -table customers -key-column id \
    -column email=Customer.Email:aad -column phone=Customer.Phone:deterministic \
    -column email_idx=Customer.EmailIdx:index=email:normalize=email

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
	verify    bool
	lease     time.Duration
	cache     cacheFlags
	// vault are the vault token columns, which the job leaves.
	vault columnSpecs
	// now is the workers' clock for leases (time.Now unless a test sets it).
	now func() time.Time
	// claimed, when a test sets it, runs after each lease is claimed; an
	// error ends the worker there without releasing the lease, as a crash
	// would.
	claimed func(lease) error
	// read, when a test sets it, runs after a range is read and before its
	// updates are written.
	read func(lease)
	// row, when a test sets it, runs for each row a range reads, before
	// its values are rewrapped, with the range's context.
	row func(context.Context)
}

type columnSpec struct {
	name string
	col  pii.Column
	aad  bool
	// source is the column an index column is computed from.
	source string
	// alphabet and keepLast make the FPE of an ff1 column.
	alphabet *tokenize.Alphabet
	keepLast int
	vault    bool
}

type columnSpecs []columnSpec

func (c *columnSpecs) String() string { return "" }

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

const specSyntax = "COLUMN=Type.Field[:encrypt|:deterministic|:index=SOURCE|:ff1=DOMAIN|:vault=DOMAIN][:key=NAME][:aad][:migrate]"

func (c *columnSpecs) Set(v string) error {
	name, rest, ok := strings.Cut(v, "=")
	if !ok || !identRE.MatchString(name) {
		return fmt.Errorf("%q: want %s", v, specSyntax)
	}
	parts := strings.Split(rest, ":")
	typ, field, ok := strings.Cut(parts[0], ".")
	if !ok || typ == "" || field == "" {
		return fmt.Errorf("%q: want COLUMN=Type.Field[...], the Go type and field names", v)
	}
	s := columnSpec{name: name, col: pii.Column{Type: typ, Field: field, Action: pii.ActionEncrypt}}
	var indexOnly, ff1Only []string
	for _, p := range parts[1:] {
		opt, val, _ := strings.Cut(p, "=")
		switch opt {
		case "encrypt":
		case "deterministic":
			s.col.Action = pii.ActionDeterministic
		case "pseudonym", "hash":
			return fmt.Errorf("%q: pseudonym columns cannot be rewrapped: a pseudonym is a keyed hash of a value that is not stored, so it cannot be recomputed under a new key; keep the old PRF key enabled while its pseudonyms must match, or pseudonymise again from the source data", v)
		case "index":
			if !identRE.MatchString(val) || val == name {
				return fmt.Errorf("%q: index=SOURCE names the column the index is computed from", v)
			}
			s.col.Action, s.source = pii.ActionBlindIndex, val
		case "normalize", "part", "bits":
			indexOnly = append(indexOnly, opt)
			switch opt {
			case "normalize":
				s.col.Normalize = val
			case "part":
				s.col.Part = val
			default:
				n, err := strconv.Atoi(val)
				if err != nil {
					return fmt.Errorf("%q: bits=%s is not a number", v, val)
				}
				s.col.Bits = n
			}
		case "ff1", "vault":
			if val == "" {
				return fmt.Errorf("%q: %s=DOMAIN names the token domain", v, opt)
			}
			s.col.Action, s.col.Domain, s.vault = pii.ActionTokenize, val, opt == "vault"
			if opt == "ff1" && s.alphabet == nil {
				s.alphabet = tokenize.Digits
			}
		case "alphabet":
			ff1Only = append(ff1Only, opt)
			switch val {
			case "digits":
				s.alphabet = tokenize.Digits
			case "lower-alphanumeric":
				s.alphabet = tokenize.LowerAlphanumeric
			default:
				return fmt.Errorf("%q: alphabet=%s: want digits or lower-alphanumeric", v, val)
			}
		case "keep-last":
			ff1Only = append(ff1Only, opt)
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return fmt.Errorf("%q: keep-last=%s is not a count", v, val)
			}
			s.keepLast = n
		case "aad":
			s.aad = true
			s.col.RecordField = "key column"
		case "migrate":
			s.col.Migrate = true
		case "key":
			s.col.Key = val
			if err := keys.CheckKeyName(s.col.Key); err != nil {
				return fmt.Errorf("%q: %v", v, err)
			}
		default:
			return fmt.Errorf("%q: unknown option %q; want %s", v, p, specSyntax)
		}
	}
	switch {
	case len(indexOnly) > 0 && s.col.Action != pii.ActionBlindIndex:
		return fmt.Errorf("%q: %s= is an option of index= columns", v, indexOnly[0])
	case len(ff1Only) > 0 && (s.col.Action != pii.ActionTokenize || s.vault):
		return fmt.Errorf("%q: %s= is an option of ff1= columns", v, ff1Only[0])
	case s.col.Action == pii.ActionBlindIndex && (s.aad || s.col.Migrate):
		return fmt.Errorf("%q: an index column takes no :aad or :migrate (its source does)", v)
	case s.col.Action == pii.ActionTokenize && s.col.Key != "":
		return fmt.Errorf("%q: token columns use the keysets of their domain, tokenize-DOMAIN; drop :key=", v)
	}
	*c = append(*c, s)
	return nil
}

func runRewrap(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sf, o, code := parseRewrap(args, stderr)
	if sf == nil {
		return code
	}
	return finishRewrap(ctx, sf, o, stdout, stderr)
}

// parseRewrap parses the flags of tillid rewrap; it returns nil flags and
// the exit code when they are not to be run (help, usage errors).
func parseRewrap(args []string, stderr io.Writer) (*storeFlags, *rewrapOpts, int) {
	var sf storeFlags
	var o rewrapOpts
	fs := flag.NewFlagSet("tillid rewrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), rewrapUsage); fs.PrintDefaults() }
	sf.register(fs)
	fs.StringVar(&o.db, "db", "", "the data database: `DSN` sqlite:PATH or postgres://...")
	fs.StringVar(&o.table, "table", "", "the `table` to rewrap")
	fs.StringVar(&o.keyColumn, "key-column", "", "the table's unique key `column` (integer or text), which orders the batches")
	fs.Var(&o.columns, "column", "a protected column: `COLUMN=Type.Field[:ACTION][:key=NAME][:aad][:migrate]` (repeat for several; see above)")
	fs.IntVar(&o.batch, "batch", 1000, "rows per batch and transaction")
	fs.StringVar(&o.job, "job", "", "checkpoint `name` (default: the table, a hash of the columns and of their primary key IDs)")
	fs.BoolVar(&o.restart, "restart", false, "start from the first row, forgetting the checkpoint and the leases (with no other worker running)")
	fs.BoolVar(&o.check, "check", false, "count values per KEYSET/KIND/KEY_ID by their headers only (nothing is decrypted, so a tampered value counts under its header's key; -verify decrypts) and change nothing; exit 5 while any is not under its primary")
	fs.BoolVar(&o.verify, "verify", false, "with -check: decrypt every value, recompute every index, and list the rows that fail")
	fs.DurationVar(&o.lease, "lease", time.Minute, "how long a worker holds a batch before another worker may take it over")
	o.cache.register(fs)
	if len(args) > 0 && (args[0] == "help") {
		args = []string{"-h"}
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil, nil, exitOK
		}
		return nil, nil, exitUsage
	}
	if fs.NArg() > 0 {
		return nil, nil, exitCode(stderr, usagef("rewrap takes no arguments, got %q", fs.Args()))
	}
	return &sf, &o, exitOK
}

// finishRewrap runs the parsed command and returns its exit code.
func finishRewrap(ctx context.Context, sf *storeFlags, o *rewrapOpts, stdout, stderr io.Writer) int {
	skipped, err := rewrap(ctx, sf, o, stdout, stderr)
	if err == nil && !o.check {
		skipped, err = settleRewrap(ctx, sf, o, skipped, stdout, stderr)
	}
	if err == nil && skipped.job > 0 && o.check {
		fmt.Fprintf(stderr, "tillid: %d values are not under their keyset's primary key, are not protected, or failed to verify: do not disable the old keys yet\n", skipped.job)
		return exitRewrapSkips
	}
	if err == nil && skipped.job > 0 {
		fmt.Fprintln(stderr, skipsMessage(skipped, "values could not be rewrapped"))
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

// rewrap runs one pass of the job, or the check, and returns the values it
// left: those not rewrapped (the job's and this run's), or for -check those
// not under their primary or failing to verify.
func rewrap(ctx context.Context, sf *storeFlags, o *rewrapOpts, stdout, stderr io.Writer) (skipped skips, err error) {
	switch {
	case o.db == "" || o.table == "" || o.keyColumn == "" || len(o.columns)+len(o.vault) == 0:
		return skips{}, usagef("rewrap needs -db, -table, -key-column and at least one -column")
	case !identRE.MatchString(o.table), !identRE.MatchString(o.keyColumn):
		return skips{}, usagef("-table and -key-column must be plain identifiers (letters, digits, '_')")
	case o.batch < 1:
		return skips{}, usagef("-batch must be positive")
	case o.verify && !o.check:
		return skips{}, usagef("-verify goes with -check")
	case o.lease <= 0:
		return skips{}, usagef("-lease must be positive")
	}
	if err := o.splitVault(stderr); err != nil {
		return skips{}, err
	}
	if len(o.columns) == 0 && !o.check {
		fmt.Fprintf(stdout, "rewrap %s: nothing to do: vault token columns stay as they are\n", o.table)
		return skips{}, nil
	}
	setup, cancel := context.WithTimeout(ctx, sf.timeout)
	defer cancel()
	store, closeStore, err := sf.open(setup, stderr, false)
	if err != nil {
		return skips{}, err
	}
	defer closeStore()
	p, err := newRewrapProtector(store, o.columns)
	if err != nil {
		return skips{}, err
	}
	if err := mustExist("", o.db, ""); err != nil {
		return skips{}, err
	}
	db, err := openDB(setup, o.db)
	if err != nil {
		return skips{}, err
	}
	defer db.close()
	// The job and lease tables are made in the data database only: a -db
	// without the table is refused before anything is written there.
	if err := checkColumns(setup, db, o.table, o.readColumns()); err != nil {
		return skips{}, fmt.Errorf("-db %s: %v: check -db, -table, -key-column and -column", target(o.db), err)
	}
	e := newEngine(o, p, db)
	if o.check {
		n, err := e.check(ctx, sf, store, stdout, stderr)
		return skips{job: n, run: n}, err
	}
	if o.job == "" {
		// The checkpoint belongs to this table, these columns and the
		// primary keys they are rewrapped to: after another rotation, or
		// with other columns, a run starts from the first row.
		o.job, err = defaultJob(setup, store, o.table, o.columns)
		if err != nil {
			return skips{}, err
		}
	}
	return e.runJob(ctx, sf, stdout, stderr)
}

// readColumns returns the columns of o.table the job or the check reads:
// the key column, each -column and each index's source.
func (o *rewrapOpts) readColumns() []string {
	cols := []string{o.keyColumn}
	for _, c := range append(o.columns, o.vault...) {
		cols = append(cols, c.name)
		if c.source != "" {
			cols = append(cols, c.source)
		}
	}
	return cols
}

// splitVault moves the vault token columns out of o.columns into o.vault
// (the job leaves them; -check counts them), saying so, and checks that
// every index column's source is a column the job can read.
func (o *rewrapOpts) splitVault(stderr io.Writer) error {
	work := o.columns[:0:0]
	for _, c := range o.columns {
		if !c.vault {
			work = append(work, c)
			continue
		}
		o.vault = append(o.vault, c)
		if !o.check {
			fmt.Fprintf(stderr, "rewrap: column %s holds vault tokens of domain %s, which stay as they are: the vault holds their encrypted values; tillid vault rewrap %s re-encrypts those\n", c.name, c.col.Domain, c.col.Domain)
		}
	}
	o.columns = work
	for _, c := range o.columns {
		if c.source == "" {
			continue
		}
		if !identRE.MatchString(c.source) || c.source == o.keyColumn {
			return usagef("column %s: index=%s is not a column the index can be computed from", c.name, c.source)
		}
		for _, s := range append(o.columns, o.vault...) {
			if s.name == c.source && (s.source != "" || s.col.Action == pii.ActionTokenize) {
				return usagef("column %s: its source %s is an index or token column; an index is computed from the plaintext or the encrypted source", c.name, c.source)
			}
		}
	}
	return nil
}

// newRewrapProtector returns a Protector over store with an FPE for each
// ff1 domain of cols.
func newRewrapProtector(store keys.Provider, cols columnSpecs) (*pii.Protector, error) {
	var opts []pii.Option
	seen := map[string]bool{}
	for _, c := range cols {
		if c.col.Action != pii.ActionTokenize || c.vault || seen[c.col.Domain] {
			continue
		}
		seen[c.col.Domain] = true
		var fo []tokenize.Option
		if c.keepLast > 0 {
			fo = append(fo, tokenize.WithVisibleSuffix(c.keepLast))
		}
		f, err := tokenize.NewFPE(store, c.col.Domain, c.alphabet, fo...)
		if err != nil {
			return nil, err
		}
		opts = append(opts, pii.WithFPE(f))
	}
	return pii.New(store, opts...)
}

// keyName is the name of the keyset a column's values are under.
func keyName(c pii.Column) string {
	if c.Action == pii.ActionTokenize {
		return "tokenize-" + c.Domain
	}
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
		fmt.Fprintf(h, "%s=%+v:%s:%s:%t:%d\x00", c.name, c.col, c.source, keyName(c.col), c.aad, ks.PrimaryKeyID())
	}
	return fmt.Sprintf("%s@%x", table, h.Sum(nil)[:6]), nil
}

// kindOf is the kind of the keyset a column's values are under (for a
// vault column, the vault's values).
func kindOf(c pii.Column) keys.Kind {
	switch {
	case c.Action == pii.ActionDeterministic:
		return keys.KindDeterministicAEAD
	case c.Action == pii.ActionBlindIndex, c.Action == pii.ActionPseudonym:
		return keys.KindPRF
	case c.Action == pii.ActionTokenize:
		return keys.KindPRF // FF1 keys derive from the domain's PRF keyset
	}
	return keys.KindAEAD
}

func auditorFor(sf *storeFlags, stderr io.Writer) keys.Auditor {
	if !sf.audit {
		return nil
	}
	return keys.NewSlogAuditor(slogJSON(stderr))
}
