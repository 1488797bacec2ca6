package pii

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tillid/tillid/internal/tag"
	"github.com/tillid/tillid/keys"
)

// This file is the public side of data subjects: the subject keys of a
// Protector, Forget, Withdraw, Erase, and what Reveal reports.

var (
	// ErrErased is keys.ErrErased: the value's subject key was destroyed by
	// Forget or Withdraw. Protect returns it, in a [*FieldError] naming the
	// field, for new data of a forgotten subject or withdrawn purpose
	// (until [Protector.Allow]), so that a replayed event or a restored row
	// does not mint a new key for a person who was erased. Errors that wrap
	// it also match [ErrKeyDestroyed].
	ErrErased = keys.ErrErased
	// ErrMissingSubject means the subject field of a struct holds its zero
	// value (an empty ID) where a value must be sealed under its key.
	ErrMissingSubject = errors.New("pii: subject ID is empty")
	// ErrInvalidPurpose means a purpose given to [Protector.Withdraw] or
	// [Protector.Allow] that no field can declare: not a name of the tag
	// grammar's purpose= (a-z, 0-9, '_' and '-', starting with a letter)
	// of at most 64 bytes, the longest that selects a subject key. Nothing
	// is destroyed or recorded.
	ErrInvalidPurpose = errors.New("pii: invalid purpose")
)

// checkPurpose returns ErrInvalidPurpose for a purpose that no purpose=
// can declare as the key of a subject field.
func checkPurpose(purpose string) error {
	if !tag.IsPurpose(purpose) || keys.CheckKeyName(purpose) != nil {
		return fmt.Errorf("%w %q: want a purpose= name of the tags (a-z, 0-9, '_' and '-', starting with a letter, at most 64 bytes)", ErrInvalidPurpose, purpose)
	}
	return nil
}

// WithSubjectKeys makes the Protector seal the encrypt and deterministic
// fields of structs with a `pii:"subject"` field under that subject's keys
// from sk, one key per (subject, purpose): a field with one purpose= name
// is under that purpose's key, a field with none (or several) under the
// subject's base key. Their stored values use the envelope modes "tl1s:"
// (encrypt) and "tl1r:" (deterministic) and are bound to the subject ID in
// their associated data. Protect creates the keys of new subjects, all of
// one call in one batch. Only the fields of the struct that declares the
// subject field are under its keys: a nested struct (an address in a
// customer) needs a subject field of its own, which may hold the same ID,
// or its fields stay under the field keysets, which Forget does not erase
// (Erase clears them). The purpose that selects a subject key is the
// field's own purpose= or its struct's default; a sealed field that would
// take its purpose only from an enclosing struct's default is refused with
// [ErrInvalidTag] (Withdraw would not reach it): name the purpose on the
// field or in its own struct's default.
// It returns an error when sk is nil.
func WithSubjectKeys(sk *keys.SubjectKeys) Option {
	return optionFunc(func(p *Protector) error {
		if sk == nil {
			return errors.New("pii: WithSubjectKeys(nil)")
		}
		p.subjectKeys = sk
		return nil
	})
}

// WithErasedValue sets what Reveal puts in a string field whose value was
// erased (Forget, Withdraw), such as "[erased]", instead of "". Other
// kinds of fields get their zero value. It is a display value: Protect of
// a string field whose subject key is erased and whose value is exactly s
// stores "" instead (nothing is sealed, as for any empty value under an
// erased key), so a record read back saves again; under a live key s is a
// value like any other, and any other value under an erased key fails
// with [ErrErased].
func WithErasedValue(s string) Option {
	return optionFunc(func(p *Protector) error {
		p.erasedText = s
		return nil
	})
}

