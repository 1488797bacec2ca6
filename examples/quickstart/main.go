// Quickstart shows tillid on realistic data. It generates 10,000 fake
// customers, protects their personal data through pii tags, stores them in a
// SQLite database, reads them back and reveals them, rotates the keys,
// protects 1,000 more, shows that rows from before and after the rotation
// both reveal, and rewraps a batch of old rows under the new keys. It then
// gives every customer a marketing profile under their own subject keys,
// forgets 10 customers and withdraws the marketing consent of 100. Before and
// after the rotation it looks customers up by email, typed in another case
// and with stray spaces, through a blind index and a SQL query. It shows a
// customer masked for display (pii.Masked, from the mask= tags). Last, it
// sweeps the table with package retention as of a fixed date: the customers
// were created over the three years before it, their notes are kept two
// years, a closed account is deleted a year after it closed, rows on legal
// hold are kept, and a second sweep changes nothing. The tags' purposes and
// lawful bases make the record of processing that tillid inventory renders.
//
// Card numbers and national IDs are tokenized rather than encrypted: they
// keep their shape, so systems that only need a card-like or ID-like value
// never hold the real one. Cards go through a vault (a token table in the
// same SQLite database), national IDs through FF1 format-preserving
// encryption, which needs no vault.
//
// Run it, with no set-up, from the module root:
//
//	go run ./examples/quickstart
//
// It writes a master key, an encrypted keyset file and the database (the
// customers table and the card token vault, tillid_tokens) to a fresh
// temporary directory, or to -dir DIR. A later run with the same -dir
// reuses the master key, the keysets (and rotates them once more) and the
// vault, checks that the previous run's rows still reveal, and recreates the
// customers table.
//
// All the data is fake (gofakeit with a fixed seed, so every run makes the
// same customers), which is why this program may print it.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/brianvoe/gofakeit/v7"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", pure Go

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/tokenize"
)

// Customer is one row of the customers table. Every field but ID and the
// three account fields (CreatedAt, ClosedAt, LegalHold) is personal data.
// Most are encrypted (AES-256-GCM) and bound to the row's ID with aad=ID,
// so a ciphertext copied into another row does not reveal there. Each
// field's mask= says how a screen shows it (pii.Masked, pii.NewView).
//
// The blank field is the struct's default: every field is processed to run
// the customer's account (purpose=account) under the contract with them
// (basis=contract) unless it says otherwise. It is also the record rule: a
// closed account is deleted a year after it closed (retain=1y,from=ClosedAt,
// then=delete), unless it is on legal hold. `tillid inventory` renders
// these tags as the record of processing.
type Customer struct {
	_         struct{}   `pii:"purpose=account,basis=contract,retain=1y,from=ClosedAt,then=delete"`
	ID        string     `pii:"-"`
	CreatedAt time.Time  `pii:"-"`
	ClosedAt  *time.Time // nil while the account is open
	// LegalHold keeps the row, every field of it, out of every retention
	// rule while it is set.
	LegalHold bool   `pii:"hold"`
	Name      string `pii:"encrypt,class=identity,aad=ID,mask=name"`
	Email     string `pii:"encrypt,class=contact,aad=ID,mask=email"`
	// EmailIdx is a blind index of Email, which Protect computes: a keyed
	// HMAC-SHA256 of the email trimmed and case-folded (normalize=email),
	// under a PRF key of its own, 16 bytes stored as "tl1i:" + base64url,
	// 33 characters. The same email gives the same index however it is
	// typed, so "WHERE email_idx IN (...)" finds a customer while Email
	// stays randomised. The price is that the column reveals which rows
	// share an email (not the email itself). Reveal leaves it as it is.
	EmailIdx  string               `pii:"index=Email,normalize=email"`
	Phone     string               `pii:"encrypt,class=contact,aad=ID,mask=phone"`
	BirthDate pii.Value[time.Time] `pii:"encrypt,class=identity,aad=ID,mask=year"`
	// NationalID, a 9-digit SSN, is tokenized with FF1 format-preserving
	// encryption (domain national_id): the token is 9 digits too, under an
	// AES key derived from the PRF keyset tokenize-national_id, stored as
	// "tl1f:", the key ID in 8 hex digits, ":" and the token. No vault: the
	// key alone turns it back. The FF1 tweak holds the type, the field and
	// the row's ID (aad=ID), so equal SSNs in two rows get unrelated tokens.
	// FF1 does not authenticate: a token altered in the database reveals to
	// a wrong SSN, not an error. It is kept for identity checks the law
	// requires (purpose=kyc,basis=legal_obligation).
	NationalID string `pii:"tokenize=national_id,format=ff1,class=national_id,aad=ID,mask=ssn,purpose=kyc,basis=legal_obligation"`
	// Card is replaced by a vaulted token (domain card): 16 digits that
	// keep the card's first six and last four, with random digits between
	// and a valid Luhn check digit, stored as "tl1t:" and the token. The
	// card itself sits AEAD-encrypted in the token vault (the tillid_tokens
	// table) under keyset tokenize-card. The vault is in consistent mode,
	// and aad=ID makes the row's ID the token's data subject: the same card
	// of the same customer always gets the same token (the same card of two
	// customers gets two), and Tokenizer.DeleteSubject erases a customer's
	// tokens.
	Card   string `pii:"tokenize=card,format=card-6-4,class=financial,aad=ID,mask=card-6-4,purpose=billing"`
	Street string `pii:"encrypt,class=location,aad=ID,mask=text"`
	// Notes is free text from support calls, encrypted and kept two years
	// from the account's creation (retain=2y,from=CreatedAt): the
	// retention sweep then clears it (then=redact, the default on a field)
	// to NULL. It is an sql.NullString because Reveal refuses an empty
	// string in an encrypted field (Protect encrypts "" too, so that empty
	// and absent stay apart), while it leaves a NULL alone.
	Notes sql.NullString `pii:"encrypt,aad=ID,mask=text,purpose=support,basis=legitimate_interests,retain=2y,from=CreatedAt"`
}

