package pii_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

// BulkCustomer is a record whose fields cannot alias: slices of it take the
// fast path (no visited-value map) and can be protected in parallel.
type BulkCustomer struct {
	ID      string `pii:"-"`
	Name    string `pii:"encrypt,aad=ID"`
	Email   string `pii:"deterministic"`
	Phone   string `pii:"encrypt"`
	Country string
}

func customers(n int) []BulkCustomer {
	out := make([]BulkCustomer, n)
	for i := range out {
		out[i] = BulkCustomer{ID: fmt.Sprint("c-", i), Name: fmt.Sprint("Name ", i), Email: fmt.Sprintf("c%d@example.com", i), Phone: fmt.Sprint("+45 ", 10000000+i), Country: "DK"}
	}
	return out
}

func TestParallelMatchesSerial(t *testing.T) {
	t.Parallel()
	store := keys.NewMemory()
	serial, err := pii.New(store)
	require.NoError(t, err)
	par, err := pii.New(store, pii.WithParallelism(2))
	require.NoError(t, err)

	want := customers(1000)
	got := customers(1000)
	require.NoError(t, par.Protect(ctx, &got))
	for i := range got {
		assert.NotEqual(t, want[i].Name, got[i].Name)
		assert.Equal(t, "DK", got[i].Country)
	}
	// What one Protector protects in parallel the other reveals, and back.
	require.NoError(t, serial.Reveal(ctx, &got))
	assert.Equal(t, want, got)
	require.NoError(t, serial.Protect(ctx, &got))
	n, err := par.Rewrap(ctx, &got)
	require.NoError(t, err)
	assert.Zero(t, n)
	require.NoError(t, par.Reveal(ctx, &got))
	assert.Equal(t, want, got)
}

func TestParallelAllOrNothing(t *testing.T) {
	t.Parallel()
	p, err := pii.New(keys.NewMemory(), pii.WithParallelism(4))
	require.NoError(t, err)
	cs := customers(1000)
	cs[900].Phone = lookAlike('e', 0, 28) // fails to verify in the last part
	before := append([]BulkCustomer(nil), cs...)
	err = p.Protect(ctx, &cs)
	require.ErrorIs(t, err, pii.ErrDecryption)
	var fe *pii.FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "[]pii_test.BulkCustomer[900].Phone", fe.Path)
	assert.Equal(t, before, cs, "no element changed")
}
