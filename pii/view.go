package pii

import (
	"bytes"
	"database/sql"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/tillid/tillid/internal/envelope"
	"github.com/tillid/tillid/internal/tag"
)

// A View renders structs for one audience (a role such as "support" or
// "billing") from the same tags that say how the struct is stored, so
// that one struct serves every reader without copies:
//
//	type Customer struct {
//		ID    string `json:"id"`
//		Email string `json:"email" pii:"encrypt,class=contact,mask=email,view=billing:plain"`
//		Card  string `json:"card" pii:"tokenize=card,class=financial,mask=card,view=support:hide"`
//		Notes string `json:"notes" pii:"redact"`
//	}
//
//	storage:      p.Protect(ctx, &c)                 // protected
//	API, billing: json.Marshal(billing.JSON(&c))     // {"id":"c1","email":"ada@example.com","card":"•••• •••• •••• 3749","notes":null}
//	API, support: json.Marshal(support.JSON(&c))     // {"id":"c1","email":"a•••@example.com","card":null,"notes":null}
//	API, owner:   json.Marshal(pii.Plain(&c))        // everything as it is in c
//	logs:         slog.Info("saved", "c", pii.Redacted(c))
//
// The tag option view=<role>:<sight>[+<role>:<sight>…] says how a role
// sees a field: plain (the value as it is in the struct), mask (its mask=)
// or hide (JSON null). A role a field does not name sees the field's mask
// when it has a mask=, else nothing (null); so does a subject field (the
// data subject's ID), unless its view= names the role. The keys of a
// tagged map are personal data too: unless the tag says plainkeys, a map
// seen masked shows as the list of its masked values in key order, without
// its keys, and only a role that sees it plain sees them. Untagged and "-"
// fields show as they are (untagged maps with their keys, as encoding/json
// writes them), and structs reached through them are rendered by the same
// rules. A View never decrypts: it renders the value as it is, so render a
// revealed struct; a field that still holds a stored form shows it as it
// is when plain and as "•••" when masked.
//
// A View is immutable and safe for concurrent use.
type View struct {
	role string
	// plain shows every field as it is (Plain).
	plain bool
}

// NewView returns the View of role, a name of a-z, 0-9, '_' and '-'
// starting with a letter, as view= options name it. It returns an error
// for any other role.
func NewView(role string) (*View, error) {
	if _, err := tag.ParseView(role + ":plain"); err != nil {
		return nil, fmt.Errorf("pii: view role %q: want a name such as support (a-z, 0-9, '_', '-', starting with a letter)", role)
	}
	return &View{role: role}, nil
}

// Role returns the view's role; "" for the views of [Plain] and [Masked].
func (w *View) Role() string { return w.role }

var (
	plainView  = &View{plain: true}
	maskedView = &View{}
)

// JSON returns v rendered for the view's role, as a json.Marshaler; v may
// be a struct, a pointer to one, or a slice or map of them. It is never
// modified. See [ViewValue].
func (w *View) JSON(v any) ViewValue { return ViewValue{v: v, w: w} }

// Plain returns v with every field as it is, pii.Value and pii.Text fields
// included, as a json.Marshaler: the one explicit way to send revealed
// personal data to JSON, for a response to a reader allowed to see all of
// it. Field names, "-" and omitempty follow the json tags. Without it,
// json.Marshal of a revealed struct fails on its pii.Value and pii.Text
// fields ([ErrValuePlaintext]), which refuse plaintext, while its plain
// string fields encode in clear: a string cannot refuse. Prefer a role's
// [View] where a reader needs less.
func Plain(v any) ViewValue { return ViewValue{v: v, w: plainView} }

// Masked returns v as a reader with no role sees it: each tagged field by
// its mask= or, without one, as null; untagged fields as they are.
func Masked(v any) ViewValue { return ViewValue{v: v, w: maskedView} }

// ViewValue is a value rendered for a [View]'s audience. Its MarshalJSON
// writes the view; its String, Format and LogValue show [Redacted]
// instead, so that a view passed to a logger by mistake logs no personal
// data. It is safe for concurrent use if the value is not being changed.
type ViewValue struct {
	v any
	w *View
}

// MarshalJSON implements json.Marshaler. Structs become objects named by
// their json tags (embedded structs without a json name are inlined, each
// name written once, the first), slices and arrays arrays ([]byte base64,
// as encoding/json does), maps objects with sorted keys, and types that
// implement json.Marshaler or encoding.TextMarshaler and hold no tagged
// field encode themselves. It returns [ErrTooDeep] past 1,000 levels (a
// pointer cycle), an error wrapping [ErrInvalidValue] that names the type
// when a tagged value does not encode (its marshaller's own error, which
// may quote the value, is not passed on), and the errors of untagged types'
// MarshalJSON.
func (x ViewValue) MarshalJSON() ([]byte, error) {
	if x.v == nil {
		return []byte("null"), nil
	}
	e := viewPool.Get().(*viewEncoder)
	defer e.release()
	e.w = x.w
	if x.w == nil {
		e.w = maskedView
	}
	if err := e.value(reflect.ValueOf(x.v), 0); err != nil {
		return nil, err
	}
	return bytes.Clone(e.buf), nil
}