// Files that run keeps in its directory.
const (
	masterKeyFile = "master.key"
	keysetFile    = "keysets.json"
	dbFile        = "customers.db"
)

// Token domains. Each has its keysets, named "tokenize-" + domain.
const (
	cardDomain       = "card"
	nationalIDDomain = "national_id"
)

// batchSize is how many customers one Protect or Reveal call handles.
const batchSize = 1000

// Seeds of the two generated batches, so that every run makes the same data.
const (
	firstSeed  = 1
	secondSeed = 2
)

func main() {
	dir := flag.String("dir", "", "directory for the master key, keyset file and database (default: a new temporary directory)")
	n := flag.Int("n", 10000, "number of customers to generate before the key rotation")
	flag.Parse()
	if flag.NArg() > 0 || *n < 10 {
		fmt.Fprintln(os.Stderr, "usage: quickstart [-dir DIR] [-n N (at least 10)]")
		os.Exit(2)
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "tillid-quickstart-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "quickstart:", err)
			os.Exit(1)
		}
		*dir = d
	}
	if err := run(context.Background(), *dir, *n, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run does the whole walk-through in dir with n customers, then n/10 more
// after the rotation, writing what it does to out.
func run(ctx context.Context, dir string, n int, out io.Writer) error {
	started := time.Now()
	fmt.Fprintf(out, "tillid quickstart in %s\n\n", dir)

	// Keys: a local master key (the KEK) encrypts the keyset file. In
	// production the KEK is a cloud KMS key, and a master key file never
	// sits beside the data it protects.
	keyPath := filepath.Join(dir, masterKeyFile)
	switch err := keys.GenerateMasterKeyFile(keyPath); {
	case errors.Is(err, fs.ErrExist):
		fmt.Fprintln(out, "reusing the master key and keysets of a previous run")
	case err != nil:
		return err
	}
	kek, err := keys.ReadKEKFile(keyPath)
	if err != nil {
		return err
	}
	// WithCreateMissing: this demo makes its keys on the first run. A
	// service opens an existing keyset file without it, so that a wrong
	// path is an error instead of new keys.
	store, err := keys.OpenFile(filepath.Join(dir, keysetFile), kek, keys.WithCreateMissing())
	if err != nil {
		return err
	}
	if err := pii.Validate(Customer{}); err != nil {
		return err
	}

	// One SQLite database holds the customers and the card token vault.
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(dir, dbFile)))
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := newProtector(ctx, store, db)
	if err != nil {
		return err
	}
	vaultedBefore, err := countTokens(ctx, db, cardDomain)
	if err != nil {
		return err
	}
	if err := checkPreviousRun(ctx, db, p, out); err != nil {
		return err
	}
	if err := createTable(ctx, db); err != nil {
		return err
	}

	// 1. Generate, protect and store n customers.
	customers := generate(firstSeed, n)
	want := make(map[string]Customer, n+n/10)
	var plainBytes, storedBytes int
	for _, c := range customers {
		want[c.ID] = c
		plainBytes += plainSize(c)
	}
	var protectTime time.Duration
	protect := func(cs []Customer) error {
		start := time.Now()
		// Protect takes a slice too; it batches the card vault's writes into
		// one transaction per call.
		for i := 0; i < len(cs); i += batchSize {
			batch := cs[i:min(i+batchSize, len(cs))]
			if err := p.Protect(ctx, &batch); err != nil {
				return err
			}
		}
		protectTime += time.Since(start)
		for _, c := range cs {
			storedBytes += storedSize(c)
		}
		return nil
	}
	if err := protect(customers); err != nil {
		return err
	}
	if err := execEach(ctx, db, insertSQL, customers, insertArgs); err != nil {
		return err
	}
	fmt.Fprintf(out, "protected %s customers and stored them in one transaction\n", commas(n))

	// 2. Read every row back and reveal it.
	rows, err := query(ctx, db, "ORDER BY rowid")
	if err != nil {
		return err
	}
	sample := rows[0]
	start := time.Now()
	for i := 0; i < len(rows); i += batchSize {
		batch := rows[i:min(i+batchSize, len(rows))]
		if err := p.Reveal(ctx, &batch); err != nil {
			return err
		}
	}
	revealTime := time.Since(start)
	for _, got := range rows {
		if err := sameAsGenerated(got, want[got.ID]); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "read back and revealed %s rows: all equal the generated data\n\n", commas(len(rows)))
	fmt.Fprintln(out, "one customer, revealed and as stored:")
	showRecord(out, rows[0], sample)
	// The same customer as a screen shows it to a reader with no role:
	// each field by its mask= (pii.Masked), from the revealed struct,
	// never stored.
	masked, err := json.Marshal(pii.Masked(&rows[0]))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "masked for display (pii.Masked):\n  %s\n", masked)

	// A lookup by email as a user types it: in capitals, with stray spaces.
	// LookupTerms normalises it as Protect did and returns its blind index
	// under each live PRF key: one in a fresh directory, so far.
	fmt.Fprintln(out, "email lookup: SELECT ... FROM customers WHERE email_idx IN (<LookupTerms: one term per live PRF key>)")
	if err := lookupAndShow(ctx, db, p, out, "  "+strings.ToUpper(rows[0].Email)+" ", rows[0].ID); err != nil {
		return err
	}
	fmt.Fprintln(out)

	// 3. Rotate the keysets: new keys protect new values, old keys still
	// reveal old ones, and old blind indexes stay searchable.
	oldAEAD, err := primaryKeyID(ctx, store, "default", keys.KindAEAD)
	if err != nil {
		return err
	}
	oldPRF, err := primaryKeyID(ctx, store, "default", keys.KindPRF)
	if err != nil {
		return err
	}
	newAEAD, err := store.Rotate(ctx, "default", keys.KindAEAD)
	if err != nil {
		return err
	}
	newPRF, err := store.Rotate(ctx, "default", keys.KindPRF)
	if err != nil {
		return err
	}
	// The national IDs' FF1 keys derive from this PRF keyset. The card
	// vault's keysets (tokenize-card) stay as they are: card tokens are
	// random, not derived from a key, and Rewrap leaves them alone.
	fpeKeyset := "tokenize-" + nationalIDDomain
	oldFPE, err := primaryKeyID(ctx, store, fpeKeyset, keys.KindPRF)
	if err != nil {
		return err
	}
	newFPE, err := store.Rotate(ctx, fpeKeyset, keys.KindPRF)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "rotated default/aead %d -> %d, default/prf %d -> %d and %s/prf %d -> %d\n",
		oldAEAD, newAEAD, oldPRF, newPRF, fpeKeyset, oldFPE, newFPE)

	more := generate(secondSeed, max(n/10, 1))
	for _, c := range more {
		want[c.ID] = c
		plainBytes += plainSize(c)
	}
	if err := protect(more); err != nil {
		return err
	}
	if err := execEach(ctx, db, insertSQL, more, insertArgs); err != nil {
		return err
	}
	fmt.Fprintf(out, "protected and stored %s more customers\n", commas(len(more)))

	for _, s := range []struct{ when, id string }{
		{"before", customers[n-1].ID},
		{"after", more[0].ID},
	} {
		c, err := queryID(ctx, db, s.id)
		if err != nil {
			return err
		}
		_, aeadKey, err := pii.KeyID(c.Name)
		if err != nil {
			return err
		}
		prfKey := storedKeyID(c.EmailIdx)
		fpeKey := storedKeyID(c.NationalID)
		if err := p.Reveal(ctx, &c); err != nil {
			return err
		}
		if err := sameAsGenerated(c, want[c.ID]); err != nil {
			return err
		}
		nationalID, card, err := masks(c)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  row from %-6s the rotation (keys %d, %d, %d) reveals: %s, %s, %s, %s\n",
			s.when, aeadKey, prfKey, fpeKey, c.Name, c.Email, nationalID, card)
	}

	// Lookups after the rotation: LookupTerms now returns two terms, the
	// index under the new key and under the old one, so the IN finds rows
	// from before and after the rotation alike.
	fmt.Fprintln(out, "email lookups after the rotation, same SQL:")
	for _, c := range []Customer{customers[n-1], more[0]} {
		if err := lookupAndShow(ctx, db, p, out, " "+mixedCase(want[c.ID].Email)+"  ", c.ID); err != nil {
			return err
		}
	}

	// 4. Rewrap the oldest rows: Rewrap re-encrypts under the primary keys
	// the values whose key is older, recomputes blind indexes made under an
	// older PRF key and re-encrypts FF1 tokens under the new FF1 key,
	// without showing plaintext to the caller. Vaulted card tokens stay as
	// they are: they are random, and the vault still holds their cards.
	batch, err := query(ctx, db, "ORDER BY rowid LIMIT ?", max(n/10, 1))
	if err != nil {
		return err
	}
	rewrapped, err := p.Rewrap(ctx, &batch)
	if err != nil {
		return err
	}
	if err := execEach(ctx, db, updateSQL, batch, updateArgs); err != nil {
		return err
	}
	fmt.Fprintf(out, "rewrapped the %s oldest rows: %s values (ciphertexts, email indexes and national ID tokens) moved to keys %d, %d and %d; card tokens stay\n",
		commas(len(batch)), commas(rewrapped), newAEAD, newPRF, newFPE)

	// With only the primary key's term (BlindIndexer, the hot path), a
	// lookup finds rewrapped rows and new ones, but not rows still indexed
	// under the old key: use LookupTerms until every row is rewrapped and
	// the old PRF key is disabled.
	ix, err := p.BlindIndexer(Customer{}, "EmailIdx")
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "email lookups with the primary key's term only: ... WHERE email_idx IN (<BlindIndexer.BlindIndex>)")
	for _, s := range []struct {
		what string
		c    Customer
		want string // the ID the lookup must find, or "" for none
	}{
		{"rewrapped row from before the rotation", want[rows[0].ID], rows[0].ID},
		{"row from before the rotation, not rewrapped", want[customers[n-1].ID], ""},
	} {
		typed := " " + mixedCase(s.c.Email) + " "
		term, err := ix.BlindIndex(ctx, nil, typed)
		if err != nil {
			return err
		}
		found, err := lookup(ctx, db, p, string(term))
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %s, typed %q:\n", s.what, typed)
		if err := showFound(out, found, typed, s.want); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "  so search with LookupTerms until every row is rewrapped and the old PRF key disabled")
	fmt.Fprintln(out)

	// 5. Erasure and consent: forget 10 customers, withdraw the marketing
	// consent of 100 (erasure.go).
	plain := make([]Customer, len(customers))
	for i, c := range customers {
		plain[i] = want[c.ID] // customers now holds protected values
	}
	erasure, err := runErasure(ctx, dir, store, db, plain, out)
	if err != nil {
		return err
	}

	// 6. Retention: sweep the notes past two years and the accounts closed
	// over a year ago (retention.go).
	kept, err := runRetention(ctx, db, out)
	if err != nil {
		return err
	}

	// 7. Summary.
	total := len(want)
	var stored int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM customers").Scan(&stored); err != nil {
		return err
	}
	if stored != total-kept.deleted {
		return fmt.Errorf("the table holds %d rows, want %d", stored, total-kept.deleted)
	}
	// In consistent mode a card keeps its token across runs with -dir, so
	// a later run issues no new ones.
	vaulted, err := countTokens(ctx, db, cardDomain)
	if err != nil {
		return err
	}
	// A sample of each token, from the first row (rewrapped, so its
	// national ID token is under the new FF1 key), beside the value it
	// reveals to, masked as a screen or receipt would show it.
	first, err := queryID(ctx, db, rows[0].ID)
	if err != nil {
		return err
	}
	revealed := first
	if err := p.Reveal(ctx, &revealed); err != nil {
		return err
	}
	after, err := swept(want[first.ID])
	if err != nil {
		return err
	}
	if err := sameAsGenerated(revealed, after); err != nil {
		return err
	}
	cardToken, _ := pii.Token(first.Card)
	idToken, _ := pii.Token(first.NationalID)
	maskedID, maskedCard, err := masks(revealed)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "summary")
	fmt.Fprintf(w, "  records\t%s (%s before the rotation, %s after)\n", commas(total), commas(n), commas(len(more)))
	fmt.Fprintf(w, "  protect\t%.1f µs/record, tokenization included (one vault transaction per 1,000 cards, FF1 per national ID)\n", micros(protectTime, total))
	fmt.Fprintf(w, "  reveal\t%.1f µs/record, one vault read per 1,000 cards included\n", micros(revealTime, len(rows)))
	fmt.Fprintf(w, "  card\t%s -> token %s, stored %s\n", maskedCard, cardToken, first.Card)
	fmt.Fprintf(w, "  national ID\t%s -> token %s, stored %s\n", maskedID, idToken, first.NationalID)
	fmt.Fprintf(w, "  card vault\t%s, %s new in this run\n", plural(vaulted, "token"), commas(vaulted-vaultedBefore))
	fmt.Fprintf(w, "  erasure\t%d customers forgotten, %d withdrew marketing consent: %s destroyed, receipts in %s\n",
		erasure.forgotten, erasure.withdrawn, plural(erasure.keysDestroyed, "subject key"), ledgerFile)
	fmt.Fprintf(w, "  profiles\t%d read back erased, %d without marketing fields, %s intact\n", erasure.erased, erasure.noMarketing, commas(erasure.all))
	fmt.Fprintf(w, "  retention\t%s notes cleared, %s closed accounts deleted, %s rows on legal hold kept; a second sweep changed %d\n",
		commas(kept.notesCleared), commas(kept.deleted), commas(kept.held), kept.second)
	fmt.Fprintf(w, "  bytes\t%s of personal data -> %s stored (×%.1f)\n",
		commas(plainBytes), commas(storedBytes), float64(storedBytes)/float64(plainBytes))
	list, err := store.List(ctx)
	if err != nil {
		return err
	}
	for _, ks := range list {
		fmt.Fprintf(w, "  keyset %s/%s\t%s, primary %d\n", ks.Name(), ks.Kind(), plural(len(ks.Keys()), "key"), ks.PrimaryKeyID())
	}
	fmt.Fprintf(w, "  master key\t%s\n", keyPath)
	fmt.Fprintf(w, "  keyset file\t%s\n", filepath.Join(dir, keysetFile))
	fmt.Fprintf(w, "  database\t%s (customers and the card vault, tillid_tokens)\n", filepath.Join(dir, dbFile))
	fmt.Fprintf(w, "  run time\t%v\n", time.Since(started).Round(time.Millisecond))
	return w.Flush()
}

