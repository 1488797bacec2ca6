package pii_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

type LogEmail string

func (e LogEmail) String() string { return "masked" }

type LogCustomer struct {
	Name string
	Mail LogEmail `pii:"redact"`
}

type LogOrder struct {
	ID     int
	Buyer  LogCustomer
	backup LogCustomer
	M      map[string]LogCustomer
	P      *LogCustomer
	L      []any
	When   time.Time
	Card   string `pii:"tokenize=card"`
	Raw    []byte `pii:"encrypt"`
}

// P09: no log or format path shows a tagged value, whatever the nesting.
func TestRedactedLeaksNothing(t *testing.T) {
	t.Parallel()
	o := LogOrder{
		ID:     1,
		Buyer:  LogCustomer{"X", "leak1@example.com"},
		backup: LogCustomer{"Y", "leak2@example.com"},
		M:      map[string]LogCustomer{"k": {"Z", "leak3@example.com"}},
		P:      &LogCustomer{"W", "leak4@example.com"},
		L:      []any{LogCustomer{"V", "leak5@example.com"}, "free text"},
		When:   time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Card:   "leak6-4111111111111111",
		Raw:    []byte("leak7"),
	}
	safe := pii.Redacted(o)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "o", safe)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "o", safe)
	fmt.Fprintf(&buf, "%v %+v %#v %s %q %x\n", safe, safe, safe, safe, safe, safe)
	fmt.Fprintln(&buf, safe, &safe)
	require.NoError(t, json.NewEncoder(&buf).Encode(safe))
	require.NoError(t, json.NewEncoder(&buf).Encode(map[string]any{"nested": []any{safe}}))
	// The redacting handler catches structs logged without Redacted.
	h := slog.New(pii.NewRedactingHandler(slog.NewJSONHandler(&buf, nil)))
	h.Info("m", "o", o, "p", &o, slog.Group("g", "o", o))
	h.With("o", o).Info("with")
	slog.New(pii.NewRedactingHandler(slog.NewTextHandler(&buf, nil))).Info("m", "o", o)

	out := buf.String()
	assert.NotContains(t, out, "leak", "output shows a tagged value:\n%s", out)
	for _, want := range []string{`"Name":"X"`, "[redacted]", "free text", "2026-01-02 03:04:05", `"ID":1`, "Name=X"} {
		assert.Contains(t, out, want, "output lacks %q:\n%s", want, out)
	}
	// Redacted does not modify its input.
	assert.False(t, o.Buyer.Mail != "leak1@example.com", "Redacted changed the value")
	// JSON is valid.
	b, err := json.Marshal(safe)
	assert.False(t, err != nil || !json.Valid(b), "MarshalJSON = %s, %v", b, err)
}

type logCycle struct {
	Name string
	Next *logCycle
	Sec  string `pii:"encrypt"`
}

func TestRedactedOddValues(t *testing.T) {
	t.Parallel()
	c := &logCycle{Name: "a", Sec: "leak"}
	c.Next = c
	for _, v := range []any{nil, c, 3, "s", []int(nil), map[string]int(nil), (*logCycle)(nil), struct{}{}} {
		s := pii.Redacted(v).String()
		b, err := json.Marshal(pii.Redacted(v))
		assert.False(t, strings.Contains(s+string(b), "leak") || err != nil || !json.Valid(b), "Redacted(%T) = %q, JSON %s, %v", v, s, b, err)
	}
	if s := pii.Redacted(c).String(); !strings.Contains(s, "[cycle]") {
		t.Errorf("cycle not marked: %s", s)
	}
	var buf bytes.Buffer
	h := pii.NewRedactingHandler(slog.NewTextHandler(&buf, nil))
	assert.False(t, !h.Enabled(context.Background(), slog.LevelInfo), "handler disabled")
	slog.New(h).WithGroup("grp").Info("m", "c", c, "n", 5)
	assert.False(t, strings.Contains(buf.String(), "leak") || !strings.Contains(buf.String(), "grp.n=5"), "grouped output: %s", buf.String())
}

type leakyValuer struct{ c LogCustomer }

func (l leakyValuer) LogValue() slog.Value { return slog.AnyValue(l.c) }

// The handler also redacts structs inside interface values, slices and maps
// of any, values of LogValuers, hides map keys, and logs errors by their text.
func TestRedactingHandlerOddPaths(t *testing.T) {
	t.Parallel()
	c := LogCustomer{Name: "X", Mail: "leak@example.com"}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(pii.NewRedactingHandler(h))
		l.Info("m", "items", []any{c}, "byid", map[string]any{"1": c}, "valuer", leakyValuer{c},
			"keys", map[string]int{"leak-key@example.com": 1}, "iface", any(&c))
		l.Error("e", "err", errors.New("boom"), "perr", &pii.FieldError{Path: "T.F", Err: pii.ErrDecryption})
	}
	out := buf.String()
	assert.NotContains(t, out, "leak", "output shows personal data:\n%s", out)
	for _, want := range []string{"boom", "pii: T.F: decryption failed", "[redacted]"} {
		assert.Contains(t, out, want, "output lacks %q:\n%s", want, out)
	}
}

type leakStr struct {
	Name string `pii:"encrypt"`
}

func (l leakStr) String() string { return "leakStr(" + l.Name + ")" }
func (l leakStr) Error() string  { return "err " + l.Name }

type embStringer struct{ fmt.Stringer }
type embError struct{ error }

// A String or Error method promoted from an embedded interface, or an
// error wrapping a tagged one, does not print tagged values.
func TestRedactedPromotedMethods(t *testing.T) {
	t.Parallel()
	secret := leakStr{Name: "leak-secret"}
	var buf bytes.Buffer
	l := slog.New(pii.NewRedactingHandler(slog.NewTextHandler(&buf, nil)))
	l.Info("m", "s", embStringer{secret}, "e", embError{secret}, "w", fmt.Errorf("w: %w", secret), "plain", fmt.Errorf("w: %w", errors.New("boom")))
	fmt.Fprint(&buf, pii.Redacted(embStringer{secret}), pii.Redacted(embError{secret}), pii.Redacted(fmt.Errorf("w: %w", secret)))
	assert.False(t, strings.Contains(buf.String(), "leak"), "a promoted or wrapping method printed a tagged value:\n%s", buf.String())
	assert.False(t, !strings.Contains(buf.String(), "w: boom"), "a plain wrapped error lost its text:\n%s", buf.String())
}

func TestRedactedLeaves(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		v    any
		want string
	}{
		{"", ""},
		{struct{}{}, "{}"},
		{struct{ A, B string }{"", "b"}, "{A: B:b}"},
		{pii.NewValue("x"), "pii.Value(plaintext)"},
		{[]string{}, "[]"},
	} {
		assert.EqualValues(t, tt.want, pii.Redacted(tt.v).String(), "Redacted(%#v)", tt.v)
		if b, err := json.Marshal(pii.Redacted(tt.v)); err != nil || !json.Valid(b) {
			t.Errorf("JSON of Redacted(%#v) = %s, %v", tt.v, b, err)
		}
	}
}
