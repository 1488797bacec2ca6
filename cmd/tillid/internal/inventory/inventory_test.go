package inventory_test

import (
	"bytes"
	"encoding/csv"
	"flag"
	"go/types"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/cmd/tillid/internal/inventory"
	"github.com/tillid/tillid/cmd/tillid/internal/piivet"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// build loads and builds the register of the fixture module in
// testdata/name, outside any workspace.
func build(t *testing.T, name string, patterns ...string) (*inventory.Register, error) {
	t.Helper()
	t.Setenv("GOWORK", "off")
	dir, err := filepath.Abs(filepath.Join("testdata", name))
	require.NoError(t, err)
	pkgs, err := inventory.Load(dir, false, patterns...)
	if err != nil {
		return nil, err
	}
	return inventory.Build(pkgs, dir)
}

func paths(r *inventory.Register) map[string]inventory.Field {
	m := map[string]inventory.Field{}
	for _, f := range r.Fields {
		m[f.Path] = f
	}
	return m
}

func TestBuild(t *testing.T) {
	reg, err := build(t, "shop", "./...")
	require.NoError(t, err)
	assert.Equal(t, []string{"example.com/shop", "example.com/shop/billing"}, reg.Packages)
	got := paths(reg)
	tests := []struct {
		path   string
		check  func(f inventory.Field)
		reason string
	}{
		{"example.com/shop.Customer.Email", func(f inventory.Field) {
			assert.Equal(t, []string{"account"}, f.Purposes, "struct-level default purpose")
			assert.Equal(t, "contract", f.Basis)
			assert.Equal(t, "5y", f.Retain)
			assert.Equal(t, "Created", f.From)
			assert.Equal(t, "ID", f.Subject)
			assert.Equal(t, "crm", f.Key)
			assert.Equal(t, "encrypted", f.Safeguard)
			assert.Equal(t, "deterministic", f.Action)
			assert.Equal(t, "shop.go:16", f.Position)
			assert.Equal(t, []string{"customer"}, f.Subjects)
		}, "defaults fill what the tag leaves out"},
		{"example.com/shop.Customer.Interests", func(f inventory.Field) {
			assert.Equal(t, []string{"marketing", "profiling"}, f.Purposes, "the field's own purposes win")
			assert.Equal(t, "consent", f.Basis)
			assert.Equal(t, "26w", f.Retain)
			assert.Equal(t, "Created", f.From, "from= still comes from the default")
		}, ""},
		{"example.com/shop.Customer.Home.Street", func(f inventory.Field) {
			assert.Equal(t, "Line", f.AAD)
			assert.Empty(t, f.Subject, "a nested struct is not under its container's subject, as in pii")
		}, "a nested struct of the same package"},
		{"example.com/shop.Customer.Shipping[].Street", nil, "slice elements"},
		{"example.com/shop.Customer.ByLabel[…].Street", nil, "map values"},
		{"example.com/shop.Customer.Contact.Phone", nil, "an embedded struct"},
		{"example.com/shop.Customer.audit.IP", func(f inventory.Field) {
			assert.Equal(t, "pseudonymised", f.Safeguard)
		}, "an embedded pointer to an unexported type"},
		{"example.com/shop.Customer.Postal.Zip", func(f inventory.Field) {
			assert.Equal(t, "example.com/dep", f.DeclaredIn)
			assert.Equal(t, "dep/dep.go:7", f.Position)
		}, "a type of another module"},
		{"example.com/shop.Order.Payment.Item.Card", func(f inventory.Field) {
			assert.Equal(t, "card", f.Key, "a token's domain")
			assert.Equal(t, "tokenized", f.Safeguard)
			assert.Equal(t, []string{"billing"}, f.Purposes)
			assert.Equal(t, "10y", f.Retain)
		}, "a generic type instantiated with a tagged struct"},
		{"example.com/shop.Order.Payment.Owner", nil, "the generic type's own field"},
		{"example.com/shop.Pair[K, V].Key", nil, "a generic type instantiated nowhere"},
		{"example.com/shop.Mailing.Zip", nil, "an alias of another module's type"},
		{"example.com/shop.Node.Diagnosis", nil, "a recursive type"},
		{"example.com/shop/billing.Invoice.Holder", nil, "a second package"},
		{"example.com/shop.Export.row.Email", func(f inventory.Field) {
			assert.Equal(t, []string{"export"}, f.Purposes)
			assert.Equal(t, "row", f.Type)
		}, "a type declared inside a function"},
	}
	for _, tt := range tests {
		f, ok := got[tt.path]
		if assert.True(t, ok, "%s missing (%s)", tt.path, tt.reason) && tt.check != nil {
			tt.check(f)
		}
	}
	for _, absent := range []string{"example.com/shop.Address.Street", "example.com/shop.Client.Email", "example.com/shop.Payment.Card", "example.com/shop.Customer.Skip"} {
		assert.NotContains(t, got, absent, "listed elsewhere or not personal")
	}
	assert.Contains(t, reg.Notes, "example.com/shop.Client is an alias of example.com/shop.Customer: its fields are listed under that type")
	assert.Contains(t, reg.Notes, "example.com/shop.Node.Next: recursive type example.com/shop.Node, whose fields are listed once above this path")
	assert.Contains(t, reg.Notes, "example.com/shop.Pair[K, V].Value: type parameter V: what it holds is listed where the type is instantiated")
	assert.Contains(t, reg.Notes, "shop.go:89: an anonymous struct type with pii-tagged fields: they have no Go path to list; give the type a name")
	assert.Contains(t, reg.Notes, "example.com/shop.Customer.Extra: an interface (any): pii walks the value it holds at run time, which the source does not show")
}

// TestGolden renders the fixture in every format twice, from two loads,
// and compares the bytes with each other and with the reviewed golden
// files (go test -update rewrites them).
func TestGolden(t *testing.T) {
	for _, format := range inventory.Formats {
		t.Run(format, func(t *testing.T) {
			var outs [2]bytes.Buffer
			for i := range outs {
				reg, err := build(t, "shop", "./...")
				require.NoError(t, err)
				require.NoError(t, reg.WriteFormat(&outs[i], format))
			}
			require.Equal(t, outs[0].String(), outs[1].String(), "same input, same bytes")
			golden := filepath.Join("testdata", "shop.golden."+format)
			if *update {
				require.NoError(t, os.WriteFile(golden, outs[0].Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), outs[0].String())
		})
	}
}

func TestCSVReadsBack(t *testing.T) {
	reg, err := build(t, "shop", "./...")
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, reg.WriteFormat(&buf, "csv"))
	rows, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, len(reg.Fields)+1)
	assert.Equal(t, "path", rows[0][0])
	assert.Equal(t, reg.Fields[0].Path, rows[1][0])
}

