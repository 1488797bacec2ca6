package piivet_test

import (
	"go/ast"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/piitest"
)

const pathsFile = "parity_paths_test.go"

type pathCase struct {
	name    string
	invalid bool
	call    func(p *pii.Protector) error
}

// Structs of the path cases.

type PathRecord struct {
	ID       string           `pii:"-"`
	Email    string           `pii:"deterministic"`
	EmailIdx string           `pii:"index=Email,normalize=email"`
	Pair     string           `pii:"index=Email+ID"`
	Alias    string           `pii:"pseudonym"`
	Secret   string           `pii:"encrypt,aad=ID"`
	Bound    string           `pii:"deterministic,aad=ID"`
	Notes    string           `pii:"redact"`
	Number   pii.Value[int64] `pii:"deterministic"`
	Plain    string
	Home     *PathAddress
	Contact
}

type PathAddress struct {
	Street    string `pii:"encrypt"`
	StreetIdx string `pii:"index=Street"`
}

type PathSubject struct {
	ID    string `pii:"subject"`
	Email string `pii:"deterministic"`
	Idx   string `pii:"index=Email"`
}

// pathCases call the functions that take a field path; the analyzer sees
// the same calls in this file.
var pathCases = []pathCase{
	{"ColumnDeterministic", false, func(*pii.Protector) error { _, err := pii.ColumnFor(PathRecord{}, "Email"); return err }},
	{"ColumnNested", false, func(*pii.Protector) error { _, err := pii.ColumnFor(&PathRecord{}, "Home.StreetIdx"); return err }},
	{"ColumnTypeFor", false, func(*pii.Protector) error {
		_, err := pii.ColumnFor(reflect.TypeFor[PathRecord](), "Secret")
		return err
	}},
	{"ColumnTypeOf", true, func(*pii.Protector) error { _, err := pii.ColumnFor(reflect.TypeOf(PathRecord{}), "Mail"); return err }},
	{"ColumnMissing", true, func(*pii.Protector) error { _, err := pii.ColumnFor(PathRecord{}, "Mail"); return err }},
	{"ColumnUntagged", true, func(*pii.Protector) error { _, err := pii.ColumnFor(PathRecord{}, "Plain"); return err }},
	{"ColumnSkipped", true, func(*pii.Protector) error { _, err := pii.ColumnFor(PathRecord{}, "ID"); return err }},
	{"ColumnRedact", true, func(*pii.Protector) error { _, err := pii.ColumnFor(PathRecord{}, "Notes"); return err }},
	{"ColumnPromoted", true, func(*pii.Protector) error { _, err := pii.ColumnFor(PathRecord{}, "Email.X"); return err }},
	{"ColumnThroughString", true, func(*pii.Protector) error { _, err := pii.ColumnFor(PathRecord{}, "Plain.X"); return err }},
	{"ColumnEmbeddedPath", false, func(*pii.Protector) error { _, err := pii.ColumnFor(PathRecord{}, "Contact.Email"); return err }},
	{"ColumnPromotedField", true, func(*pii.Protector) error { _, err := pii.ColumnFor(PathRecord{}, "Street"); return err }},
	{"ColumnNotStruct", true, func(*pii.Protector) error { _, err := pii.ColumnFor("x", "Email"); return err }},
	{"ColumnSubjectKeyed", true, func(*pii.Protector) error { _, err := pii.ColumnFor(PathSubject{}, "Email"); return err }},
	{"ColumnSubjectIndex", false, func(*pii.Protector) error { _, err := pii.ColumnFor(PathSubject{}, "Idx"); return err }},
	{"IndexerIndex", false, func(p *pii.Protector) error { _, err := p.BlindIndexer(PathRecord{}, "EmailIdx"); return err }},
	{"IndexerPseudonym", false, func(p *pii.Protector) error { _, err := p.BlindIndexer(&PathRecord{}, "Alias"); return err }},
	{"IndexerEncrypt", true, func(p *pii.Protector) error { _, err := p.BlindIndexer(PathRecord{}, "Secret"); return err }},
	{"IndexerDeterministic", true, func(p *pii.Protector) error { _, err := p.BlindIndexer(PathRecord{}, "Email"); return err }},
	{"LookupIndex", false, func(p *pii.Protector) error {
		_, err := p.LookupTerms(ctx, PathRecord{}, "EmailIdx", "a@example.com")
		return err
	}},
	{"LookupCompound", false, func(p *pii.Protector) error {
		_, err := p.LookupTerms(ctx, PathRecord{}, "Pair", "a@example.com", "1")
		return err
	}},
	{"LookupCompoundShort", true, func(p *pii.Protector) error {
		_, err := p.LookupTerms(ctx, PathRecord{}, "Pair", "a@example.com")
		return err
	}},
	{"LookupTooMany", true, func(p *pii.Protector) error {
		_, err := p.LookupTerms(ctx, PathRecord{}, "Email", "a", "b")
		return err
	}},
	{"LookupDeterministic", false, func(p *pii.Protector) error {
		_, err := p.LookupTerms(ctx, PathRecord{}, "Email", "a@example.com")
		return err
	}},
	{"LookupBound", true, func(p *pii.Protector) error {
		_, err := p.LookupTerms(ctx, PathRecord{}, "Bound", "a@example.com")
		return err
	}},
	{"LookupValue", true, func(p *pii.Protector) error { _, err := p.LookupTerms(ctx, PathRecord{}, "Number", "1"); return err }},
	{"LookupEncrypt", true, func(p *pii.Protector) error { _, err := p.LookupTerms(ctx, PathRecord{}, "Secret", "x"); return err }},
	{"LookupSubjectKeyed", true, func(p *pii.Protector) error { _, err := p.LookupTerms(ctx, PathSubject{}, "Email", "x"); return err }},
	{"LookupSubjectIndex", false, func(p *pii.Protector) error { _, err := p.LookupTerms(ctx, &PathSubject{}, "Idx", "x"); return err }},
	{"ProtectPointer", false, func(p *pii.Protector) error { return p.Protect(ctx, &PathAddress{}) }},
	{"ProtectValue", true, func(p *pii.Protector) error { return p.Protect(ctx, PathRecord{}) }},
	{"RevealValue", true, func(p *pii.Protector) error { return p.Reveal(ctx, PathAddress{}) }},
	{"RewrapNil", true, func(p *pii.Protector) error { _, err := p.Rewrap(ctx, nil); return err }},
	{"EraseValue", true, func(p *pii.Protector) error { _, err := p.Erase(ctx, PathSubject{}); return err }},
	{"RevealReportPointer", false, func(p *pii.Protector) error { _, err := p.RevealReport(ctx, &plainKey{}); return err }},
	{"LookupNested", false, func(p *pii.Protector) error {
		_, err := p.LookupTerms(ctx, PathRecord{}, "Home.StreetIdx", "x")
		return err
	}},
}

