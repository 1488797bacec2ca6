package piivet

import (
	"strings"
	"unicode"
)

// splitWords splits a Go identifier into lower-case words: at underscores
// and hyphens, at a lower-to-upper change (firstName → first, name), at the
// end of an acronym (CPRNumber → cpr, number; IPAddr → ip, addr) and around
// digits (AddressLine2 → address, line, 2). Danish letters are folded to
// their two-letter spellings (ø → oe, æ → ae, å → aa), so Fødselsdato and
// Foedselsdato give the same word.
func splitWords(ident string) []string {
	rs := []rune(ident)
	var words []string
	start := 0
	flush := func(end int) {
		if end > start {
			words = append(words, foldDanish(strings.ToLower(string(rs[start:end]))))
		}
		start = end
	}
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		if r == '_' || r == '-' {
			flush(i)
			start = i + 1
			continue
		}
		if i == start {
			continue
		}
		prev := rs[i-1]
		switch {
		case unicode.IsDigit(r) != unicode.IsDigit(prev):
			flush(i)
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			flush(i)
		case unicode.IsUpper(r) && unicode.IsUpper(prev) && i+1 < len(rs) && unicode.IsLower(rs[i+1]):
			flush(i)
		}
	}
	flush(len(rs))
	return words
}

var danishFold = strings.NewReplacer("ø", "oe", "æ", "ae", "å", "aa")

func foldDanish(s string) string { return danishFold.Replace(s) }
