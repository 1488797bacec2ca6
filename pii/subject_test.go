package pii_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/tokenize"
)

// Member is a record about one data subject, with a consent-based
// marketing field.
type Member struct {
	_        struct{} `pii:"basis=contract"`
	ID       string   `pii:"subject"`
	Email    string   `pii:"encrypt,class=contact"`
	EmailIdx string   `pii:"index=Email,normalize=email"`
	Phone    string   `pii:"deterministic,purpose=billing"`
	Promo    string   `pii:"encrypt,purpose=marketing,basis=consent"`
	Card     string   `pii:"tokenize=card"`
	Alias    string   `pii:"pseudonym"`
	Note     []byte   `pii:"encrypt"`
}

// Parcel holds two people, each field naming its subject.
type Parcel struct {
	Sender    string `pii:"subject"`
	Recipient string `pii:"subject"`
	From      string `pii:"encrypt,subject=Sender"`
	To        string `pii:"encrypt,subject=Recipient"`
}

// countingSubjectStore counts the calls to a subject-key store, and in
// loaded the pseudonyms its loads asked for.
type countingSubjectStore struct {
	keys.SubjectKeyStore
	loads, creates, loaded atomic.Int64
}

func (s *countingSubjectStore) Load(ctx context.Context, p []keys.Pseudonym) ([]keys.SubjectKeyRow, error) {
	s.loads.Add(1)
	s.loaded.Add(int64(len(p)))
	return s.SubjectKeyStore.Load(ctx, p)
}

func (s *countingSubjectStore) Create(ctx context.Context, rows []keys.SubjectKeyRow) ([]keys.SubjectKeyRow, error) {
	s.creates.Add(1)
	return s.SubjectKeyStore.Create(ctx, rows)
}

type subjectEnv struct {
	p      *pii.Protector
	sk     *keys.SubjectKeys
	store  *countingSubjectStore
	ledger *keys.MemoryLedger
	vault  *tokenize.Tokenizer
	keys   *keys.Store
}

func newSubjectEnv(t testing.TB, opts ...pii.Option) *subjectEnv {
	t.Helper()
	e := &subjectEnv{keys: keys.NewMemory(), ledger: keys.NewMemoryLedger()}
	e.store = &countingSubjectStore{SubjectKeyStore: keys.NewMemorySubjectKeyStore()}
	var err error
	e.sk, err = keys.NewSubjectKeys(e.keys, e.store, e.ledger)
	require.NoError(t, err)
	e.vault, err = tokenize.New(e.keys, tokenize.NewMemoryStore(), "card", tokenize.ModeRandom, tokenize.WithFormat(tokenize.Card(6, 4)))
	require.NoError(t, err)
	e.p, err = pii.New(e.keys, append([]pii.Option{pii.WithSubjectKeys(e.sk), pii.WithVault(e.vault)}, opts...)...)
	require.NoError(t, err)
	return e
}

func customer(id string) Member {
	return Member{ID: id, Email: id + "@example.com", Phone: "+45 1234 5678", Promo: "likes cats",
		Card: "4111111111111111", Alias: id + "-alias", Note: []byte("note of " + id)}
}

func TestSubjectRoundTrip(t *testing.T) {
	t.Parallel()
	e := newSubjectEnv(t)
	ctx := context.Background()
	c := customer("c-1")
	want := c
	require.NoError(t, e.p.Protect(ctx, &c))
	assert.True(t, strings.HasPrefix(c.Email, "tl1s:"), "encrypt under a subject key: %q", c.Email)
	assert.True(t, strings.HasPrefix(c.Phone, "tl1r:"), "deterministic under a subject key: %q", c.Phone)
	assert.True(t, strings.HasPrefix(string(c.Note), "tl1s:"), "[]byte under a subject key")
	assert.Equal(t, "c-1", c.ID, "the subject ID stays")
	again := c
	require.NoError(t, e.p.Protect(ctx, &again), "Protect twice")
	assert.Equal(t, c, again, "Protect is idempotent")
	rep, err := e.p.RevealReport(ctx, &c)
	require.NoError(t, err)
	assert.True(t, rep.Complete(), "%+v", rep)
	want.EmailIdx, want.Alias = c.EmailIdx, c.Alias // one-way
	assert.Equal(t, want, c)

	// Deterministic under the subject key: equal for one subject, not across.
	a, b := customer("c-2"), customer("c-3")
	require.NoError(t, e.p.Protect(ctx, &a))
	require.NoError(t, e.p.Protect(ctx, &b))
	a2 := customer("c-2")
	require.NoError(t, e.p.Protect(ctx, &a2))
	assert.Equal(t, a.Phone, a2.Phone, "same subject, same value")
	assert.NotEqual(t, a.Phone, b.Phone, "another subject's key")
}

