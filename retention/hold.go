package retention

import (
	"fmt"
	"strings"
)

// A boolean hold column holds its row unless it is false: a NULL (a hold
// column just added with ALTER TABLE, a row the application never set)
// is a hold nobody decided, and a sweep must not delete or clear what may
// be under a legal hold, so it holds the row too, counted apart as "hold
// unknown" ([Stats.HoldUnknown]). On SQLite, which has no boolean type,
// false is a value equal to 0 (0, 0.0, '0' in a text column); any other
// value holds. A timestamp hold column holds while it is not NULL.

// held writes "the row is on legal hold" (false without a hold column).
func (q *sqlBuilder) held(h Hold) {
	c := quote(h.Column)
	switch {
	case h.Column == "":
		q.str("(1=0)")
	case h.Time:
		q.str("(", c, " IS NOT NULL)")
	case q.d == SQLite:
		q.str("(", c, " IS NULL OR ", c, " <> 0)")
	default:
		q.str("(", c, " IS NOT FALSE)")
	}
}

// holdUnknown writes "the row's boolean hold is NULL" (false for a
// timestamp hold or none).
func (q *sqlBuilder) holdUnknown(h Hold) {
	if h.Column == "" || h.Time {
		q.str("(1=0)")
		return
	}
	q.str("(", quote(h.Column), " IS NULL)")
}

// checkHoldType returns an error for a boolean hold column that
// PostgreSQL does not give type boolean: it could not be read as a hold.
func (t Table) checkHoldType(d Dialect, typ string) error {
	if d != PostgreSQL || t.Hold.Time || strings.EqualFold(typ, "boolean") {
		return nil
	}
	return fmt.Errorf("retention: hold column %s of table %s is %s: a hold column is boolean (held unless false), or a nullable timestamp held while set (Hold.Time, tillid retention -hold %s:time)", t.Hold.Column, t.Name, typ, t.Hold.Column)
}
