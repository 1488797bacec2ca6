package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"go/types"
	"io"
	"os"
	"strings"

	"github.com/tillid/tillid/cmd/tillid/internal/inventory"
	"github.com/tillid/tillid/cmd/tillid/internal/piivet"
)

const inventoryUsage = `usage: tillid inventory [-format markdown|json|csv] [-o FILE] [-check POLICY] [packages]

Renders the record of processing (GDPR Art. 30) of every pii-tagged field in
the packages (go list patterns, default ./...), from their Go types: nothing
is run. The same source gives the same bytes, so a diff in review shows new
personal data. Packages that do not build, and invalid tags (also a tag that
pii would refuse on its field's Go type, as tillid vet reports it), are errors:
nothing is written.

With -check, the register is checked against a policy file (JSON; see
package inventory's Policy) and each violation is printed as
file:line: path: rule NAME: needs ...; the register is written only when
-o is given too.

Exit codes: 0 success, 1 the packages do not build or a tag is invalid,
2 usage, 6 the policy is broken.

Flags:
`

// runInventory is "tillid inventory".
func runInventory(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tillid inventory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "markdown", "output format: "+strings.Join(inventory.Formats, ", "))
	out := fs.String("o", "", "write the register to `FILE` instead of standard output")
	check := fs.String("check", "", "check the register against the policy in `FILE`")
	fs.Usage = func() { fmt.Fprint(stderr, inventoryUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	var policy *inventory.Policy
	if *check != "" {
		f, err := os.Open(*check)
		if err != nil {
			printInventoryError(stderr, err)
			return exitUsage
		}
		policy, err = inventory.ReadPolicy(f)
		f.Close()
		if err != nil {
			printInventoryError(stderr, err)
			return exitUsage
		}
	}
	var rendered bytes.Buffer
	if err := (&inventory.Register{}).WriteFormat(&rendered, *format); err != nil {
		printInventoryError(stderr, err)
		return exitUsage
	}
	pkgs, err := inventory.Load("", false, fs.Args()...)
	if err != nil {
		printInventoryError(stderr, err)
		return exitFailure
	}
	cwd, _ := os.Getwd()
	// Tags are checked against their fields' types as tillid vet and
	// package pii check them, so that no register lists a field pii refuses.
	reg, err := inventory.Build(pkgs, cwd, inventory.WithTypeCheck(func(st *types.Struct) []inventory.FieldProblem {
		return piivet.CheckStruct(st, (*types.Package).Name)
	}))
	if err != nil {
		printInventoryError(stderr, err)
		return exitFailure
	}
	code := exitOK
	if policy != nil {
		vs := policy.Check(reg)
		for _, v := range vs {
			fmt.Fprintln(stdout, v)
		}
		if len(vs) > 0 {
			fmt.Fprintf(stderr, "tillid inventory: %d violations of %s in %d fields\n", len(vs), *check, len(reg.Fields))
			code = exitFindings
		} else {
			fmt.Fprintf(stderr, "tillid inventory: %d fields meet the %d rules of %s\n", len(reg.Fields), len(policy.Rules), *check)
		}
		if *out == "" {
			return code
		}
	}
	rendered.Reset()
	if err := reg.WriteFormat(&rendered, *format); err != nil {
		printInventoryError(stderr, err)
		return exitFailure
	}
	if *out == "" {
		if _, err := stdout.Write(rendered.Bytes()); err != nil {
			printInventoryError(stderr, err)
			return exitFailure
		}
		return code
	}
	if err := os.WriteFile(*out, rendered.Bytes(), 0o644); err != nil {
		printInventoryError(stderr, err)
		return exitFailure
	}
	return code
}

// printInventoryError prints err after "tillid inventory: ", without
// repeating the package's own "inventory: " prefix.
func printInventoryError(w io.Writer, err error) {
	fmt.Fprintln(w, "tillid inventory:", strings.TrimPrefix(err.Error(), "inventory: "))
}