func TestWriteFormatUnknown(t *testing.T) {
	var buf bytes.Buffer
	assert.ErrorContains(t, (&inventory.Register{}).WriteFormat(&buf, "yaml"), `unknown format "yaml"`)
	assert.Zero(t, buf.Len(), "nothing written")
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name, fixture string
		patterns      []string
		want          []string
		reason        string
	}{
		{"does not build", "broken", []string{"./..."}, []string{"do not load or build", "package example.com/broken/bad:", "bad.go:3"}, "the failing package is named, the others are not registered"},
		{"invalid tags", "badtag", []string{"./..."}, []string{"invalid pii tags (2;", `badtag.go:4: example.com/badtag.T.A: unknown action "encrpyt"`, "badtag.go:5: example.com/badtag.T.B: basis=maybe"}, "every invalid tag, with its position"},
		{"no such directory", "broken", []string{"./nothing/..."}, []string{"do not load", "./nothing/"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, err := build(t, tt.fixture, tt.patterns...)
			require.Error(t, err, tt.reason)
			assert.Nil(t, reg, "no partial register")
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	_, err := build(t, "broken", "./...")
	assert.ErrorIs(t, err, inventory.ErrBuild)
	_, err = build(t, "badtag", "./...")
	assert.ErrorIs(t, err, inventory.ErrInvalidTags)
}

// TestBuildWithTypeCheck checks that the shop fixture is a register pii
// accepts (the analyzer's mirror of pii's plan finds nothing), so that its
// golden files show only fields pii would protect, and that a problem the
// check reports is an invalid tag with the field's position and path.
func TestBuildWithTypeCheck(t *testing.T) {
	t.Setenv("GOWORK", "off")
	dir, err := filepath.Abs(filepath.Join("testdata", "shop"))
	require.NoError(t, err)
	pkgs, err := inventory.Load(dir, false, "./...")
	require.NoError(t, err)
	plain, err := inventory.Build(pkgs, dir)
	require.NoError(t, err)
	checked, err := inventory.Build(pkgs, dir, inventory.WithTypeCheck(func(st *types.Struct) []inventory.FieldProblem {
		return piivet.CheckStruct(st, nil)
	}))
	require.NoError(t, err)
	assert.Equal(t, plain, checked)

	_, err = inventory.Build(pkgs, dir, inventory.WithTypeCheck(func(st *types.Struct) []inventory.FieldProblem {
		for i := range st.NumFields() {
			if st.Field(i).Name() == "Holder" {
				return []inventory.FieldProblem{{Field: i, Message: "refused"}}
			}
		}
		return nil
	}))
	require.ErrorIs(t, err, inventory.ErrInvalidTags)
	assert.Contains(t, err.Error(), "billing/billing.go:7: example.com/shop/billing.Invoice.Holder: refused")
}
