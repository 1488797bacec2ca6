package pii

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maskFill stands for the hidden part of a masked value, whatever its
// length, so that a mask does not reveal how long the value is.
const maskFill = "•••"

// maskFits says which Go types a mask can show.
type maskFits uint8

const (
	// fitsAny: any type (the mask shows nothing of the value).
	fitsAny maskFits = iota + 1
	// fitsText: strings, []byte, sql.NullString, pii.Value[string].
	fitsText
	// fitsDate: time.Time, pii.Value[time.Time], and ISO 8601 dates in text.
	fitsDate
)

// maskRow is one display mask: the kind named by mask=<name>, what it
// shows of a text, and what it fits.
type maskRow struct {
	name string
	// text appends the mask of s to dst.
	text func(dst []byte, s string) []byte
	fits maskFits
	// classes are the class= values the mask fits; nil for any.
	classes []string
	// emailOK is set for masks that may sit on a field with normalize=email
	// or named like an email address (EmailVerifiedAt with mask=year): all
	// but those of other identifiers (phone, card, IBAN, national IDs).
	emailOK bool
}

// maskTable holds every mask kind that internal/tag's schema accepts.
var maskTable = [...]*maskRow{
	{name: "email", text: maskEmail, fits: fitsText, classes: []string{"contact", "identity"}, emailOK: true},
	{name: "phone", text: maskPhone, fits: fitsText, classes: []string{"contact"}},
	{name: "card", text: func(dst []byte, s string) []byte { return maskCard(dst, s, false) }, fits: fitsText, classes: []string{"financial"}},
	{name: "card-6-4", text: func(dst []byte, s string) []byte { return maskCard(dst, s, true) }, fits: fitsText, classes: []string{"financial"}},
	{name: "iban", text: maskIBAN, fits: fitsText, classes: []string{"financial"}},
	{name: "cpr", text: maskCPR, fits: fitsText, classes: []string{"national_id", "identity"}},
	{name: "ssn", text: maskSSN, fits: fitsText, classes: []string{"national_id", "identity"}},
	{name: "name", text: maskName, fits: fitsText, classes: []string{"identity", "contact"}, emailOK: true},
	{name: "first", text: maskFirst, fits: fitsText, emailOK: true},
	{name: "text", text: maskAll, fits: fitsAny, emailOK: true},
	{name: "year", text: func(dst []byte, s string) []byte { return maskDate(dst, s, 4) }, fits: fitsDate, emailOK: true},
	{name: "month", text: func(dst []byte, s string) []byte { return maskDate(dst, s, 7) }, fits: fitsDate, emailOK: true},
}

// maskNamed returns the row of the mask named name, or nil.
func maskNamed(name string) *maskRow {
	for _, m := range maskTable {
		if m.name == name {
			return m
		}
	}
	return nil
}

// Mask returns s as the display mask kind shows it, the same text a view
// shows for a field tagged mask=kind (see the package doc's table). A
// malformed s (an email without '@', a card number of 11 digits) shows as
// "•••", never as part of itself; an empty s stays empty. It returns an
// error only for an unknown kind. It is safe for concurrent use and does
// not panic on any input.
func Mask(kind, s string) (string, error) {
	m := maskNamed(kind)
	if m == nil {
		return "", fmt.Errorf("pii: unknown mask %q", kind)
	}
	return string(m.apply(nil, s)), nil
}

// apply appends the mask of one text to dst; "" stays "".
func (m *maskRow) apply(dst []byte, s string) []byte {
	if s == "" {
		return dst
	}
	return m.text(dst, s)
}

// applyTime appends the mask of a time, for the date masks; other masks
// show nothing.
func (m *maskRow) applyTime(dst []byte, t time.Time) []byte {
	switch m.name {
	case "year":
		return t.AppendFormat(dst, "2006")
	case "month":
		return t.AppendFormat(dst, "2006-01")
	}
	return append(dst, maskFill...)
}

func maskAll(dst []byte, _ string) []byte { return append(dst, maskFill...) }

