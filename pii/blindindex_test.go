package pii_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

type Person struct {
	ID       string `pii:"-"`
	Email    string `pii:"encrypt,class=contact,aad=ID"`
	EmailIdx string `pii:"index=Email,normalize=email"`
	Domain   []byte `pii:"index=Email,normalize=email,part=domain,bits=16"`
	Phone    string `pii:"deterministic,normalize=digits"`
	TaxID    string `pii:"deterministic"`
	Name     string `pii:"encrypt,aad=ID"`
	Born     string `pii:"encrypt,aad=ID"`
	NameBorn string `pii:"index=Name+Born,normalize=lower"`
	Last4    string `pii:"index=Card,normalize=digits,part=last4"`
	Card     string `pii:"encrypt,aad=ID"`
	Pseudo   string `pii:"hash,normalize=email"`
}

func person(id, email string) Person {
	return Person{ID: id, Email: email, Phone: "+45 12 34 56 78", TaxID: "123-45-6789", Name: "Ada", Born: "1815-12-10", Card: "4111 1111 1111 1234", Pseudo: email}
}

func terms(t *testing.T, p *pii.Protector, field string, q ...string) []string {
	t.Helper()
	ts, err := p.LookupTerms(ctx, Person{}, field, q...)
	require.NoError(t, err, "LookupTerms(%s, %q) = %v", field, q, err)
	return ts
}

// P04: the query path normalises exactly as the write path.
func TestIndexNormalisedOnQuery(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	u := person("1", "person@example.com")
	mustProtect(t, p, &u)
	require.False(t, !strings.HasPrefix(u.EmailIdx, "tl1i:") || !strings.HasPrefix(u.Pseudo, "tl1h:"), "index %q, hash %q", u.EmailIdx, u.Pseudo)
	for _, q := range []string{"person@example.com", "PERSON@Example.COM", "  person@example.com\t"} {
		if ts := terms(t, p, "EmailIdx", q); len(ts) != 1 || ts[0] != u.EmailIdx {
			t.Errorf("EmailIdx terms for %q = %q, want [%q]", q, ts, u.EmailIdx)
		}
		assert.EqualValues(t, u.Pseudo, terms(t, p, "Pseudo", q)[0], "hash term for %q differs", q)
	}
	if ts := terms(t, p, "Phone", "0045-12345678"[2:]); ts[0] != u.Phone {
		t.Errorf("digits-normalised deterministic lookup missed: %q vs %q", ts[0], u.Phone)
	}
	mustReveal(t, p, &u)
	assert.False(t, u.Email != "person@example.com", "Reveal changed the encrypted source: %q", u.Email)
	// deterministic with normalize= stores (and reveals) the normalised form.
	assert.False(t, u.Phone != "4512345678", "deterministic,normalize=digits reveals %q, want the normalised 4512345678", u.Phone)
	assert.False(t, u.Pseudo == "person@example.com", "Reveal reversed a hash")
}

// P05: Unicode forms and case folding.
func TestNormalisationUnicode(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	nfc := "jos\u00e9@example.com"
	nfd := "jose\u0301@example.com"
	a := terms(t, p, "EmailIdx", nfc)
	b := terms(t, p, "EmailIdx", nfd)
	assert.False(t, a[0] != b[0], "NFC and NFD forms index differently")
	tests := []struct{ rule, in, want string }{
		{"email", "  Jos\u0065\u0301@EXAMPLE.com ", "jos\u00e9@example.com"},
		{"email", "STRASSE@x.de", "strasse@x.de"},
		{"email", "Straße@x.de", "strasse@x.de"}, // full case folding: ß = ss
		{"email", "\u212a@x.de", "k@x.de"},       // Kelvin sign
		{"lower", "Straße", "straße"},            // simple lower case keeps ß
		{"trim", "\u00a0 a b \n", "a b"},
		{"digits", "+45 12-34 ５６", "451234" + "56"},
		{"nfkc", "ﬁle Ａ", "file A"},
		{"trim+lower", "  ABC ", "abc"},
	}
	for _, tt := range tests {
		got, err := pii.Normalize(tt.rule, tt.in)
		assert.False(t, err != nil || got != tt.want, "Normalize(%q, %q) = %q, %v; want %q", tt.rule, tt.in, got, err, tt.want)
		again, _ := pii.Normalize(tt.rule, got)
		assert.False(t, again != got, "Normalize(%q) is not idempotent on %q: %q", tt.rule, got, again)
	}
	assert.Error(t, errOf2(pii.Normalize("upper", "x")), "unknown rule accepted")
	if a, b := terms(t, p, "EmailIdx", "Straße@x.de"), terms(t, p, "EmailIdx", "strasse@X.DE"); a[0] != b[0] {
		t.Error("ß and ss index differently under email normalisation")
	}
}

