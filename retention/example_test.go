package retention_test

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/tillid/tillid/retention"
)

func ExampleForType() {
	type Customer struct {
		_         struct{}       `pii:"retain=7y,from=ClosedAt,then=delete"`
		CreatedAt time.Time      `pii:"-"`
		ClosedAt  *time.Time     `pii:"-"`
		LegalHold bool           `pii:"hold"`
		Notes     sql.NullString `pii:"encrypt,retain=2y,from=CreatedAt"` // cleared to NULL
	}
	table, err := retention.ForType(Customer{}, "customers", "id", nil)
	if err != nil {
		panic(err)
	}
	// Then: sw, err := retention.New(ctx, db, retention.SQLite, table); sw.Sweep(ctx)
	fmt.Println("hold:", table.Hold.Column)
	for _, r := range table.Rules {
		fmt.Printf("%s: %s after %v from %s\n", r.Name, r.Then, r.Retain, r.From)
	}
	// Output:
	// hold: legal_hold
	// Customer.Notes: redact after 17520h0m0s from created_at
	// Customer: delete after 61320h0m0s from closed_at
}
