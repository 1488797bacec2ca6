package pii_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/google/go-cmp/cmp"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/piitest"
)

var ctx = context.Background()

func newProtector(t testing.TB) (*pii.Protector, *keys.Store) {
	t.Helper()
	store := keys.NewMemory()
	p, err := pii.New(store)
	require.NoError(t, err)
	return p, store
}

func mustProtect(t testing.TB, p *pii.Protector, v any) {
	t.Helper()
	require.NoError(t, p.Protect(ctx, v), "Protect(%T)", v)
}

func mustReveal(t testing.TB, p *pii.Protector, v any) {
	t.Helper()
	require.NoError(t, p.Reveal(ctx, v), "Reveal(%T)", v)
}

type Contact struct {
	Email string `pii:"encrypt,class=contact"`
	Kind  string
}

type address struct {
	Street string `pii:"encrypt,class=location"`
}

type Name string

type Shapes struct {
	ID       string               `pii:"-"`
	Name     Name                 `pii:"encrypt,class=identity,aad=ID"`
	Raw      []byte               `pii:"encrypt"`
	Phone    *string              `pii:"encrypt"`
	Note     sql.NullString       `pii:"encrypt"`
	Tags     []string             `pii:"encrypt"`
	Fixed    [2]string            `pii:"deterministic"`
	ByKey    map[string]string    `pii:"encrypt,plainkeys"`
	PtrMap   map[string]*string   `pii:"encrypt,plainkeys"`
	Nested   Contact              // value struct
	Ptr      *Contact             // pointer to struct
	List     []Contact            // slice of structs
	PtrList  []*Contact           // slice of pointers
	Contacts map[string]Contact   // map of structs
	CPtrs    map[string]*Contact  // map of struct pointers
	Contact                       // embedded value
	*address                      // embedded pointer, unexported type
	Born     pii.Value[time.Time] `pii:"encrypt,class=identity"`
	Age      pii.Value[int64]     `pii:"encrypt"`
	Score    pii.Value[float64]   `pii:"encrypt"`
	Verified pii.Value[bool]      `pii:"encrypt"`
	Secret   string               `pii:"redact"`
	Public   string
}

func sp(s string) *string { return &s }

func fullShapes() Shapes {
	born := time.Date(1990, 2, 3, 4, 5, 6, 7, time.FixedZone("X", 3600))
	return Shapes{
		ID:       "rec-1",
		Name:     "Ada Lovelace",
		Raw:      []byte("raw bytes"),
		Phone:    sp("+45 12 34 56 78"),
		Note:     sql.NullString{String: "a note", Valid: true},
		Tags:     []string{"tag-one", "", "tag-three"},
		Fixed:    [2]string{"fixed-one", "fixed-two"},
		ByKey:    map[string]string{"k1": "map-value-one", "k2": ""},
		PtrMap:   map[string]*string{"a": sp("ptr-map-value"), "nil": nil},
		Nested:   Contact{Email: "nested@example.com", Kind: "work"},
		Ptr:      &Contact{Email: "ptr@example.com"},
		List:     []Contact{{Email: "l0@example.com"}, {Email: "l1@example.com"}},
		PtrList:  []*Contact{nil, {Email: "pl1@example.com"}},
		Contacts: map[string]Contact{"home": {Email: "home@example.com"}},
		CPtrs:    map[string]*Contact{"x": {Email: "x@example.com"}, "nil": nil},
		Contact:  Contact{Email: "embedded@example.com"},
		address:  &address{Street: "1 Main St"},
		Born:     pii.NewValue(born),
		Age:      pii.NewValue(int64(-42)),
		Score:    pii.NewValue(3.25),
		Verified: pii.NewValue(true),
		Secret:   "drop me",
		Public:   "public",
	}
}

// plaintexts lists every personal value in fullShapes, to check none is
// left after Protect.
var plaintexts = []string{"Ada Lovelace", "raw bytes", "+45 12 34 56 78", "a note", "tag-one", "tag-three", "fixed-one", "fixed-two", "map-value-one", "ptr-map-value",
	"nested@example.com", "ptr@example.com", "l0@example.com", "l1@example.com", "pl1@example.com", "home@example.com",
	"x@example.com", "embedded@example.com", "1 Main St", "drop me"}

var cmpShapes = cmp.Options{
	cmp.AllowUnexported(Shapes{}),
	cmp.Comparer(func(a, b pii.Value[time.Time]) bool {
		x, okx := a.Get()
		y, oky := b.Get()
		return okx == oky && x.Equal(y) && a.IsNull() == b.IsNull()
	}),
	cmp.Comparer(func(a, b pii.Value[int64]) bool { return fmt.Sprint(a.Get()) == fmt.Sprint(b.Get()) }),
	cmp.Comparer(func(a, b pii.Value[float64]) bool { return fmt.Sprint(a.Get()) == fmt.Sprint(b.Get()) }),
	cmp.Comparer(func(a, b pii.Value[bool]) bool { return fmt.Sprint(a.Get()) == fmt.Sprint(b.Get()) }),
}

