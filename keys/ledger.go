package keys

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// LedgerOp says what a [LedgerEntry] records. The zero value is invalid.
type LedgerOp int

const (
	// LedgerOpUnknown is the invalid zero LedgerOp.
	LedgerOpUnknown LedgerOp = iota
	// LedgerErase records an erasure ([SubjectKeys.Forget] or
	// [SubjectKeys.Withdraw]).
	LedgerErase
	// LedgerAllow records [SubjectKeys.Allow].
	LedgerAllow
)

// String returns "erase", "allow" or "unknown".
func (o LedgerOp) String() string {
	switch o {
	case LedgerErase:
		return "erase"
	case LedgerAllow:
		return "allow"
	}
	return "unknown"
}

func parseLedgerOp(s string) (LedgerOp, error) {
	for _, o := range []LedgerOp{LedgerErase, LedgerAllow} {
		if o.String() == s {
			return o, nil
		}
	}
	return LedgerOpUnknown, fmt.Errorf("keys: ledger operation %q", s)
}

// LedgerEntry is one record of an erasure [Ledger]. It names the subject
// by its pseudonym only.
type LedgerEntry struct {
	// Time is the erasure time (as in the receipt), or when Allow ran.
	Time time.Time
	Op   LedgerOp
	// Pseudonym is the keyed pseudonym of the subject.
	Pseudonym Pseudonym
	// Purpose is the purpose erased or allowed, or [AllPurposes].
	Purpose string
	// Destroyed lists the purposes whose keys the erasure destroyed.
	Destroyed []string
}

// Ledger is an append-only record of erasures, kept apart from the data
// database and from the subject-key store (its own SQLite file, its own
// PostgreSQL database, or at least its own table with its own backups), so
// that a backup of the key store, once restored, can be made to forget
// again ([SubjectKeys.ReapplyErasures]). [NewMemoryLedger],
// [OpenSQLiteLedger] and [OpenPostgresLedger] implement it;
// implementations must be safe for concurrent use.
type Ledger interface {
	// Append records e durably before it returns.
	Append(ctx context.Context, e LedgerEntry) error
	// Since returns the entries whose Time is at or after since, in the
	// order they were appended.
	Since(ctx context.Context, since time.Time) ([]LedgerEntry, error)
}

// MemoryLedger is a [Ledger] in memory, for tests. It is safe for
// concurrent use.
type MemoryLedger struct {
	mu      sync.Mutex
	entries []LedgerEntry
}

var _ Ledger = (*MemoryLedger)(nil)

// NewMemoryLedger returns an empty MemoryLedger.
func NewMemoryLedger() *MemoryLedger { return &MemoryLedger{} }

// Append implements [Ledger].
func (l *MemoryLedger) Append(ctx context.Context, e LedgerEntry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e.Destroyed = slices.Clone(e.Destroyed)
	l.entries = append(l.entries, e)
	return nil
}

// Since implements [Ledger].
func (l *MemoryLedger) Since(ctx context.Context, since time.Time) ([]LedgerEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []LedgerEntry
	for _, e := range l.entries {
		if !e.Time.Before(since) {
			out = append(out, e)
		}
	}
	return out, nil
}

// ReapplyErasures replays the ledger's entries since since on the store,
// in order: each erasure destroys again the keys it named that were
// created at or before its time, and leaves its tombstone; each Allow lifts
// tombstones again. Run it after restoring a backup of the subject-key
// store taken at since (or later): the keys erased after the backup are
// destroyed again, and keys made after fresh consent are kept. It writes
// no new ledger entries, sends [EventSubjectErased] for each erasure that
// destroyed a key, empties this instance's cache, and returns the number
// of entries applied: an erasure the ledger holds more than once (a
// ledger written before repeats were recorded once) is applied and counted
// once. It is idempotent; on an error it can be run again.
//
// Other instances may serve restored keys from their caches until their
// TTL passes: run it before they start, or wait one TTL.
func (s *SubjectKeys) ReapplyErasures(ctx context.Context, since time.Time) (int, error) {
	if err := s.ready(ctx); err != nil {
		return 0, err
	}
	entries, err := s.ledger.Since(ctx, since)
	if err != nil {
		return 0, fmt.Errorf("keys: reading the erasure ledger: %w", err)
	}
	defer s.forgetAllCached()
	type erasureKey struct {
		p       Pseudonym
		purpose string
		at      int64
	}
	seen := map[erasureKey]bool{}
	applied := 0
	for i, e := range entries {
		switch e.Op {
		case LedgerErase:
			k := erasureKey{e.Pseudonym, e.Purpose, e.Time.UnixMicro()}
			if seen[k] {
				continue
			}
			seen[k] = true
			destroyed, _, err := s.store.Destroy(ctx, SubjectKeyDestroy{Pseudonym: e.Pseudonym, Purpose: e.Purpose, Time: e.Time, CreatedBefore: e.Time})
			if err != nil {
				return applied, fmt.Errorf("keys: re-applying the erasure of subject %s: %w", e.Pseudonym, err)
			}
			if len(destroyed) > 0 {
				audit(ctx, s.cfg.auditor, s.cfg.now(), Event{Type: EventSubjectErased, Keyset: KeysetID{s.cfg.wrapName, KindAEAD}, Subject: e.Pseudonym, Purpose: e.Purpose, Done: int64(len(destroyed))})
			}
		case LedgerAllow:
			if err := s.store.Allow(ctx, e.Pseudonym, e.Purpose); err != nil {
				return applied, fmt.Errorf("keys: re-applying Allow of subject %s: %w", e.Pseudonym, err)
			}
		default:
			return applied, fmt.Errorf("keys: ledger entry %d has operation %v", i, e.Op)
		}
		applied++
	}
	return applied, nil
}
