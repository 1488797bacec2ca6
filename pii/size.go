package pii

import (
	"github.com/tillid/tillid/internal/envelope"
)

// StoredLen returns the length, in bytes (all ASCII, so also in characters),
// of the value Protect stores in a string field for a plaintext of
// plaintextSize bytes:
//
//	encrypt:       5 + ceil(4 × (plaintextSize + 33) / 3)
//	deterministic: 5 + ceil(4 × (plaintextSize + 21) / 3)
//
// The 5 is the "tl1e:" or "tl1d:" prefix; 33 is Tink's 5-byte key prefix, a
// 12-byte nonce and a 16-byte tag; 21 is the key prefix and a 16-byte
// synthetic IV; the rest is unpadded base64url. So a VARCHAR(64) holds an
// encrypted plaintext of at most 11 bytes, and an email of up to 254 bytes
// needs 388 characters. For ActionBlindIndex and ActionPseudonym,
// plaintextSize is the index size and the result 5 + ceil(4 ×
// (plaintextSize + 5) / 3): 33 for the default 16-byte index. It returns -1
// for ActionTokenize (the size depends on the token format), for
// ActionUnknown and for a negative size.
// Use the maxlen tag option to have Protect refuse values that would not fit.
func StoredLen(a Action, plaintextSize int) int { return storedLen(a, plaintextSize, true) }

// StoredLenBytes is [StoredLen] for []byte fields, which hold the binary
// envelope: plaintextSize + 38 bytes for encrypt, plaintextSize + 26 for
// deterministic, index size + 10 for an index or pseudonym.
func StoredLenBytes(a Action, plaintextSize int) int { return storedLen(a, plaintextSize, false) }

func storedLen(a Action, n int, text bool) int {
	row := actionRow(a)
	if row == nil || n < 0 {
		return -1
	}
	return row.size(n, text)
}

// KeyID returns the action and the Tink key ID of a value stored in a
// string field (text envelope) or a []byte field (binary envelope) by
// encrypt, deterministic, index, pseudonym, or tokenize (the PRF key ID of
// an FF1 token, 0 for a vaulted token), read from its envelope header
// without decrypting it, so that an operator can tell which key protects a
// row (for instance, which rows still need a rewrap). It returns
// [ErrDecryption] for anything that is not a well-formed envelope. A
// value sealed under a data subject's key ("tl1s:", "tl1r:") is
// ActionEncrypt or ActionDeterministic with the key ID of that subject's
// keyset. It reveals nothing that the stored value does not already show.
func KeyID[S string | []byte](stored S) (Action, uint32, error) {
	var b []byte
	text := false
	switch s := any(stored).(type) {
	case string:
		b, text = unsafeBytes(s), true
	case []byte:
		b = s
	}
	for _, row := range actionTable {
		if row.keyIDOf == nil {
			continue
		}
		if id, ok := row.keyIDOf(b, text); ok {
			return row.id, id, nil
		}
	}
	return ActionUnknown, 0, ErrDecryption
}

// envelopeKeyID is the keyIDOf of the actions that store envelopes of
// the modes given: the action's own mode and its mode under a subject key
// (whose key ID is the subject keyset's).
func envelopeKeyID(modes ...envelope.Mode) func(stored []byte, text bool) (uint32, bool) {
	return func(stored []byte, text bool) (uint32, bool) {
		for _, m := range modes {
			var p envelope.Parsed
			var err error
			if text {
				p, err = envelope.ParseText(unsafeString(stored), m)
			} else {
				p, err = envelope.ParseBinary(stored, m)
			}
			if err == nil {
				return p.KeyID, true
			}
		}
		return 0, false
	}
}