func dump(v any) string { return fmt.Sprintf("%#v", v) }

func TestProtectRevealShapes(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	s := fullShapes()
	mustProtect(t, p, &s)
	all := dump(s) + dump(*s.Ptr) + dump(*s.PtrList[1]) + dump(*s.CPtrs["x"]) + dump(*s.address) + dump(*s.Phone) + dump(*s.PtrMap["a"]) + dump(s.Contacts) + string(s.Raw)
	for _, pt := range plaintexts {
		assert.NotContains(t, all, pt, "after Protect, %q is still in the struct", pt)
	}
	assert.False(t, s.Public != "public" || s.ID != "rec-1" || s.Nested.Kind != "work", "Protect changed untagged fields: Public=%q ID=%q Kind=%q", s.Public, s.ID, s.Nested.Kind)
	assert.False(t, s.Secret != "", "redact field after Protect = %q, want empty", s.Secret)
	assert.False(t, s.PtrList[0] != nil || s.PtrMap["nil"] != nil || s.CPtrs["nil"] != nil, "Protect replaced a nil pointer")
	assert.False(t, !s.Born.IsProtected() || !s.Age.IsProtected(), "pii.Value fields are not protected")
	mustReveal(t, p, &s)
	want := fullShapes()
	want.Secret = ""
	if diff := cmp.Diff(want, s, cmpShapes); diff != "" {
		t.Errorf("Reveal(Protect(v)) (-want +got):\n%s", diff)
	}
	born, _ := s.Born.Get()
	wantBorn, _ := want.Born.Get()
	_, gotOff := born.Zone()
	_, wantOff := wantBorn.Zone()
	assert.False(t, !born.Equal(wantBorn) || gotOff != wantOff, "time.Time after round trip = %v, want %v (instant and offset kept)", born, wantBorn)
}

func TestRootSliceAndMap(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	list := []Contact{{Email: "a@example.com"}, {Email: "b@example.com"}}
	mustProtect(t, p, &list)
	require.False(t, strings.Contains(dump(list), "@example.com"), "Protect(&[]Contact) left plaintext: %v", list)
	mustReveal(t, p, &list)
	assert.False(t, list[0].Email != "a@example.com" || list[1].Email != "b@example.com", "Reveal(&[]Contact) = %+v", list)
	m := map[int]*Contact{1: {Email: "m@example.com"}}
	mustProtect(t, p, &m)
	mustReveal(t, p, &m)
	assert.False(t, m[1].Email != "m@example.com", "map root round trip = %q", m[1].Email)
}

// P08: nil values and wrong kinds give errors, never panics.
func TestInvalidTargets(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	var nilContact *Contact
	s := "x"
	var nilProtector *pii.Protector
	tests := []struct {
		name string
		arg  any
	}{
		{"nil", nil},
		{"typed nil pointer", nilContact},
		{"struct value", Contact{}},
		{"pointer to string", &s},
		{"int", 7},
		{"pointer to int slice", &[]int{1}},
	}
	for _, tt := range tests {
		for _, call := range []func(any) error{
			func(v any) error { return p.Protect(ctx, v) },
			func(v any) error { return p.Reveal(ctx, v) },
			func(v any) error { _, err := p.Rewrap(ctx, v); return err },
		} {
			assert.ErrorIs(t, call(tt.arg), pii.ErrInvalidTarget, "%s", tt.name)
		}
	}
	assert.ErrorIs(t, nilProtector.Protect(ctx, &Contact{}), pii.ErrInvalidTarget, "nil Protector")
	assert.ErrorIs(t, errOf2(pii.New(nil)), pii.ErrKeyProvider, "New(nil) error")
}

type P08Record struct {
	Meta  any
	Phone *string            `pii:"encrypt"`
	Tags  map[string]*string `pii:"encrypt,plainkeys"`
	L     []*Contact
}

func TestNilsSurvive(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	r := P08Record{Tags: map[string]*string{"a": nil}, L: []*Contact{nil, {Email: "c@example.com"}}}
	mustProtect(t, p, &r)
	require.False(t, r.L[1].Email == "c@example.com", "Protect skipped the element after a nil")
	mustReveal(t, p, &r)
	assert.False(t, r.Meta != nil || r.Phone != nil || r.Tags["a"] != nil || r.L[0] != nil || r.L[1].Email != "c@example.com", "after round trip: %+v, L[1]=%+v", r, r.L[1])
	var empty P08Record
	mustProtect(t, p, &empty)
	mustReveal(t, p, &empty)
	assert.False(t, empty.Tags != nil || empty.L != nil, "nil map or slice became non-nil: %+v", empty)
}

// P13: empty values are protected, absent values stay absent.
type P13Record struct {
	A string         `pii:"encrypt"`
	B *string        `pii:"encrypt"`
	C sql.NullString `pii:"encrypt"`
	D []byte         `pii:"encrypt"`
	E pii.Value[int] `pii:"encrypt"`
}

