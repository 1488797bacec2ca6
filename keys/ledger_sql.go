package keys

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tillid/tillid/keys/internal/subjectsql"
)

// defaultLedgerTable is the table of a SQL ledger unless WithTable says
// otherwise.
const defaultLedgerTable = "tillid_erasure_ledger"

// SQLLedger is a [Ledger] in one SQL table, append-only: SQLite
// ([OpenSQLiteLedger]) or PostgreSQL ([OpenPostgresLedger]). Give it its
// own database (its own SQLite file or PostgreSQL database, with its own
// backups), apart from the data and from the subject-key store: a ledger
// restored together with the key store from the same old backup would have
// lost the very erasures it must re-apply. Each entry holds a sequence
// number, the time, the operation, the 16-byte pseudonym, the purpose and
// the purposes destroyed; never a subject ID. It is safe for concurrent
// use.
type SQLLedger struct {
	l *subjectsql.Ledger
}

var _ Ledger = (*SQLLedger)(nil)

// OpenSQLiteLedger returns a [SQLLedger] in the SQLite database db,
// creating its table (tillid_erasure_ledger unless [WithTable] says
// otherwise) if it does not exist. It accepts only [WithTable].
func OpenSQLiteLedger(ctx context.Context, db *sql.DB, opts ...StoreOption) (*SQLLedger, error) {
	return openLedgerSQL(ctx, db, subjectsql.SQLite, "SQLite", opts)
}

// OpenPostgresLedger returns a [SQLLedger] in the PostgreSQL database db,
// creating its table (tillid_erasure_ledger unless [WithTable] says
// otherwise) if it does not exist. It accepts only [WithTable].
func OpenPostgresLedger(ctx context.Context, db *sql.DB, opts ...StoreOption) (*SQLLedger, error) {
	return openLedgerSQL(ctx, db, subjectsql.Postgres, "PostgreSQL", opts)
}

func openLedgerSQL(ctx context.Context, db *sql.DB, d subjectsql.Dialect, name string, opts []StoreOption) (*SQLLedger, error) {
	table, err := sqlTableOption(db, opts, defaultLedgerTable)
	if err != nil {
		return nil, err
	}
	l, err := subjectsql.OpenLedger(ctx, db, d, table)
	if err != nil {
		return nil, fmt.Errorf("keys: creating the %s erasure-ledger table: %w", name, err)
	}
	return &SQLLedger{l: l}, nil
}

// Append implements [Ledger] with one INSERT.
func (l *SQLLedger) Append(ctx context.Context, e LedgerEntry) error {
	if l == nil || l.l == nil {
		return errors.New("keys: SQLLedger not opened; use OpenSQLiteLedger or OpenPostgresLedger")
	}
	destroyed, err := json.Marshal(append([]string{}, e.Destroyed...))
	if err != nil {
		return err
	}
	return l.l.Append(ctx, subjectsql.LedgerRow{At: e.Time.UnixMicro(), Op: e.Op.String(), Pseudonym: e.Pseudonym[:], Purpose: e.Purpose, Destroyed: string(destroyed)})
}

// Since implements [Ledger] with one SELECT on an index of the time.
func (l *SQLLedger) Since(ctx context.Context, since time.Time) ([]LedgerEntry, error) {
	if l == nil || l.l == nil {
		return nil, errors.New("keys: SQLLedger not opened; use OpenSQLiteLedger or OpenPostgresLedger")
	}
	us := int64(0)
	if !since.IsZero() {
		us = since.UnixMicro()
	}
	rows, err := l.l.Since(ctx, us)
	if err != nil {
		return nil, err
	}
	out := make([]LedgerEntry, 0, len(rows))
	for _, r := range rows {
		op, err := parseLedgerOp(r.Op)
		if err != nil {
			return nil, fmt.Errorf("keys: ledger entry %d: %v", r.Seq, err)
		}
		if len(r.Pseudonym) != PseudonymSize {
			return nil, fmt.Errorf("keys: ledger entry %d has a %d-byte pseudonym", r.Seq, len(r.Pseudonym))
		}
		e := LedgerEntry{Time: time.UnixMicro(r.At).UTC(), Op: op, Pseudonym: Pseudonym(r.Pseudonym), Purpose: r.Purpose}
		if err := json.Unmarshal([]byte(r.Destroyed), &e.Destroyed); err != nil {
			return nil, fmt.Errorf("keys: ledger entry %d: %v", r.Seq, err)
		}
		if len(e.Destroyed) == 0 {
			e.Destroyed = nil
		}
		out = append(out, e)
	}
	return out, nil
}
