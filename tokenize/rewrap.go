package tokenize

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/tillid/tillid/keys"
)

// RewrapStore is a [Store] whose entries [Tokenizer.Rewrap] can move to the
// current keys: it lists a domain's entries in token order and replaces
// them by compare-and-set. [MemoryStore], [SQLiteStore] and the PostgreSQL
// store of package postgres (module github.com/tillid/tillid/stores)
// implement it. Like Store, it must be safe for concurrent use, also with
// the Store methods called at the same time by other processes.
type RewrapStore interface {
	Store
	// Scan returns up to limit entries of domain that have not expired at
	// now and whose token sorts after after ("" for the first), in
	// ascending order of token: an order the store keeps fixed and
	// compares after in (byte order in memory and SQLite, the database's
	// collation in PostgreSQL). Fewer than limit entries mean there are no
	// more.
	Scan(ctx context.Context, domain, after string, limit int, now time.Time) ([]Entry, error)
	// Replace stores each replacement in one transaction, but only where
	// the stored entry of its token still holds its Old ciphertext: an
	// entry deleted, expired or replaced since it was scanned is left as it
	// is (compare-and-set; a vault ciphertext is never stored twice, since
	// each has a fresh nonce). Expiry times are kept. Where the new Index is
	// held by another live entry, the entry is stored with no Index (it
	// keeps detokenizing; the other entry stays the value's token); an
	// expired entry holding it is removed. It returns, for each
	// replacement, whether it was stored.
	Replace(ctx context.Context, domain string, repl []Replacement, now time.Time) ([]bool, error)
}

// A Replacement is one entry that [RewrapStore.Replace] moves to new keys.
type Replacement struct {
	// Token names the entry.
	Token string
	// Old is the ciphertext the entry held when it was scanned.
	Old []byte
	// Ciphertext, Index and Subject are the entry's new values (see
	// [Entry]); Index and Subject may be nil.
	Ciphertext, Index, Subject []byte
}

// RewrapProgress is what one [Tokenizer.Rewrap] call did, and where the
// next one starts.
type RewrapProgress struct {
	// Cursor is the last token scanned: pass it to the next call. It is a
	// token of the domain, so keep it as safe as the tokens themselves.
	Cursor string
	// Done reports that the domain has no entries after Cursor.
	Done bool
	// Scanned counts the live entries read.
	Scanned int
	// Rewrapped counts the entries stored again under the current primary
	// keys.
	Rewrapped int
	// Current counts the entries that were under the current primaries
	// already.
	Current int
	// Changed counts the entries deleted or replaced by live traffic
	// between the scan and the replace; they were left as they are.
	Changed int
	// Kept counts the entries of a data subject ([ForSubject]) whose PRF
	// entries (the subject index, and the consistent-mode index) are under
	// an older PRF key. They cannot be recomputed: the store keeps a PRF of
	// the subject, not the subject. Their values are rewrapped, but the old
	// PRF key must stay enabled while such entries live, or
	// [Tokenizer.DeleteSubject] cannot find them.
	Kept int
	// Failed counts the entries that did not decrypt (tampered with, or
	// under a disabled or destroyed key); they were left as they are.
	Failed int
}

