// Export writes a pseudonymised CSV of customers for analysts: who bought
// what, and where, without names or email addresses. Each customer gets a
// keyed pseudonym (the same for the same customer in every export under the
// same key, so analysts can join and count), emails are pseudonymised after
// normalisation, birth dates are cut to the year, and free-text notes are
// dropped by the redact tag.
//
// Run it from the module root:
//
//	go run ./examples/export
//
// It writes customers.csv to a fresh temporary directory, or to -dir DIR.
// For a CSV or JSON Lines file that already exists, the same export is one
// command, with keys from a key store:
//
//	tillid pseudonymise -keyset-file keys.json -in customers.csv \
//	    -column customer=pseudonym -column email=pseudonym:normalize=email \
//	    -column born=generalise=year -column notes=redact -column country=keep
//
// All the data is made up, which is why this program may print it.
package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/piitest"
)

// Customer is a record as the application stores it (protected) and
// holds it after Reveal (in clear, as here): kept to perform the contract
// (GDPR Art. 6(1)(b)). The seed data below is written without field names,
// so the processing options are on each field rather than on a blank
// field.
type Customer struct {
	ID      string               `pii:"-"`
	Email   string               `pii:"encrypt,class=contact,aad=ID,purpose=account,basis=contract"`
	Born    pii.Value[time.Time] `pii:"encrypt,class=identity,aad=ID,purpose=account,basis=contract"`
	Country string               `pii:"-"`
	Notes   string               `pii:"encrypt,class=contact,aad=ID,purpose=support,basis=legitimate_interests"`
	Spent   int                  `pii:"-"` // in cents
}

// ExportRow is one line of the analysts' file. Protect replaces the
// pseudonym fields with tl1h:… pseudonyms and empties Notes. Analytics on
// pseudonymised data is the shop's legitimate interest (GDPR Art. 6(1)(f)).
type ExportRow struct {
	_        struct{} `pii:"purpose=analytics,basis=legitimate_interests,subjects=customer"`
	Customer string   `pii:"pseudonym"`
	Email    string   `pii:"pseudonym,normalize=email"`
	BornYear string   `pii:"-"` // generalised below: the year only
	Country  string   `pii:"-"`
	Notes    string   `pii:"redact"`
	Spent    string   `pii:"-"`
}

func main() {
	dir := flag.String("dir", "", "directory for customers.csv (default: a new temporary directory)")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("", "tillid-export-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		*dir = d
	}
	path := filepath.Join(*dir, "customers.csv")
	if err := run(context.Background(), path, customers()); err != nil {
		fmt.Fprintln(os.Stderr, "export:", err)
		os.Exit(1)
	}
	fmt.Println("wrote", path)
}

func customers() []Customer {
	d := func(y int, m time.Month, day int) pii.Value[time.Time] {
		return pii.NewValue(time.Date(y, m, day, 0, 0, 0, 0, time.UTC))
	}
	return []Customer{
		{"c-1", "ada@example.com", d(1815, 12, 10), "GB", "prefers email", 12_50},
		{"c-2", "Alan@Example.com", d(1912, 6, 23), "GB", "", 99_00},
		{"c-3", "grace@example.com", d(1906, 12, 9), "US", "called twice", 5_25},
		{"c-1", "ADA@example.com ", d(1815, 12, 10), "GB", "", 30_00}, // Ada again, typed differently
	}
}

// run writes the export of cs to path.
func run(ctx context.Context, path string, cs []Customer) error {
	// Fixed public test keys: real keys come from a KMS-wrapped keyset
	// (keys.OpenFile, keys.OpenSQLite, kms.NewKEK). DO NOT use these for
	// real data.
	p, err := pii.New(piitest.NewFixedProvider())
	if err != nil {
		return err
	}
	rows := make([]ExportRow, len(cs))
	for i, c := range cs {
		born, ok := c.Born.Get()
		if !ok {
			return fmt.Errorf("customer %d: reveal the customers before the export", i)
		}
		rows[i] = ExportRow{
			Customer: c.ID, Email: c.Email, BornYear: strconv.Itoa(born.Year()),
			Country: c.Country, Notes: c.Notes, Spent: strconv.Itoa(c.Spent),
		}
	}
	// One call for the whole slice: all or nothing.
	if err := p.Protect(ctx, &rows); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f, rows); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func write(w io.Writer, rows []ExportRow) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"customer", "email", "born_year", "country", "notes", "spent_cents"})
	for _, r := range rows {
		cw.Write([]string{r.Customer, r.Email, r.BornYear, r.Country, r.Notes, r.Spent})
	}
	cw.Flush()
	return cw.Error()
}
