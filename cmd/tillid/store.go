package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/tink-crypto/tink-go/v2/tink"
	_ "modernc.org/sqlite"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/kms"
)

// storeFlags locate the keysets and their KEK.
type storeFlags struct {
	keysetFile    string
	keysetDB      string
	kekURI        string
	kmsEndpoint   string
	masterKeyFile string
	masterKeyEnv  string
	timeout       time.Duration
	audit         bool
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.keysetFile, "keyset-file", "", "keysets in this encrypted keyset `file`")
	fs.StringVar(&f.keysetDB, "keyset-db", "", "keysets in this SQL store: `DSN` sqlite:PATH or postgres://...")
	fs.StringVar(&f.kekURI, "kek-uri", "", "KEK in a KMS: aws-kms://..., gcp-kms://... or hcvault://... `URI`")
	fs.StringVar(&f.kmsEndpoint, "kms-endpoint", "", "AWS KMS endpoint `URL` (an emulator or VPC endpoint)")
	fs.StringVar(&f.masterKeyFile, "master-key-file", "", "KEK from a local master key `file` (32 bytes, base64)")
	fs.StringVar(&f.masterKeyEnv, "master-key-env", "TILLID_MASTER_KEY", "KEK from the environment variable `NAME` holding a master key, when no other KEK is given")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "deadline for each KMS and database call")
	fs.BoolVar(&f.audit, "audit", false, "write key audit events as JSON lines to standard error")
}

func (f *storeFlags) kek(ctx context.Context) (tink.AEAD, func(), error) {
	n := 0
	for _, s := range []string{f.kekURI, f.masterKeyFile} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return nil, nil, usagef("give one KEK: -kek-uri or -master-key-file")
	}
	switch {
	case f.kekURI != "":
		var opts []kms.Option
		if f.kmsEndpoint != "" {
			opts = append(opts, kms.WithAWSEndpoint(f.kmsEndpoint))
		}
		k, err := kms.NewKEK(ctx, f.kekURI, opts...)
		if err != nil {
			return nil, nil, err
		}
		return k, func() { k.Close() }, nil
	case f.masterKeyFile != "":
		k, err := keys.ReadKEKFile(f.masterKeyFile)
		return k, func() {}, err
	default:
		k, err := keys.ReadKEKEnv(f.masterKeyEnv)
		if err != nil {
			return nil, nil, fmt.Errorf("%w (give -kek-uri, -master-key-file or set %s)", err, f.masterKeyEnv)
		}
		return k, func() {}, nil
	}
}

// open opens the keyset store; close releases it. A keyset file or SQLite
// keyset database that does not exist is created only when create is set
// (tillid keys create), so that a mistyped path is an error, not a new,
// empty key store.
func (f *storeFlags) open(ctx context.Context, stderr io.Writer, create bool) (s keys.Manager, closeFn func(), err error) {
	if (f.keysetFile == "") == (f.keysetDB == "") {
		return nil, nil, usagef("give one keyset store: -keyset-file or -keyset-db")
	}
	kek, closeKEK, err := f.kek(ctx)
	if err != nil {
		return nil, nil, err
	}
	if !create {
		if err := mustExist(f.keysetFile, f.keysetDB, " (tillid keys create makes a new key store)"); err != nil {
			closeKEK()
			return nil, nil, err
		}
	}
	var opts []keys.StoreOption
	if create {
		opts = append(opts, keys.WithCreateMissing())
	}
	if f.audit {
		opts = append(opts, keys.WithAuditor(keys.NewSlogAuditor(slogJSON(stderr))))
	}
	if f.keysetFile != "" {
		st, err := keys.OpenFile(f.keysetFile, kek, opts...)
		if err != nil {
			closeKEK()
			return nil, nil, err
		}
		return st, closeKEK, nil
	}
	db, err := openDB(ctx, f.keysetDB)
	if err != nil {
		closeKEK()
		return nil, nil, err
	}
	if !create {
		// keys.OpenSQLite and OpenPostgres create their (empty) table:
		// a database without one is not the key store, and is refused
		// before anything is written there.
		if err := tableExists(ctx, db, keysetTable); err != nil {
			db.close()
			closeKEK()
			return nil, nil, fmt.Errorf("-keyset-db %s holds no keysets (%v): check the DSN (tillid keys create makes a new key store)", target(f.keysetDB), err)
		}
	}
	var st *keys.SQLStore
	switch db.dialect {
	case dialectSQLite:
		st, err = keys.OpenSQLite(ctx, db.sql, kek, opts...)
	default:
		st, err = keys.OpenPostgres(ctx, db.sql, kek, opts...)
	}
	if err != nil {
		db.close()
		closeKEK()
		return nil, nil, err
	}
	return st, func() { db.close(); closeKEK() }, nil
}

type dialect int

const (
	dialectSQLite dialect = iota + 1
	dialectPostgres
)

// database is one SQLite or PostgreSQL database (through pgx's
// database/sql driver).
type database struct {
	dialect dialect
	sql     *sql.DB
}

func (d *database) close() { d.sql.Close() }

