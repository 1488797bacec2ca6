package inventory

import (
	"errors"
	"fmt"
	"go/token"
	"slices"
	"sort"
	"strings"

	"golang.org/x/tools/go/packages"
)

// ErrBuild is wrapped by Load's error when a package does not build.
var ErrBuild = errors.New("inventory: packages do not load or build")

// maxBuildErrors bounds the build errors Load quotes.
const maxBuildErrors = 20

// LoadMode is what Load asks of go/packages: syntax and types of the
// packages named, export data for their dependencies (no dependency is
// parsed or type-checked from source).
const LoadMode = packages.NeedName | packages.NeedFiles | packages.NeedImports | packages.NeedTypes |
	packages.NeedTypesInfo | packages.NeedSyntax | packages.NeedTypesSizes | packages.NeedModule

// Load loads the packages matching patterns (go list patterns, relative to
// dir; "" is the current directory) with LoadMode, without running them.
// With tests, test packages are loaded too. When any package, or one it
// depends on, does not build, Load returns no packages and an error
// wrapping ErrBuild that names each failing package and quotes its first
// errors; when the patterns match no package, an error saying so.
func Load(dir string, tests bool, patterns ...string) ([]*packages.Package, error) {
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	cfg := &packages.Config{Mode: LoadMode, Dir: dir, Tests: tests, Fset: token.NewFileSet()}
	pkgs, err := packages.Load(cfg, patterns...)
	if err != nil {
		return nil, fmt.Errorf("inventory: loading %s: %v", strings.Join(patterns, " "), err)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("inventory: %s matched no packages", strings.Join(patterns, " "))
	}
	failed := map[string][]string{}
	packages.Visit(pkgs, nil, func(p *packages.Package) {
		for _, e := range p.Errors {
			failed[p.PkgPath] = append(failed[p.PkgPath], e.Error())
		}
	})
	if len(failed) == 0 {
		return pkgs, nil
	}
	// importers names, for a failing dependency, the packages asked for
	// that import it.
	importers := map[string][]string{}
	for _, root := range pkgs {
		packages.Visit([]*packages.Package{root}, nil, func(p *packages.Package) {
			if _, bad := failed[p.PkgPath]; bad && p.PkgPath != root.PkgPath && !slices.Contains(importers[p.PkgPath], root.PkgPath) {
				importers[p.PkgPath] = append(importers[p.PkgPath], root.PkgPath)
			}
		})
	}
	paths := make([]string, 0, len(failed))
	for p := range failed {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var b strings.Builder
	quoted := 0
	for _, p := range paths {
		if by := importers[p]; len(by) > 0 {
			sort.Strings(by)
			if len(by) > 3 {
				by = append(by[:3], "...")
			}
			fmt.Fprintf(&b, "\n  package %s (imported by %s):", p, strings.Join(by, ", "))
		} else {
			fmt.Fprintf(&b, "\n  package %s:", p)
		}
		for _, e := range failed[p] {
			if quoted == maxBuildErrors {
				b.WriteString("\n    ...")
				break
			}
			fmt.Fprintf(&b, "\n    %s", e)
			quoted++
		}
	}
	return nil, fmt.Errorf("%w (%d of them, so nothing else is reported):%s", ErrBuild, len(paths), b.String())
}
