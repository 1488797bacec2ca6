package pii

import (
	"strconv"
	"strings"

	"github.com/tillid/tillid/internal/envelope"
)

// Mode names a reversible protection, for sizing stored values.
type Mode int

const (
	// ModeUnknown is the invalid zero Mode.
	ModeUnknown Mode = iota
	// ModeEncrypt is the encrypt action: Tink AES-256-GCM.
	ModeEncrypt
	// ModeDeterministic is the deterministic action: Tink AES-256-SIV.
	ModeDeterministic
	// ModeBlindIndex is the index= action; its "plaintext size" is the
	// index size in bytes (IndexSize, or ceil(bits/8) with bits=).
	ModeBlindIndex
	// ModeHash is the hash action, sized like ModeBlindIndex.
	ModeHash
	// ModeTokenize is the tokenize= action. Its stored size depends on the
	// token format, so StoredLen returns -1 for it.
	ModeTokenize
)

func (m Mode) envelope() (envelope.Mode, bool) {
	switch m {
	case ModeEncrypt:
		return envelope.ModeAEAD, true
	case ModeDeterministic:
		return envelope.ModeDeterministic, true
	case ModeBlindIndex:
		return envelope.ModeBlindIndex, true
	case ModeHash:
		return envelope.ModePseudonym, true
	}
	return 0, false
}

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
// needs 388 characters. For ModeBlindIndex and ModeHash, plaintextSize is
// the index size and the result 5 + ceil(4 × (plaintextSize + 5) / 3): 33
// for the default 16-byte index. It returns -1 for ModeUnknown or a negative
// size.
// Use the maxlen tag option to have Protect refuse values that would not fit.
func StoredLen(m Mode, plaintextSize int) int {
	em, ok := m.envelope()
	if !ok || plaintextSize < 0 {
		return -1
	}
	return envelope.TextSize(em, plaintextSize)
}

// StoredLenRaw is [StoredLen] for []byte fields, which hold the raw
// envelope: plaintextSize + 38 bytes for encrypt, plaintextSize + 26 for
// deterministic, index size + 10 for an index or hash.
func StoredLenRaw(m Mode, plaintextSize int) int {
	em, ok := m.envelope()
	if !ok || plaintextSize < 0 {
		return -1
	}
	return envelope.BinarySize(em, plaintextSize)
}

// KeyID returns the mode and the Tink key ID of a value stored in a string
// field (encrypt, deterministic, index, hash, or tokenize: the PRF key ID
// of an FF1 token, 0 for a vaulted token), read from its envelope
// header without decrypting it, so that an
// operator can tell which key protects a row (for instance, which rows still
// need a rewrap). It returns [ErrDecryption] for anything that is not a
// well-formed envelope. It reveals nothing that the stored value does not
// already show.
func KeyID(stored string) (Mode, uint32, error) {
	if _, ok := Token(stored); ok {
		// FF1 tokens carry their PRF key ID in hex; vault tokens have none (0).
		if rest, ok := strings.CutPrefix(stored, fpePrefix); ok {
			if rest == "" {
				return ModeTokenize, 0, nil // an empty value
			}
			id, err := strconv.ParseUint(rest[:8], 16, 32)
			if err != nil {
				return ModeUnknown, 0, ErrDecryption
			}
			return ModeTokenize, uint32(id), nil
		}
		return ModeTokenize, 0, nil
	}
	for _, m := range allModes {
		em, _ := m.envelope()
		if p, err := envelope.ParseText(stored, em); err == nil {
			return m, p.KeyID, nil
		}
	}
	return ModeUnknown, 0, ErrDecryption
}

// KeyIDRaw is [KeyID] for a value stored in a []byte field.
func KeyIDRaw(stored []byte) (Mode, uint32, error) {
	for _, m := range allModes {
		em, _ := m.envelope()
		if p, err := envelope.ParseBinary(stored, em); err == nil {
			return m, p.KeyID, nil
		}
	}
	return ModeUnknown, 0, ErrDecryption
}

var allModes = []Mode{ModeEncrypt, ModeDeterministic, ModeBlindIndex, ModeHash}
