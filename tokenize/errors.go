package tokenize

import "errors"

// Errors returned by this package. Callers branch on them with errors.Is.
// Errors from the key provider (keys.ErrKeyNotFound, keys.ErrKeyDisabled,
// keys.ErrKeyDestroyed) are wrapped and pass through errors.Is too.
var (
	// ErrInvalidValue means a value was rejected before anything was
	// stored: empty, larger than [MaxValueSize], not valid UTF-8, holding a
	// character outside an FF1 alphabet, too short or too long for FF1, or
	// not of the shape a [Format] needs. The error says why, never what the
	// value was.
	ErrInvalidValue = errors.New("tokenize: invalid value")
	// ErrTokenNotFound means the store holds no live entry for a token: it
	// never existed, was deleted, or expired.
	ErrTokenNotFound = errors.New("tokenize: token not found")
	// ErrDecryption means a vault entry did not decrypt: it was tampered
	// with, moved to another token or domain, or its key is gone. It is
	// deliberately vague.
	ErrDecryption = errors.New("tokenize: decryption failed")
	// ErrVaultNotFound means a database holds no token vault: [OpenSQLite]
	// (or the PostgreSQL store of module github.com/tillid/tillid/stores)
	// found no table tillid_tokens and was not asked to create one
	// ([WithCreateTable]).
	ErrVaultNotFound = errors.New("tokenize: token vault not found")
)
