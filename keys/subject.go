package keys

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PseudonymSize is the size of a subject [Pseudonym], in bytes.
const PseudonymSize = 16

// Pseudonym is the keyed pseudonym of a data subject's ID: the first 16
// bytes of HMAC-SHA256 (the Tink PRF of the pseudonym keyset, see
// [WithPseudonymKey]) of "tillid/v1/subject-pseudonym" || 0x00 || ID. It is
// what subject-key stores, the erasure ledger, receipts and audit events
// hold in place of the ID: without the PRF key it cannot be linked to the
// ID, and with it an ID can be checked against it, so it is pseudonymous
// data under GDPR, not anonymous. 16 bytes keep collisions below 2^-40
// for up to 2^44 subjects (the birthday bound).
type Pseudonym [PseudonymSize]byte

// String returns the pseudonym in lowercase hex (32 characters).
func (p Pseudonym) String() string { return hex.EncodeToString(p[:]) }

// MarshalText returns the pseudonym in lowercase hex, so that receipts
// encode it in JSON as the same 32 characters String prints.
func (p Pseudonym) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads the 32 hex characters MarshalText writes; anything
// else is an error.
func (p *Pseudonym) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != PseudonymSize {
		return fmt.Errorf("keys: a pseudonym is %d hex characters, not %d", 2*PseudonymSize, len(b))
	}
	var q Pseudonym
	if _, err := hex.Decode(q[:], b); err != nil {
		return fmt.Errorf("keys: pseudonym: %v", err)
	}
	*p = q
	return nil
}

// AllPurposes is the purpose of an erasure of every key of a subject
// ([SubjectKeys.Forget]) and of a subject row in a [SubjectKeyStore].
const AllPurposes = "*"

// Errors of subject keys. Callers branch on them with errors.Is.
var (
	// ErrErased means the key asked for was destroyed by an erasure
	// ([SubjectKeys.Forget] or [SubjectKeys.Withdraw]) and a tombstone
	// proves it: values under it can never be revealed, and no new key is
	// made for that subject and purpose until [SubjectKeys.Allow]. Errors
	// that wrap it also match [ErrKeyDestroyed].
	ErrErased = erasedError{}
	// ErrInvalidSubject means an empty subject ID, or one longer than
	// [MaxSubjectSize] bytes.
	ErrInvalidSubject = errors.New("keys: invalid subject ID")
)

type erasedError struct{}

func (erasedError) Error() string { return "keys: subject erased" }

// Is makes an erasure match ErrKeyDestroyed too.
func (erasedError) Is(target error) bool { return target == ErrKeyDestroyed }

// MaxSubjectSize bounds a subject ID, in bytes.
const MaxSubjectSize = 1024

// SubjectKeyID names one subject key: a data subject's ID, a purpose (""
// for the subject's base key) and the kind of keyset wanted, KindAEAD or
// KindDeterministicAEAD. Both kinds of one subject and purpose come from
// the same stored key. The subject ID is personal data: it is never stored
// in clear, and never put in an error, a log or a String.
type SubjectKeyID struct {
	Subject string
	Purpose string
	Kind    Kind
}

// String prints the purpose and kind, never the subject ID, for example
// "subject key billing/aead".
func (id SubjectKeyID) String() string {
	p := id.Purpose
	if p == "" {
		p = "base"
	}
	return "subject key " + p + "/" + id.Kind.String()
}

// GoString is String, so that %#v prints no subject ID either.
func (id SubjectKeyID) GoString() string { return id.String() }

// checkSubject returns ErrInvalidSubject for an empty or oversized ID.
func checkSubject(subject string) error {
	if subject == "" {
		return fmt.Errorf("keys: empty subject ID: %w", ErrInvalidSubject)
	}
	if len(subject) > MaxSubjectSize {
		return fmt.Errorf("keys: subject ID of %d bytes, more than %d: %w", len(subject), MaxSubjectSize, ErrInvalidSubject)
	}
	return nil
}

// checkPurpose accepts "" (the base key) and key-name-like purposes.
func checkPurpose(purpose string) error {
	if purpose == "" {
		return nil
	}
	if err := validKeyName(purpose); err != nil {
		return fmt.Errorf("keys: purpose %q: use 1 to 64 characters of a-z, 0-9, '_', '.', '-'", purpose)
	}
	return nil
}

