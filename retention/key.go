package retention

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// A sweep walks a table in key order, in ranges of keys, so the key must
// name each row once: a row with a NULL key is in no range and would be
// skipped in silence, and one whose key is not of the key's type (SQLite
// stores '2.5' in an INTEGER column) could not be read. checkKeyRows
// refuses such a key before a sweep or a report starts: the key must be
// the primary key or a NOT NULL column with a unique index of its own
// (not partial); on SQLite, which does not enforce types or, outside
// INTEGER PRIMARY KEY and WITHOUT ROWID tables, NOT NULL on a primary key,
// every row's key must also be of the column's type. SQLite's rowid
// always qualifies.

// checkKeyRows checks that t's key names each row once (see above).
// find looks a column up; rowid says whether a SQLite table has a rowid.
func (t Table) checkKeyRows(ctx context.Context, db *sql.DB, d Dialect, find func(string) (column, bool), rowid bool) error {
	c, ok := find(t.Key)
	if !ok {
		return nil // SQLite's rowid (checkKey refused any other name)
	}
	fix := "the key must be the primary key or a NOT NULL column with a unique index"
	if d == PostgreSQL {
		var notNull bool
		var unique int
		err := db.QueryRowContext(ctx, `SELECT a.attnotnull, (SELECT count(*) FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisunique
			AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum AND i.indpred IS NULL AND i.indexprs IS NULL)
			FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attname = $2`, quote(t.Name), c.name).Scan(&notNull, &unique)
		if err != nil {
			return fmt.Errorf("retention: reading the key column of %s: %w", t.Name, err)
		}
		switch {
		case !notNull:
			return fmt.Errorf("retention: key column %s of table %s allows NULL: a sweep walks the table by its key and would skip the rows whose key is NULL; %s", t.Key, t.Name, fix)
		case unique == 0:
			return fmt.Errorf("retention: key column %s of table %s has no unique index of its own: %s", t.Key, t.Name, fix)
		}
		return nil
	}
	var alias, unique int
	err := db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM pragma_table_info(?1) WHERE pk = 1 AND name = ?2 COLLATE NOCASE AND upper(type) = 'INTEGER'
			AND (SELECT count(*) FROM pragma_table_info(?1) WHERE pk > 0) = 1),
		(SELECT count(*) FROM pragma_index_list(?1) AS il WHERE il."unique" = 1 AND il.partial = 0
			AND (SELECT count(*) FROM pragma_index_info(il.name)) = 1
			AND (SELECT name FROM pragma_index_info(il.name)) = ?2 COLLATE NOCASE)`, t.Name, c.name).Scan(&alias, &unique)
	if err != nil {
		return fmt.Errorf("retention: reading the key column of %s: %w", t.Name, err)
	}
	if alias == 1 && rowid {
		return nil // INTEGER PRIMARY KEY: the rowid itself
	}
	if unique == 0 {
		return fmt.Errorf("retention: key column %s of table %s has no unique index of its own: %s (or rowid)", t.Key, t.Name, fix)
	}
	want := "integer"
	if typ := strings.ToUpper(c.typ); !strings.Contains(typ, "INT") {
		want = "text"
	}
	var bad int64
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+quote(t.Name)+` WHERE typeof(`+quote(c.name)+`) <> ?`, want).Scan(&bad); err != nil {
		return fmt.Errorf("retention: reading the key column of %s: %w", t.Name, err)
	}
	if bad > 0 {
		return fmt.Errorf("retention: key column %s of table %s holds %d rows whose key is NULL or not %s (SQLite keeps '2.5' in an INTEGER column): a sweep would skip them; fix those keys, or walk the table by rowid", t.Key, t.Name, bad, want)
	}
	return nil
}