// asOf is the day the quickstart's data is as of: customers were created
// over the three years before it, and the retention sweep's clock stands
// at it (retention.WithClock), so that every run, on any day, removes the
// same rows.
var asOf = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// generate returns n fake customers, the same for the same seed. They were
// created over the three years before asOf; every tenth (the fourth, the
// fourteenth, ...) has closed its account since, and every twenty-fifth
// (the fourth, the twenty-ninth, ...) is on legal hold, so one closed
// account in five is held.
func generate(seed uint64, n int) []Customer {
	f := gofakeit.New(seed)
	from := time.Date(1940, 1, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2007, 1, 1, 0, 0, 0, 0, time.UTC)
	cs := make([]Customer, n)
	for i := range cs {
		created := asOf.Add(-time.Duration(f.IntRange(1, 3*365*24*60)) * time.Minute)
		var closed *time.Time
		if i%10 == 3 {
			t := created.Add(time.Duration(f.IntN(int(asOf.Sub(created)/time.Minute))) * time.Minute)
			closed = &t
		}
		cs[i] = Customer{
			ID:         f.UUID(),
			CreatedAt:  created,
			ClosedAt:   closed,
			LegalHold:  i%25 == 3,
			Name:       f.Name(),
			Email:      f.Email(),
			Phone:      f.PhoneFormatted(),
			BirthDate:  pii.NewValue(f.DateRange(from, to).Truncate(24 * time.Hour)),
			NationalID: f.SSN(), // 9 digits, no dashes: FF1 over Digits takes it as it is
			// Visa and Mastercard numbers have 16 digits. Card(6, 4) needs
			// at least six digits between the kept ones, so it would
			// refuse the 15-digit numbers of American Express and shorter
			// Maestro ones.
			Card:   f.CreditCardNumber(&gofakeit.CreditCardOptions{Types: []string{"visa", "mastercard"}}),
			Street: f.Street(),
			Notes:  sql.NullString{String: f.Paragraph(), Valid: true},
		}
	}
	return cs
}

