package stores_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/piitest"
	"github.com/tillid/tillid/retention"
	"github.com/tillid/tillid/tokenize"
)

type cardHolder struct {
	ID      int64     `pii:"-"`
	Created time.Time `pii:"-"`
	Card    *string   `pii:"tokenize=card,retain=30d,from=Created"` // cleared to NULL
}

// TestRetentionTokensAgreeWithSweep stores tokenized cards in a table and
// a SQLite vault, and checks at several times that the vault's Purge
// deletes as many tokens as a sweep of the table clears cards.
func TestRetentionTokensAgreeWithSweep(t *testing.T) {
	rdb := retentionSQLite(t)
	db := rdb.connect(t)
	vault, err := tokenize.OpenSQLite(ctx, db, tokenize.WithCreateTable())
	require.NoError(t, err)
	clock := retentionNow
	now := func() time.Time { return clock }
	card, err := tokenize.New(keys.NewMemory(), vault, "card", tokenize.ModeRandom, tokenize.WithClock(now))
	require.NoError(t, err)
	p, err := pii.New(keys.NewMemory(), pii.WithVault(card))
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `CREATE TABLE card_holders (id INTEGER PRIMARY KEY, created DATETIME, card TEXT)`)
	require.NoError(t, err)
	for i := range 20 {
		c := cardHolder{ID: int64(i + 1), Created: retentionNow.Add(-time.Duration(i) * 24 * time.Hour), Card: ptr(fmt.Sprintf("41111111111111%02d", i))}
		require.NoError(t, p.Protect(ctx, &c))
		_, err = db.ExecContext(ctx, `INSERT INTO card_holders VALUES (?, ?, ?)`, c.ID, c.Created, c.Card)
		require.NoError(t, err)
	}
	table, err := retention.ForType(cardHolder{}, "card_holders", "id", nil)
	require.NoError(t, err)
	sw, err := retention.New(ctx, db, retention.SQLite, table, retention.WithClock(now))
	require.NoError(t, err)
	for _, days := range []int{0, 11, 12, 20, 40} {
		clock = retentionNow.Add(time.Duration(days) * 24 * time.Hour)
		purged, err := card.Purge(ctx)
		require.NoError(t, err)
		st, err := sw.Sweep(ctx)
		require.NoError(t, err)
		assert.Equal(t, purged, st.Rules[0].Changed, "day %d: Purge and the sweep agree", days)
	}
}

func ptr[T any](v T) *T { return &v }

type sealedCustomer struct {
	ID      int64          `pii:"-"`
	Created time.Time      `pii:"-"`
	Notes   sql.NullString `pii:"encrypt,aad=ID,retain=2y,from=Created"`
	Phone   *string        `pii:"deterministic,retain=2y,from=Created"`
}

