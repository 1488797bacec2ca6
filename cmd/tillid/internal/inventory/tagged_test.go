package inventory_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/cmd/tillid/internal/inventory"
)

func TestTaggedTypesHolds(t *testing.T) {
	const src = `package p
type Tagged struct{ E string ` + "`pii:\"encrypt\"`" + ` }
type Skipped struct{ E string ` + "`pii:\"-\"`" + ` }
type A struct{ b B }
type B struct{ a *A; c []map[string]*Tagged }
type Self struct{ next *Self }
type Keyed map[Tagged]int
type Gen[T any] struct{ v T }
type Inst struct{ g Gen[Tagged] }
type Alias = Tagged
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	require.NoError(t, err)
	pkg, err := new(types.Config).Check("p", fset, []*ast.File{f}, nil)
	require.NoError(t, err)
	tests := []struct {
		name   string
		want   bool
		reason string
	}{
		{"Tagged", true, ""},
		{"Skipped", false, `pii:"-" is not personal`},
		{"A", true, "through B, unexported fields, a slice, a map value and a pointer"},
		{"B", true, "B is in a cycle with A and still holds Tagged"},
		{"Self", false, "a cycle adds nothing"},
		{"Keyed", true, "map keys"},
		{"Gen", false, "a type parameter holds nothing known"},
		{"Inst", true, "an instantiation with a tagged type"},
		{"Alias", true, ""},
	}
	var tt inventory.TaggedTypes
	for _, order := range [][]int{{0, 1, 2, 3, 4, 5, 6, 7, 8}, {3, 2, 8, 7, 6, 5, 4, 1, 0}} {
		tt = inventory.TaggedTypes{}
		for _, i := range order {
			c := tests[i]
			assert.Equal(t, c.want, tt.Holds(pkg.Scope().Lookup(c.name).Type()), "Holds(%s) (%s), order %v", c.name, c.reason, order)
		}
	}
}