// plainSize is the size in bytes of c's personal data in clear, with the
// birth date as YYYY-MM-DD.
func plainSize(c Customer) int {
	return len(c.Name) + len(c.Email) + len(c.Phone) + len(time.DateOnly) +
		len(c.NationalID) + len(c.Card) + len(c.Street) + len(c.Notes.String)
}

// storedSize is the size in bytes of c's protected personal data.
func storedSize(c Customer) int {
	return len(c.Name) + len(c.Email) + len(c.EmailIdx) + len(c.Phone) + len(sealed(c.BirthDate)) +
		len(c.NationalID) + len(c.Card) + len(c.Street) + len(c.Notes.String)
}

// sealed returns the ciphertext in a protected Value, as the database gets it.
func sealed(v pii.Value[time.Time]) string {
	s, _ := v.Value()
	str, _ := s.(string)
	return str
}

// storedKeyID returns the key ID of a stored value (a ciphertext, a blind
// index or an FF1 token), or 0 for anything else.
func storedKeyID(stored string) uint32 {
	_, id, err := pii.KeyID(stored)
	if err != nil {
		return 0
	}
	return id
}

// masks returns c's national ID and card as a screen or receipt shows
// them: pii.Mask with the kinds of their mask= tags ("•••••6789",
// "411111••••••1111").
func masks(c Customer) (nationalID, card string, err error) {
	if nationalID, err = pii.Mask("ssn", c.NationalID); err != nil {
		return "", "", err
	}
	if card, err = pii.Mask("card-6-4", c.Card); err != nil {
		return "", "", err
	}
	return nationalID, card, nil
}