func TestEmptyVersusNull(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	var r P13Record
	mustProtect(t, p, &r)
	assert.False(t, r.A == "", `Protect left "" in a string field; the empty string must be encrypted`)
	assert.False(t, r.B != nil || r.C.Valid || r.D != nil || !r.E.IsNull(), "Protect filled an absent value: %+v", r)
	mustReveal(t, p, &r)
	assert.False(t, r.A != "" || r.B != nil || r.C.Valid || r.D != nil || !r.E.IsNull(), "round trip of the zero record = %+v", r)

	e := ""
	r2 := P13Record{B: &e, C: sql.NullString{Valid: true}, D: []byte{}}
	mustProtect(t, p, &r2)
	require.False(t, r2.B == nil || *r2.B == "" || r2.C.String == "" || len(r2.D) == 0, "empty but present values were not encrypted: %+v", r2)
	mustReveal(t, p, &r2)
	assert.False(t, r2.B == nil || *r2.B != "" || !r2.C.Valid || r2.C.String != "" || r2.D == nil || len(r2.D) != 0, "round trip of empty values = %+v", r2)

	// No stale "already protected" state: a value set after a round trip
	// is protected again.
	r3 := P13Record{}
	mustProtect(t, p, &r3)
	mustReveal(t, p, &r3)
	r3.A = "now-set"
	mustProtect(t, p, &r3)
	assert.False(t, r3.A == "now-set", "a value set after Reveal was not protected")
}

// P07: embedded structs, exported and unexported, value and pointer.
type P07User struct {
	Contact
	*address
	Name string
}

func TestEmbedded(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	u := P07User{Contact: Contact{Email: "a@example.com"}, address: &address{Street: "1 Main St"}}
	mustProtect(t, p, &u)
	require.False(t, u.Email == "a@example.com" || u.Street == "1 Main St", "embedded fields not protected: %q %q", u.Email, u.Street)
	mustReveal(t, p, &u)
	assert.False(t, u.Email != "a@example.com" || u.Street != "1 Main St", "embedded round trip: %q %q", u.Email, u.Street)
	nilEmbedded := P07User{Contact: Contact{Email: "b@example.com"}}
	mustProtect(t, p, &nilEmbedded)
	assert.False(t, nilEmbedded.address != nil, "Protect allocated a nil embedded pointer")
}

// P06: untagged unexported fields and opaque types are left alone.
type P06Record struct {
	state   int
	Email   string `pii:"encrypt"`
	Created time.Time
	Note    sql.NullString `pii:"encrypt"`
	hidden  *Contact
}

func TestUnexportedAndOpaque(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	t0 := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	hidden := &Contact{Email: "hidden@example.com"}
	r := P06Record{state: 7, Email: "a@example.com", Created: t0, Note: sql.NullString{String: "n", Valid: true}, hidden: hidden}
	mustProtect(t, p, &r)
	assert.False(t, r.state != 7 || !r.Created.Equal(t0) || r.hidden != hidden || hidden.Email != "hidden@example.com", "Protect touched untagged state: %+v", r)
	mustReveal(t, p, &r)
	assert.False(t, r.Email != "a@example.com" || r.Note.String != "n", "round trip = %+v", r)
}

// Cycles and aliasing: no crash, nothing protected twice.
type Node struct {
	Val  string `pii:"encrypt"`
	Next *Node
	Kids []*Node
}

type Aliased struct {
	A    Contact
	P1   *Contact
	P2   *Contact
	S1   []Contact
	S2   []Contact
	Self *Aliased
	Str  string  `pii:"encrypt"`
	SPtr *string `pii:"encrypt"`
}

func TestCyclesAndAliasing(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	a := &Node{Val: "a"}
	b := &Node{Val: "b", Next: a}
	a.Next = b
	a.Kids = []*Node{a, b, a}
	mustProtect(t, p, a)
	mustProtect(t, p, a) // and again: idempotent on a cycle
	mustReveal(t, p, a)
	assert.False(t, a.Val != "a" || b.Val != "b", "cycle round trip = %q %q", a.Val, b.Val)

	shared := &Contact{Email: "shared@example.com"}
	backing := []Contact{{Email: "s@example.com"}}
	x := &Aliased{P1: shared, P2: shared, S1: backing, S2: backing, Str: "str"}
	x.Self = x
	x.A = Contact{Email: "a@example.com"}
	mustProtect(t, p, x)
	mustReveal(t, p, x)
	assert.False(t, shared.Email != "shared@example.com" || backing[0].Email != "s@example.com" || x.Str != "str", "aliased round trip: shared=%q backing=%q Str=%q", shared.Email, backing[0].Email, x.Str)

	// One value shared by two protected fields cannot be bound to both:
	// an error, and nothing changes.
	x.SPtr = &x.Str
	if err := p.Protect(ctx, x); !errors.Is(err, pii.ErrInvalidTarget) || x.Str != "str" {
		t.Errorf("Protect of a value shared by two fields = %v (Str %q), want ErrInvalidTarget and no change", err, x.Str)
	}
}

