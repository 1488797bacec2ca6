// Package tillidzap redacts tillid-tagged structs logged through
// go.uber.org/zap exactly as [pii.Redacted] does, so that zap users get the
// same guarantee as slog users of [pii.RedactingHandler]. It is a module of
// its own: the core tillid module does not require zap.
//
// Wrap the core once, where the logger is built:
//
//	logger := zap.New(tillidzap.NewCore(core))
//	logger.Info("saved", zap.Any("customer", c))   // tagged fields show as "[redacted]"
//
// or log a value with [Field] without wrapping the core:
//
//	logger.Info("saved", tillidzap.Field("customer", c))
//
// Tagged fields show as "[redacted]" at any depth, the data subject's ID
// of a `pii:"subject"` field included, and maps as their values without
// their keys. The core cannot see into the message text: a value
// formatted into the message (sugar.Infof("%v", c)) is not redacted; log it
// as a field. A slog.Handler that writes to zap (such as
// go.uber.org/zap/exp/zapslog's) resolves a slog.LogValuer by calling its
// LogValue, which for a tagged type may print a tagged field, before the
// core sees the value: wrap that handler in [pii.NewRedactingHandler],
// which never calls a tagged type's own LogValue.
package tillidzap

import (
	"fmt"
	"log/slog"
	"reflect"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tillid/tillid/pii"
)

// Field returns a zap field that logs v as [pii.Redacted] shows it: a
// struct as an object of its exported fields with every tagged field
// "[redacted]", at any depth, a map as the list of its values, an error as
// its text when no error in its chain has tagged fields.
func Field(key string, v any) zap.Field {
	return fromSlog(key, pii.Redacted(v).LogValue())
}

func fromSlog(key string, v slog.Value) zap.Field {
	switch v.Kind() {
	case slog.KindGroup:
		return zap.Object(key, group(v.Group()))
	case slog.KindString:
		return zap.String(key, v.String())
	case slog.KindInt64:
		return zap.Int64(key, v.Int64())
	case slog.KindUint64:
		return zap.Uint64(key, v.Uint64())
	case slog.KindFloat64:
		return zap.Float64(key, v.Float64())
	case slog.KindBool:
		return zap.Bool(key, v.Bool())
	case slog.KindDuration:
		return zap.Duration(key, v.Duration())
	case slog.KindTime:
		return zap.Time(key, v.Time())
	}
	return zap.String(key, fmt.Sprint(v.Any())) // Redacted's leaves are scalars
}

// group is a redacted struct or list, as zap writes objects.
type group []slog.Attr

// MarshalLogObject implements zapcore.ObjectMarshaler.
func (g group) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	for _, a := range g {
		fromSlog(a.Key, a.Value).AddTo(enc)
	}
	return nil
}

// NewCore wraps next so that every field that may show personal data
// through zap's own encoding is logged as [Field] logs it: values logged by
// reflection (zap.Any and zap.Reflect of structs, maps, slices and
// pointers), zap.Object, zap.Inline, zap.Array and zap.Objects of such
// values (their own MarshalLogObject is not called: it could print a
// tagged field), zap.Stringer of a struct, and errors whose chain holds a
// type with tagged fields. zap.Dict is redacted field by field, and fields
// added with With too. Other fields pass unchanged. Wrap the sampler or
// tee around this core, not inside it. It is safe for concurrent use when
// next is.
func NewCore(next zapcore.Core) zapcore.Core { return core{next: next} }

type core struct{ next zapcore.Core }

func (c core) Enabled(l zapcore.Level) bool { return c.next.Enabled(l) }

func (c core) With(fields []zapcore.Field) zapcore.Core {
	return core{next: c.next.With(redactFields(fields))}
}

func (c core) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c core) Write(e zapcore.Entry, fields []zapcore.Field) error {
	return c.next.Write(e, redactFields(fields))
}

func (c core) Sync() error { return c.next.Sync() }

var fieldsType = reflect.TypeFor[[]zapcore.Field]()

func redactFields(fields []zapcore.Field) []zapcore.Field {
	var out []zapcore.Field
	for i, f := range fields {
		r, changed := redactField(f)
		if changed && out == nil {
			out = append(make([]zapcore.Field, 0, len(fields)), fields[:i]...)
		}
		if out != nil {
			out = append(out, r)
		}
	}
	if out == nil {
		return fields
	}
	return out
}