// primaryKeyID returns the primary key ID of the keyset name/kind.
func primaryKeyID(ctx context.Context, store *keys.Store, name string, kind keys.Kind) (uint32, error) {
	ks, err := store.Keyset(ctx, name, kind)
	if err != nil {
		return 0, err
	}
	return ks.PrimaryKeyID(), nil
}

// lookupAndShow looks customers up by email, as typed, through the blind
// index: one term per live PRF key, all in one IN. It prints what it found
// and fails unless that is the customer wantID.
func lookupAndShow(ctx context.Context, db *sql.DB, p *pii.Protector, out io.Writer, typed, wantID string) error {
	terms, err := p.LookupTerms(ctx, Customer{}, "EmailIdx", typed)
	if err != nil {
		return err
	}
	found, err := lookup(ctx, db, p, terms...)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  typed %q: %s\n", typed, plural(len(terms), "term"))
	return showFound(out, found, typed, wantID)
}

// lookup returns the customers whose email index is one of terms, revealed.
func lookup(ctx context.Context, db *sql.DB, p *pii.Protector, terms ...string) ([]Customer, error) {
	args := make([]any, len(terms))
	for i, t := range terms {
		args[i] = t
	}
	placeholders := strings.Repeat("?, ", len(terms)-1) + "?"
	found, err := query(ctx, db, "WHERE email_idx IN ("+placeholders+") ORDER BY rowid", args...)
	if err != nil {
		return nil, err
	}
	if err := p.Reveal(ctx, &found); err != nil {
		return nil, err
	}
	return found, nil
}

