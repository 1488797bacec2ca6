package tillidzerolog_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tillidzerolog "github.com/tillid/tillid/integrations/zerolog"
)

type Email string

func (e Email) String() string { return "masked" }

type Customer struct {
	Name string
	Mail Email `pii:"redact"`
}

type Order struct {
	ID     int
	Buyer  Customer
	backup Customer
	M      map[string]Customer
	P      *Customer
	L      []any
	Card   string `pii:"tokenize=card"`
	Owner  Owner
	Notes  map[string]string `pii:"redact,mask=first"`
}

// Owner names the data subject: its ID is personal data.
type Owner struct {
	ID string `pii:"subject"`
}

type leakError struct {
	Mail string `pii:"encrypt"`
}

func (e *leakError) Error() string { return "failed for " + e.Mail }

func order() Order {
	return Order{
		ID:     1,
		Buyer:  Customer{"X", "leak1@example.com"},
		backup: Customer{"Y", "leak2@example.com"},
		M:      map[string]Customer{"leak-key@example.com": {"Z", "leak3@example.com"}},
		P:      &Customer{"W", "leak4@example.com"},
		L:      []any{Customer{"V", "leak5@example.com"}},
		Card:   "leak6-4111111111111111",
		Owner:  Owner{ID: "leak8-subject"},
		Notes:  map[string]string{"leak9@example.com": "leak9-note"},
	}
}

// install sets zerolog's global marshal functions for one test; the tests
// of this package do not run in parallel for that reason.
func install(t *testing.T) {
	t.Cleanup(tillidzerolog.Install())
}

// P09: every path a struct can take into a zerolog line is redacted.
func TestNoPathLeaks(t *testing.T) {
	install(t)
	o := order()
	wrapped := fmt.Errorf("saving: %w", &leakError{Mail: "leak7@example.com"})
	paths := []struct {
		name string
		log  func(l zerolog.Logger)
	}{
		{"Interface", func(l zerolog.Logger) { l.Info().Interface("o", o).Msg("m") }},
		{"Interface pointer", func(l zerolog.Logger) { l.Info().Interface("o", &o).Msg("m") }},
		{"Any", func(l zerolog.Logger) { l.Info().Any("o", o).Msg("m") }},
		{"Any map", func(l zerolog.Logger) { l.Info().Any("m", o.M).Msg("m") }},
		{"Any slice", func(l zerolog.Logger) { l.Info().Any("l", []Customer{o.Buyer}).Msg("m") }},
		{"Fields map", func(l zerolog.Logger) { l.Info().Fields(map[string]any{"o": o}).Msg("m") }},
		{"Fields list", func(l zerolog.Logger) { l.Info().Fields([]any{"o", o, "p", &o}).Msg("m") }},
		{"Dict", func(l zerolog.Logger) { l.Info().Dict("d", zerolog.Dict().Interface("o", o)).Msg("m") }},
		{"With", func(l zerolog.Logger) { ctx := l.With().Interface("o", o).Logger(); ctx.Info().Msg("m") }},
		{"Err", func(l zerolog.Logger) { l.Error().Err(&leakError{Mail: "leak7@example.com"}).Msg("m") }},
		{"wrapped Err", func(l zerolog.Logger) { l.Error().Err(wrapped).Msg("m") }},
		{"AnErr", func(l zerolog.Logger) { l.Error().AnErr("cause", wrapped).Msg("m") }},
		{"Errs", func(l zerolog.Logger) { l.Error().Errs("all", []error{wrapped}).Msg("m") }},
		{"Object", func(l zerolog.Logger) { l.Info().Object("o", tillidzerolog.Object(o)).Msg("m") }},
		{"Any subject", func(l zerolog.Logger) { l.Info().Any("owner", o.Owner).Msg("m") }},
		{"Any map by email", func(l zerolog.Logger) { l.Info().Any("m", map[string]int{"leak-key@example.com": 1}).Msg("m") }},
		{"slog through NewSlogHandler", func(l zerolog.Logger) {
			slog.New(tillidzerolog.NewSlogHandler(l)).Info("m", "o", o, "self", selfLogger{Mail: "leak11@example.com"}, "err", wrapped)
		}},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			var buf bytes.Buffer
			p.log(zerolog.New(&buf))
			out := buf.String()
			require.NotEmpty(t, out)
			assert.NotContains(t, out, "leak", "%s logged: %s", p.name, out)
		})
	}
}

// Object needs no globals.
func TestObjectWithoutInstall(t *testing.T) {
	var buf bytes.Buffer
	l := zerolog.New(&buf)
	l.Info().Object("o", tillidzerolog.Object(order())).Object("n", tillidzerolog.Object(3)).Msg("m")
	out := buf.String()
	assert.NotContains(t, out, "leak")
	assert.Contains(t, out, `"Buyer":{"Name":"X","Mail":"[redacted]"}`)
	assert.Contains(t, out, `"n":{"value":3}`)
}

