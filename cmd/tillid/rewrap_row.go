package main

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/tillid/tillid/pii"
)

// engine reads and rewrites the protected columns of one table, row by
// row; the job (rewrap_job.go) and the check (rewrap_check.go) share it.
type engine struct {
	o  *rewrapOpts
	p  *pii.Protector
	db *database
	ph func(int) string
	// read are the columns each row is read with, after the key column:
	// the -column columns, then the plaintext sources of index columns.
	read []string
	pos  map[string]int
	// pgTypes are the PostgreSQL types of the table's columns, read at the
	// first batched UPDATE (rewrap_batch.go).
	pgTypes map[string]string
}

func newEngine(o *rewrapOpts, p *pii.Protector, db *database) *engine {
	e := &engine{o: o, p: p, db: db, ph: func(int) string { return "?" }, pos: map[string]int{}}
	if db.dialect == dialectPostgres {
		e.ph = func(i int) string { return "$" + strconv.Itoa(i) }
	}
	add := func(name string) {
		if _, ok := e.pos[name]; !ok {
			e.pos[name] = len(e.read)
			e.read = append(e.read, name)
		}
	}
	for _, c := range append(o.columns, o.vault...) {
		add(c.name)
	}
	for _, c := range o.columns {
		if c.source != "" {
			add(c.source)
		}
	}
	return e
}

