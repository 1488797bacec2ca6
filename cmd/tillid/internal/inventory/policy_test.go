package inventory_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/cmd/tillid/internal/inventory"
)

func TestReadPolicyErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"not json", "rules: all", "policy:"},
		{"unknown key", `{"rules": [{"name": "a", "require": ["purpose"], "severity": "high"}]}`, `unknown field "severity"`},
		{"no rules", `{"rules": []}`, "no rules"},
		{"no name", `{"rules": [{"require": ["purpose"]}]}`, "rule 1 has no name"},
		{"duplicate name", `{"rules": [{"name": "a", "require": ["purpose"]}, {"name": "a", "require": ["basis"]}]}`, `two rules are named "a"`},
		{"requires nothing", `{"rules": [{"name": "a"}]}`, "requires nothing"},
		{"unknown attribute", `{"rules": [{"name": "a", "require_any": ["colour"]}]}`, `unknown attribute "colour"; use aad, basis, class, from, purpose, retain, subject, subjects`},
		{"unknown class", `{"rules": [{"name": "a", "classes": ["medical"], "require": ["retain"]}]}`, `unknown class "medical"`},
		{"two values", `{"rules": [{"name": "a", "require": ["purpose"]}]} {}`, "more than one JSON value"},
	}
	for _, tt := range tests {
		_, err := inventory.ReadPolicy(strings.NewReader(tt.in))
		assert.ErrorContains(t, err, tt.want, tt.name)
	}
}

func TestPolicyCheck(t *testing.T) {
	p, err := inventory.ReadPolicy(strings.NewReader(`{"rules": [
		{"name": "purpose", "require": ["purpose", "basis"]},
		{"name": "art9", "classes": ["health", "special"], "require_any": ["subject", "aad", "retain"]}
	]}`))
	require.NoError(t, err)
	reg := &inventory.Register{Fields: []inventory.Field{
		{Path: "m.A.Full", Position: "a.go:3", Class: "health", Purposes: []string{"care"}, Basis: "vital_interests", Subject: "ID"},
		{Path: "m.A.Blood", Position: "a.go:4", Class: "health", Purposes: []string{"care"}},
		{Path: "m.A.Email", Position: "a.go:2", Class: "contact", Basis: "contract"},
		{Path: "m.A.Late", Position: "a.go:10", Class: "contact"},
		{Path: "m.A.Faith", Position: "a.go:5", Class: "special", Purposes: []string{"care"}, Basis: "consent", Retain: "1y"},
	}}
	var got []string
	for _, v := range p.Check(reg) {
		got = append(got, v.String())
	}
	assert.Equal(t, []string{
		"a.go:2: m.A.Email: rule purpose: needs purpose",
		"a.go:4: m.A.Blood: rule art9: needs one of subject, aad, retain",
		"a.go:4: m.A.Blood: rule purpose: needs basis",
		"a.go:10: m.A.Late: rule purpose: needs purpose and basis",
	}, got, "ordered by file, line number, then rule")
}

// TestPolicyOnFixture checks the shop fixture against testdata/policy.json
// (every field needs a basis; health and special data need a subject,
// aad= or retain=): the
// register from source and the policy agree on what is missing.
func TestPolicyOnFixture(t *testing.T) {
	reg, err := build(t, "shop", "./...")
	require.NoError(t, err)
	f, err := os.Open(filepath.Join("testdata", "policy.json"))
	require.NoError(t, err)
	defer f.Close()
	p, err := inventory.ReadPolicy(f)
	require.NoError(t, err)
	var got []string
	for _, v := range p.Check(reg) {
		got = append(got, v.String())
	}
	assert.Equal(t, []string{
		"dep/dep.go:6: example.com/shop.Mailing.Street: rule basis: needs basis",
		"dep/dep.go:7: example.com/shop.Mailing.Zip: rule basis: needs basis",
		"shop.go:61: example.com/shop.Node.Diagnosis: rule art9: needs one of subject, aad, retain",
		"shop.go:61: example.com/shop.Node.Diagnosis: rule basis: needs basis",
		"shop.go:76: example.com/shop.Pair[K, V].Key: rule basis: needs basis",
	}, got)
}
