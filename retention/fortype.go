package retention

import (
	"fmt"
	"reflect"
	"strings"
	"unicode"

	"github.com/tillid/tillid/pii"
)

// ForType returns the Table of rows of v's struct type (a struct, a
// pointer to one or a reflect.Type) stored in table with the key column
// key (an integer, text or uuid column), from the type's pii tags
// ([pii.RetentionOf]): one Rule per retain= field (and per blind index
// that follows its sources' rule), the record rule of its blank field, its
// hold and subject fields, and its tokenize= columns ([Table.Tokens]). column maps a Go field name to its column; nil means
// [SnakeCase] ("CreatedAt" is created_at). A rule clears a column to NULL
// when its Go type can hold nil (a pointer, slice or map) or is a struct
// (sql.NullString, pii.Text), else to the type's zero value ("" or 0), so
// that the application reads it back. A protected field ([pii.RetentionRule]
// Sealed: encrypt, deterministic, tokenize=, pseudonym) of a plain string
// type is refused with the fix: Protect protects "" as well, so Reveal
// refuses the ” a sweep would write, and a NULL does not scan into a
// string. It returns the type's pii.ErrInvalidTag error, and an error for
// a type without retention rules.
func ForType(v any, table, key string, column func(field string) string) (Table, error) {
	pol, err := pii.RetentionOf(v)
	if err != nil {
		return Table{}, err
	}
	if len(pol.Rules) == 0 {
		return Table{}, fmt.Errorf("retention: %s has no retain= field and no record rule", pol.Type)
	}
	if column == nil {
		column = SnakeCase
	}
	t := Table{Name: table, Key: key}
	if pol.Subject != "" {
		t.Subject = column(pol.Subject)
	}
	if pol.Hold != "" {
		t.Hold = Hold{Column: column(pol.Hold), Time: pol.HoldTime}
	}
	for _, tf := range pol.Tokens {
		t.Tokens = append(t.Tokens, TokenColumn{Column: column(tf.Field), Domain: tf.Domain})
	}
	for _, r := range pol.Rules {
		rule := Rule{Name: r.Path, Retain: r.RetainFor, From: column(r.From), Then: r.Then, Purpose: r.Purpose}
		if r.Then == pii.ThenRedact {
			if r.Sealed && !r.Nullable && r.Kind == reflect.String {
				return Table{}, fmt.Errorf("retention: %s: then=redact would clear a protected string field to '', which Reveal refuses as plaintext (pii.ErrNotProtected); give the field a type that holds NULL: sql.NullString, *string or pii.Text", r.Path)
			}
			rule.Column = column(r.Field)
			rule.Zero = zeroOf(r)
		}
		t.Rules = append(t.Rules, rule)
	}
	if err := t.check(); err != nil {
		return Table{}, err
	}
	return t, nil
}

// zeroOf is what a redact rule writes in the column of field r.
func zeroOf(r pii.RetentionRule) any {
	switch {
	case r.Nullable:
		return nil
	case r.Kind == reflect.String:
		return ""
	case r.Kind == reflect.Bool:
		return false
	case r.Kind >= reflect.Int && r.Kind <= reflect.Uint64:
		return int64(0)
	case r.Kind == reflect.Float32 || r.Kind == reflect.Float64:
		return float64(0)
	}
	return nil
}

// SnakeCase returns a Go field name in snake case, the column naming most
// Go SQL code uses: "Notes" is notes, "CreatedAt" created_at, "UserID"
// user_id, "HTTPPort" http_port.
func SnakeCase(field string) string {
	rs := []rune(field)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) {
			// A word starts at an upper-case letter after a lower-case one,
			// or before a lower-case one that follows upper-case ones.
			if i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1])) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