// Erasure is the receipt of [Protector.Forget] and [Protector.Withdraw]. It
// names the subject by its keyed pseudonym only, never by its ID.
type Erasure struct {
	// Pseudonym is the subject's keyed pseudonym (keys.Pseudonym: 16
	// bytes of HMAC-SHA256 of the ID, printed as 32 hex digits).
	Pseudonym keys.Pseudonym
	// Purpose is the purpose withdrawn, or keys.AllPurposes ("*") for
	// Forget.
	Purpose string
	// Time is when the key store first recorded the erasure.
	Time time.Time
	// Keys lists the purposes whose subject keys the erasure destroyed (""
	// is the base key), sorted: on a retry after a failure (a vault down),
	// those this call destroyed and those the earlier attempts destroyed,
	// as the erasure ledger recorded them, so the retry's receipt is the
	// complete one. Empty when there were none (an unknown subject).
	Keys []string
	// Earlier is set when some of Keys were destroyed by an earlier call
	// of the same erasure (a failed attempt, now retried, or a repeat).
	Earlier bool
	// Tokens counts the vault tokens this call deleted (Forget only). On a
	// retry it leaves out those a failed attempt deleted; the subject has
	// none left in the vaults either way.
	Tokens int64
}

// String prints the receipt without the subject ID, for example
// "erasure of 6c1f… purpose=* at 2026-01-02T03:04:05Z keys=[base billing] tokens=2"
// (the base key, purpose "", is printed as base).
func (e Erasure) String() string {
	return fmt.Sprintf("erasure of %s purpose=%s at %s keys=[%s] tokens=%d", e.Pseudonym, e.Purpose, e.Time.UTC().Format(time.RFC3339Nano), strings.Join(erasedKeyNames(e.Keys), " "), e.Tokens)
}

// Forget erases a data subject (GDPR Art. 17) by crypto-shredding: it
// destroys every subject key of subject, in every purpose, leaving a
// tombstone and a ledger entry (keys.SubjectKeys.Forget, whose auditor
// receives keys.EventSubjectErased with the pseudonym), then deletes the
// subject's tokens from every vault the Protector was built with
// (WithVault; Tokenizer.DeleteSubject). Afterwards, on this Protector,
// Reveal gives the subject's sealed fields and vaulted tokens their zero
// value; other instances follow within their subject-key cache TTL. Blind
// indexes, pseudonyms and FF1 tokens are not under subject keys: clear
// them with [Protector.Erase] (or delete the row). A record of the subject
// read back, or stored, saves again as for [Protector.Withdraw]; new data
// fails with [ErrErased] until Allow.
//
// A subject never seen is recorded the same way. Forget is idempotent and
// safe for concurrent use; it returns a receipt only once everything is
// done, and after a failure (the key store, the ledger or a vault down) a
// retry completes it: the retry's receipt is the complete one, listing in
// Keys what the first attempt destroyed (read from the erasure ledger) and
// what the retry destroyed, with Earlier set and the first erasure's time.
// Each successful call sends one keys.EventErasureComplete through the
// subject keys' auditor (keys.WithSubjectAuditor) with the pseudonym and
// the counts of keys destroyed and vault tokens deleted, after the key
// store's own keys.EventSubjectErased. It needs WithSubjectKeys, and returns
// keys.ErrInvalidSubject for an empty ID.
func (p *Protector) Forget(ctx context.Context, subject string) (Erasure, error) {
	if err := p.readyForErasure(ctx); err != nil {
		return Erasure{}, err
	}
	ke, err := p.subjectKeys.Forget(ctx, subject)
	if err != nil {
		return Erasure{}, fmt.Errorf("pii: forget: %w", err)
	}
	receipt := erasureOf(ke)
	domains := make([]string, 0, len(p.tokenizers))
	for d, t := range p.tokenizers {
		if _, ok := t.(vaultTokenizer); ok {
			domains = append(domains, d)
		}
	}
	slices.Sort(domains)
	for _, d := range domains {
		n, err := p.tokenizers[d].(vaultTokenizer).t.DeleteSubject(ctx, subject)
		receipt.Tokens += n
		if err != nil {
			return Erasure{}, fmt.Errorf("pii: forget: the subject keys of %s are erased, but deleting its tokens of domain %q failed; retry: %w", ke.Pseudonym, d, err)
		}
	}
	p.subjectKeys.AuditErasure(ctx, ke, receipt.Tokens)
	return receipt, nil
}