type SharedPtrs struct {
	ID       string  `pii:"-"`
	Billing  *string `pii:"encrypt,aad=ID"`
	Shipping *string `pii:"encrypt,aad=ID"`
	Hash     *string `pii:"hash"`
}

// A pointer shared between fields, or between records bound to their IDs,
// is refused rather than encrypted once for the first of them.
func TestSharedValuesRefused(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	email := "ada@example.com"
	for name, v := range map[string]*SharedPtrs{
		"two fields":     {ID: "1", Billing: &email, Shipping: &email},
		"encrypt + hash": {ID: "1", Billing: &email, Hash: &email},
	} {
		if err := p.Protect(ctx, v); !errors.Is(err, pii.ErrInvalidTarget) || email != "ada@example.com" {
			t.Errorf("%s: Protect = %v, email now %q", name, err, email)
		}
	}
	recs := []SharedPtrs{{ID: "1", Billing: &email}, {ID: "2", Billing: &email}}
	if err := p.Protect(ctx, &recs); !errors.Is(err, pii.ErrInvalidTarget) || email != "ada@example.com" {
		t.Errorf("two records sharing a value: Protect = %v", err)
	}
	// Shared within one field of one record (or with no binding) is fine.
	same := []Contact{{Email: "x@example.com"}}
	both := struct{ A, B []Contact }{same, same}
	mustProtect(t, p, &both)
	mustReveal(t, p, &both)
	assert.False(t, same[0].Email != "x@example.com", "shared slice round trip: %q", same[0].Email)
}

type Deep struct {
	Next *Deep
	V    string `pii:"encrypt"`
}

func TestTooDeep(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	root := &Deep{V: "v"}
	cur := root
	for range 2000 {
		cur.Next = &Deep{V: "v"}
		cur = cur.Next
	}
	err := p.Protect(ctx, root)
	require.ErrorIs(t, err, pii.ErrTooDeep, "Protect(2000-deep list) = %v, want ErrTooDeep", err)
	assert.False(t, root.V != "v" || cur.V != "v", "a failed Protect changed the value")
}

// All or nothing: a failure on the last field leaves every field as it was.
type AllOrNothing struct {
	A    string            `pii:"encrypt"`
	M    map[string]string `pii:"encrypt,plainkeys"`
	L    []Contact
	Last string `pii:"encrypt,maxlen=60"`
}

func TestAllOrNothing(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	v := AllOrNothing{A: "a", M: map[string]string{"k": "v"}, L: []Contact{{Email: "e@example.com"}}, Last: strings.Repeat("x", 100)}
	before := dump(v) + dump(v.M)
	err := p.Protect(ctx, &v)
	require.ErrorIs(t, err, pii.ErrTooLong, "Protect = %v, want ErrTooLong", err)
	if after := dump(v) + dump(v.M); after != before {
		t.Errorf("failed Protect changed the struct:\nbefore %s\nafter  %s", before, after)
	}

	// Reveal: one tampered field among good ones.
	v.Last = "short"
	mustProtect(t, p, &v)
	v.Last = v.Last[:len(v.Last)-4] + "AAAA"
	before = dump(v) + dump(v.M)
	require.ErrorIs(t, p.Reveal(ctx, &v), pii.ErrDecryption, "Reveal(tampered)")
	if after := dump(v) + dump(v.M); after != before {
		t.Error("failed Reveal changed the struct")
	}
}

// P11: Protect is idempotent, and plaintext that looks like ciphertext is
// never left as plaintext.
func TestIdempotent(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	u := Contact{Email: "a@example.com"}
	mustProtect(t, p, &u)
	ct := u.Email
	mustProtect(t, p, &u)
	require.False(t, u.Email != ct, "second Protect changed the ciphertext")
	mustReveal(t, p, &u)
	require.False(t, u.Email != "a@example.com", "Reveal after double Protect = %q", u.Email)

	raw := make([]byte, 40)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	for _, fake := range []string{
		"tl1e:" + base64.StdEncoding.EncodeToString(raw),
		"tl1e:" + base64.RawURLEncoding.EncodeToString(append([]byte{1, 0, 0, 0, 1}, raw...)),
		"tl1e:",
		"tl9z:whatever",
	} {
		v := Contact{Email: fake}
		err := p.Protect(ctx, &v)
		if err == nil {
			assert.False(t, v.Email == fake, "Protect(%q) left it as it was", fake)
			mustReveal(t, p, &v)
			assert.False(t, v.Email != fake, "round trip of %q = %q", fake, v.Email)
			continue
		}
		assert.False(t, !errors.Is(err, pii.ErrDecryption) || v.Email != fake, "Protect(%q) = %v (value %q), want ErrDecryption and the value untouched", fake, err, v.Email)
	}
}