// openDB opens "sqlite:PATH" (also "file:PATH") or a postgres:// or
// postgresql:// URL.
func openDB(ctx context.Context, dsn string) (*database, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"), strings.HasPrefix(dsn, "file:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if !strings.HasPrefix(path, "file:") {
			path = "file:" + path
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		db, err := sql.Open("sqlite", path+sep+"_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)")
		if err != nil {
			return nil, err
		}
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("opening %s: %w", dsn, err)
		}
		return &database{dialect: dialectSQLite, sql: db}, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, errors.New("opening the PostgreSQL database: malformed DSN")
		}
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("connecting to PostgreSQL %s: %w", target(dsn), err)
		}
		return &database{dialect: dialectPostgres, sql: db}, nil
	default:
		return nil, usagef("database DSN must start with sqlite:, file:, postgres:// or postgresql://")
	}
}

func slogJSON(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

// mustExist returns an error when the keyset file, or the file of a
// sqlite: DSN, does not exist.
func mustExist(file, dsn, hint string) error {
	path := file
	if path == "" {
		rest, ok := strings.CutPrefix(dsn, "sqlite:")
		if !ok {
			rest, ok = strings.CutPrefix(dsn, "file:")
		}
		if !ok {
			return nil // a server database
		}
		path, _, _ = strings.Cut(strings.TrimPrefix(rest, "file:"), "?")
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s does not exist: check the path%s", path, hint)
	}
	return nil
}

// openExisting is openDB for a database that must already exist: a sqlite:
// DSN naming a missing file is refused (mustExist) instead of being created
// empty. Every subcommand that reads or changes a data, subject-key or
// ledger database opens it through here; only tillid keys create and
// -create-ledger make a new one.
func openExisting(ctx context.Context, dsn string) (*database, error) {
	if err := mustExist("", dsn, ""); err != nil {
		return nil, err
	}
	return openDB(ctx, dsn)
}

// keysetTable is the table of the SQL keyset stores (keys.OpenSQLite and
// keys.OpenPostgres without keys.WithTable).
const keysetTable = "tillid_keysets"

// ledgerTable is the table of the erasure ledger the CLI opens.
const ledgerTable = "tillid_erasure_ledger"

// openLedger opens the erasure ledger of dsn. Unless create is set
// (-create-ledger), a missing SQLite file or a database without the ledger
// table is refused, so that a mistyped -ledger-db is an error instead of a
// new ledger that holds the receipt where no restore will look for it. With
// write set, it also checks that the ledger takes writes, before any key is
// destroyed.
func openLedger(ctx context.Context, dsn string, create, write bool) (*keys.SQLLedger, func(), error) {
	open := openExisting
	if create {
		open = openDB
	}
	db, err := open(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	if !create {
		if err := tableExists(ctx, db, ledgerTable); err != nil {
			db.close()
			return nil, nil, fmt.Errorf("the erasure ledger %s: %w (give -create-ledger to start a new ledger)", target(dsn), err)
		}
	}
	var l *keys.SQLLedger
	if db.dialect == dialectSQLite {
		l, err = keys.OpenSQLiteLedger(ctx, db.sql)
	} else {
		l, err = keys.OpenPostgresLedger(ctx, db.sql)
	}
	if err == nil && write {
		err = ledgerWritable(ctx, db)
	}
	if err != nil {
		db.close()
		return nil, nil, err
	}
	return l, db.close, nil
}

// ledgerWritable returns an error unless the ledger table takes an INSERT:
// on PostgreSQL the INSERT privilege, on SQLite a write transaction (a
// DELETE of no row, rolled back), which a read-only file or a locked
// database refuses.
func ledgerWritable(ctx context.Context, db *database) error {
	if db.dialect == dialectPostgres {
		var ok bool
		if err := db.sql.QueryRowContext(ctx, `SELECT has_table_privilege(to_regclass($1), 'INSERT')`, ledgerTable).Scan(&ok); err != nil {
			return fmt.Errorf("checking the erasure ledger is writable: %w", err)
		}
		if !ok {
			return errors.New("the erasure ledger is not writable: no INSERT privilege on " + ledgerTable)
		}
		return nil
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("checking the erasure ledger is writable: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM `+quote(ledgerTable)+` WHERE 0`); err != nil {
		return fmt.Errorf("the erasure ledger is not writable: %w", err)
	}
	return nil
}

// tableExists returns an error naming table unless it exists in db.
func tableExists(ctx context.Context, db *database, table string) error {
	_, err := tableColumns(ctx, db, table)
	return err
}

// tableColumns returns the column names of table in db (PRAGMA table_info
// on SQLite, information_schema.columns on PostgreSQL, in the search path),
// or an error when there is no such table.
func tableColumns(ctx context.Context, db *database, table string) (map[string]bool, error) {
	var q string
	if db.dialect == dialectSQLite {
		q = `SELECT name FROM pragma_table_info(?)`
	} else {
		q = `SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND table_schema = ANY(current_schemas(false))`
	}
	rows, err := db.sql.QueryContext(ctx, q, table)
	if err != nil {
		return nil, fmt.Errorf("reading the columns of %s: %w", table, err)
	}
	defer rows.Close()
	cols := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		cols[c] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("no table %s", table)
	}
	return cols, nil
}

// checkColumns returns an error unless table exists in db and has every
// column of cols.
func checkColumns(ctx context.Context, db *database, table string, cols []string) error {
	have, err := tableColumns(ctx, db, table)
	if err != nil {
		return err
	}
	for _, c := range cols {
		if !have[c] {
			return fmt.Errorf("table %s has no column %s", table, c)
		}
	}
	return nil
}
