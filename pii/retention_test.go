package pii_test

import (
	"database/sql"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/tokenize"
)

type account struct {
	_         struct{}   `pii:"purpose=account,basis=contract,retain=7y,from=Closed,then=delete"`
	ID        string     `pii:"subject"`
	Created   time.Time  `pii:"-"`
	Closed    *time.Time // NULL while the account is open
	Hold      bool       `pii:"hold"`
	Notes     string     `pii:"encrypt,retain=2y,from=Created"`
	Interests string     `pii:"encrypt,purpose=marketing,basis=consent,retain=1y,from=Created,then=shred"`
	Email     string     `pii:"encrypt"`
}

func TestRetentionOf(t *testing.T) {
	pol, err := pii.RetentionOf(account{})
	require.NoError(t, err)
	assert.Equal(t, "Hold", pol.Hold)
	assert.False(t, pol.HoldTime)
	assert.Equal(t, "ID", pol.Subject)
	year := 365 * 24 * time.Hour
	want := []pii.RetentionRule{
		{Path: "account.Notes", Field: "Notes", Retain: "2y", RetainFor: 2 * year, From: "Created", Then: pii.ThenRedact, Kind: reflect.String, Sealed: true},
		{Path: "account.Interests", Field: "Interests", Retain: "1y", RetainFor: year, From: "Created", Then: pii.ThenShred, Purpose: "marketing", Kind: reflect.String, Sealed: true},
		{Path: "account", Retain: "7y", RetainFor: 7 * year, From: "Closed", Then: pii.ThenDelete},
	}
	assert.Equal(t, want, pol.Rules, "Email inherits the purpose, not the record rule's period")
}

type (
	badRetainPeriod struct {
		Created time.Time
		Notes   string `pii:"encrypt,retain=2m,from=Created"`
	}
	badRetainNoFrom struct {
		Notes string `pii:"encrypt,retain=2y"`
	}
	badRetainFromProtected struct {
		Created time.Time `pii:"redact"`
		Notes   string    `pii:"encrypt,retain=2y,from=Created"`
	}
	badRetainFromNotTime struct {
		Created int64
		Notes   string `pii:"encrypt,retain=2y,from=Created"`
	}
	badRetainFromMissing struct {
		Notes string `pii:"encrypt,retain=2y,from=Created"`
	}
	badShredNoSubject struct {
		Created time.Time
		Notes   string `pii:"encrypt,purpose=ads,retain=2y,from=Created,then=shred"`
	}
	badShredNoPurpose struct {
		ID      string `pii:"subject"`
		Created time.Time
		Notes   string `pii:"encrypt,retain=2y,from=Created,then=shred"`
	}
	badDeleteOnField struct {
		Created time.Time
		Notes   string `pii:"encrypt,retain=2y,from=Created,then=delete"`
	}
	badThen struct {
		Created time.Time
		Notes   string `pii:"encrypt,retain=2y,from=Created,then=burn"`
	}
	badThenNoRetain struct {
		Notes string `pii:"encrypt,then=redact"`
	}
	badRecordNoRetain struct {
		_       struct{} `pii:"then=delete"`
		Created time.Time
	}
	badHoldType struct {
		Hold string `pii:"hold"`
	}
	badTwoHolds struct {
		A bool `pii:"hold"`
		B bool `pii:"hold"`
	}
	badHoldOption struct {
		A bool `pii:"hold,class=contact"`
	}
)

func TestRetentionTagErrors(t *testing.T) {
	tests := []struct {
		name     string
		v        any
		wantPath string
		wantText string
	}{
		{"period", badRetainPeriod{}, "Notes", "retain=2m"},
		{"no from", badRetainNoFrom{}, "badRetainNoFrom.Notes", "needs from="},
		{"protected from", badRetainFromProtected{}, "badRetainFromProtected.Notes", "leave it untagged"},
		{"from not a time", badRetainFromNotTime{}, "badRetainFromNotTime.Notes", "time.Time"},
		{"from missing", badRetainFromMissing{}, "badRetainFromMissing.Notes", "from=Created"},
		{"shred without subject", badShredNoSubject{}, "badShredNoSubject.Notes", "pii:\"subject\""},
		{"shred without purpose", badShredNoPurpose{}, "badShredNoPurpose.Notes", "purpose="},
		{"delete on a field", badDeleteOnField{}, "badDeleteOnField.Notes", "blank field"},
		{"shred of a token", badShredToken{}, "badShredToken.Card", "a tokenize value is not sealed under it"},
		{"shred of an index", badShredIndex{}, "badShredIndex.NameIdx", "use then=redact"},
		{"unknown then", badThen{}, "Notes", "then=burn"},
		{"then without retain", badThenNoRetain{}, "badThenNoRetain.Notes", "needs retain="},
		{"record rule without retain", badRecordNoRetain{}, "badRecordNoRetain._", "needs retain="},
		{"hold type", badHoldType{}, "badHoldType.Hold", "bool, *bool, sql.NullBool, *time.Time or sql.NullTime"},
		{"two holds", badTwoHolds{}, "badTwoHolds.B", "two hold fields"},
		{"hold option", badHoldOption{}, "A", "class"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pii.RetentionOf(tt.v)
			require.ErrorIs(t, err, pii.ErrInvalidTag)
			assert.Contains(t, err.Error(), tt.wantPath)
			assert.Contains(t, err.Error(), tt.wantText)
			assert.ErrorIs(t, pii.Validate(tt.v), pii.ErrInvalidTag, "Validate agrees")
		})
	}
}