// maskEmail shows the first character of the local part (when it has at
// least three) and the domain: "a•••@example.com".
func maskEmail(dst []byte, s string) []byte {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.IndexByte(s[at+1:], '@') >= 0 || !utf8.ValidString(s) ||
		strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return append(dst, maskFill...)
	}
	local, domain := s[:at], s[at+1:]
	if utf8.RuneCountInString(local) >= 3 {
		_, n := utf8.DecodeRuneInString(local)
		dst = append(dst, local[:n]...)
	}
	dst = append(dst, maskFill+"@"...)
	return append(dst, domain...)
}

// digitsOf returns the ASCII digits of s in buf, and false when s holds
// a character that is neither a digit nor in allowed, or more than max
// digits (at most len(buf)).
func digitsOf(buf *[19]byte, s, allowed string, max int) ([]byte, bool) {
	d := buf[:0]
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if len(d) == max {
				return nil, false
			}
			d = append(d, c)
		case strings.IndexByte(allowed, c) < 0:
			return nil, false
		}
	}
	return d, true
}

// maskPhone shows the last two digits of a number of 6 to 9 digits and
// the last four of one of 10 to 15 (E.164's maximum): "•••5678". Spaces,
// '+', '-', '.', '/' and parentheses may separate the digits.
func maskPhone(dst []byte, s string) []byte {
	var buf [19]byte
	d, ok := digitsOf(&buf, s, " +-./()", 15)
	dst = append(dst, maskFill...)
	switch {
	case !ok || len(d) < 6:
		return dst
	case len(d) < 10:
		return append(dst, d[len(d)-2:]...)
	}
	return append(dst, d[len(d)-4:]...)
}

// maskCard shows the last four digits of a card number of 12 to 19 digits
// (spaces and '-' may separate them) as a receipt does, "•••• •••• ••••
// 3749"; with sixFour, the first six and the last four, "492913••••••3749",
// when at least five digits stay hidden (15 digits or more), else the
// receipt form.
func maskCard(dst []byte, s string, sixFour bool) []byte {
	var buf [19]byte
	d, ok := digitsOf(&buf, s, " -", 19)
	if !ok || len(d) < 12 {
		return append(dst, maskFill...)
	}
	if sixFour && len(d) >= 15 {
		dst = append(dst, d[:6]...)
		for range len(d) - 10 {
			dst = append(dst, "•"...)
		}
		return append(dst, d[len(d)-4:]...)
	}
	dst = append(dst, "•••• •••• •••• "...)
	return append(dst, d[len(d)-4:]...)
}

// maskIBAN shows the country code and the last four characters of an IBAN
// whose ISO 13616 check digits verify: "DK•• •••• •••• 6243".
func maskIBAN(dst []byte, s string) []byte {
	var buf [34]byte
	b := buf[:0]
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			return append(dst, maskFill...)
		}
		if len(b) == 34 {
			return append(dst, maskFill...)
		}
		b = append(b, c)
	}
	if len(b) < 15 || !isUpper(b[0]) || !isUpper(b[1]) || !isDigit(b[2]) || !isDigit(b[3]) || ibanMod97(b) != 1 {
		return append(dst, maskFill...)
	}
	dst = append(dst, b[:2]...)
	dst = append(dst, "•• •••• •••• "...)
	return append(dst, b[len(b)-4:]...)
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// ibanMod97 is the ISO 7064 MOD 97-10 remainder of an IBAN of upper-case
// letters and digits: the first four characters moved to the end, letters
// read as 10 to 35.
func ibanMod97(b []byte) int {
	r := 0
	for i := range b {
		c := b[(i+4)%len(b)]
		if isDigit(c) {
			r = (r*10 + int(c-'0')) % 97
		} else {
			r = (r*100 + int(c-'A') + 10) % 97
		}
	}
	return r
}

// maskCPR shows that a Danish CPR number is there and nothing of it:
// "••••••-••••". Its first six digits are the birth date (DDMMYY) and its
// last four (the control digits) give the century and the sex, so no digit
// is shown. Input is ten digits, with '-' or ' ' allowed after the sixth,
// whose date part has a day 01 to 31 and a month 01 to 12.
func maskCPR(dst []byte, s string) []byte {
	var buf [19]byte
	d, ok := digitsOf(&buf, s, "", 10)
	if len(s) == 11 && (s[6] == '-' || s[6] == ' ') {
		d, ok = digitsOf(&buf, s[:6]+s[7:], "", 10)
	}
	if !ok || len(d) != 10 {
		return append(dst, maskFill...)
	}
	day, month := int(d[0]-'0')*10+int(d[1]-'0'), int(d[2]-'0')*10+int(d[3]-'0')
	if day < 1 || day > 31 || month < 1 || month > 12 {
		return append(dst, maskFill...)
	}
	return append(dst, "••••••-••••"...)
}