// Withdraw erases what a data subject consented to for one purpose: it
// destroys the subject's key of that purpose (keys.SubjectKeys.Withdraw),
// so that the fields with that one purpose reveal as erased, and Protect
// of a value for that purpose fails with [ErrErased] until
// Protector.Allow. Base
// fields, fields of other purposes and vault tokens (which have no
// purpose) stay. A record read back after the withdrawal is protected
// again as it is: fields of that purpose that are absent or empty (a nil
// pointer, an empty string or []byte, an invalid sql.NullString, a null
// pii.Value) need no key and are kept as they are, and a value still
// sealed under the destroyed key (crypto-shredded) is replaced by the zero
// value, as nothing under an erased key can be verified; both read as
// erased. See [WithErasedValue] for its text. This holds only where
// the store holds the key's tombstone: under a live key an empty string is
// sealed and a stored value verified as before. It is
// idempotent and safe for concurrent use, and returns a receipt only once
// the erasure is recorded; like Forget, it sends one
// keys.EventErasureComplete (Tokens 0) through the subject keys' auditor.
//
// A purpose that no field can declare (not a purpose= name of the tag
// grammar, such as "market.ing", or "" or "*") is [ErrInvalidPurpose],
// before anything is destroyed or recorded. A well-formed purpose of which
// the subject has no key (a subject never seen, a purpose never sealed
// for it, or a misspelt one such as "marketting") is recorded like any
// other, since erasure requests come for people and purposes one may not
// hold: its receipt's Keys is then empty, which callers should surface
// (tillid withdraw warns, and checks -known-purposes).
func (p *Protector) Withdraw(ctx context.Context, subject, purpose string) (Erasure, error) {
	if err := p.readyForErasure(ctx); err != nil {
		return Erasure{}, err
	}
	if purpose == "" || purpose == keys.AllPurposes {
		return Erasure{}, fmt.Errorf("%w: withdraw needs a purpose name; use Forget to erase every purpose", ErrInvalidPurpose)
	}
	if err := checkPurpose(purpose); err != nil {
		return Erasure{}, fmt.Errorf("pii: withdraw: %w", err)
	}
	ke, err := p.subjectKeys.Withdraw(ctx, subject, purpose)
	if err != nil {
		return Erasure{}, fmt.Errorf("pii: withdraw: %w", err)
	}
	p.subjectKeys.AuditErasure(ctx, ke, 0)
	return erasureOf(ke), nil
}

// Allow lets new data of subject be protected again after Forget or
// Withdraw, for example after fresh consent: with no purposes, for every
// purpose, else for those named (keys.SubjectKeys.Allow, recorded in the
// erasure ledger and sent to the auditor as keys.EventSubjectAllowed).
// What the erasure destroyed stays destroyed and its tombstone stays: old
// values of the subject still reveal as erased (Report.Erased), while
// Protect makes new keys for new values. Vault tokens that Forget deleted
// stay deleted. Other instances follow within their subject-key cache TTL.
// It needs WithSubjectKeys, returns keys.ErrInvalidSubject for an empty ID,
// [ErrInvalidPurpose] for a purpose no field can declare (nothing is
// recorded then), and the key store's and ledger's errors, and is safe for
// concurrent use.
func (p *Protector) Allow(ctx context.Context, subject string, purposes ...string) error {
	if err := p.readyForErasure(ctx); err != nil {
		return err
	}
	for _, purpose := range purposes {
		if err := checkPurpose(purpose); err != nil {
			return fmt.Errorf("pii: allow: %w", err)
		}
	}
	if err := p.subjectKeys.Allow(ctx, subject, purposes...); err != nil {
		return fmt.Errorf("pii: allow: %w", err)
	}
	return nil
}

func erasureOf(ke keys.Erasure) Erasure {
	all := append(slices.Clone(ke.Destroyed), ke.Earlier...)
	slices.Sort(all)
	return Erasure{Pseudonym: ke.Pseudonym, Purpose: ke.Purpose, Time: ke.Time, Keys: all, Earlier: len(ke.Earlier) > 0}
}