type heldByTime struct {
	Created time.Time    `pii:"-"`
	Hold    sql.NullTime `pii:"hold"`
	Notes   string       `pii:"encrypt,retain=90d,from=Created"`
}

func TestExpired(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	year := 365 * 24 * time.Hour
	tokyo := time.FixedZone("JST", 9*3600)
	closedLongAgo := now.Add(-8 * year)
	type want struct {
		path  string
		state pii.ExpiryState
	}
	tests := []struct {
		name   string
		v      any
		want   []want
		reason string
	}{
		{name: "fresh", v: account{Created: now.Add(-time.Hour), Notes: "n", Interests: "i"}, want: []want{{"account", pii.ExpiryNoAnchor}},
			reason: "an open account's NULL Closed is reported, never taken as not expired"},
		{name: "notes due", v: account{Created: now.Add(-3 * year), Notes: "n", Closed: &now},
			want: []want{{"account.Notes", pii.ExpiryDue}}, reason: "Interests is empty: nothing to shred"},
		{name: "all due", v: &account{Created: now.Add(-9 * year), Notes: "n", Interests: "i", Closed: &closedLongAgo},
			want: []want{{"account.Notes", pii.ExpiryDue}, {"account.Interests", pii.ExpiryDue}, {"account", pii.ExpiryDue}}},
		{name: "held", v: account{Created: now.Add(-3 * year), Notes: "n", Hold: true, Closed: &now},
			want: []want{{"account.Notes", pii.ExpiryHeld}}},
		{name: "future anchor", v: account{Created: now.Add(time.Hour), Notes: "n", Closed: &now},
			want: []want{{"account.Notes", pii.ExpiryFuture}}},
		{name: "zero time is no anchor", v: account{Notes: "n", Closed: &now},
			want: []want{{"account.Notes", pii.ExpiryNoAnchor}}},
		{name: "instants, not wall clocks", v: heldByTime{Created: now.Add(-90 * 24 * time.Hour).Add(time.Minute).In(tokyo), Notes: "n"},
			reason: "a minute short of 90 days, though Tokyo's wall clock reads 9 hours later"},
		{name: "just due in another zone", v: heldByTime{Created: now.Add(-90 * 24 * time.Hour).In(tokyo), Notes: "n"},
			want: []want{{"heldByTime.Notes", pii.ExpiryDue}}, reason: "due at exactly anchor + retain"},
		{name: "held by a time", v: heldByTime{Created: now.Add(-year), Hold: sql.NullTime{Time: now, Valid: true}, Notes: "n"},
			want: []want{{"heldByTime.Notes", pii.ExpiryHeld}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pii.Expired(tt.v, now)
			require.NoError(t, err)
			var gotW []want
			for _, e := range got {
				assert.Equal(t, e.Rule.Path, e.Path, "a rule of the record's own type: its path")
				gotW = append(gotW, want{e.Rule.Path, e.State})
				if e.State != pii.ExpiryNoAnchor {
					assert.True(t, e.DueAt.Equal(e.Anchor.Add(e.Rule.RetainFor)))
				}
			}
			assert.Equal(t, tt.want, gotW, tt.reason)
		})
	}
	_, err := pii.Expired(nil, now)
	assert.ErrorIs(t, err, pii.ErrInvalidTarget)
	_, err = pii.Expired((*account)(nil), now)
	assert.ErrorIs(t, err, pii.ErrInvalidTarget)
	_, err = pii.Expired(badRetainNoFrom{}, now)
	assert.ErrorIs(t, err, pii.ErrInvalidTag)
}

