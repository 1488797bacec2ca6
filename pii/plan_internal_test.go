package pii

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/envelope"
	"github.com/tillid/tillid/keys"
)

type planInner struct {
	Street string `pii:"encrypt,key=addr"`
}

type planRecord struct {
	ID     string            `pii:"-"`
	Email  string            `pii:"deterministic,normalize=email,aad=ID"`
	Idx    []byte            `pii:"index=Email,bits=40,part=domain"`
	Alias  string            `pii:"hash"`
	Notes  string            `pii:"redact"`
	Tags   map[string]string `pii:"encrypt,plainkeys"`
	Inner  *planInner
	Plain  string
	Opaque int
}

// TestPlan checks the plan built for a type: which fields it keeps, the
// row each points at, the walk nodes, the associated-data and PRF
// prefixes, and what Redacted hides.
func TestPlan(t *testing.T) {
	t.Parallel()
	p := planFor(reflect.TypeFor[planRecord]())
	require.NoError(t, p.err)
	assert.True(t, p.work)
	assert.True(t, p.tagged)
	assert.True(t, p.indirect, "a map and a pointer can be reached")
	require.NotNil(t, p.root)
	assert.Equal(t, nodeStruct, p.root.kind)
	assert.True(t, p.root.work)

	type want struct {
		name string
		act  *action
		kind nodeKind
	}
	var got []want
	byName := map[string]*fieldPlan{}
	for _, f := range p.fields {
		got = append(got, want{f.name, f.act, f.node.kind})
		byName[f.name] = f
	}
	assert.Equal(t, []want{
		{"Email", deterministicAction, nodeString},
		{"Idx", indexAction, nodeField},
		{"Alias", hashAction, nodeString},
		{"Notes", redactAction, nodeField},
		{"Tags", encryptAction, nodeMap},
		{"Inner", nil, nodePtr},
	}, got, "skip, untagged scalars and plain strings are left out")

	email := byName["Email"]
	assert.Equal(t, fieldADPrefix("planRecord", "Email"), email.adPrefix)
	assert.Equal(t, 0, email.recordIndex)
	assert.Equal(t, keys.KeysetID{Name: "default", Kind: keys.KindDeterministicAEAD}, email.keysetID())

	idx := byName["Idx"]
	require.Len(t, idx.sources, 1)
	assert.Same(t, email, idx.sources[0].plan, "an encrypted source is opened under its own field")
	assert.Equal(t, prfPrefix(blindIndexLabel, "planRecord", "Idx", "none/v1", "domain"), idx.prfPrefix)
	assert.Equal(t, 5, idx.tag.indexBytes())
	assert.False(t, idx.storesText())

	alias := byName["Alias"]
	assert.Equal(t, ActionPseudonym, alias.act.id, "hash is the pseudonym row under its old name")
	assert.Equal(t, envelope.ModePseudonym, alias.act.mode)
	assert.Equal(t, prfPrefix(pseudonymLabel, "planRecord", "Alias", "none/v1", ""), alias.prfPrefix)

	assert.Equal(t, nodeString, byName["Tags"].node.elem.kind)
	inner := byName["Inner"].node.elem
	require.Equal(t, nodeStruct, inner.kind)
	require.Len(t, inner.plan.fields, 1)
	assert.Equal(t, keys.KeysetID{Name: "addr", Kind: keys.KindAEAD}, inner.plan.fields[0].keysetID())
	assert.False(t, inner.plan.indirect, "planInner holds only a string")

	assert.Equal(t, []bool{false, true, true, true, true, true, false, false, false}, p.hidden)

	// One cache: a root that is not a struct is planned once too.
	sp := planFor(reflect.TypeFor[[]planRecord]())
	require.NotNil(t, sp.root)
	assert.Equal(t, nodeSlice, sp.root.kind)
	assert.Same(t, p, sp.root.elem.plan)
	assert.Same(t, sp, planFor(reflect.TypeFor[[]planRecord]()))
}

// TestActionTable checks the table's invariants: unique names, one row
// per exported Action, and every row able to say what it stores.
func TestActionTable(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, a := range actionTable {
		assert.False(t, seen[a.name], "row %q appears twice", a.name)
		seen[a.name] = true
		if a.check == nil {
			continue // skip
		}
		if a.field == nil {
			assert.NotNil(t, a.protect, a.name)
			assert.NotNil(t, a.reveal, a.name)
			assert.NotNil(t, a.rewrap, a.name)
			assert.NotNil(t, a.recognise, a.name)
			assert.NotNil(t, a.verify, a.name, "what Protect keeps must be verified")
		}
		if a.id != ActionUnknown {
			assert.NotNil(t, a.size, a.name)
			assert.NotNil(t, a.keyIDOf, a.name)
		}
	}
	for a := ActionEncrypt; a <= ActionTokenize; a++ {
		require.NotNil(t, actionRow(a), "Action %d has no row", a)
		assert.Equal(t, a, actionRow(a).id)
	}
	assert.Nil(t, actionRow(ActionUnknown))
	assert.Equal(t, "unknown", ActionUnknown.String())
}

// TestPRFInputBytes pins the PRF input of a blind index and of a
// pseudonym, part of the wire contract like pii/testdata's vectors: the
// bytes are those the code before the action table produced.
func TestPRFInputBytes(t *testing.T) {
	t.Parallel()
	type Person struct {
		Email    string `pii:"encrypt"`
		EmailIdx string `pii:"index=Email,normalize=email"`
		Alias    string `pii:"hash,normalize=trim"`
	}
	p := planFor(reflect.TypeFor[Person]())
	require.NoError(t, p.err)
	var idx, alias *fieldPlan
	for _, f := range p.fields {
		switch f.name {
		case "EmailIdx":
			idx = f
		case "Alias":
			alias = f
		}
	}
	require.NotNil(t, idx)
	require.NotNil(t, alias)
	assert.Equal(t,
		"\x00\x00\x00\x15tillid/v1/blind-index\x00\x00\x00\x06Person\x00\x00\x00\x08EmailIdx\x00\x00\x00\x08email/v1\x00\x00\x00\x00\x00\x00\x00\x18ada.lovelace@example.com",
		string(appendPRFInput(nil, idx, []string{" Ada.Lovelace@Example.COM "})))
	assert.Equal(t,
		"\x00\x00\x00\x0etillid/v1/hash\x00\x00\x00\x06Person\x00\x00\x00\x05Alias\x00\x00\x00\x07trim/v1\x00\x00\x00\x00\x00\x00\x00\x03ada",
		string(appendPRFInput(nil, alias, []string{" ada "})))
	assert.Equal(t,
		"\x00\x00\x00\x0ftillid/v1/field\x00\x00\x00\x06Person\x00\x00\x00\x05Email\x00\x00\x00\x00\x00\x00\x00\x00",
		string(p.fields[0].adFixed), "associated data of a field without aad=")
}
