package pii

import (
	"errors"
	"reflect"
	"strings"

	"github.com/tillid/tillid/keys"
)

// Errors returned by Protect, Reveal, Rewrap and Validate. Callers branch on
// them with errors.Is; most arrive wrapped in a [*FieldError] that names the
// field.
var (
	// ErrInvalidTarget means the argument is nil, not a pointer, a nil
	// pointer, or a pointer to something that holds no struct.
	ErrInvalidTarget = errors.New("pii: invalid target")
	// ErrInvalidTag means a struct type has a tag that is malformed, names an
	// unknown action or option, repeats one, sits on an unexported field or
	// on a kind the action does not support.
	ErrInvalidTag = errors.New("pii: invalid tag")
	// ErrDecryption means a protected value could not be revealed: it was
	// tampered with, truncated, copied from another field or record, made
	// under another keyset, or is not a ciphertext at all but carries the
	// ciphertext prefix. The causes are deliberately not told apart.
	ErrDecryption = errors.New("pii: decryption failed")
	// ErrNotProtected means Reveal found plaintext in a field that should
	// hold ciphertext. Reveal fails closed; a field in a migration can opt in
	// to reading plaintext with the `migrate` tag option.
	ErrNotProtected = errors.New("pii: value is not protected")
	// ErrTooLong means a protected value would be longer than the field's
	// `maxlen`, a plaintext is larger than 1 MiB, or a record ID is too
	// long to bind an FF1 token to (its tweak holds at most 128 bytes).
	ErrTooLong = errors.New("pii: protected value too long")
	// ErrMissingRecordID means the field named by `aad=` holds its zero
	// value, so the ciphertext could not be bound to its record.
	ErrMissingRecordID = errors.New("pii: record ID is empty")
	// ErrKeyProvider means the key provider failed or returned no keyset.
	// The provider's own error is wrapped too.
	ErrKeyProvider = errors.New("pii: key provider failed")
	// ErrTooDeep means the value nests more than 1,000 levels deep.
	ErrTooDeep = errors.New("pii: value nests too deep")

	// ErrKeyNotFound is keys.ErrKeyNotFound: the ciphertext names a key ID
	// the keyset does not hold.
	ErrKeyNotFound = keys.ErrKeyNotFound
	// ErrKeyDisabled is keys.ErrKeyDisabled: the ciphertext's key is disabled.
	ErrKeyDisabled = keys.ErrKeyDisabled
	// ErrKeyDestroyed is keys.ErrKeyDestroyed: the ciphertext's key was
	// destroyed (crypto-shredded) and the value can never be revealed.
	ErrKeyDestroyed = keys.ErrKeyDestroyed
)

// FieldError reports a failure at one field. It never holds the field's
// value, a ciphertext or key bytes.
type FieldError struct {
	// Type is the struct type that declares the field.
	Type reflect.Type
	// Path is the field's path from the value passed in, such as
	// "Customer.Contacts[2].Email". Map keys, which may be personal data,
	// show as "[…]".
	Path string
	// Err is the cause; it wraps one of the package's sentinel errors.
	Err error
}

// Error returns "pii: <path>: <cause>".
func (e *FieldError) Error() string {
	return "pii: " + e.Path + ": " + strings.TrimPrefix(e.Err.Error(), "pii: ")
}

// Unwrap returns the cause.
func (e *FieldError) Unwrap() error { return e.Err }