func TestExpiredClockJumps(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	v := heldByTime{Created: now.Add(-89 * 24 * time.Hour), Notes: "n"}
	got, err := pii.Expired(v, now)
	require.NoError(t, err)
	assert.Empty(t, got)
	got, err = pii.Expired(v, now.Add(48*time.Hour)) // the clock jumps forward
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, pii.ExpiryDue, got[0].State)
	got, err = pii.Expired(v, now.Add(-100*24*time.Hour)) // and far back: the anchor is now in the future
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, pii.ExpiryFuture, got[0].State)
}

type retainedCard struct {
	ID      string    `pii:"-"`
	Created time.Time `pii:"-"`
	Card    string    `pii:"tokenize=card,retain=30d,from=Created"`
}

// TestTokensFollowTheRule checks that a retained tokenize= field's vault
// token expires when its rule runs out, so that Purge and Expired agree.
func TestTokensFollowTheRule(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := now
	store := keys.NewMemory()
	vault := tokenize.NewMemoryStore()
	card, err := tokenize.New(store, vault, "card", tokenize.ModeRandom, tokenize.WithTTL(365*24*time.Hour),
		tokenize.WithClock(func() time.Time { return clock }))
	require.NoError(t, err)
	p, err := pii.New(store, pii.WithVault(card))
	require.NoError(t, err)
	created := now.Add(-10 * 24 * time.Hour)
	recs := []retainedCard{{ID: "a", Created: created, Card: "4111111111111111"}, {ID: "b", Created: now, Card: "5500000000000004"}}
	for i := range recs {
		require.NoError(t, p.Protect(ctx, &recs[i]))
	}
	for _, tt := range []struct {
		name       string
		at         time.Time
		wantPurged int64
		wantDue    []bool
	}{
		{"within both periods", created.Add(30*24*time.Hour - time.Second), 0, []bool{false, false}},
		{"a's period ran out", created.Add(30 * 24 * time.Hour), 1, []bool{true, false}},
		{"b's too, not the tokenizer's year", now.Add(30 * 24 * time.Hour), 1, []bool{true, true}},
	} {
		clock = tt.at
		n, err := card.Purge(ctx)
		require.NoError(t, err)
		assert.Equal(t, tt.wantPurged, n, "%s: Purge", tt.name)
		for i, rec := range recs {
			got, err := pii.Expired(rec, tt.at)
			require.NoError(t, err)
			assert.Equal(t, tt.wantDue[i], len(got) == 1 && got[0].State == pii.ExpiryDue, "%s: Expired(rec %d)", tt.name, i)
		}
	}
}

type expiryAddress struct {
	Created time.Time `pii:"-"`
	Street  string    `pii:"encrypt,retain=1y,from=Created"`
}

type ExpiryAudit struct {
	Logged time.Time `pii:"-"`
	Trail  string    `pii:"encrypt,retain=90d,from=Logged"`
}

type expiryNode struct {
	Created time.Time `pii:"-"`
	Notes   string    `pii:"encrypt,retain=1y,from=Created"`
	Next    *expiryNode
}

type expiryPerson struct {
	ExpiryAudit
	Created  time.Time `pii:"-"`
	Hold     bool      `pii:"hold"`
	Notes    string    `pii:"encrypt,retain=2y,from=Created"`
	Home     expiryAddress
	Work     *expiryAddress
	Previous []expiryAddress
	ByLabel  map[string]expiryAddress
	Chain    *expiryNode
}

