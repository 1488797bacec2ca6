package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tillid/tillid/internal/envelope"
)

// This file is the row half of tillid forget and withdraw: the checks of
// the data table made before any key is destroyed, and the statements
// that clear (-clear) or delete (-delete) a subject's rows.

// columnInfo is what an erasure must know of one column of the table.
type columnInfo struct {
	notNull    bool
	primaryKey bool
}

// erasureColumns returns the columns of table in db with their NOT NULL
// and primary-key flags, or an error when there is no such table.
func erasureColumns(ctx context.Context, db *database, table string) (map[string]columnInfo, error) {
	var q string
	if db.dialect == dialectSQLite {
		q = `SELECT name, "notnull" <> 0, pk <> 0 FROM pragma_table_info(?)`
	} else {
		q = `SELECT c.column_name, c.is_nullable = 'NO',
			EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
				WHERE i.indisprimary AND i.indrelid = to_regclass(quote_ident(c.table_schema) || '.' || quote_ident(c.table_name)) AND a.attname = c.column_name)
			FROM information_schema.columns c
			WHERE c.table_name = $1 AND c.table_schema = ANY(current_schemas(false))`
	}
	rows, err := db.sql.QueryContext(ctx, q, table)
	if err != nil {
		return nil, fmt.Errorf("reading the columns of %s: %w", table, err)
	}
	defer rows.Close()
	cols := map[string]columnInfo{}
	for rows.Next() {
		var name string
		var c columnInfo
		if err := rows.Scan(&name, &c.notNull, &c.primaryKey); err != nil {
			return nil, err
		}
		cols[name] = c
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("no table %s", table)
	}
	return cols, nil
}

// checkErasureTable returns an error unless the statements of clearRows
// can run on the table: the table and the -subject-column exist, and each
// -clear column exists and can be set to NULL without orphaning the row
// (not part of the primary key; the -subject-column is refused by
// erasureOpts.check). A NOT NULL column is refused too: its UPDATE would
// fail only after the subject's keys were destroyed.
func checkErasureTable(ctx context.Context, db *database, o *erasureOpts) error {
	cols, err := erasureColumns(ctx, db, o.table)
	if err != nil {
		return err
	}
	if _, ok := cols[o.column]; !ok {
		return fmt.Errorf("table %s has no column %s (-subject-column)", o.table, o.column)
	}
	for _, c := range o.clear {
		info, ok := cols[c]
		switch {
		case !ok:
			return fmt.Errorf("table %s has no column %s (-clear)", o.table, c)
		case info.primaryKey:
			return usagef("-clear %s: the column is (part of) the primary key of %s; clearing it would orphan the rows (tillid forget can -delete them instead)", c, o.table)
		case info.notNull:
			return usagef("-clear %s: the column is NOT NULL, so it cannot be cleared; drop the constraint (tillid forget can also -delete the rows; tillid withdraw never deletes them)", c)
		}
	}
	return nil
}

// subjectsBatch is how many subject IDs one check statement compares.
const subjectsBatch = 500

// checkSubjectsFit runs, before any key is destroyed, the WHERE clause of
// clearRows for every subject ID, so that an ID the subject column cannot
// hold (text in an integer column on PostgreSQL) is refused with its place
// instead of failing after its keys are gone. It returns how many rows
// hold the subjects.
// Each batch of subjectsBatch IDs has its own timeout.
func checkSubjectsFit(ctx context.Context, timeout time.Duration, db *database, o *erasureOpts, ids []subjectID) (int64, error) {
	var total int64
	for start := 0; start < len(ids); start += subjectsBatch {
		batch := ids[start:min(start+subjectsBatch, len(ids))]
		n, err := countWithin(ctx, timeout, db, o, batch)
		if err == nil {
			total += n
			continue
		}
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("checking the subject IDs against %s of %s, nothing was erased: %w", o.column, o.table, err)
		}
		// Find the ID the column refuses; if none alone, the batch failed
		// for another reason.
		for _, s := range batch {
			if _, err1 := countWithin(ctx, timeout, db, o, []subjectID{s}); err1 != nil {
				return 0, fmt.Errorf("the subject ID of %s does not fit -subject-column %s of %s, nothing was erased: %w", s.where, o.column, o.table, redactSubject(err1, s.id))
			}
		}
		return 0, fmt.Errorf("checking the subject IDs against %s of %s, nothing was erased: %w", o.column, o.table, redactBatch(err, batch))
	}
	return total, nil
}

// countWithin is countSubjectRows under its own timeout.
func countWithin(ctx context.Context, timeout time.Duration, db *database, o *erasureOpts, ids []subjectID, where ...string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return countSubjectRows(ctx, db, o, ids, where...)
}

// redactBatch is redactSubject of every ID of batch.
func redactBatch(err error, batch []subjectID) error {
	for _, s := range batch {
		err = redactSubject(err, s.id)
	}
	return err
}

