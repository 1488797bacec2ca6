// Package insecurecleartext reads and writes tillid keysets as cleartext
// Tink JSON keysets: the key material itself, unencrypted. Anyone who reads
// the output can reveal every value the keys protect, for ever, and nothing
// can take the copy back: destroying a key in the store leaves the copy
// intact. Like Tink's insecurecleartextkeyset, which it uses, it exists for
// the rare case that needs it, such as moving keys out of a deployment that
// kept them in clear, and its name is there to be seen in code review.
//
// Most users should use a store's Export instead ([keys.Store.Export],
// [keys.SQLStore.Export]; tillid keys export), which writes the keyset
// encrypted under a KEK and sends an audit event, and its Import with a
// keyset read from an encrypted file.
package insecurecleartext

import (
	"bytes"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/tillid/tillid/keys"
)

// maxSize bounds what Read parses, in bytes.
const maxSize = keys.MaxKeysetSize

// Write returns the keys of ks as a cleartext Tink JSON keyset, the format
// of Tink's insecurecleartextkeyset.Write with keyset.NewJSONWriter: key
// material included, in clear. Keys destroyed in a store are not in it. It
// sends no audit event, since a *keys.Keyset comes from no particular store;
// the caller who writes key material in clear records it. It returns an
// error for a nil or zero Keyset. The result must be kept secret.
func Write(ks *keys.Keyset) ([]byte, error) {
	if ks == nil || ks.Handle() == nil {
		return nil, fmt.Errorf("insecurecleartext: empty keyset: %w", keys.ErrNoPrimaryKey)
	}
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(ks.Handle(), keyset.NewJSONWriter(&buf)); err != nil {
		return nil, fmt.Errorf("insecurecleartext: writing keyset %q: %v", ks.Name(), err)
	}
	return buf.Bytes(), nil
}

// Read parses a cleartext Tink JSON keyset, as Tink's
// insecurecleartextkeyset.Write and [Write] produce, into a handle for
// [keys.Store.Import]. It returns an error for input over
// keys.MaxKeysetSize bytes, malformed input, and a keyset without keys;
// the error never quotes the input.
func Read(cleartext []byte) (*keyset.Handle, error) {
	if len(cleartext) > maxSize {
		return nil, fmt.Errorf("insecurecleartext: keyset is %d bytes, more than %d", len(cleartext), maxSize)
	}
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(cleartext)))
	if err != nil {
		// Tink's message may echo JSON structure but not key bytes; keep
		// it out anyway.
		return nil, fmt.Errorf("insecurecleartext: not a cleartext Tink JSON keyset")
	}
	return h, nil
}