// TestPathParity runs the calls of pathCases and checks that the analyzer
// reports exactly those that pii refuses, at their call.
func TestPathParity(t *testing.T) {
	pkg, diags := analyseThisPackage(t, pathsFile)
	p, err := pii.New(piitest.NewFixedProvider())
	require.NoError(t, err)
	spans := map[string]ast.Node{}
	for _, f := range pkg.Syntax {
		if filepath.Base(pkg.Fset.Position(f.Pos()).Filename) != pathsFile {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if cl, ok := n.(*ast.CompositeLit); ok && len(cl.Elts) == 3 {
				if lit, ok := cl.Elts[0].(*ast.BasicLit); ok {
					name, _ := strconv.Unquote(lit.Value)
					spans[name] = cl
				}
			}
			return true
		})
	}
	var invalid int
	for _, tc := range pathCases {
		t.Run(tc.name, func(t *testing.T) {
			span := spans[tc.name]
			require.NotNil(t, span)
			var vet []string
			for _, d := range diags {
				if d.Pos >= span.Pos() && d.Pos < span.End() {
					vet = append(vet, d.Message)
				}
			}
			err := tc.call(p)
			assert.Equal(t, tc.invalid, err != nil, "pii: %v", err)
			assert.Equal(t, tc.invalid, len(vet) > 0, "analyzer: %q", vet)
		})
		if tc.invalid {
			invalid++
		}
	}
	assert.Greater(t, invalid, 5)
	assert.Less(t, invalid, len(pathCases)-5)
}
