// Package envelope is the wire format of a protected field value.
//
// An envelope is a 5-byte ASCII prefix followed by a Tink ciphertext:
//
//	"tl" || version (1 byte, "1") || mode (1 byte) || ":" || tinkCiphertext
//
// In string fields the Tink ciphertext is base64url-encoded without padding
// (RFC 4648 §5); in []byte fields it follows the prefix as is (the binary envelope). The Tink
// ciphertext starts with Tink's 5-byte output prefix: 0x01 then the 4-byte
// key ID, big-endian. So an envelope names its version, its mode and its key
// before any secret part.
package envelope

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"unsafe"
)

// Mode is the protection an envelope holds, as its ASCII letter.
type Mode byte

const (
	// ModeAEAD is randomised encryption: Tink AES-256-GCM. After the Tink
	// prefix: a 12-byte nonce, the ciphertext (as long as the plaintext) and
	// a 16-byte tag.
	ModeAEAD Mode = 'e'
	// ModeDeterministic is deterministic encryption: Tink AES-256-SIV. After
	// the Tink prefix: the 16-byte synthetic IV, then the ciphertext (as long
	// as the plaintext).
	ModeDeterministic Mode = 'd'
	// ModeBlindIndex is a blind index: after the 5-byte Tink-style prefix
	// (0x01 || PRF key ID), the truncated HMAC-SHA256 output.
	ModeBlindIndex Mode = 'i'
	// ModePseudonym is a keyed pseudonym (the pseudonym action, formerly
	// hash), laid out like ModeBlindIndex. Its letter stays 'h' so that
	// stored pseudonyms keep reading.
	ModePseudonym Mode = 'h'
	// ModeVaultToken is a vaulted token, in string fields only:
	// "tl1t:" || token, the token in its domain's format; "tl1t:" alone
	// stands for an empty value.
	ModeVaultToken Mode = 't'
	// ModeFF1Token is an FF1 token, in string fields only: "tl1f:" || key
	// ID (8 lower-case hex digits) || ":" || token; "tl1f:" alone stands for
	// an empty value.
	ModeFF1Token Mode = 'f'
	// ModeSubjectAEAD is ModeAEAD under a data subject's key (pii's subject
	// action, keys.SubjectKeys): the same layout, with the Tink prefix
	// naming the subject key's derived key ID, and associated data that
	// ends with the subject ID. Its own letter says "subject key", so that
	// a value's keyset is known from its prefix alone.
	ModeSubjectAEAD Mode = 's'
	// ModeSubjectDeterministic is ModeDeterministic under a data subject's
	// key, like ModeSubjectAEAD.
	ModeSubjectDeterministic Mode = 'r'
)

const (
	// PrefixSize is the size of the text prefix, in bytes.
	PrefixSize = 5
	// TinkPrefixSize is the size of Tink's output prefix (0x01 || key ID), in bytes.
	TinkPrefixSize = 5
	// AEADOverhead is what Tink AES-256-GCM adds to a plaintext, in bytes:
	// Tink prefix 5, nonce 12, tag 16.
	AEADOverhead = TinkPrefixSize + 12 + 16
	// DeterministicOverhead is what Tink AES-256-SIV adds, in bytes: Tink
	// prefix 5, synthetic IV 16.
	DeterministicOverhead = TinkPrefixSize + 16
	// MaxPlaintextSize bounds a single field's plaintext, in bytes (1 MiB).
	MaxPlaintextSize = 1 << 20
	// tinkStartByte is the first byte of a Tink ciphertext made with a
	// TINK-prefixed key.
	tinkStartByte = 0x01
)

// version is the only envelope version this package writes and reads.
const version = '1'

// ErrMalformed is returned for anything that is not a well-formed envelope
// of the given mode: a wrong prefix, bad base64, or too few bytes.
var ErrMalformed = errors.New("envelope: malformed")

// b64 is strict so that every ciphertext has exactly one text form: the
// decoder rejects non-zero padding bits (and ParseText rejects the CR and LF
// that encoding/base64 would skip).
var b64 = base64.RawURLEncoding.Strict()

// Prefix returns the 5-byte text prefix for mode m, for example "tl1e:".
func Prefix(m Mode) string { return string([]byte{'t', 'l', version, byte(m), ':'}) }

// HasPrefix reports whether b starts like an envelope of any mode and
// version, that is with "tl", one byte, one byte and ":". It is the cheap
// test for "this looks protected"; Parse does the full check.
func HasPrefix(b []byte) bool {
	return len(b) >= PrefixSize && b[0] == 't' && b[1] == 'l' && b[4] == ':'
}

// HasPrefixString is HasPrefix for a string.
func HasPrefixString(s string) bool {
	return len(s) >= PrefixSize && s[0] == 't' && s[1] == 'l' && s[4] == ':'
}

// Overhead returns the bytes mode m adds to a plaintext before encoding.
// For ModeBlindIndex and ModePseudonym it is the 5-byte prefix: the PRF output
// then takes the place of the plaintext.
func Overhead(m Mode) int {
	switch m {
	case ModeDeterministic, ModeSubjectDeterministic:
		return DeterministicOverhead
	case ModeBlindIndex, ModePseudonym:
		return TinkPrefixSize
	}
	return AEADOverhead
}

// AppendPRFPayload appends the 5-byte prefix (0x01 || keyID, big-endian)
// and the PRF output mac to dst, the payload of a ModeBlindIndex or ModePseudonym
// envelope.
func AppendPRFPayload(dst []byte, keyID uint32, mac []byte) []byte {
	dst = append(dst, tinkStartByte)
	dst = binary.BigEndian.AppendUint32(dst, keyID)
	return append(dst, mac...)
}

