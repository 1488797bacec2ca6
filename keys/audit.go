package keys

import (
	"context"
	"log/slog"
	"time"
)

// EventType says what an audit [Event] reports. The zero value,
// EventUnknown, is never sent.
type EventType int

const (
	// EventUnknown is the invalid zero EventType.
	EventUnknown EventType = iota
	// EventKeysetCreated: a keyset was created with its first key, KeyID.
	EventKeysetCreated
	// EventKeyRotated: key KeyID was added and made primary.
	EventKeyRotated
	// EventKeyEnabled: the disabled key KeyID was enabled again.
	EventKeyEnabled
	// EventKeyDisabled: key KeyID was disabled.
	EventKeyDisabled
	// EventKeyDestroyed: the material of key KeyID was destroyed
	// (crypto-shredded); its ID is kept so that values under it read as
	// destroyed.
	EventKeyDestroyed
	// EventRewrapProgress: a bulk rewrap moved Done values (rows) to the
	// primary key of Keyset; Left remain, or -1 when not known.
	EventRewrapProgress
	// EventKMSFailure: a call to the KEK (a KMS) for Keyset failed; Err says
	// why.
	EventKMSFailure
	// EventKeysetImported: a Tink keyset was imported as Keyset, with
	// primary key KeyID ([Store.Import]).
	EventKeysetImported
	// EventKeysetExported: Keyset, with primary key KeyID, was exported
	// encrypted under another KEK ([Store.Export]).
	EventKeysetExported
	// EventRetentionBatch: a retention sweep did one batch of a table;
	// Retention holds its counts and Done the values or rows it changed.
	EventRetentionBatch
	// EventSubjectErased: the keys of data subject Subject were destroyed,
	// in every purpose when Purpose is AllPurposes, else in Purpose; Done
	// counts the keys destroyed (0 for a subject held by no key). Keyset
	// is the wrapping keyset.
	EventSubjectErased
	// EventSubjectAllowed: new keys may be made again for Subject, in
	// Purpose (AllPurposes: in every purpose).
	EventSubjectAllowed
	// EventErasureComplete: an erasure of Subject in Purpose made through
	// pii (Forget, Withdraw) is complete: Done counts the subject keys it
	// destroyed (with those of earlier attempts, on a retry) and Tokens the
	// vault tokens it deleted ([SubjectKeys.AuditErasure]).
	EventErasureComplete
)

// String returns the event type's name, for example "key.rotated".
func (t EventType) String() string {
	switch t {
	case EventKeysetCreated:
		return "keyset.created"
	case EventKeyRotated:
		return "key.rotated"
	case EventKeyEnabled:
		return "key.enabled"
	case EventKeyDisabled:
		return "key.disabled"
	case EventKeyDestroyed:
		return "key.destroyed"
	case EventRewrapProgress:
		return "rewrap.progress"
	case EventKMSFailure:
		return "kms.failure"
	case EventKeysetImported:
		return "keyset.imported"
	case EventKeysetExported:
		return "keyset.exported"
	case EventRetentionBatch:
		return "retention.batch"
	case EventSubjectErased:
		return "subject.erased"
	case EventSubjectAllowed:
		return "subject.allowed"
	case EventErasureComplete:
		return "subject.erasure_complete"
	default:
		return "unknown"
	}
}

// Event is one audit record. It names keysets and key IDs, which are not
// secret, and never holds key material, plaintexts or ciphertexts.
type Event struct {
	// Time is when the event happened.
	Time time.Time
	// Type says what happened.
	Type EventType
	// Keyset is the keyset concerned.
	Keyset KeysetID
	// KeyID is the key concerned, or 0.
	KeyID uint32
	// Done and Left count the values of a rewrap (EventRewrapProgress).
	Done, Left int64
	// Retention holds the counts of an EventRetentionBatch (never values).
	Retention *RetentionCounts
	// Subject and Purpose name the data subject, by its keyed pseudonym
	// (never its ID), and the purpose of an EventSubjectErased or
	// EventSubjectAllowed.
	Subject Pseudonym
	Purpose string
	// Tokens counts the vault tokens an EventErasureComplete deleted.
	Tokens int64
	// Err is the failure of an EventKMSFailure. Its text comes from this
	// package or from the KMS client, and names keys, never their bytes.
	Err error
}

// Auditor receives audit events from stores and from bulk rewraps. Audit is
// called after the change it reports has been stored, synchronously, so it
// should return quickly; it must be safe for concurrent use. A failure to
// record an event is the auditor's to handle: it cannot undo the change.
type Auditor interface {
	Audit(ctx context.Context, e Event)
}

// SlogAuditor is an [Auditor] that writes each event as one log/slog record
// at level Info (Warn for KMS failures) with the message "tillid key audit"
// and the attributes event, keyset, key_id, and done, left or error where
// they apply. It is safe for concurrent use.
type SlogAuditor struct {
	logger *slog.Logger
}

// NewSlogAuditor returns an Auditor that writes to logger, or to
// slog.Default() when logger is nil.
func NewSlogAuditor(logger *slog.Logger) *SlogAuditor {
	if logger == nil {
		logger = slog.Default()
	}
	return &SlogAuditor{logger: logger}
}

var _ Auditor = (*SlogAuditor)(nil)

// Audit implements [Auditor].
func (a *SlogAuditor) Audit(ctx context.Context, e Event) {
	attrs := []slog.Attr{
		slog.String("event", e.Type.String()),
		slog.String("keyset", e.Keyset.String()),
	}
	if e.KeyID != 0 {
		attrs = append(attrs, slog.Uint64("key_id", uint64(e.KeyID)))
	}
	level := slog.LevelInfo
	switch e.Type {
	case EventSubjectErased, EventSubjectAllowed:
		attrs = append(attrs, slog.String("subject", e.Subject.String()), slog.String("purpose", e.Purpose))
		if e.Type == EventSubjectErased {
			attrs = append(attrs, slog.Int64("destroyed", e.Done))
		}
	case EventErasureComplete:
		attrs = append(attrs, slog.String("subject", e.Subject.String()), slog.String("purpose", e.Purpose),
			slog.Int64("destroyed", e.Done), slog.Int64("tokens", e.Tokens))
	case EventRewrapProgress:
		attrs = append(attrs, slog.Int64("done", e.Done), slog.Int64("left", e.Left))
	case EventRetentionBatch:
		attrs = append(attrs, e.Retention.attrs()...)
	case EventKMSFailure:
		level = slog.LevelWarn
		if e.Err != nil {
			attrs = append(attrs, slog.String("error", e.Err.Error()))
		}
	}
	a.logger.LogAttrs(ctx, level, "tillid key audit", attrs...)
}

// audit sends e to a, stamping its time, when a is set.
func audit(ctx context.Context, a Auditor, now time.Time, events ...Event) {
	if a == nil {
		return
	}
	for _, e := range events {
		if e.Time.IsZero() {
			e.Time = now
		}
		a.Audit(ctx, e)
	}
}
