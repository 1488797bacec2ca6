package keys

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tillid/tillid/keys/internal/subjectsql"
)

// defaultSubjectTable is the table of a SQL subject-key store unless
// WithTable says otherwise.
const defaultSubjectTable = "tillid_subject_keys"

// SQLSubjectKeyStore is a [SubjectKeyStore] in one SQL table that many
// processes share: SQLite ([OpenSQLiteSubjectKeyStore]) or PostgreSQL
// ([OpenPostgresSubjectKeyStore]). The table has one row per (pseudonym,
// purpose), keyed by (pseudonym, purpose) (in SQLite a WITHOUT ROWID
// table, clustered on that key, so no separate index), and one subject
// row (pseudonym, "*") per forgotten subject, so that reading or erasing
// one subject among millions is an index lookup. Every subject has a base
// row (purpose ""), which holds its base key or NULL and serves as its
// lock. A key row holds the 16-byte pseudonym, the purpose, the 65-byte
// wrapped seed and the creation time: 89 bytes plus the purpose's length,
// before the database's own row overhead.
//
// [SubjectKeys.Keys] of a batch of 10,000 new subjects with base keys
// costs five round trips on SQLite (a read, then one transaction: BEGIN,
// insert the base rows with their keys, read them, COMMIT) and six on
// PostgreSQL (which also locks the base rows with SELECT ... FOR UPDATE),
// plus a few per further 10,000 (SQLite allows 32,766 parameters per
// statement, PostgreSQL 65,535) and one insert for keys of purposes. An
// erasure is one transaction of four or five statements: lock the base
// row (and, for Forget, upsert the subject row), list the live keys, clear
// their key material and write the tombstone, read the erasure time.
// Because every change of a subject first writes or locks its base row
// (in pseudonym order), a creation and an erasure of the same subject are
// serialised (PostgreSQL row locks; SQLite runs one writer at a time), and
// overlapping batches do not deadlock.
//
// Measured with 100,000 subjects of one key each (page count times page
// size, or pg_total_relation_size, over the subjects): SQLite stores 110
// bytes per subject (the one row and B-tree overhead), PostgreSQL 181
// (with its 24-byte tuple headers and the primary-key index). Tables of
// earlier versions, with a subject row per subject (151 and 295 bytes),
// are read and written as they are; new subjects get one row.
//
// Erased key material is overwritten with NULL. SQLite may keep the old
// bytes in free pages until they are reused: open SQLite with
// _pragma=secure_delete(1) to overwrite them at once. PostgreSQL keeps old
// row versions until VACUUM; both keep them in their write-ahead logs and
// backups for as long as those are kept (see [SubjectKeys.ReapplyErasures]).
//
// A SQLSubjectKeyStore is safe for concurrent use.
type SQLSubjectKeyStore struct {
	s *subjectsql.Store
}

var _ SubjectKeyStore = (*SQLSubjectKeyStore)(nil)

// OpenSQLiteSubjectKeyStore returns a [SQLSubjectKeyStore] in the SQLite
// database db (opened with a driver such as modernc.org/sqlite, with a
// busy timeout, as for [OpenSQLite]), creating its table
// (tillid_subject_keys unless [WithTable] says otherwise) if it does not
// exist. It accepts only [WithTable]. The caller keeps ownership of db.
func OpenSQLiteSubjectKeyStore(ctx context.Context, db *sql.DB, opts ...StoreOption) (*SQLSubjectKeyStore, error) {
	return openSubjectSQL(ctx, db, subjectsql.SQLite, "SQLite", opts)
}

// OpenPostgresSubjectKeyStore returns a [SQLSubjectKeyStore] in the
// PostgreSQL database db (opened with a driver such as
// github.com/jackc/pgx/v5/stdlib), creating its table
// (tillid_subject_keys unless [WithTable] says otherwise) if it does not
// exist, under an advisory lock. It accepts only [WithTable]. The caller
// keeps ownership of db.
func OpenPostgresSubjectKeyStore(ctx context.Context, db *sql.DB, opts ...StoreOption) (*SQLSubjectKeyStore, error) {
	return openSubjectSQL(ctx, db, subjectsql.Postgres, "PostgreSQL", opts)
}

func openSubjectSQL(ctx context.Context, db *sql.DB, d subjectsql.Dialect, name string, opts []StoreOption) (*SQLSubjectKeyStore, error) {
	table, err := sqlTableOption(db, opts, defaultSubjectTable)
	if err != nil {
		return nil, err
	}
	s, err := subjectsql.Open(ctx, db, d, table)
	if err != nil {
		return nil, fmt.Errorf("keys: creating the %s subject-key table: %w", name, err)
	}
	return &SQLSubjectKeyStore{s: s}, nil
}

