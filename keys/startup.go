package keys

import (
	"errors"
	"fmt"
)

// Errors of a safe start-up: a key store that is opened at a mistyped path,
// or asked for a keyset it does not hold, fails loudly instead of making new
// keys, which would protect new values under keys that no other instance
// has while every existing value fails to reveal.
var (
	// ErrStoreNotFound means the key store named does not exist: [OpenFile]
	// was given the path of a keyset file that is not there. Check the path;
	// a new store is made only with [WithCreateMissing] (or by tillid keys
	// create). Errors that wrap it also wrap fs.ErrNotExist.
	ErrStoreNotFound = errors.New("keys: key store not found")
	// ErrKeysetNotFound means the store holds no keyset of that name and
	// kind, and was not opened with [WithCreateMissing]. It wraps
	// [ErrKeyNotFound], so errors.Is(err, ErrKeyNotFound) holds too.
	ErrKeysetNotFound = fmt.Errorf("keys: keyset not found: %w", ErrKeyNotFound)
)

// WithCreateMissing lets a store create what it does not find: for a file
// store, the keyset file, when [OpenFile] finds none at its path (it is
// written, with mode 0600, when the first keyset is made), and each keyset
// when it is first asked for ([Store.Keyset], [Store.Rotate]); for a SQL
// store ([OpenSQLite], [OpenPostgres]), each keyset when it is first asked
// for ([SQLStore.Keyset], [SQLStore.Rotate]). It is for development,
// tests and the tool that provisions keys (tillid keys create); a service
// should open an existing store without it, so that a wrong path or key
// name is [ErrStoreNotFound] or [ErrKeysetNotFound] at start-up instead of
// a fresh, empty key store.
//
// A memory store ([NewMemory]) always creates keysets on first use and
// accepts the option as a no-op.
func WithCreateMissing() StoreOption {
	return storeOptionFunc(func(c *storeConfig) error {
		c.createMissing = true
		return nil
	})
}

// missingKeyset returns the error for keyset id, absent from a file store
// that may not create it, or nil when it may.
func (fw *fileWatch) missingKeyset(id KeysetID) error {
	if err := validKeyName(id.Name); err != nil {
		return err
	}
	if _, err := id.Kind.template(); err != nil {
		return err
	}
	if fw.createMissing {
		return nil
	}
	return fmt.Errorf("keys: keyset file %s has no keyset %s (check the key name and kind; tillid keys create makes one): %w", fw.path, id, ErrKeysetNotFound)
}
