package pii_test

import (
	"fmt"
	"time"

	"github.com/tillid/tillid/pii"
)

func ExampleExpired() {
	type Customer struct {
		_       struct{}   `pii:"retain=7y,from=Closed,then=delete"` // the record rule
		ID      string     `pii:"subject"`
		Created time.Time  `pii:"-"`
		Closed  *time.Time `pii:"-"`
		Hold    bool       `pii:"hold"`
		Notes   string     `pii:"encrypt,retain=2y,from=Created"`
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c := Customer{ID: "c-1", Created: now.AddDate(-3, 0, 0), Notes: "called about invoice 42"}
	due, err := pii.Expired(c, now)
	if err != nil {
		panic(err)
	}
	for _, e := range due {
		fmt.Println(e.Rule.Path, e.Rule.Then, e.State)
	}
	// Output:
	// Customer.Notes redact due
	// Customer delete no-anchor
}
