package main

// Erasure and consent: every customer has a marketing profile whose
// personal fields are sealed under that customer's own keys (one key per
// customer and purpose, kept in a subject-key store). Forgetting a customer
// (GDPR Art. 17) destroys their keys: every copy of their profile, backups
// included, becomes unreadable at once, with a receipt in the erasure
// ledger. Withdrawing marketing consent destroys only the marketing key.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

// Profile is a customer's marketing profile. CustomerID is the data
// subject. Its fields serve the account and marketing under the contract
// (the blank field's default) but for the marketing fields, which serve
// marketing alone on consent. Email, with two purposes, is under the
// customer's base key, the marketing fields
// under the customer's marketing key, and all three are bound to the
// customer's ID. EmailIdx is a blind index, which no subject key protects:
// Erase clears it, so that the email of a forgotten customer no longer
// finds the row.
type Profile struct {
	_          struct{} `pii:"purpose=account+marketing,basis=contract"`
	CustomerID string   `pii:"subject"`
	Email      string   `pii:"encrypt,class=contact"`
	EmailIdx   string   `pii:"index=Email,normalize=email"`
	Topics     string   `pii:"encrypt,purpose=marketing,basis=consent"`
	Segment    string   `pii:"encrypt,purpose=marketing,basis=consent"`
}

// Files of the erasure step: the subject-key store and the erasure
// ledger, which a real deployment keeps apart from the data and from each
// other, and never deletes. The quickstart starts both afresh every run,
// so that the same fake customers can be forgotten again.
const (
	subjectKeysFile = "subject-keys.db"
	ledgerFile      = "erasures.db"
)

// erasureResult is what the erasure step did, for the summary.
type erasureResult struct {
	forgotten, withdrawn     int
	keysDestroyed            int
	erased, noMarketing, all int
	receipt                  pii.Erasure
}

// runErasure gives each customer a profile, forgets ten customers (the
// eleventh to the twentieth), withdraws the marketing consent of the
// hundred after them, then reads every profile back.
func runErasure(ctx context.Context, dir string, store keys.Provider, db *sql.DB, customers []Customer, out io.Writer) (erasureResult, error) {
	var res erasureResult
	p, closeAll, err := openSubjects(ctx, dir, store)
	if err != nil {
		return res, err
	}
	defer closeAll()
	if err := createProfiles(ctx, db); err != nil {
		return res, err
	}
	profiles := make([]Profile, len(customers))
	for i, c := range customers {
		profiles[i] = Profile{CustomerID: c.ID, Email: c.Email, Topics: "gardening, jazz", Segment: fmt.Sprintf("segment-%d", i%7)}
	}
	want := append([]Profile(nil), profiles...)
	// One Protect call per 1,000 profiles: the keys of its new customers
	// are made in one batch of the subject-key store.
	for i := 0; i < len(profiles); i += batchSize {
		batch := profiles[i:min(i+batchSize, len(profiles))]
		if err := p.Protect(ctx, &batch); err != nil {
			return res, err
		}
	}
	if err := insertProfiles(ctx, db, profiles); err != nil {
		return res, err
	}

	// Forget ten customers and withdraw the marketing consent of a hundred.
	first := min(10, len(customers)-10)
	forget := customers[first : first+10]
	withdraw := customers[first+10 : min(first+110, len(customers))]
	for _, c := range forget {
		receipt, err := p.Forget(ctx, c.ID)
		if err != nil {
			return res, err
		}
		res.keysDestroyed += len(receipt.Keys)
		res.receipt = receipt
		// The recipe's second half: clear what no subject key protects (here
		// the email index), or delete the row; this walk-through keeps the
		// row to show how it reads back.
		prof, err := queryProfile(ctx, db, c.ID)
		if err != nil {
			return res, err
		}
		if _, err := p.Erase(ctx, &prof); err != nil {
			return res, err
		}
		if _, err := db.ExecContext(ctx, "UPDATE profiles SET email_idx = ? WHERE customer_id = ?", prof.EmailIdx, c.ID); err != nil {
			return res, err
		}
	}
	for _, c := range withdraw {
		receipt, err := p.Withdraw(ctx, c.ID, "marketing")
		if err != nil {
			return res, err
		}
		res.keysDestroyed += len(receipt.Keys)
	}
	res.forgotten, res.withdrawn = len(forget), len(withdraw)
	fmt.Fprintf(out, "forgot %d customers (their subject keys destroyed, email indexes erased) and withdrew the marketing consent of %d\n", len(forget), len(withdraw))
	fmt.Fprintf(out, "  receipt of the last: %s\n", res.receipt)

	// Read every profile back: the forgotten reveal erased, the withdrawn
	// without their marketing fields, every other one intact.
	got, err := queryProfiles(ctx, db)
	if err != nil {
		return res, err
	}
	forgotten, withdrawn := map[string]bool{}, map[string]bool{}
	for _, c := range forget {
		forgotten[c.ID] = true
	}
	for _, c := range withdraw {
		withdrawn[c.ID] = true
	}
	for i := 0; i < len(got); i += batchSize {
		batch := got[i:min(i+batchSize, len(got))]
		if _, err := p.RevealReport(ctx, &batch); err != nil {
			return res, err
		}
	}
	for i, g := range got {
		w := want[i]
		switch {
		case forgotten[g.CustomerID]:
			if g != (Profile{CustomerID: w.CustomerID}) {
				return res, fmt.Errorf("the profile of forgotten customer %s still reveals data", g.CustomerID)
			}
			res.erased++
		case withdrawn[g.CustomerID]:
			if g.Email != w.Email || g.Topics != "" || g.Segment != "" {
				return res, fmt.Errorf("the profile of customer %s, who withdrew consent, does not read back without its marketing fields", g.CustomerID)
			}
			res.noMarketing++
		default:
			if g.CustomerID != w.CustomerID || g.Email != w.Email || g.Topics != w.Topics || g.Segment != w.Segment {
				return res, fmt.Errorf("the profile of customer %s does not reveal intact", g.CustomerID)
			}
			res.all++
		}
	}
	fmt.Fprintf(out, "read back %s profiles: %d erased, %d without marketing fields, %s intact\n\n", commas(len(got)), res.erased, res.noMarketing, commas(res.all))
	return res, nil
}

