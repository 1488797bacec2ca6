package pii

import (
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
)

// The ASCII fast paths of the normalisers give exactly what
// golang.org/x/text gives.
func TestASCIIFastPath(t *testing.T) {
	t.Parallel()
	var all []byte
	for c := 0; c < 0x80; c++ {
		all = append(all, byte(c))
	}
	slow := map[string]func(string) string{
		"email": func(s string) string {
			return norm.NFC.String(cases.Fold().String(norm.NFC.String(strings.TrimFunc(s, unicode.IsSpace))))
		},
		"lower": func(s string) string { return cases.Lower(language.Und).String(norm.NFC.String(s)) },
		"nfkc":  norm.NFKC.String,
	}
	for rule, f := range slow {
		for _, in := range []string{string(all), " MiXeD@Example.COM\t", "", "abc", "ABC"} {
			assert.EqualValues(t, f(in), normalizers[rule](in), "%s(%q)", rule, in)
		}
	}
}