func TestRedactedOutput(t *testing.T) {
	install(t)
	var buf bytes.Buffer
	l := zerolog.New(&buf)
	l.Info().Interface("o", order()).Interface("n", []int{1, 2}).Err(errors.New("plain error")).Msg("m")
	out := buf.String()
	assert.Contains(t, out, `"Buyer":{"Name":"X","Mail":"[redacted]"}`)
	assert.Contains(t, out, `"Card":"[redacted]"`)
	assert.Contains(t, out, `"n":[1,2]`, "values that cannot hold a struct encode as before")
	assert.Contains(t, out, `"error":"plain error"`)
	assert.NotContains(t, out, "backup", "unexported fields are left out")
}

// selfLogger is a tagged type whose own LogValue prints its tagged field.
type selfLogger struct {
	Mail string `pii:"encrypt"`
}

func (s selfLogger) LogValue() slog.Value { return slog.StringValue(s.Mail) }

// zerolog's own slog handler resolves LogValue, even with Install: the
// reason NewSlogHandler exists.
func TestZerologSlogHandlerCallsLogValue(t *testing.T) {
	install(t)
	var own, ours bytes.Buffer
	slog.New(zerolog.NewSlogHandler(zerolog.New(&own))).Info("m", "self", selfLogger{Mail: "leak@example.com"})
	slog.New(tillidzerolog.NewSlogHandler(zerolog.New(&ours))).Info("m", "self", selfLogger{Mail: "leak@example.com"})
	assert.Contains(t, own.String(), "leak@example.com", "zerolog.NewSlogHandler calls the tagged type's LogValue")
	assert.NotContains(t, ours.String(), "leak")
	assert.Contains(t, ours.String(), `"self.Mail":"[redacted]"`, ours.String())
}

// Install returns a function that restores zerolog's previous globals.
func TestInstallRestores(t *testing.T) {
	var buf bytes.Buffer
	l := zerolog.New(&buf)
	restore := tillidzerolog.Install()
	l.Info().Interface("c", Customer{"X", "leak@example.com"}).Msg("m")
	restore()
	assert.NotContains(t, buf.String(), "leak")
	buf.Reset()
	l.Info().Interface("c", Customer{"X", "shown@example.com"}).Msg("m")
	assert.Contains(t, buf.String(), "shown@example.com", "after restore, zerolog's own marshal function again")
}

type strName struct {
	Name string `pii:"encrypt"`
}

func (s strName) String() string { return "name=" + s.Name }

// Event.Stringer cannot be intercepted: Stringer makes a tagged value safe
// for it, and leaves plain Stringers alone.
func TestStringerRedactsTagged(t *testing.T) {
	var buf bytes.Buffer
	l := zerolog.New(&buf)
	l.Info().Stringer("s", tillidzerolog.Stringer(strName{"Ada"})).Stringer("d", tillidzerolog.Stringer(time.Second)).Msg("m")
	assert.NotContains(t, buf.String(), "Ada", buf.String())
	assert.Contains(t, buf.String(), `"s":"{Name:[redacted]}"`, buf.String())
	assert.Contains(t, buf.String(), `"d":"1s"`, buf.String())
}

// After Install, zerolog's ConsoleWriter prints nested objects through
// MarshalInterface as lists without keys; ConsoleWriter keeps their keys
// and shows nothing the JSON line does not.
func TestConsoleWriter(t *testing.T) {
	install(t)
	var plain, wrapped bytes.Buffer
	lp := zerolog.New(zerolog.ConsoleWriter{Out: &plain, NoColor: true})
	lp.Info().Interface("o", order()).Msg("m")
	prepared := 0
	cw := tillidzerolog.ConsoleWriter(zerolog.ConsoleWriter{Out: &wrapped, NoColor: true,
		FormatPrepare: func(map[string]any) error { prepared++; return nil }})
	lw := zerolog.New(cw)
	lw.Info().Interface("o", order()).Int("n", 3).Msg("m")
	assert.NotContains(t, plain.String(), `"Buyer"`, "why ConsoleWriter exists: %s", plain.String())
	assert.Contains(t, wrapped.String(), `"Buyer":{"Mail":"[redacted]","Name":"X"}`, wrapped.String())
	assert.Contains(t, wrapped.String(), "n=3")
	assert.NotContains(t, wrapped.String(), "leak")
	assert.Equal(t, 1, prepared, "the writer's own FormatPrepare still runs")
}
