package tokenize

import (
	"crypto/rand"
	"fmt"
	"strings"
	"unicode/utf8"
)

// A Format says what the vaulted tokens of a [Tokenizer] look like. Formats
// come from [RandomAlphanumeric], [RandomDigits], [KeepLast], [Card] and
// [Email]; the interface is sealed. Every format draws its random characters
// from crypto/rand, at least [MinRandomChars] of them per token ([Card] then
// fixes one of them to pass the Luhn check).
// A Format is immutable and safe for concurrent use.
//
// What a format keeps of the value, it leaks: the length ([RandomDigits],
// [KeepLast], [Card]), the kept characters and their positions, the
// separators ([KeepLast]), the domain ([Email] when asked).
type Format interface {
	// String names the format, for example "keep-last-4".
	String() string
	// check returns an error wrapping ErrInvalidValue when value does not
	// have the shape the format needs.
	check(value string) error
	// token returns a fresh random token for the checked value. It may equal
	// the value; the Tokenizer retries then.
	token(value string) string
}

// MinRandomChars is the fewest random characters a token holds: a format
// that would keep more of a value than this leaves random rejects the value
// with [ErrInvalidValue]. Six random digits give a million tokens per kept
// part; fewer would make tokens guessable and collisions frequent.
const MinRandomChars = 6

const (
	alphanumericChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	digitChars        = "0123456789"
	lowerChars        = "abcdefghijklmnopqrstuvwxyz"
	upperChars        = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	lowerAlnumChars   = "0123456789abcdefghijklmnopqrstuvwxyz"
	// alphanumericTokenLen characters of radix 62 carry 130 bits.
	alphanumericTokenLen = 22
	// emailLocalLen characters of radix 36 carry 82 bits.
	emailLocalLen = 16
	// emailTokenDomain is reserved by RFC 2606: the address is valid but
	// never delivered.
	emailTokenDomain = "token.invalid"
)

// RandomAlphanumeric returns the default format: 22 random characters of
// [0-9A-Za-z] (130 bits), whatever the value. It keeps nothing of the value,
// not even its length.
func RandomAlphanumeric() Format { return alphanumericFormat{} }

type alphanumericFormat struct{}

func (alphanumericFormat) String() string     { return "random-alphanumeric" }
func (alphanumericFormat) check(string) error { return nil }
func (alphanumericFormat) token(string) string {
	return randomString(alphanumericChars, alphanumericTokenLen)
}

// RandomDigits returns a format of random decimal digits, as many as the
// value has characters (runes), so a 10-character national ID gets a
// 10-digit token. It keeps, and so leaks, the value's length. Values shorter
// than [MinRandomChars] are rejected.
func RandomDigits() Format { return digitsFormat{} }

type digitsFormat struct{}

func (digitsFormat) String() string { return "random-digits" }

func (digitsFormat) check(value string) error {
	if n := utf8.RuneCountInString(value); n < MinRandomChars {
		return fmt.Errorf("format random-digits needs a value of at least %d characters, got %d: %w", MinRandomChars, n, ErrInvalidValue)
	}
	return nil
}

func (digitsFormat) token(value string) string {
	return randomString(digitChars, utf8.RuneCountInString(value))
}

// KeepLast returns a format that keeps the value's last n characters and its
// shape: every other ASCII digit becomes a random digit, every ASCII letter
// a random letter of the same case, and any other character (a space, '-',
// '/') is kept. "4111-1111-1111-1234" becomes, say, "7302-9945-0861-1234".
// It leaks the length, the kept characters and the separators. Values with
// fewer than [MinRandomChars] digits and letters before the kept part are
// rejected. KeepLast panics if n is negative.
func KeepLast(n int) Format {
	if n < 0 {
		panic("tokenize: KeepLast with a negative count")
	}
	return keepLastFormat{n: n}
}

type keepLastFormat struct{ n int }

func (f keepLastFormat) String() string { return fmt.Sprintf("keep-last-%d", f.n) }

func (f keepLastFormat) check(value string) error {
	runes := []rune(value)
	if len(runes) < f.n {
		return fmt.Errorf("format %s needs a value of at least %d characters, got %d: %w", f, f.n, len(runes), ErrInvalidValue)
	}
	random := 0
	for _, r := range runes[:len(runes)-f.n] {
		if charClass(r) != "" {
			random++
		}
	}
	if random < MinRandomChars {
		return fmt.Errorf("format %s leaves %d random characters, fewer than %d: %w", f, random, MinRandomChars, ErrInvalidValue)
	}
	return nil
}

func (f keepLastFormat) token(value string) string {
	runes := []rune(value)
	for i, r := range runes[:len(runes)-f.n] {
		if class := charClass(r); class != "" {
			runes[i] = rune(randomString(class, 1)[0])
		}
	}
	return string(runes)
}

// charClass returns the characters that may replace r, or "" to keep r.
func charClass(r rune) string {
	switch {
	case r >= '0' && r <= '9':
		return digitChars
	case r >= 'a' && r <= 'z':
		return lowerChars
	case r >= 'A' && r <= 'Z':
		return upperChars
	}
	return ""
}