// P03: lookups find rows written before and after a rotation, and the list
// shrinks once the old key is disabled after a rewrap.
func TestLookupAcrossRotation(t *testing.T) {
	t.Parallel()
	p, store := newProtector(t)
	old := person("1", "old@example.com")
	mustProtect(t, p, &old)
	prfKS, _ := store.Keyset(ctx, "default", keys.KindPRF)
	daeadKS, _ := store.Keyset(ctx, "default", keys.KindDeterministicAEAD)
	oldPRF, oldDAEAD := prfKS.PrimaryKeyID(), daeadKS.PrimaryKeyID()

	store.Rotate(ctx, "default", keys.KindPRF)
	store.Rotate(ctx, "default", keys.KindDeterministicAEAD)
	fresh := person("2", "old@example.com")
	mustProtect(t, p, &fresh)
	require.False(t, fresh.EmailIdx == old.EmailIdx || fresh.TaxID == old.TaxID, "after rotation, new rows still use the old keys")
	for _, field := range []string{"EmailIdx", "TaxID", "Pseudo", "Domain"} {
		q := "old@example.com"
		if field == "TaxID" {
			q = "123-45-6789"
		}
		ts := terms(t, p, field, q)
		require.False(t, len(ts) != 2, "%s: %d terms, want 2 (one per live key)", field, len(ts))
		oldV, freshV := fieldString(old, field), fieldString(fresh, field)
		assert.False(t, !slices.Contains(ts, oldV) || !slices.Contains(ts, freshV) || ts[0] != freshV, "%s: terms %q do not hold old %q and new %q (new first)", field, ts, oldV, freshV)
	}
	// Rewrap the old row (index recomputed, deterministic re-encrypted),
	// disable the old keys, and lookups shrink to one term that finds both.
	require.NoError(t, errOf2(p.Rewrap(ctx, &old)))
	require.NoError(t, store.Disable(ctx, "default", keys.KindPRF, oldPRF))
	require.NoError(t, store.Disable(ctx, "default", keys.KindDeterministicAEAD, oldDAEAD))
	for _, field := range []string{"EmailIdx", "TaxID", "Domain"} {
		q := "old@example.com"
		if field == "TaxID" {
			q = "123-45-6789"
		}
		ts := terms(t, p, field, q)
		assert.False(t, len(ts) != 1 || ts[0] != fieldString(old, field) || ts[0] != fieldString(fresh, field), "%s after rewrap and disable: terms %q, old row %q, new row %q", field, ts, fieldString(old, field), fieldString(fresh, field))
	}
	mustReveal(t, p, &old)
	assert.False(t, old.Email != "old@example.com" || old.TaxID != "123-45-6789", "rewrapped row reveals %+v", old)
}

func fieldString(p Person, field string) string {
	switch field {
	case "EmailIdx":
		return p.EmailIdx
	case "TaxID":
		return p.TaxID
	case "Pseudo":
		return p.Pseudo
	case "Domain":
		return string(p.Domain)
	}
	return ""
}

func TestCompoundAndPartialIndexes(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	a := person("1", "a@example.com")
	b := person("2", "b@EXAMPLE.com")
	c := person("3", "c@other.org")
	for _, x := range []*Person{&a, &b, &c} {
		mustProtect(t, p, x)
	}
	assert.False(t, string(a.Domain) != string(b.Domain) || string(a.Domain) == string(c.Domain), "part=domain index does not group by domain")
	if len(a.Domain) != 5+5+2 { // prefix, key ID prefix, 16 bits
		t.Errorf("bits=16 index is %d bytes, want 12", len(a.Domain))
	}
	assert.EqualValues(t, string(a.Domain), terms(t, p, "Domain", "someone@Example.com")[0], "partial index lookup missed")
	assert.EqualValues(t, a.NameBorn, terms(t, p, "NameBorn", "ADA", "1815-12-10")[0], "compound index lookup missed")
	assert.NotEqual(t, a.NameBorn, terms(t, p, "NameBorn", "Ada1815", "-12-10")[0], "compound index parts run together")
	assert.EqualValues(t, a.Last4, terms(t, p, "Last4", "1234")[0], "last4 index lookup missed")
	assert.Error(t, errOf2(p.LookupTerms(ctx, Person{}, "NameBorn", "only one")), "compound lookup with one value succeeded")
	for _, field := range []string{"Email", "ID", "Nope"} {
		assert.Error(t, errOf2(p.LookupTerms(ctx, Person{}, field, "x")), "LookupTerms(%s) succeeded", field)
	}
	type bound struct {
		ID string `pii:"-"`
		D  string `pii:"deterministic,aad=ID"`
	}
	assert.Error(t, errOf2(p.LookupTerms(ctx, bound{}, "D", "x")), "LookupTerms on a deterministic field bound by aad= succeeded")
}

