package retention

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tillid/tillid/keys"
)

// A then=shred rule needs each due row's data subject. A row whose subject
// ID is NULL or empty, or one the Shredder refuses as invalid
// (keys.ErrInvalidSubject, such as an ID over keys.MaxSubjectSize bytes),
// cannot be shredded: it is skipped, counted in [RuleStats.NoSubject] and
// named by its key in [RuleStats.NoSubjectKeys] (never by its subject ID,
// which is personal data), and the sweep goes on with every other row. It
// stays due, so every sweep reports it again until it is fixed.

// MaxReportedKeys bounds [RuleStats.NoSubjectKeys]: the keys of the first
// 100 rows a sweep skipped for a rule; the count is exact.
const MaxReportedKeys = 100

// subjectSet writes "the row has a subject ID": not NULL, not empty.
func (q *sqlBuilder) subjectSet(col string) {
	q.str("(CAST(", quote(col), " AS TEXT) <> '')")
}

// noSubject writes the condition under which shred rule r would be due at
// now but the row has no subject ID.
func (q *sqlBuilder) noSubject(t *Table, r Rule, now time.Time) {
	q.str("(NOT ")
	q.held(t.Hold)
	q.str(" AND ")
	q.anchorAtMost(r.From, now.Add(-r.Retain))
	q.str(" AND (", quote(t.Subject), " IS NULL OR CAST(", quote(t.Subject), " AS TEXT) = ''))")
}

// skipKeys records in rs the keys of the rows of range l that shred rule r
// skips: with no subject ID (subject nil), or with the subject ID
// *subject that the Shredder refused. It returns how many.
func (s *Sweeper) skipKeys(ctx context.Context, tx *sql.Tx, l lease, r Rule, now time.Time, subject *string, rs *RuleStats) (int64, error) {
	q := s.q()
	q.str(`SELECT CAST(`, quote(s.t.Key), ` AS TEXT) FROM `, quote(s.t.Name), ` WHERE `)
	q.keyRange(s.t.Key, l.lo, l.hi)
	q.str(` AND `)
	if subject == nil {
		q.noSubject(&s.t, r, now)
	} else {
		q.due(&s.t, r, now)
		q.str(` AND CAST(`, quote(s.t.Subject), ` AS TEXT) = `)
		q.arg(*subject)
	}
	q.str(` ORDER BY `, quote(s.t.Key))
	rows, err := tx.QueryContext(ctx, q.String(), q.args...)
	if err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return 0, fmt.Errorf("retention: %w", err)
		}
		n++
		rs.NoSubject++
		if len(rs.NoSubjectKeys) < MaxReportedKeys {
			rs.NoSubjectKeys = append(rs.NoSubjectKeys, k)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	return n, nil
}

// invalidSubject reports whether the Shredder's err says the subject ID
// itself is bad, so that retrying can never succeed.
func invalidSubject(err error) bool { return errors.Is(err, keys.ErrInvalidSubject) }