// TestRetentionSweptSealedFieldsReveal: a sweep clears protected fields to
// NULL, so that Reveal of a swept row succeeds (leaving them empty) and
// the values are gone from the database, while a row within its period
// still reveals.
func TestRetentionSweptSealedFieldsReveal(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		p, err := pii.New(keys.NewMemory())
		require.NoError(t, err)
		ddl := `CREATE TABLE sealed_customers (id BIGINT PRIMARY KEY, created TIMESTAMPTZ, notes TEXT, phone TEXT)`
		ins := `INSERT INTO sealed_customers VALUES ($1, $2, $3, $4)`
		if rdb.dialect == retention.SQLite {
			ddl = `CREATE TABLE sealed_customers (id INTEGER PRIMARY KEY, created DATETIME, notes TEXT, phone TEXT)`
			ins = `INSERT INTO sealed_customers VALUES (?, ?, ?, ?)`
		}
		_, err = db.ExecContext(ctx, ddl)
		require.NoError(t, err)
		for id, created := range map[int64]time.Time{1: retentionNow.Add(-3 * 365 * 24 * time.Hour), 2: retentionNow.Add(-24 * time.Hour)} {
			c := sealedCustomer{ID: id, Created: created, Notes: sql.NullString{String: "a note", Valid: true}, Phone: ptr("+45 1234")}
			require.NoError(t, p.Protect(ctx, &c))
			_, err = db.ExecContext(ctx, ins, c.ID, c.Created, c.Notes, c.Phone)
			require.NoError(t, err)
		}
		table, err := retention.ForType(sealedCustomer{}, "sealed_customers", "id", nil)
		require.NoError(t, err)
		sw, err := retention.New(ctx, db, rdb.dialect, table, fixedClock())
		require.NoError(t, err)
		st, err := sw.Sweep(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(1), st.Rules[0].Changed)
		assert.Equal(t, int64(1), st.Rules[1].Changed)

		var raw int64
		require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM sealed_customers WHERE id = 1 AND notes IS NULL AND phone IS NULL`).Scan(&raw))
		assert.Equal(t, int64(1), raw, "the swept values are gone from the database")
		sel := `SELECT id, created, notes, phone FROM sealed_customers WHERE id = $1`
		if rdb.dialect == retention.SQLite {
			sel = strings.Replace(sel, "$1", "?", 1)
		}
		for _, id := range []int64{1, 2} {
			var c sealedCustomer
			require.NoError(t, db.QueryRowContext(ctx, sel, id).Scan(&c.ID, &c.Created, &c.Notes, &c.Phone))
			require.NoError(t, p.Reveal(ctx, &c), "Reveal of row %d", id)
			if id == 1 {
				assert.False(t, c.Notes.Valid, "a swept value reads as absent")
				assert.Nil(t, c.Phone)
			} else {
				assert.Equal(t, "a note", c.Notes.String, "a row within its period reveals")
				require.NotNil(t, c.Phone)
				assert.Equal(t, "+45 1234", *c.Phone)
			}
		}
	})
}

type closedHolder struct {
	_      struct{}   `pii:"retain=1y,from=Closed,then=delete"`
	ID     int64      `pii:"-"`
	Closed *time.Time `pii:"-"`
	Card   string     `pii:"tokenize=card"`
}

// TestRetentionDeleteDeletesVaultTokens: a record rule that deletes rows
// deletes the vault tokens of their tokenize= fields (no retain= on them)
// in the same batch, counts them in the stats and the audit event, and the
// report says how many beforehand.
func TestRetentionDeleteDeletesVaultTokens(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		card, err := tokenize.New(keys.NewMemory(), tokenize.NewMemoryStore(), "card", tokenize.ModeRandom)
		require.NoError(t, err)
		tokens := closedHolders(t, rdb, db, card, 10, 6)
		table, err := retention.ForType(closedHolder{}, "closed_holders", "id", nil)
		require.NoError(t, err)
		require.Equal(t, []retention.TokenColumn{{Column: "card", Domain: "card"}}, table.Tokens)

		rep, err := retention.Report(ctx, db, rdb.dialect, table, retentionNow)
		require.NoError(t, err)
		assert.Equal(t, int64(6), rep.Rules[0].Tokens, "the dry run says how many vault tokens go")

		aud := &piitest.AuditRecorder{}
		sw, err := retention.New(ctx, db, rdb.dialect, table, fixedClock(), retention.WithBatchSize(4),
			retention.WithAuditor(aud), retention.WithTokenizers(card))
		require.NoError(t, err)
		st, err := sw.Sweep(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(6), st.Rules[0].Changed)
		assert.Equal(t, int64(6), st.Rules[0].Tokens, "the deleted rows' tokens are deleted")
		assert.Zero(t, st.Rules[0].TokensLeft)
		var audited int64
		for _, e := range aud.Events() {
			require.NotNil(t, e.Retention)
			audited += e.Retention.Rules[0].Tokens
		}
		assert.Equal(t, int64(6), audited, "the audit events count the tokens")
		for id, tok := range tokens {
			_, err := card.Detokenize(ctx, tok)
			if id <= 6 {
				assert.ErrorIs(t, err, tokenize.ErrTokenNotFound, "row %d deleted: its token is gone from the vault", id)
			} else {
				assert.NoError(t, err, "row %d kept: its token stays", id)
			}
		}
	})
}

type subjectCardHolder struct {
	_       struct{}   `pii:"retain=1y,from=Closed,then=delete"`
	ID      int64      `pii:"-"`
	Subject string     `pii:"subject"`
	Closed  *time.Time `pii:"-"`
	Card    string     `pii:"tokenize=card"`
}

// TestRetentionDeleteKeepsSharedConsistentToken: a consistent token is
// shared by the rows of one subject and value; deleting one of them keeps
// the vault entry the others still hold.
func TestRetentionDeleteKeepsSharedConsistentToken(t *testing.T) {
	rdb := retentionSQLite(t)
	db := rdb.connect(t)
	card, err := tokenize.New(keys.NewMemory(), tokenize.NewMemoryStore(), "card", tokenize.ModeConsistent)
	require.NoError(t, err)
	sk, err := keys.NewSubjectKeys(keys.NewMemory(), keys.NewMemorySubjectKeyStore(), keys.NewMemoryLedger())
	require.NoError(t, err)
	p, err := pii.New(keys.NewMemory(), pii.WithVault(card), pii.WithSubjectKeys(sk))
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `CREATE TABLE holders (id INTEGER PRIMARY KEY, subject TEXT, closed DATETIME, card TEXT NOT NULL)`)
	require.NoError(t, err)
	long := retentionNow.Add(-2 * 365 * 24 * time.Hour)
	rows := []subjectCardHolder{
		{ID: 1, Subject: "s1", Closed: &long, Card: "4111111111111111"}, // due; its token is row 2's too
		{ID: 2, Subject: "s1", Card: "4111111111111111"},
		{ID: 3, Subject: "s2", Closed: &long, Card: "4111111111111111"}, // due; its own token
		{ID: 4, Subject: "s3", Card: "4222222222222222"},
	}
	for i := range rows {
		require.NoError(t, p.Protect(ctx, &rows[i]))
		_, err = db.ExecContext(ctx, `INSERT INTO holders VALUES (?, ?, ?, ?)`, rows[i].ID, rows[i].Subject, rows[i].Closed, rows[i].Card)
		require.NoError(t, err)
	}
	require.Equal(t, rows[0].Card, rows[1].Card, "one subject's equal values share a consistent token")
	require.NotEqual(t, rows[0].Card, rows[2].Card)
	table, err := retention.ForType(subjectCardHolder{}, "holders", "id", nil)
	require.NoError(t, err)
	sw, err := retention.New(ctx, db, retention.SQLite, table, fixedClock(), retention.WithTokenizers(card))
	require.NoError(t, err)
	st, err := sw.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), st.Rules[0].Changed)
	assert.Equal(t, int64(1), st.Rules[0].Tokens, "row 3's token")
	assert.Equal(t, int64(1), st.Rules[0].TokensLeft, "row 1's token, which row 2 holds")
	for i, wantErr := range []bool{false, false, true, false} {
		tok, _ := pii.Token(rows[i].Card)
		_, err := card.Detokenize(ctx, tok)
		assert.Equal(t, wantErr, err != nil, "row %d's token: %v", i+1, err)
	}
}

// failingDeletes is a vault whose deletes fail (an outage of the vault).
type failingDeletes struct{ *tokenize.MemoryStore }

func (failingDeletes) Delete(context.Context, string, tokenize.Selection) (int64, error) {
	return 0, errors.New("the vault is unreachable")
}

// TestRetentionVaultOutageKeepsRows: when the vault cannot delete a deleted
// row's token, the batch rolls back: the rows stay, to be deleted with
// their tokens by the next sweep.
func TestRetentionVaultOutageKeepsRows(t *testing.T) {
	eachRetentionDB(t, func(t *testing.T, rdb retentionDB) {
		db := rdb.connect(t)
		mem := tokenize.NewMemoryStore()
		provider := keys.NewMemory()
		card, err := tokenize.New(provider, mem, "card", tokenize.ModeRandom)
		require.NoError(t, err)
		down, err := tokenize.New(provider, failingDeletes{mem}, "card", tokenize.ModeRandom)
		require.NoError(t, err)
		closedHolders(t, rdb, db, card, 4, 2)
		table, err := retention.ForType(closedHolder{}, "closed_holders", "id", nil)
		require.NoError(t, err)
		sw, err := retention.New(ctx, db, rdb.dialect, table, fixedClock(), retention.WithTokenizers(down))
		require.NoError(t, err)
		_, err = sw.Sweep(ctx)
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "tl1t:", "the error carries no token")
		var n int64
		require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM closed_holders`).Scan(&n))
		assert.Equal(t, int64(4), n, "the failed batch deleted no row")

		sw, err = retention.New(ctx, db, rdb.dialect, table, fixedClock(), retention.WithTokenizers(card))
		require.NoError(t, err)
		st, err := sw.Sweep(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(2), st.Rules[0].Changed)
		assert.Equal(t, int64(2), st.Rules[0].Tokens, "the rerun deletes the rows and their tokens")
	})
}