// selectRows is the query of the rows after lo (all when lo is nil) up to
// hi (no bound when hi is nil), in key order, at most limit (0: no limit).
func (e *engine) selectRows(lo, hi *keyValue, limit int) (string, []any) {
	cols := make([]string, len(e.read))
	for i, c := range e.read {
		cols[i] = quote(c)
	}
	k := quote(e.o.keyColumn)
	q := `SELECT ` + k + `, ` + strings.Join(cols, ", ") + ` FROM ` + quote(e.o.table)
	var where []string
	var args []any
	if lo != nil {
		args = append(args, lo.v)
		where = append(where, k+` > `+e.ph(len(args)))
	}
	if hi != nil {
		args = append(args, hi.v)
		where = append(where, k+` <= `+e.ph(len(args)))
	}
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY ` + k
	if limit > 0 {
		q += ` LIMIT ` + strconv.Itoa(limit)
	}
	return q, args
}

// row is one row as read: its key and its columns (e.read).
type row struct {
	key  keyValue
	vals []sql.NullString
}

// scanRows runs q and calls fn for each row. Its errors name the table and
// the database, and the row when fn failed.
func (e *engine) scanRows(ctx context.Context, q string, args []any, fn func(row) error) error {
	rows, err := e.db.sql.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("reading %s in %s: %w", e.o.table, target(e.o.db), err)
	}
	defer rows.Close()
	var rawKey any
	vals := make([]sql.NullString, len(e.read))
	dest := make([]any, len(vals)+1)
	dest[0] = &rawKey
	for i := range vals {
		dest[i+1] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("reading %s in %s: %w", e.o.table, target(e.o.db), err)
		}
		k, err := asKey(rawKey)
		if err != nil {
			return err
		}
		if err := fn(row{key: k, vals: append([]sql.NullString(nil), vals...)}); err != nil {
			return fmt.Errorf("%s %s=%s in %s: %w", e.o.table, e.o.keyColumn, k.text(), target(e.o.db), err)
		}
	}
	if err := rows.Err(); err != nil {
		// A connection lost or a deadline passed while the rows streamed.
		return fmt.Errorf("reading %s in %s: %w", e.o.table, target(e.o.db), err)
	}
	return nil
}

// recordID is the record ID a column's values are bound to in row r.
func recordIDOf(c columnSpec, r row) string {
	if c.aad {
		return r.key.text()
	}
	return ""
}

// sourceOf returns the plaintext of index column c's source in r, and
// false when it is NULL.
func (e *engine) sourceOf(ctx context.Context, c columnSpec, r row) (string, bool, error) {
	v := r.vals[e.pos[c.source]]
	if !v.Valid {
		return "", false, nil
	}
	for _, s := range e.o.columns {
		if s.name == c.source {
			pt, err := e.p.RevealStored(ctx, s.col, recordIDOf(s, r), v.String)
			if err != nil {
				return "", false, fmt.Errorf("its source %s: %w", s.name, err)
			}
			return pt, true, nil
		}
	}
	return v.String, true, nil // an unprotected source column
}

// update is one value a job writes: column col of the row with key, from
// old (as read) to new, and, for an index, only while its source still
// holds srcOld.
type update struct {
	key    keyValue
	col    string
	old    sql.NullString
	new    string
	src    string
	srcOld sql.NullString
}

// rewrapValue returns the update of column c in r, or false when its value
// is under the primary already (or NULL).
func (e *engine) rewrapValue(ctx context.Context, c columnSpec, r row) (update, bool, error) {
	old := r.vals[e.pos[c.name]]
	u := update{key: r.key, col: c.name, old: old}
	if c.source != "" {
		pt, ok, err := e.sourceOf(ctx, c, r)
		if err != nil || !ok {
			return u, false, err
		}
		idx, err := e.p.IndexStored(ctx, c.col, 0, pt)
		if err != nil {
			return u, false, err
		}
		u.new, u.src, u.srcOld = idx, c.source, r.vals[e.pos[c.source]]
		return u, !old.Valid || idx != old.String, nil
	}
	if !old.Valid {
		return u, false, nil
	}
	out, changed, err := e.p.RewrapStored(ctx, c.col, recordIDOf(c, r), old.String)
	u.new = out
	return u, changed, err
}

// apply writes u unless the row changed since it was read (compare and
// set), and reports whether it wrote.
func (e *engine) apply(ctx context.Context, tx *sql.Tx, u update) (bool, error) {
	args := []any{u.new, u.key.v}
	q := `UPDATE ` + quote(e.o.table) + ` SET ` + quote(u.col) + ` = ` + e.ph(1) + ` WHERE ` + quote(e.o.keyColumn) + ` = ` + e.ph(2)
	cas := func(col string, v sql.NullString) {
		if !v.Valid {
			q += ` AND ` + quote(col) + ` IS NULL`
			return
		}
		args = append(args, v.String)
		q += ` AND ` + quote(col) + ` = ` + e.ph(len(args))
	}
	cas(u.col, u.old)
	if u.src != "" {
		cas(u.src, u.srcOld)
	}
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("writing %s in %s: %w", e.o.table, target(e.o.db), err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// applyRow writes the updates of one row in one statement, compared and
// set on every value it read; when the application changed any of them
// meanwhile, it writes each value on its own (indexes before their
// sources, which their comparison reads), so that values the application
// did not touch are still rewrapped. It returns the values written.
func (e *engine) applyRow(ctx context.Context, tx *sql.Tx, ups []update) (int64, error) {
	if len(ups) > 1 {
		var args []any
		var set, where []string
		for _, u := range ups {
			args = append(args, u.new)
			set = append(set, quote(u.col)+` = `+e.ph(len(args)))
		}
		args = append(args, ups[0].key.v)
		where = append(where, quote(e.o.keyColumn)+` = `+e.ph(len(args)))
		seen := map[string]bool{}
		cas := func(col string, v sql.NullString) {
			if seen[col] {
				return
			}
			seen[col] = true
			if !v.Valid {
				where = append(where, quote(col)+` IS NULL`)
				return
			}
			args = append(args, v.String)
			where = append(where, quote(col)+` = `+e.ph(len(args)))
		}
		for _, u := range ups {
			cas(u.col, u.old)
			if u.src != "" {
				cas(u.src, u.srcOld)
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE `+quote(e.o.table)+` SET `+strings.Join(set, ", ")+` WHERE `+strings.Join(where, " AND "), args...)
		if err != nil {
			return 0, fmt.Errorf("writing %s in %s: %w", e.o.table, target(e.o.db), err)
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return int64(len(ups)), err
		}
	}
	// Indexes first: their compare-and-set reads their source as it was
	// read, before the source's own update.
	sort.SliceStable(ups, func(i, j int) bool { return ups[i].src != "" && ups[j].src == "" })
	var wrote int64
	for _, u := range ups {
		ok, err := e.apply(ctx, tx, u)
		if err != nil {
			return wrote, err
		}
		if ok {
			wrote++
		}
	}
	return wrote, nil
}