// TextSize returns the length in bytes of the text envelope of an n-byte
// plaintext under mode m: 5 + ceil(4*(n+overhead)/3).
func TextSize(m Mode, n int) int { return PrefixSize + b64.EncodedLen(n+Overhead(m)) }

// BinarySize returns the length in bytes of the raw envelope of an n-byte
// plaintext under mode m: 5 + overhead + n.
func BinarySize(m Mode, n int) int { return PrefixSize + Overhead(m) + n }

// AppendText appends the text envelope of the Tink ciphertext ct to dst.
func AppendText(dst []byte, m Mode, ct []byte) []byte {
	dst = append(dst, 't', 'l', version, byte(m), ':')
	return b64.AppendEncode(dst, ct)
}

// AppendBinary appends the raw envelope of the Tink ciphertext ct to dst.
func AppendBinary(dst []byte, m Mode, ct []byte) []byte {
	dst = append(dst, 't', 'l', version, byte(m), ':')
	return append(dst, ct...)
}

// Parsed is a parsed envelope.
type Parsed struct {
	Mode  Mode
	KeyID uint32
	// Ciphertext is the whole Tink ciphertext, Tink prefix included.
	Ciphertext []byte
}

// ParseText parses a text envelope of mode m. It returns ErrMalformed for a
// wrong prefix or mode, bad or non-canonical base64, or a Tink ciphertext
// shorter than the mode's overhead. The returned ciphertext is a fresh slice.
func ParseText(s string, m Mode) (Parsed, error) { return AppendParseText(nil, s, m) }

// AppendParseText is ParseText decoding into dst's spare capacity (or a new
// slice when it has too little), for callers that reuse a buffer.
func AppendParseText(dst []byte, s string, m Mode) (Parsed, error) {
	if !HasPrefixString(s) || s[2] != version || Mode(s[3]) != m {
		return Parsed{}, ErrMalformed
	}
	enc := s[PrefixSize:]
	if len(enc) > b64.EncodedLen(MaxPlaintextSize+Overhead(m)) {
		return Parsed{}, ErrMalformed
	}
	ct := slices.Grow(dst[:0], b64.DecodedLen(len(enc)))[:b64.DecodedLen(len(enc))]
	n, err := b64.Decode(ct, unsafe.Slice(unsafe.StringData(enc), len(enc)))
	// Decode skips CR and LF even when strict; a length that does not match
	// the input means it skipped some, so the form was not canonical.
	if err != nil || b64.EncodedLen(n) != len(enc) {
		return Parsed{}, ErrMalformed
	}
	return parseTink(ct[:n], m)
}

// ParseBinary parses a raw envelope of mode m, as ParseText does. The returned
// ciphertext aliases b.
func ParseBinary(b []byte, m Mode) (Parsed, error) {
	if !HasPrefix(b) || b[2] != version || Mode(b[3]) != m {
		return Parsed{}, ErrMalformed
	}
	return parseTink(b[PrefixSize:], m)
}

func parseTink(ct []byte, m Mode) (Parsed, error) {
	if len(ct) < Overhead(m) || len(ct) > MaxPlaintextSize+Overhead(m) || ct[0] != tinkStartByte {
		return Parsed{}, ErrMalformed
	}
	return Parsed{Mode: m, KeyID: binary.BigEndian.Uint32(ct[1:5]), Ciphertext: ct}, nil
}

// Token is a parsed token envelope.
type Token struct {
	// Mode is ModeVaultToken or ModeFF1Token.
	Mode Mode
	// KeyID is the FF1 key ID; 0 for a vaulted token.
	KeyID uint32
	// Token is the bare token; "" for a stored empty value.
	Token string
}

// HasTokenPrefix reports whether s starts with "tl1t:" or "tl1f:".
func HasTokenPrefix(s string) bool {
	return HasPrefixString(s) && s[2] == version && (Mode(s[3]) == ModeVaultToken || Mode(s[3]) == ModeFF1Token)
}

// AppendToken appends the token envelope of t to dst: the prefix of t.Mode,
// then for ModeFF1Token with a token the key ID as 8 lower-case hex digits
// and ":", then the token.
func AppendToken(dst []byte, t Token) []byte {
	dst = append(dst, 't', 'l', version, byte(t.Mode), ':')
	if t.Mode == ModeFF1Token && t.Token != "" {
		var id [4]byte
		binary.BigEndian.PutUint32(id[:], t.KeyID)
		dst = append(hex.AppendEncode(dst, id[:]), ':')
	}
	return append(dst, t.Token...)
}

// ParseToken parses a token envelope. It returns ErrMalformed for anything
// else, and for an FF1 token whose key ID is not 8 lower-case hex digits
// followed by ":" and a token.
func ParseToken(s string) (Token, error) {
	if !HasTokenPrefix(s) {
		return Token{}, ErrMalformed
	}
	t := Token{Mode: Mode(s[3]), Token: s[PrefixSize:]}
	if t.Mode == ModeVaultToken || t.Token == "" {
		return t, nil
	}
	rest := t.Token
	if len(rest) < 10 || rest[8] != ':' {
		return Token{}, ErrMalformed
	}
	var id [4]byte
	// hex.Decode takes upper case too; one spelling per token is kept by
	// checking that the digits re-encode to themselves.
	if n, err := hex.Decode(id[:], []byte(rest[:8])); err != nil || n != 4 || hex.EncodeToString(id[:]) != rest[:8] {
		return Token{}, ErrMalformed
	}
	t.KeyID, t.Token = binary.BigEndian.Uint32(id[:]), rest[9:]
	return t, nil
}
