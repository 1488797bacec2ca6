package retention

import (
	"fmt"
	"strings"
	"time"

	"github.com/tillid/tillid/pii"
)

// Dialect is the SQL dialect of a sweeper's database. The zero Dialect,
// DialectUnknown, is invalid.
type Dialect uint8

const (
	// DialectUnknown is the invalid zero Dialect.
	DialectUnknown Dialect = iota
	// SQLite is SQLite 3.38 or later (modernc.org/sqlite or any other
	// driver). Anchors are compared with julianday(), which reads text in
	// the formats of SQLite's date functions, offsets included, as
	// instants.
	SQLite
	// PostgreSQL is PostgreSQL 12 or later (pgx's database/sql driver or
	// any other). Several processes may sweep one table together.
	PostgreSQL
)

// String returns "sqlite", "postgresql" or "unknown".
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case PostgreSQL:
		return "postgresql"
	}
	return "unknown"
}

// sqlBuilder writes one statement with the dialect's placeholders.
type sqlBuilder struct {
	d    Dialect
	b    strings.Builder
	args []any
}

// arg appends a placeholder for v.
func (q *sqlBuilder) arg(v any) {
	q.args = append(q.args, v)
	if q.d == PostgreSQL {
		fmt.Fprintf(&q.b, "$%d", len(q.args))
		return
	}
	q.b.WriteByte('?')
}

func (q *sqlBuilder) str(s ...string) {
	for _, x := range s {
		q.b.WriteString(x)
	}
}

func (q *sqlBuilder) String() string { return q.b.String() }

// quote quotes an identifier that checkIdent accepted.
func quote(ident string) string { return `"` + ident + `"` }

// due writes the condition under which rule r changes a row at now: not
// held, the anchor at most now - Retain, and for redact a value still set.
// The same condition selects, counts and changes, so an UPDATE or DELETE
// re-checks every row it touches.
func (q *sqlBuilder) due(t *Table, r Rule, now time.Time) {
	q.str("(NOT ")
	q.held(t.Hold)
	q.str(" AND ")
	q.anchorAtMost(r.From, now.Add(-r.Retain))
	if r.Then == pii.ThenRedact {
		q.valueSet(r)
	}
	if r.Then == pii.ThenShred {
		q.str(" AND ")
		q.subjectSet(t.Subject)
	}
	q.str(")")
}

// valueSet writes " AND the rule's column still holds a value".
func (q *sqlBuilder) valueSet(r Rule) {
	if r.Zero == nil {
		q.str(" AND ", quote(r.Column), " IS NOT NULL")
		return
	}
	q.str(" AND ", quote(r.Column), " <> ")
	q.arg(r.Zero)
}

// zero writes what redact rule r clears its column to: NULL or its Zero.
func (q *sqlBuilder) zero(r Rule) {
	if r.Zero == nil {
		q.str(`NULL`)
		return
	}
	q.arg(r.Zero)
}

// keyRange writes "the key is in [lo, hi]".
func (q *sqlBuilder) keyRange(key string, lo, hi any) {
	q.str(quote(key), " >= ")
	q.arg(lo)
	q.str(" AND ", quote(key), " <= ")
	q.arg(hi)
}

// count writes sum(CASE WHEN cond THEN 1 ELSE 0 END) for cond written by f.
func (q *sqlBuilder) count(f func()) {
	q.str("coalesce(sum(CASE WHEN ")
	f()
	q.str(" THEN 1 ELSE 0 END), 0)")
}
