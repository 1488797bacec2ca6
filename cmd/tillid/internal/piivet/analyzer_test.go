package piivet_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/tillid/tillid/cmd/tillid/internal/piivet"
)

// TestAnalyzer checks every diagnostic against the want comments of the
// test packages: rules (untagged personal data), tags (invalid tags) and
// logs (tagged structs printed or logged).
func TestAnalyzer(t *testing.T) {
	for _, pkg := range []string{"rules", "tags", "logs"} {
		t.Run(pkg, func(t *testing.T) {
			analysistest.Run(t, analysistest.TestData(), piivet.Analyzer, pkg)
		})
	}
}