// openSubjects opens a fresh subject-key store and erasure ledger in dir
// and returns a Protector that seals profiles under them.
func openSubjects(ctx context.Context, dir string, store keys.Provider) (*pii.Protector, func(), error) {
	var dbs []*sql.DB
	closeAll := func() {
		for _, db := range dbs {
			db.Close()
		}
	}
	open := func(name string) (*sql.DB, error) {
		path := filepath.Join(dir, name)
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
		db, err := sql.Open("sqlite", sqliteDSN(path))
		if err == nil {
			dbs = append(dbs, db)
		}
		return db, err
	}
	sdb, err := open(subjectKeysFile)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	ldb, err := open(ledgerFile)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	subjects, err := keys.OpenSQLiteSubjectKeyStore(ctx, sdb)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	ledger, err := keys.OpenSQLiteLedger(ctx, ldb)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	sk, err := keys.NewSubjectKeys(store, subjects, ledger)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	p, err := pii.New(store, pii.WithSubjectKeys(sk))
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return p, closeAll, nil
}

func createProfiles(ctx context.Context, db *sql.DB) error {
	for _, q := range []string{
		"DROP TABLE IF EXISTS profiles",
		`CREATE TABLE profiles (customer_id TEXT PRIMARY KEY, email TEXT NOT NULL, email_idx TEXT NOT NULL,
			topics TEXT NOT NULL, segment TEXT NOT NULL)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

func insertProfiles(ctx context.Context, db *sql.DB, ps []Profile) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // no-op after Commit
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO profiles (customer_id, email, email_idx, topics, segment) VALUES (?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, p := range ps {
		if _, err := stmt.ExecContext(ctx, p.CustomerID, p.Email, p.EmailIdx, p.Topics, p.Segment); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func queryProfiles(ctx context.Context, db *sql.DB, where ...any) ([]Profile, error) {
	q := "SELECT customer_id, email, email_idx, topics, segment FROM profiles"
	if len(where) > 0 {
		q += " WHERE customer_id = ?"
	}
	rows, err := db.QueryContext(ctx, q+" ORDER BY rowid", where...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ps []Profile
	for rows.Next() {
		var p Profile
		if err := rows.Scan(&p.CustomerID, &p.Email, &p.EmailIdx, &p.Topics, &p.Segment); err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

func queryProfile(ctx context.Context, db *sql.DB, id string) (Profile, error) {
	ps, err := queryProfiles(ctx, db, id)
	if err != nil {
		return Profile{}, err
	}
	if len(ps) != 1 {
		return Profile{}, fmt.Errorf("no profile of customer %s", id)
	}
	return ps[0], nil
}
