package piivet_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/tillid/tillid/cmd/tillid/internal/piivet"
)

// ignore swallows analysistest's complaints: the labelled set has no want
// comments, its truth is in the labels.
type ignore struct{}

func (ignore) Errorf(string, ...any) {}

// label is the truth of one field: file:line → personal.
func labels(t *testing.T, dir string) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	out := map[string]bool{}
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			st, ok := n.(*ast.StructType)
			if !ok {
				return true
			}
			for _, fld := range st.Fields.List {
				require.NotNil(t, fld.Comment, "%s: field without a label", fset.Position(fld.Pos()))
				text := strings.TrimSpace(fld.Comment.Text())
				require.Contains(t, []string{"personal", "other"}, text, "%s: label", fset.Position(fld.Pos()))
				p := fset.Position(fld.Pos())
				out[fmt.Sprintf("%s:%d", filepath.Base(p.Filename), p.Line)] = text == "personal"
			}
			return true
		})
	}
	return out
}

// measure runs the analyzer on the labelled package pkg and returns its
// recall and precision against the labels.
func measure(t *testing.T, pkg string) (recall, precision float64, n int) {
	t.Helper()
	truth := labels(t, filepath.Join(analysistest.TestData(), "src", pkg))
	reported := map[string]string{}
	for _, r := range analysistest.Run(ignore{}, analysistest.TestData(), piivet.Analyzer, pkg) {
		require.NoError(t, r.Err)
		for _, d := range r.Diagnostics {
			p := r.Pass.Fset.Position(d.Pos)
			reported[fmt.Sprintf("%s:%d", filepath.Base(p.Filename), p.Line)] = d.Message
		}
	}
	var tp, fp, fn int
	for at, personal := range truth {
		_, got := reported[at]
		switch {
		case got && personal:
			tp++
		case got && !personal:
			fp++
			t.Logf("%s: false alarm %s: %s", pkg, at, reported[at])
		case !got && personal:
			fn++
			t.Logf("%s: missed %s", pkg, at)
		}
	}
	for at := range reported {
		assert.Contains(t, truth, at, "diagnostic on a line without a label")
	}
	recall = float64(tp) / float64(tp+fn)
	precision = float64(tp) / float64(tp+fp)
	t.Logf("%s: %d fields, %d personal: recall %.3f (%d/%d), precision %.3f (%d/%d)", pkg, len(truth), tp+fn, recall, tp, tp+fn, precision, tp, tp+fp)
	return recall, precision, len(truth)
}

// TestLabelledSet measures the name rules on realistic models (a bank, a
// hospital, a SaaS app, a shop; English and Danish) whose fields are
// labelled by hand, and holds recall and precision above their floors.
//
// labelled is the set the rules were written against (first measurement:
// recall 0.908, precision 1.000; after fixing BankCustomer being taken for
// a bank's own data: 0.945, 1.000). holdout was written after the rules
// were frozen (insurance, payroll, school, airline, telecom, logistics,
// real estate, dating, Danish public sector) and measured once before any
// change: recall 0.923 (60/65), precision 0.938 (60/64). The generic fixes
// that measurement suggested (organisation words such as agency and depot,
// Lookups and Expiry as properties of a value, the Danish plural -er,
// injury, illness and disease) brought it to 0.954 and 1.000; it is no
// longer held out since.
func TestLabelledSet(t *testing.T) {
	tests := []struct {
		pkg                       string
		minFields                 int
		wantRecall, wantPrecision float64
	}{
		{"labelled", 150, 0.94, 0.98},
		{"holdout", 100, 0.95, 0.98},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			recall, precision, n := measure(t, tt.pkg)
			require.GreaterOrEqual(t, n, tt.minFields)
			assert.GreaterOrEqual(t, recall, tt.wantRecall, "recall")
			assert.GreaterOrEqual(t, precision, tt.wantPrecision, "precision")
		})
	}
}
