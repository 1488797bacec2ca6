package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// maxBatchParams bounds the parameters of one batched UPDATE (PostgreSQL
// takes at most 65,535).
const maxBatchParams = 30000

// applyBatch writes the updates of a range, sorted by row, and returns the
// values written and those the application changed meanwhile (left to
// it). On PostgreSQL the rows are written by one UPDATE ... FROM (VALUES
// ...) per batch of rows with the same columns, each row compared and set
// on every value it read, as [engine.applyRow] does for one row: one round
// trip per batch instead of one per row. Rows the batch did not write,
// because the application changed one of their values, and every row on
// SQLite (where a statement costs no round trip), go through applyRow.
func (e *engine) applyBatch(ctx context.Context, tx *sql.Tx, updates []update) (changed, conflicts int64, err error) {
	var rows [][]update
	for i := 0; i < len(updates); {
		j := i + 1
		for j < len(updates) && updates[j].key == updates[i].key {
			j++
		}
		rows = append(rows, updates[i:j])
		i = j
	}
	rest := rows
	if e.db.dialect == dialectPostgres && len(rows) > 1 {
		if rest, changed, err = e.applyPostgres(ctx, tx, rows); err != nil {
			return 0, 0, err
		}
	}
	for _, ups := range rest {
		wrote, err := e.applyRow(ctx, tx, ups)
		if err != nil {
			return changed, conflicts, err
		}
		changed += wrote
		conflicts += int64(len(ups)) - wrote
	}
	return changed, conflicts, nil
}

// shape names the columns a row's updates write, in order.
func shape(ups []update) string {
	cols := make([]string, len(ups))
	for i, u := range ups {
		cols[i] = u.col
	}
	return strings.Join(cols, ",")
}

// applyPostgres writes rows in batched UPDATEs, grouped by shape, and
// returns the rows it did not write and the values it wrote.
func (e *engine) applyPostgres(ctx context.Context, tx *sql.Tx, rows [][]update) (rest [][]update, changed int64, err error) {
	types, err := e.columnTypes(ctx, tx)
	if err != nil {
		return nil, 0, err
	}
	var order []string
	groups := map[string][][]update{}
	for _, r := range rows {
		s := shape(r)
		if _, ok := groups[s]; !ok {
			order = append(order, s)
		}
		groups[s] = append(groups[s], r)
	}
	for _, s := range order {
		g := groups[s]
		cas := casColumns(g[0])
		per := 1 + len(g[0]) + len(cas)
		step := max(maxBatchParams/per, 1)
		for lo := 0; lo < len(g); lo += step {
			chunk := g[lo:min(lo+step, len(g))]
			left, wrote, err := e.updateChunk(ctx, tx, types, chunk, cas)
			if err != nil {
				return nil, 0, err
			}
			rest = append(rest, left...)
			changed += wrote
		}
	}
	return rest, changed, nil
}

// casColumns returns the columns a row's compare-and-set reads: each
// updated column and each index's source, once, with the value read.
func casColumns(ups []update) []string {
	var cols []string
	seen := map[string]bool{}
	add := func(c string) {
		if !seen[c] {
			seen[c] = true
			cols = append(cols, c)
		}
	}
	for _, u := range ups {
		add(u.col)
		if u.src != "" {
			add(u.src)
		}
	}
	return cols
}

// oldValue returns the value of column col that row ups read.
func oldValue(ups []update, col string) any {
	for _, u := range ups {
		var v sql.NullString
		switch col {
		case u.col:
			v = u.old
		case u.src:
			v = u.srcOld
		default:
			continue
		}
		if !v.Valid {
			return nil
		}
		return v.String
	}
	return nil
}

// updateChunk writes rows (of one shape) in one UPDATE and returns those it
// did not write.
func (e *engine) updateChunk(ctx context.Context, tx *sql.Tx, types map[string]string, rows [][]update, cas []string) ([][]update, int64, error) {
	first := rows[0]
	var args []any
	var tuples []string
	for _, r := range rows {
		t := make([]string, 0, 1+len(first)+len(cas))
		args = append(args, r[0].key.v)
		t = append(t, e.ph(len(args))+"::"+types[e.o.keyColumn])
		for _, u := range r {
			args = append(args, u.new)
			t = append(t, e.ph(len(args))+"::"+types[u.col])
		}
		for _, c := range cas {
			args = append(args, oldValue(r, c))
			t = append(t, e.ph(len(args))+"::"+types[c])
		}
		tuples = append(tuples, "("+strings.Join(t, ", ")+")")
	}
	names := []string{"k"}
	var set []string
	for i, u := range first {
		names = append(names, fmt.Sprintf("n%d", i))
		set = append(set, fmt.Sprintf("%s = v.n%d", quote(u.col), i))
	}
	where := []string{"t." + quote(e.o.keyColumn) + " = v.k"}
	for i, c := range cas {
		names = append(names, fmt.Sprintf("o%d", i))
		where = append(where, fmt.Sprintf("t.%s IS NOT DISTINCT FROM v.o%d", quote(c), i))
	}
	q := `UPDATE ` + quote(e.o.table) + ` AS t SET ` + strings.Join(set, ", ") +
		` FROM (VALUES ` + strings.Join(tuples, ", ") + `) AS v(` + strings.Join(names, ", ") + `)` +
		` WHERE ` + strings.Join(where, " AND ") + ` RETURNING t.` + quote(e.o.keyColumn)
	res, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("writing %s in %s: %w", e.o.table, target(e.o.db), err)
	}
	defer res.Close()
	wrote := map[keyValue]bool{}
	for res.Next() {
		var raw any
		if err := res.Scan(&raw); err != nil {
			return nil, 0, fmt.Errorf("writing %s in %s: %w", e.o.table, target(e.o.db), err)
		}
		k, err := asKey(raw)
		if err != nil {
			return nil, 0, err
		}
		wrote[k] = true
	}
	if err := res.Err(); err != nil {
		return nil, 0, fmt.Errorf("writing %s in %s: %w", e.o.table, target(e.o.db), err)
	}
	var rest [][]update
	var changed int64
	for _, r := range rows {
		if wrote[r[0].key] {
			changed += int64(len(r))
		} else {
			rest = append(rest, r)
		}
	}
	return rest, changed, nil
}

// columnTypes returns the PostgreSQL type of each column of the table (as
// format_type writes it), read once per engine, so that the parameters of
// a batched UPDATE are cast to their columns' types.
func (e *engine) columnTypes(ctx context.Context, tx *sql.Tx) (map[string]string, error) {
	if e.pgTypes != nil {
		return e.pgTypes, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`, quote(e.o.table))
	if err != nil {
		return nil, fmt.Errorf("reading the column types of %s: %w", e.o.table, err)
	}
	defer rows.Close()
	types := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		types[name] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, c := range append(e.read, e.o.keyColumn) {
		if types[c] == "" {
			return nil, fmt.Errorf("table %s has no column %s", e.o.table, c)
		}
	}
	e.pgTypes = types
	return types, nil
}
