package bench_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	mask "github.com/showa-93/go-mask"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

// Record is the 5-field record of the speed goal, tagged for both
// libraries: the same masks, so that only the frameworks differ.
type Record struct {
	ID    string `json:"id"`
	Name  string `json:"name" pii:"encrypt,class=identity,mask=name" mask:"name"`
	Email string `json:"email" pii:"encrypt,class=contact,mask=email" mask:"email"`
	Phone string `json:"phone" pii:"encrypt,class=contact,mask=phone" mask:"phone"`
	Card  string `json:"card" pii:"tokenize=card,class=financial,mask=card" mask:"card"`
}

func record() Record {
	return Record{ID: "c-1029", Name: "Ada King Lovelace", Email: "ada@example.com", Phone: "+45 12 34 56 78", Card: "4929 1300 0000 3749"}
}

// goMasker is go-mask with tillid's masks registered as its mask
// functions.
func goMasker(tb testing.TB) *mask.Masker {
	m := mask.NewMasker()
	for _, kind := range []string{"name", "email", "phone", "card"} {
		m.RegisterMaskStringFunc(kind, func(_, v string) (string, error) { return pii.Mask(kind, v) })
	}
	m.RegisterMaskStringFunc("redacted", func(_, _ string) (string, error) { return "[redacted]", nil })
	return m
}

func goMaskJSON(tb testing.TB, m *mask.Masker, r Record) []byte {
	out, err := m.Mask(r)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := json.Marshal(out)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestSameOutput(t *testing.T) {
	want := goMaskJSON(t, goMasker(t), record())
	got, err := json.Marshal(pii.Masked(record()))
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
	assert.Contains(t, string(got), `"a•••@example.com"`)
}

// BenchmarkMaskedViewJSON: a masked view of the record, encoded to JSON.
func BenchmarkMaskedViewJSON(b *testing.B) {
	r := record()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pii.Masked(r).MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGoMaskJSON: go-mask's masked copy of the record, encoded to
// JSON by encoding/json: the same output bytes.
func BenchmarkGoMaskJSON(b *testing.B) {
	m, r := goMasker(b), record()
	b.ReportAllocs()
	for b.Loop() {
		goMaskJSON(b, m, r)
	}
}

// BenchmarkGoMaskCopy: go-mask's masked copy alone, not encoded (a lower
// bound for go-mask, whose copy still has to be written somewhere).
func BenchmarkGoMaskCopy(b *testing.B) {
	m, r := goMasker(b), record()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Mask(r); err != nil {
			b.Fatal(err)
		}
	}
}

// LogRecord is the record as issue 8 logs it: tagged fields redacted.
type LogRecord struct {
	ID    string
	Name  string `pii:"encrypt,class=identity" mask:"redacted"`
	Email string `pii:"encrypt,class=contact" mask:"redacted"`
	Phone string `pii:"encrypt,class=contact" mask:"redacted"`
	Card  string `pii:"tokenize=card,class=financial" mask:"redacted"`
}

func logRecord() LogRecord {
	r := record()
	return LogRecord{r.ID, r.Name, r.Email, r.Phone, r.Card}
}

func jsonLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
}

func TestSameLogLine(t *testing.T) {
	var want, got bytes.Buffer
	m := goMasker(t)
	masked, err := m.Mask(logRecord())
	require.NoError(t, err)
	jsonLogger(&want).Info("saved", "r", masked)
	jsonLogger(&got).Info("saved", "r", pii.Redacted(logRecord()))
	assert.Equal(t, want.String(), got.String())
	assert.NotContains(t, got.String(), "example.com")
}

// BenchmarkRedactedSlogJSON: pii.Redacted of the record through slog's
// JSON handler.
func BenchmarkRedactedSlogJSON(b *testing.B) {
	log, r := jsonLogger(io.Discard), logRecord()
	b.ReportAllocs()
	for b.Loop() {
		log.Info("saved", "r", pii.Redacted(r))
	}
}

// BenchmarkGoMaskSlogJSON: go-mask's masked copy through slog's JSON
// handler (which encodes it with encoding/json): the same log line.
func BenchmarkGoMaskSlogJSON(b *testing.B) {
	log, m, r := jsonLogger(io.Discard), goMasker(b), logRecord()
	b.ReportAllocs()
	for b.Loop() {
		masked, err := m.Mask(r)
		if err != nil {
			b.Fatal(err)
		}
		log.Info("saved", "r", masked)
	}
}

// BenchmarkMaskedViewEncodingJSON: the masked view through json.Marshal,
// as an API handler encodes it (encoding/json checks and compacts what a
// MarshalJSON returns).
func BenchmarkMaskedViewEncodingJSON(b *testing.B) {
	r := record()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(pii.Masked(r)); err != nil {
			b.Fatal(err)
		}
	}
}