// Card returns a format for payment card numbers: 12 to 19 ASCII digits
// with no separators. The token has the card's length, keeps its first
// keepFirst digits (6 or 8 keep the issuer's BIN) and its last keepLast
// digits, and its other digits are random but for one, chosen so that the
// token passes the Luhn check. Card(6, 4) keeps what PCI DSS allows to be
// displayed. A card whose kept digits leave fewer than [MinRandomChars]
// random digits is rejected, as is any value that is not 12 to 19 digits.
// The value itself need not pass the Luhn check.
//
// Card panics unless 0 <= keepFirst <= 8 and 0 <= keepLast <= 4.
func Card(keepFirst, keepLast int) Format {
	if keepFirst < 0 || keepFirst > 8 || keepLast < 0 || keepLast > 4 {
		panic("tokenize: Card needs 0 <= keepFirst <= 8 and 0 <= keepLast <= 4")
	}
	return cardFormat{first: keepFirst, last: keepLast}
}

type cardFormat struct{ first, last int }

func (f cardFormat) String() string { return fmt.Sprintf("card-%d-%d", f.first, f.last) }

func (f cardFormat) check(value string) error {
	if len(value) < 12 || len(value) > 19 {
		return fmt.Errorf("format %s needs 12 to 19 digits, got %d characters: %w", f, utf8.RuneCountInString(value), ErrInvalidValue)
	}
	for i := range len(value) {
		if value[i] < '0' || value[i] > '9' {
			return fmt.Errorf("format %s: character %d is not a digit: %w", f, i+1, ErrInvalidValue)
		}
	}
	if random := len(value) - f.first - f.last; random < MinRandomChars {
		return fmt.Errorf("format %s leaves %d random digits of a %d-digit card, fewer than %d: %w", f, random, len(value), MinRandomChars, ErrInvalidValue)
	}
	return nil
}

func (f cardFormat) token(value string) string {
	b := []byte(value)
	middle := b[f.first : len(b)-f.last]
	copy(middle, randomString(digitChars, len(middle)))
	// Fix the last random digit so that the whole number passes Luhn. Its
	// weight is fixed by its distance from the end, and both weights map
	// the ten digits onto the ten residues, so exactly one digit fits.
	fix := len(b) - f.last - 1
	b[fix] = '0'
	sum := luhnSum(b)
	doubled := (len(b)-1-fix)%2 == 1
	for d := byte(0); d < 10; d++ {
		c := int(d)
		if doubled {
			c *= 2
			if c > 9 {
				c -= 9
			}
		}
		if (sum+c)%10 == 0 {
			b[fix] = '0' + d
			break
		}
	}
	return string(b)
}

// luhnSum returns the Luhn checksum of the digits b, before the final mod 10.
func luhnSum(b []byte) int {
	sum := 0
	for i := range b {
		d := int(b[len(b)-1-i] - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum
}

// Email returns a format whose tokens are valid e-mail addresses: 16 random
// characters of [0-9a-z] (82 bits), '@', then the value's own domain when
// keepDomain is set, or else "token.invalid", a domain reserved by RFC 2606
// that never receives mail. The value must be an address: a non-empty local
// part, '@', and a domain of ASCII letters, digits, '-' and '.', with no
// spaces. Keeping the domain leaks it, which is often what analytics want
// and sometimes enough to identify a person at a small company.
func Email(keepDomain bool) Format { return emailFormat{keepDomain: keepDomain} }

type emailFormat struct{ keepDomain bool }

func (f emailFormat) String() string {
	if f.keepDomain {
		return "email-keep-domain"
	}
	return "email"
}

func (f emailFormat) check(value string) error {
	at := strings.LastIndexByte(value, '@')
	if at <= 0 || at == len(value)-1 {
		return fmt.Errorf("format %s needs an address of the form local@domain: %w", f, ErrInvalidValue)
	}
	if strings.ContainsAny(value, " \t\r\n<>") {
		return fmt.Errorf("format %s: the address holds white space or angle brackets: %w", f, ErrInvalidValue)
	}
	domain := value[at+1:]
	if len(domain) > 253 || domain[0] == '.' || domain[len(domain)-1] == '.' || strings.Contains(domain, "..") {
		return fmt.Errorf("format %s: the domain is not a valid host name: %w", f, ErrInvalidValue)
	}
	for i := range len(domain) {
		c := domain[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("format %s: character %d of the domain is not a letter, digit, '-' or '.': %w", f, i+1, ErrInvalidValue)
		}
	}
	return nil
}

func (f emailFormat) token(value string) string {
	domain := emailTokenDomain
	if f.keepDomain {
		domain = value[strings.LastIndexByte(value, '@')+1:]
	}
	return randomString(lowerAlnumChars, emailLocalLen) + "@" + domain
}

// randomString returns n characters drawn uniformly from the ASCII chars.
func randomString(chars string, n int) string {
	// Reject bytes at or above the largest multiple of len(chars), so that
	// every character is equally likely.
	limit := 256 - 256%len(chars)
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		rand.Read(buf[:]) // crypto/rand.Read never fails.
		for _, c := range buf {
			if int(c) < limit && len(out) < n {
				out = append(out, chars[int(c)%len(chars)])
			}
		}
	}
	return string(out)
}