var viewPool = sync.Pool{New: func() any { return new(viewEncoder) }}

// release returns e to the pool, unless a large value made its buffers too
// large to keep.
func (e *viewEncoder) release() {
	if cap(e.buf) > 64<<10 || cap(e.scratch) > 64<<10 {
		return
	}
	e.w, e.buf, e.scratch = nil, e.buf[:0], e.scratch[:0]
	viewPool.Put(e)
}

// String returns [Redacted] of the value, never the view.
func (x ViewValue) String() string { return Redacted(x.v).String() }

// Format prints [Redacted] of the value for every verb.
func (x ViewValue) Format(f fmt.State, verb rune) { Redacted(x.v).Format(f, verb) }

// LogValue returns [Redacted] of the value.
func (x ViewValue) LogValue() slog.Value { return Redacted(x.v).LogValue() }

var (
	_ json.Marshaler = ViewValue{}
	_ slog.LogValuer = ViewValue{}
	_ fmt.Formatter  = ViewValue{}
)

// viewField is how a view writes one struct field.
type viewField struct {
	index int
	// key is the quoted JSON name and ':'.
	key       []byte
	omitEmpty bool
	// inline is set for an embedded struct written into its parent.
	inline bool
	// tag is the field's parsed pii tag, nil when it has none or is "-".
	tag *fieldTag
	// basic is set for an untagged field of a string, bool or integer kind
	// that does not marshal itself.
	basic bool
}

// viewFields is the part of a struct's plan that views use: built once,
// from the plan's parsed tags and the json tags.
type viewFields struct {
	once   sync.Once
	fields []viewField
}

func (p *typePlan) viewFields() []viewField {
	p.view.once.Do(func() {
		t := p.typ
		for i := range t.NumField() {
			f := t.Field(i)
			elem := f.Type
			if elem.Kind() == reflect.Pointer {
				elem = elem.Elem()
			}
			if !f.IsExported() && !(f.Anonymous && elem.Kind() == reflect.Struct) {
				continue // encoding/json's rule
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" && opts == "" {
				continue
			}
			vf := viewField{index: i, omitEmpty: slices.Contains(strings.Split(opts, ","), "omitempty")}
			if ft := p.tags[i]; ft != nil && ft.act != nil && ft.act != skipAction {
				vf.tag = ft
			}
			if f.Anonymous && name == "" && elem.Kind() == reflect.Struct && vf.tag == nil {
				vf.inline = true
			} else if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			switch f.Type.Kind() {
			case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
				reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				vf.basic = vf.tag == nil && !implementsMarshaler(f.Type)
			}
			vf.key = append(appendJSONString(nil, name), ':')
			p.view.fields = append(p.view.fields, vf)
		}
	})
	return p.view.fields
}

// viewEncoder writes one ViewValue.
type viewEncoder struct {
	w   *View
	buf []byte
	// scratch holds a mask before it is escaped into buf.
	scratch []byte
}

// appendMasked appends the JSON string of a mask that mask wrote into
// the scratch buffer.
func (e *viewEncoder) appendMasked(mask func(dst []byte) []byte) {
	e.scratch = mask(e.scratch[:0])
	e.buf = appendJSONString(e.buf, unsafe.String(unsafe.SliceData(e.scratch), len(e.scratch)))
}

const viewMaxDepth = 1000

// sight returns how the view shows a field tagged ft.
func (e *viewEncoder) sight(ft *fieldTag) tag.Sight {
	if e.w.plain {
		return tag.SightPlain
	}
	if e.w.role != "" {
		for _, r := range ft.view {
			if r.Role == e.w.role {
				return r.Sight
			}
		}
	}
	if ft.mask != nil {
		return tag.SightMask
	}
	return tag.SightHide
}