// sqlTableOption reads the options of a subject-key store or ledger.
func sqlTableOption(db *sql.DB, opts []StoreOption, def string) (string, error) {
	if db == nil {
		return "", errors.New("keys: nil database")
	}
	c, err := newStoreConfig(opts)
	if err != nil {
		return "", err
	}
	if c.ttlSet || c.auditor != nil {
		return "", errors.New("keys: subject-key stores and ledgers accept only WithTable")
	}
	if c.table == defaultTable {
		return def, nil
	}
	return c.table, nil
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func pseudonymBytes(ps []Pseudonym) [][]byte {
	out := make([][]byte, len(ps))
	for i := range ps {
		out[i] = ps[i][:]
	}
	return out
}

func fromSQLRows(rows []subjectsql.Row) ([]SubjectKeyRow, error) {
	out := make([]SubjectKeyRow, 0, len(rows))
	for _, r := range rows {
		if len(r.Pseudonym) != PseudonymSize {
			return nil, fmt.Errorf("keys: subject-key row with a %d-byte pseudonym", len(r.Pseudonym))
		}
		row := SubjectKeyRow{Pseudonym: Pseudonym(r.Pseudonym), Purpose: r.Purpose, Wrapped: r.Wrapped, Created: fromMicros(r.Created)}
		if r.Erased > 0 {
			row.Erased = fromMicros(r.Erased)
		} else {
			row.Shredded = fromMicros(-r.Erased)
		}
		out = append(out, row)
	}
	return out, nil
}

func (s *SQLSubjectKeyStore) ready(ctx context.Context) error {
	if s == nil || s.s == nil {
		return errors.New("keys: SQLSubjectKeyStore not opened; use OpenSQLiteSubjectKeyStore or OpenPostgresSubjectKeyStore")
	}
	if ctx == nil {
		return errors.New("keys: nil context; pass context.Background()")
	}
	return nil
}

// Load implements [SubjectKeyStore] with one SELECT ... WHERE pseudonym
// IN (...) per up to 32,766 pseudonyms.
func (s *SQLSubjectKeyStore) Load(ctx context.Context, pseudonyms []Pseudonym) ([]SubjectKeyRow, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	rows, err := s.s.Load(ctx, pseudonymBytes(unique(pseudonyms)))
	if err != nil {
		return nil, err
	}
	return fromSQLRows(rows)
}

func unique(ps []Pseudonym) []Pseudonym {
	seen := make(map[Pseudonym]bool, len(ps))
	out := make([]Pseudonym, 0, len(ps))
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// Create implements [SubjectKeyStore] in one transaction.
func (s *SQLSubjectKeyStore) Create(ctx context.Context, rows []SubjectKeyRow) ([]SubjectKeyRow, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	ps := make([]Pseudonym, len(rows))
	for i := range rows {
		ps[i] = rows[i].Pseudonym
	}
	decide := func(stored []subjectsql.Row) []subjectsql.Row {
		type ref struct {
			p       Pseudonym
			purpose string
		}
		blocked := map[ref]bool{}
		for _, r := range stored {
			if r.Purpose == AllPurposes && r.Erased <= 0 {
				continue
			}
			if r.Wrapped != nil || r.Erased > 0 {
				blocked[ref{Pseudonym(r.Pseudonym), r.Purpose}] = true
			}
		}
		var write []subjectsql.Row
		for _, r := range rows {
			if blocked[ref{r.Pseudonym, AllPurposes}] || blocked[ref{r.Pseudonym, r.Purpose}] {
				continue
			}
			blocked[ref{r.Pseudonym, r.Purpose}] = true // one row per key, even if asked twice
			write = append(write, subjectsql.Row{Pseudonym: r.Pseudonym[:], Purpose: r.Purpose, Wrapped: r.Wrapped, Created: micros(r.Created)})
		}
		return write
	}
	// The base row of each subject goes first: its base key when asked
	// for, else an empty row that serves as the subject's lock.
	now := time.Now().UnixMicro()
	baseOf := make(map[Pseudonym]subjectsql.Row, len(rows))
	for _, p := range ps {
		if _, ok := baseOf[p]; !ok {
			baseOf[p] = subjectsql.Row{Pseudonym: p[:], Created: now}
		}
	}
	for _, r := range rows {
		if r.Purpose == "" {
			baseOf[r.Pseudonym] = subjectsql.Row{Pseudonym: r.Pseudonym[:], Wrapped: r.Wrapped, Created: micros(r.Created)}
		}
	}
	bases := make([]subjectsql.Row, 0, len(baseOf))
	for _, b := range baseOf {
		bases = append(bases, b)
	}
	out, err := s.s.Create(ctx, bases, decide)
	if err != nil {
		return nil, err
	}
	return fromSQLRows(out)
}

// Destroy implements [SubjectKeyStore] in one transaction.
func (s *SQLSubjectKeyStore) Destroy(ctx context.Context, d SubjectKeyDestroy) ([]string, time.Time, error) {
	if err := s.ready(ctx); err != nil {
		return nil, time.Time{}, err
	}
	before := int64(subjectsql.Never)
	if !d.CreatedBefore.IsZero() {
		before = d.CreatedBefore.UnixMicro()
	}
	destroyed, at, err := s.s.Destroy(ctx, d.Pseudonym[:], d.Purpose, d.Time.UnixMicro(), before)
	if err != nil {
		return nil, time.Time{}, err
	}
	return destroyed, fromMicros(at), nil
}

// Allow implements [SubjectKeyStore] with one UPDATE.
func (s *SQLSubjectKeyStore) Allow(ctx context.Context, p Pseudonym, purpose string) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	return s.s.Allow(ctx, p[:], purpose)
}