// showFound prints the customers a lookup for typed found, and fails unless
// they are the customer wantID (or none when wantID is ""), each with the
// email that typed normalises to.
func showFound(out io.Writer, found []Customer, typed, wantID string) error {
	if len(found) == 0 {
		fmt.Fprintln(out, "    found nothing")
	}
	email, err := pii.Normalize("email", typed)
	if err != nil {
		return err
	}
	for _, c := range found {
		fmt.Fprintf(out, "    found %s  %s <%s>, index under key %d\n", c.ID, c.Name, c.Email, storedKeyID(c.EmailIdx))
	}
	switch {
	case wantID == "" && len(found) == 0:
		return nil
	case len(found) == 1 && found[0].ID == wantID && found[0].Email == email:
		return nil
	}
	return fmt.Errorf("the lookup for %q found %d row(s), want customer %q", typed, len(found), wantID)
}

// mixedCase returns s with every other ASCII letter in upper case, as a
// user might type an email address: "jOhN.DoE@eXaMpLe.CoM".
func mixedCase(s string) string {
	b := []byte(s)
	up := false
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			if up {
				b[i] = c - 'a' + 'A'
			}
			up = !up
		}
	}
	return string(b)
}

func sameAsGenerated(got, want Customer) error {
	gotBorn, _ := got.BirthDate.Get()
	wantBorn, _ := want.BirthDate.Get()
	if got.ID != want.ID || got.Notes != want.Notes || got.Name != want.Name || got.Email != want.Email || got.Phone != want.Phone ||
		!gotBorn.Equal(wantBorn) || got.NationalID != want.NationalID || got.Card != want.Card ||
		got.Street != want.Street {
		return fmt.Errorf("customer %s does not reveal to the generated data", got.ID)
	}
	return nil
}

