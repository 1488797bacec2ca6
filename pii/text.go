package pii

import (
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"

	"github.com/tillid/tillid/internal/envelope"
)

// Text is a string for a tagged field that, like [Value], refuses to hand
// plaintext to a database driver or to encoding/json, for teams that want
// the guard on every column: a plain string field is written in clear by
// whatever code forgets to call Protect, a Text field is not.
//
//	type Customer struct {
//		ID    string   `pii:"-"`
//		Email pii.Text `pii:"deterministic,class=contact"`
//		Name  pii.Text `pii:"encrypt,class=identity,aad=ID"`
//	}
//
// A Text is a string in every other way (compare it, convert it with
// string(t)), and every action that takes a string takes it. Its Value and
// MarshalJSON pass on the empty string and a value that starts with a
// tillid stored-value prefix ("tl1e:", "tl1d:", "tl1t:", …) and fail with
// [ErrValuePlaintext] for anything else. Protect never leaves a plaintext
// that looks like a stored value (it verifies look-alikes), so after
// Protect that check is exact; it is a guard against forgetting Protect,
// not a check that a value authenticates, which Reveal does. Its String,
// Format and LogValue never show the value. A Text field without a pii tag
// is an [ErrInvalidTag]. Use *pii.Text for a nullable column.
type Text string

// errTextPlaintext is what a Text in the clear returns.
var errTextPlaintext = fmt.Errorf("%w (a pii.Text)", ErrValuePlaintext)

// stored reports whether t may be handed out: empty, or a stored form.
func (t Text) stored() bool { return t == "" || envelope.HasPrefixString(string(t)) }

// Value implements driver.Valuer: the string when it is empty or a stored
// form, else an error wrapping [ErrValuePlaintext], so plaintext never
// reaches a database.
func (t Text) Value() (driver.Value, error) {
	if !t.stored() {
		return nil, errTextPlaintext
	}
	return string(t), nil
}

// Scan implements sql.Scanner: a string or []byte column value is copied
// as it is (Reveal checks it). NULL is an error: scan a nullable column
// into a *pii.Text, which database/sql sets to nil.
func (t *Text) Scan(src any) error {
	switch s := src.(type) {
	case string:
		*t = Text(s)
	case []byte:
		*t = Text(s)
	case nil:
		return fmt.Errorf("pii: Text.Scan: NULL; scan a nullable column into a *pii.Text")
	default:
		return fmt.Errorf("pii: Text.Scan: cannot scan %T; the column must be text", src)
	}
	return nil
}

// MarshalJSON encodes an empty or stored Text as a JSON string, and fails
// with an error wrapping [ErrValuePlaintext] for plaintext: send revealed
// values with [Plain] or a [View].
func (t Text) MarshalJSON() ([]byte, error) {
	if !t.stored() {
		return nil, errTextPlaintext
	}
	return json.Marshal(string(t))
}

// String returns "pii.Text(empty)", "pii.Text(protected)" or
// "pii.Text(plaintext)"; never the value.
func (t Text) String() string {
	switch {
	case t == "":
		return "pii.Text(empty)"
	case t.stored():
		return "pii.Text(protected)"
	}
	return "pii.Text(plaintext)"
}

// Format implements fmt.Formatter so that every verb, %#v and %+v
// included, prints String.
func (t Text) Format(f fmt.State, _ rune) { fmt.Fprint(f, t.String()) }

// LogValue implements slog.LogValuer with String.
func (t Text) LogValue() slog.Value { return slog.StringValue(t.String()) }

var textType = reflect.TypeFor[Text]()

var (
	_ driver.Valuer  = Text("")
	_ sql.Scanner    = (*Text)(nil)
	_ json.Marshaler = Text("")
	_ slog.LogValuer = Text("")
)
