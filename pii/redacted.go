package pii

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// redactedText replaces every tagged value in the output of [Redacted].
const redactedText = "[redacted]"

// Redacted returns a view of v that is safe to log, print and encode: every
// field with a pii tag (except "-" and hold) shows as "[redacted]", the data
// subject's ID of a `pii:"subject"` field included (it identifies a person;
// correlate logs through keys.SubjectKeys.Pseudonym instead), in v itself and in
// every struct reachable through fields, pointers, slices, arrays and maps.
// Unexported fields are left out; structs inside interface values are
// redacted like the rest; maps show as the list of their values, without
// their keys (which may be personal data and cannot be tagged); errors show
// as their Error text, in which every wrapped error of a type with tagged
// fields shows redacted (a tagged error itself shows as its fields); a type
// with tagged fields is never shown through its own LogValue, String,
// Error, MarshalJSON, MarshalText or Format method: the plan wins; v is
// never modified. The view implements
// slog.LogValuer (a group of the fields), fmt.Formatter (every verb prints
// the same redacted text; %#v and %+v included), fmt.Stringer and
// json.Marshaler, so no log or format path bypasses it.
//
// The view is built when it is used, so log it right away; it is safe for
// concurrent use if v is not being changed. Values nesting more than 32
// levels are cut with "[…]", and pointer cycles show as "[cycle]".
func Redacted(v any) RedactedValue { return RedactedValue{v: v} }

// RedactedValue is the view returned by [Redacted].
type RedactedValue struct{ v any }

// rnode is one redacted value: a leaf text, or ordered children.
type rnode struct {
	leaf string
	// val is the scalar of a basic kind behind a leaf, read with scalar
	// when the leaf is written (so that slog needs no text of it); invalid
	// for text leaves.
	val      reflect.Value
	isNull   bool
	children []rchild
	list     bool // children are a list, not named fields
	group    bool // children are named fields (a struct)
}

type rchild struct {
	name string
	node rnode
}

const redactMaxDepth = 32

func (r RedactedValue) tree() rnode {
	if r.v == nil {
		return rnode{isNull: true, leaf: "<nil>"}
	}
	return redactValue(reflect.ValueOf(r.v), nil, 0)
}

func redactValue(v reflect.Value, seen []uintptr, depth int) rnode {
	if depth > redactMaxDepth {
		return rnode{leaf: "[…]"}
	}
	if k := v.Kind(); (k == reflect.Pointer || k == reflect.Interface) && !v.IsNil() && v.CanInterface() {
		if err, ok := v.Interface().(error); ok && errOpaque(reflect.TypeOf(err)) {
			return rnode{leaf: errRedacted(err, depth)}
		}
	}
	switch v.Kind() {
	case reflect.Invalid:
		return rnode{isNull: true, leaf: "<nil>"}
	case reflect.Pointer:
		if v.IsNil() {
			return rnode{isNull: true, leaf: "<nil>"}
		}
		if slices.Contains(seen, v.Pointer()) {
			return rnode{leaf: "[cycle]"}
		}
		return redactValue(v.Elem(), append(seen, v.Pointer()), depth+1)
	case reflect.Interface:
		if v.IsNil() {
			return rnode{isNull: true, leaf: "<nil>"}
		}
		return redactValue(v.Elem(), seen, depth+1)
	case reflect.Struct:
		return redactStruct(v, seen, depth)
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return rnode{isNull: true, leaf: "[]"}
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return rnode{leaf: fmt.Sprintf("[%d bytes]", v.Len())}
		}
		n := rnode{list: true}
		for i := range v.Len() {
			n.children = append(n.children, rchild{node: redactValue(v.Index(i), seen, depth+1)})
		}
		return n
	case reflect.Map:
		// Map keys may be personal data (a map by email address) and cannot
		// carry a tag, so a map shows as the list of its values, in the
		// order of their keys, without the keys.
		if v.IsNil() {
			return rnode{isNull: true, leaf: "[]"}
		}
		n := rnode{list: true}
		keys := v.MapKeys()
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = fmt.Sprint(scalar(k))
		}
		order := make([]int, len(keys))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return strings.Compare(names[a], names[b]) })
		for _, i := range order {
			n.children = append(n.children, rchild{node: redactValue(v.MapIndex(keys[i]), seen, depth+1)})
		}
		return n
	}
	return rnode{val: v}
}