// Fail closed: plaintext, tampering, truncation, foreign ciphertext.
func TestRevealFailsClosed(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	other, _ := newProtector(t)
	good := Contact{Email: "a@example.com"}
	mustProtect(t, p, &good)
	foreign := Contact{Email: "a@example.com"}
	mustProtect(t, other, &foreign)

	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name  string
		value string
		want  error
	}{
		{"plaintext", "a@example.com", pii.ErrNotProtected},
		{"empty string", "", pii.ErrNotProtected},
		{"flipped byte in tag", flip(good.Email, len(good.Email)-2), pii.ErrDecryption},
		{"flipped byte in nonce", flip(good.Email, 15), pii.ErrDecryption},
		{"truncated by 3", good.Email[:len(good.Email)-3], pii.ErrDecryption},
		{"truncated to prefix", good.Email[:8], pii.ErrDecryption},
		{"prefix only", "tl1e:", pii.ErrDecryption},
		{"bad base64", "tl1e:!!!!", pii.ErrDecryption},
		{"wrong mode letter", "tl1d:" + good.Email[5:], pii.ErrDecryption},
		{"unknown version", "tl2e:" + good.Email[5:], pii.ErrDecryption},
		{"other keyset", foreign.Email, pii.ErrKeyNotFound},
	}
	for _, tt := range tests {
		c := Contact{Email: tt.value}
		err := p.Reveal(ctx, &c)
		assert.ErrorIs(t, err, tt.want, "%s: Reveal = %v, want %v", tt.name, err, tt.want)
		assert.False(t, c.Email != tt.value, "%s: failed Reveal changed the value", tt.name)
		var fe *pii.FieldError
		assert.False(t, !errors.As(err, &fe) || fe.Path != "Contact.Email" || fe.Type != reflect.TypeFor[Contact](), "%s: error %v is not a FieldError at Contact.Email", tt.name, err)
	}
}

// Associated data: ciphertexts do not move between fields, records or types.
type TwoFields struct {
	ID string `pii:"-"`
	A  string `pii:"encrypt,aad=ID"`
	B  string `pii:"encrypt,aad=ID"`
	D1 string `pii:"deterministic"`
	D2 string `pii:"deterministic"`
}

type OtherType struct {
	A  string `pii:"encrypt,aad=ID"`
	ID string
}

func TestAssociatedDataBinding(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	r1 := TwoFields{ID: "1", A: "alpha", B: "beta", D1: "same", D2: "same"}
	r2 := TwoFields{ID: "2", A: "alpha", B: "beta", D1: "same", D2: "same"}
	mustProtect(t, p, &r1)
	mustProtect(t, p, &r2)
	assert.False(t, r1.D1 == r1.D2, "deterministic ciphertexts of two fields are equal; they must be scoped per field")
	assert.False(t, r1.D1 != r2.D1, "deterministic ciphertexts of one field differ between records")
	cases := map[string]TwoFields{
		"swap fields":    {ID: "1", A: r1.B, B: r1.A, D1: r1.D1, D2: r1.D2},
		"other record":   {ID: "1", A: r2.A, B: r1.B, D1: r1.D1, D2: r1.D2},
		"changed ID":     {ID: "3", A: r1.A, B: r1.B, D1: r1.D1, D2: r1.D2},
		"swap det field": {ID: "1", A: r1.A, B: r1.B, D1: r1.D2, D2: r1.D1},
	}
	for name, c := range cases {
		assert.ErrorIs(t, p.Reveal(ctx, &c), pii.ErrDecryption, "%s", name)
	}
	o := OtherType{ID: "1", A: r1.A}
	assert.ErrorIs(t, p.Reveal(ctx, &o), pii.ErrDecryption, "ciphertext moved to another type")
	// Missing record ID.
	assert.ErrorIs(t, p.Protect(ctx, &TwoFields{A: "x"}), pii.ErrMissingRecordID, "Protect with empty aad field")
	// Extra associated data from the Protector.
	store := keys.NewMemory()
	pa, _ := pii.New(store, pii.WithAssociatedData([]byte("tenant-a")))
	pb, _ := pii.New(store, pii.WithAssociatedData([]byte("tenant-b")))
	c := Contact{Email: "a@example.com"}
	mustProtect(t, pa, &c)
	assert.ErrorIs(t, pb.Reveal(ctx, &c), pii.ErrDecryption, "Reveal under other tenant's associated data")
	mustReveal(t, pa, &c)
}

