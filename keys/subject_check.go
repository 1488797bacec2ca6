package keys

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Keysets returns the keysets of the provider that the subject keys rest
// on: the KindAEAD keyset that wraps every subject key (named by
// [WithWrappingKeyName]) and the KindPRF keyset of subject pseudonyms
// (named by [WithPseudonymKeyName]). It is safe for concurrent use.
func (s *SubjectKeys) Keysets() []KeysetID {
	return []KeysetID{{Name: s.cfg.wrapName, Kind: KindAEAD}, {Name: s.cfg.prfName, Kind: KindPRF}}
}

// Check is [Check] of the subject keys' [SubjectKeys.Keysets] against the
// provider they were built with: the start-up check that the wrapping and
// pseudonym keysets are there and work. It does not read the subject key
// store. It returns Check's errors and is safe for concurrent use when the
// provider is.
func (s *SubjectKeys) Check(ctx context.Context) error {
	return Check(ctx, s.provider, s.Keysets()...)
}

// earlierDestroyed returns the purposes that the ledger's erase entries of
// (p, purpose) at or after at list as destroyed, less those in now, sorted,
// and whether the ledger holds the erasure of at already (its time is the
// tombstone's, so a repeat has the same).
func (s *SubjectKeys) earlierDestroyed(ctx context.Context, p Pseudonym, purpose string, at time.Time, now []string) (earlier []string, recorded bool, err error) {
	entries, err := s.ledger.Since(ctx, at)
	if err != nil {
		return nil, false, fmt.Errorf("keys: the keys of subject %s are erased but the ledger could not be read for the earlier attempts; retry: %w", p, err)
	}
	for _, e := range entries {
		if e.Op != LedgerErase || e.Pseudonym != p || e.Purpose != purpose {
			continue
		}
		if e.Time.Truncate(time.Microsecond).Equal(at.Truncate(time.Microsecond)) {
			recorded = true
		}
		for _, d := range e.Destroyed {
			if !slices.Contains(now, d) && !slices.Contains(earlier, d) {
				earlier = append(earlier, d)
			}
		}
	}
	slices.Sort(earlier)
	return earlier, recorded, nil
}

// AuditErasure sends, through the subject keys' auditor
// ([WithSubjectAuditor]), the one [EventErasureComplete] of an erasure
// made above the key store: e's pseudonym and purpose, Done the number of
// keys e destroyed (this call and, on a retry, the earlier ones: Destroyed
// and Earlier) and Tokens the vault tokens deleted. It carries no subject
// ID and no key material. pii's Forget and Withdraw call it once each,
// after the keys' own [EventSubjectErased]. It is safe for concurrent use.
func (s *SubjectKeys) AuditErasure(ctx context.Context, e Erasure, tokens int64) {
	audit(ctx, s.cfg.auditor, s.cfg.now(), Event{
		Type: EventErasureComplete, Keyset: KeysetID{Name: s.cfg.wrapName, Kind: KindAEAD},
		Subject: e.Pseudonym, Purpose: e.Purpose, Done: int64(len(e.Destroyed) + len(e.Earlier)), Tokens: tokens,
	})
}
