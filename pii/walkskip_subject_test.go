package pii_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/walkskip"
	"github.com/tillid/tillid/keys"
)

// SkipClient is a record of one subject holding an association (an ORM's
// has-many) whose rows are records of their own, of another subject.
type SkipClient struct {
	ID     string      `pii:"subject"`
	Email  string      `pii:"encrypt,purpose=billing"`
	Orders []SkipOrder // an association: the plugin skips it
}

type SkipOrder struct {
	Buyer string `pii:"subject"`
	Note  string `pii:"encrypt"`
}

// TestWalkSkipFetchesNoSubjectKeys: the subject keys of the fields a
// context says to skip (internal/walkskip) are neither fetched nor made:
// the gathering before the walk leaves out what the walk leaves out.
func TestWalkSkipFetchesNoSubjectKeys(t *testing.T) {
	t.Parallel()
	e := newSubjectEnv(t)
	ctx := context.Background()
	skip := make([]bool, reflect.TypeFor[SkipClient]().NumField())
	skip[2] = true
	sctx := walkskip.With(ctx, reflect.TypeFor[SkipClient](), skip)

	c := SkipClient{ID: "owner", Email: "o@example.com", Orders: []SkipOrder{{Buyer: "buyer-1", Note: "n1"}, {Buyer: "buyer-2", Note: "n2"}}}
	require.NoError(t, e.p.Protect(sctx, &c))
	protected := c
	assert.Equal(t, "n1", c.Orders[0].Note, "the skipped association is left alone")
	assert.Equal(t, int64(1), e.store.loaded.Load(), "pseudonyms loaded by Protect: the owner's alone")
	_, errs, err := e.sk.Lookup(ctx, []keys.SubjectKeyID{{Subject: "buyer-1", Kind: keys.KindAEAD}, {Subject: "buyer-2", Kind: keys.KindAEAD}})
	require.NoError(t, err)
	for i, err := range errs {
		assert.ErrorIs(t, err, keys.ErrKeyNotFound, "buyer %d: Protect made no key for a skipped field", i+1)
	}

	loads := e.store.loads.Load()
	c.Orders = []SkipOrder{{Buyer: "buyer-3", Note: "tl1s:loaded-by-its-own-statement"}}
	require.NoError(t, e.p.Reveal(sctx, &c), "Reveal with the association skipped")
	assert.Equal(t, "o@example.com", c.Email)
	assert.Equal(t, loads, e.store.loads.Load(), "Reveal: the owner's key is cached and the skipped buyer's is not fetched")

	r := protected
	r.Orders = []SkipOrder{{Buyer: "buyer-4", Note: "tl1s:loaded-by-its-own-statement"}}
	_, err = e.p.Rewrap(sctx, &r)
	require.NoError(t, err)
	assert.Equal(t, loads, e.store.loads.Load(), "Rewrap fetches no key of the skipped buyer either")
}