// maskSSN shows the last four digits of a US Social Security number,
// "•••-••-6789": nine digits, as AAA-GG-SSSS or without the dashes, never
// area 000, 666 or 900-999, group 00 or serial 0000.
func maskSSN(dst []byte, s string) []byte {
	if len(s) == 11 && s[3] == '-' && s[6] == '-' {
		s = s[:3] + s[4:6] + s[7:]
	}
	if len(s) != 9 || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return append(dst, maskFill...)
	}
	if area := s[:3]; area == "000" || area == "666" || area[0] == '9' || s[3:5] == "00" || s[5:] == "0000" {
		return append(dst, maskFill...)
	}
	return append(append(dst, "•••-••-"...), s[5:]...)
}

// maskName shows the initials of up to four words that start with a
// letter: "Ada King Lovelace" as "A. K. L.".
func maskName(dst []byte, s string) []byte {
	n := 0
	for w := range strings.FieldsSeq(s) {
		r, size := utf8.DecodeRuneInString(w)
		if !unicode.IsLetter(r) {
			continue
		}
		if n == 4 {
			break
		}
		if n > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, w[:size]...)
		dst = append(dst, '.')
		n++
	}
	if n == 0 {
		return append(dst, maskFill...)
	}
	return dst
}

// maskFirst shows the first character of a text of three characters or
// more: "L•••".
func maskFirst(dst []byte, s string) []byte {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || utf8.RuneCountInString(s[n:]) < 2 || !unicode.IsPrint(r) || unicode.IsSpace(r) {
		return append(dst, maskFill...)
	}
	return append(append(dst, s[:n]...), maskFill...)
}

// maskDate keeps the first keep bytes (4: the year, 7: the year and month)
// of an ISO 8601 date (2006-01-02, optionally followed by 'T' or ' ' and a
// time).
func maskDate(dst []byte, s string, keep int) []byte {
	if len(s) < 10 || len(s) > 10 && s[10] != 'T' && s[10] != ' ' {
		return append(dst, maskFill...)
	}
	if _, err := time.Parse(time.DateOnly, s[:10]); err != nil {
		return append(dst, maskFill...)
	}
	return append(dst, s[:keep]...)
}

// checkMask checks the mask= and view= options of a field of type t named
// name against its type, its class= and its normalize=.
func checkMask(t reflect.Type, name string, ft *fieldTag) error {
	m := ft.mask
	if m == nil {
		return nil
	}
	if m.classes != nil && ft.class != "" && !slices.Contains(m.classes, ft.class) {
		return fmt.Errorf("mask=%s does not fit class=%s; use a mask for %s data (such as mask=text), or fix the class", m.name, ft.class, ft.class)
	}
	emailLike := strings.Contains(strings.ToLower(name), "email") || strings.Contains(ft.normalize.spec, "email")
	if emailLike && !m.emailOK {
		return fmt.Errorf("mask=%s on an email address; use mask=email", m.name)
	}
	leaf := t
	for {
		switch {
		case leaf.Kind() == reflect.Slice && leaf.Elem().Kind() == reflect.Uint8:
		case leaf.Kind() == reflect.Pointer || leaf.Kind() == reflect.Slice || leaf.Kind() == reflect.Array || leaf.Kind() == reflect.Map:
			leaf = leaf.Elem()
			continue
		case reflect.PointerTo(leaf).Implements(sealerType):
			leaf = leaf.Field(0).Type // Value[T].plain
		}
		break
	}
	text := leaf.Kind() == reflect.String || leaf == nullStringType || leaf.Kind() == reflect.Slice && leaf.Elem().Kind() == reflect.Uint8
	switch {
	case m.fits == fitsAny,
		m.fits == fitsText && text,
		m.fits == fitsDate && (text || leaf == timeType):
		return nil
	}
	if leaf == timeType {
		return fmt.Errorf("mask=%s does not fit %s; use mask=year, month or text", m.name, t)
	}
	return fmt.Errorf("mask=%s does not fit %s; use mask=text", m.name, t)
}
