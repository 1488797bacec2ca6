package pii

import (
	"database/sql"
	"database/sql/driver"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"

	"github.com/tillid/tillid/internal/envelope"
)

// Value holds a value of a type other than string or []byte, such as an
// int64, a float64, a bool, a time.Time or any type implementing
// encoding.BinaryMarshaler or encoding.TextMarshaler, so that a tagged field
// of that type can be protected. A Value is in one of three states: null (the
// zero Value, like SQL NULL or a nil pointer), plaintext (after [NewValue]
// or Reveal) and protected (after Protect, Scan or
// UnmarshalJSON of a ciphertext).
//
//	type Patient struct {
//		ID       string                `pii:"-"`
//		Born     pii.Value[time.Time]  `pii:"encrypt,class=health,aad=ID"`
//		Weight   pii.Value[float64]    `pii:"encrypt,class=health,aad=ID"`
//	}
//
// Value implements database/sql's Scanner and driver.Valuer and
// encoding/json's Marshaler and Unmarshaler so that only ciphertext leaves
// it: Value (the driver.Valuer method) and MarshalJSON return an error in the
// plaintext state. Its String, Format and LogValue never show the plaintext.
// A Value is not safe for concurrent mutation.
//
// The plaintext is encoded before encryption as MarshalBinary, else
// MarshalText, else: strings as their bytes, booleans as "true" or "false",
// integers and floats in decimal (strconv, shortest form for floats). So a
// time.Time keeps its instant and its zone offset, but not its Location's
// name (as with time.Time.MarshalBinary).
type Value[T any] struct {
	plain  T
	sealed string
	state  valueState
}

type valueState uint8

const (
	valueNull valueState = iota
	valuePlain
	valueProtected
)

// NewValue returns a Value holding v in the plaintext state.
func NewValue[T any](v T) Value[T] { return Value[T]{plain: v, state: valuePlain} }

// Get returns the plaintext and true in the plaintext state, and the zero T
// and false when the Value is null or protected.
func (v Value[T]) Get() (T, bool) {
	if v.state != valuePlain {
		var zero T
		return zero, false
	}
	return v.plain, true
}

// IsNull reports whether v is null.
func (v Value[T]) IsNull() bool { return v.state == valueNull }

// IsProtected reports whether v holds a ciphertext.
func (v Value[T]) IsProtected() bool { return v.state == valueProtected }

// ErrValuePlaintext is returned by [Value.Value] and [Value.MarshalJSON] for
// a Value in the plaintext state: protect it first.
var ErrValuePlaintext = errors.New("pii: Value holds plaintext; Protect the struct before storing or encoding it")

// Value implements driver.Valuer: nil when null, the ciphertext string when
// protected, and [ErrValuePlaintext] in the plaintext state, so plaintext
// never reaches a database.
func (v Value[T]) Value() (driver.Value, error) {
	switch v.state {
	case valueNull:
		return nil, nil
	case valueProtected:
		return v.sealed, nil
	}
	return nil, ErrValuePlaintext
}

// Scan implements sql.Scanner: NULL gives a null Value; a string or []byte
// gives a protected Value holding a copy of it, checked only by Reveal.
func (v *Value[T]) Scan(src any) error {
	switch s := src.(type) {
	case nil:
		*v = Value[T]{}
	case string:
		*v = Value[T]{sealed: s, state: valueProtected}
	case []byte:
		*v = Value[T]{sealed: string(s), state: valueProtected}
	default:
		return fmt.Errorf("pii: Value.Scan: cannot scan %T; the column must be text", src)
	}
	return nil
}

// MarshalJSON encodes a null Value as null and a protected Value as the
// ciphertext string. It returns [ErrValuePlaintext] in the plaintext state.
func (v Value[T]) MarshalJSON() ([]byte, error) {
	switch v.state {
	case valueNull:
		return []byte("null"), nil
	case valueProtected:
		return json.Marshal(v.sealed)
	}
	return nil, ErrValuePlaintext
}

// UnmarshalJSON reads null as a null Value, a string that starts with a
// tillid ciphertext prefix as a protected Value, and anything else as a
// plaintext T (through encoding/json), so that requests can carry plaintext
// and stored documents ciphertext.
func (v *Value[T]) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*v = Value[T]{}
		return nil
	}
	var s string
	if json.Unmarshal(b, &s) == nil && envelope.HasPrefixString(s) {
		*v = Value[T]{sealed: s, state: valueProtected}
		return nil
	}
	var x T
	if err := json.Unmarshal(b, &x); err != nil {
		return fmt.Errorf("pii: Value: cannot decode JSON into %s", reflect.TypeFor[T]())
	}
	*v = NewValue(x)
	return nil
}

// String returns "pii.Value(null)", "pii.Value(protected)" or
// "pii.Value(plaintext)"; never the value.
func (v Value[T]) String() string {
	switch v.state {
	case valueNull:
		return "pii.Value(null)"
	case valueProtected:
		return "pii.Value(protected)"
	}
	return "pii.Value(plaintext)"
}

// Format implements fmt.Formatter so that every verb, %#v and %+v
// included, prints String.
func (v Value[T]) Format(f fmt.State, _ rune) { fmt.Fprint(f, v.String()) }

// LogValue implements slog.LogValuer with String.
func (v Value[T]) LogValue() slog.Value { return slog.StringValue(v.String()) }

