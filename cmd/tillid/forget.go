package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tillid/tillid/internal/tag"
	"github.com/tillid/tillid/keys"
)

const forgetUsage = `Usage:
  tillid forget   [flags] -subject-db DSN -ledger-db DSN [table flags] [vault flags] SUBJECT...
  tillid withdraw [flags] -subject-db DSN -ledger-db DSN -purpose NAME [-clear flags] SUBJECT...

Forget erases data subjects (GDPR Art. 17) by crypto-shredding: it destroys
every subject key of each SUBJECT in the subject-key store, leaves a
tombstone (so that no new key is made for them until the application allows
them again) and appends the erasure to the ledger, which must live apart
from the data and the key store. Withdraw destroys only the keys of one
purpose (consent withdrawn). Both are idempotent: run them again after a
failure; the ledger records an erasure once, however often it is asked
for. Subjects the store never held are recorded too (a note on standard
error says when a subject had no keys, in case its ID is mistyped).

Withdraw refuses, as a usage error before anything is erased, a -purpose
that no field can declare (not a purpose= name of the tags: a-z, 0-9, '_'
and '-', starting with a letter, at most 64 characters). A well-formed
purpose of which a subject has no key is recorded (requests may come for
purposes one does not hold), with a warning on standard error for that
subject and a count of them at the end; a misspelt purpose ("marketting")
shows up there. -known-purposes billing,marketing (default
$TILLID_KNOWN_PURPOSES) names the purposes the application declares (see
tillid inventory) and refuses any other -purpose.

Values sealed under the destroyed keys need no change. The columns that are
not under subject keys (blind indexes, pseudonyms, FF1 tokens), which would
still find or link the person's rows, are set to NULL with -clear, in the
rows whose -subject-column holds the subject; forget -delete deletes those
rows instead. The -subject-column itself, primary-key columns and NOT NULL
columns cannot be cleared (the row would be orphaned, or the UPDATE would
fail after the keys are gone). Withdraw never deletes a row: it takes
-clear only, naming the columns of that purpose alone (a blind index of a
marketing field, say); the subject's other data stays. A column that holds
values sealed under subject keys (tl1s:, tl1r:) in the subjects' rows is
refused for withdraw: the purpose's values need no clearing (their key is
gone), and the column may hold the subject's other data.

With -vault-db, forget also deletes the subjects' vault tokens (as
pii.Protector.Forget does WithVault), in every domain the vault holds or
in those of -vault-domain, each under its keyset tokenize-DOMAIN
(-vault-key-name for one domain), and counts them in the receipt. Without
it, vault tokens are not deleted, and a note on standard error says so.

Before any key is destroyed, the command checks: the subject IDs, the
keysets subject-keys (aead) and subject-pseudonym (prf), the ledger (it must
exist, be reachable and writable; give -create-ledger once to start a new
one), the subject-key store (its table must exist, so that a mistyped
-subject-db is refused; -create-subject-store starts an empty one), the -table and its columns, that every subject ID fits the
-subject-column (on an integer column, INTEGER on SQLite or smallint, integer
or bigint on PostgreSQL, each ID must be in canonical decimal form, as the
application binds it: "042", "+42" or "4.2e1" would match row 42 through the
database's conversion while the keys are under "42", so they are a usage
error), and the vault's domains and their keysets; and, for each
subject just before its keys, that the database takes the change of its
rows (tried in a transaction that is rolled back: a foreign key that a
-delete would break stops the erasure of that subject, nothing destroyed).

SUBJECT arguments (or -subject ID, repeated), taken exactly as given, may
be replaced by -subjects FILE ("-" for standard input): one ID a line; blank lines and lines starting
with # are skipped, and white space around an ID (a CR of CRLF line ends
included) is dropped. An empty ID, one with control characters, or more
than 1024 bytes is a usage error naming its line or argument, and nothing
is erased. A repeated ID is erased once.

One receipt a subject is printed (-json for JSON lines), naming the
subject by its keyed pseudonym only: the purpose ("*" for forget), the
time of the first erasure, destroyed (the purposes whose keys this run
destroyed; "" is the base key), earlier (those an earlier run of the same
erasure destroyed, on a retry or repeat), tokens (vault tokens deleted)
and rows (rows cleared or deleted). A subject whose rows were changed
while no key of it was destroyed, by this run or an earlier one (the store
never held it under that ID), gets a warning on standard error, and the
command exits 1 after printing every receipt: check the ID's exact form;
if those rows held nothing under subject keys, the warning is expected.

Example:
  tillid forget -keyset-db postgres://app@db/keys -kek-uri aws-kms://... \
    -subject-db postgres://app@db/keys -ledger-db postgres://app@ledger/ledger \
    -db postgres://app@db/app -table customers -subject-column id \
    -clear email_idx -clear alias -vault-db postgres://app@db/app c-1042

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
	subjectFlags        flagList
	purpose             string
	knownPurposes       string
	json                bool
	createLedger        bool
	createStore         bool
	vaultDB             string
	vaultDomains        flagList
	vaultKeyName        string
}

// columnNames is a repeated -clear flag.
type columnNames []string

func (c *columnNames) String() string { return strings.Join(*c, ",") }

func (c *columnNames) Set(v string) error {
	if !identRE.MatchString(v) {
		return fmt.Errorf("%q is not a column name", v)
	}
	if slices.Contains(*c, v) {
		return fmt.Errorf("column %s is given twice", v)
	}
	*c = append(*c, v)
	return nil
}

// flagList is a repeated flag (-vault-domain, -subject).
type flagList []string

func (d *flagList) String() string { return strings.Join(*d, ",") }

func (d *flagList) Set(v string) error {
	*d = append(*d, v)
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
	fs.StringVar(&o.db, "db", "", "the data database whose rows -clear (or forget -delete) changes: `DSN`")
	fs.StringVar(&o.table, "table", "", "the data `table`")
	fs.StringVar(&o.column, "subject-column", "", "the table's `column` holding the subject ID")
	fs.Var(&o.clear, "clear", "a `column` to set to NULL in the subject's rows (repeat for several); not the -subject-column, a primary-key or a NOT NULL column")
	fs.StringVar(&o.subjectsFile, "subjects", "", "read subject IDs from this `file`, one a line, # comments (- for standard input)")
	fs.Var(&o.subjectFlags, "subject", "a subject `ID`, as an argument is (repeat for several)")
	fs.BoolVar(&o.json, "json", false, "print receipts as JSON lines")
	fs.BoolVar(&o.createLedger, "create-ledger", false, "create the erasure ledger (its SQLite file and table) if it does not exist; otherwise a missing ledger is an error")
	fs.BoolVar(&o.createStore, "create-subject-store", false, "create the subject-key table in -subject-db if it does not exist (to record requests before the application stored any subject); otherwise a missing one is an error")
	if withdraw {
		fs.StringVar(&o.purpose, "purpose", "", "the `purpose` whose consent is withdrawn")
		fs.StringVar(&o.knownPurposes, "known-purposes", os.Getenv("TILLID_KNOWN_PURPOSES"), "the purposes the application declares, comma-separated (`LIST`); a -purpose outside it is refused (default $TILLID_KNOWN_PURPOSES)")
		fs.BoolVar(&o.del, "delete", false, "refused: withdraw never deletes rows (tillid forget -delete does)")
	} else {
		fs.BoolVar(&o.del, "delete", false, "delete the subject's rows")
		fs.StringVar(&o.vaultDB, "vault-db", "", "also delete the subjects' tokens from the token vault in this `DSN` (sqlite:PATH or postgres://...)")
		fs.Var(&o.vaultDomains, "vault-domain", "a vault `domain` whose tokens to delete (repeat for several; default: every domain of -vault-db)")
		fs.StringVar(&o.vaultKeyName, "vault-key-name", "", "the keyset `name` of the one -vault-domain (tokenize.WithKeyName); default tokenize-DOMAIN")
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	var err error
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "subjects" && o.subjectsFile == "" {
			err = usagef(`-subjects "": give a file name, or - for standard input; nothing was erased`)
		}
	})
	var subjects []subjectID
	var repeats int
	if err == nil {
		subjects, repeats, err = subjectArgs(o.subjectFlags, fs.Args(), o.subjectsFile, os.Stdin)
	}
	if err == nil {
		err = o.check(withdraw, &sf)
	}
	if err != nil {
		return exitCode(stderr, err)
	}
	if repeats > 0 {
		fmt.Fprintf(stderr, "tillid: note: %d repeated subject IDs are erased once\n", repeats)
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
	case sameDB(o.ledgerDB, o.subjectDB) || (o.db != "" && sameDB(o.ledgerDB, o.db)) || (o.vaultDB != "" && sameDB(o.ledgerDB, o.vaultDB)):
		return usagef("the ledger must live apart from the key store and the data (-ledger-db), or a restore loses it too")
	case withdraw && o.del:
		return usagef("withdraw never deletes rows: the subject's other data stays; name the columns of that purpose only with -clear (tillid forget -delete erases a subject's rows); nothing was erased")
	case withdraw && (o.purpose == "" || o.purpose == keys.AllPurposes):
		return usagef("withdraw needs -purpose NAME (tillid forget erases every purpose)")
	case withdraw && !validPurpose(o.purpose):
		return checkPurposeName("-purpose", o.purpose)
	case withdraw && o.knownPurposes != "":
		if err := checkKnownPurpose(o.purpose, o.knownPurposes); err != nil {
			return err
		}
	case len(o.clear) > 0 && o.del:
		return usagef("give -clear or -delete, not both: -delete deletes the whole rows")
	case (len(o.clear) > 0 || o.del) && (o.db == "" || o.table == "" || o.column == ""):
		return usagef("-clear and -delete need -db, -table and -subject-column")
	case (o.table != "" || o.column != "") && len(o.clear) == 0 && !o.del:
		return usagef("-table and -subject-column are for -clear or -delete")
	case o.table != "" && (!identRE.MatchString(o.table) || !identRE.MatchString(o.column)):
		return usagef("-table and -subject-column must be plain identifiers")
	case slices.Contains(o.clear, o.column):
		return usagef("-clear %s is the -subject-column: clearing it would orphan the rows (nothing could find them to delete later); use -delete to delete the rows", o.column)
	case o.vaultDB == "" && (len(o.vaultDomains) > 0 || o.vaultKeyName != ""):
		return usagef("-vault-domain and -vault-key-name need -vault-db")
	case o.vaultKeyName != "" && len(o.vaultDomains) != 1:
		return usagef("-vault-key-name names the keyset of one domain: give exactly one -vault-domain")
	}
	return nil
}

// checkPurposeName returns a usage error when p is no purpose a field can
// declare under a subject key: a purpose= name of the tags (a-z, 0-9, '_'
// and '-', starting with a letter) of at most 64 bytes.
func checkPurposeName(flagName, p string) error {
	if !validPurpose(p) {
		return usagef("%s %q: no field can have that purpose; a purpose is a purpose= name of the tags: a-z, 0-9, '_' and '-', starting with a letter, at most 64 characters (nothing was erased)", flagName, p)
	}
	return nil
}

// validPurpose reports whether p is a purpose a field can declare under a
// subject key (see checkPurposeName).
func validPurpose(p string) bool { return tag.IsPurpose(p) && keys.CheckKeyName(p) == nil }

// checkKnownPurpose returns a usage error when purpose is not in list, the
// comma-separated -known-purposes.
func checkKnownPurpose(purpose, list string) error {
	known := strings.Split(list, ",")
	for i, k := range known {
		known[i] = strings.TrimSpace(k)
		if err := checkPurposeName("-known-purposes", known[i]); err != nil {
			return err
		}
	}
	if !slices.Contains(known, purpose) {
		return usagef("-purpose %s is not one of -known-purposes %s: check its spelling (nothing was erased)", purpose, strings.Join(known, ","))
	}
	return nil
}

// sameDB reports whether two DSNs name the same database: the same
// string, or SQLite DSNs of the same file.
func sameDB(a, b string) bool {
	if a == b {
		return true
	}
	pa, pb := sqlitePath(a), sqlitePath(b)
	if pa == "" || pb == "" {
		return false
	}
	aa, err1 := filepath.Abs(pa)
	ab, err2 := filepath.Abs(pb)
	return err1 == nil && err2 == nil && aa == ab
}

// sqlitePath is the file of a sqlite: or file: DSN, or "".
func sqlitePath(dsn string) string {
	rest, ok := strings.CutPrefix(dsn, "sqlite:")
	if !ok {
		if rest, ok = strings.CutPrefix(dsn, "file:"); !ok {
			return ""
		}
	}
	path, _, _ := strings.Cut(strings.TrimPrefix(rest, "file:"), "?")
	return path
}

// erasureStores are what an erasure opens: the keyset store (the
// provider) and the subject keys over the subject-key store and the
// ledger.
type erasureStores struct {
	provider keys.Provider
	sk       *keys.SubjectKeys
	close    func()
}

// openErasureStores opens the keyset store, checks that it holds the
// keysets subject keys need, and opens the subject-key store and the
// ledger. The ledger must exist unless createLedger is set, and must be
// writable; the subject-key table must exist unless createStore is set, so
// that a mistyped -subject-db naming another database is refused instead
// of taking tombstones while the real keys stay. Nothing is erased by it.
func openErasureStores(ctx context.Context, sf *storeFlags, subjectDB, ledgerDB string, createLedger, createStore bool, stderr io.Writer) (*erasureStores, error) {
	provider, closeStore, err := sf.open(ctx, stderr, false)
	if err != nil {
		return nil, err
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
		return nil, err
	}
	closers = append(closers, sdb.close)
	if err := checkSubjectKeysets(ctx, sf, provider, sdb); err != nil {
		closeAll()
		return nil, err
	}
	if !createStore {
		if err := tableExists(ctx, sdb, subjectKeyTable); err != nil {
			closeAll()
			return nil, fmt.Errorf("the subject-key store %s: %w: check -subject-db (the application makes the table on its first Protect under subject keys; give -create-subject-store to start an empty one)", target(subjectDB), err)
		}
	}
	ledger, closeLedger, err := openLedger(ctx, ledgerDB, createLedger, true)
	if err != nil {
		closeAll()
		return nil, err
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
		return nil, err
	}
	return &erasureStores{provider: provider, sk: sk, close: closeAll}, nil
}

// subjectKeyTable is the table of the subject-key store the CLI opens.
const subjectKeyTable = "tillid_subject_keys"

// subjectKeysets are the keysets keys.SubjectKeys takes from the provider
// under their default names.
var subjectKeysets = []struct {
	id   keys.KeysetID
	role string
}{
	{keys.KeysetID{Name: "subject-keys", Kind: keys.KindAEAD}, "wraps the subject keys"},
	{keys.KeysetID{Name: "subject-pseudonym", Kind: keys.KindPRF}, "makes the subjects' pseudonyms"},
}

// checkSubjectKeysets returns an error naming each missing keyset of
// subjectKeysets and the tillid keys create command that makes it; but
// when the subject-key store sdb holds keys already, the keyset store is
// not the one they were made with, and new keysets would not find them:
// then it says to check -keyset-db instead.
func checkSubjectKeysets(ctx context.Context, sf *storeFlags, provider keys.Provider, sdb *database) error {
	var missing, commands []string
	for _, k := range subjectKeysets {
		_, err := provider.Keyset(ctx, k.id.Name, k.id.Kind)
		switch {
		case errors.Is(err, keys.ErrKeyNotFound):
			missing = append(missing, fmt.Sprintf("%s (kind %s, which %s)", k.id.Name, k.id.Kind, k.role))
			commands = append(commands, "  "+keysCreateCommand(sf, k.id))
		case err != nil:
			return fmt.Errorf("the keyset %s (kind %s, which %s): %w", k.id.Name, k.id.Kind, k.role, err)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var held int64
	if tableExists(ctx, sdb, subjectKeyTable) == nil {
		if err := sdb.sql.QueryRowContext(ctx, `SELECT count(*) FROM `+quote(subjectKeyTable)).Scan(&held); err != nil {
			return fmt.Errorf("reading the subject-key store: %w", err)
		}
	}
	if held > 0 {
		return fmt.Errorf("the keyset store lacks the subject keysets %s, yet the subject-key store holds %d rows, made with them: check that -keyset-db (or -keyset-file) is the application's keyset store; new keysets would not find those keys, nothing was erased: %w", strings.Join(missing, " and "), held, keys.ErrKeyNotFound)
	}
	return fmt.Errorf("the keyset store lacks the subject keysets %s; create them once with\n%s\nand run again (nothing was erased): %w", strings.Join(missing, " and "), strings.Join(commands, "\n"), keys.ErrKeyNotFound)
}

// keysCreateCommand is the tillid keys create command that makes keyset
// id in the keyset store of sf, with the same KEK flags.
func keysCreateCommand(sf *storeFlags, id keys.KeysetID) string {
	cmd := []string{"tillid", "keys", "create"}
	if sf.keysetFile != "" {
		cmd = append(cmd, "-keyset-file", sf.keysetFile)
	} else {
		cmd = append(cmd, "-keyset-db", target(sf.keysetDB))
	}
	switch {
	case sf.kekURI != "":
		cmd = append(cmd, "-kek-uri", sf.kekURI)
		if sf.kmsEndpoint != "" {
			cmd = append(cmd, "-kms-endpoint", sf.kmsEndpoint)
		}
	case sf.masterKeyFile != "":
		cmd = append(cmd, "-master-key-file", sf.masterKeyFile)
	case sf.masterKeyEnv != "TILLID_MASTER_KEY":
		cmd = append(cmd, "-master-key-env", sf.masterKeyEnv)
	}
	if id.Kind != keys.KindAEAD {
		cmd = append(cmd, "-kind", id.Kind.String())
	}
	cmd = append(cmd, id.Name)
	for i, a := range cmd {
		cmd[i] = shellQuote(a)
	}
	return strings.Join(cmd, " ")
}

// shellWord matches the words a POSIX shell takes as they are.
var shellWord = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

// shellQuote quotes a for a POSIX shell, so that a printed command runs
// as printed (a DSN holds '?' and '&').
func shellQuote(a string) string {
	if shellWord.MatchString(a) {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}

// receipt is one printed erasure receipt.
type receipt struct {
	Pseudonym string    `json:"pseudonym"`
	Purpose   string    `json:"purpose"`
	Time      time.Time `json:"time"`
	Destroyed []string  `json:"destroyed"`
	// Earlier lists the purposes whose keys an earlier run of the same
	// erasure destroyed (a retry or a repeat), as the ledger holds them.
	Earlier []string `json:"earlier,omitempty"`
	Tokens  int64    `json:"tokens"`
	Rows    int64    `json:"rows"`
}

func forget(ctx context.Context, sf *storeFlags, o *erasureOpts, subjects []subjectID, withdraw bool, stdout, stderr io.Writer) error {
	setup, cancel := context.WithTimeout(ctx, sf.timeout)
	defer cancel()
	st, err := openErasureStores(setup, sf, o.subjectDB, o.ledgerDB, o.createLedger, o.createStore, stderr)
	if err != nil {
		return err
	}
	defer st.close()
	// Every check before any key is destroyed: a missing table or column,
	// a subject ID the column cannot hold, or a vault keyset missing would
	// otherwise fail after the keys are gone, with the rows untouched.
	var data *database
	if len(o.clear) > 0 || o.del {
		if data, err = openExisting(setup, o.db); err != nil {
			return err
		}
		defer data.close()
		if err := checkErasureTable(setup, data, o); err != nil {
			return err
		}
		if err := checkIntegerSubjects(setup, data, o, subjects); err != nil {
			return err
		}
		if _, err := checkSubjectsFit(ctx, sf.timeout, data, o, subjects); err != nil {
			return err
		}
		if withdraw {
			if err := checkWithdrawClears(ctx, sf.timeout, data, o, subjects); err != nil {
				return err
			}
		}
	}
	var vault *vaultEraser
	if o.vaultDB != "" {
		v, closeVault, err := openVaultEraser(setup, st.provider, o)
		if err != nil {
			return err
		}
		defer closeVault()
		vault = v
	} else if !withdraw {
		// Say so, so that no one takes a receipt for the whole erasure.
		fmt.Fprintln(stderr, "tillid: note: vault tokens are not deleted (no -vault-db): give -vault-db, or run the application's pii.Protector.Forget (built WithVault)")
	}
	cancel()
	enc := json.NewEncoder(stdout)
	noPurposeKey := 0         // withdraw: the subjects without a key of the purpose
	var keyless []keylessRows // rows changed, but no key of the subject destroyed
	for _, s := range subjects {
		r, err := eraseOne(ctx, sf, st.sk, data, vault, o, s, withdraw)
		if err != nil {
			// No subject ID in the message: its place tells which.
			return fmt.Errorf("%s: %w (the subjects before it are done; run again to finish)", s.where, err)
		}
		switch {
		case withdraw && len(r.Destroyed)+len(r.Earlier) == 0:
			noPurposeKey++
			fmt.Fprintf(stderr, "tillid: warning: %s: no key of purpose %s was found for the subject; the withdrawal is recorded (check -purpose and the ID)\n", s.where, o.purpose)
		case len(r.Destroyed)+len(r.Earlier) == 0 && r.Tokens == 0 && r.Rows == 0:
			fmt.Fprintf(stderr, "tillid: note: %s: the stores held nothing of this subject; the request is recorded (check the ID if you expected data)\n", s.where)
		case data != nil && r.Rows == 0:
			fmt.Fprintf(stderr, "tillid: note: %s: no row of %s has the subject in %s (check -table and -subject-column if you expected some)\n", s.where, o.table, o.column)
		case r.keyless():
			keyless = append(keyless, keylessRows{where: s.where, rows: r.Rows})
		}
		if o.json {
			if err := enc.Encode(r); err != nil {
				return err
			}
			continue
		}
		line := fmt.Sprintf("%s purpose=%s at %s destroyed=%d", r.Pseudonym, r.Purpose, r.Time.Format(time.RFC3339Nano), len(r.Destroyed))
		if len(r.Earlier) > 0 {
			line += fmt.Sprintf(" earlier=%d", len(r.Earlier))
		}
		if !withdraw {
			line += fmt.Sprintf(" tokens=%d", r.Tokens)
		}
		fmt.Fprintf(stdout, "%s rows=%d\n", line, r.Rows)
	}
	if noPurposeKey > 0 {
		hint := ""
		if o.knownPurposes == "" {
			hint = "; give -known-purposes (or TILLID_KNOWN_PURPOSES) to refuse a misspelt purpose"
		}
		fmt.Fprintf(stderr, "tillid: warning: %d of %d subjects had no key of purpose %s%s\n", noPurposeKey, len(subjects), o.purpose, hint)
	}
	return warnKeyless(stderr, o, keyless)
}

// eraseOne erases one subject: its keys, then its vault tokens, then its
// rows, each idempotent, so that a run after a failure completes it.
func eraseOne(ctx context.Context, sf *storeFlags, sk *keys.SubjectKeys, data *database, vault *vaultEraser, o *erasureOpts, s subjectID, withdraw bool) (receipt, error) {
	ctx, cancel := context.WithTimeout(ctx, sf.timeout)
	defer cancel()
	if data != nil {
		if err := rehearseRows(ctx, data, o, s); err != nil {
			return receipt{}, err
		}
	}
	var e keys.Erasure
	var err error
	if withdraw {
		e, err = sk.Withdraw(ctx, s.id, o.purpose)
	} else {
		e, err = sk.Forget(ctx, s.id)
	}
	if err != nil {
		return receipt{}, err
	}
	r := receipt{Pseudonym: e.Pseudonym.String(), Purpose: e.Purpose, Time: e.Time.UTC(), Destroyed: e.Destroyed, Earlier: e.Earlier}
	if r.Destroyed == nil {
		r.Destroyed = []string{}
	}
	if vault != nil {
		if r.Tokens, err = vault.deleteSubject(ctx, s); err != nil {
			return receipt{}, fmt.Errorf("the subject keys are erased, but %w", err)
		}
	}
	if data != nil {
		if r.Rows, err = clearRows(ctx, data, o, s); err != nil {
			return receipt{}, fmt.Errorf("the subject keys are erased, but %w", err)
		}
	}
	sk.AuditErasure(ctx, e, r.Tokens)
	return r, nil
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
	if !reapply && subjectDB != "" {
		return exitCode(stderr, usagef("-subject-db is for -reapply; listing reads the ledger alone"))
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
		st, err := openErasureStores(ctx, &sf, subjectDB, ledgerDB, false, false, stderr)
		if err != nil {
			return exitCode(stderr, err)
		}
		defer st.close()
		n, err := st.sk.ReapplyErasures(ctx, from)
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
	// A ledger written before repeats were recorded once may hold an
	// erasure twice (same subject, purpose and time): list it once, as
	// -reapply counts it.
	type erasureKey struct {
		p       keys.Pseudonym
		purpose string
		at      int64
	}
	seen := map[erasureKey]bool{}
	listed := 0
	for _, e := range entries {
		if e.Op == keys.LedgerErase {
			k := erasureKey{e.Pseudonym, e.Purpose, e.Time.UnixMicro()}
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		listed++
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
	if !asJSON && listed == 0 {
		fmt.Fprintln(stdout, "no erasures")
	}
	return nil
}