// scalar returns the plain value of a basic kind, read through reflect so
// that neither a String method nor an unexported field is involved.
func scalar(v reflect.Value) any {
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint()
	case reflect.Float32, reflect.Float64:
		return v.Float()
	case reflect.Complex64, reflect.Complex128:
		return v.Complex()
	}
	return "[" + v.Kind().String() + "]"
}

func redactStruct(v reflect.Value, seen []uintptr, depth int) rnode {
	t := v.Type()
	// Opaque values that print themselves and hold no tagged fields, such as
	// time.Time, are shown through their own text.
	if v.CanInterface() {
		if err, ok := v.Interface().(error); ok {
			if errOpaque(t) {
				return rnode{leaf: errRedacted(err, depth)}
			}
		} else if x, ok := v.Interface().(fmt.Stringer); ok && (opaque(t) || reflect.PointerTo(t).Implements(sealerType)) {
			return rnode{leaf: x.String()} // a pii.Value's String never shows its value
		}
	}
	n := rnode{group: true, children: make([]rchild, 0, t.NumField())}
	hidden := planFor(t).hidden
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if hidden[i] {
			n.children = append(n.children, rchild{name: f.Name, node: rnode{leaf: redactedText}})
			continue
		}
		n.children = append(n.children, rchild{name: f.Name, node: redactValue(v.Field(i), seen, depth+1)})
	}
	return n
}

// opaque reports whether a value of type t can be shown through its own
// String or Error method: it holds no tagged field and no exported
// interface field through which one could be reached (or promoted).
func opaque(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return true
	}
	p := planFor(t)
	return p.err == nil && !p.work && !p.tagged
}

// errOpaque is opaque for error types: interface fields are allowed (the
// error they hold is checked through Unwrap), except embedded ones, whose
// methods are promoted, and tagged fields are not.
func errOpaque(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return true
	}
	if p := planFor(t); p.err != nil || p.tagged {
		return false
	}
	for i := range t.NumField() {
		if f := t.Field(i); f.Anonymous && f.Type.Kind() == reflect.Interface {
			return false
		}
	}
	return true
}

// errText returns err's text when no error in its chain (errors.Unwrap,
// both forms) is of a type with tagged or interface fields; a wrapping
// error's text includes what it wraps, which may print tagged values.
func errText(err error) (string, bool) {
	text := errRedacted(err, 0)
	return text, text == err.Error()
}

// errRedacted returns err's text with every error in its chain that is of
// a type with tagged fields shown as [Redacted] shows it. An opaque error
// shows its own Error text, in which the text of each error it wraps
// (errors.Unwrap, both forms) is replaced by that error's redacted text;
// when a wrapped error's text cannot be found in it (the wrapper formats
// it its own way), the wrapper's text is unknown to be safe and shows as
// "[redacted]: " followed by the redacted texts of what it wraps. A type
// with tagged fields is never shown through its own Error method.
func errRedacted(err error, depth int) string {
	if depth > redactMaxDepth {
		return "[…]"
	}
	t := reflect.TypeOf(err)
	if !errOpaque(t) {
		var b strings.Builder
		writeText(&b, redactValue(reflect.ValueOf(err), nil, depth+1))
		return b.String()
	}
	var wrapped []error
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		wrapped = []error{u.Unwrap()}
	case interface{ Unwrap() []error }:
		wrapped = u.Unwrap()
	}
	text := err.Error()
	var pairs []string // plaintext, redacted
	for _, w := range wrapped {
		if w == nil {
			continue
		}
		plain, red := w.Error(), errRedacted(w, depth+1)
		if plain == red || plain == "" {
			continue
		}
		if !strings.Contains(text, plain) {
			return unknownWrapper(wrapped, depth)
		}
		pairs = append(pairs, plain, red)
	}
	if len(pairs) == 0 {
		return text
	}
	// The longest texts first, so that a shorter one inside a longer one
	// does not break the longer one's match.
	for i := 0; i < len(pairs); i += 2 {
		for j := i + 2; j < len(pairs); j += 2 {
			if len(pairs[j]) > len(pairs[i]) {
				pairs[i], pairs[i+1], pairs[j], pairs[j+1] = pairs[j], pairs[j+1], pairs[i], pairs[i+1]
			}
		}
	}
	return strings.NewReplacer(pairs...).Replace(text)
}

