package pii_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

// openedRecord has a value bound to its record and one that is not.
type openedRecord struct {
	ID    string
	Name  string `pii:"encrypt,aad=ID"`
	Email string `pii:"deterministic"`
}

// TestRepeatedStoredValues reveals a slice whose records repeat stored
// values (the same deterministic email; one record's ciphertext copied into
// the next): a value repeated under the same associated data reveals, one
// moved to another record fails even right after it opened for its own.
func TestRepeatedStoredValues(t *testing.T) {
	ctx := context.Background()
	p, _ := newProtector(t)
	recs := []openedRecord{{ID: "a", Name: "Ada", Email: "same@example.com"}, {ID: "b", Name: "Bob", Email: "same@example.com"}}
	require.NoError(t, p.Protect(ctx, &recs))
	require.Equal(t, recs[0].Email, recs[1].Email, "deterministic")

	tests := []struct {
		name      string
		edit      func(rs []openedRecord)
		wantErr   error
		wantNames []string
		reason    string
	}{
		{"as stored", func([]openedRecord) {}, nil, []string{"Ada", "Bob"}, "the same email twice"},
		{"a name moved to the next record", func(rs []openedRecord) { rs[1].Name = rs[0].Name }, pii.ErrDecryption, nil, "bound to record a, opened for a just before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := append([]openedRecord(nil), recs...)
			tt.edit(rs)
			err := p.Reveal(ctx, &rs)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr, tt.reason)
				return
			}
			require.NoError(t, err, tt.reason)
			assert.Equal(t, tt.wantNames, []string{rs[0].Name, rs[1].Name}, tt.reason)
			assert.Equal(t, "same@example.com", rs[1].Email, tt.reason)
		})
	}

	dup := []openedRecord{recs[0], recs[0], recs[1]}
	require.NoError(t, p.Reveal(ctx, &dup), "a record repeated")
	assert.Equal(t, []string{"Ada", "Ada", "Bob"}, []string{dup[0].Name, dup[1].Name, dup[2].Name})
}