// Indexes follow their source: a changed value gets a new index, nil
// sources clear it, and an already-protected source still indexes.
func TestIndexFollowsSource(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	u := person("1", "first@example.com")
	mustProtect(t, p, &u)
	firstIdx := u.EmailIdx
	mustProtect(t, p, &u) // idempotent: source is a ciphertext now
	require.False(t, u.EmailIdx != firstIdx, "re-Protect changed the index")
	mustReveal(t, p, &u)
	u.Email = "second@example.com"
	mustProtect(t, p, &u)
	assert.False(t, u.EmailIdx == firstIdx || u.EmailIdx != terms(t, p, "EmailIdx", "second@example.com")[0], "index did not follow the changed source")
	// A row stored before the index existed: the index is computed from the
	// protected source.
	u.EmailIdx = ""
	mustProtect(t, p, &u)
	assert.False(t, u.EmailIdx != terms(t, p, "EmailIdx", "second@example.com")[0], "index was not backfilled from the protected source")

	type opt struct {
		P    *string `pii:"encrypt"`
		PIdx string  `pii:"index=P"`
	}
	o := opt{PIdx: "stale"}
	mustProtect(t, p, &o)
	assert.False(t, o.PIdx != "", "index of a nil source = %q, want empty", o.PIdx)

	// Index of a redacted source: only the index is kept (minimisation).
	type minimal struct {
		Email    string `pii:"redact"`
		EmailIdx string `pii:"index=Email,normalize=email"`
	}
	m := minimal{Email: "keep-only-index@example.com"}
	mustProtect(t, p, &m)
	idx := m.EmailIdx
	require.False(t, m.Email != "" || idx == "", "redacted source: %+v", m)
	mustProtect(t, p, &m)
	assert.False(t, m.EmailIdx != idx, "re-Protect of a redacted source lost its index")
}

type BloodType string

func (BloodType) PIILowCardinality() {}

type leakDet struct {
	B BloodType `pii:"deterministic"`
}
type leakHash struct {
	B BloodType `pii:"hash"`
}
type leakIndex struct {
	B   BloodType `pii:"encrypt"`
	Idx string    `pii:"index=B"`
}
type leakOK struct {
	B   BloodType `pii:"encrypt"`
	Idx string    `pii:"index=B,lowcardinality,bits=2"`
}

// The leakage guard refuses low-cardinality fields unless the tag opts in.
func TestLowCardinalityGuard(t *testing.T) {
	t.Parallel()
	for _, v := range []any{leakDet{}, leakHash{}, leakIndex{}, P15Flag{}} {
		if err := pii.Validate(v); !errors.Is(err, pii.ErrInvalidTag) || !strings.Contains(err.Error(), "lowcardinality") {
			t.Errorf("Validate(%T) = %v, want ErrInvalidTag mentioning lowcardinality", v, err)
		}
	}
	assert.NoError(t, pii.Validate(leakOK{}), "Validate(leakOK)")
}

func TestRecommendBits(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ n, want int }{{0, 0}, {7, 0}, {8, 2}, {1000, 8}, {50000, 14}, {1 << 20, 19}, {10_000_000, 22}} {
		assert.EqualValues(t, tt.want, pii.RecommendBits(tt.n), "RecommendBits(%d)", tt.n)
	}
}

type badIndexes struct {
	A string
	I string `pii:"index=A,bits=0"`
}
type badIndexSource struct {
	I string `pii:"index=Missing"`
}
type badIndexType struct {
	A string
	I int `pii:"index=A"`
}
type badIndexOfHash struct {
	A string `pii:"hash"`
	I string `pii:"index=A"`
}
type badPart struct {
	A string
	I string `pii:"index=A,part=middle"`
}
type badNormalize struct {
	A string `pii:"deterministic,normalize=upper"`
}
type badNormalizeOnEncrypt struct {
	A string `pii:"encrypt,normalize=email"`
}

func TestBadIndexTags(t *testing.T) {
	t.Parallel()
	for _, v := range []any{badIndexes{}, badIndexSource{}, badIndexType{}, badIndexOfHash{}, badPart{}, badNormalize{}, badNormalizeOnEncrypt{}} {
		assert.ErrorIs(t, pii.Validate(v), pii.ErrInvalidTag, "Validate(%T)", v)
	}
}