// P12: no nonce is ever reused.
func TestNoncesUnique(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	p2, _ := pii.New(piitest.NewFixedProvider())
	p3, _ := pii.New(piitest.NewFixedProvider())
	cts := map[string]bool{}
	nonces := map[string]bool{}
	for i := range 10000 {
		pp := p
		if i%3 == 1 {
			pp = p2
		} else if i%3 == 2 {
			pp = p3 // two Protectors on one keyset
		}
		u := Contact{Email: "same@example.com"}
		mustProtect(t, pp, &u)
		require.False(t, cts[u.Email], "ciphertext repeated after %d values", i)
		cts[u.Email] = true
		raw, err := base64.RawURLEncoding.DecodeString(u.Email[5:])
		require.NoError(t, err)
		nonce := string(raw[5:17]) // after the Tink prefix: 12-byte nonce
		require.False(t, nonces[nonce], "nonce repeated after %d values", i)
		nonces[nonce] = true
	}
}

// P02: rotation keeps old values readable; disabling refuses them clearly;
// rewrap moves them to the new key.
func TestRotation(t *testing.T) {
	t.Parallel()
	p, store := newProtector(t)
	old := TwoFields{ID: "1", A: "old-a", B: "old-b", D1: "d1", D2: "d2"}
	mustProtect(t, p, &old)
	oldKS, _ := store.Keyset(ctx, "default", keys.KindAEAD)
	k1 := oldKS.PrimaryKeyID()
	k2, err := store.Rotate(ctx, "default", keys.KindAEAD)
	require.NoError(t, err)
	require.NoError(t, errOf2(store.Rotate(ctx, "default", keys.KindDeterministicAEAD)))
	fresh := TwoFields{ID: "2", A: "new-a", B: "new-b", D1: "d1", D2: "d2"}
	mustProtect(t, p, &fresh)
	require.False(t, keyIDOf(t, fresh.A) != k2 || keyIDOf(t, old.A) != k1, "key IDs: old %d (want %d), fresh %d (want %d)", keyIDOf(t, old.A), k1, keyIDOf(t, fresh.A), k2)
	o, f := old, fresh
	mustReveal(t, p, &o)
	mustReveal(t, p, &f)
	require.False(t, o.A != "old-a" || f.A != "new-a" || o.D1 != "d1", "after rotation: old %+v fresh %+v", o, f)

	require.NoError(t, store.Disable(ctx, "default", keys.KindAEAD, k1))
	o = old
	require.ErrorIs(t, p.Reveal(ctx, &o), pii.ErrKeyDisabled, "Reveal under disabled key")
	require.NoError(t, store.Enable(ctx, "default", keys.KindAEAD, k1))
	o = old
	n, err := p.Rewrap(ctx, &o)
	require.False(t, err != nil || n != 4, "Rewrap = %d, %v; want 4 values (A, B, D1, D2), nil", n, err)
	assert.False(t, keyIDOf(t, o.A) != k2, "Rewrap did not move the value to the primary key")
	if n, err := p.Rewrap(ctx, &o); n != 0 || err != nil {
		t.Errorf("second Rewrap = %d, %v; want 0, nil", n, err)
	}
	require.NoError(t, store.Disable(ctx, "default", keys.KindAEAD, k1))
	mustReveal(t, p, &o)
	assert.False(t, o.A != "old-a" || o.D1 != "d1", "rewrapped record reveals as %+v", o)
	assert.Error(t, store.Disable(ctx, "default", keys.KindAEAD, k2), "disabling the primary key succeeded")
}

func keyIDOf(t *testing.T, s string) uint32 {
	t.Helper()
	_, id, err := pii.KeyID(s)
	require.NoError(t, err, "KeyID(%q) = %v", s, err)
	return id
}

func TestKeyID(t *testing.T) {
	t.Parallel()
	p, store := newProtector(t)
	v := P10Record{Zip: "1", Raw: []byte("r")}
	mustProtect(t, p, &v)
	ks, _ := store.Keyset(ctx, "default", keys.KindAEAD)
	if m, id, err := pii.KeyID(v.Zip); m != pii.ActionEncrypt || id != ks.PrimaryKeyID() || err != nil {
		t.Errorf("KeyID = %v, %d, %v; want encrypt, %d", m, id, err, ks.PrimaryKeyID())
	}
	dks, _ := store.Keyset(ctx, "default", keys.KindDeterministicAEAD)
	if m, id, err := pii.KeyID(v.Raw); m != pii.ActionDeterministic || id != dks.PrimaryKeyID() || err != nil {
		t.Errorf("KeyID = %v, %d, %v", m, id, err)
	}
	assert.ErrorIs(t, errOf3(pii.KeyID("plain")), pii.ErrDecryption, "KeyID(plain)")
}

