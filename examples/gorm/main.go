// Gorm shows the tillid GORM plugin over SQLite: one db.Use, and GORM code
// as usual. It creates customers, reads them back in plaintext, finds one by
// email through its blind index, updates a name with a map, and prints a raw
// row beside the revealed record to show what the database holds.
//
// Run it, with no set-up, from the module root:
//
//	go run ./examples/gorm
//
// It writes the database to a fresh temporary directory, or to -dir DIR.
// All the data is made up, which is why this program may print it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/glebarez/sqlite" // GORM's SQLite dialect in pure Go (modernc.org/sqlite)
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	tillidgorm "github.com/tillid/tillid/integrations/gorm"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/piitest"
)

// Customer is a GORM model with pii tags. IDs are set before Create: the
// ciphertexts are bound to them with aad=ID, and an auto-increment ID would
// be known only after the insert. The account is kept to perform the
// contract (GDPR Art. 6(1)(b)): the blank field says that once, for every
// field (GORM and the plugin leave it alone).
type Customer struct {
	_        struct{}             `pii:"purpose=account,basis=contract"`
	ID       string               `gorm:"primaryKey" pii:"-"`
	Name     string               `pii:"encrypt,class=identity,aad=ID"`
	Email    string               `pii:"encrypt,class=contact,aad=ID"`
	EmailIdx string               `gorm:"index;size:33" pii:"index=Email,normalize=email"`
	Born     pii.Value[time.Time] `pii:"encrypt,class=identity,aad=ID"`
	Country  string               // not personal data on its own: stored as it is
}

func main() {
	dir := flag.String("dir", "", "directory for the database (default: a new temporary directory)")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("", "tillid-gorm-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		*dir = d
	}
	if err := run(context.Background(), *dir, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gorm:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string, out io.Writer) error {
	db, err := gorm.Open(sqlite.Open(filepath.Join(dir, "customers.db")), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return err
	}
	if sqlDB, err := db.DB(); err == nil {
		defer sqlDB.Close()
	}
	db = db.WithContext(ctx)

	// Fixed public test keys: real keys come from a KMS-wrapped keyset
	// (keys.OpenFile, keys.OpenSQLite, kms.NewKEK). DO NOT use these for
	// real data.
	p, err := pii.New(piitest.NewFixedProvider())
	if err != nil {
		return err
	}
	plugin := tillidgorm.New(p)
	if err := db.Use(plugin); err != nil {
		return err
	}
	// plugin.AutoMigrate checks that each protected column fits what is
	// stored in it, then runs db.AutoMigrate.
	if err := plugin.AutoMigrate(db, &Customer{}); err != nil {
		return err
	}
	if err := db.Where("1 = 1").Delete(&Customer{}).Error; err != nil {
		return err
	}

	born := func(y int, m time.Month, d int) pii.Value[time.Time] {
		return pii.NewValue(time.Date(y, m, d, 0, 0, 0, 0, time.UTC))
	}
	customers := []Customer{
		{ID: "c-1", Name: "Ada Lovelace", Email: "ada@example.com", Born: born(1815, 12, 10), Country: "GB"},
		{ID: "c-2", Name: "Alan Turing", Email: "alan@example.com", Born: born(1912, 6, 23), Country: "GB"},
		{ID: "c-3", Name: "Grace Hopper", Email: "grace@example.com", Born: born(1906, 12, 9), Country: "US"},
	}
	if err := db.Create(&customers).Error; err != nil {
		return err
	}
	fmt.Fprintf(out, "created %d customers; the caller's structs keep their plaintext: %s\n", len(customers), customers[0].Name)

	// A lookup by email, typed in another case: the scope turns it into
	// WHERE email_idx IN (one term per live key).
	var found Customer
	if err := db.Scopes(plugin.Lookup(Customer{}, "EmailIdx", "Alan@Example.com")).First(&found).Error; err != nil {
		return err
	}
	fmt.Fprintf(out, "found by email: %s, %s\n", found.ID, found.Name)

	// An update through a map is protected too.
	if err := db.Model(&found).Updates(map[string]any{"name": "Alan M. Turing"}).Error; err != nil {
		return err
	}

	// The stored columns, read past the plugin: ciphertexts, not personal
	// data in clear.
	var raw struct {
		Name  string `pii:"-"`
		Email string `pii:"-"`
	}
	if err := db.Raw("SELECT name, email FROM customers WHERE id = ?", found.ID).Scan(&raw).Error; err != nil {
		return err
	}
	var again Customer
	if err := db.First(&again, "id = ?", found.ID).Error; err != nil {
		return err
	}
	year := "?"
	if t, ok := again.Born.Get(); ok {
		year = t.Format("2006")
	}
	fmt.Fprintf(out, "stored name:   %.24s…\n", raw.Name)
	fmt.Fprintf(out, "revealed name: %s (born %s)\n", again.Name, year)
	if raw.Name == again.Name {
		return errors.New("the name was stored in clear")
	}
	return nil
}
