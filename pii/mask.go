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
	text func(s string) string
	fits maskFits
	// classes are the class= values the mask fits; nil for any.
	classes []string
	// emailOK is set for masks that fit an email address (a field with
	// normalize=email or named like one).
	emailOK bool
}

// maskTable holds every mask kind that internal/tag's schema accepts.
var maskTable = [...]*maskRow{
	{name: "email", text: maskEmail, fits: fitsText, classes: []string{"contact", "identity"}, emailOK: true},
	{name: "phone", text: maskPhone, fits: fitsText, classes: []string{"contact"}},
	{name: "card", text: func(s string) string { return maskCard(s, false) }, fits: fitsText, classes: []string{"financial"}},
	{name: "card-6-4", text: func(s string) string { return maskCard(s, true) }, fits: fitsText, classes: []string{"financial"}},
	{name: "iban", text: maskIBAN, fits: fitsText, classes: []string{"financial"}},
	{name: "cpr", text: maskCPR, fits: fitsText, classes: []string{"national_id", "identity"}},
	{name: "ssn", text: maskSSN, fits: fitsText, classes: []string{"national_id", "identity"}},
	{name: "name", text: maskName, fits: fitsText, classes: []string{"identity", "contact"}},
	{name: "first", text: maskFirst, fits: fitsText, emailOK: true},
	{name: "text", text: maskAll, fits: fitsAny, emailOK: true},
	{name: "year", text: func(s string) string { return maskDate(s, 4) }, fits: fitsDate},
	{name: "month", text: func(s string) string { return maskDate(s, 7) }, fits: fitsDate},
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
	return m.apply(s), nil
}

// apply masks one text; "" stays "".
func (m *maskRow) apply(s string) string {
	if s == "" {
		return ""
	}
	return m.text(s)
}

// applyTime masks a time, for the date masks; other masks show nothing.
func (m *maskRow) applyTime(t time.Time) string {
	switch m.name {
	case "year":
		return t.Format("2006")
	case "month":
		return t.Format("2006-01")
	}
	return maskAll("")
}

func maskAll(string) string { return maskFill }

// maskEmail shows the first character of the local part (when it has at
// least three) and the domain: "a•••@example.com".
func maskEmail(s string) string {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.IndexByte(s[at+1:], '@') >= 0 || !utf8.ValidString(s) ||
		strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return maskFill
	}
	local, domain := s[:at], s[at+1:]
	if utf8.RuneCountInString(local) < 3 {
		return maskFill + "@" + domain
	}
	_, n := utf8.DecodeRuneInString(local)
	return local[:n] + maskFill + "@" + domain
}

// digitsOf returns the ASCII digits of s, and false when s holds a
// character that is neither a digit nor in allowed.
func digitsOf(s, allowed string, max int) ([]byte, bool) {
	var d []byte
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
func maskPhone(s string) string {
	d, ok := digitsOf(s, " +-./()", 15)
	switch {
	case !ok || len(d) < 6:
		return maskFill
	case len(d) < 10:
		return maskFill + string(d[len(d)-2:])
	}
	return maskFill + string(d[len(d)-4:])
}

// maskCard shows the last four digits of a card number of 12 to 19 digits
// (spaces and '-' may separate them) as a receipt does, "•••• •••• ••••
// 3749"; with sixFour, the first six and the last four, "492913••••••3749",
// when at least five digits stay hidden (15 digits or more), else the
// receipt form.
func maskCard(s string, sixFour bool) string {
	d, ok := digitsOf(s, " -", 19)
	if !ok || len(d) < 12 {
		return maskFill
	}
	if sixFour && len(d) >= 15 {
		return string(d[:6]) + strings.Repeat("•", len(d)-10) + string(d[len(d)-4:])
	}
	return "•••• •••• •••• " + string(d[len(d)-4:])
}

// maskIBAN shows the country code and the last four characters of an IBAN
// whose ISO 13616 check digits verify: "DK•• •••• •••• 6243".
func maskIBAN(s string) string {
	b := make([]byte, 0, 34)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			return maskFill
		}
		if len(b) == 34 {
			return maskFill
		}
		b = append(b, c)
	}
	if len(b) < 15 || !isUpper(b[0]) || !isUpper(b[1]) || !isDigit(b[2]) || !isDigit(b[3]) || ibanMod97(b) != 1 {
		return maskFill
	}
	return string(b[:2]) + "•• •••• •••• " + string(b[len(b)-4:])
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
func maskCPR(s string) string {
	if len(s) == 11 && (s[6] == '-' || s[6] == ' ') {
		s = s[:6] + s[7:]
	}
	if len(s) != 10 || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return maskFill
	}
	day, month := int(s[0]-'0')*10+int(s[1]-'0'), int(s[2]-'0')*10+int(s[3]-'0')
	if day < 1 || day > 31 || month < 1 || month > 12 {
		return maskFill
	}
	return "••••••-••••"
}

// maskSSN shows the last four digits of a US Social Security number,
// "•••-••-6789": nine digits, as AAA-GG-SSSS or without the dashes, never
// area 000, 666 or 900-999, group 00 or serial 0000.
func maskSSN(s string) string {
	if len(s) == 11 && s[3] == '-' && s[6] == '-' {
		s = s[:3] + s[4:6] + s[7:]
	}
	if len(s) != 9 || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return maskFill
	}
	if area := s[:3]; area == "000" || area == "666" || area[0] == '9' || s[3:5] == "00" || s[5:] == "0000" {
		return maskFill
	}
	return "•••-••-" + s[5:]
}

// maskName shows the initials of up to four words that start with a
// letter: "Ada King Lovelace" as "A. K. L.".
func maskName(s string) string {
	var b strings.Builder
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
			b.WriteByte(' ')
		}
		b.WriteString(w[:size])
		b.WriteByte('.')
		n++
	}
	if n == 0 {
		return maskFill
	}
	return b.String()
}

// maskFirst shows the first character of a text of three characters or
// more: "L•••".
func maskFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || utf8.RuneCountInString(s[n:]) < 2 || !unicode.IsPrint(r) || unicode.IsSpace(r) {
		return maskFill
	}
	return s[:n] + maskFill
}

// maskDate keeps the first keep bytes (4: the year, 7: the year and month)
// of an ISO 8601 date (2006-01-02, optionally followed by 'T' or ' ' and a
// time).
func maskDate(s string, keep int) string {
	if len(s) < 10 || len(s) > 10 && s[10] != 'T' && s[10] != ' ' {
		return maskFill
	}
	if _, err := time.Parse(time.DateOnly, s[:10]); err != nil {
		return maskFill
	}
	return s[:keep]
}

var timeType = reflect.TypeFor[time.Time]()

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
