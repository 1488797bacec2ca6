package piivet_test

import (
	"context"
	"go/ast"
	"go/types"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/checker"
	"golang.org/x/tools/go/packages"

	"github.com/tillid/tillid/cmd/tillid/internal/inventory"
	"github.com/tillid/tillid/cmd/tillid/internal/piivet"
	"github.com/tillid/tillid/pii"
)

const parityFile = "parity_cases_test.go"

// TestParityWithPii runs the structs of parity_cases_test.go through
// pii.Validate at run time and through the analyzer from source (this
// package's tests, loaded with go/packages), and checks that both refuse
// exactly the cases labelled invalid. A rule added to pii's plan and not
// to the analyzer, or the reverse, fails here once a case covers it.
func TestParityWithPii(t *testing.T) {
	pkg, diags := analyseThisPackage(t, parityFile)
	specs := typeSpecs(t, pkg)

	// vetSays returns the diagnostics in the declarations a case reaches.
	vetSays := func(name string) []string {
		var out []string
		for _, spec := range reachedSpecs(pkg, specs, name) {
			for _, d := range diags {
				if d.Pos >= spec.Pos() && d.Pos < spec.End() {
					out = append(out, spec.Name.Name+": "+d.Message)
				}
			}
		}
		return out
	}

	var invalid int
	for _, tc := range parityCases {
		t.Run(tc.name, func(t *testing.T) {
			require.Contains(t, specs, tc.name, "case names no type of %s", parityFile)
			piiErr := pii.Validate(tc.typ)
			vet := vetSays(tc.name)
			assert.Equal(t, tc.invalid, piiErr != nil, "pii.Validate(%s) = %v, want invalid=%v (%s)", tc.name, piiErr, tc.invalid, tc.reason)
			assert.Equal(t, tc.invalid, len(vet) > 0, "analyzer on %s says %q, want invalid=%v (%s)", tc.name, vet, tc.invalid, tc.reason)
			assert.Equal(t, piiErr != nil, len(vet) > 0, "pii and the analyzer disagree on %s: pii %v, analyzer %q", tc.name, piiErr, vet)
		})
		if tc.invalid {
			invalid++
		}
	}
	assert.GreaterOrEqual(t, len(parityCases), 140, "cases")
	assert.Greater(t, invalid, len(parityCases)/3, "invalid cases")
	assert.Less(t, invalid, len(parityCases)*2/3, "invalid cases")
}

var ctx = context.Background()

// analyseThisPackage loads this package's tests with go/packages, runs the
// analyzer on them and returns the test package and the diagnostics in
// the file named file.
func analyseThisPackage(t *testing.T, file string) (*packages.Package, []analysis.Diagnostic) {
	t.Helper()
	pkgs, err := inventory.Load(".", true, ".")
	require.NoError(t, err)
	graph, err := checker.Analyze([]*analysis.Analyzer{piivet.Analyzer}, pkgs, nil)
	require.NoError(t, err)
	var pkg *packages.Package
	var diags []analysis.Diagnostic
	for act := range graph.All() {
		if !act.IsRoot || act.Package.Types.Name() != "piivet_test" {
			continue
		}
		require.NoError(t, act.Err)
		pkg = act.Package
		for _, d := range act.Diagnostics {
			if filepath.Base(pkg.Fset.Position(d.Pos).Filename) == file {
				diags = append(diags, d)
			}
		}
	}
	require.NotNil(t, pkg, "the test package was not analysed")
	return pkg, diags
}

// typeSpecs returns the type declarations of the parity file by name.
func typeSpecs(t *testing.T, pkg *packages.Package) map[string]*ast.TypeSpec {
	t.Helper()
	out := map[string]*ast.TypeSpec{}
	for _, f := range pkg.Syntax {
		if filepath.Base(pkg.Fset.Position(f.Pos()).Filename) != parityFile {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if s, ok := n.(*ast.TypeSpec); ok {
				out[s.Name.Name] = s
			}
			return true
		})
	}
	require.NotEmpty(t, out)
	return out
}

// reachedSpecs returns the declaration of the case name and of every
// type of the parity file that a value of it reaches through the fields
// pii walks (untagged, exported or embedded; through pointers, slices,
// arrays and map values), as pii's plan carries the errors of nested
// structs to the types holding them.
func reachedSpecs(pkg *packages.Package, specs map[string]*ast.TypeSpec, name string) []*ast.TypeSpec {
	out := []*ast.TypeSpec{specs[name]}
	seen := map[string]bool{name: true}
	var visit func(t types.Type, depth int)
	visit = func(t types.Type, depth int) {
		if depth > 16 {
			return
		}
		t = types.Unalias(t)
		for {
			var e types.Type
			switch u := t.Underlying().(type) {
			case *types.Pointer:
				e = u.Elem()
			case *types.Slice:
				e = u.Elem()
			case *types.Array:
				e = u.Elem()
			case *types.Map:
				e = u.Elem()
			}
			if e == nil {
				break
			}
			t = types.Unalias(e)
		}
		if n, ok := t.(*types.Named); ok && n.Obj().Pkg() == pkg.Types {
			if s := specs[n.Obj().Name()]; s != nil && !seen[n.Obj().Name()] {
				seen[n.Obj().Name()] = true
				out = append(out, s)
			}
		}
		st, ok := t.Underlying().(*types.Struct)
		if !ok {
			return
		}
		for i := range st.NumFields() {
			f := st.Field(i)
			if _, tagged := reflect.StructTag(st.Tag(i)).Lookup("pii"); !tagged && (f.Exported() || f.Embedded()) {
				visit(f.Type(), depth+1)
			}
		}
	}
	visit(pkg.Types.Scope().Lookup(name).Type(), 0)
	return out
}
