package pii

import (
	"encoding"
	"encoding/binary"
	"reflect"
	"strconv"
)

// This file builds every byte string that binds a stored value to where it
// belongs: the associated data of ciphertexts, the PRF input of blind
// indexes and pseudonyms, and the FF1 tweak of tokens. It is part of the
// wire contract: pii/testdata's known-answer vectors pin it, and data stored
// under one version must keep revealing under the next.

const (
	// adLabel starts the associated data of every field ciphertext.
	adLabel = "tillid/v1/field"
	// blindIndexLabel and pseudonymLabel separate the two uses of the PRF
	// keys. The pseudonym label keeps the action's first name, hash, so
	// that stored pseudonyms keep matching.
	blindIndexLabel = "tillid/v1/blind-index"
	pseudonymLabel  = "tillid/v1/hash"
)

// appendLP appends s with a 4-byte big-endian length prefix.
func appendLP(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

// fieldADPrefix is the start of a field's associated data, fixed per
// field: label || typeName || fieldName, each length-prefixed. typeName is
// the declaring type's [adName].
func fieldADPrefix(typeName, field string) []byte {
	return appendLP(appendLP(appendLP(nil, adLabel), typeName), field)
}

// appendAssociatedData appends to dst the whole associated data of one
// ciphertext: the field's prefix, then the record ID ("" without aad=) and
// the Protector's extra associated data, each length-prefixed.
func appendAssociatedData(dst, prefix, recordID, extra []byte) []byte {
	dst = append(dst, prefix...)
	dst = appendLP(dst, unsafeString(recordID))
	return appendLP(dst, unsafeString(extra))
}

// appendSubjectAssociatedData appends the associated data of a value sealed
// under a data subject's key (the envelope modes ModeSubjectAEAD and
// ModeSubjectDeterministic): that of appendAssociatedData, then the subject
// ID, length-prefixed, so that a value moved to another subject's record
// does not open even where both are under one key.
func appendSubjectAssociatedData(dst, prefix, recordID, extra, subject []byte) []byte {
	dst = appendAssociatedData(dst, prefix, recordID, extra)
	return appendLP(dst, unsafeString(subject))
}

// ff1Tweak is the FF1 tweak of a token: the field's associated-data prefix
// then the record ID, as is (not length-prefixed).
func ff1Tweak(prefix, recordID []byte) []byte {
	return append(append([]byte(nil), prefix...), recordID...)
}

// prfPrefix is the fixed start of the PRF input of an index or pseudonym
// field: the label, the declaring type's name, the field's name, the
// normaliser with its version and the part, each length-prefixed. The
// values follow, each length-prefixed too, so that compound inputs cannot
// run together.
func prfPrefix(label, typeName, field, normalizer, part string) []byte {
	b := appendLP(nil, label)
	b = appendLP(b, typeName)
	b = appendLP(b, field)
	b = appendLP(b, normalizer)
	return appendLP(b, part)
}

// appendPRFInput appends the PRF input of values under field f to dst: the
// field's prefix, then each value normalised, cut to its part= and
// length-prefixed.
func appendPRFInput(dst []byte, f *fieldPlan, values []string) []byte {
	dst = append(dst, f.prfPrefix...)
	for _, v := range values {
		dst = f.tag.normalize.appendLP(dst, v, f.part)
	}
	return dst
}

// adName is the name used for t in associated data: the type's own name
// without its package, so that moving a (non-generic) type to another
// package does not change its ciphertexts. An unnamed struct type is named
// by its whole literal (fields, types and tags), so that two different
// anonymous structs do not share ciphertexts.
func adName(t reflect.Type) string {
	if t.Name() != "" {
		return t.Name()
	}
	return t.String()
}

// recordID returns the bytes of a record ID field and whether it is set
// (not its zero value). Integers are in decimal; TextMarshalers give their
// text.
func recordID(v reflect.Value) ([]byte, bool, error) {
	if v.IsZero() {
		return nil, false, nil
	}
	switch v.Kind() {
	case reflect.String:
		return unsafeBytes(v.String()), true, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(nil, v.Int(), 10), true, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.AppendUint(nil, v.Uint(), 10), true, nil
	}
	b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
	return b, err == nil && len(b) > 0, err
}

var textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