// TestExpiredNested: rules of nested, embedded, pointed-to, slice and map
// structs are reported with their Go path, which without its indexes is
// Inventory's path of the field; a hold holds the structs within its own.
func TestExpiredNested(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	old := now.Add(-3 * 365 * 24 * time.Hour)
	recent := now.Add(-time.Hour)
	loop := &expiryNode{Created: old, Notes: "n"}
	loop.Next = loop // a cycle: reported once, no endless walk
	p := expiryPerson{
		ExpiryAudit: ExpiryAudit{Logged: old, Trail: "t"},
		Created:     recent, Notes: "n",
		Home:     expiryAddress{Created: old, Street: "s"},
		Work:     &expiryAddress{Created: recent, Street: "s"},
		Previous: []expiryAddress{{Created: recent, Street: "s"}, {Created: old, Street: "s"}, {Created: old}},
		ByLabel:  map[string]expiryAddress{"a secret label": {Created: old, Street: "s"}},
		Chain:    loop,
	}
	got, err := pii.Expired(&p, now)
	require.NoError(t, err)
	paths := map[string]pii.ExpiryState{}
	for _, e := range got {
		paths[e.Path] = e.State
	}
	want := map[string]pii.ExpiryState{
		"expiryPerson.ExpiryAudit.Trail":  pii.ExpiryDue,
		"expiryPerson.Home.Street":        pii.ExpiryDue,
		"expiryPerson.Previous[1].Street": pii.ExpiryDue,
		"expiryPerson.ByLabel[…].Street":  pii.ExpiryDue,
		"expiryPerson.Chain.Notes":        pii.ExpiryDue,
	}
	assert.Equal(t, want, paths, "recent ones and an empty value are not reported; the map key never shows")
	inv, err := pii.Inventory(expiryPerson{})
	require.NoError(t, err)
	var invPaths []string
	for _, f := range inv {
		invPaths = append(invPaths, f.Path)
	}
	for _, e := range got {
		typePath := regexp.MustCompile(`\[\d+\]`).ReplaceAllString(e.Path, "[]")
		assert.Contains(t, invPaths, typePath, "Expired's path %s is Inventory's without indexes", e.Path)
	}

	p.Hold = true
	got, err = pii.Expired(p, now)
	require.NoError(t, err)
	require.Len(t, got, 5)
	for _, e := range got {
		assert.Equal(t, pii.ExpiryHeld, e.State, "%s: the record's hold holds the structs within it", e.Path)
	}
}

// TestRetentionIndexFollowsItsSources: a blind index without a rule of its
// own takes its sources' rule (as redact), so that a sweep does not leave
// the equality of a cleared or shredded value searchable; sources that
// expire differently give it none.
func TestRetentionIndexFollowsItsSources(t *testing.T) {
	type contact struct {
		ID       string         `pii:"subject"`
		Created  time.Time      `pii:"-"`
		Seen     time.Time      `pii:"-"`
		Email    sql.NullString `pii:"encrypt,retain=2y,from=Created"`
		EmailIdx string         `pii:"index=Email,normalize=email"`
		Phone    sql.NullString `pii:"encrypt,purpose=marketing,retain=1y,from=Created,then=shred"`
		PhoneIdx []byte         `pii:"index=Phone"`
		Name     sql.NullString `pii:"encrypt,retain=1y,from=Seen"`
		PairIdx  string         `pii:"index=Email+Name"`
		OwnIdx   string         `pii:"index=Email,retain=90d,from=Seen"`
	}
	pol, err := pii.RetentionOf(contact{})
	require.NoError(t, err)
	year := 365 * 24 * time.Hour
	byPath := map[string]pii.RetentionRule{}
	for _, r := range pol.Rules {
		byPath[r.Path] = r
	}
	tests := []struct {
		path       string
		wantRule   bool
		wantFrom   string
		wantRetain time.Duration
		reason     string
	}{
		{"contact.EmailIdx", true, "Created", 2 * year, "the index of a redacted source is cleared with it"},
		{"contact.PhoneIdx", true, "Created", year, "the index of a shredded source is cleared when it is shredded"},
		{"contact.PairIdx", false, "", 0, "its sources expire at different times: it needs its own retain="},
		{"contact.OwnIdx", true, "Seen", 90 * 24 * time.Hour, "its own rule wins"},
	}
	for _, tt := range tests {
		r, ok := byPath[tt.path]
		require.Equal(t, tt.wantRule, ok, "%s: %s", tt.path, tt.reason)
		if ok {
			assert.Equal(t, pii.ThenRedact, r.Then, tt.path)
			assert.Equal(t, tt.wantFrom, r.From, tt.path)
			assert.Equal(t, tt.wantRetain, r.RetainFor, tt.path)
		}
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	got, err := pii.Expired(contact{ID: "s", Created: now.Add(-3 * year), Seen: now, Email: sql.NullString{String: "x", Valid: true}, EmailIdx: "i"}, now)
	require.NoError(t, err)
	var paths []string
	for _, e := range got {
		paths = append(paths, e.Path)
	}
	assert.Equal(t, []string{"contact.Email", "contact.EmailIdx"}, paths)
}

// then=shred destroys the subject's purpose key: a vault token or a blind
// index is not sealed under it, so shredding would leave it.
type badShredToken struct {
	ID      string    `pii:"subject"`
	Created time.Time `pii:"-"`
	Card    *string   `pii:"tokenize=card,purpose=billing,retain=1y,from=Created,then=shred"`
}

type badShredIndex struct {
	ID      string    `pii:"subject"`
	Created time.Time `pii:"-"`
	Name    *string   `pii:"encrypt"`
	NameIdx string    `pii:"index=Name,purpose=billing,retain=1y,from=Created,then=shred"`
}