// Migration: a field opts in to reading plaintext, and it is counted.
type Legacy struct {
	Email string `pii:"encrypt,migrate"`
	Other string `pii:"encrypt"`
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	l := Legacy{Email: "plain@example.com", Other: "x"}
	mustProtect(t, p, &l)
	l.Email = "plain@example.com" // a row written before encryption
	mustReveal(t, p, &l)
	assert.False(t, l.Email != "plain@example.com" || l.Other != "x", "migrate reveal = %+v", l)
	assert.EqualValues(t, 1, p.Stats().LegacyPlaintextReads["Legacy.Email"], "LegacyPlaintextReads")
	l2 := Legacy{Email: "plain@example.com", Other: "y"}
	mustProtect(t, p, &l2)
	l2.Email = "plain@example.com"
	if n, err := p.Rewrap(ctx, &l2); err != nil || n != 1 {
		t.Fatalf("Rewrap of legacy plaintext = %d, %v; want 1, nil", n, err)
	}
	assert.False(t, l2.Email == "plain@example.com", "Rewrap left legacy plaintext")
	l3 := Legacy{Email: "e", Other: "plaintext"}
	assert.ErrorIs(t, p.Reveal(ctx, &l3), pii.ErrNotProtected, "plaintext in a field without migrate")
}

// P15: deterministic ciphertexts are canonical across named types, scoped
// per field, and refused on low-cardinality types.
type P15Email string

type P15A struct {
	A P15Email `pii:"deterministic"`
	B string   `pii:"deterministic"`
}

type P15B struct {
	A string `pii:"deterministic"`
}

type P15Flag struct {
	Flag pii.Value[bool] `pii:"deterministic"`
}

type P15FlagOK struct {
	Flag pii.Value[bool] `pii:"deterministic,lowcardinality"`
}

func TestDeterministicCanonical(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	x := P15A{A: "k@example.com", B: "k@example.com"}
	y := P15A{A: P15Email("k@example.com")}
	mustProtect(t, p, &x)
	mustProtect(t, p, &y)
	assert.False(t, x.A != y.A, "same field, same text: ciphertexts differ")
	assert.False(t, string(x.A) == x.B, "two fields with the same text share a ciphertext")
	assert.ErrorIs(t, pii.Validate(P15Flag{}), pii.ErrInvalidTag, "deterministic on Value[bool]")
	assert.NoError(t, pii.Validate(P15FlagOK{}), "deterministic,lowcardinality on Value[bool]: Register")
	// Rewrap keeps the revealed value byte-identical.
	_, store := p, keys.NewMemory()
	q, _ := pii.New(store)
	v := P15A{A: "MiXeD Case ß", B: "x"}
	mustProtect(t, q, &v)
	store.Rotate(ctx, "default", keys.KindDeterministicAEAD)
	require.NoError(t, errOf2(q.Rewrap(ctx, &v)))
	mustReveal(t, q, &v)
	assert.False(t, v.A != "MiXeD Case ß", "after rewrap: %q", v.A)
}

// Keys from other names, and a failing provider (P01 class).
type NamedKeys struct {
	A string `pii:"encrypt,key=crm"`
	B string `pii:"encrypt"`
}

type failingProvider struct{ ks *keys.Keyset }

func (f failingProvider) Keyset(ctx context.Context, name string, kind keys.Kind) (*keys.Keyset, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return f.ks, nil // nil, nil: a provider that answers nothing
}

func TestKeyNamesAndProviderFailures(t *testing.T) {
	t.Parallel()
	p, store := newProtector(t)
	n := NamedKeys{A: "a", B: "b"}
	mustProtect(t, p, &n)
	assert.NotEqual(t, keyIDOf(t, n.A), keyIDOf(t, n.B), "key=crm used the default keyset")
	ks, err := store.List(context.Background())
	require.NoError(t, err)
	assert.Len(t, ks, 2, "store holds %d keysets, want 2", len(ks))
	bad, _ := pii.New(failingProvider{})
	v := NamedKeys{A: "a"}
	if err := bad.Protect(ctx, &v); !errors.Is(err, pii.ErrKeyProvider) || v.A != "a" {
		t.Errorf("provider returning nil: Protect = %v (A=%q), want ErrKeyProvider and A untouched", err, v.A)
	}
	daead, _ := store.Keyset(ctx, "default", keys.KindDeterministicAEAD)
	wrongKind, _ := pii.New(failingProvider{ks: daead})
	assert.ErrorIs(t, wrongKind.Protect(ctx, &v), pii.ErrKeyProvider, "provider returning the wrong kind")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.Protect(cctx, &v); !errors.Is(err, context.Canceled) || v.A != "a" {
		t.Errorf("cancelled context: Protect = %v, want context.Canceled", err)
	}
}