// countSubjectRows counts the rows of table whose subject column holds one
// of the ids, and where also holds (a condition on the row, or "").
func countSubjectRows(ctx context.Context, db *database, o *erasureOpts, ids []subjectID, where ...string) (int64, error) {
	marks := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, s := range ids {
		marks[i] = placeholder(db, i+1)
		args[i] = s.id
	}
	var n int64
	q := fmt.Sprintf("SELECT count(*) FROM %s WHERE %s IN (%s)", quote(o.table), quote(o.column), strings.Join(marks, ", "))
	for _, w := range where {
		q += " AND " + w
	}
	err := db.sql.QueryRowContext(ctx, q, args...).Scan(&n)
	return n, err
}

// subjectPrefixes are the text envelopes of values sealed under subject keys.
var subjectPrefixes = []string{envelope.Prefix(envelope.ModeSubjectAEAD), envelope.Prefix(envelope.ModeSubjectDeterministic)}

// subjectSealed reports whether the stored value s is sealed under a data
// subject's key (tl1s:, tl1r:).
func subjectSealed(s string) bool {
	for _, p := range subjectPrefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// checkWithdrawClears returns a usage error when a -clear column of
// withdraw holds, in the subjects' rows, values sealed under subject keys
// (tl1s:, tl1r:): those of the withdrawn purpose need no clearing (their
// key is destroyed), and the column may hold the subject's base or other
// purposes' values too, which withdraw must keep.
func checkWithdrawClears(ctx context.Context, timeout time.Duration, db *database, o *erasureOpts, ids []subjectID) error {
	for _, c := range o.clear {
		var like []string
		for _, p := range subjectPrefixes {
			like = append(like, fmt.Sprintf("%s LIKE '%s%%'", quote(c), p))
		}
		for start := 0; start < len(ids); start += subjectsBatch {
			batch := ids[start:min(start+subjectsBatch, len(ids))]
			n, err := countWithin(ctx, timeout, db, o, batch, "("+strings.Join(like, " OR ")+")")
			err = redactBatch(err, batch)
			if err != nil {
				return fmt.Errorf("reading column %s of %s: %w", c, o.table, err)
			}
			if n > 0 {
				return usagef("-clear %s: the column holds values sealed under subject keys (%s) in %d of the subjects' rows: withdraw erases those of purpose %s by destroying their key, and clearing the column would also erase the subject's data of other purposes; -clear only the columns no subject key protects (blind indexes, pseudonyms); nothing was erased", c, strings.Join(subjectPrefixes, ", "), n, o.purpose)
			}
		}
	}
	return nil
}

func placeholder(db *database, i int) string {
	if db.dialect == dialectPostgres {
		return fmt.Sprintf("$%d", i)
	}
	return "?"
}

// rowStatement is the statement of clearRows: an UPDATE that sets the
// -clear columns to NULL, or (-delete) a DELETE, of the rows whose subject
// column holds its one argument.
func rowStatement(db *database, o *erasureOpts) string {
	if o.del {
		return fmt.Sprintf("DELETE FROM %s WHERE %s = %s", quote(o.table), quote(o.column), placeholder(db, 1))
	}
	sets := make([]string, len(o.clear))
	for i, c := range o.clear {
		sets[i] = quote(c) + " = NULL"
	}
	return fmt.Sprintf("UPDATE %s SET %s WHERE %s = %s", quote(o.table), strings.Join(sets, ", "), quote(o.column), placeholder(db, 1))
}

// rehearseRows runs the statement of clearRows for s in a transaction it
// rolls back, so that what the database refuses for this subject's rows
// (a foreign key a DELETE would break, a trigger, a check) stops the
// erasure before the subject's keys are destroyed. The transaction ends
// before the keys are touched: on SQLite the subject-key store may be the
// same file.
func rehearseRows(ctx context.Context, db *database, o *erasureOpts, s subjectID) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("checking the subject's rows of %s: %w", o.table, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, rowStatement(db, o), s.id); err != nil {
		return fmt.Errorf("the database refuses the change of the subject's rows of %s, so nothing was erased for it: %w", o.table, redactSubject(err, s.id))
	}
	return nil
}

// clearRows runs rowStatement for s and returns how many rows it changed.
func clearRows(ctx context.Context, db *database, o *erasureOpts, s subjectID) (int64, error) {
	res, err := db.sql.ExecContext(ctx, rowStatement(db, o), s.id)
	if err != nil {
		return 0, fmt.Errorf("clearing the subject's rows of %s: %w", o.table, redactSubject(err, s.id))
	}
	return res.RowsAffected()
}

// subjectRedacted is an error whose text has the subject ID replaced: a
// database may quote the value it refused ("invalid input syntax for type
// integer: ...").
type subjectRedacted struct {
	err error
	id  string
}

func redactSubject(err error, id string) error {
	if err == nil || id == "" {
		return err
	}
	return subjectRedacted{err: err, id: id}
}

func (e subjectRedacted) Error() string {
	return strings.ReplaceAll(e.err.Error(), e.id, "<subject ID>")
}

func (e subjectRedacted) Unwrap() error { return e.err }
