package pii_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

type ViewAddress struct {
	City   string `json:"city"`
	Street string `json:"street" pii:"encrypt,class=location,mask=first,view=billing:plain"`
}

type ViewCustomer struct {
	ID      string               `json:"id"`
	Email   string               `json:"email" pii:"encrypt,class=contact,mask=email,view=billing:plain"`
	Card    string               `json:"card" pii:"tokenize=card,class=financial,mask=card,view=support:hide"`
	CPR     sql.NullString       `json:"cpr" pii:"tokenize=cpr,class=national_id,mask=cpr,view=billing:plain"`
	Born    pii.Value[time.Time] `json:"born" pii:"encrypt,class=identity,mask=year,view=billing:plain"`
	Visits  pii.Value[int]       `json:"visits" pii:"encrypt,view=billing:plain"`
	Notes   string               `json:"notes,omitempty" pii:"redact"`
	Aliases []string             `json:"aliases" pii:"encrypt,class=identity,mask=name,view=support:plain"`
	Home    *ViewAddress         `json:"home"`
	Extra   any                  `json:"extra"`
	Secret  string               `json:"-"`
	Labels  map[string]string    `json:"labels" pii:"encrypt,mask=text,plainkeys"`
	Phone   *string              `json:"phone" pii:"encrypt,class=contact,mask=phone"`
	Skipped string               `json:"skipped" pii:"-"`
	Seen    pii.Value[time.Time] `json:"seen" pii:"encrypt"`
	Nick    pii.Value[string]    `json:"nick,omitempty" pii:"encrypt,mask=first"`
	Raw     []byte               `json:"raw" pii:"encrypt,mask=text,view=billing:plain"`
}

func viewCustomer() ViewCustomer {
	return ViewCustomer{
		ID:      "c1",
		Email:   "ada@example.com",
		Card:    "4929 1300 0000 3749",
		CPR:     sql.NullString{String: "010190-1234", Valid: true},
		Born:    pii.NewValue(time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC)),
		Visits:  pii.NewValue(7),
		Notes:   "likes tea",
		Aliases: []string{"Augusta Ada King", "Ada"},
		Home:    &ViewAddress{City: "London", Street: "St James's Square"},
		Extra:   []any{ViewAddress{City: "Paris", Street: "Rue de Rivoli"}, 3},
		Secret:  "never",
		Labels:  map[string]string{"b": "x", "a": "y"},
		Skipped: "shown",
		Nick:    pii.NewValue("Lovelace"),
		Raw:     []byte("hi"),
	}
}

