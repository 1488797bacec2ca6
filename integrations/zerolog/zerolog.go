// Package tillidzerolog redacts tillid-tagged structs logged through
// github.com/rs/zerolog exactly as [pii.Redacted] does. It is a module of
// its own: the core tillid module does not require zerolog.
//
// zerolog encodes the values it logs by reflection through two global
// functions, and its hooks cannot see or change a field, so redaction is
// installed where the program starts, once, before it logs, by an explicit
// call:
//
//	restore := tillidzerolog.Install() // sets zerolog.InterfaceMarshalFunc and ErrorMarshalFunc
//	defer restore()                    // in tests; a program keeps them
//
// Then Interface, Any and Fields (maps and key-value lists), Dict, on
// events and on contexts (With), log tagged structs with every tagged
// field "[redacted]" (the data subject's ID of a `pii:"subject"` field
// too), at any depth, maps as their values without their keys, and errors
// whose chain holds a type with tagged fields as their redacted text.
// Without Install, log a value with [Object]:
// log.Info().Object("customer", tillidzerolog.Object(c)). slog records
// sent to zerolog go through [NewSlogHandler], not zerolog.NewSlogHandler,
// which calls a tagged type's own LogValue, and a zerolog.ConsoleWriter
// goes through [ConsoleWriter].
//
// What zerolog gives no hook for, and this package cannot intercept (use
// the wrapper named, or `tillid vet`):
//   - a type that implements zerolog.LogObjectMarshaler is logged by its own
//     MarshalZerologObject by Interface, Any, Fields, Object, Objects and
//     EmbedObject (zerolog checks it before the marshal function): such a
//     method must not write a tagged field; wrap the value in [Object];
//   - a type that implements zerolog.LogArrayMarshaler, logged by Array,
//     by its own MarshalZerologArray; wrap it in [Object];
//   - Stringer, Stringers and StringersV call String directly; wrap the
//     value in [Stringer];
//   - text the program builds itself: Msgf, Str(key, fmt.Sprint(v)),
//     RawJSON, and the zerolog/log package's Print and Printf.
package tillidzerolog

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/rs/zerolog"

	"github.com/tillid/tillid/pii"
)

// Install sets zerolog.InterfaceMarshalFunc to [MarshalInterface] and
// zerolog.ErrorMarshalFunc to [MarshalError], zerolog's global encoding
// functions, and returns a function that puts back the ones it replaced.
// Call it once where the program starts, before any goroutine logs: it
// writes zerolog's globals, which zerolog reads without synchronisation.
func Install() (restore func()) {
	im, em := zerolog.InterfaceMarshalFunc, zerolog.ErrorMarshalFunc
	zerolog.InterfaceMarshalFunc = MarshalInterface
	zerolog.ErrorMarshalFunc = MarshalError
	return func() { zerolog.InterfaceMarshalFunc, zerolog.ErrorMarshalFunc = im, em }
}

// NewSlogHandler returns a slog.Handler that writes to l through
// zerolog.NewSlogHandler, behind a [pii.RedactingHandler]: zerolog's own
// handler resolves every slog.LogValuer by calling its LogValue, which for
// a tagged type could print a tagged field, and encodes other values by
// zerolog's marshal function; this one redacts first, as slog users of
// tillid get it. It is safe for concurrent use.
func NewSlogHandler(l zerolog.Logger) slog.Handler {
	return pii.NewRedactingHandler(zerolog.NewSlogHandler(l))
}

// ConsoleWriter returns w set up to print lines logged after [Install]:
// zerolog's ConsoleWriter decodes each JSON line and encodes every nested
// object and array again through zerolog.InterfaceMarshalFunc, which after
// Install is [MarshalInterface], and would print them as [pii.Redacted]
// shows a map, as lists of values without their keys. The returned writer
// encodes them as encoding/json does instead, before w's own FormatPrepare
// (kept) runs: they come from a line already redacted, so it shows nothing
// the line does not. Use it in place of w:
//
//	log := zerolog.New(tillidzerolog.ConsoleWriter(zerolog.ConsoleWriter{Out: os.Stderr}))
func ConsoleWriter(w zerolog.ConsoleWriter) zerolog.ConsoleWriter {
	prepare := w.FormatPrepare
	w.FormatPrepare = func(evt map[string]any) error {
		for k, v := range evt {
			switch v.(type) {
			case map[string]any, []any:
				b, err := json.Marshal(v)
				if err != nil {
					return err
				}
				evt[k] = json.RawMessage(b)
			}
		}
		if prepare != nil {
			return prepare(evt)
		}
		return nil
	}
	return w
}

// Object returns v as [pii.Redacted] shows it, as a zerolog object: a
// struct's exported fields with every tagged field "[redacted]", a slice
// or map as its values keyed "0", "1", … (map keys are left out), and any
// other value as {"value": …}.
func Object(v any) zerolog.LogObjectMarshaler {
	lv := pii.Redacted(v).LogValue()
	if lv.Kind() == slog.KindGroup {
		return object(lv.Group())
	}
	return object{{Key: "value", Value: lv}}
}

type object []slog.Attr

// MarshalZerologObject implements zerolog.LogObjectMarshaler.
func (o object) MarshalZerologObject(e *zerolog.Event) {
	for _, a := range o {
		v := a.Value
		switch v.Kind() {
		case slog.KindGroup:
			e.Object(a.Key, object(v.Group()))
		case slog.KindString:
			e.Str(a.Key, v.String())
		case slog.KindInt64:
			e.Int64(a.Key, v.Int64())
		case slog.KindUint64:
			e.Uint64(a.Key, v.Uint64())
		case slog.KindFloat64:
			e.Float64(a.Key, v.Float64())
		case slog.KindBool:
			e.Bool(a.Key, v.Bool())
		case slog.KindDuration:
			e.Dur(a.Key, v.Duration())
		case slog.KindTime:
			e.Time(a.Key, v.Time())
		default:
			e.Str(a.Key, fmt.Sprint(v.Any())) // Redacted's leaves are scalars
		}
	}
}

// MarshalInterface is a zerolog.InterfaceMarshalFunc: a struct, a map, an
// interface, or a pointer, slice or array reaching one, encodes as
// [pii.Redacted]'s JSON; anything else as encoding/json encodes it.
func MarshalInterface(v any) ([]byte, error) {
	if pii.NeedsRedaction(v) {
		return pii.Redacted(v).MarshalJSON()
	}
	return json.Marshal(v)
}

// MarshalError is a zerolog.ErrorMarshalFunc: an error whose chain holds
// no type with tagged fields is returned as it is (zerolog writes its
// text), any other as [pii.Redacted]'s text of it.
func MarshalError(err error) any {
	if err == nil {
		return nil
	}
	if v := pii.Redacted(err).LogValue(); v.Kind() == slog.KindString && v.String() == err.Error() {
		return err
	}
	return pii.Redacted(err).String()
}

// Stringer returns a fmt.Stringer safe for zerolog's Event.Stringer,
// which calls String directly and cannot be intercepted: a struct, map,
// interface or a pointer, slice or array reaching one prints as
// [pii.Redacted]'s text (never through its own String method); any other
// value is returned as it is. It is safe for concurrent use if v is not
// being changed.
func Stringer(v fmt.Stringer) fmt.Stringer {
	if pii.NeedsRedaction(v) {
		return pii.Redacted(v)
	}
	return v
}

var _ zerolog.LogObjectMarshaler = object{}
