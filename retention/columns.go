package retention

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/tillid/tillid/pii"
)

// column is one column of a table as the database describes it.
type column struct {
	name, typ string
}

// tableColumns reads the columns of table name, and whether the table has a
// rowid (SQLite; false on PostgreSQL).
func tableColumns(ctx context.Context, db *sql.DB, d Dialect, name string) (cols []column, rowid bool, err error) {
	var rows *sql.Rows
	if d == SQLite {
		var wr int64
		err = db.QueryRowContext(ctx, `SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ? COLLATE NOCASE`, name).Scan(&wr)
		switch {
		case err == sql.ErrNoRows:
			return nil, false, fmt.Errorf("retention: table %s not found", name)
		case err != nil:
			return nil, false, fmt.Errorf("retention: reading the columns of %s: %w", name, err)
		}
		rowid = wr == 0
		rows, err = db.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?)`, name)
	} else {
		rows, err = db.QueryContext(ctx, `SELECT a.attname, a.atttypid::regtype::text FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`, quote(name))
	}
	if err != nil {
		return nil, false, fmt.Errorf("retention: reading the columns of %s: %w", name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.typ); err != nil {
			return nil, false, fmt.Errorf("retention: reading the columns of %s: %w", name, err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("retention: reading the columns of %s: %w", name, err)
	}
	if len(cols) == 0 {
		return nil, false, fmt.Errorf("retention: table %s not found", name)
	}
	return cols, rowid, nil
}

// checkColumns checks every column t names (key, subject, hold, each rule's
// column and anchor) against the table's real columns, and that the key is
// an integer: SQLite reads a double-quoted unknown name as a string, so a
// typo would otherwise pass in silence.
func (t Table) checkColumns(ctx context.Context, db *sql.DB, d Dialect) error {
	cols, rowid, err := tableColumns(ctx, db, d, t.Name)
	if err != nil {
		return err
	}
	find := func(name string) (column, bool) {
		for _, c := range cols {
			if c.name == name || (d == SQLite && strings.EqualFold(c.name, name)) {
				return c, true
			}
		}
		return column{}, false
	}
	need := func(what, name string) error {
		if _, ok := find(name); !ok {
			return fmt.Errorf("retention: table %s has no column %q (%s)", t.Name, name, what)
		}
		return nil
	}
	typeOf := func(name string) string { c, _ := find(name); return c.typ }
	if err := t.checkKey(d, find, rowid); err != nil {
		return err
	}
	if err := t.checkKeyRows(ctx, db, d, find, rowid); err != nil {
		return err
	}
	if t.Subject != "" {
		if err := need("the subject column", t.Subject); err != nil {
			return err
		}
	}
	if t.Hold.Column != "" {
		if err := need("the hold column", t.Hold.Column); err != nil {
			return err
		}
		if err := t.checkHoldType(d, typeOf(t.Hold.Column)); err != nil {
			return err
		}
	}
	for _, r := range t.Rules {
		if err := need("the from column of rule "+r.label(), r.From); err != nil {
			return err
		}
		if err := t.checkAnchorType(d, r, typeOf(r.From)); err != nil {
			return err
		}
		if r.Then == pii.ThenRedact && r.Column != "" {
			if err := need("the column of rule "+r.label(), r.Column); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkKey checks that the key is an integer column, or SQLite's rowid of
// a table that has one.
func (t Table) checkKey(d Dialect, find func(string) (column, bool), rowid bool) error {
	c, ok := find(t.Key)
	if !ok {
		if d == SQLite && isRowidName(t.Key) {
			if !rowid {
				return fmt.Errorf("retention: table %s is WITHOUT ROWID, so it has no %s: the key must be an integer column", t.Name, t.Key)
			}
			return nil
		}
		return fmt.Errorf("retention: table %s has no column %q (the key column)", t.Name, t.Key)
	}
	typ := strings.ToUpper(c.typ)
	integer := strings.Contains(typ, "INT") // SQLite's integer affinity
	if d == PostgreSQL {
		integer = typ == "SMALLINT" || typ == "INTEGER" || typ == "BIGINT"
	}
	if integer {
		return nil
	}
	fix := "the key must be an integer column"
	if d == SQLite {
		fix += "; a table with a rowid (not WITHOUT ROWID) can be walked by key rowid"
	}
	return fmt.Errorf("retention: key column %s of table %s is %q: %s", t.Key, t.Name, c.typ, fix)
}

// isRowidName reports whether name is one of SQLite's names of the rowid.
func isRowidName(name string) bool {
	for _, n := range []string{"rowid", "_rowid_", "oid"} {
		if strings.EqualFold(name, n) {
			return true
		}
	}
	return false
}