func TestForgetAndWithdraw(t *testing.T) {
	t.Parallel()
	e := newSubjectEnv(t, pii.WithErasedValue("[erased]"))
	ctx := context.Background()
	rows := []Member{customer("anna"), customer("ben"), customer("cleo")}
	require.NoError(t, e.p.Protect(ctx, &rows))
	stored := append([]Member(nil), rows...)

	receipt, err := e.p.Forget(ctx, "anna")
	require.NoError(t, err)
	assert.Equal(t, keys.AllPurposes, receipt.Purpose)
	assert.ElementsMatch(t, []string{"", "billing", "marketing"}, receipt.Keys, "every key of anna")
	assert.Equal(t, int64(1), receipt.Tokens, "anna's card token")
	assert.NotContains(t, receipt.String(), "anna", "the receipt names no subject ID")
	again, err := e.p.Forget(ctx, "anna")
	require.NoError(t, err, "Forget is idempotent")
	assert.Equal(t, receipt.Keys, again.Keys, "a repeat's receipt is the complete one too")
	assert.True(t, again.Earlier, "and says the keys were destroyed earlier")
	assert.False(t, receipt.Earlier)
	assert.Equal(t, receipt.Time, again.Time, "the first erasure time")

	w, err := e.p.Withdraw(ctx, "ben", "marketing")
	require.NoError(t, err)
	assert.Equal(t, []string{"marketing"}, w.Keys)

	got := append([]Member(nil), stored...)
	rep, err := e.p.RevealReport(ctx, &got)
	require.NoError(t, err, "a record with erased fields reveals")
	assert.Equal(t, []string{"[]pii_test.Member[0].Email", "[]pii_test.Member[0].Phone", "[]pii_test.Member[0].Promo", "[]pii_test.Member[0].Card", "[]pii_test.Member[0].Note", "[]pii_test.Member[1].Promo"}, rep.Erased)
	tests := []struct {
		name, got, want, reason string
	}{
		{name: "anna email", got: got[0].Email, want: "[erased]", reason: "base key destroyed"},
		{name: "anna phone", got: got[0].Phone, want: "[erased]"},
		{name: "anna card", got: got[0].Card, want: "[erased]", reason: "vault token deleted"},
		{name: "anna note", got: string(got[0].Note), want: "", reason: "a []byte gets its zero value"},
		{name: "anna index", got: got[0].EmailIdx, want: stored[0].EmailIdx, reason: "not under a subject key: Erase clears it"},
		{name: "ben email", got: got[1].Email, want: "ben@example.com", reason: "only marketing was withdrawn"},
		{name: "ben promo", got: got[1].Promo, want: "[erased]"},
		{name: "ben card", got: got[1].Card, want: "4111111111111111"},
		{name: "cleo promo", got: got[2].Promo, want: "likes cats"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.got, "%s: %s", tt.name, tt.reason)
	}
	assert.Nil(t, got[0].Note)
	require.NoError(t, e.p.Reveal(ctx, &[]Member{stored[2]}), "Reveal of an intact record")

	// Protect of new data for a forgotten subject, or for a withdrawn
	// purpose, fails and changes nothing.
	for _, c := range []Member{customer("anna"), customer("ben")} {
		before := c
		err = e.p.Protect(ctx, &c)
		assert.ErrorIs(t, err, pii.ErrErased, c.ID)
		assert.Equal(t, before, c, "all or nothing")
	}
	benBase := Parcel{Sender: "ben", Recipient: "cleo", From: "new address"}
	assert.NoError(t, e.p.Protect(ctx, &benBase), "ben's base key is intact")
	ben := Member{ID: "ben", Email: "new@example.com"}
	require.NoError(t, e.p.Protect(ctx, &ben), "an empty value of ben's erased marketing key needs no key")
	assert.Equal(t, "", ben.Promo, "kept empty: nothing is sealed under an erased key")
	assert.True(t, strings.HasPrefix(ben.Email, "tl1s:"), "the base field is sealed")

	// Allowed again after fresh consent: new keys; the old values stay
	// erased, before and after the new keys are made.
	require.NoError(t, e.p.Allow(ctx, "anna"))
	old := stored[0]
	rep, err = e.p.RevealReport(ctx, &old)
	require.NoError(t, err, "after Allow, before new keys: the tombstone stays")
	assert.Equal(t, []string{"Member.Email", "Member.Phone", "Member.Promo", "Member.Card", "Member.Note"}, rep.Erased)
	fresh := customer("anna")
	require.NoError(t, e.p.Protect(ctx, &fresh))
	old = stored[0]
	rep, err = e.p.RevealReport(ctx, &old)
	require.NoError(t, err, "after Allow and new keys: the old values read as erased")
	assert.ElementsMatch(t, []string{"Member.Email", "Member.Phone", "Member.Promo", "Member.Card", "Member.Note"}, rep.Erased)
	require.NoError(t, e.p.Reveal(ctx, &fresh))
	assert.Equal(t, "anna@example.com", fresh.Email, "the new data reveals")

	// Withdraw, then fresh consent for that purpose only.
	require.NoError(t, e.p.Allow(ctx, "ben", "marketing"))
	benNew := customer("ben")
	require.NoError(t, e.p.Protect(ctx, &benNew))
	old = stored[1]
	rep, err = e.p.RevealReport(ctx, &old)
	require.NoError(t, err)
	assert.Equal(t, []string{"Member.Promo"}, rep.Erased, "ben's old marketing value stays erased")
	assert.Equal(t, "ben@example.com", old.Email)
}

