package retention

import (
	"fmt"
	"strings"
	"time"
)

// An anchor is read the same way by every statement of a sweep and of a
// report, and the same way on both databases: a time the database reads
// as an instant, or no anchor at all. "No anchor" (NULL, text that is not
// one of the forms below, a number, the zero time of Go, an infinite
// PostgreSQL timestamp) never expires and is counted in NullAnchors.
//
// PostgreSQL: the column must be a timestamptz, timestamp (read as UTC)
// or date (midnight UTC); [New] and [Report] refuse any other type, since
// PostgreSQL would compare text as text. SQLite has no time type, so the
// forms are defined here: text, in one of
//
//	YYYY-MM-DD                                  midnight UTC
//	YYYY-MM-DD HH:MM[:SS[.fff…]][±HH:MM|Z]      'T' or ' ' after the date; UTC without an offset
//	YYYY-MM-DD HH:MM:SS[.fff…] ±hhmm ZONE       Go's time.Time.String (modernc.org/sqlite's default)
//
// with a date that is in the calendar, read by SQLite's date functions (to
// the millisecond). Anything else is no anchor: '11/30/2026', '1 Dec
// 2025', 'now', '12:00', a Julian day or Unix time stored as a number.

// zeroJulianDay is julianday('0001-01-01 00:00:00'): Go's zero time.Time,
// what an application writes for an anchor it never set.
const zeroJulianDay = "1721425.5"

// sqliteAnchor returns the SQLite expressions of column col as a Julian
// day number (jd) and as text that julianday() reads (text), both NULL
// when col holds none of the anchor forms. The gate is cheap on purpose
// (a sweep reads it several times per row): typeof, the date's two
// dashes, and the calendar check only for days after the 28th; julianday()
// itself refuses a date that is not digits, and what follows the date if
// it is not a time with an optional offset. Text with a space after the
// seconds is read as Go's form: " +hhmm" rewritten to " +hh:mm" for
// julianday(), the zone name after it dropped.
func sqliteAnchor(col string) (jd, text string) {
	c := quote(col)
	date := "substr(" + c + ", 1, 10)"
	gate := "typeof(" + c + ") = 'text' AND substr(" + c + ", 5, 1) = '-' AND substr(" + c + ", 8, 1) = '-'" +
		" AND (substr(" + c + ", 9, 2) <= '28' OR date(" + date + ", '+0 days') = " + date + ")"
	// Go's offset follows the first space after the seconds (position 20
	// on): the space's position, or 19 when there is none.
	space := "instr(substr(" + c + ", 20), ' ')"
	sign := "(19 + " + space + ")"
	// " +0000" becomes " +00:00", and the character after it must be a
	// space (before the zone name, dropped) or the end: anything else
	// makes julianday() refuse the text.
	goForm := "substr(" + c + ", 1, " + sign + " + 3) || ':' || substr(" + c + ", " + sign + " + 4, 2) || substr(" + c + ", " + sign + " + 6, 1)"
	isGo := space + " > 0"
	jd = "(CASE WHEN " + gate + " THEN CASE WHEN " + isGo + " THEN julianday(" + goForm + ") ELSE julianday(" + c + ") END END)"
	text = "(CASE WHEN " + gate + " THEN CASE WHEN " + isGo + " THEN " + goForm + " ELSE " + c + " END END)"
	return jd, text
}

// anchor writes the anchor column col as the database compares it, NULL
// when the row has no anchor: on SQLite a Julian day number, on
// PostgreSQL the column's own value.
func (q *sqlBuilder) anchor(col string) {
	if q.d == SQLite {
		jd, _ := sqliteAnchor(col)
		q.str("nullif(", jd, ", ", zeroJulianDay, ")")
		return
	}
	c := quote(col)
	q.str("(CASE WHEN isfinite(", c, ") AND ", c, " <> ")
	q.arg(time.Time{})
	q.str(" THEN ", c, " END)")
}

// instant writes the parameter t on the scale of anchor: on SQLite the
// Julian day of t to the millisecond, computed by SQLite as it computes
// the anchors', so that an anchor equal to t compares equal.
func (q *sqlBuilder) instant(t time.Time) {
	if q.d == SQLite {
		q.str("julianday(")
		q.arg(t.UTC().Truncate(time.Millisecond).Format("2006-01-02 15:04:05.000"))
		q.str(")")
		return
	}
	q.arg(t.UTC())
}

// anchorAtMost writes "the row has an anchor and it is at most t".
func (q *sqlBuilder) anchorAtMost(col string, t time.Time) { q.anchorCmp(col, "<=", t) }

// anchorAfter writes "the row has an anchor and it is after t".
func (q *sqlBuilder) anchorAfter(col string, t time.Time) { q.anchorCmp(col, ">", t) }

func (q *sqlBuilder) anchorCmp(col, op string, t time.Time) {
	q.anchor(col)
	q.str(" ", op, " ")
	q.instant(t)
}

// anchorNull writes "the row has no anchor".
func (q *sqlBuilder) anchorNull(col string) {
	q.str("(")
	q.anchor(col)
	q.str(" IS NULL)")
}

// oldestAnchor writes the anchor of col as text that sorts as time does
// ("2006-01-02T15:04:05.000Z" on SQLite, to SQLite's millisecond), or the
// anchor itself on PostgreSQL, for min(); NULL without an anchor.
// [parseOldest] reads it back.
func (q *sqlBuilder) oldestAnchor(col string) {
	if q.d == PostgreSQL {
		q.anchor(col)
		return
	}
	q.str("(CASE WHEN ")
	q.anchorNull(col)
	_, text := sqliteAnchor(col)
	q.str(" THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', ", text, ") END)")
}

// parseOldest reads what min(oldestAnchor) returned on SQLite.
func parseOldest(s string) (time.Time, error) {
	t, err := time.Parse("2006-01-02T15:04:05.000Z", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("retention: reading the oldest anchor: %v", err)
	}
	return t, nil
}

// anchorTypeOK reports whether a PostgreSQL column of type typ (as
// regtype prints it) can be an anchor.
func anchorTypeOK(typ string) bool {
	switch strings.ToLower(typ) {
	case "timestamp with time zone", "timestamp without time zone", "date":
		return true
	}
	return false
}

// checkAnchorType returns the error of the from column of rule r when
// PostgreSQL gives it type typ, which is not a time.
func (t Table) checkAnchorType(d Dialect, r Rule, typ string) error {
	if d != PostgreSQL || anchorTypeOK(typ) {
		return nil
	}
	return fmt.Errorf("retention: the from column %s of rule %s is %s: an anchor must be a timestamptz, timestamp or date column, which PostgreSQL compares as times (it would compare %s as %s); convert it, as in ALTER TABLE %s ALTER COLUMN %s TYPE timestamptz USING ...",
		r.From, r.label(), typ, typ, typ, t.Name, r.From)
}
