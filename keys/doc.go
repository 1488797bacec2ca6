// Package keys hands out Tink keysets to tillid's field protection, and keeps
// them: it creates keysets (on first use only where the store allows it,
// see [WithCreateMissing]), imports and exports them, rotates them, disables
// and enables single keys, and stores keysets encrypted under a
// key-encryption key (KEK). [Check] is the start-up check that every keyset
// a service needs is there and usable.
//
// Most users need one [Provider] and pass it to pii.New:
//
//   - [NewMemory] keeps keysets in memory. It is for tests and examples: keys
//     are lost when the process exits.
//   - [OpenFile] keeps keysets in one file, each keyset a Tink JSON keyset
//     encrypted under a KEK. It is the embedded default for a single process.
//   - [OpenSQLite] and [OpenPostgres] keep keysets, encrypted the same way, in
//     a table that many processes share ([SQLStore]): changes use optimistic
//     concurrency so that no rotation is lost, and each process caches
//     unwrapped keysets for a TTL ([WithCacheTTL]), so that it calls the KMS
//     about once per keyset per TTL and sees other processes' changes within
//     it. Both take a *sql.DB: this package imports no SQL driver, so only
//     programs that open such a database compile one.
//
// Operators and tools manage any of these stores through [Manager]:
// rotate, disable, enable, destroy and list.
//
// # Key management
//
// A keyset is named by a key name (the `key=` tag option, "default" unless
// set) and a [Kind]: AEAD (AES-256-GCM), deterministic AEAD (AES-256-SIV) or
// PRF (HMAC-SHA256). Each holds one or more keys, each with a 32-bit Tink key
// ID and a status: enabled, disabled or destroyed. One enabled key is the
// primary: it protects new values. Rotation follows Tink: a new key is added
// and promoted to primary, and older keys keep revealing the values they
// protected, because every ciphertext carries the ID of its key. A disabled
// key reveals nothing ([ErrKeyDisabled]) until it is enabled again. A
// disabled key can then be destroyed (crypto-shredding): its material is
// deleted and its ID kept, so that values under it fail with
// [ErrKeyDestroyed] for ever. Stores send an [Event] for each change to an
// [Auditor] ([WithAuditor], [NewSlogAuditor]).
//
// The KEK that encrypts the keysets is a [tink.AEAD]: a cloud KMS key in
// production (package kms of the module github.com/tillid/tillid/kms: AWS
// KMS, Google Cloud KMS, Vault transit, chosen by key URI), or, for local use, a 32-byte master key read with
// [ReadKEKFile] or [ReadKEKEnv]. Master keys are never taken from a
// command-line flag, where they would show in the process list and the shell
// history. A KEK that implements tink.AEADWithContext is called with the
// caller's context; every answer is checked, and a wrapped keyset is
// unwrapped again before it is stored, so a KMS that answers with an empty or
// malformed ciphertext fails the change and stores nothing.
//
// # Security considerations
//
// Whoever holds the KEK and the keyset file can reveal every protected value.
// Keep the master key apart from the keyset file and from backups of the data.
// Go cannot guarantee that key bytes are erased from memory; this package
// makes no such promise. [Keyset.String] prints key IDs and statuses only,
// never key material.
package keys