// Erasure is the receipt of [SubjectKeys.Forget] or
// [SubjectKeys.Withdraw]. It names the subject by its [Pseudonym] only.
type Erasure struct {
	// Pseudonym is the keyed pseudonym of the subject.
	Pseudonym Pseudonym
	// Purpose is the purpose withdrawn, or [AllPurposes] for Forget.
	Purpose string
	// Time is when the store recorded the erasure: the first time, when the
	// same erasure is asked for again.
	Time time.Time
	// Destroyed lists the purposes whose key material this call destroyed
	// ("" is the base key), sorted. It is empty when there was none: a
	// subject the store never saw, or an erasure already done. The
	// tombstone is written either way.
	Destroyed []string
	// Earlier lists, for an erasure asked for again (a retry after a
	// failure, or a repeat), the purposes whose keys the earlier calls of
	// the same erasure destroyed, as the [Ledger] recorded them, sorted and
	// not in Destroyed: Destroyed and Earlier together are everything the
	// erasure destroyed. Keys destroyed by a call whose ledger append failed
	// are in neither (the ledger never heard of them).
	Earlier []string
}

// String prints the receipt, for example
// "erasure of 6c1f…(32 hex) purpose=* at 2026-01-02T03:04:05Z destroyed=[ billing]".
func (e Erasure) String() string {
	out := fmt.Sprintf("erasure of %s purpose=%s at %s destroyed=[%s]", e.Pseudonym, e.Purpose, e.Time.UTC().Format(time.RFC3339Nano), strings.Join(e.Destroyed, " "))
	if len(e.Earlier) > 0 {
		out += " earlier=[" + strings.Join(e.Earlier, " ") + "]"
	}
	return out
}

// SubjectKeyRow is one row of a [SubjectKeyStore]: the wrapped key of a
// (pseudonym, purpose), a tombstone, or, with Purpose [AllPurposes], the
// subject row that says whether the whole subject is erased.
type SubjectKeyRow struct {
	Pseudonym Pseudonym
	// Purpose is "" for the base key, a purpose, or AllPurposes.
	Purpose string
	// Wrapped is the key material wrapped under the wrapping keyset; nil
	// for a subject row, a tombstone and an allowed, empty row. See
	// [SubjectKeys] for its format.
	Wrapped []byte
	// Created is when the key was written.
	Created time.Time
	// Erased is when the row was erased, or the zero time. While it is
	// set, no key is made for the row (or, on a subject row, for any
	// purpose of the subject).
	Erased time.Time
	// Shredded is when key material of the row was destroyed by an
	// erasure that [SubjectKeyStore.Allow] has since lifted, or the zero
	// time: a new key may be made, and values under the destroyed keys
	// still read as erased. Stores keep it until the row is destroyed
	// again (then Erased holds the new erasure).
	Shredded time.Time
}

// SubjectKeyDestroy asks a [SubjectKeyStore] to erase keys.
type SubjectKeyDestroy struct {
	Pseudonym Pseudonym
	// Purpose is the purpose to erase, or AllPurposes.
	Purpose string
	// Time is the erasure time stored in the tombstone (unless an earlier
	// one is there).
	Time time.Time
	// CreatedBefore, when not zero, spares keys created after it: a
	// re-applied erasure must not destroy keys made after fresh consent.
	CreatedBefore time.Time
}

// SubjectKeyStore stores wrapped subject keys and tombstones by pseudonym.
// [NewMemorySubjectKeyStore], [OpenSQLiteSubjectKeyStore] and
// [OpenPostgresSubjectKeyStore] implement it, and
// piitest.TestSubjectKeyStore checks an implementation. Implementations
// must be safe for concurrent use, and Create and Destroy of the same
// pseudonym must not interleave: after Destroy returns, no key of what it
// erased remains stored, whatever Create ran at the same time.
type SubjectKeyStore interface {
	// Load returns every row stored for the pseudonyms, subject rows
	// included, in any order.
	Load(ctx context.Context, pseudonyms []Pseudonym) ([]SubjectKeyRow, error)
	// Create writes, atomically, each of rows whose (pseudonym, purpose)
	// has neither a key nor a tombstone and whose subject is not erased
	// (keeping the row's Shredded), and returns every row of those
	// pseudonyms as stored then (the written ones, keys written before by
	// others, and tombstones). rows
	// has at most one row per (pseudonym, purpose), each with a key.
	Create(ctx context.Context, rows []SubjectKeyRow) ([]SubjectKeyRow, error)
	// Destroy deletes the key material that d names and leaves tombstones,
	// atomically: the subject row is marked erased for AllPurposes, the
	// purpose's row for one purpose, even when there was no key (an
	// unknown subject). It returns the purposes whose material it deleted
	// and the erasure time stored, the earlier one if the row was erased
	// before. Repeating it changes nothing more.
	Destroy(ctx context.Context, d SubjectKeyDestroy) (destroyed []string, at time.Time, err error)
	// Allow lifts the tombstones of pseudonym: all of them and the subject
	// row's erasure for AllPurposes, else the purpose's, so that new keys
	// can be made. Destroyed material stays destroyed, and each lifted
	// tombstone's erasure time moves to Shredded, so that values under the
	// destroyed keys still read as erased.
	Allow(ctx context.Context, pseudonym Pseudonym, purpose string) error
}
