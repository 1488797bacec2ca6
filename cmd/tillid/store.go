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