// closedHolders writes n closedHolder rows, protected with card, the first
// closed of them closed two years ago (due), and returns their bare vault
// tokens by ID.
func closedHolders(t *testing.T, rdb retentionDB, db *sql.DB, card *tokenize.Tokenizer, n, closed int) map[int64]string {
	p, err := pii.New(keys.NewMemory(), pii.WithVault(card))
	require.NoError(t, err)
	ddl := `CREATE TABLE closed_holders (id BIGINT PRIMARY KEY, closed TIMESTAMPTZ, card TEXT NOT NULL)`
	ins := `INSERT INTO closed_holders VALUES ($1, $2, $3)`
	if rdb.dialect == retention.SQLite {
		ddl = `CREATE TABLE closed_holders (id INTEGER PRIMARY KEY, closed DATETIME, card TEXT NOT NULL)`
		ins = `INSERT INTO closed_holders VALUES (?, ?, ?)`
	}
	_, err = db.ExecContext(ctx, ddl)
	require.NoError(t, err)
	long := retentionNow.Add(-2 * 365 * 24 * time.Hour)
	tokens := map[int64]string{}
	for i := range n {
		c := closedHolder{ID: int64(i + 1), Card: fmt.Sprintf("41111111111111%02d", i)}
		if i < closed {
			c.Closed = &long
		}
		require.NoError(t, p.Protect(ctx, &c))
		tok, ok := pii.Token(c.Card)
		require.True(t, ok)
		tokens[c.ID] = tok
		_, err = db.ExecContext(ctx, ins, c.ID, c.Closed, c.Card)
		require.NoError(t, err)
	}
	return tokens
}