func redactField(f zapcore.Field) (zapcore.Field, bool) {
	switch f.Type {
	case zapcore.ReflectType:
		if f.Interface == nil {
			return f, false
		}
		return Field(f.Key, f.Interface), true
	case zapcore.ObjectMarshalerType, zapcore.InlineMarshalerType, zapcore.ArrayMarshalerType, zapcore.StringerType:
		if _, ok := f.Interface.(group); ok || f.Interface == nil {
			return f, false
		}
		t := reflect.TypeOf(f.Interface)
		if t.ConvertibleTo(fieldsType) { // zap.Dict
			inner := reflect.ValueOf(f.Interface).Convert(fieldsType).Interface().([]zapcore.Field)
			return zap.Dict(f.Key, redactFields(inner)...), true
		}
		if !pii.NeedsRedaction(f.Interface) {
			switch m := f.Interface.(type) {
			case zapcore.ObjectMarshaler: // its encoder redacts what it reflects
				if f.Type == zapcore.InlineMarshalerType {
					return zap.Inline(safeObject{m}), true
				}
				return zap.Object(f.Key, safeObject{m}), true
			case zapcore.ArrayMarshaler:
				return zap.Array(f.Key, safeArray{m}), true
			}
			return f, false
		}
		r := Field(f.Key, f.Interface)
		if f.Type == zapcore.InlineMarshalerType {
			if g, ok := r.Interface.(group); ok {
				return zap.Inline(g), true
			}
		}
		return r, true
	case zapcore.ErrorType:
		err, ok := f.Interface.(error)
		if !ok || err == nil {
			return f, false
		}
		if v := pii.Redacted(err).LogValue(); v.Kind() == slog.KindString && v.String() == err.Error() {
			return f, false // no tagged type in its chain: zap's own error encoding
		}
		return Field(f.Key, err), true
	}
	return f, false
}

// safeObject calls a user's MarshalLogObject with an encoder that redacts
// what it is handed by reflection or as objects and arrays.
type safeObject struct{ m zapcore.ObjectMarshaler }

func (o safeObject) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	return o.m.MarshalLogObject(safeEncoder{enc})
}

// safeArray is safeObject for arrays.
type safeArray struct{ m zapcore.ArrayMarshaler }

func (a safeArray) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	return a.m.MarshalLogArray(safeArrayEncoder{enc})
}

// safeEncoder redacts AddReflected, AddObject and AddArray of values that
// may show personal data, as [Field] does.
type safeEncoder struct{ zapcore.ObjectEncoder }

func (e safeEncoder) AddReflected(key string, v any) error {
	if pii.NeedsRedaction(v) {
		Field(key, v).AddTo(e.ObjectEncoder)
		return nil
	}
	return e.ObjectEncoder.AddReflected(key, v)
}

func (e safeEncoder) AddObject(key string, m zapcore.ObjectMarshaler) error {
	if _, ok := m.(group); !ok && pii.NeedsRedaction(m) {
		Field(key, m).AddTo(e.ObjectEncoder)
		return nil
	}
	return e.ObjectEncoder.AddObject(key, safeObject{m})
}

func (e safeEncoder) AddArray(key string, m zapcore.ArrayMarshaler) error {
	if pii.NeedsRedaction(m) {
		Field(key, m).AddTo(e.ObjectEncoder)
		return nil
	}
	return e.ObjectEncoder.AddArray(key, safeArray{m})
}

// safeArrayEncoder is safeEncoder for arrays.
type safeArrayEncoder struct{ zapcore.ArrayEncoder }

func (e safeArrayEncoder) AppendReflected(v any) error {
	if pii.NeedsRedaction(v) {
		e.ArrayEncoder.AppendString(pii.Redacted(v).String())
		return nil
	}
	return e.ArrayEncoder.AppendReflected(v)
}

func (e safeArrayEncoder) AppendObject(m zapcore.ObjectMarshaler) error {
	if _, ok := m.(group); !ok && pii.NeedsRedaction(m) {
		e.ArrayEncoder.AppendString(pii.Redacted(m).String())
		return nil
	}
	return e.ArrayEncoder.AppendObject(safeObject{m})
}

func (e safeArrayEncoder) AppendArray(m zapcore.ArrayMarshaler) error {
	if pii.NeedsRedaction(m) {
		e.ArrayEncoder.AppendString(pii.Redacted(m).String())
		return nil
	}
	return e.ArrayEncoder.AppendArray(safeArray{m})
}

var _ zapcore.Core = core{}
