package pii

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
)

// normalizerVersion is the version of the normalisation rules below. It is
// part of the input of every blind index and keyed hash, so a change to a
// rule that would give old and new values different indexes must bump it,
// and old rows then need a re-index rather than silently missing lookups.
const normalizerVersion = 1

// Normalisation rules, applied by the normalize= tag option on the write path
// and by [Protector.LookupTerms] and [Normalize] on the query path, so that
// both always agree. Rules can be chained with '+', applied left to right:
// `normalize=nfkc+lower`.
//
//	trim     remove leading and trailing white space (Unicode White_Space).
//	nfkc     Unicode NFKC: compatibility characters (full-width letters and
//	         digits, ligatures) become their plain forms.
//	lower    Unicode NFC, then lower case (golang.org/x/text/cases.Lower with
//	         no language: simple, language-neutral; "ß" stays "ß").
//	email    trim, NFC, full Unicode case folding (cases.Fold: "ß" becomes
//	         "ss", "K" (Kelvin sign) becomes "k"), then NFC again. Both the
//	         local part and the domain are folded: tillid treats addresses
//	         as case-insensitive, as nearly every mail system does in
//	         practice although RFC 5321 leaves the local part's case to the
//	         receiving host.
//	digits   NFKC, then keep only the ASCII digits 0-9: for phone numbers,
//	         national IDs and card numbers typed with spaces, dashes or
//	         full-width digits.
//
// A rule is idempotent: Normalize(r, Normalize(r, s)) == Normalize(r, s).
var normalizers = map[string]func(string) string{
	"trim":   func(s string) string { return strings.TrimFunc(s, unicode.IsSpace) },
	"nfkc":   normalizeNFKC,
	"lower":  normalizeLower,
	"email":  normalizeEmail,
	"digits": normalizeDigits,
}

// isASCII reports whether s is plain ASCII, on which NFC and NFKC change
// nothing and case folding and lower-casing map only A-Z: the fast path,
// which gives exactly what golang.org/x/text gives (a test checks it).
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// asciiLower lower-cases A-Z, copying only when something changes.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func normalizeNFKC(s string) string {
	if isASCII(s) {
		return s
	}
	return norm.NFKC.String(s)
}

func normalizeLower(s string) string {
	if isASCII(s) {
		return asciiLower(s)
	}
	return cases.Lower(language.Und).String(norm.NFC.String(s))
}

func normalizeEmail(s string) string {
	s = strings.TrimFunc(s, unicode.IsSpace)
	if isASCII(s) {
		return asciiLower(s)
	}
	return norm.NFC.String(cases.Fold().String(norm.NFC.String(s)))
}

func normalizeDigits(s string) string {
	s = normalizeNFKC(s)
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// normalizer is a parsed normalize= chain; the zero value leaves values as
// they are.
type normalizer struct {
	spec  string
	steps []func(string) string
}

func parseNormalizer(spec string) (normalizer, error) {
	n := normalizer{spec: spec}
	for _, name := range strings.Split(spec, "+") {
		f, ok := normalizers[name]
		if !ok {
			return normalizer{}, fmt.Errorf("normalize=%s: unknown rule %q; use trim, nfkc, lower, email or digits, joined with '+'", spec, name)
		}
		n.steps = append(n.steps, f)
	}
	return n, nil
}

func (n normalizer) apply(s string) string {
	for _, f := range n.steps {
		s = f(s)
	}
	return s
}

// appendLP appends s normalised, then cut by part (when not nil), with a
// 4-byte length prefix: one value of a PRF input.
func (n normalizer) appendLP(dst []byte, s string, part func(string) string) []byte {
	s = n.apply(s)
	if part != nil {
		s = part(s)
	}
	return appendLP(dst, s)
}

// label returns the normaliser's name and version as they enter a blind
// index, for example "email/v1" ("none/v1" without normalize=).
func (n normalizer) label() string {
	spec := n.spec
	if spec == "" {
		spec = "none"
	}
	return spec + "/v" + strconv.Itoa(normalizerVersion)
}

// Normalize applies the normalisation rule (or '+'-joined chain of rules)
// named rule to s, exactly as the normalize= tag option does. Use it to show
// users what a lookup will match. It returns an error for an unknown rule;
// the error never quotes s.
func Normalize(rule, s string) (string, error) {
	n, err := parseNormalizer(rule)
	if err != nil {
		return "", fmt.Errorf("pii: %v", err)
	}
	return n.apply(s), nil
}