func TestViews(t *testing.T) {
	t.Parallel()
	billing, err := pii.NewView("billing")
	require.NoError(t, err)
	support, err := pii.NewView("support")
	require.NoError(t, err)
	tests := []struct {
		name string
		v    json.Marshaler
		want string
	}{
		{"plain", pii.Plain(viewCustomer()), `{"id":"c1","email":"ada@example.com","card":"4929 1300 0000 3749","cpr":"010190-1234",` +
			`"born":"1815-12-10T00:00:00Z","visits":7,"notes":"likes tea","aliases":["Augusta Ada King","Ada"],` +
			`"home":{"city":"London","street":"St James's Square"},"extra":[{"city":"Paris","street":"Rue de Rivoli"},3],` +
			`"labels":{"a":"y","b":"x"},"phone":null,"skipped":"shown","seen":null,"nick":"Lovelace","raw":"aGk="}`},
		{"billing", billing.JSON(viewCustomer()), `{"id":"c1","email":"ada@example.com","card":"•••• •••• •••• 3749","cpr":"010190-1234",` +
			`"born":"1815-12-10T00:00:00Z","visits":7,"notes":null,"aliases":["A. A. K.","A."],` +
			`"home":{"city":"London","street":"St James's Square"},"extra":[{"city":"Paris","street":"Rue de Rivoli"},3],` +
			`"labels":{"a":"•••","b":"•••"},"phone":null,"skipped":"shown","seen":null,"nick":"L•••","raw":"aGk="}`},
		{"support", support.JSON(viewCustomer()), `{"id":"c1","email":"a•••@example.com","card":null,"cpr":"••••••-••••",` +
			`"born":"1815","visits":null,"notes":null,"aliases":["Augusta Ada King","Ada"],` +
			`"home":{"city":"London","street":"S•••"},"extra":[{"city":"Paris","street":"R•••"},3],` +
			`"labels":{"a":"•••","b":"•••"},"phone":null,"skipped":"shown","seen":null,"nick":"L•••","raw":"•••"}`},
		{"masked", pii.Masked(viewCustomer()), `{"id":"c1","email":"a•••@example.com","card":"•••• •••• •••• 3749","cpr":"••••••-••••",` +
			`"born":"1815","visits":null,"notes":null,"aliases":["A. A. K.","A."],` +
			`"home":{"city":"London","street":"S•••"},"extra":[{"city":"Paris","street":"R•••"},3],` +
			`"labels":{"a":"•••","b":"•••"},"phone":null,"skipped":"shown","seen":null,"nick":"L•••","raw":"•••"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.Marshal(tt.v)
			require.NoError(t, err)
			assert.JSONEq(t, tt.want, string(got))
			assert.NotContains(t, string(got), "never", "json:\"-\" is left out")
		})
	}
}

// A view never changes the value it renders, and a pointer renders like
// the value.
func TestViewDoesNotMutate(t *testing.T) {
	t.Parallel()
	c := viewCustomer()
	before := fmt.Sprintf("%#v", pii.Plain(c))
	byValue, err := json.Marshal(pii.Masked(c))
	require.NoError(t, err)
	byPointer, err := json.Marshal(pii.Masked(&c))
	require.NoError(t, err)
	assert.Equal(t, string(byValue), string(byPointer))
	assert.Equal(t, viewCustomer(), c)
	assert.Equal(t, before, fmt.Sprintf("%#v", pii.Plain(c)))
}

// The guard is the same for every field: json.Marshal refuses a revealed
// pii.Value, pii.Plain encodes it, string fields and Value fields alike.
func TestPlainIsTheOneWayToJSON(t *testing.T) {
	t.Parallel()
	type Rec struct {
		Name  string            `json:"name" pii:"encrypt"`
		Alias pii.Value[string] `json:"alias" pii:"encrypt"`
	}
	r := Rec{Name: "Ada", Alias: pii.NewValue("Ada")}
	_, err := json.Marshal(r)
	require.ErrorIs(t, err, pii.ErrValuePlaintext)
	got, err := json.Marshal(pii.Plain(r))
	require.NoError(t, err)
	assert.JSONEq(t, `{"name":"Ada","alias":"Ada"}`, string(got))
}

type viewEmbedded struct {
	Inner string `json:"inner"`
}

type viewEmbeddedPtr struct {
	Deep string `json:"deep"`
}

type ViewUntagged struct {
	viewEmbedded
	*viewEmbeddedPtr
	A   int               `json:"a,omitempty"`
	B   string            `json:"b"`
	C   []byte            `json:"c"`
	D   map[int]float64   `json:"d"`
	E   *time.Time        `json:"e"`
	F   json.RawMessage   `json:"f"`
	G   []string          `json:"g,omitempty"`
	H   bool              `json:"h"`
	I   uint8             `json:"i"`
	J   string            `json:",omitempty"`
	K   map[string]string `json:"k"`
	lit string
}

// Without pii tags, Plain writes what encoding/json writes.
func TestPlainMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	when := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	for _, v := range []ViewUntagged{
		{},
		{viewEmbedded{"in"}, &viewEmbeddedPtr{"deep"}, 1, "<b>&\"\\\n\t\u2028\x01é\xff", []byte{0, 1, 2}, map[int]float64{2: 1.5, 1: 2}, &when, json.RawMessage(`{"x":1}`), []string{"a"}, true, 255, "j", map[string]string{"z": "1", "a": "2"}, "lit"},
	} {
		want, err := json.Marshal(v)
		require.NoError(t, err)
		got, err := json.Marshal(pii.Plain(v))
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got))
	}
}

func TestViewErrors(t *testing.T) {
	t.Parallel()
	_, err := pii.NewView("Support")
	assert.Error(t, err)
	_, err = pii.NewView("")
	assert.Error(t, err)

	type Bad struct {
		X string `pii:"encrpyt"`
	}
	_, err = json.Marshal(pii.Plain(Bad{X: "leak"}))
	require.ErrorIs(t, err, pii.ErrInvalidTag)
	assert.NotContains(t, err.Error(), "leak")

	type Node struct {
		Next *Node
		Name string `pii:"encrypt,mask=text"`
	}
	n := &Node{Name: "leak"}
	n.Next = n
	_, err = json.Marshal(pii.Masked(n))
	require.ErrorIs(t, err, pii.ErrTooDeep)

	got, err := json.Marshal(pii.Masked(nil))
	require.NoError(t, err)
	assert.Equal(t, "null", string(got))
}

// A view that reaches a logger or fmt shows Redacted, not the view.
func TestViewValueLogsRedacted(t *testing.T) {
	t.Parallel()
	c := viewCustomer()
	c.Email = "leak1@example.com"
	var buf bytes.Buffer
	v := pii.Plain(c)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "c", v)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "c", v)
	fmt.Fprintf(&buf, "%v %+v %#v %s %q\n", v, v, v, v, v)
	out := buf.String()
	assert.NotContains(t, out, "leak")
	assert.NotContains(t, out, "3749")
	assert.Contains(t, out, "[redacted]")
}

// Strings of any bytes escape as encoding/json escapes them.
func TestPlainStringsMatchEncodingJSON(t *testing.T) {
	t.Parallel()
	type S struct{ A string }
	pieces := []string{"a", "•", "\xe2\x80", "\xe2\x80\xa8", "\u2029", "\xff", "<", "&", "\"", "\\", "\x00", "\x1f", "é", "\U0001F600", "\xf0\x9f"}
	for i := range 2000 {
		var b strings.Builder
		for j := 0; j < 1+i%7; j++ {
			b.WriteString(pieces[(i*7+j*13+i/3)%len(pieces)])
		}
		v := S{A: b.String()}
		want, err := json.Marshal(v)
		require.NoError(t, err)
		got, err := json.Marshal(pii.Plain(v))
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "%q", v.A)
	}
}

// P06: a masked view of a struct with unexported fields, opaque values,
// sql.Null* and json.RawMessage does not panic, shows the untagged values
// as encoding/json would and leaves the struct as it was.
func TestMaskedViewP06(t *testing.T) {
	t.Parallel()
	type Rec struct {
		state   int
		Email   string `pii:"encrypt,mask=email"`
		Created time.Time
		Note    sql.NullString `pii:"encrypt,mask=first"`
		Raw     json.RawMessage
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := Rec{state: 7, Email: "ada@example.com", Created: t0, Note: sql.NullString{String: "note", Valid: true}, Raw: json.RawMessage(`{"k":[1,2]}`)}
	orig := r
	got, err := json.Marshal(pii.Masked(&r))
	require.NoError(t, err)
	assert.JSONEq(t, `{"Email":"a•••@example.com","Created":"2026-01-02T03:04:05Z","Note":"n•••","Raw":{"k":[1,2]}}`, string(got))
	assert.Equal(t, orig, r)
}
