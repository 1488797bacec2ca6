package main

// Retention: the tags say how long each part of a customer is kept. Notes
// are cleared two years after the account was created, a closed account is
// deleted a year after it closed, and a row on legal hold is kept whole. A
// sweep of package retention reads those rules from the Customer type and
// applies them to the customers table in batches, each one transaction;
// run again, it finds nothing left to do.

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"time"

	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/retention"
)

// retentionResult is what the retention step did, for the summary.
type retentionResult struct {
	notesCleared, deleted int
	held                  int
	second                int64 // values and rows the second sweep changed
}

// runRetention sweeps the customers table once as of asOf, prints what it
// removed and kept, and sweeps again to show that nothing is left to do.
func runRetention(ctx context.Context, db *sql.DB, out io.Writer) (retentionResult, error) {
	var res retentionResult
	// ForType reads the rules from the tags (Customer.Notes: retain=2y,
	// from=CreatedAt; the record rule: retain=1y, from=ClosedAt,
	// then=delete; the hold: LegalHold) and names the columns in snake
	// case. The table's key is text, so the sweep walks it by SQLite's rowid.
	table, err := retention.ForType(Customer{}, "customers", "rowid", nil)
	if err != nil {
		return res, err
	}
	sw, err := retention.New(ctx, db, retention.SQLite, table,
		retention.WithClock(func() time.Time { return asOf }))
	if err != nil {
		return res, err
	}
	st, err := sw.Sweep(ctx)
	if err != nil {
		return res, err
	}
	for _, r := range st.Rules {
		switch r.Then {
		case pii.ThenRedact:
			res.notesCleared += int(r.Changed)
		case pii.ThenDelete:
			res.deleted += int(r.Changed)
		}
	}
	res.held = int(st.Held)
	fmt.Fprintf(out, "retention sweep as of %s: %s examined\n", asOf.Format(time.DateOnly), plural(int(st.Examined), "row"))
	fmt.Fprintf(out, "  cleared the notes of %s created over two years ago (retain=2y,from=CreatedAt)\n", plural(res.notesCleared, "customer"))
	fmt.Fprintf(out, "  deleted %s closed over a year ago (the record rule: retain=1y,from=ClosedAt,then=delete)\n", plural(res.deleted, "account"))

	// The held rows are kept as they are, due or not: pii.Expired shows
	// what would be due on them but for the hold.
	held, err := query(ctx, db, "WHERE legal_hold ORDER BY rowid")
	if err != nil {
		return res, err
	}
	dueButHeld := 0
	for _, c := range held {
		due, err := pii.Expired(c, asOf)
		if err != nil {
			return res, err
		}
		for _, e := range due {
			if e.State == pii.ExpiryHeld {
				dueButHeld++
			}
		}
	}
	fmt.Fprintf(out, "  kept %s on legal hold untouched (pii:\"hold\"), %s on them due but for the hold\n", plural(len(held), "row"), plural(dueButHeld, "rule"))

	again, err := sw.Sweep(ctx)
	if err != nil {
		return res, err
	}
	res.second = again.Changed()
	fmt.Fprintf(out, "a second sweep changed %d values and rows: nothing was left to do\n\n", res.second)
	return res, nil
}

// swept returns c as the retention sweep leaves it: with NULL notes when
// the notes rule is due at asOf.
func swept(c Customer) (Customer, error) {
	due, err := pii.Expired(c, asOf)
	if err != nil {
		return Customer{}, err
	}
	for _, e := range due {
		if e.State == pii.ExpiryDue && e.Rule.Field == "Notes" {
			c.Notes = sql.NullString{}
		}
	}
	return c, nil
}
