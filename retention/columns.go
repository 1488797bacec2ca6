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
// column and anchor) against the table's real columns, and the key's type:
// SQLite reads a double-quoted unknown name as a string, so a typo would
// otherwise pass in silence. It reports whether the key is an integer
// (else text or uuid).
func (t Table) checkColumns(ctx context.Context, db *sql.DB, d Dialect) (keyInt bool, err error) {
	cols, rowid, err := tableColumns(ctx, db, d, t.Name)
	if err != nil {
		return false, err
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
	if keyInt, err = t.checkKey(d, find, rowid); err != nil {
		return false, err
	}
	if err := t.checkKeyRows(ctx, db, d, find, rowid); err != nil {
		return false, err
	}
	if t.Subject != "" {
		if err := need("the subject column", t.Subject); err != nil {
			return false, err
		}
	}
	if t.Hold.Column != "" {
		if err := need("the hold column", t.Hold.Column); err != nil {
			return false, err
		}
		if err := t.checkHoldType(d, typeOf(t.Hold.Column)); err != nil {
			return false, err
		}
	}
	for _, tc := range t.Tokens {
		if err := need("a token column", tc.Column); err != nil {
			return false, err
		}
	}
	for _, r := range t.Rules {
		if err := need("the from column of rule "+r.label(), r.From); err != nil {
			return false, err
		}
		if err := t.checkAnchorType(d, r, typeOf(r.From)); err != nil {
			return false, err
		}
		if r.Then == pii.ThenRedact && r.Column != "" {
			if err := need("the column of rule "+r.label(), r.Column); err != nil {
				return false, err
			}
		}
	}
	return keyInt, nil
}

// checkKey checks the key's type and reports whether it is an integer: an
// integer, text or uuid column (PostgreSQL: smallint, integer, bigint,
// text, character varying, uuid; SQLite: a column of integer or text
// affinity), or SQLite's rowid of a table that has one.
func (t Table) checkKey(d Dialect, find func(string) (column, bool), rowid bool) (keyInt bool, err error) {
	c, ok := find(t.Key)
	if !ok {
		if d == SQLite && isRowidName(t.Key) {
			if !rowid {
				return false, fmt.Errorf("retention: table %s is WITHOUT ROWID, so it has no %s: give its primary key column", t.Name, t.Key)
			}
			return true, nil
		}
		return false, fmt.Errorf("retention: table %s has no column %q (the key column)", t.Name, t.Key)
	}
	typ := strings.ToUpper(c.typ)
	if d == PostgreSQL {
		switch {
		case typ == "SMALLINT" || typ == "INTEGER" || typ == "BIGINT":
			return true, nil
		case typ == "TEXT" || typ == "UUID" || strings.HasPrefix(typ, "CHARACTER VARYING"):
			return false, nil
		}
	} else {
		// SQLite's affinity rules, in their order.
		switch {
		case strings.Contains(typ, "INT"):
			return true, nil
		case strings.Contains(typ, "CHAR") || strings.Contains(typ, "CLOB") || strings.Contains(typ, "TEXT"):
			return false, nil
		}
	}
	return false, fmt.Errorf("retention: key column %s of table %s is %q: the key must be an integer, text or uuid column", t.Key, t.Name, c.typ)
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
