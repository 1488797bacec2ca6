package pii_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

// ownLV is a tagged type whose own LogValue prints the tagged field.
type ownLV struct {
	CPR string `pii:"encrypt"`
}

func (l ownLV) LogValue() slog.Value { return slog.GroupValue(slog.String("cpr", l.CPR)) }

// ownLVs is a named slice of tagged structs with its own LogValue.
type ownLVs []ownLV

func (l ownLVs) LogValue() slog.Value { return slog.StringValue(fmt.Sprint([]ownLV(l))) }

// ownAll is a tagged type with every method a formatter could call.
type ownAll struct {
	CPR string `pii:"encrypt"`
}

func (o ownAll) String() string                { return "cpr=" + o.CPR }
func (o ownAll) MarshalJSON() ([]byte, error)  { return json.Marshal(o.CPR) }
func (o ownAll) MarshalText() ([]byte, error)  { return []byte(o.CPR), nil }
func (o ownAll) Format(f fmt.State, verb rune) { fmt.Fprint(f, o.CPR) }
func (o ownAll) LogValue() slog.Value          { return slog.StringValue(o.CPR) }

// untaggedLV has no tags: its own LogValue is used.
type untaggedLV struct{ A string }

func (u untaggedLV) LogValue() slog.Value { return slog.StringValue("own-text") }

// forwardLV is untagged, but its LogValue returns a tagged LogValuer.
type forwardLV struct{ c string }

func (f forwardLV) LogValue() slog.Value { return slog.AnyValue(ownLV{f.c}) }

// A type with pii tags is never logged through its own methods, at every
// entry point of the handler; untagged LogValuers keep theirs.
func TestRedactingHandlerIgnoresTaggedOwnMethods(t *testing.T) {
	t.Parallel()
	const cpr = "010190-1234"
	lv, all := ownLV{cpr}, ownAll{cpr}
	tests := []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{"top-level attr", func(l *slog.Logger) { l.Info("m", "lv", lv, "all", all) }},
		{"pointer", func(l *slog.Logger) { l.Info("m", "lv", &lv, "all", &all) }},
		{"group", func(l *slog.Logger) { l.Info("m", slog.Group("g", "lv", lv, "all", all)) }},
		{"slice of any", func(l *slog.Logger) { l.Info("m", "l", []any{lv, all}) }},
		{"map", func(l *slog.Logger) { l.Info("m", "m", map[string]any{"k": lv, "j": all}) }},
		{"named slice", func(l *slog.Logger) { l.Info("m", "s", ownLVs{lv}) }},
		{"with", func(l *slog.Logger) { l.With("lv", lv, "all", all).Info("m") }},
		{"with group", func(l *slog.Logger) { l.WithGroup("g").Info("m", "lv", lv, "all", all) }},
		{"forwarded by an untagged LogValuer", func(l *slog.Logger) { l.Info("m", "f", forwardLV{cpr}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			tt.log(slog.New(pii.NewRedactingHandler(slog.NewJSONHandler(&buf, nil))))
			tt.log(slog.New(pii.NewRedactingHandler(slog.NewTextHandler(&buf, nil))))
			assert.NotContains(t, buf.String(), "010190", "a tagged type was shown through its own method:\n%s", buf.String())
			assert.Contains(t, buf.String(), "[redacted]", "the plan was not applied:\n%s", buf.String())
		})
	}
	var buf bytes.Buffer
	slog.New(pii.NewRedactingHandler(slog.NewJSONHandler(&buf, nil))).Info("m", "u", untaggedLV{"x"})
	assert.Contains(t, buf.String(), `"u":"own-text"`, "an untagged LogValuer lost its own LogValue")

	// Redacted itself, at every format path.
	buf.Reset()
	for _, v := range []any{lv, all, &all, []any{all}, map[string]ownAll{"k": all}} {
		r := pii.Redacted(v)
		fmt.Fprintf(&buf, "%v %+v %#v %s %q\n", r, r, r, r, r)
		b, err := json.Marshal(r)
		require.NoError(t, err)
		buf.Write(b)
	}
	assert.NotContains(t, buf.String(), "010190", "Redacted used a tagged type's own method:\n%s", buf.String())
}

// secretErr is an error type with a tagged field.
type secretErr struct {
	Code int
	CPR  string `pii:"encrypt"`
}

func (e secretErr) Error() string { return "secret " + e.CPR }

// formattingWrapper wraps an error but writes it its own way.
type formattingWrapper struct{ err error }

func (w formattingWrapper) Error() string { return "fw: " + fmt.Sprintf("%x", w.err.Error()) }
func (w formattingWrapper) Unwrap() error { return w.err }

// A wrapped error holding a tagged error keeps the wrapper's text with the
// tagged part redacted, on every path; never the plaintext, never nothing.
func TestRedactedWrappedTaggedError(t *testing.T) {
	t.Parallel()
	sec := secretErr{Code: 7, CPR: "010190-1234"}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"fmt.Errorf %w", fmt.Errorf("ctx: %w", sec), "ctx: {Code:7 CPR:[redacted]}"},
		{"two levels", fmt.Errorf("outer: %w", fmt.Errorf("ctx: %w", sec)), "outer: ctx: {Code:7 CPR:[redacted]}"},
		{"pointer", fmt.Errorf("ctx: %w", &sec), "ctx: {Code:7 CPR:[redacted]}"},
		{"errors.Join", errors.Join(errors.New("a"), sec), "a\n{Code:7 CPR:[redacted]}"},
		{"several %w", fmt.Errorf("x %w y %w", errors.New("plain"), sec), "x plain y {Code:7 CPR:[redacted]}"},
		{"wrapper formats it its own way", formattingWrapper{sec}, "[redacted]: {Code:7 CPR:[redacted]}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, pii.Redacted(tt.err).String(), "Redacted text")
			var buf bytes.Buffer
			slog.New(pii.NewRedactingHandler(slog.NewJSONHandler(&buf, nil))).Info("m", "w", tt.err)
			var rec map[string]any
			require.NoError(t, json.Unmarshal(buf.Bytes(), &rec), buf.String())
			assert.Equal(t, tt.want, rec["w"], "handler output:\n%s", buf.String())
			assert.NotContains(t, buf.String(), "010190")
		})
	}
}