func (p *Protector) readyForErasure(ctx context.Context) error {
	if p == nil || p.provider == nil {
		return fmt.Errorf("%w: nil Protector; use pii.New", ErrInvalidTarget)
	}
	if ctx == nil {
		return fmt.Errorf("%w: nil context; pass context.Background()", ErrInvalidTarget)
	}
	if p.subjectKeys == nil {
		return fmt.Errorf("%w: the Protector has no subject keys; build it with pii.WithSubjectKeys", ErrKeyProvider)
	}
	return nil
}

// Erase clears, in place, every tagged field reachable from ptr that is
// not sealed under a subject key: blind indexes, pseudonyms, tokens, and
// encrypt or deterministic fields of structs without a subject field. It
// is the record-level half of an erasure: after Forget, a blind index of
// the person's email would still find the row, and a pseudonym would still
// link it. Fields under subject keys and subject IDs are left as they are
// (Forget made them unreadable; the ID finds the row to delete). It needs
// no keys, returns how many fields it cleared, and is all or nothing,
// with the errors of Protect about the target ([ErrInvalidTarget],
// [ErrInvalidTag], [ErrTooDeep]).
func (p *Protector) Erase(ctx context.Context, ptr any) (int, error) {
	return p.do(ctx, ptr, verbErase)
}

// Report says what a Reveal left out. Paths are as in [FieldError]
// ("Customer.Orders[2].Email").
type Report struct {
	// Erased are the fields whose subject key was erased (Forget,
	// Withdraw) or whose vault tokens Forget deleted: Reveal set them to
	// their zero value (or WithErasedValue's text).
	Erased []string
	// Withheld are the fields left protected because none of their
	// purposes is in the scope of WithPurpose.
	Withheld []string
	// Expired are the tokenize= fields whose retention rule (retain=,
	// from=) has run out, so that their vault tokens expired with it:
	// Reveal set them to their zero value.
	Expired []string
}

// Complete reports whether the Reveal left nothing out.
func (r Report) Complete() bool {
	return len(r.Erased) == 0 && len(r.Withheld) == 0 && len(r.Expired) == 0
}

// RevealReport is [Protector.Reveal] that also reports the fields it left
// out. A record of an erased subject reveals: the erased fields get their
// zero value and are listed in Report.Erased; this holds only where the key
// store holds a tombstone of a destroyed key, so a value under a subject
// the store never saw ([ErrKeyNotFound]) or a tampered value
// ([ErrDecryption]) still fails, as in Reveal. A tokenize= field whose
// retention rule ran out by its tokenizer's clock (its vault token expired
// with the rule) reveals as its zero value too, listed in Report.Expired.
func (p *Protector) RevealReport(ctx context.Context, ptr any) (Report, error) {
	var rep Report
	if _, err := p.doReport(ctx, ptr, verbReveal, &rep); err != nil {
		return Report{}, err
	}
	return rep, nil
}

type purposeKey struct{}

// WithPurpose returns a context that scopes a Reveal to the fields of the
// given purposes and the fields without a purpose: a field whose purposes
// (its own purpose=, else its struct's default, else the nearest
// enclosing struct's default, as Inventory lists them) name none of them
// stays protected, as stored, and is listed in Report.Withheld. Least privilege inside one process: a billing job
// reveals billing data only. Nested calls replace the scope.
func WithPurpose(ctx context.Context, purposes ...string) context.Context {
	return context.WithValue(ctx, purposeKey{}, append([]string{}, purposes...))
}

// purposeScope returns the purposes of WithPurpose, or nil.
func purposeScope(ctx context.Context) []string {
	s, _ := ctx.Value(purposeKey{}).([]string) // not nil when set: WithPurpose() scopes to base fields
	return s
}

// erasedKeyNames returns the purposes of keys, with the base key ("")
// named base.
func erasedKeyNames(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		if out[i] = k; k == "" {
			out[i] = "base"
		}
	}
	return out
}
