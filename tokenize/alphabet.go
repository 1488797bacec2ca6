package tokenize

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Alphabet is an ordered set of 2 to 65,536 distinct characters: the
// numerals of a radix for [FF1] and [FPE]. The character at position i
// stands for the numeral i. An Alphabet is immutable and safe for concurrent
// use; the zero Alphabet is invalid and rejected by [NewFF1] and [NewFPE].
type Alphabet struct {
	chars []rune
	// ascii maps an ASCII character to its numeral plus one; 0 means absent.
	ascii [utf8.RuneSelf]uint32
	// other maps the non-ASCII characters to their numerals.
	other map[rune]uint32
	// minLen is the smallest length n with radix^n >= [MinDomainSize].
	minLen int
}

// MinDomainSize is the smallest number of values an FF1 input may range over:
// radix^length must be at least 1,000,000 (NIST SP 800-38G Rev. 1, 5.2).
// Shorter inputs are rejected because a small domain can be enumerated.
const MinDomainSize = 1_000_000

// The predefined alphabets.
var (
	// Digits is the decimal alphabet "0123456789" (radix 10). FF1 inputs over
	// it are at least 6 digits long.
	Digits = mustAlphabet("0123456789")
	// LowerAlphanumeric is "0123456789abcdefghijklmnopqrstuvwxyz" (radix 36),
	// the alphabet of NIST's radix-36 FF1 samples. FF1 inputs over it are at
	// least 4 characters long.
	LowerAlphanumeric = mustAlphabet("0123456789abcdefghijklmnopqrstuvwxyz")
)

func mustAlphabet(chars string) *Alphabet {
	a, err := NewAlphabet(chars)
	if err != nil {
		panic(err)
	}
	return a
}

// NewAlphabet returns the alphabet whose numerals are the characters of chars
// in order: the first character is numeral 0. chars must be valid UTF-8 and
// hold 2 to 65,536 distinct characters; otherwise NewAlphabet returns an
// error. The characters are not secret.
func NewAlphabet(chars string) (*Alphabet, error) {
	if !utf8.ValidString(chars) {
		return nil, fmt.Errorf("tokenize: alphabet is not valid UTF-8")
	}
	a := &Alphabet{chars: []rune(chars)}
	radix := len(a.chars)
	if radix < 2 || radix > 1<<16 {
		return nil, fmt.Errorf("tokenize: alphabet has %d characters, want 2 to 65536", radix)
	}
	for i, r := range a.chars {
		if _, dup := a.numeral(r); dup {
			return nil, fmt.Errorf("tokenize: alphabet repeats the character at position %d", i)
		}
		if r < utf8.RuneSelf {
			a.ascii[r] = uint32(i) + 1
			continue
		}
		if a.other == nil {
			a.other = make(map[rune]uint32)
		}
		a.other[r] = uint32(i)
	}
	a.minLen = 1
	for n := uint64(radix); n < MinDomainSize; n *= uint64(radix) {
		a.minLen++
	}
	return a, nil
}

// Radix returns the number of characters in a, 2 to 65,536.
func (a *Alphabet) Radix() int { return len(a.chars) }

// MinLength returns the shortest FF1 input over a: the smallest n with
// Radix()^n >= [MinDomainSize]. It is 6 for [Digits] and 4 for
// [LowerAlphanumeric].
func (a *Alphabet) MinLength() int { return a.minLen }

// String returns the alphabet's characters in numeral order.
func (a *Alphabet) String() string { return string(a.chars) }

// Contains reports whether r is one of a's characters.
func (a *Alphabet) Contains(r rune) bool {
	_, ok := a.numeral(r)
	return ok
}

// numeral returns the numeral of r and whether r is in the alphabet.
func (a *Alphabet) numeral(r rune) (uint32, bool) {
	if r >= 0 && r < utf8.RuneSelf {
		n := a.ascii[r]
		return n - 1, n != 0
	}
	n, ok := a.other[r]
	return n, ok
}

// numerals converts s to numerals. It returns an error naming the position
// (not the character) of the first character outside the alphabet.
func (a *Alphabet) numerals(s string) ([]uint16, error) {
	x := make([]uint16, 0, len(s))
	for _, r := range s {
		n, ok := a.numeral(r)
		if !ok {
			return nil, fmt.Errorf("tokenize: character %d of the input is outside the radix-%d alphabet: %w", len(x)+1, len(a.chars), ErrInvalidValue)
		}
		x = append(x, uint16(n))
	}
	return x, nil
}

// string returns the characters of the numerals x; sizeHint is the
// expected length in bytes.
func (a *Alphabet) string(x []uint16, sizeHint int) string {
	var b strings.Builder
	b.Grow(sizeHint)
	for _, n := range x {
		b.WriteRune(a.chars[n])
	}
	return b.String()
}
