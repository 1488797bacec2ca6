package retention

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tillid/tillid/pii"
)

// TableReport says what a table holds and what a sweep at Now would do.
type TableReport struct {
	// Table is the table's name and Now the time the rules were measured
	// against.
	Table string
	Now   time.Time
	// Rows is the number of rows, Held how many are on legal hold, and
	// HoldUnknown how many of those are held because their boolean hold
	// is NULL (see [Hold]).
	Rows, Held, HoldUnknown int64
	// Rules holds one entry per rule, in the Table's order.
	Rules []RuleReport
}

// RuleReport is one rule's part of a [TableReport].
type RuleReport struct {
	// Rule is the rule's name, and Then what it does.
	Rule string
	Then pii.Then
	// Values counts the rows a redact rule's column still holds a value
	// in (for delete and shred: every row).
	Values int64
	// Due counts what a sweep now would change: values to clear, rows to
	// delete or to shred; held rows are never due.
	Due int64
	// NullAnchors counts rows not held whose anchor is NULL (or unreadable
	// on SQLite), Future those whose anchor is after Now.
	NullAnchors, Future int64
	// NoSubject counts, for a shred rule, the rows that would be due but
	// have no subject ID (NULL or empty): a sweep skips them and names
	// their keys (see [RuleStats.NoSubject]).
	NoSubject int64
	// Tokens counts, for a delete rule, the vault tokens the rows due hold
	// in the table's token columns: what a sweep would delete from the
	// vault with them (0 for other rules).
	Tokens int64
	// Oldest is the oldest anchor among the rows not held that the rule
	// still concerns (with a value, for redact), in UTC: exact on
	// PostgreSQL, to the millisecond on SQLite (as its date functions read
	// it); the zero Time when there is none.
	Oldest time.Time
}

// Report reads table t of db and says, per rule, what a sweep at now would
// change, without changing anything (the CLI's -dry-run and "tillid
// retention report"). It is one aggregate query: a full scan of the table.
// It returns an error for an invalid Table (a column the table lacks, as
// [New]) and the database's errors.
func Report(ctx context.Context, db *sql.DB, d Dialect, t Table, now time.Time) (TableReport, error) {
	if db == nil {
		return TableReport{}, errors.New("retention: Report needs a *sql.DB")
	}
	if d != SQLite && d != PostgreSQL {
		return TableReport{}, fmt.Errorf("retention: dialect %d: want SQLite or PostgreSQL", d)
	}
	if err := t.check(); err != nil {
		return TableReport{}, err
	}
	if _, err := t.checkColumns(ctx, db, d); err != nil {
		return TableReport{}, err
	}
	rep := TableReport{Table: t.Name, Now: now, Rules: make([]RuleReport, len(t.Rules))}
	q := &sqlBuilder{d: d}
	q.str(`SELECT count(*), `)
	q.count(func() { q.held(t.Hold) })
	q.str(`, `)
	q.count(func() { q.holdUnknown(t.Hold) })
	dest := []any{&rep.Rows, &rep.Held, &rep.HoldUnknown}
	oldest := make([]any, len(t.Rules))
	for i, r := range t.Rules {
		rr := &rep.Rules[i]
		rr.Rule, rr.Then = r.label(), r.Then
		q.str(`, `)
		q.count(func() {
			q.str("(1=1")
			if r.Then == pii.ThenRedact {
				q.valueSet(r)
			}
			q.str(")")
		})
		q.str(`, `)
		q.count(func() { q.due(&t, r, now) })
		q.str(`, `)
		q.count(func() {
			q.str("(NOT ")
			q.held(t.Hold)
			q.str(" AND ")
			q.anchorNull(r.From)
			q.str(")")
		})
		q.str(`, `)
		q.count(func() {
			q.str("(NOT ")
			q.held(t.Hold)
			q.str(" AND ")
			q.anchorAfter(r.From, now)
			q.str(")")
		})
		q.str(`, min(CASE WHEN NOT `)
		q.held(t.Hold)
		if r.Then == pii.ThenRedact {
			q.valueSet(r)
		}
		q.str(` THEN `)
		q.oldestAnchor(r.From)
		q.str(` END)`)
		if d == SQLite {
			oldest[i] = new(sql.NullString)
		} else {
			oldest[i] = new(sql.NullTime)
		}
		dest = append(dest, &rr.Values, &rr.Due, &rr.NullAnchors, &rr.Future, oldest[i])
		if r.Then == pii.ThenShred {
			q.str(`, `)
			q.count(func() { q.noSubject(&t, r, now) })
			dest = append(dest, &rr.NoSubject)
		}
		if r.Then == pii.ThenDelete && len(t.Tokens) > 0 {
			q.str(`, coalesce(sum(CASE WHEN `)
			q.due(&t, r, now)
			q.str(` THEN 0`)
			for _, tc := range t.Tokens {
				q.str(` + CASE WHEN `, quote(tc.Column), ` IS NOT NULL AND `, quote(tc.Column), ` <> '' THEN 1 ELSE 0 END`)
			}
			q.str(` ELSE 0 END), 0)`)
			dest = append(dest, &rr.Tokens)
		}
	}
	q.str(` FROM `, quote(t.Name))
	if err := db.QueryRowContext(ctx, q.String(), q.args...).Scan(dest...); err != nil {
		return TableReport{}, fmt.Errorf("retention: %w", err)
	}
	for i := range rep.Rules {
		switch o := oldest[i].(type) {
		case *sql.NullString:
			if o.Valid {
				at, err := parseOldest(o.String)
				if err != nil {
					return TableReport{}, err
				}
				rep.Rules[i].Oldest = at
			}
		case *sql.NullTime:
			if o.Valid {
				rep.Rules[i].Oldest = o.Time.UTC()
			}
		}
	}
	return rep, nil
}
