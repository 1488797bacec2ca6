package pii_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

// viewLeakyText marshals by failing with an error that quotes its value.
type viewLeakyText struct{ s string }

func (l viewLeakyText) MarshalText() ([]byte, error)  { return nil, errors.New("cannot marshal " + l.s) }
func (l *viewLeakyText) UnmarshalText(b []byte) error { l.s = string(b); return nil }

// viewLeakyJSON is viewLeakyText for encoding/json.
type viewLeakyJSON struct{ S string }

func (l viewLeakyJSON) MarshalJSON() ([]byte, error) { return nil, errors.New("cannot marshal " + l.S) }

type viewErrRecord struct {
	V pii.Value[viewLeakyText] `json:"v" pii:"encrypt"`
	R viewLeakyJSON            `json:"r" pii:"redact"`
}

// A view never passes on the error of a tagged value's own marshaller,
// which may quote the value: it names the field's type instead.
func TestViewErrorsCarryNoValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rec  viewErrRecord
	}{
		{"pii.Value whose MarshalText fails", viewErrRecord{V: pii.NewValue(viewLeakyText{"ada@example.com"})}},
		{"redact field whose MarshalJSON fails", viewErrRecord{R: viewLeakyJSON{"ada@example.com"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := json.Marshal(pii.Plain(tt.rec))
			require.Error(t, err)
			assert.ErrorIs(t, err, pii.ErrInvalidValue)
			assert.NotContains(t, err.Error(), "ada@example.com")
		})
	}
}
