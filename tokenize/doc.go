// Package tokenize replaces values such as card numbers and national IDs
// with tokens, so that most systems never hold the real value.
//
// Start with [New]: a [Tokenizer] per domain (for example "card" or "cpr")
// issues vaulted tokens, keeps the value AEAD-encrypted in a [Store] and
// turns tokens back into values for whoever holds it:
//
//	store, err := tokenize.OpenSQLite(ctx, db)
//	cards, err := tokenize.New(provider, store, "card", tokenize.ModeConsistent,
//		tokenize.WithFormat(tokenize.Card(6, 4)))
//	token, err := cards.Tokenize(ctx, "4111111111111111", tokenize.ForSubject(customerID))
//	value, err := cards.Detokenize(ctx, token)
//
// [ModeConsistent] gives a value the same token each time (joins and counts
// work on tokens); [ModeRandom] a new one each time. Tokens can expire
// ([WithTTL], [ExpiresIn]) and be purged ([Tokenizer.Purge]); a data
// subject's tokens can be deleted ([Tokenizer.DeleteSubject]). Batches
// ([Tokenizer.TokenizeBatch], [Tokenizer.DetokenizeBatch]) take one store
// call each. The formats are [RandomAlphanumeric] (the default),
// [RandomDigits], [KeepLast], [Card] and [Email].
//
// The stores are [NewMemoryStore] (tests), [OpenSQLite] (the embedded
// default, on any database/sql SQLite driver) and, for fleets of instances
// that share one vault, postgres.OpenTokenStore of the module
// github.com/tillid/tillid/stores (pgx, pipelined). The SQL stores open an
// existing vault and create none unless asked ([WithCreateTable],
// postgres.WithCreateTable): a database without one is [ErrVaultNotFound].
// Consistent mode stays consistent across instances: the
// stores enforce one token per value with unique constraints, not locks.
//
// For values that must keep their shape without a vault, use [NewFPE]:
// format-preserving encryption with [FF1] (NIST SP 800-38G) over an
// [Alphabet], keyed from the same provider. [NewFF1] is the bare cipher.
//
// # Key management
//
// Keys come from a keys.Provider by name: "tokenize-<domain>" unless
// [WithKeyName] says otherwise. A [Tokenizer] uses an AEAD keyset (AES-256-GCM)
// for the values and a PRF keyset (HMAC-SHA256) for the consistent-mode
// and subject indexes; an [FPE] derives a 32-byte AES key per PRF key ID.
// All of them rotate with their keysets: old tokens keep detokenizing while
// their keys are enabled, and a disabled or destroyed key fails with
// keys.ErrKeyDisabled or keys.ErrKeyDestroyed. Destroying a domain's AEAD
// keys crypto-shreds every vaulted value of that domain.
//
// # Security considerations
//
// A token is only as secret as the vault and keys behind it: anyone who
// can call Detokenize, or who holds both the store and the keys, can
// reverse it. What tokens reveal on their own:
//
//   - In [ModeConsistent] tokens reveal equality: two equal tokens mean two
//     equal values (of the same data subject, when one is given). [FPE]
//     tokens are deterministic per key and tweak and reveal the same.
//   - Formats keep, and so leak, parts of the value: its length
//     ([RandomDigits], [KeepLast], [Card], [FPE]), the characters they keep
//     visible and the separators ([KeepLast]), the issuer digits ([Card]),
//     the mail domain ([Email] when asked). Only [RandomAlphanumeric] keeps
//     nothing.
//   - The store sees ciphertext lengths (the value's length plus 33 bytes),
//     how many tokens share a subject index, and expiry times; never a
//     value or a subject.
//   - [FF1] does not authenticate: a garbled FPE token detokenizes to a
//     wrong value, not an error.
//
// Error messages carry domains, positions, lengths and key IDs, never a
// value or a token.
package tokenize