func showRecord(out io.Writer, revealed, stored Customer) {
	born, _ := revealed.BirthDate.Get()
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, f := range [][3]string{
		{"id", revealed.ID, stored.ID},
		{"name", revealed.Name, stored.Name},
		{"email", revealed.Email, stored.Email},
		{"email index", "(blind index of the email)", stored.EmailIdx},
		{"phone", revealed.Phone, stored.Phone},
		{"birth date", born.Format(time.DateOnly), sealed(stored.BirthDate)},
		{"national ID", revealed.NationalID, stored.NationalID},
		{"card", revealed.Card, stored.Card},
		{"street", revealed.Street, stored.Street},
		{"notes", truncate(revealed.Notes.String, 36), stored.Notes.String},
	} {
		fmt.Fprintf(w, "  %s\t%s\t%s\n", f[0], f[1], truncate(f[2], 36))
	}
	w.Flush()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:n], len(s))
}

// plural returns n and noun, with an s unless n is 1: "1 term", "2 terms".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return commas(n) + " " + noun + "s"
}

// commas formats n with thousands separators, as in 10,000.
func commas(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func micros(d time.Duration, n int) float64 {
	return float64(d.Microseconds()) / float64(n)
}

// The database side: plain database/sql. Protected strings are stored as
// TEXT; pii.Value is a driver.Valuer and sql.Scanner, and refuses to hand
// plaintext to the driver.

// sqliteDSN returns the data source name of the SQLite database file at
// path, with the settings tokenize.OpenSQLite asks for: a busy timeout,
// so that connections wait for each other's writes instead of failing;
// write-ahead logging; and transactions that take the write lock at once.
func sqliteDSN(path string) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path)}
	return u.String() + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
}

// newProtector returns the Protector for Customer, with keys from store and
// the card token vault in db: card numbers through a vaulted tokenizer in
// consistent mode, national IDs through FF1.
func newProtector(ctx context.Context, store *keys.Store, db *sql.DB) (*pii.Protector, error) {
	// WithCreateTable: this demo makes its vault on the first run. A service
	// opens the vault its deployment created, without it, so that a mistyped
	// path is tokenize.ErrVaultNotFound instead of a new, empty vault.
	vault, err := tokenize.OpenSQLite(ctx, db, tokenize.WithCreateTable())
	if err != nil {
		return nil, err
	}
	cardTokens, err := tokenize.New(store, vault, cardDomain, tokenize.ModeConsistent,
		tokenize.WithFormat(tokenize.Card(6, 4)))
	if err != nil {
		return nil, err
	}
	nationalIDs, err := tokenize.NewFPE(store, nationalIDDomain, tokenize.Digits)
	if err != nil {
		return nil, err
	}
	return pii.New(store, pii.WithVault(cardTokens), pii.WithFPE(nationalIDs))
}

const (
	columns   = "id, created_at, closed_at, legal_hold, name, email, email_idx, phone, birth_date, national_id, card, street, notes"
	insertSQL = "INSERT INTO customers (" + columns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	updateSQL = "UPDATE customers SET name = ?, email = ?, email_idx = ?, phone = ?, birth_date = ?, national_id = ?, card = ?, street = ?, notes = ? WHERE id = ?"
)

func insertArgs(c *Customer) []any {
	return []any{c.ID, c.CreatedAt, c.ClosedAt, c.LegalHold, c.Name, c.Email, c.EmailIdx, c.Phone, c.BirthDate, c.NationalID, c.Card, c.Street, c.Notes}
}