// Concurrent use of one Protector, with rotations under way.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	p, store := newProtector(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				want := fmt.Sprintf("user%d-%d@example.com", g, i)
				s := Shapes{ID: "r", Name: Name(want), Tags: []string{want}, Ptr: &Contact{Email: want}}
				if err := p.Protect(ctx, &s); err != nil {
					errs <- err
					return
				}
				if err := p.Reveal(ctx, &s); err != nil {
					errs <- err
					return
				}
				if string(s.Name) != want || s.Tags[0] != want || s.Ptr.Email != want {
					errs <- fmt.Errorf("got %q, want %q", s.Name, want)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			if _, err := store.Rotate(ctx, "default", keys.KindAEAD); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

type leakyText struct{ v string }

func (l leakyText) MarshalText() ([]byte, error)  { return nil, fmt.Errorf("cannot marshal %q", l.v) }
func (l *leakyText) UnmarshalText(b []byte) error { l.v = string(b); return nil }

// Odd inputs found by a user test: typed nil stores, nil contexts, nil
// Protectors' Stats, marshallers whose errors quote the value, and two
// anonymous struct types with the same field names.
func TestOddInputs(t *testing.T) {
	t.Parallel()
	var nilStore *keys.Store
	assert.ErrorIs(t, errOf2(pii.New(nilStore)), pii.ErrKeyProvider, "New(typed nil store)")
	p, _ := newProtector(t)
	var nilCtx context.Context // the nil context is the point
	assert.ErrorIs(t, p.Protect(nilCtx, &Contact{Email: "a@example.com"}), pii.ErrInvalidTarget, "Protect(nil ctx)")
	var nilP *pii.Protector
	if s := nilP.Stats(); s.LegacyPlaintextReads == nil {
		t.Error("nil Protector's Stats has a nil map")
	}
	type hasLeaky struct {
		V pii.Value[leakyText] `pii:"encrypt"`
	}
	err := p.Protect(ctx, &hasLeaky{V: pii.NewValue(leakyText{"secret-ssn-123"})})
	assert.False(t, !errors.Is(err, pii.ErrInvalidValue) || strings.Contains(err.Error(), "secret"), "Protect with a failing marshaller = %v", err)
	a := struct {
		S string `pii:"encrypt"`
	}{"a"}
	mustProtect(t, p, &a)
	b := struct {
		S string `pii:"encrypt,class=contact"`
	}{a.S}
	assert.ErrorIs(t, p.Reveal(ctx, &b), pii.ErrDecryption, "ciphertext moved between two anonymous struct types")
}

type Envelope struct {
	Kind    string
	Payload any
	Items   []any
	Err     error
}

// Tagged structs inside interface fields are protected, whether held by
// pointer or by value; other dynamic values are left alone.
func TestInterfaceFields(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	c := &Contact{Email: "ptr@example.com"}
	e := Envelope{Kind: "k", Payload: c, Items: []any{Contact{Email: "val@example.com"}, 42, "text", nil, []Contact{{Email: "s@example.com"}}}, Err: errors.New("boom")}
	mustProtect(t, p, &e)
	require.False(t, c.Email == "ptr@example.com" || e.Items[0].(Contact).Email == "val@example.com" || e.Items[4].([]Contact)[0].Email == "s@example.com", "tagged structs in interfaces were not protected: %+v", e)
	assert.False(t, e.Items[1] != 42 || e.Items[2] != "text" || e.Items[3] != nil || e.Err.Error() != "boom", "other dynamic values changed: %+v", e)
	mustReveal(t, p, &e)
	assert.False(t, c.Email != "ptr@example.com" || e.Items[0].(Contact).Email != "val@example.com" || e.Items[4].([]Contact)[0].Email != "s@example.com", "round trip through interfaces: %+v", e)
	// A dynamic type with a bad tag is an error, not a silent skip.
	bad := Envelope{Payload: &badKind{N: 1}}
	assert.ErrorIs(t, p.Protect(ctx, &bad), pii.ErrInvalidTag, "bad tag behind an interface")
}

// A map shared by two tagged fields, or by two records bound to their IDs,
// is refused like a shared pointer.
func TestSharedMapsRefused(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	type mapS struct {
		A map[string]string `pii:"encrypt,plainkeys"`
		B map[string]string `pii:"deterministic,plainkeys"`
	}
	m := map[string]string{"k": "v"}
	if err := p.Protect(ctx, &mapS{A: m, B: m}); !errors.Is(err, pii.ErrInvalidTarget) || m["k"] != "v" {
		t.Errorf("map shared by two fields: %v, map %v", err, m)
	}
	type recM struct {
		ID string            `pii:"-"`
		M  map[string]string `pii:"encrypt,aad=ID,plainkeys"`
	}
	recs := []recM{{"1", m}, {"2", m}}
	if err := p.Protect(ctx, &recs); !errors.Is(err, pii.ErrInvalidTarget) || m["k"] != "v" {
		t.Errorf("map shared by two records: %v, map %v", err, m)
	}
	// A map of structs shared by two untagged fields is walked once.
	cm := map[string]Contact{"a": {Email: "a@example.com"}}
	both := struct{ X, Y map[string]Contact }{cm, cm}
	mustProtect(t, p, &both)
	mustReveal(t, p, &both)
	assert.False(t, cm["a"].Email != "a@example.com", "shared map of structs: %v", cm)
}

// errOf2 and errOf3 return the error of a call with two or three results,
// for assertions on calls whose other results do not matter.
func errOf2[A any](_ A, err error) error { return err }

func errOf3[A, B any](_ A, _ B, err error) error { return err }
