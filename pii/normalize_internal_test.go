package pii

import (
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/tag"

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

// The in-place ASCII rules, which blind indexes use, agree with the string
// rules on every ASCII byte, alone and in chains, with every part=.
func TestASCIIInPlace(t *testing.T) {
	t.Parallel()
	var all []byte
	for c := 0; c < 0x80; c++ {
		all = append(all, byte(c))
	}
	inputs := []string{string(all), " MiXeD@Example.COM\t", "", "abc", "ABC", "\v\f 0-1 2\r\n", "a@b@C", "@"}
	for _, spec := range []string{"trim", "nfkc", "lower", "email", "digits", "trim+lower", "nfkc+lower+digits"} {
		n, err := parseNormalizer(spec)
		require.NoError(t, err)
		for _, part := range []string{"", "domain", "local", "first3", "last2"} {
			var pf func(string) string
			if part != "" {
				pp, err := tag.ParsePart(part)
				require.NoError(t, err)
				pf = partFunc(pp)
			}
			for _, in := range inputs {
				want := n.apply(in)
				if pf != nil {
					want = pf(want)
				}
				assert.Equal(t, appendLP([]byte("x"), want), n.appendLP([]byte("x"), in, pf), "%s,part=%s (%q)", spec, part, in)
			}
		}
	}
}

// part= counts characters, not bytes.
func TestPartRunes(t *testing.T) {
	t.Parallel()
	first, err := tag.ParsePart("first2")
	require.NoError(t, err)
	last, err := tag.ParsePart("last2")
	require.NoError(t, err)
	assert.Equal(t, "åø", partFunc(first)("åøæ"))
	assert.Equal(t, "øæ", partFunc(last)("åøæ"))
	assert.Equal(t, "å", partFunc(last)("å"))
}