// value writes an untagged value.
func (e *viewEncoder) value(v reflect.Value, depth int) error {
	if depth > viewMaxDepth {
		return fmt.Errorf("%w: view", ErrTooDeep)
	}
	switch v.Kind() {
	case reflect.Invalid:
		e.buf = append(e.buf, "null"...)
		return nil
	case reflect.String:
		if !implementsMarshaler(v.Type()) {
			e.buf = appendJSONString(e.buf, v.String())
			return nil
		}
	case reflect.Bool:
		e.buf = strconv.AppendBool(e.buf, v.Bool())
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !implementsMarshaler(v.Type()) {
			e.buf = strconv.AppendInt(e.buf, v.Int(), 10)
			return nil
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if !implementsMarshaler(v.Type()) {
			e.buf = strconv.AppendUint(e.buf, v.Uint(), 10)
			return nil
		}
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		if v.Kind() == reflect.Interface || !implementsMarshaler(v.Type()) || !opaque(v.Type()) {
			return e.value(v.Elem(), depth+1)
		}
	case reflect.Struct:
		if !opaque(v.Type()) {
			e.buf = append(e.buf, '{')
			first := true
			if err := e.structFields(v, &first, depth); err != nil {
				return err
			}
			e.buf = append(e.buf, '}')
			return nil
		}
	case reflect.Slice, reflect.Array, reflect.Map:
		if !implementsMarshaler(v.Type()) && !(v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8) {
			return e.container(v, true, func(x reflect.Value) error { return e.value(x, depth+1) })
		}
	}
	if !v.CanInterface() {
		e.buf = append(e.buf, "null"...)
		return nil
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return err
	}
	e.buf = append(e.buf, b...)
	return nil
}

// basic writes a value of a string, bool or integer kind.
func (e *viewEncoder) basic(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		e.buf = appendJSONString(e.buf, v.String())
	case reflect.Bool:
		e.buf = strconv.AppendBool(e.buf, v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.buf = strconv.AppendInt(e.buf, v.Int(), 10)
	default:
		e.buf = strconv.AppendUint(e.buf, v.Uint(), 10)
	}
}

func implementsMarshaler(t reflect.Type) bool {
	return t.Implements(jsonMarshaler) || t.Implements(textMarshalerType) ||
		reflect.PointerTo(t).Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(textMarshalerType)
}

// structFields writes the fields of struct v, without braces.
func (e *viewEncoder) structFields(v reflect.Value, first *bool, depth int) error {
	p := planFor(v.Type())
	if p.err != nil {
		return p.err
	}
	for _, f := range p.viewFields() {
		fv := v.Field(f.index)
		if f.inline {
			if fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					continue
				}
				fv = fv.Elem()
			}
			if err := e.structFields(fv, first, depth+1); err != nil {
				return err
			}
			continue
		}
		if f.omitEmpty && isEmptyJSON(fv) {
			continue
		}
		if !*first {
			e.buf = append(e.buf, ',')
		}
		*first = false
		e.buf = append(e.buf, f.key...)
		var err error
		switch {
		case f.basic:
			e.basic(fv)
		case f.tag == nil:
			err = e.value(fv, depth+1)
		default:
			// The error of a tagged value's own marshaller may quote the
			// value: it is not passed on.
			if err = e.tagged(fv, f.tag, e.sight(f.tag), depth+1); err != nil && !errors.Is(err, ErrTooDeep) {
				err = fmt.Errorf("%w: view: encoding the tagged %s failed", ErrInvalidValue, fv.Type())
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// isEmptyJSON is encoding/json's omitempty test.
func isEmptyJSON(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// viewer is how a view reads a pii.Value without knowing its T.
type viewer interface {
	piiViewJSON() ([]byte, error)
	piiViewMask(dst []byte, m *maskRow) []byte
	IsNull() bool
	IsProtected() bool
}

// piiViewJSON returns the JSON of the plaintext, or of the stored form.
func (v Value[T]) piiViewJSON() ([]byte, error) {
	if v.state == valueProtected {
		return json.Marshal(v.sealed)
	}
	return json.Marshal(v.plain)
}

// piiViewMask masks the plaintext: a string T as text, a time.Time by
// date; any other T and a stored form show nothing.
func (v Value[T]) piiViewMask(dst []byte, m *maskRow) []byte {
	if v.state == valuePlain {
		switch x := any(v.plain).(type) {
		case string:
			return m.apply(dst, x)
		case time.Time:
			return m.applyTime(dst, x)
		}
	}
	return append(dst, maskFill...)
}

// tagged writes a value of a tagged field seen with sight s.
func (e *viewEncoder) tagged(v reflect.Value, ft *fieldTag, s tag.Sight, depth int) error {
	if depth > viewMaxDepth {
		return fmt.Errorf("%w: view", ErrTooDeep)
	}
	if s == tag.SightHide {
		e.buf = append(e.buf, "null"...)
		return nil
	}
	if v.Type() == nullStringType {
		ns := sql.NullString{String: v.Field(0).String(), Valid: v.Field(1).Bool()}
		if !ns.Valid {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		v = reflect.ValueOf(ns.String)
	}
	if v.Kind() == reflect.Struct && v.CanInterface() {
		if x, ok := v.Interface().(viewer); ok {
			switch {
			case x.IsNull():
				e.buf = append(e.buf, "null"...)
			case s == tag.SightMask:
				e.appendMasked(func(dst []byte) []byte { return x.piiViewMask(dst, ft.mask) })
			default:
				b, err := x.piiViewJSON()
				if err != nil {
					return err
				}
				e.buf = append(e.buf, b...)
			}
			return nil
		}
	}
	switch v.Kind() {
	case reflect.String:
		if s == tag.SightMask {
			e.appendMasked(func(dst []byte) []byte { return maskText(dst, ft.mask, v.String()) })
		} else {
			e.buf = appendJSONString(e.buf, v.String())
		}
		return nil
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			switch {
			case v.IsNil():
				e.buf = append(e.buf, "null"...)
			case s == tag.SightMask:
				e.appendMasked(func(dst []byte) []byte { return maskText(dst, ft.mask, string(v.Bytes())) })
			default:
				e.buf = append(e.buf, '"')
				e.buf = base64.StdEncoding.AppendEncode(e.buf, v.Bytes())
				e.buf = append(e.buf, '"')
			}
			return nil
		}
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		return e.tagged(v.Elem(), ft, s, depth+1)
	case reflect.Struct:
		if v.Type() == timeType && s == tag.SightMask && v.CanInterface() {
			e.appendMasked(func(dst []byte) []byte { return ft.mask.applyTime(dst, v.Interface().(time.Time)) })
			return nil
		}
	}
	if k := v.Kind(); k == reflect.Slice || k == reflect.Array || k == reflect.Map {
		// The keys of a tagged map are personal data unless the tag says
		// plainkeys: a reader who sees its values masked sees no key.
		withKeys := s == tag.SightPlain || ft.plainKeys
		return e.container(v, withKeys, func(x reflect.Value) error { return e.tagged(x, ft, s, depth+1) })
	}
	if s == tag.SightMask {
		e.buf = appendJSONString(e.buf, maskFill) // mask=text on a type of its own
		return nil
	}
	return e.value(v, depth)
}

// maskText masks s by m; a stored form (which only a field that was not
// revealed holds) shows nothing.
func maskText(dst []byte, m *maskRow, s string) []byte {
	if envelope.HasPrefixString(s) {
		return append(dst, maskFill...)
	}
	return m.apply(dst, s)
}

// container writes a slice, array or map, each element by elem; a map as
// an object with sorted keys when withKeys is set, else as the list of its
// values in the order of their keys.
func (e *viewEncoder) container(v reflect.Value, withKeys bool, elem func(reflect.Value) error) error {
	if v.Kind() != reflect.Array && v.IsNil() {
		e.buf = append(e.buf, "null"...)
		return nil
	}
	if v.Kind() != reflect.Map {
		e.buf = append(e.buf, '[')
		for i := range v.Len() {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := elem(v.Index(i)); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
		return nil
	}
	entries, err := sortedEntries(v)
	if err != nil {
		return err
	}
	open, close := byte('{'), byte('}')
	if !withKeys {
		open, close = '[', ']'
	}
	e.buf = append(e.buf, open)
	for i, x := range entries {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		if withKeys {
			e.buf = append(appendJSONString(e.buf, x.key), ':')
		}
		if err := elem(x.v); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, close)
	return nil
}

// mapEntry is one entry of a map, its key as JSON text.
type mapEntry struct {
	key string
	v   reflect.Value
}

// sortedEntries returns the entries of map v in the order of their keys'
// JSON text.
func sortedEntries(v reflect.Value) ([]mapEntry, error) {
	entries := make([]mapEntry, 0, v.Len())
	for it := v.MapRange(); it.Next(); {
		k, err := mapKeyText(it.Key())
		if err != nil {
			return nil, err
		}
		entries = append(entries, mapEntry{k, it.Value()})
	}
	slices.SortFunc(entries, func(a, b mapEntry) int { return strings.Compare(a.key, b.key) })
	return entries, nil
}

// mapKeyText is encoding/json's text of a map key: a string, an
// encoding.TextMarshaler or an integer.
func mapKeyText(k reflect.Value) (string, error) {
	if k.Kind() == reflect.String {
		return k.String(), nil
	}
	if !k.CanInterface() {
		return "", fmt.Errorf("pii: view: unexported map key type %s", k.Type())
	}
	if tm, ok := k.Interface().(encoding.TextMarshaler); ok {
		b, err := tm.MarshalText()
		return string(b), err
	}
	switch k.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(k.Uint(), 10), nil
	}
	return "", fmt.Errorf("pii: view: unsupported map key type %s", k.Type())
}

// appendJSONString appends s as a JSON string, escaped as encoding/json
// does (HTML characters and U+2028/U+2029 included; invalid UTF-8 as
// U+FFFD).
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c == 0xe2 && i+2 < len(s) && s[i+1] == 0x80 && s[i+2] == 0xa2 {
			i += 3 // '•', which masks are full of
			continue
		}
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			if r == utf8.RuneError {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
