package main

import (
	"context"
	"flag"
	"fmt"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/checker"
	"golang.org/x/tools/go/analysis/unitchecker"

	"github.com/tillid/tillid/cmd/tillid/internal/inventory"
	"github.com/tillid/tillid/cmd/tillid/internal/piivet"
)

// exitFindings is the exit code of "tillid vet" when it reports, and of
// "tillid inventory -check" when the policy is broken.
const exitFindings = 6

const vetUsage = `usage: tillid vet [-test] [packages]

Reports, as file:line:col: message,
  - exported struct fields without a pii tag whose name or type says
    personal data (pii:"-" marks a field as checked and not personal);
  - invalid pii tags, and tags that cannot work on their field;
  - structs with pii-tagged fields passed to fmt, log or log/slog without
    pii.Redacted.
Packages are go list patterns (default ./...); nothing is run.

It also runs under go vet: go vet -vettool=$(command -v tillid) ./...

Exit codes: 0 nothing reported, 1 the packages do not build, 2 usage,
6 something was reported.

Flags:
`

// runVet is "tillid vet".
func runVet(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tillid vet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tests := fs.Bool("test", false, "also check the packages' test files")
	fs.Usage = func() { fmt.Fprint(stderr, vetUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	pkgs, err := inventory.Load("", *tests, fs.Args()...)
	if err != nil {
		fmt.Fprintln(stderr, "tillid vet:", strings.TrimPrefix(err.Error(), "inventory: "))
		return exitFailure
	}
	graph, err := checker.Analyze([]*analysis.Analyzer{piivet.Analyzer}, pkgs, nil)
	if err != nil {
		fmt.Fprintln(stderr, "tillid vet:", err)
		return exitFailure
	}
	type finding struct {
		pos token.Position
		msg string
	}
	var found []finding
	seen := map[string]bool{}
	for act := range graph.All() {
		if !act.IsRoot {
			continue
		}
		if act.Err != nil {
			fmt.Fprintf(stderr, "tillid vet: %s: %v\n", act.Package.PkgPath, act.Err)
			return exitFailure
		}
		for _, d := range act.Diagnostics {
			f := finding{act.Package.Fset.Position(d.Pos), d.Message}
			key := f.pos.String() + f.msg // a file in a package and its test variant
			if !seen[key] {
				seen[key] = true
				found = append(found, f)
			}
		}
	}
	sort.Slice(found, func(i, j int) bool {
		a, b := found[i].pos, found[j].pos
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	cwd, _ := os.Getwd()
	for _, f := range found {
		name := f.pos.Filename
		if rel, err := filepath.Rel(cwd, name); err == nil && !strings.HasPrefix(rel, "..") {
			name = rel
		}
		fmt.Fprintf(stdout, "%s:%d:%d: %s\n", name, f.pos.Line, f.pos.Column, f.msg)
	}
	if len(found) > 0 {
		return exitFindings
	}
	return exitOK
}

// isVetTool reports whether the command line is go vet's call of a
// -vettool: "-V=full", "-flags", or flags and then one *.cfg file. No
// tillid command starts with a flag, so none is taken for it.
func isVetTool(args []string) bool {
	if len(args) == 0 {
		return false
	}
	if len(args) == 1 && (args[0] == "-V=full" || args[0] == "-flags") {
		return true
	}
	last := len(args) - 1
	for _, a := range args[:last] {
		if !strings.HasPrefix(a, "-") {
			return false
		}
	}
	return strings.HasSuffix(args[last], ".cfg")
}

// runVetTool serves go vet -vettool=tillid with unitchecker; it does not
// return.
func runVetTool() { unitchecker.Main(piivet.Analyzer) }
