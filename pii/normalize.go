package pii

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
)

// normalizerVersion is the version of the normalisation rules below. It is
// part of the input of every blind index and pseudonym, so a change to a
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

// asciiNormalizers are the same rules on ASCII input, in place: each
// rewrites b and returns the (possibly shorter) result, so that a blind
// index over ASCII input allocates nothing. A test checks that they agree
// with normalizers.
var asciiNormalizers = map[string]func(b []byte) []byte{
	"trim":   asciiTrim,
	"nfkc":   func(b []byte) []byte { return b },
	"lower":  asciiLowerInPlace,
	"email":  func(b []byte) []byte { return asciiLowerInPlace(asciiTrim(b)) },
	"digits": asciiDigits,
}

// asciiTrim removes the ASCII white space that unicode.IsSpace reports
// from both ends of b, moving the rest to its start.
func asciiTrim(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c >= '\t' && c <= '\r' }
	end := len(b)
	for end > 0 && isSpace(b[end-1]) {
		end--
	}
	start := 0
	for start < end && isSpace(b[start]) {
		start++
	}
	return b[:copy(b, b[start:end])]
}

func asciiLowerInPlace(b []byte) []byte {
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return b
}

func asciiDigits(b []byte) []byte {
	n := 0
	for _, c := range b {
		if c >= '0' && c <= '9' {
			b[n] = c
			n++
		}
	}
	return b[:n]
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
	// asciiSteps are steps on ASCII input, in place.
	asciiSteps []func([]byte) []byte
}

func parseNormalizer(spec string) (normalizer, error) {
	n := normalizer{spec: spec}
	for _, name := range strings.Split(spec, "+") {
		f, ok := normalizers[name]
		if !ok {
			return normalizer{}, fmt.Errorf("normalize=%s: unknown rule %q; use trim, nfkc, lower, email or digits, joined with '+'", spec, name)
		}
		n.steps = append(n.steps, f)
		n.asciiSteps = append(n.asciiSteps, asciiNormalizers[name])
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
//
// ASCII input is normalised in place in dst, without allocating.
func (n normalizer) appendLP(dst []byte, s string, part func(string) string) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	if isASCII(s) {
		dst = append(dst, s...)
		v := dst[start+4:]
		for _, step := range n.asciiSteps {
			v = step(v)
		}
		dst = dst[:start+4+len(v)]
	} else {
		dst = append(dst, n.apply(s)...)
	}
	if part != nil {
		v := part(unsafeString(dst[start+4:])) // a substring of what it is given
		dst = dst[:start+4+copy(dst[start+4:], v)]
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
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
