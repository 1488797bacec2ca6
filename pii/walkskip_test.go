package pii_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/walkskip"
)

// SkipOwner holds an association by value, as an ORM model does.
type SkipOwner struct {
	ID    string `pii:"-"`
	Name  string `pii:"encrypt,aad=ID"`
	Owned SkipOwned
}

type SkipOwned struct {
	ID     string `pii:"-"`
	Secret string `pii:"encrypt,aad=ID"`
}

// TestWalkSkip: the fields a context names are left alone by Protect and
// Reveal (a zero association neither fails nor is protected; a loaded one
// is not touched), and everything else is walked as before.
func TestWalkSkip(t *testing.T) {
	p, _ := newProtector(t)
	skip := make([]bool, reflect.TypeFor[SkipOwner]().NumField())
	skip[2] = true
	sctx := walkskip.With(ctx, reflect.TypeFor[SkipOwner](), skip)

	zero := SkipOwner{ID: "o1", Name: "Ada"}
	require.Error(t, p.Protect(ctx, &zero), "without the skip, the zero association has no record ID")
	require.NoError(t, p.Protect(sctx, &zero), "Protect with the association skipped")
	assert.True(t, strings.HasPrefix(zero.Name, "tl1e:"), "Name = %q, want a ciphertext", zero.Name)
	assert.Equal(t, SkipOwned{}, zero.Owned, "the skipped association")

	zero.Owned = SkipOwned{ID: "x", Secret: "plain, loaded earlier"}
	require.NoError(t, p.Reveal(sctx, &zero))
	assert.Equal(t, "Ada", zero.Name)
	assert.Equal(t, "plain, loaded earlier", zero.Owned.Secret, "Reveal left the association alone")

	rows := []SkipOwner{{ID: "a", Name: "A"}, {ID: "b", Name: "B"}}
	require.NoError(t, p.Protect(sctx, &rows), "a slice of owners")
	require.NoError(t, p.Reveal(sctx, &rows))
	assert.Equal(t, "B", rows[1].Name)

	other := SkipOwned{ID: "y", Secret: "s"}
	require.NoError(t, p.Protect(sctx, &other), "a type the context does not name")
	assert.NotEqual(t, "s", other.Secret, "the skip applies to SkipOwner's fields only")
	assert.Equal(t, sctx, walkskip.With(sctx, reflect.TypeFor[SkipOwner](), skip), "the same skip again keeps the context")
	none := walkskip.With(sctx, reflect.TypeFor[SkipOwner](), make([]bool, 3))
	again := SkipOwner{ID: "o2", Name: "Ada"}
	require.Error(t, p.Protect(none, &again), "a new skip for the type replaces the old one")
	assert.Equal(t, ctx, walkskip.With(ctx, reflect.TypeFor[SkipOwner](), make([]bool, 3)), "an empty skip")
}