func TestSubjectFailures(t *testing.T) {
	t.Parallel()
	e := newSubjectEnv(t)
	ctx := context.Background()
	c := customer("dora")
	require.NoError(t, e.p.Protect(ctx, &c))

	other := newSubjectEnv(t)
	stranger := c
	_, err := other.p.RevealReport(ctx, &stranger)
	assert.Error(t, err, "a subject the store never saw fails, not erased")
	assert.NotErrorIs(t, err, pii.ErrErased)

	tampered := c
	tampered.Email = tamperTail(tampered.Email)
	_, err = e.p.RevealReport(ctx, &tampered)
	assert.ErrorIs(t, err, pii.ErrDecryption, "tampered")

	moved := customer("eve")
	require.NoError(t, e.p.Protect(ctx, &moved))
	moved.Email = c.Email
	_, err = e.p.RevealReport(ctx, &moved)
	assert.Error(t, err, "a value moved to another subject's record")
	assert.NotErrorIs(t, err, pii.ErrErased)

	empty := Member{Email: "x@example.com"}
	assert.ErrorIs(t, e.p.Protect(ctx, &empty), pii.ErrMissingSubject)

	noKeys, err := pii.New(keys.NewMemory())
	require.NoError(t, err)
	plain := customer("f")
	assert.ErrorIs(t, noKeys.Protect(ctx, &plain), pii.ErrKeyProvider, "without WithSubjectKeys")
	_, err = noKeys.Forget(ctx, "f")
	assert.ErrorIs(t, err, pii.ErrKeyProvider)
	_, err = e.p.Withdraw(ctx, "f", "")
	assert.Error(t, err, "Withdraw needs a purpose")

	// Forget of a subject never seen is recorded.
	r, err := e.p.Forget(ctx, "nobody")
	require.NoError(t, err)
	assert.Empty(t, r.Keys)
	entries, err := e.ledger.Since(ctx, time.Time{})
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

func TestWithPurpose(t *testing.T) {
	t.Parallel()
	e := newSubjectEnv(t)
	ctx := context.Background()
	c := customer("gus")
	require.NoError(t, e.p.Protect(ctx, &c))
	stored := c
	rep, err := e.p.RevealReport(pii.WithPurpose(ctx, "billing"), &c)
	require.NoError(t, err)
	assert.Equal(t, []string{"Member.Promo"}, rep.Withheld)
	assert.Equal(t, "+45 1234 5678", c.Phone, "billing")
	assert.Equal(t, "gus@example.com", c.Email, "a base field")
	assert.Equal(t, stored.Promo, c.Promo, "marketing stays protected")

	c = stored
	rep, err = e.p.RevealReport(pii.WithPurpose(ctx), &c)
	require.NoError(t, err)
	assert.Equal(t, []string{"Member.Phone", "Member.Promo"}, rep.Withheld, "base fields only")
}

func TestErase(t *testing.T) {
	t.Parallel()
	e := newSubjectEnv(t)
	ctx := context.Background()
	c := customer("hal")
	require.NoError(t, e.p.Protect(ctx, &c))
	sealed := c
	n, err := e.p.Erase(ctx, &c)
	require.NoError(t, err)
	assert.Equal(t, 3, n, "index, card token and pseudonym")
	assert.Empty(t, c.EmailIdx)
	assert.Empty(t, c.Alias)
	assert.Empty(t, c.Card)
	assert.Equal(t, sealed.Email, c.Email, "under a subject key: left to Forget")
	assert.Equal(t, "hal", c.ID)
}

func TestSeveralSubjects(t *testing.T) {
	t.Parallel()
	e := newSubjectEnv(t)
	ctx := context.Background()
	x := Parcel{Sender: "ida", Recipient: "jon", From: "Main St 1", To: "High St 2"}
	require.NoError(t, e.p.Protect(ctx, &x))
	_, err := e.p.Forget(ctx, "jon")
	require.NoError(t, err)
	rep, err := e.p.RevealReport(ctx, &x)
	require.NoError(t, err)
	assert.Equal(t, "Main St 1", x.From)
	assert.Empty(t, x.To)
	assert.Equal(t, []string{"Parcel.To"}, rep.Erased)
}

// TestSubjectBatch: Protect of many records for new subjects creates
// their keys in one store batch.
func TestSubjectBatch(t *testing.T) {
	t.Parallel()
	e := newSubjectEnv(t)
	ctx := context.Background()
	rows := make([]Member, 500)
	for i := range rows {
		rows[i] = Member{ID: "s-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26), Email: "e", Phone: "p", Promo: "m"}
	}
	require.NoError(t, e.p.Protect(ctx, &rows))
	assert.Equal(t, int64(1), e.store.loads.Load(), "one load")
	assert.Equal(t, int64(1), e.store.creates.Load(), "one create")
	require.NoError(t, e.p.Reveal(ctx, &rows))
	assert.Equal(t, int64(1), e.store.loads.Load(), "Reveal is served from the cache")
}

// TestForgetRacingProtect: once Forget returns, no value protected for the
// subject reveals, and a Protect that lost the race failed with ErrErased
// and left its struct unchanged.
func TestForgetRacingProtect(t *testing.T) {
	t.Parallel()
	for round := range 20 {
		e := newSubjectEnv(t)
		ctx := context.Background()
		subject := "kim"
		var mu sync.Mutex
		var protected []Member
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 4 {
			wg.Go(func() {
				<-start
				for range 10 {
					c := Member{ID: subject, Email: "kim@example.com", Phone: "+45 1234", Promo: "yes"}
					before := c
					err := e.p.Protect(ctx, &c)
					if err != nil {
						assert.ErrorIs(t, err, pii.ErrErased, "round %d", round)
						assert.Equal(t, before, c, "a losing Protect leaves the struct unchanged")
						continue
					}
					mu.Lock()
					protected = append(protected, c)
					mu.Unlock()
				}
			})
		}
		close(start)
		_, err := e.p.Forget(ctx, subject)
		require.NoError(t, err)
		wg.Wait()
		for _, c := range protected {
			rep, err := e.p.RevealReport(ctx, &c)
			require.NoError(t, err)
			assert.Empty(t, c.Email, "round %d: a value readable after Forget", round)
			assert.Empty(t, c.Phone, "round %d: a value readable after Forget", round)
			assert.Empty(t, c.Promo, "round %d: a value readable after Forget", round)
			// Every field sealed under the subject's keys reads as erased.
			assert.ElementsMatch(t, []string{"Member.Email", "Member.Phone", "Member.Promo"}, rep.Erased, "round %d", round)
		}
	}
}

// TestForgetSeenByAnotherInstance: after Forget on one instance, another
// instance over the same store stops revealing within its cache TTL.
func TestForgetSeenByAnotherInstance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	provider, store, ledger := keys.NewMemory(), keys.NewMemorySubjectKeyStore(), keys.NewMemoryLedger()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	const ttl = time.Minute
	instance := func() *pii.Protector {
		sk, err := keys.NewSubjectKeys(provider, store, ledger, keys.WithSubjectCacheTTL(ttl), keys.WithSubjectClock(clock))
		require.NoError(t, err)
		p, err := pii.New(provider, pii.WithSubjectKeys(sk))
		require.NoError(t, err)
		return p
	}
	a, b := instance(), instance()
	x := Parcel{Sender: "lea", Recipient: "max", From: "here", To: "there"}
	require.NoError(t, a.Protect(ctx, &x))
	warm := x
	require.NoError(t, b.Reveal(ctx, &warm), "b caches lea's key")
	_, err := a.Forget(ctx, "lea")
	require.NoError(t, err)

	within := x
	rep, err := b.RevealReport(ctx, &within)
	require.NoError(t, err)
	assert.Equal(t, "here", within.From, "within the TTL b may still serve its cached key (the documented bound)")
	assert.Empty(t, rep.Erased)

	mu.Lock()
	now = now.Add(ttl + time.Second)
	mu.Unlock()
	after := x
	rep, err = b.RevealReport(ctx, &after)
	require.NoError(t, err)
	assert.Empty(t, after.From, "past the TTL b sees the erasure")
	assert.Equal(t, []string{"Parcel.From"}, rep.Erased)
	fresh := a
	mine := x
	_, err = fresh.RevealReport(ctx, &mine)
	require.NoError(t, err)
	assert.Empty(t, mine.From, "the instance that forgot sees it at once")
}

// TestSubjectFieldAdded: values stored before a struct had a subject
// field still reveal; Protect and Rewrap seal them again under the
// subject's key, which Forget then erases.
func TestSubjectFieldAdded(t *testing.T) {
	t.Parallel()
	e := newSubjectEnv(t)
	ctx := context.Background()
	var stored Account
	{
		type Account struct { // before: no subject field
			ID    string `pii:"-"`
			Email string `pii:"encrypt"`
			Phone string `pii:"deterministic"`
		}
		old := Account{ID: "n-1", Email: "nia@example.com", Phone: "+45 1"}
		require.NoError(t, e.p.Protect(ctx, &old))
		require.True(t, strings.HasPrefix(old.Email, "tl1e:"))
		stored = struct {
			ID    string `pii:"subject"`
			Email string `pii:"encrypt"`
			Phone string `pii:"deterministic"`
		}(old)
	}
	got := stored
	require.NoError(t, e.p.Reveal(ctx, &got), "a value from before the subject field reveals")
	assert.Equal(t, "nia@example.com", got.Email)

	rewrapped := stored
	n, err := e.p.Rewrap(ctx, &rewrapped)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.True(t, strings.HasPrefix(rewrapped.Email, "tl1s:"), "Rewrap moves it under the subject key: %q", rewrapped.Email)
	assert.True(t, strings.HasPrefix(rewrapped.Phone, "tl1r:"))
	again := stored
	require.NoError(t, e.p.Protect(ctx, &again))
	assert.True(t, strings.HasPrefix(again.Email, "tl1s:"), "so does Protect")

	tampered := stored
	tampered.Email = tamperTail(tampered.Email)
	assert.ErrorIs(t, e.p.Protect(ctx, &tampered), pii.ErrDecryption)

	_, err = e.p.Forget(ctx, "n-1")
	require.NoError(t, err)
	rep, err := e.p.RevealReport(ctx, &rewrapped)
	require.NoError(t, err)
	assert.Empty(t, rewrapped.Email)
	assert.Len(t, rep.Erased, 2)
}

// Account is a record that gained a subject field (TestSubjectFieldAdded).
type Account struct {
	ID    string `pii:"subject"`
	Email string `pii:"encrypt"`
	Phone string `pii:"deterministic"`
}

func TestSubjectLookupRefused(t *testing.T) {
	t.Parallel()
	e := newSubjectEnv(t)
	_, err := e.p.LookupTerms(context.Background(), Member{}, "Phone", "+45 1234 5678")
	assert.ErrorContains(t, err, "sealed under its subject's key", "a deterministic field under subject keys differs per subject")
	assert.ErrorIs(t, err, pii.ErrInvalidTarget)
	terms, err := e.p.LookupTerms(context.Background(), Member{}, "EmailIdx", "a@example.com")
	require.NoError(t, err, "its blind index is the way to search")
	assert.Len(t, terms, 1)
}

func TestSubjectColumnRefused(t *testing.T) {
	t.Parallel()
	_, err := pii.ColumnFor(Member{}, "Email")
	assert.ErrorContains(t, err, "subject's keys")
	_, err = pii.ColumnFor(Member{}, "Phone")
	assert.Error(t, err)
}

// tamperTail changes the last two characters of a stored value to two
// others of the base64url alphabet, so the value always differs from the
// one it was made from (a fixed "AA" would equal it one time in 4,096).
func tamperTail(s string) string {
	tail := "AA"
	if strings.HasSuffix(s, tail) {
		tail = "BB"
	}
	return s[:len(s)-2] + tail
}