// GormDataType returns "text": the column type that GORM's AutoMigrate gives
// a Value field, since a Value is stored as a ciphertext string whatever T
// is (a timestamptz or integer column would refuse it). It is a plain
// method, so this package does not import GORM.
func (Value[T]) GormDataType() string { return "text" }

// sealer is how the engine reads and writes a Value without knowing T.
type sealer interface {
	piiCheck() error
	piiLowCardinality() bool
	piiState() (state valueState, sealed string)
	piiEncode() ([]byte, error)
	piiWithSealed(s string) reflect.Value
	piiWithPlain(b []byte) (reflect.Value, error)
}

var (
	_ sealer        = (*Value[int])(nil)
	_ sql.Scanner   = (*Value[int])(nil)
	_ driver.Valuer = Value[int]{}
)

func (v *Value[T]) piiState() (valueState, string) { return v.state, v.sealed }

func (v *Value[T]) piiWithSealed(s string) reflect.Value {
	return reflect.ValueOf(Value[T]{sealed: s, state: valueProtected})
}

func (v *Value[T]) piiCheck() error {
	t := reflect.TypeFor[T]()
	pt := reflect.PointerTo(t)
	switch { // methods on T or on *T (big.Int's are on *Int)
	case pt.Implements(binaryMarshalerType) && pt.Implements(binaryUnmarshalerType),
		pt.Implements(textMarshalerType) && pt.Implements(textUnmarshalerType):
		return nil
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil
		}
	}
	return fmt.Errorf("pii.Value[%s]: %s is neither a string, bool, integer or float kind nor implements encoding.BinaryMarshaler or TextMarshaler (with the matching Unmarshaler on its pointer)", t, t)
}

// piiLowCardinality reports whether T has so few values that deterministic
// encryption would reveal them by frequency: bool and 8- and 16-bit integers.
func (v *Value[T]) piiLowCardinality() bool {
	switch reflect.TypeFor[T]().Kind() {
	case reflect.Bool, reflect.Int8, reflect.Uint8, reflect.Int16, reflect.Uint16:
		return true
	}
	return false
}

var (
	binaryMarshalerType   = reflect.TypeFor[encoding.BinaryMarshaler]()
	binaryUnmarshalerType = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	textUnmarshalerType   = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func (v *Value[T]) piiEncode() ([]byte, error) {
	if x, ok := any(&v.plain).(encoding.BinaryMarshaler); ok {
		if _, ok := any(&v.plain).(encoding.BinaryUnmarshaler); ok {
			return x.MarshalBinary()
		}
	}
	if x, ok := any(&v.plain).(encoding.TextMarshaler); ok {
		if _, ok := any(&v.plain).(encoding.TextUnmarshaler); ok {
			return x.MarshalText()
		}
	}
	rv := reflect.ValueOf(&v.plain).Elem()
	switch rv.Kind() {
	case reflect.String:
		return []byte(rv.String()), nil
	case reflect.Bool:
		return strconv.AppendBool(nil, rv.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(nil, rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.AppendUint(nil, rv.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		return strconv.AppendFloat(nil, rv.Float(), 'g', -1, rv.Type().Bits()), nil
	case reflect.Slice:
		return append([]byte{}, rv.Bytes()...), nil
	}
	return nil, fmt.Errorf("pii.Value[%s]: unsupported type", rv.Type())
}

func (v *Value[T]) piiWithPlain(b []byte) (reflect.Value, error) {
	// One allocation: the new Value, which the returned reflect.Value
	// addresses (a Value held by value would be boxed a second time).
	out := new(Value[T])
	out.state = valuePlain
	p := &out.plain
	bad := func() (reflect.Value, error) {
		return reflect.Value{}, fmt.Errorf("%w: revealed bytes do not decode as %s", ErrDecryption, reflect.TypeFor[T]())
	}
	if x, ok := any(p).(encoding.BinaryUnmarshaler); ok {
		if _, ok := any(p).(encoding.BinaryMarshaler); ok {
			if x.UnmarshalBinary(b) != nil {
				return bad()
			}
			return reflect.ValueOf(out).Elem(), nil
		}
	}
	if x, ok := any(p).(encoding.TextUnmarshaler); ok {
		if _, ok := any(p).(encoding.TextMarshaler); ok {
			if x.UnmarshalText(b) != nil {
				return bad()
			}
			return reflect.ValueOf(out).Elem(), nil
		}
	}
	rv := reflect.ValueOf(p).Elem()
	s := string(b)
	switch rv.Kind() {
	case reflect.String:
		rv.SetString(s)
	case reflect.Bool:
		x, err := strconv.ParseBool(s)
		if err != nil {
			return bad()
		}
		rv.SetBool(x)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		x, err := strconv.ParseInt(s, 10, rv.Type().Bits())
		if err != nil {
			return bad()
		}
		rv.SetInt(x)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		x, err := strconv.ParseUint(s, 10, rv.Type().Bits())
		if err != nil {
			return bad()
		}
		rv.SetUint(x)
	case reflect.Float32, reflect.Float64:
		x, err := strconv.ParseFloat(s, rv.Type().Bits())
		if err != nil {
			return bad()
		}
		rv.SetFloat(x)
	case reflect.Slice:
		rv.SetBytes(append([]byte{}, b...))
	default:
		return bad()
	}
	return reflect.ValueOf(out).Elem(), nil
}