// unknownWrapper is the text of a wrapping error whose own text cannot be
// shown: "[redacted]: " and the redacted texts of what it wraps.
func unknownWrapper(wrapped []error, depth int) string {
	parts := make([]string, 0, len(wrapped))
	for _, w := range wrapped {
		if w != nil {
			parts = append(parts, errRedacted(w, depth+1))
		}
	}
	return redactedText + ": " + strings.Join(parts, "; ")
}

// text returns the leaf's text: the scalar's, or leaf.
func (n rnode) text() string {
	if n.val.IsValid() {
		return fmt.Sprint(scalar(n.val))
	}
	return n.leaf
}

// scalarLogValue is slog.AnyValue(scalar(v)) without boxing v.
func scalarLogValue(v reflect.Value) slog.Value {
	switch v.Kind() {
	case reflect.String:
		return slog.StringValue(v.String())
	case reflect.Bool:
		return slog.BoolValue(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return slog.Int64Value(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return slog.Uint64Value(v.Uint())
	case reflect.Float32, reflect.Float64:
		return slog.Float64Value(v.Float())
	}
	return slog.AnyValue(scalar(v))
}

// String renders the view like %+v: {Name:Ada Email:[redacted]}.
func (r RedactedValue) String() string {
	var b strings.Builder
	writeText(&b, r.tree())
	return b.String()
}

func writeText(b *strings.Builder, n rnode) {
	if !n.group && !n.list || n.isNull {
		b.WriteString(n.text())
		return
	}
	if n.list {
		b.WriteByte('[')
	} else {
		b.WriteByte('{')
	}
	for i, c := range n.children {
		if i > 0 {
			b.WriteByte(' ')
		}
		if !n.list {
			b.WriteString(c.name)
			b.WriteByte(':')
		}
		writeText(b, c.node)
	}
	if n.list {
		b.WriteByte(']')
	} else {
		b.WriteByte('}')
	}
}

// Format implements fmt.Formatter: every verb prints String, quoted for %q.
func (r RedactedValue) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprint(f, strconv.Quote(r.String()))
		return
	}
	fmt.Fprint(f, r.String())
}

// LogValue implements slog.LogValuer: a group with one attribute per field.
func (r RedactedValue) LogValue() slog.Value { return logValue(r.tree()) }

func logValue(n rnode) slog.Value {
	if !n.group && !n.list || n.isNull {
		if n.val.IsValid() {
			return scalarLogValue(n.val)
		}
		return slog.StringValue(n.leaf)
	}
	attrs := make([]slog.Attr, len(n.children))
	for i, c := range n.children {
		name := c.name
		if n.list {
			name = strconv.Itoa(i)
		}
		attrs[i] = slog.Attr{Key: name, Value: logValue(c.node)}
	}
	return slog.GroupValue(attrs...)
}

// MarshalJSON implements json.Marshaler: an object per struct and map, an
// array per slice, strings for leaves.
func (r RedactedValue) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := writeJSON(&b, r.tree()); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeJSON(b *bytes.Buffer, n rnode) error {
	switch {
	case n.isNull:
		b.WriteString("null")
		return nil
	case !n.group && !n.list:
		var x any = n.leaf
		if n.val.IsValid() {
			x = scalar(n.val)
		}
		if c, ok := x.(complex128); ok {
			x = fmt.Sprint(c)
		}
		enc, err := json.Marshal(x)
		if err != nil { // NaN and infinities
			enc, err = json.Marshal(n.text())
		}
		b.Write(enc)
		return err
	}
	open, close := byte('{'), byte('}')
	if n.list {
		open, close = '[', ']'
	}
	b.WriteByte(open)
	for i, c := range n.children {
		if i > 0 {
			b.WriteByte(',')
		}
		if !n.list {
			enc, _ := json.Marshal(c.name)
			b.Write(enc)
			b.WriteByte(':')
		}
		if err := writeJSON(b, c.node); err != nil {
			return err
		}
	}
	b.WriteByte(close)
	return nil
}

// RedactingHandler is a slog.Handler that passes every attribute whose
// value is a struct, a map, an interface, or a pointer, slice or array
// reaching one, through [Redacted] before the wrapped handler sees it (after
// resolving LogValuers one at a time, except that a tagged type's own
// LogValue is never called), and logs errors as [Redacted] shows them, so that a tagged struct
// logged with slog.Any shows no personal data whatever the handler (JSON,
// text or another). Other values pass unchanged. It is safe for concurrent
// use when the wrapped handler is.
type RedactingHandler struct {
	next slog.Handler
}

