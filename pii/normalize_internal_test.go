package pii

import (
	"strings"
	"testing"
	"unicode"

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
			if got, want := normalizers[rule](in), f(in); got != want {
				t.Errorf("%s(%q): fast path %q, x/text %q", rule, in, got, want)
			}
		}
	}
}