func updateArgs(c *Customer) []any {
	return []any{c.Name, c.Email, c.EmailIdx, c.Phone, c.BirthDate, c.NationalID, c.Card, c.Street, c.Notes, c.ID}
}

func createTable(ctx context.Context, db *sql.DB) error {
	for _, q := range []string{
		"DROP TABLE IF EXISTS customers",
		`CREATE TABLE customers (
			id TEXT PRIMARY KEY, created_at DATETIME NOT NULL, closed_at DATETIME, legal_hold BOOLEAN NOT NULL,
			name TEXT NOT NULL, email TEXT NOT NULL, email_idx TEXT NOT NULL, phone TEXT NOT NULL,
			birth_date TEXT, national_id TEXT NOT NULL, card TEXT NOT NULL, street TEXT NOT NULL,
			notes TEXT)`,
		"CREATE INDEX customers_email_idx ON customers (email_idx)",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// checkPreviousRun reveals the rows a previous run left in db, if any,
// which shows that the reused master key, keysets and card vault still
// work. It skips a table from an older quickstart that this Customer no
// longer reveals: one without the email index, whose emails are
// deterministic ciphertexts, or one whose card numbers and national IDs are
// encrypted rather than tokenized.
func checkPreviousRun(ctx context.Context, db *sql.DB, p *pii.Protector, out io.Writer) error {
	var tables int
	err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'customers'").Scan(&tables)
	if err != nil || tables == 0 {
		return err
	}
	var hasIndex int
	err = db.QueryRowContext(ctx, "SELECT count(*) FROM pragma_table_info('customers') WHERE name = 'email_idx'").Scan(&hasIndex)
	if err != nil {
		return err
	}
	if hasIndex == 0 {
		fmt.Fprintln(out, "the previous run's table predates the email index; recreating it")
		return nil
	}
	encrypted, err := countWhere(ctx, db, "card LIKE 'tl1e:%' OR national_id LIKE 'tl1e:%'")
	if err != nil {
		return err
	}
	if encrypted > 0 {
		fmt.Fprintln(out, "the previous run's table predates tokenization; recreating it")
		return nil
	}
	old, err := query(ctx, db, "ORDER BY rowid")
	if err != nil || len(old) == 0 {
		return err
	}
	if err := p.Reveal(ctx, &old); err != nil {
		return fmt.Errorf("revealing the previous run's rows: %w", err)
	}
	fmt.Fprintf(out, "the previous run's %s rows all reveal with the reused keys; recreating the table\n", commas(len(old)))
	return nil
}

// execEach runs q once per customer, with args from args, in one transaction
// with a prepared statement.
func execEach(ctx context.Context, db *sql.DB, q string, cs []Customer, args func(*Customer) []any) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // no-op after Commit
	stmt, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i := range cs {
		if _, err := stmt.ExecContext(ctx, args(&cs[i])...); err != nil {
			return fmt.Errorf("customer %s: %w", cs[i].ID, err)
		}
	}
	return tx.Commit()
}

// query returns the customers selected by the SQL that follows
// "SELECT ... FROM customers", as stored (protected).
func query(ctx context.Context, db *sql.DB, rest string, args ...any) ([]Customer, error) {
	rows, err := db.QueryContext(ctx, "SELECT "+columns+" FROM customers "+rest, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cs []Customer
	for rows.Next() {
		var c Customer
		if err := rows.Scan(&c.ID, &c.CreatedAt, &c.ClosedAt, &c.LegalHold, &c.Name, &c.Email, &c.EmailIdx, &c.Phone, &c.BirthDate, &c.NationalID, &c.Card, &c.Street, &c.Notes); err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return cs, nil
}

// queryID returns the customer with the given ID, as stored.
func queryID(ctx context.Context, db *sql.DB, id string) (Customer, error) {
	cs, err := query(ctx, db, "WHERE id = ?", id)
	if err != nil {
		return Customer{}, err
	}
	if len(cs) == 0 {
		return Customer{}, fmt.Errorf("no customer %s", id)
	}
	return cs[0], nil
}

// countTokens returns how many tokens the vault holds in domain.
func countTokens(ctx context.Context, db *sql.DB, domain string) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, "SELECT count(*) FROM tillid_tokens WHERE domain = ?", domain).Scan(&n)
	return n, err
}

func countWhere(ctx context.Context, db *sql.DB, where string, args ...any) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, "SELECT count(*) FROM customers WHERE "+where, args...).Scan(&n)
	return n, err
}