// NewRedactingHandler wraps next.
func NewRedactingHandler(next slog.Handler) *RedactingHandler {
	return &RedactingHandler{next: next}
}

// Enabled reports whether the wrapped handler handles level.
func (h *RedactingHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle redacts the record's attributes and passes it on.
func (h *RedactingHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, rec.Message, rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs redacts attrs and returns a handler that adds them.
func (h *RedactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = redactAttr(a)
	}
	return &RedactingHandler{next: h.next.WithAttrs(red)}
}

// WithGroup returns a handler that opens a group.
func (h *RedactingHandler) WithGroup(name string) slog.Handler {
	return &RedactingHandler{next: h.next.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	// Resolve one step at a time: a LogValue may return a tagged struct,
	// and a tagged type is never shown through its own LogValue.
	for n := 0; a.Value.Kind() == slog.KindLogValuer; n++ {
		lv := a.Value.LogValuer()
		if r, ok := lv.(RedactedValue); ok {
			return slog.Attr{Key: a.Key, Value: r.LogValue()}
		}
		if n > redactMaxDepth || hasTags(reflect.TypeOf(lv)) {
			return slog.Attr{Key: a.Key, Value: Redacted(lv).LogValue()}
		}
		a.Value = resolveOnce(lv)
	}
	switch a.Value.Kind() {
	case slog.KindGroup:
		g := a.Value.Group()
		red := make([]slog.Attr, len(g))
		for i, x := range g {
			red[i] = redactAttr(x)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(red...)}
	case slog.KindAny:
		v := a.Value.Any()
		if r, ok := v.(RedactedValue); ok {
			return slog.Attr{Key: a.Key, Value: r.LogValue()}
		}
		if err, ok := v.(error); ok && errOpaque(reflect.TypeOf(err)) {
			return slog.Attr{Key: a.Key, Value: slog.StringValue(errRedacted(err, 0))}
		}
		if needsRedaction(reflect.TypeOf(v)) {
			return slog.Attr{Key: a.Key, Value: Redacted(v).LogValue()}
		}
	}
	return a
}

// resolveOnce calls lv's LogValue once; a panic shows as a fixed text (its
// value could hold personal data), as slog shows one.
func resolveOnce(lv slog.LogValuer) (v slog.Value) {
	defer func() {
		if recover() != nil {
			v = slog.StringValue("!PANIC: LogValue")
		}
	}()
	return lv.LogValue()
}

// hasTags reports whether a value of type t holds a tagged struct field
// (or one whose tag does not parse) through its static types: a struct,
// or a pointer, slice, array or map of one. Such a value is redacted by
// its plan and never shown through its own LogValue, String, Error,
// MarshalJSON, MarshalText or Format method.
func hasTags(t reflect.Type) bool {
	for t != nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
			t = t.Elem()
		case reflect.Struct:
			p := planFor(t)
			return p.err != nil || p.tagged
		default:
			return false
		}
	}
	return false
}

// NeedsRedaction reports whether v may show personal data when a logger
// or encoder formats it by its own rules (by reflection, or through its
// own methods): v is a struct, a map, an interface, or a pointer, slice or
// array reaching one. [RedactingHandler] passes exactly these values
// through [Redacted]; adapters for other loggers use it to decide the
// same way. nil needs none. It is safe for concurrent use.
func NeedsRedaction(v any) bool { return v != nil && needsRedaction(reflect.TypeOf(v)) }

// needsRedaction reports whether a value of type t may show personal data
// through a handler's own formatting: a struct, a map (its keys), an
// interface (its dynamic value), or a pointer, slice or array of those.
func needsRedaction(t reflect.Type) bool {
	for t != nil {
		switch t.Kind() {
		case reflect.Struct, reflect.Interface, reflect.Map:
			return true
		case reflect.Pointer, reflect.Slice, reflect.Array:
			t = t.Elem()
		default:
			return false
		}
	}
	return false
}

var (
	_ slog.LogValuer = RedactedValue{}
	_ fmt.Formatter  = RedactedValue{}
	_ json.Marshaler = RedactedValue{}
	_ slog.Handler   = (*RedactingHandler)(nil)
)