// Rewrap moves up to limit (1 to [MaxBatchSize]) entries of the domain,
// those whose tokens sort after cursor ("" to start), to the current
// primary keys: each value is decrypted and encrypted again under the AEAD
// keyset's primary, and the consistent-mode index of an entry without a
// subject is computed again under the PRF keyset's primary. Call it in a
// loop, persisting [RewrapProgress.Cursor] after each call, until Done:
// an interrupted job resumes from the last cursor, and running a batch
// twice does no harm. Tokens do not change.
//
// Rewrap runs beside live traffic, from any number of processes: an entry
// is replaced only if it still holds the ciphertext it was read with, so a
// value deleted or tokenized concurrently is never overwritten. Entries
// another instance writes under the old primary while it has not yet seen
// the rotation (for the length of its key store's cache TTL) are not
// covered: start the job, or run a last pass, once that time has passed.
// The job is complete when a whole pass (from "" to Done) rewraps nothing
// and counts nothing Changed or Failed: then the old AEAD key can be
// disabled and every token still detokenizes, and the old PRF key too when
// the pass counted nothing Kept.
//
// What leaks: nothing beyond what the store already holds. Rewrap returns
// an error wrapping errors.ErrUnsupported when the store is not a
// [RewrapStore], and the errors of the key provider and the store.
func (t *Tokenizer) Rewrap(ctx context.Context, cursor string, limit int) (RewrapProgress, error) {
	rs, ok := t.store.(RewrapStore)
	if !ok {
		return RewrapProgress{}, fmt.Errorf("tokenize: domain %q: the store %T cannot list entries for Rewrap: %w", t.domain, t.store, errors.ErrUnsupported)
	}
	if limit < 1 || limit > MaxBatchSize {
		return RewrapProgress{}, fmt.Errorf("tokenize: Rewrap batch of %d entries: want 1 to %d", limit, MaxBatchSize)
	}
	a, set, err := t.keys(ctx)
	if err != nil {
		return RewrapProgress{}, err
	}
	aks, err := t.provider.Keyset(ctx, t.keyName, keys.KindAEAD) // the same snapshot, cached
	if err != nil {
		return RewrapProgress{}, fmt.Errorf("tokenize: domain %q: %w", t.domain, err)
	}
	prfPrimary, ok := set.PRFs[set.PrimaryID]
	if !ok {
		return RewrapProgress{}, fmt.Errorf("tokenize: domain %q: PRF keyset has no primary: %w", t.domain, keys.ErrNoPrimaryKey)
	}
	aeadPrimary := aks.PrimaryKeyID()
	now := t.now()
	entries, err := rs.Scan(ctx, t.domain, cursor, limit, now)
	if err != nil {
		return RewrapProgress{}, fmt.Errorf("tokenize: domain %q: listing entries: %w", t.domain, err)
	}
	prog := RewrapProgress{Cursor: cursor, Done: len(entries) < limit, Scanned: len(entries)}
	if len(entries) > 0 {
		prog.Cursor = entries[len(entries)-1].Token
	}
	var repl []Replacement
	newIndexes := make(map[string]bool)
	for _, e := range entries {
		oldAEAD := ciphertextKeyID(e.Ciphertext) != aeadPrimary
		oldIndex := e.Index != nil && prfKeyID(e.Index) != set.PrimaryID
		oldSubject := e.Subject != nil && prfKeyID(e.Subject) != set.PrimaryID
		if oldIndex && e.Subject != nil || oldSubject {
			prog.Kept++
			oldIndex = false // cannot be recomputed without the subject
		}
		if !oldAEAD && !oldIndex {
			if !oldSubject {
				prog.Current++
			}
			continue
		}
		pt, err := a.Decrypt(e.Ciphertext, t.associatedData(e.Token))
		if err != nil {
			prog.Failed++
			continue
		}
		// A fresh ciphertext also when only the index moves, so that every
		// replacement changes the ciphertext a compare-and-set looks at.
		r := Replacement{Token: e.Token, Old: e.Ciphertext, Index: e.Index, Subject: e.Subject}
		if r.Ciphertext, err = a.Encrypt(pt, t.associatedData(e.Token)); err != nil {
			return prog, fmt.Errorf("tokenize: domain %q: encrypting: %v", t.domain, err)
		}
		if oldIndex {
			idx, err := t.valueIndex(prfPrimary, set.PrimaryID, "", string(pt))
			if err != nil {
				return prog, err
			}
			if newIndexes[string(idx)] {
				idx = nil // two old tokens of one value: the first keeps the index
			}
			newIndexes[string(idx)] = true
			r.Index = idx
		}
		repl = append(repl, r)
	}
	if len(repl) == 0 {
		return prog, nil
	}
	stored, err := rs.Replace(ctx, t.domain, repl, now)
	if err != nil {
		return prog, fmt.Errorf("tokenize: domain %q: replacing %d entries: %w", t.domain, len(repl), err)
	}
	if len(stored) != len(repl) {
		return prog, fmt.Errorf("tokenize: domain %q: store returned %d results for %d replacements", t.domain, len(stored), len(repl))
	}
	for _, ok := range stored {
		if ok {
			prog.Rewrapped++
		} else {
			prog.Changed++
		}
	}
	return prog, nil
}

// ciphertextKeyID returns the Tink key ID of a vault ciphertext (its bytes
// 1 to 4 after the 0x01 prefix byte), or 0 when it has no Tink prefix.
func ciphertextKeyID(ct []byte) uint32 {
	if len(ct) < 5 || ct[0] != 1 {
		return 0
	}
	return binary.BigEndian.Uint32(ct[1:5])
}

// prfKeyID returns the PRF key ID that prefixes an Index or Subject.
func prfKeyID(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binary.BigEndian.Uint32(b[:4])
}

// sameCiphertext reports whether a stored ciphertext is the one scanned.
func sameCiphertext(stored, old []byte) bool { return bytes.Equal(stored, old) }
